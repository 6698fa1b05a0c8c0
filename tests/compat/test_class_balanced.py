"""compat.class_balanced.FocalBCEWithLogitLoss against a re-derivation of Cui et al.'s class."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from torchfocal.compat.class_balanced import FocalBCEWithLogitLoss


def seed_formula(
    x: torch.Tensor, y: torch.Tensor, gamma: float, alpha: Any, pos_weight: Any, reduction: str
) -> torch.Tensor:
    """The seed's forward for (N, C) input, as written there (log1p(exp(-x)) and all)."""
    if isinstance(alpha, list):
        # the seed stores a list alpha as torch.Tensor(alpha): float32
        alpha_t: Any = torch.Tensor(alpha).to(x.dtype).repeat(x.shape[0], 1)
    elif alpha is not None:
        alpha_t = torch.ones_like(x) * alpha
    else:
        alpha_t = None
    ce = F.binary_cross_entropy_with_logits(x, y, reduction="none")
    modulator = (
        1.0 if gamma == 0 else torch.exp(-gamma * y * x - gamma * torch.log1p(torch.exp(-x)))
    )
    loss = modulator * ce
    if alpha_t is not None:
        loss = (alpha_t * y + (1 - alpha_t) * (1 - y)) * loss
    if pos_weight is not None:
        loss = pos_weight * loss
    return {"mean": loss.mean, "sum": loss.sum, "none": lambda: loss}[reduction]()


@pytest.mark.parametrize("alpha", [None, 0.25, [0.1, 0.3, 0.5, 0.9]])
@pytest.mark.parametrize("with_pos_weight", [False, True])
@pytest.mark.parametrize("soft", [False, True])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("gamma", [0.0, 2.0])
def test_matches_seed_in_2d(
    alpha: Any, with_pos_weight: bool, soft: bool, reduction: str, gamma: float
) -> None:
    x = (torch.randn(5, 4, dtype=torch.float64) * 2).requires_grad_(True)
    y = torch.rand(5, 4, dtype=torch.float64) if soft else (torch.rand(5, 4) < 0.4).double()
    pos_weight = torch.rand(4, dtype=torch.float64) * 3 if with_pos_weight else None
    criterion = FocalBCEWithLogitLoss(
        gamma=gamma, alpha=alpha, reduction=reduction, pos_weight=pos_weight
    ).double()
    ours = criterion(x, y)
    theirs = seed_formula(x, y, gamma, alpha, pos_weight, reduction)
    torch.testing.assert_close(ours, theirs)
    upstream = torch.randn_like(ours)
    torch.testing.assert_close(
        torch.autograd.grad(ours, x, upstream)[0], torch.autograd.grad(theirs, x, upstream)[0]
    )


def test_pos_weight_multiplies_negatives_too_unlike_bce() -> None:
    x = torch.tensor([[0.3, -0.7]])
    y = torch.tensor([[0.0, 0.0]])  # negatives only
    pos_weight = torch.tensor([4.0, 4.0])
    plain = FocalBCEWithLogitLoss(gamma=0, reduction="none")(x, y)
    weighted = FocalBCEWithLogitLoss(gamma=0, reduction="none", pos_weight=pos_weight)(x, y)
    torch.testing.assert_close(weighted, 4 * plain)
    bce = F.binary_cross_entropy_with_logits(x, y, pos_weight=pos_weight, reduction="none")
    torch.testing.assert_close(bce, plain)  # torch's pos_weight leaves negatives alone


def test_any_rank_with_per_class_alpha() -> None:
    x = torch.randn(2, 3, 4, 5, dtype=torch.float64)
    y = (torch.rand(2, 3, 4, 5) < 0.3).double()
    alpha = [0.2, 0.5, 0.8]
    ours = FocalBCEWithLogitLoss(alpha=alpha, reduction="none")(x, y)
    # (N, C, H, W) -> (N*H*W, C) puts the classes where the 2-D seed expects them
    flat_x = x.movedim(1, -1).reshape(-1, 3)
    flat_y = y.movedim(1, -1).reshape(-1, 3)
    theirs = seed_formula(flat_x, flat_y, 2.0, alpha, None, "none")
    torch.testing.assert_close(ours.movedim(1, -1).reshape(-1, 3), theirs)


def test_weight_is_applied_and_extreme_logits_are_finite() -> None:
    x = torch.tensor([[1e4, -1e4, 100.0, -100.0]], requires_grad=True)
    y = torch.tensor([[0.0, 1.0, 0.3, 0.7]])
    weight = torch.tensor([1.0, 2.0, 3.0, 4.0])
    criterion = FocalBCEWithLogitLoss(
        gamma=0.5, alpha=np.array([0.5] * 4), weight=weight, reduction="none"
    )
    loss = criterion(x, y)
    loss.sum().backward()
    assert bool(torch.isfinite(loss).all()) and x.grad is not None
    assert bool(torch.isfinite(x.grad).all())
    unweighted = FocalBCEWithLogitLoss(gamma=0.5, alpha=0.5, reduction="none")(x.detach(), y)
    torch.testing.assert_close(loss.detach(), unweighted * weight)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_soft_targets_at_the_largest_logits_have_a_finite_gradient(dtype: torch.dtype) -> None:
    """gamma * BCE passes the largest value at |x| ~ finfo.max / gamma, where the modulator's
    derivative is 0: the gradient is that of float64 at float32's largest logits."""
    big = 0.9 * torch.finfo(dtype).max
    x = torch.tensor([[-big, big, 2.0], [big, -big, -1.0]], dtype=dtype, requires_grad=True)
    y = torch.tensor([[1.0, 0.0, 0.3], [1.0, 0.0, 0.7]], dtype=dtype)
    criterion = FocalBCEWithLogitLoss(gamma=10, alpha=0.25, reduction="none")
    (grad,) = torch.autograd.grad(criterion(x, y).sum(), x)
    assert bool(torch.isfinite(grad).all())
    wide = x.detach().double().requires_grad_(True)
    (expected,) = torch.autograd.grad(criterion(wide, y.double()).sum(), wide)
    if dtype == torch.float32:  # float64's range holds every intermediate here
        torch.testing.assert_close(grad, expected.to(dtype))


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"alpha": 1.5}, ValueError, r"alpha must be in \[0, 1\]; got 1.5"),
        ({"alpha": float("nan")}, ValueError, r"alpha must be in \[0, 1\]; got nan"),
        ({"alpha": [0.2, -0.1]}, ValueError, r"alpha must hold values in \[0, 1\]; got -0.1"),
        ({"alpha": [[0.2, 0.3]]}, ValueError, r"alpha must be a float or a non-empty 1-D sequence"),
        ({"alpha": True}, TypeError, r"alpha must be None, a float or a sequence.*; got bool"),
        ({"gamma": -1.0}, ValueError, r"gamma must be a finite non-negative float; got -1.0"),
        ({"reduction": "avg"}, ValueError, r"reduction must be one of .*; got 'avg'"),
    ],
)
def test_constructor_errors(kwargs: dict[str, Any], error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        FocalBCEWithLogitLoss(**kwargs)


@pytest.mark.parametrize("soft", [False, True])
def test_forward_errors_for_both_target_kinds(soft: bool) -> None:
    x = torch.randn(2, 3, 4)
    y = torch.rand(2, 3, 4) if soft else (torch.rand(2, 3, 4) < 0.5).float()
    # four alphas would line up with the last dimension by plain broadcasting: refused
    with pytest.raises(ValueError, match=r"alpha must have one value per class \(3 along"):
        FocalBCEWithLogitLoss(alpha=[0.1, 0.2, 0.3, 0.4])(x, y)
    with pytest.raises(ValueError, match=r"must broadcast to the input's shape \(2, 3, 4\)"):
        FocalBCEWithLogitLoss(pos_weight=torch.ones(5, 2, 3, 4))(x, y)


def test_documented_core_call() -> None:
    """docs/migration.md: for 0/1 targets, pos_weight becomes the core's elementwise weight."""
    import torchfocal

    x = torch.randn(5, 4, dtype=torch.float64) * 3
    y = (torch.rand(5, 4) < 0.4).double()
    pos_weight = torch.rand(4, dtype=torch.float64) * 3
    ours = FocalBCEWithLogitLoss(alpha=0.3, pos_weight=pos_weight).double()(x, y)
    core = torchfocal.sigmoid_focal_loss(x, y, alpha=0.3, gamma=2, weight=pos_weight)
    torch.testing.assert_close(ours, core)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"alpha": "x"}, TypeError, r"alpha must be None, a float or a sequence .*; got str"),
        ({"alpha": ["a", "b"]}, TypeError, r"alpha must be None, a float .*; got list"),
        ({"alpha": []}, ValueError, r"alpha must be a float or a non-empty 1-D .*got shape \(0,\)"),
        (
            {"alpha": torch.tensor([True])},
            TypeError,
            r"alpha must be a real tensor; got torch.bool",
        ),
        ({"weight": [1.0, 2.0]}, TypeError, r"weight must be a torch.Tensor; got list"),
        ({"pos_weight": 2.0}, TypeError, r"pos_weight must be a torch.Tensor; got float"),
        (
            {"pos_weight": torch.tensor([True, False])},
            TypeError,
            r"pos_weight must be a floating-point or integer tensor; got torch.bool",
        ),
    ],
)
def test_more_constructor_errors(kwargs: dict[str, Any], error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        FocalBCEWithLogitLoss(**kwargs)


_X = torch.randn(4, 3)
_HARD = (torch.rand(4, 3) < 0.5).float()


@pytest.mark.parametrize(
    ("input", "target", "kwargs", "error", "match"),
    [
        ([[0.5]], [[1.0]], {}, TypeError, r"input must be a torch.Tensor; got list"),
        (_X, _HARD.tolist(), {}, TypeError, r"target must be a torch.Tensor; got list"),
        (_X, _HARD * 1.5, {}, ValueError, r"target must hold values in \[0, 1\]; got 1.5"),
        (
            _X,
            torch.linspace(0.6, 1.1, 12).reshape(4, 3),
            {},
            ValueError,
            r"target must hold values in \[0, 1\]",
        ),
        (_X, torch.rand(4, 3) - 1.0, {}, ValueError, r"target must hold values in \[0, 1\]"),
        (_X, _HARD * float("nan"), {}, ValueError, r"target must hold values .*; got nan"),
        (_X, _HARD.long() * 2, {}, ValueError, r"target must hold 0 or 1 .*; got 2"),
        (
            _X,
            torch.tensor([0, 1, 2, 0]),
            {},
            ValueError,
            r"target must have the shape of input \(4, 3\); got \(4,\)",
        ),
        (_X, torch.rand(3) * 0.5, {}, ValueError, r"target must have the shape of input"),
        (
            torch.randn(()),
            torch.rand(()),
            {"alpha": [0.5]},
            ValueError,
            r"alpha must be a single float for a 0-d input",
        ),
        (
            torch.randn(5),
            torch.rand(5),
            {"alpha": [0.5, 0.5]},
            ValueError,
            r"alpha must have one value per class \(5 along dimension 0\); got 2 values",
        ),
        (
            _X,
            _HARD,
            {"pos_weight": torch.ones(2)},
            ValueError,
            r"pos_weight must broadcast to the input's shape \(4, 3\); got shape \(2,\)",
        ),
    ],
)
def test_forward_errors_name_the_argument(
    input: Any, target: Any, kwargs: dict[str, Any], error: type, match: str
) -> None:
    with pytest.raises(error, match=match):
        FocalBCEWithLogitLoss(**kwargs)(input, target)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("alpha", [None, 0.25, [0.1, 0.3, 0.5, 0.7, 0.9]])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_half_precision_soft_targets_are_computed_in_float32(
    dtype: torch.dtype, alpha: Any, reduction: str
) -> None:
    """The half-precision loss and gradient are the float32 ones, rounded once to ``dtype``."""
    x = (torch.randn(64, 5) * 3).to(dtype)
    y = torch.rand(64, 5).to(dtype)  # soft: the seed's own formula, not the core
    pos_weight = torch.rand(5) * 3  # float32, as a user would register it
    criterion = FocalBCEWithLogitLoss(
        gamma=2.0, alpha=alpha, reduction=reduction, pos_weight=pos_weight
    )
    half = x.clone().requires_grad_(True)
    ours = criterion(half, y)
    assert ours.dtype == dtype
    wide = x.float().requires_grad_(True)
    expected = criterion(wide, y.float())
    upstream = torch.rand_like(expected).to(dtype)
    ours.backward(upstream)
    expected.backward(upstream.float())
    assert half.grad is not None and wide.grad is not None
    torch.testing.assert_close(ours, expected.to(dtype), rtol=0, atol=0)
    # to the dtype's rounding: one rounding of the float32 gradient, nothing more
    torch.testing.assert_close(half.grad, wide.grad.to(dtype), rtol=0, atol=0)
