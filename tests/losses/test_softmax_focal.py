"""softmax_focal_loss: F.cross_entropy at gamma 0, the reference, numerics, the
sample-dependent gamma, errors, module."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import torchfocal
from conftest import check_against_reference as check_reference
from conftest import covering, run_loss, tolerance
from losses.focal_family import (
    assert_flsd53_per_element,
    check_constant_callable_gamma,
    decreasing_gamma,
    probs_or_index,
    random_logits,
    softmax_target,
)
from torchfocal import reference

BACKENDS = ["naive", "fused"]
C = 5


def run(backend: str, x: torch.Tensor, target: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
    return run_loss("softmax", backend, x, target, *args, **kwargs)


def check_against_reference(backend: str, *args: Any, **kwargs: Any) -> None:
    check_reference("softmax", backend, *args, **kwargs)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("shape", [(7, C), (3, C, 2, 3)], ids=["2d", "4d"])
@pytest.mark.parametrize("form", ["index", "index_ignore", "probs"])
@pytest.mark.parametrize("with_weight", [False, True])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.15])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_gamma_zero_is_cross_entropy(
    backend: str,
    shape: tuple[int, ...],
    form: str,
    with_weight: bool,
    label_smoothing: float,
    reduction: str,
) -> None:
    x = torch.randn(shape, dtype=torch.float64) * 3
    target = probs_or_index(form, shape)
    weight = torch.rand(C, dtype=torch.float64) + 0.1 if with_weight else None
    options: dict[str, Any] = {
        "weight": weight,
        "label_smoothing": label_smoothing,
        "reduction": reduction,
    }
    ours = run(backend, x, target, alpha=None, gamma=0.0, **options)
    xt = x.clone().requires_grad_(True)
    theirs = F.cross_entropy(xt, target, **options)
    theirs.backward(torch.ones_like(theirs))
    torch.testing.assert_close(ours[0], theirs.detach(), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(ours[1], xt.grad, rtol=1e-12, atol=1e-12)


# Every (backend, gamma) pair with each form, alpha and reduction, and each pair of those
# (conftest.covering: the fused kernels branch on backend, gamma and form; the rest of the
# full product adds nothing).
@pytest.mark.parametrize(
    *covering(
        {"backend": BACKENDS, "gamma": [0.5, 1.0, 2.0, 4.0]},
        {
            "form": ["index", "index_ignore", "probs"],
            "alpha": [None, 0.5, "per_class"],
            "reduction": ["none", "mean", "sum"],
        },
    )
)
def test_matches_reference(
    backend: str, form: str, alpha: Any, gamma: float, reduction: str
) -> None:
    x = torch.randn(6, C, 2, dtype=torch.float64) * 3
    target = probs_or_index(form, (6, C, 2))
    if alpha == "per_class":
        alpha = torch.linspace(0.1, 0.9, C, dtype=torch.float64)
    check_against_reference(backend, x, target, alpha=alpha, gamma=gamma, reduction=reduction)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("form", ["index_ignore", "probs"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_all_options_match_reference(backend: str, form: str, seed: int) -> None:
    torch.manual_seed(seed)
    x = torch.randn(4, C, 3, dtype=torch.float64) * 4
    target = probs_or_index(form, (4, C, 3))
    upstream = torch.randn(4, 3, dtype=torch.float64)
    options = {
        "alpha": torch.rand(C, dtype=torch.float64),
        "weight": torch.rand(C, dtype=torch.float64) * 2,
        "label_smoothing": 0.1,
        "gamma": 1.5,
    }
    check_against_reference(backend, x, target, upstream, reduction="none", **options)
    check_against_reference(backend, x, target, reduction="mean", **options)


@pytest.mark.parametrize("backend", BACKENDS)
def test_class_dim_last_equals_moved(backend: str) -> None:
    x = torch.randn(2, 7, C, dtype=torch.float64)  # (B, anchors, C)
    target = torch.randint(0, C, (2, 7))
    alpha = torch.rand(C, dtype=torch.float64)
    last = run(backend, x, target, class_dim=-1, alpha=alpha)
    moved = run(backend, x.movedim(-1, 1), target, class_dim=1, alpha=alpha)
    torch.testing.assert_close(last[0], moved[0])
    torch.testing.assert_close(last[1], moved[1].movedim(1, -1))


@pytest.mark.parametrize("backend", BACKENDS)
def test_focal_is_at_most_cross_entropy_and_ratio(backend: str) -> None:
    x = torch.randn(8, C, dtype=torch.float64) * 2
    target = torch.randint(0, C, (8,))
    focal = torchfocal.softmax_focal_loss(x, target, gamma=2.0, reduction="none", backend=backend)
    ce = F.cross_entropy(x, target, reduction="none")
    p_t = torch.softmax(x, 1).gather(1, target[:, None])[:, 0]
    torch.testing.assert_close(focal / ce, (1 - p_t) ** 2)
    assert bool((focal <= ce).all())


# -- the sample-dependent gamma --------------------------------------------------------------

SOFTMAX_SCHEDULE_CASES = [("index+ignore", 0.0), ("index", 0.1), ("probabilities", 0.0)]


@pytest.mark.parametrize(
    ("backend", "form", "label_smoothing"),
    [
        *((backend, *case) for backend in BACKENDS for case in SOFTMAX_SCHEDULE_CASES),
        ("compiled", "index+ignore", 0.0),
    ],
)
@pytest.mark.parametrize("gamma", ["flsd53", decreasing_gamma])
def test_softmax_sample_dependent_gamma_matches_reference(
    backend: str, gamma: Any, form: str, label_smoothing: float
) -> None:
    x = random_logits(scale=1.5)
    target = softmax_target(form, (6, x.shape[1]), 1)
    check_reference("softmax", backend, x, target, gamma=gamma, label_smoothing=label_smoothing)


@pytest.mark.parametrize("backend", BACKENDS)
def test_flsd53_picks_gamma_5_or_3_per_element(backend: str) -> None:
    """Per location, flsd53 is the focal loss with gamma 5 where p_t < 0.2, else 3, in
    value and in gradient (the schedule is a constant of the graph)."""
    x = random_logits(scale=2.0)
    target = torch.randint(0, x.shape[1], (6,))
    p_t = torch.softmax(x, dim=1).gather(1, target[:, None])[:, 0]
    low = p_t < 0.2
    assert_flsd53_per_element(torchfocal.softmax_focal_loss, backend, x, target, low, low[:, None])


def test_constant_callable_gamma_is_that_gamma() -> None:
    check_constant_callable_gamma(torchfocal.softmax_focal_loss)


# -- numerics --------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
@pytest.mark.parametrize("gamma", [0.0, 0.1, 0.5, 1.0, 2.0, 10.0])
@pytest.mark.parametrize("form", ["index", "probs", "smoothed"])
def test_extreme_logits_are_finite(
    backend: str, dtype: torch.dtype, gamma: float, form: str
) -> None:
    x = torch.tensor(
        [[1e4, -1e4, 0.0], [-1e4, 1e4, 1e4], [30.0, -30.0, 0.0], [0.0, 0.0, 1e4]], dtype=dtype
    )
    smoothing = 0.1 if form == "smoothed" else 0.0
    target: torch.Tensor = torch.tensor([0, 0, 1, 2])
    if form == "probs":
        target = torch.tensor(
            [[1.0, 0.0, 0.0], [0.2, 0.3, 0.5], [0.0, 1.0, 0.0], [0.5, 0.0, 0.5]], dtype=dtype
        )
    loss, grad = run(backend, x, target, gamma=gamma, label_smoothing=smoothing, reduction="none")
    assert loss.dtype == dtype and grad.dtype == dtype
    assert bool(torch.isfinite(loss).all()) and bool(torch.isfinite(grad).all())
    ref_loss, ref_grad = reference.softmax_focal_loss(
        x.double().numpy(),
        target.double().numpy() if form == "probs" else target.numpy(),
        gamma=gamma,
        label_smoothing=smoothing,
        reduction="none",
    )
    # float32 spacing at 1e4 is about 1e-3, so log_softmax itself (torch's, as in
    # F.cross_entropy) carries ~1e-4 relative error at these logits.
    tol = {
        torch.float64: {"rtol": 1e-9, "atol": 1e-12},
        torch.float32: {"rtol": 1e-3, "atol": 1e-4},
    }.get(dtype, tolerance(dtype))
    torch.testing.assert_close(loss.double(), torch.from_numpy(ref_loss), **tol)
    torch.testing.assert_close(grad.double(), torch.from_numpy(ref_grad), **tol)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("gamma", [0.25, 0.5])
def test_small_gamma_gradient_finite_when_confident(backend: str, gamma: float) -> None:
    """gamma < 1 with p_y -> 1: (1 - p)^(gamma - 1) alone would overflow."""
    x = torch.tensor([[40.0, 0.0, 0.0], [800.0, 0.0, -5.0]], dtype=torch.float32)
    _, grad = run(backend, x, torch.tensor([0, 0]), gamma=gamma)
    assert bool(torch.isfinite(grad).all())


@pytest.mark.parametrize("form", ["index_ignore", "probs", "smoothed"])
@pytest.mark.parametrize("reduction", ["none", "mean"])
def test_fused_function_gradcheck(form: str, reduction: str) -> None:
    x = torch.randn(3, 4, 2, dtype=torch.float64, requires_grad=True)
    target = probs_or_index("probs" if form == "probs" else "index_ignore", (3, 4, 2))
    smoothing = 0.2 if form == "smoothed" else 0.0
    alpha = torch.rand(4, dtype=torch.float64)

    def loss_fn(inp: torch.Tensor) -> torch.Tensor:
        return torchfocal.softmax_focal_loss(
            inp,
            target,
            gamma=0.7,
            alpha=alpha,
            label_smoothing=smoothing,
            reduction=reduction,
            backend="fused",
        )

    assert torch.autograd.gradcheck(loss_fn, (x,), eps=1e-6, atol=1e-8)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_empty_and_all_ignored(backend: str, reduction: str) -> None:
    x = torch.empty(0, C, requires_grad=True)
    loss = torchfocal.softmax_focal_loss(
        x, torch.empty(0, dtype=torch.long), reduction=reduction, backend=backend
    )
    loss.backward()
    assert loss.item() == 0.0 and x.grad is not None and x.grad.shape == (0, C)
    y = torch.randn(3, C, requires_grad=True)
    loss = torchfocal.softmax_focal_loss(
        y, torch.full((3,), -100), reduction=reduction, backend=backend
    )
    loss.backward()
    assert loss.item() == 0.0 and y.grad is not None and bool((y.grad == 0).all())


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_inputs(backend: str, dtype: torch.dtype) -> None:
    x = torch.randn(6, C).to(dtype)
    target = torch.randint(0, C, (6,))
    half = torchfocal.softmax_focal_loss(x, target, backend=backend)
    assert half.dtype == dtype
    assert half == torchfocal.softmax_focal_loss(x.float(), target, backend=backend).to(dtype)


def test_no_grad_call_equals_grad_call() -> None:
    x = torch.randn(6, C)
    target = torch.randint(0, C, (6,))
    with torch.no_grad():
        a = torchfocal.softmax_focal_loss(x, target)
    b = torchfocal.softmax_focal_loss(x.requires_grad_(True), target)
    assert not a.requires_grad
    torch.testing.assert_close(a, b.detach())


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_module_equals_function(reduction: str) -> None:
    x = torch.randn(4, C, 3)
    target = torch.randint(0, C, (4, 3))
    target[0, 0] = 9
    module = torchfocal.SoftmaxFocalLoss(
        alpha=[0.1, 0.2, 0.3, 0.2, 0.2],
        gamma=1.0,
        weight=[1.0, 2.0, 1.0, 0.5, 1.0],
        ignore_index=9,
        label_smoothing=0.05,
        reduction=reduction,
    )
    expected = torchfocal.softmax_focal_loss(
        x,
        target,
        alpha=torch.tensor([0.1, 0.2, 0.3, 0.2, 0.2]),
        gamma=1.0,
        weight=torch.tensor([1.0, 2.0, 1.0, 0.5, 1.0]),
        ignore_index=9,
        label_smoothing=0.05,
        reduction=reduction,
    )
    torch.testing.assert_close(module(x, target), expected)
    assert set(module.state_dict()) == {"alpha", "weight"}
    assert module.to(torch.float64).weight.dtype == torch.float64  # type: ignore[union-attr]


# -- errors ----------------------------------------------------------------------------------

X = torch.randn(4, C)
INDEX = torch.tensor([0, 1, 2, 3])


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "match"),
    [
        (
            (X, torch.tensor([0, 1, 5, 2])),
            {},
            ValueError,
            r"target class indices must be in \[0, 4\] or ignore_index=-100; got 5",
        ),
        ((X, torch.tensor([0, -1, 2, 2])), {}, ValueError, r"class indices .*got -1"),
        (
            (X, torch.zeros(4, 6)),
            {},
            ValueError,
            r"target must have the shape of input \(4, 5\) \(probabilities\) or \(4,\) "
            r"\(class indices\); got \(4, 6\)",
        ),
        (
            (X, torch.full((4, C), 0.5)),
            {},
            ValueError,
            r"target probabilities must sum to 1 over class_dim=1 \(within 0.001 for "
            r"torch.float32\); got a sum of 2.5",
        ),
        (
            (X, torch.full((4, C), -0.2)),
            {},
            ValueError,
            r"target probabilities must be in \[0, 1\]",
        ),
        ((X, torch.zeros(4)), {}, TypeError, r"target must be an integer tensor of class indices"),
        ((X.long(), INDEX), {}, TypeError, r"input must be a floating-point tensor"),
        ((torch.tensor(1.0), torch.tensor(0)), {}, ValueError, r"input must have a class dim"),
        (
            (X, INDEX),
            {"alpha": [0.1] * 4},
            ValueError,
            r"alpha must have one value per class \(5 along class_dim=1\); got shape \(4,\)",
        ),
        ((X, INDEX), {"alpha": -0.5}, ValueError, r"alpha must be in \[0, inf\]; got -0.5"),
        (
            (X, INDEX),
            {"weight": torch.ones(3)},
            ValueError,
            r"weight must have one value per class \(5 along class_dim=1\); got shape \(3,\)",
        ),
        ((X, INDEX), {"weight": 2.0}, TypeError, r"weight must be a torch.Tensor; got float"),
        ((X, INDEX), {"weight": -torch.ones(C)}, ValueError, r"weight must hold values in"),
        ((X, INDEX), {"gamma": -1.0}, ValueError, r"gamma must be a finite non-negative"),
        (
            (X, INDEX),
            {"reduction": "positives"},
            ValueError,
            r"reduction must be one of 'none' \| 'mean' \| 'sum'; got 'positives'",
        ),
        ((X, INDEX), {"label_smoothing": 1.0}, ValueError, r"label_smoothing must be in"),
        ((X, INDEX), {"class_dim": 2}, ValueError, r"class_dim must be a dimension"),
        ((X, INDEX), {"ignore_index": None}, TypeError, r"ignore_index must be an int"),
        ((X, INDEX), {"backend": "fast"}, ValueError, r"backend must be one of"),
    ],
)
def test_error(args: tuple[Any, ...], kwargs: dict[str, Any], error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        torchfocal.softmax_focal_loss(*args, **kwargs)


def test_module_validates_in_init() -> None:
    with pytest.raises(ValueError, match=r"alpha must hold values in \[0, inf\]"):
        torchfocal.SoftmaxFocalLoss(alpha=[0.5, -1.0])
    with pytest.raises(ValueError, match=r"reduction must be one of"):
        torchfocal.SoftmaxFocalLoss(reduction="positives")


GAMMA_ERRORS: list[tuple[tuple[Any, ...], dict[str, Any], type[Exception], str]] = [
    (
        (X, INDEX),
        {"gamma": lambda p: torch.ones(3)},
        ValueError,
        r"gamma\(p\) must broadcast to the input's shape \(4, 1\); got shape \(3,\)",
    ),
    ((X, INDEX), {"gamma": lambda p: -1.0}, ValueError, r"gamma must be a finite"),
]


@pytest.mark.parametrize(("args", "kwargs", "error", "match"), GAMMA_ERRORS)
def test_gamma_schedule_error(
    args: tuple[Any, ...], kwargs: dict[str, Any], error: type, match: str
) -> None:
    with pytest.raises(error, match=match):
        torchfocal.softmax_focal_loss(*args, **kwargs)


MODULE_ERRORS: list[tuple[dict[str, Any], type[Exception], str]] = [
    ({"gamma": -1.0}, ValueError, r"gamma must be a finite"),
]


@pytest.mark.parametrize(("kwargs", "error", "match"), MODULE_ERRORS)
def test_module_error(kwargs: dict[str, Any], error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        torchfocal.SoftmaxFocalLoss(**kwargs)


# -- the oracle ------------------------------------------------------------------------------


def test_reference_gradient_matches_finite_differences() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(3, 4)) * 2
    target = np.array([0, 3, -100])
    kwargs: dict[str, Any] = {
        "gamma": 0.7,
        "alpha": rng.random(4),
        "weight": rng.random(4),
        "label_smoothing": 0.1,
        "reduction": "mean",
    }
    _, grad = reference.softmax_focal_loss(x, target, **kwargs)
    numeric = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        step = np.zeros_like(x)
        step[i] = 1e-6
        plus, _ = reference.softmax_focal_loss(x + step, target, **kwargs)
        minus, _ = reference.softmax_focal_loss(x - step, target, **kwargs)
        numeric[i] = (plus - minus) / 2e-6
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-8)
