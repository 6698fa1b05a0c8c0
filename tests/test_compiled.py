"""backend="compiled", losses inside a user's torch.compile(fullgraph=True), autocast."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

import pytest
import torch

import torchfocal
from torchfocal import reference
from torchfocal._engine import compiled


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

    monkeypatch.setattr(compiled, "_fresh", lambda math, name: broken)
    monkeypatch.setattr(compiled, "_compiled", {})
    monkeypatch.setattr(compiled, "_unavailable", [])
    x = torch.randn(4, 3)
    y = torch.rand(4, 3) < 0.5
    with pytest.warns(
        RuntimeWarning,
        match=r"backend='compiled' is unavailable here "
        r"\(RuntimeError: no C\+\+ compiler\); using backend='fused'",
    ):
        first = torchfocal.sigmoid_focal_loss(x, y, backend="compiled")
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


@pytest.fixture(scope="module", autouse=True)
def _fresh_compiler() -> Iterator[None]:
    """Start the module with no compiled cases (deliberately: the counts below are exact)."""
    torch._dynamo.reset()
    compiled._reset()
    yield
    torch._dynamo.reset()
    compiled._reset()


def _same_as_fused(loss_name: str, x: torch.Tensor, target: torch.Tensor, **kwargs: Any) -> None:
    """backend="compiled" gives the eager fused kernels' loss and input gradient."""
    fn = getattr(torchfocal, f"{loss_name}_focal_loss")
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


def _sigmoid_calls(**case: Any) -> list[tuple[torch.Tensor, torch.Tensor, dict[str, Any]]]:
    """One sigmoid case called with batch sizes 2, 64 and 1,500 (4,500 elements, past
    Inductor's 4,096-element summation threshold), every reduction that divides, and
    different alphas and gammas (none of 0, 1 and 2, which are cases of their own)."""
    dtype = case.pop("dtype", torch.float32)
    grad = case.pop("requires_grad", True)
    reductions = ["none"] if case.get("reduction") == "none" else ["mean", "sum", "positives"]
    case.pop("reduction", None)
    calls = []
    for index, (n, gamma, alpha) in enumerate(
        [(5, 2.5, 0.25), (64, 0.5, 0.75), (2, 0.25, 0.25), (1500, 3.0, 0.5), (64, 1.5, 0.1)]
    ):
        x = (torch.randn(n, 3, dtype=dtype) * 4).requires_grad_(grad)
        y = torch.rand(n, 3) < 0.3
        options = {"gamma": gamma, "alpha": alpha, "reduction": reductions[index % len(reductions)]}
        calls.append((x, y, {**options, **case}))
    return calls


def test_one_sigmoid_program_serves_every_size_reduction_alpha_and_gamma() -> None:
    before = _graphs()
    for x, y, options in _sigmoid_calls():
        _same_as_fused("sigmoid", x, y, **options)
    assert _graphs() - before == 1


def test_one_softmax_program_serves_every_size_reduction_alpha_and_gamma() -> None:
    before = _graphs()
    for n, gamma, alpha, reduction in [
        (3, 2.5, 0.5, "mean"),  # 3 rows, 5 classes: sizes that differ from the first call
        (40, 0.5, [1.0, 2.0, 0.5, 1.0, 3.0], "sum"),
        (2, 3.0, 2.0, "mean"),
        (1000, 1.5, [0.1, 0.2, 0.3, 0.4, 0.5], "mean"),  # 5,000 elements
    ]:
        x = (torch.randn(n, 5) * 4).requires_grad_(True)
        target = torch.randint(0, 5, (n,))
        _same_as_fused("softmax", x, target, gamma=gamma, alpha=alpha, reduction=reduction)
    assert _graphs() - before == 1


@pytest.mark.parametrize(
    "case",
    [
        {"requires_grad": False},
        {"dtype": torch.float64},
        {"reduction": "none"},
        {"alpha": None},
        {"alpha": [0.1, 0.2, 0.3]},
        {"weight_like_input": True},
    ],
    ids=["no-grad", "float64", "reduction-none", "alpha-None", "alpha-per-class", "full-weight"],
)
def test_each_distinct_sigmoid_case_compiles_once(case: dict[str, Any]) -> None:
    """need_grad, the dtype, reduction="none", a None operand and a tensor operand change
    the program: one more each, whatever the sizes and values of the calls after the first."""
    before = _graphs()
    full_weight = case.pop("weight_like_input", False)
    for x, y, options in _sigmoid_calls(**case):
        if full_weight:
            options["weight"] = torch.rand(x.shape, dtype=x.dtype)
        _same_as_fused("sigmoid", x, y, **options)
    assert _graphs() - before == 1


def test_softmax_gamma_zero_is_its_own_case_and_exact_for_huge_margins() -> None:
    """gamma 0 keeps the plain cross-entropy path: one program for it, no NaN where the
    other classes' probabilities underflow (the general modulator would take log 0)."""
    before = _graphs()
    for n in (2, 30, 1200):
        x = (torch.randn(n, 5) * 4).requires_grad_(True)
        target = torch.randint(0, 5, (n,))
        with torch.no_grad():
            x[0, target[0]] = 1e4  # every other class's probability is exactly 0
        _same_as_fused("softmax", x, target, gamma=0.0, alpha=0.25)
        loss = torchfocal.softmax_focal_loss(x, target, gamma=0.0, alpha=0.25, backend="compiled")
        assert bool(torch.isfinite(loss))
    assert _graphs() - before == 1


@pytest.mark.parametrize("gamma", [0.0, 1.0, 2.0])
def test_each_special_gamma_is_one_case(gamma: float) -> None:
    """gamma 0, 1 and 2 have forms of their own in the kernels (cheaper than the general
    exp(gamma log q)): one program each, for every size and alpha after the first call."""
    before = _graphs()
    for n, alpha in ((2, 0.25), (64, 0.5), (1500, 0.75)):
        x = (torch.randn(n, 3) * 4).requires_grad_(True)
        _same_as_fused("sigmoid", x, torch.rand(n, 3) < 0.3, gamma=gamma, alpha=alpha)
    assert _graphs() - before == 1


def test_equal_sizes_in_the_first_call_add_one_program() -> None:
    """Duck sizing: a first call with as many rows as classes assumes they are equal; the
    first call where they differ compiles once more, and no call after it does."""
    counts = []
    for n, gamma in [(4, 0.75), (9, 0.75), (30, 2.5), (4, 2.5)]:
        x = (torch.randn(n, 4, 2) * 4).requires_grad_(True)
        _same_as_fused("sigmoid", x, torch.rand(n, 4, 2) < 0.3, gamma=gamma, alpha=0.3)
        counts.append(_graphs())
    assert [later - counts[0] for later in counts[1:]] == [1, 1, 1]


def test_batch_size_one_adds_one_program_per_case() -> None:
    """torch specialises a dimension of size 1: batch size 1 compiles once more per case,
    and later calls at batch size 1 reuse it."""
    counts = []
    for n, gamma in [(17, 0.5), (1, 0.5), (1, 3.5), (40, 3.5)]:
        x = (torch.randn(n, 3) * 4).requires_grad_(True)
        _same_as_fused("sigmoid", x, torch.rand(n, 3) < 0.3, gamma=gamma, alpha=0.3)
        counts.append(_graphs())
    assert [later - counts[0] for later in counts[1:]] == [1, 1, 1]


def test_reaching_the_recompile_limit_warns_once_and_runs_fused() -> None:
    """A thread-count change recompiles within a case; with the limit at 1 that is the
    limit reached: one RuntimeWarning, the fused kernels' results, then silence."""
    threads = torch.get_num_threads()
    # A 4-D input: a case no other test of this module compiles.
    x = torch.randn(6, 4, 2, 3, requires_grad=True)
    y = torch.rand(6, 4, 2, 3) < 0.3
    with torch._dynamo.config.patch(recompile_limit=1):
        _same_as_fused("sigmoid", x, y)  # this case's first and only program
        try:
            torch.set_num_threads(threads + 1)
            with pytest.warns(
                RuntimeWarning,
                match=r"backend='compiled': torch\.compile reached its recompile limit "
                r"\(torch\._dynamo\.config\.recompile_limit = 1\) for the sigmoid focal "
                r"loss of a 4-D float32 input on cpu, with gradient; that case runs on "
                r"backend='fused' from now on",
            ) as record:
                torchfocal.sigmoid_focal_loss(x, y, backend="compiled")
            # The warning points at the user's line, not into torchfocal or torch.
            assert [w.filename for w in record if w.category is RuntimeWarning] == [__file__]
            with warnings.catch_warnings():
                warnings.simplefilter("error", RuntimeWarning)
                _same_as_fused("sigmoid", x, y)
                _same_as_fused("sigmoid", x[:1], y[:1], gamma=0.5)
        finally:
            torch.set_num_threads(threads)
