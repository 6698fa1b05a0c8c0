"""class_balanced_loss (Cui et al.): against a direct re-computation of the paper's
definition in its focal, sigmoid and softmax forms, the softmax focal loss with class
weights, the module, and its argument errors.

The class-balanced weights themselves are torchfocal.weighting's (tests/test_weighting.py);
the reference implementation's conventions are tests/compat/test_class_balanced.py's.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch
import torch.nn.functional as F

import torchfocal


def _plain_sigmoid_focal(x: torch.Tensor, y: torch.Tensor, gamma: float) -> torch.Tensor:
    p = torch.sigmoid(x)
    p_t = p * y + (1 - p) * (1 - y)
    return (1 - p_t) ** gamma * F.binary_cross_entropy_with_logits(x, y, reduction="none")


@pytest.mark.parametrize("backend", ["naive", "fused"])
@pytest.mark.parametrize("form", ["focal", "sigmoid", "softmax"])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_class_balanced_loss_matches_definition(backend: str, form: str, reduction: str) -> None:
    x = torch.randn(9, 4, dtype=torch.float64) * 2
    target = torch.randint(0, 4, (9,))
    target[3] = -100
    weights = torchfocal.class_balanced_weights([300, 60, 12, 4], beta=0.99).double()
    loss = torchfocal.class_balanced_loss(
        x, target, weight=weights, loss=form, reduction=reduction, backend=backend
    )
    keep = target != -100
    sample_weight = torch.where(keep, weights[target.clamp(min=0)], torch.zeros(()))
    if form == "softmax":
        per_sample = F.cross_entropy(x, target, reduction="none") * sample_weight
    else:
        one_hot = F.one_hot(target.clamp(min=0), 4).double()
        gamma = 2.0 if form == "focal" else 0.0
        per_sample = _plain_sigmoid_focal(x, one_hot, gamma) * sample_weight[:, None]
    if reduction == "none":
        torch.testing.assert_close(loss, per_sample)
    elif reduction == "sum":
        torch.testing.assert_close(loss, per_sample.sum())
    else:
        torch.testing.assert_close(loss, per_sample.sum() / keep.sum())


def test_class_balanced_softmax_gamma_is_softmax_focal() -> None:
    x = torch.randn(6, 3)
    target = torch.randint(0, 3, (6,))
    weights = torch.tensor([0.5, 1.0, 1.5])
    loss = torchfocal.class_balanced_loss(x, target, weight=weights, loss="softmax", gamma=2.0)
    expected = torchfocal.softmax_focal_loss(x, target, gamma=2.0, weight=weights, reduction="sum")
    torch.testing.assert_close(loss, expected / 6)


def test_class_balanced_module_equals_function_and_moves() -> None:
    counts = [400, 40, 4]
    module = torchfocal.ClassBalancedLoss(counts, beta=0.999, loss="focal", gamma=1.0)
    x = torch.randn(5, 3, 2)
    target = torch.randint(0, 3, (5, 2))
    expected = torchfocal.class_balanced_loss(
        x, target, weight=torchfocal.class_balanced_weights(counts, 0.999), gamma=1.0
    )
    torch.testing.assert_close(module(x, target), expected)
    assert list(module.state_dict()) == ["weight"]
    assert module.to(torch.float64).weight.dtype == torch.float64
    assert "loss='focal', beta=0.999" in repr(module)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"loss": "hinge"}, ValueError, r"loss must be one of 'focal' \| 'sigmoid' \| 'softmax'"),
        ({"loss": "sigmoid", "gamma": 2.0}, ValueError, r"gamma must be 0 for loss='sigmoid'"),
        ({"gamma": -1.0}, ValueError, r"gamma must be a finite non-negative"),
        ({"reduction": "positives"}, ValueError, r"reduction must be one of"),
        (
            {"target": torch.rand(4, 3)},
            ValueError,
            r"target must be integer class indices of "
            r"shape \(4,\); got torch.float32 of shape \(4, 3\)",
        ),
        (
            {"target": torch.tensor([0, 1, 3, 2])},
            ValueError,
            r"target class indices must be in \[0, 2\] or ignore_index=-100; got 3",
        ),
        ({"weight": torch.ones(4)}, ValueError, r"weight must have one value per class"),
        ({"weight": [1.0, 1.0, 1.0]}, TypeError, r"weight must be a torch.Tensor; got list"),
    ],
)
def test_class_balanced_loss_errors(kwargs: dict[str, Any], error: type, match: str) -> None:
    options: dict[str, Any] = {"target": torch.tensor([0, 1, 2, 1]), "weight": torch.ones(3)}
    options.update(kwargs)
    target = options.pop("target")
    with pytest.raises(error, match=match):
        torchfocal.class_balanced_loss(torch.randn(4, 3), target, **options)


def test_class_balanced_module_errors() -> None:
    with pytest.raises(
        ValueError,
        match=r"counts must be positive for every class; got 0 for "
        r"class 2",
    ):
        torchfocal.ClassBalancedLoss([10, 3, 0])
    with pytest.raises(ValueError, match=r"loss must be one of"):
        torchfocal.ClassBalancedLoss([10, 3], loss="dice")
