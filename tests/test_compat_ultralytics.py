"""compat.ultralytics.FocalLoss against a re-derivation of seed 000's code path."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from torchfocal.compat.ultralytics import FocalLoss


def seed_formula(
    pred: torch.Tensor, label: torch.Tensor, gamma: float, alpha: float
) -> torch.Tensor:
    loss = F.binary_cross_entropy_with_logits(pred, label, reduction="none")
    p = pred.sigmoid()
    p_t = label * p + (1 - label) * (1 - p)
    loss = loss * (1.0 - p_t) ** gamma
    if alpha > 0:
        loss = loss * (label * alpha + (1 - label) * (1 - alpha))
    return loss.mean(1).sum()


@pytest.mark.parametrize("gamma", [0.0, 1.5, 2.0])
@pytest.mark.parametrize("alpha", [0.25, 1.0, 0.0, -1.0])
@pytest.mark.parametrize("shape", [(6, 4), (3, 5, 2)])
def test_matches_seed_formula(gamma: float, alpha: float, shape: tuple[int, ...]) -> None:
    pred = (torch.randn(shape, dtype=torch.float64) * 3).requires_grad_(True)
    label = torch.rand(shape, dtype=torch.float64)
    ours = FocalLoss.forward(pred, label, gamma=gamma, alpha=alpha)
    (ours_grad,) = torch.autograd.grad(ours, pred)
    theirs = seed_formula(pred, label, gamma, alpha)
    (theirs_grad,) = torch.autograd.grad(theirs, pred)
    torch.testing.assert_close(ours, theirs)
    torch.testing.assert_close(ours_grad, theirs_grad)


def test_seed_000_numbers_and_defaults() -> None:
    pred = torch.tensor([[math.log(4.0)], [math.log(2 / 3)]])
    label = torch.ones(2, 1)
    per_row = [
        float(FocalLoss.forward(pred[i : i + 1], label[:1], gamma=2, alpha=1)) for i in range(2)
    ]
    assert [round(v, 4) for v in per_row] == [0.0089, 0.3299]
    module = FocalLoss()
    torch.testing.assert_close(module(pred, label), seed_formula(pred, label, 1.5, 0.25))


def test_confident_predictions_keep_a_finite_gradient() -> None:
    pred = torch.tensor([[30.0, -30.0]], requires_grad=True)
    label = torch.tensor([[1.0, 0.0]])
    FocalLoss.forward(pred, label, gamma=0.5).backward()
    assert pred.grad is not None and bool(torch.isfinite(pred.grad).all())
    # the seed's own formula gives NaN here (0 ** (gamma - 1) * 0)
    pred2 = pred.detach().clone().requires_grad_(True)
    seed_formula(pred2, label, 0.5, 0.25).backward()
    assert pred2.grad is not None and bool(torch.isnan(pred2.grad).any())
