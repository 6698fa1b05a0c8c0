"""sigmoid_focal_loss: every backend against the NumPy reference, relations, numerics, the
sample-dependent gamma, and every bad-input branch (ValueError / TypeError with a
message)."""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import torchfocal
from conftest import check_against_reference as check_reference
from conftest import covering, run_loss, tolerance
from losses.focal_family import (
    SIGMOID_FORMS,
    assert_flsd53_per_element,
    check_constant_callable_gamma,
    decreasing_gamma,
    random_logits,
    sigmoid_target,
)
from torchfocal import reference

BACKENDS = ["naive", "fused"]
N, C = 6, 5


def make_target(form: str, shape: tuple[int, ...], class_dim: int = 1) -> torch.Tensor:
    """A target of the given form for an input of ``shape``."""
    if form == "soft":
        return torch.rand(shape, dtype=torch.float64)
    if form == "binary_float":
        return (torch.rand(shape) < 0.3).double()
    if form == "bool":
        return torch.rand(shape) < 0.3
    if form == "int_mask":
        return (torch.rand(shape) < 0.3).to(torch.int64)
    index_shape = shape[:class_dim] + shape[class_dim + 1 :]
    num_classes = shape[class_dim]
    target = torch.randint(0, num_classes + 1, index_shape)  # C = background
    if form == "index_ignore":
        target[torch.rand(index_shape) < 0.3] = -100
    return target


def run(backend: str, x: torch.Tensor, target: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
    return run_loss("sigmoid", backend, x, target, *args, **kwargs)


def check_against_reference(backend: str, *args: Any, **kwargs: Any) -> None:
    check_reference("sigmoid", backend, *args, **kwargs)


# --------------------------------------------------------------------------------------
# Against the reference


# Every (backend, gamma) pair with each form, alpha and reduction, and each pair of those
# (conftest.covering: the fused kernels branch on backend, gamma and form; the rest of the
# full product adds nothing).
@pytest.mark.parametrize(
    *covering(
        {"backend": BACKENDS, "gamma": [0.0, 0.5, 1.0, 2.0, 4.0]},
        {
            "form": ["soft", "binary_float", "bool", "int_mask", "index", "index_ignore"],
            "alpha": [None, 0.25, "per_class"],
            "reduction": ["none", "mean", "sum", "positives"],
        },
    )
)
def test_matches_reference(
    backend: str, form: str, alpha: Any, gamma: float, reduction: str
) -> None:
    x = torch.randn(N, C, dtype=torch.float64) * 3
    target = make_target(form, (N, C))
    if alpha == "per_class":
        alpha = torch.linspace(0.1, 0.9, C, dtype=torch.float64)
    check_against_reference(backend, x, target, alpha=alpha, gamma=gamma, reduction=reduction)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("form", ["soft", "bool", "index_ignore"])
@pytest.mark.parametrize(
    "options",
    [
        {"weight": "elementwise"},
        {"weight": "per_row"},
        {"pos_weight": "per_class"},
        {"pos_weight": "elementwise"},
        {"label_smoothing": 0.1},
        {"avg_factor": 7.5, "reduction": "mean"},
        {
            "weight": "per_row",
            "pos_weight": "per_class",
            "label_smoothing": 0.2,
            "alpha": "per_class",
            "reduction": "positives",
        },
    ],
    ids=lambda o: "-".join(f"{k}={v}" for k, v in o.items()),
)
@pytest.mark.parametrize("seed", [0, 1])
def test_options_match_reference(
    backend: str, form: str, options: dict[str, Any], seed: int
) -> None:
    torch.manual_seed(seed)
    shape = (N, C, 3)
    x = torch.randn(shape, dtype=torch.float64) * 4
    target = make_target(form, shape)
    kwargs: dict[str, Any] = {"gamma": 1.5}
    for key, value in options.items():
        if value == "elementwise":
            value = torch.rand(shape, dtype=torch.float64) * 2
        elif value == "per_row":
            value = torch.rand(N, 1, 1, dtype=torch.float64)
        elif value == "per_class":
            value = torch.linspace(0.2, 3.0, C, dtype=torch.float64)
            if key == "alpha":
                value = value / 3.0
        kwargs[key] = value
    check_against_reference(backend, x, target, **kwargs)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("form", ["soft", "bool", "index_ignore"])
def test_grad_output_other_than_one(backend: str, form: str) -> None:
    x = torch.randn(N, C, dtype=torch.float64)
    target = make_target(form, (N, C))
    upstream = torch.randn(N, C, dtype=torch.float64)
    check_against_reference(backend, x, target, upstream, reduction="none", gamma=2.0)
    check_against_reference(
        backend, x, target, torch.tensor(-2.5, dtype=torch.float64), reduction="mean"
    )


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("class_dim", [0, 1, 2, -1])
def test_class_dim_matches_moved_axis(backend: str, class_dim: int) -> None:
    x = torch.randn(4, 3, 5, dtype=torch.float64)
    num_classes = x.shape[class_dim]
    index_shape = list(x.shape)
    del index_shape[class_dim]
    target = torch.randint(0, num_classes + 1, index_shape)
    alpha = torch.linspace(0.2, 0.8, num_classes, dtype=torch.float64)
    pos_weight = torch.linspace(0.5, 2.0, num_classes, dtype=torch.float64)
    options = {"alpha": alpha, "pos_weight": pos_weight, "backend": backend}
    loss = torchfocal.sigmoid_focal_loss(x, target, class_dim=class_dim, **options)
    moved = torchfocal.sigmoid_focal_loss(x.movedim(class_dim, 1), target, class_dim=1, **options)
    torch.testing.assert_close(loss, moved)
    check_against_reference(
        backend, x, target, class_dim=class_dim, alpha=alpha, pos_weight=pos_weight
    )


@pytest.mark.parametrize("backend", BACKENDS)
def test_mask_and_index_targets_equal_float_targets(backend: str) -> None:
    x = torch.randn(N, C, 2, dtype=torch.float64, requires_grad=True)
    index = torch.randint(0, C + 1, (N, 2))
    dense = F.one_hot(index, C + 1)[..., :C].movedim(-1, 1)
    results = []
    for target in (index, dense.bool(), dense, dense.double()):
        loss = torchfocal.sigmoid_focal_loss(x, target, backend=backend, reduction="sum")
        (grad,) = torch.autograd.grad(loss, x)
        results.append((loss, grad))
    for loss, grad in results[1:]:
        torch.testing.assert_close(loss, results[0][0])
        torch.testing.assert_close(grad, results[0][1])


# --------------------------------------------------------------------------------------
# Relations


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("with_weights", [False, True])
def test_gamma_zero_is_bce_with_logits(backend: str, reduction: str, with_weights: bool) -> None:
    x = torch.randn(N, C, dtype=torch.float64) * 5
    y = torch.rand(N, C, dtype=torch.float64)
    weight = torch.rand(N, C, dtype=torch.float64) if with_weights else None
    pos_weight = torch.rand(C, dtype=torch.float64) * 3 if with_weights else None
    ours = run(
        backend,
        x,
        y,
        alpha=None,
        gamma=0.0,
        weight=weight,
        pos_weight=pos_weight,
        reduction=reduction,
    )
    xt = x.clone().requires_grad_(True)
    theirs = F.binary_cross_entropy_with_logits(
        xt, y, weight=weight, pos_weight=pos_weight, reduction=reduction
    )
    theirs.backward(torch.ones_like(theirs))
    torch.testing.assert_close(ours[0], theirs.detach(), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(ours[1], xt.grad, rtol=1e-12, atol=1e-12)


def test_worked_example_values() -> None:
    """docs/math.md's example: p = 0.8 and 0.4 for y = 1; CE 0.2231 / 0.9163 (x4.11), FL
    0.0089 / 0.3299."""
    logits = torch.tensor([math.log(0.8 / 0.2), math.log(0.4 / 0.6)], dtype=torch.float64)
    target = torch.ones(2, dtype=torch.float64)
    kwargs: dict[str, Any] = {"alpha": None, "reduction": "none"}
    ce = torchfocal.sigmoid_focal_loss(logits, target, gamma=0.0, **kwargs)
    fl = torchfocal.sigmoid_focal_loss(logits, target, gamma=2.0, **kwargs)
    assert [round(v, 4) for v in ce.tolist()] == [0.2231, 0.9163]
    assert [round(v, 4) for v in fl.tolist()] == [0.0089, 0.3299]
    assert round(float(ce[1] / ce[0]), 2) == 4.11
    assert round(float(fl[1] / fl[0]), 2) == 36.96


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("gamma", [0.0, 0.5, 2.0, 5.0])
def test_lin_appendix_b_gradient(backend: str, gamma: float) -> None:
    """dFL/dx = y (1-p_t)^gamma (gamma p_t log p_t + p_t - 1), y in {-1, 1}, x_t = y x."""
    x = torch.linspace(-8, 8, 41, dtype=torch.float64)
    for sign in (1.0, -1.0):
        target = torch.full_like(x, 1.0 if sign > 0 else 0.0)
        _, grad = run(backend, x, target, alpha=None, gamma=gamma, reduction="sum")
        p_t = torch.sigmoid(sign * x)
        expected = sign * (1 - p_t) ** gamma * (gamma * p_t * torch.log(p_t) + p_t - 1)
        torch.testing.assert_close(grad, expected, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("backend", BACKENDS)
def test_focal_ratio_to_cross_entropy(backend: str) -> None:
    """focal / ce = alpha_t (1 - p_t)^gamma elementwise; so focal <= ce for alpha <= 1."""
    x = torch.randn(N, C, dtype=torch.float64) * 3
    y = (torch.rand(N, C) < 0.5).double()
    alpha, gamma = 0.3, 2.0
    focal = torchfocal.sigmoid_focal_loss(
        x, y, alpha=alpha, gamma=gamma, reduction="none", backend=backend
    )
    ce = F.binary_cross_entropy_with_logits(x, y, reduction="none")
    p = torch.sigmoid(x)
    p_t = p * y + (1 - p) * (1 - y)
    alpha_t = alpha * y + (1 - alpha) * (1 - y)
    torch.testing.assert_close(focal / ce, alpha_t * (1 - p_t) ** gamma)
    assert bool((focal <= ce).all())


@pytest.mark.parametrize("backend", BACKENDS)
def test_alpha_zero_and_one_silence_one_side(backend: str) -> None:
    x = torch.randn(N, C, dtype=torch.float64)
    y = torch.rand(N, C) < 0.5
    only_pos = torchfocal.sigmoid_focal_loss(x, y, alpha=1.0, reduction="none", backend=backend)
    only_neg = torchfocal.sigmoid_focal_loss(x, y, alpha=0.0, reduction="none", backend=backend)
    assert bool((only_pos[~y] == 0).all()) and bool((only_pos[y] > 0).all())
    assert bool((only_neg[y] == 0).all()) and bool((only_neg[~y] > 0).all())


# --------------------------------------------------------------------------------------
# The sample-dependent gamma


# One compiled case per loss and schedule: compiling is the slow part of the suite.
@pytest.mark.parametrize(
    ("backend", "form"), [*itertools.product(BACKENDS, SIGMOID_FORMS), ("compiled", "mask")]
)
@pytest.mark.parametrize("gamma", ["flsd53", decreasing_gamma])
def test_sigmoid_sample_dependent_gamma_matches_reference(
    backend: str, gamma: Any, form: str
) -> None:
    x, target = random_logits(scale=1.5), sigmoid_target(form)
    check_reference("sigmoid", backend, x, target, gamma=gamma, alpha=0.25, label_smoothing=0.1)


@pytest.mark.parametrize("backend", BACKENDS)
def test_flsd53_picks_gamma_5_or_3_per_element(backend: str) -> None:
    """Elementwise, flsd53 is the focal loss with gamma 5 where p_t < 0.2, else 3, in value
    and in gradient (the schedule is a constant of the graph)."""
    x = random_logits(scale=2.0)
    target = sigmoid_target("mask")
    p = torch.sigmoid(x)
    low = torch.where(target, p, 1 - p) < 0.2
    assert_flsd53_per_element(torchfocal.sigmoid_focal_loss, backend, x, target, low, low)


def test_constant_callable_gamma_is_that_gamma() -> None:
    check_constant_callable_gamma(torchfocal.sigmoid_focal_loss)


# --------------------------------------------------------------------------------------
# Numerics


EXTREME = [-1e4, -1e3, -100.0, -30.0, -1.0, 0.0, 1.0, 30.0, 100.0, 1e3, 1e4]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
@pytest.mark.parametrize("gamma", [0.0, 0.1, 0.5, 1.0, 2.0, 10.0])
@pytest.mark.parametrize("form", ["bool", "soft", "smoothed"])
def test_extreme_logits_are_finite(
    backend: str, dtype: torch.dtype, gamma: float, form: str
) -> None:
    x = torch.tensor(EXTREME, dtype=dtype).repeat(3)
    if form == "soft":
        y: torch.Tensor = torch.tensor([0.0, 0.3, 1.0]).repeat_interleave(len(EXTREME))
    else:
        y = torch.tensor([0.0, 1.0, 1.0]).repeat_interleave(len(EXTREME)) > 0.5
    smoothing = 0.1 if form == "smoothed" else 0.0
    x64 = x.double()
    loss, grad = run(backend, x, y, gamma=gamma, label_smoothing=smoothing, reduction="none")
    assert loss.dtype == dtype and grad.dtype == dtype
    assert bool(torch.isfinite(loss).all()) and bool(torch.isfinite(grad).all())
    # Saturated logits are exactly representable, so every dtype must agree with the oracle
    # evaluated at the same (rounded) logits.
    ref_loss, ref_grad = reference.sigmoid_focal_loss(
        x64.numpy(), y.numpy(), gamma=gamma, label_smoothing=smoothing, reduction="none"
    )
    tol = tolerance(dtype) if dtype != torch.float64 else {"rtol": 1e-9, "atol": 1e-12}
    if dtype == torch.float32:
        tol = {"rtol": 1e-4, "atol": 1e-5}
    torch.testing.assert_close(loss.double(), torch.from_numpy(ref_loss), **tol)
    torch.testing.assert_close(grad.double(), torch.from_numpy(ref_grad), **tol)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_inputs_are_computed_in_float32(backend: str, dtype: torch.dtype) -> None:
    x = torch.randn(N, C).to(dtype)
    y = torch.rand(N, C) < 0.3
    half = torchfocal.sigmoid_focal_loss(x, y, backend=backend)
    full = torchfocal.sigmoid_focal_loss(x.float(), y, backend=backend)
    assert half.dtype == dtype
    assert half == full.to(dtype)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("reduction", ["mean", "sum", "positives"])
@pytest.mark.parametrize("form", ["soft", "bool", "index"])
def test_empty_input(backend: str, reduction: str, form: str) -> None:
    x = torch.empty(0, C, requires_grad=True)
    target = make_target(form, (0, C))
    loss = torchfocal.sigmoid_focal_loss(x, target, reduction=reduction, backend=backend)
    assert loss.shape == () and loss.item() == 0.0
    loss.backward()
    assert x.grad is not None and x.grad.shape == (0, C)


@pytest.mark.parametrize("backend", BACKENDS)
def test_everything_ignored_gives_zero(backend: str) -> None:
    x = torch.randn(N, C, requires_grad=True)
    target = torch.full((N,), -100)
    loss = torchfocal.sigmoid_focal_loss(x, target, reduction="mean", backend=backend)
    loss.backward()
    assert loss.item() == 0.0 and x.grad is not None and bool((x.grad == 0).all())


@pytest.mark.parametrize("backend", BACKENDS)
def test_no_grad_calls(backend: str) -> None:
    x = torch.randn(N, C)
    y = torch.rand(N, C) < 0.3
    with_grad = torchfocal.sigmoid_focal_loss(x.requires_grad_(True), y, backend=backend)
    with torch.no_grad():
        without = torchfocal.sigmoid_focal_loss(x, y, backend=backend)
    plain = torchfocal.sigmoid_focal_loss(x.detach(), y, backend=backend)
    assert not without.requires_grad and not plain.requires_grad
    torch.testing.assert_close(without, with_grad.detach())
    torch.testing.assert_close(plain, with_grad.detach())


@pytest.mark.parametrize(
    "kwargs",
    [
        {"reduction": "none"},
        {"reduction": "mean", "alpha": None, "gamma": 0.5},
        {"reduction": "sum", "pos_weight": "yes", "gamma": 1.0},
        {"reduction": "positives", "label_smoothing": 0.1, "alpha": "per_class"},
    ],
)
@pytest.mark.parametrize("form", ["bool", "soft"])
def test_fused_function_gradcheck(kwargs: dict[str, Any], form: str) -> None:
    x = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    target = make_target(form, (3, 4))
    options = dict(kwargs)
    if options.get("pos_weight") == "yes":
        options["pos_weight"] = torch.rand(4, dtype=torch.float64) + 0.5
    if options.get("alpha") == "per_class":
        options["alpha"] = torch.rand(4, dtype=torch.float64)

    def loss_fn(inp: torch.Tensor) -> torch.Tensor:
        return torchfocal.sigmoid_focal_loss(inp, target, backend="fused", **options)

    assert torch.autograd.gradcheck(loss_fn, (x,), eps=1e-6, atol=1e-8)


def test_fused_equals_naive_random_configs() -> None:
    """A broad sweep in float32: the two backends agree within float32 rounding."""
    rng = np.random.default_rng(0)
    for _ in range(20):
        shape = tuple(int(s) for s in rng.integers(1, 5, size=int(rng.integers(2, 4))))
        x = torch.from_numpy(rng.normal(size=shape) * 4).float()
        y = torch.from_numpy(rng.random(shape)).float()
        gamma = float(rng.uniform(0, 4))
        a = run("naive", x, y, gamma=gamma, alpha=0.4)
        b = run("fused", x, y, gamma=gamma, alpha=0.4)
        torch.testing.assert_close(a[0], b[0], rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(a[1], b[1], rtol=1e-5, atol=1e-6)


# --------------------------------------------------------------------------------------
# Errors: every bad-input branch raises ValueError / TypeError with a message

X = torch.randn(4, 80)
Y = torch.rand(4, 80)


def call(input: Any = X, target: Any = Y, **kwargs: Any) -> torch.Tensor:
    return torchfocal.sigmoid_focal_loss(input, target, **kwargs)


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "match"),
    [
        (
            (X, torch.rand(4, 81)),
            {},
            ValueError,
            r"target must have the shape of input \(4, 80\) or \(4,\) for class indices; "
            r"got \(4, 81\)",
        ),
        ((X, torch.rand(4)), {}, TypeError, r"target must be an integer tensor of class indices"),
        ((X, torch.full((4, 80), 1.5)), {}, ValueError, r"target must hold values in \[0, 1\]"),
        ((X, torch.full((4, 80), float("nan"))), {}, ValueError, r"target must hold values"),
        ((X, torch.full((4, 80), 2)), {}, ValueError, r"target must hold 0 or 1 .*got 2"),
        (
            (X, torch.tensor([0, 3, 81, 1])),
            {},
            ValueError,
            r"target class indices must be in \[0, 80\] .*ignore_index=-100; got 81",
        ),
        ((X, torch.tensor([0, -1, 2, 1])), {}, ValueError, r"class indices .*got -1"),
        ((X.long(), Y), {}, TypeError, r"input must be a floating-point tensor.*got torch.int64"),
        (([1.0], Y), {}, TypeError, r"input must be a torch.Tensor; got list"),
        ((X, [0, 1]), {}, TypeError, r"target must be a torch.Tensor; got list"),
        ((X, Y.to(torch.complex64)), {}, TypeError, r"target must be a float, bool or integer"),
        ((), {"gamma": -1.0}, ValueError, r"gamma must be a finite non-negative float; got -1.0"),
        ((), {"gamma": float("inf")}, ValueError, r"gamma must be a finite non-negative"),
        ((), {"gamma": "2"}, ValueError, r"gamma must be a non-negative float, 'flsd53' or a "),
        ((), {"gamma": [2.0]}, TypeError, r"gamma must be a non-negative float; got list"),
        ((), {"alpha": 1.5}, ValueError, r"alpha must be in \[0, 1\]; got 1.5"),
        ((), {"alpha": -0.1}, ValueError, r"alpha must be in \[0, 1\]; got -0.1"),
        (
            (),
            {"alpha": [0.25] * 79},
            ValueError,
            r"alpha must have one value per class \(80 along class_dim=1\); got shape \(79,\)",
        ),
        ((), {"alpha": torch.full((80,), 2.0)}, ValueError, r"alpha must hold values in \[0, 1\]"),
        ((), {"alpha": "a"}, TypeError, r"alpha must be a float or a sequence of 80 floats"),
        (
            (),
            {"reduction": "avg"},
            ValueError,
            r"reduction must be one of 'none' \| 'mean' \| 'sum' \| 'positives'; got 'avg'",
        ),
        ((), {"backend": "cuda"}, ValueError, r"backend must be one of .*got 'cuda'"),
        ((), {"label_smoothing": 1.0}, ValueError, r"label_smoothing must be in \[0, 1\); got 1.0"),
        ((), {"label_smoothing": -0.1}, ValueError, r"label_smoothing must be in \[0, 1\)"),
        ((), {"avg_factor": 0.0}, ValueError, r"avg_factor must be a finite number > 0; got 0.0"),
        ((), {"avg_factor": torch.tensor(-1.0)}, ValueError, r"avg_factor must be > 0"),
        ((), {"avg_factor": torch.ones(2)}, ValueError, r"avg_factor must be a positive number"),
        ((), {"avg_factor": "3"}, TypeError, r"avg_factor must be a positive number; got str"),
        (
            (),
            {"avg_factor": 3.0, "reduction": "sum"},
            ValueError,
            r"avg_factor must be None unless reduction='mean'",
        ),
        (
            (),
            {"weight": torch.ones(5, 80)},
            ValueError,
            r"weight must broadcast to the input's shape \(4, 80\); got shape \(5, 80\)",
        ),
        ((), {"weight": torch.ones(2, 4, 80)}, ValueError, r"weight must broadcast"),
        (
            (),
            {"pos_weight": torch.ones(3)},
            ValueError,
            r"pos_weight must broadcast to the input's shape \(4, 80\); got shape \(3,\)",
        ),
        (
            (),
            {"class_dim": 2},
            ValueError,
            r"class_dim must be a dimension of the input \(in \[-2, 1\]\); got 2",
        ),
        ((X, torch.zeros(4, dtype=torch.long)), {"class_dim": 5}, ValueError, r"class_dim must"),
        ((), {"class_dim": 1.0, "alpha": [0.5] * 80}, TypeError, r"class_dim must be an int"),
        ((), {"ignore_index": 1.5}, TypeError, r"ignore_index must be an int; got float"),
        (
            (),
            {"distributed": True},
            ValueError,
            r"distributed must be False unless reduction='positives'",
        ),
        (
            (),
            {"distributed": True, "reduction": "positives"},
            ValueError,
            r"distributed must be False unless torch.distributed is initialised",
        ),
    ],
)
def test_error(args: tuple[Any, ...], kwargs: dict[str, Any], error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        call(*args, **kwargs)


def test_device_mismatch_is_reported() -> None:
    meta_target = torch.rand(4, 80, device="meta")
    with pytest.raises(ValueError, match=r"target must be on the input's device cpu; got meta"):
        call(X, meta_target)
    with pytest.raises(ValueError, match=r"weight must be on the input's device"):
        call(weight=torch.ones(4, 80, device="meta"))


def test_module_validates_in_init() -> None:
    with pytest.raises(ValueError, match=r"gamma must be"):
        torchfocal.SigmoidFocalLoss(gamma=-2.0)
    with pytest.raises(ValueError, match=r"reduction must be one of"):
        torchfocal.SigmoidFocalLoss(reduction="batchmean")
    with pytest.raises(ValueError, match=r"alpha must be in"):
        torchfocal.SigmoidFocalLoss(alpha=2.0)
    with pytest.raises(ValueError, match=r"alpha must hold values in \[0, 1\]"):
        torchfocal.SigmoidFocalLoss(alpha=[0.5, 1.5])
    with pytest.raises(TypeError, match=r"pos_weight must be a tensor or a sequence of floats"):
        torchfocal.SigmoidFocalLoss(pos_weight="heavy")  # type: ignore[arg-type]


#: A mask target for the sample-dependent gamma's errors.
MASK = torch.rand(4, 80) < 0.5

GAMMA_ERRORS: list[tuple[tuple[Any, ...], dict[str, Any], type[Exception], str]] = [
    (
        (X, MASK),
        {"gamma": "flsd"},
        ValueError,
        r"gamma must be a non-negative float, 'flsd53' or a callable; got 'flsd'",
    ),
    ((X, MASK), {"gamma": lambda p: -p}, ValueError, r"gamma\(p\) must return finite values >= 0"),
    (
        (X, MASK),
        {"gamma": lambda p: p * float("nan")},
        ValueError,
        r"gamma\(p\) must return finite values",
    ),
    (
        (X, MASK),
        {"gamma": lambda p: "2"},
        TypeError,
        r"gamma\(p\) must return a float tensor or a float; got str",
    ),
    (
        (X, MASK),
        {"gamma": lambda p: (p > 0.5).long()},
        TypeError,
        r"gamma\(p\) must return a float tensor or a float; got torch.int64",
    ),
]


@pytest.mark.parametrize(("args", "kwargs", "error", "match"), GAMMA_ERRORS)
def test_gamma_schedule_error(
    args: tuple[Any, ...], kwargs: dict[str, Any], error: type, match: str
) -> None:
    with pytest.raises(error, match=match):
        call(*args, **kwargs)


MODULE_ERRORS: list[tuple[dict[str, Any], type[Exception], str]] = [
    ({"gamma": "flsd35"}, ValueError, r"gamma must be a non-negative float"),
]


@pytest.mark.parametrize(("kwargs", "error", "match"), MODULE_ERRORS)
def test_module_error(kwargs: dict[str, Any], error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        torchfocal.SigmoidFocalLoss(**kwargs)
