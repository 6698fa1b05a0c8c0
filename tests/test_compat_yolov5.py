"""compat.yolov5.FocalLoss against a re-derivation of seed 001's class."""

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
