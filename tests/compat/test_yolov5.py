"""compat.yolov5.FocalLoss against a re-derivation of YOLOv5's class."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from torchfocal.compat.yolov5 import FocalLoss


def seed_formula(
    bce: nn.BCEWithLogitsLoss,
    reduction: str,
    pred: torch.Tensor,
    true: torch.Tensor,
    gamma: float,
    alpha: float,
) -> torch.Tensor:
    loss = nn.functional.binary_cross_entropy_with_logits(
        pred, true, weight=bce.weight, pos_weight=bce.pos_weight, reduction="none"
    )
    p = torch.sigmoid(pred)
    p_t = true * p + (1 - true) * (1 - p)
    loss = loss * (true * alpha + (1 - true) * (1 - alpha)) * (1.0 - p_t) ** gamma
    return {"mean": loss.mean, "sum": loss.sum, "none": lambda: loss}[reduction]()


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("options", ["plain", "pos_weight", "weight", "pos_weight_scalar"])
@pytest.mark.parametrize("shape", [(6, 4), (2, 3, 5, 4)])
def test_matches_seed_formula(reduction: str, options: str, shape: tuple[int, ...]) -> None:
    kwargs = {
        "plain": {},
        "pos_weight": {"pos_weight": torch.rand(shape[-1], dtype=torch.float64) * 3},
        "pos_weight_scalar": {"pos_weight": torch.tensor([1.5], dtype=torch.float64)},
        "weight": {"weight": torch.rand(shape[-1], dtype=torch.float64)},
    }[options]
    bce = nn.BCEWithLogitsLoss(reduction=reduction, **kwargs)
    criterion = FocalLoss(bce, gamma=1.5, alpha=0.25)
    assert bce.reduction == "none" and criterion.reduction == reduction
    pred = (torch.randn(shape, dtype=torch.float64) * 2).requires_grad_(True)
    true = (torch.rand(shape, dtype=torch.float64) < 0.3).double()
    ours = criterion(pred, true)
    theirs = seed_formula(bce, reduction, pred, true, 1.5, 0.25)
    torch.testing.assert_close(ours, theirs)
    upstream = torch.randn_like(ours)
    torch.testing.assert_close(
        torch.autograd.grad(ours, pred, upstream)[0], torch.autograd.grad(theirs, pred, upstream)[0]
    )


def test_rejects_other_losses() -> None:
    with pytest.raises(TypeError, match=r"loss_fcn must be an nn.BCEWithLogitsLoss; got MSELoss"):
        FocalLoss(nn.MSELoss())  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"gamma": "2"}, TypeError, r"gamma must be a non-negative float; got str"),
        ({"gamma": -1.0}, ValueError, r"gamma must be a finite non-negative float; got -1.0"),
        ({"gamma": float("inf")}, ValueError, r"gamma must be a finite non-negative float"),
        ({"alpha": "x"}, TypeError, r"alpha must be a float; got str"),
        ({"alpha": None}, TypeError, r"alpha must be a float; got NoneType"),
        ({"alpha": 1.5}, ValueError, r"alpha must be in \[0, 1\]; got 1.5"),
        ({"alpha": float("nan")}, ValueError, r"alpha must be in \[0, 1\]; got nan"),
    ],
)
def test_constructor_errors(kwargs: dict[str, object], error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        FocalLoss(nn.BCEWithLogitsLoss(), **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("reduction", ["positives", "elementwise_mean"])
def test_wrapped_reduction_must_be_one_of_bce(reduction: str) -> None:
    bce = nn.BCEWithLogitsLoss()
    bce.reduction = reduction
    with pytest.raises(ValueError, match=r"loss_fcn.reduction must be one of 'none' \| 'mean'"):
        FocalLoss(bce)


_PRED = torch.randn(4, 3)
_TRUE = (torch.rand(4, 3) < 0.5).float()


@pytest.mark.parametrize(
    ("pred", "true", "bce_kwargs", "error", "match"),
    [
        ([[0.5]], [[1.0]], {}, TypeError, r"pred must be a torch.Tensor; got list"),
        (_PRED.long(), _TRUE, {}, TypeError, r"pred must be a floating-point tensor"),
        (_PRED, [[1.0]], {}, TypeError, r"true must be a torch.Tensor; got list"),
        (
            _PRED,
            torch.tensor([0, 1, 2, 0]),
            {},
            ValueError,
            r"true must have the shape of pred \(4, 3\); got \(4,\)",
        ),
        (_PRED, torch.rand(3), {}, ValueError, r"true must have the shape of pred"),
        (_PRED, _TRUE * 1.5, {}, ValueError, r"true must hold values in \[0, 1\]; got 1.5"),
        (_PRED, _TRUE * float("nan"), {}, ValueError, r"true must hold values .*; got nan"),
        (_PRED, _TRUE.long() * 3, {}, ValueError, r"true must hold 0 or 1 .*; got 3"),
        (
            _PRED,
            _TRUE,
            {"weight": torch.ones(5)},
            ValueError,
            r"loss_fcn.weight must broadcast to the input's shape \(4, 3\); got shape \(5,\)",
        ),
        (
            _PRED,
            _TRUE,
            {"pos_weight": torch.ones(2, 4, 3)},
            ValueError,
            r"loss_fcn.pos_weight must broadcast to the input's shape \(4, 3\)",
        ),
    ],
)
def test_forward_errors_name_the_argument(
    pred: object, true: object, bce_kwargs: dict[str, torch.Tensor], error: type, match: str
) -> None:
    criterion = FocalLoss(nn.BCEWithLogitsLoss(**bce_kwargs))
    with pytest.raises(error, match=match):
        criterion(pred, true)  # type: ignore[arg-type]
