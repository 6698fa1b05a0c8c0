"""backend="compiled", losses inside a user's torch.compile(fullgraph=True), autocast."""

from __future__ import annotations

import operator
import warnings
from collections.abc import Iterator
from typing import Any

import pytest
import torch

import torchfocal
from registry_cases import for_classes, make_target
from torchfocal import reference
from torchfocal._engine import compiled
from torchfocal.losses.sigmoid_focal import sigmoid_focal_compiled
from torchfocal.registry import LOSSES, VARIANT_CLASSES, LossInfo


def _check(loss_name: str, x: torch.Tensor, target: torch.Tensor, **kwargs: Any) -> None:
    fn = getattr(torchfocal, f"{loss_name}_focal_loss")
    ref_fn = getattr(reference, f"{loss_name}_focal_loss")
    xx = x.clone().requires_grad_(True)
    loss = fn(xx, target, backend="compiled", **kwargs)
    (grad,) = torch.autograd.grad(loss, xx, torch.ones_like(loss))
    options = {k: (v.numpy() if isinstance(v, torch.Tensor) else v) for k, v in kwargs.items()}
    ref_loss, ref_grad = ref_fn(x.double().numpy(), target.numpy(), **options)
    tol = (
        {"rtol": 1e-9, "atol": 1e-12} if x.dtype == torch.float64 else {"rtol": 1e-4, "atol": 1e-6}
    )
    torch.testing.assert_close(loss.double(), torch.as_tensor(ref_loss), **tol)
    torch.testing.assert_close(grad.double(), torch.from_numpy(ref_grad), **tol)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_compiled_sigmoid_against_reference(dtype: torch.dtype) -> None:
    x = torch.randn(9, 6, 3, dtype=dtype) * 4
    _check("sigmoid", x, torch.rand(9, 6, 3) < 0.3, alpha=0.25, gamma=2.0)
    _check("sigmoid", x[:5], (torch.rand(5, 6, 3) < 0.3), alpha=0.25, gamma=2.0)  # new shape
    index = torch.randint(0, 7, (9, 3))
    index[0] = -100
    _check("sigmoid", x, index, alpha=0.25, gamma=2.0, reduction="positives")
    if dtype == torch.float64:
        _check("sigmoid", x, torch.rand(9, 6, 3, dtype=dtype), alpha=None, gamma=0.5)


def test_compiled_softmax_against_reference() -> None:
    x = torch.randn(7, 5, 2, dtype=torch.float64) * 4
    index = torch.randint(0, 5, (7, 2))
    index[1, 1] = -100
    _check("softmax", x, index, gamma=2.0, alpha=torch.rand(5, dtype=torch.float64))
    probs = torch.softmax(torch.randn(7, 5, 2, dtype=torch.float64), dim=1)
    _check("softmax", x, probs, gamma=1.5, reduction="none")


def test_compile_failure_falls_back_to_fused_with_one_warning(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(*args: Any) -> Any:
        raise RuntimeError("no C++ compiler")

    monkeypatch.setattr(sigmoid_focal_compiled, "_compiled", broken)
    monkeypatch.setattr(compiled, "_unavailable", [])
    x = torch.randn(4, 3)
    y = torch.rand(4, 3) < 0.5
    with pytest.warns(
        RuntimeWarning,
        match=r"backend='compiled' is unavailable here "
        r"\(RuntimeError: no C\+\+ compiler\); using backend='fused'",
    ) as record:
        first = torchfocal.sigmoid_focal_loss(x, y, backend="compiled")
    # The warning points at the user's line, not into torchfocal or torch.
    assert [w.filename for w in record if w.category is RuntimeWarning] == [__file__]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        second = torchfocal.sigmoid_focal_loss(x, y, backend="compiled")
    expected = torchfocal.sigmoid_focal_loss(x, y, backend="fused")
    torch.testing.assert_close(first, expected)
    torch.testing.assert_close(second, expected)


@pytest.mark.parametrize("backend", ["auto", "compiled"])
@pytest.mark.parametrize("loss_name", ["sigmoid", "softmax"])
def test_losses_inside_fullgraph_compile(loss_name: str, backend: str) -> None:
    """backend="compiled" inside the user's own torch.compile is traced into their graph."""
    torch._dynamo.reset()
    model = torch.nn.Linear(8, 5)
    x = torch.randn(16, 8)
    target = torch.randint(0, 5, (16,))
    target[3] = -100
    fn = getattr(torchfocal, f"{loss_name}_focal_loss")

    def step(inputs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return fn(model(inputs), labels, gamma=2.0, backend=backend)

    compiled_step = torch.compile(step, fullgraph=True)
    loss = compiled_step(x, target)
    loss.backward()
    grads = [p.grad.clone() for p in model.parameters() if p.grad is not None]
    model.zero_grad()
    eager = step(x, target)
    eager.backward()
    torch.testing.assert_close(loss, eager)
    for compiled_grad, p in zip(grads, model.parameters(), strict=True):
        torch.testing.assert_close(compiled_grad, p.grad)


def _equalization_step(x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    return torchfocal.equalization_loss_v2(
        x, labels, pos_grad=[1.0, 2.0, 3.0], neg_grad=[3.0, 3.0, 3.0]
    )


def _avg_factor_step(x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    target = torch.nn.functional.one_hot(labels, 4)[:, :3].float()
    return torchfocal.sigmoid_focal_loss(x, target, avg_factor=float(x.shape[0]))


@pytest.mark.parametrize("step", [_equalization_step, _avg_factor_step])
def test_fullgraph_step_traces_a_changing_batch_size(step: Any) -> None:
    """A detector's N changes every step: from the second size on dynamo traces N as a
    symbol, and avg_factor=float(N) (EQLv2 passes one itself) must not break the graph."""
    torch._dynamo.reset()
    compiled_step = torch.compile(step, fullgraph=True)
    for rows in (6, 5, 4):
        x = torch.randn(rows, 3, requires_grad=True)
        labels = torch.randint(0, 4, (rows,))
        loss = compiled_step(x, labels)
        (grad,) = torch.autograd.grad(loss, x)
        eager = step(x, labels)
        torch.testing.assert_close(loss, eager)
        torch.testing.assert_close(grad, torch.autograd.grad(eager, x)[0])


def test_fullgraph_equalization_module_steps_a_changing_batch_size() -> None:
    """EqualizationLossV2 in training mode: loss and statistics as eager, step by step."""
    torch._dynamo.reset()
    traced, eager = torchfocal.EqualizationLossV2(3), torchfocal.EqualizationLossV2(3)
    compiled_step = torch.compile(lambda x, labels: traced(x, labels), fullgraph=True)
    for rows in (6, 5, 4):
        x, labels = torch.randn(rows, 3), torch.randint(0, 4, (rows,))
        torch.testing.assert_close(compiled_step(x, labels), eager(x, labels))
        torch.testing.assert_close(traced.pos_grad, eager.pos_grad)
        torch.testing.assert_close(traced.neg_grad, eager.neg_grad)


@pytest.mark.parametrize("loss_name", ["sigmoid", "softmax"])
def test_losses_under_cpu_autocast(loss_name: str) -> None:
    model = torch.nn.Linear(8, 5)
    x = torch.randn(32, 8)
    target = torch.randint(0, 5, (32,))
    fn = getattr(torchfocal, f"{loss_name}_focal_loss")
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits = model(x)
        assert logits.dtype == torch.bfloat16
        loss = fn(logits, target)
    assert loss.dtype == torch.bfloat16
    loss.backward()
    assert model.weight.grad is not None and bool(torch.isfinite(model.weight.grad).all())
    full = fn(model(x).float(), target)
    torch.testing.assert_close(loss.float(), full, rtol=3e-2, atol=1e-2)


# Compile counts. A "program" is one graph dynamo hands to Inductor; counters["stats"]
# ["unique_graphs"] counts them for the whole process, so the tests read differences.


def _graphs() -> int:
    return int(torch._dynamo.utils.counters["stats"]["unique_graphs"])


@pytest.fixture(autouse=True)
def _fresh_compiler() -> Iterator[None]:
    """Each test starts with nothing compiled (the counts below are exact) and no graph
    break recorded."""
    torch._dynamo.reset()
    torch._dynamo.utils.counters.clear()
    yield
    torch._dynamo.reset()


def _same_as_fused(fn: Any, x: torch.Tensor, target: torch.Tensor, **kwargs: Any) -> None:
    """backend="compiled" gives the eager fused kernels' loss and input gradient."""
    values, grads = [], []
    for backend in ("compiled", "fused"):
        xx = x.detach().clone().requires_grad_(x.requires_grad)
        loss = fn(xx, target, backend=backend, **kwargs)
        values.append(loss.detach())
        if x.requires_grad:
            (grad,) = torch.autograd.grad(loss, xx, torch.ones_like(loss))
            grads.append(grad)
    tol = {"rtol": 1e-12, "atol": 1e-14} if x.dtype == torch.float64 else {}
    torch.testing.assert_close(values[0], values[1], **tol)
    if grads:
        torch.testing.assert_close(grads[0], grads[1], **tol)


def _training_loop(loss: str, steps: int) -> None:
    """A training loop as users write it: the last batch of an epoch smaller, a validation
    step without gradient, gamma and alpha changed by a schedule (Python floats), the
    reduction and every other option fixed."""
    fn = getattr(torchfocal, f"{loss}_focal_loss")
    for step in range(steps):
        rows = 64 if step % 4 != 3 else 40 - step
        x = (torch.randn(rows, 5) * 4).requires_grad_(step % 3 != 2)
        target = torch.rand(rows, 5) < 0.3 if loss == "sigmoid" else torch.randint(0, 5, (rows,))
        options = {"gamma": 2.5 + step / 10, "alpha": 0.25 + step / 100}
        if x.requires_grad:
            _same_as_fused(fn, x, target, **options)
        else:
            with torch.no_grad():
                _same_as_fused(fn, x, target, **options)


@pytest.mark.parametrize("loss", ["sigmoid", "softmax"])
def test_a_training_loop_compiles_a_handful_of_programs(loss: str) -> None:
    """No recompile storm: 12 steps of new sizes and new gamma and alpha values compile the
    first size, then one program with symbolic sizes (torch's automatic dynamic shapes),
    for each of with and without gradient."""
    _training_loop(loss, 12)
    assert _graphs() == 4
    assert not torch._dynamo.utils.counters["graph_break"]


def test_autograd_on_or_off_runs_one_program() -> None:
    """A call made with autograd on whose input needs no gradient (a metric on detached
    logits) and the same call under torch.no_grad (a validation step) share a program:
    torch guards on grad mode, and the program runs without it either way."""
    x = torch.randn(8, 5)
    target = torch.rand(8, 5) < 0.3
    recorded = torchfocal.sigmoid_focal_loss(x, target, backend="compiled")
    assert _graphs() == 1
    with torch.no_grad():
        unrecorded = torchfocal.sigmoid_focal_loss(x, target, backend="compiled")
    assert _graphs() == 1
    torch.testing.assert_close(recorded, unrecorded)
    torch.testing.assert_close(recorded, torchfocal.sigmoid_focal_loss(x, target))


def _number_sets(info: LossInfo) -> tuple[dict[str, Any], dict[str, Any]]:
    """Two option sets of the loss's first sample that differ in their numbers only: its
    focusing parameters at 2.5 and 3.5, and each other float option whose default is not a
    special value (0, 1, 2) at its default and at a fifth nearer 0 or a quarter further."""
    first, second = dict(info.samples[0].options), dict(info.samples[0].options)
    for name in info.focusing:
        first[name], second[name] = 2.5, 3.5
    for name, parameter in info.parameters.items():
        default = parameter.default
        if name in first or not isinstance(default, float) or default in (0.0, 1.0, 2.0):
            continue
        first[name] = default
        second[name] = default * 0.8 if abs(default) < 1 else default * 1.25
    return first, second


#: Every compiled loss whose options hold a number (focusing or a float with a default).
NUMBER_CASES = [
    pytest.param(info, id=info.name)
    for info in LOSSES
    if "compiled" in info.backends and operator.ne(*_number_sets(info))
]


@pytest.mark.parametrize("info", NUMBER_CASES)
def test_every_compiled_loss_takes_new_numbers_without_recompiling(info: LossInfo) -> None:
    """Each loss's numbers (alpha, gamma, clip, beta, epsilon, ...) are inputs of its
    program: a second set of values reuses it, gives the fused kernels' results (torch 2.13
    computes some ops on traced Python floats wrongly: they go in as 0-d tensors), and no
    kernel breaks the graph by a Python branch on one of them."""
    sample = info.samples[0]
    shape = (8, VARIANT_CLASSES)
    target = make_target(sample.target, shape, generator=torch.Generator().manual_seed(0))
    first, second = _number_sets(info)
    x = torch.randn(shape) * 3
    _same_as_fused(info.function, x.requires_grad_(True), target, **for_classes(first, shape[1]))
    # its programs (one per compiled part: two for the unified focal loss, none for the
    # Dice family, whose fused form runs eagerly)
    compiled_once = _graphs()
    x = torch.randn(shape) * 3
    _same_as_fused(info.function, x.requires_grad_(True), target, **for_classes(second, shape[1]))
    assert _graphs() == compiled_once
    assert not torch._dynamo.utils.counters["graph_break"]


def test_softmax_gamma_zero_is_its_own_program_and_exact_for_huge_margins() -> None:
    """gamma 0 keeps the plain cross-entropy path: one program for it, no NaN where the
    other classes' probabilities underflow (the general modulator would take log 0)."""
    for gamma in (2.5, 0.0, 0.0):
        x = (torch.randn(30, 5) * 4).requires_grad_(True)
        target = torch.randint(0, 5, (30,))
        with torch.no_grad():
            x[0, target[0]] = 1e4  # every other class's probability is exactly 0
        _same_as_fused(torchfocal.softmax_focal_loss, x, target, gamma=gamma, alpha=0.25)
        loss = torchfocal.softmax_focal_loss(x, target, gamma=gamma, alpha=0.25, backend="compiled")
        assert bool(torch.isfinite(loss))
    assert _graphs() == 2


@pytest.mark.parametrize("gamma", [0.0, 1.0, 2.0])
def test_each_special_gamma_adds_one_program(gamma: float) -> None:
    """gamma 0, 1 and 2 have forms of their own in the kernels (cheaper than the general
    exp(gamma log q)): torch guards on the value, one program each."""
    for value in (0.5, gamma, gamma, 3.5):
        x = (torch.randn(16, 3) * 4).requires_grad_(True)
        _same_as_fused(torchfocal.sigmoid_focal_loss, x, torch.rand(16, 3) < 0.3, gamma=value)
    assert _graphs() == 2


#: Each compiled loss's focusing parameters (LossInfo.focusing), for the test below.
SPECIAL_SEQUENCES = [
    pytest.param(info, name, id=f"{info.name}-{name}")
    for info in LOSSES
    if "compiled" in info.backends
    for name in info.focusing
]


@pytest.mark.parametrize(("info", "name"), SPECIAL_SEQUENCES)
def test_special_values_one_after_another_keep_their_own_programs(
    info: LossInfo, name: str
) -> None:
    """The special values 1, 2 and 0 (forms of their own in the kernels) one after another,
    on a (2, 7) input: torch 2.13 traced the second value as a symbol, and the quality focal
    loss at beta 2 then computed |d| ** beta with beta 1's exponent (reduction "none").
    Each value is a
    constant of its own program: the fused kernels' loss and gradient."""
    sample = info.samples[0]
    shape = (2, 7)
    target = make_target(sample.target, shape, generator=torch.Generator().manual_seed(0))
    options = for_classes(sample.options, shape[1])
    options["reduction"] = "none" if "none" in sample.reductions else sample.reductions[0]
    values = [v for v in (1.0, 2.0, 0.0) if v >= min(info.focusing_values)]
    for value in values:
        x = (torch.randn(shape, dtype=torch.float64) * 3).requires_grad_(True)
        _same_as_fused(info.function, x, target, **{**options, name: value})
    assert _graphs() == len(values)


def test_past_the_recompile_limit_torch_runs_the_fused_math_eagerly() -> None:
    """A thread-count change recompiles; with the limit at 1 that is the limit reached:
    torch then runs the loss's math eagerly, which is the fused kernels' result."""
    threads = torch.get_num_threads()
    x = torch.randn(6, 4, 2, 3, requires_grad=True)
    y = torch.rand(6, 4, 2, 3) < 0.3
    with torch._dynamo.config.patch(recompile_limit=1):
        _same_as_fused(torchfocal.sigmoid_focal_loss, x, y)
        try:
            torch.set_num_threads(threads + 1)
            _same_as_fused(torchfocal.sigmoid_focal_loss, x, y)
            _same_as_fused(torchfocal.sigmoid_focal_loss, x[:1], y[:1], gamma=0.5)
        finally:
            torch.set_num_threads(threads)
    assert _graphs() == 1
