"""The unified focal loss (Yeung et al.): every backend against the NumPy oracle, its form
on probabilities, the paper's binary equations by hand, gradcheck / gradgradcheck, meta
tensors, all-ignored inputs, dtypes and the argument errors."""

from __future__ import annotations

import pytest
import torch

import torchfocal
from losses.regions import (
    BACKENDS,
    TIGHT,
    check_against_oracle,
    check_combined_all_ignored_and_dtypes,
    check_combined_gradcheck_gradgradcheck_and_meta,
    region_inputs,
)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("form", ["index", "dense", "mask"])
def test_unified_focal_matches_reference(form: str, backend: str) -> None:
    x, target = region_inputs("softmax", form, (2, 3, 4, 5))
    if form == "dense":
        target = torch.softmax(torch.randn_like(x) * 3, dim=1)
    if form == "mask":
        target = torch.nn.functional.one_hot(torch.randint(0, 3, (2, 4, 5)), 3).movedim(-1, 1)
        target = target.bool()
    for options in (
        {},
        {"asymmetric": False, "delta": 0.7, "gamma": 0.2},
        {"weight": 0.0, "reduction": "sum"},
        {"weight": 1.0, "gamma": 0.0},
        {"batch": True},
        {"batch": True, "asymmetric": False, "reduction": "sum", "weight": 0.3},
    ):
        check_against_oracle("unified_focal_loss", backend, x, target, **options)


def test_unified_focal_on_probabilities_equals_softmax_form() -> None:
    """activation='none' on softmax probabilities is the logits' loss (away from the clamp)."""
    x, target = region_inputs("softmax", "index", (2, 3, 4, 5))
    torch.testing.assert_close(
        torchfocal.unified_focal_loss(torch.softmax(x, 1), target, activation="none"),
        torchfocal.unified_focal_loss(x, target),
        **TIGHT,
    )


def test_unified_focal_binary_is_monai_up_to_the_class_average() -> None:
    """Equations 19-22 for two classes, by hand on probabilities: lambda * focal + (1 -
    lambda) * (Tversky summed over the two classes); MONAI averages the latter."""
    p1 = torch.rand(2, 1, 6, dtype=torch.float64) * 0.8 + 0.1
    p = torch.cat([1 - p1, p1], dim=1)
    y = torch.randint(0, 2, (2, 6))
    t = torch.nn.functional.one_hot(y, 2).movedim(-1, 1).double()
    delta, gamma, eps = 0.6, 0.5, 1e-7
    focal = -(1 - delta) * (1 - p[:, 0]) ** gamma * t[:, 0] * p[:, 0].log()
    focal = (focal - delta * t[:, 1] * p[:, 1].log()).mean()
    tp, fn, fp = (p * t).sum(-1), ((1 - p) * t).sum(-1), (p * (1 - t)).sum(-1)
    mti = (tp + eps) / (tp + delta * fn + (1 - delta) * fp + eps)
    tversky = ((1 - mti[:, 0]) + (1 - mti[:, 1]) ** (1 - gamma)).mean()
    value = torchfocal.unified_focal_loss(
        p, y, activation="none", smooth_nr=eps, smooth_dr=eps, delta=delta, gamma=gamma
    )
    torch.testing.assert_close(value, 0.5 * focal + 0.5 * tversky, **TIGHT)


def test_unified_focal_gradcheck_gradgradcheck_and_meta() -> None:
    check_combined_gradcheck_gradgradcheck_and_meta("unified_focal_loss")


def test_unified_focal_all_ignored_and_dtypes() -> None:
    check_combined_all_ignored_and_dtypes("unified_focal_loss")


def test_unified_focal_errors() -> None:
    x, target = region_inputs("softmax", "index")
    with pytest.raises(ValueError, match=r"gamma must be in \[0, 1\); got 1.0"):
        torchfocal.unified_focal_loss(x, target, gamma=1.0)
    with pytest.raises(ValueError, match=r"delta must be in \[0, 1\]"):
        torchfocal.unified_focal_loss(x, target, delta=1.5)
    with pytest.raises(ValueError, match=r"weight must be in \[0, 1\]"):
        torchfocal.unified_focal_loss(x, target, weight=2.0)
    with pytest.raises(ValueError, match=r"activation must be 'softmax' \| 'none'"):
        torchfocal.unified_focal_loss(x, target, activation="sigmoid")
    with pytest.raises(ValueError, match=r"has no Triton kernel"):
        torchfocal.unified_focal_loss(x, target, backend="triton")
    with pytest.raises(ValueError, match=r"distributed must be False unless batch=True"):
        torchfocal.unified_focal_loss(x, target, distributed=True)
    with pytest.raises(ValueError, match=r"unless torch.distributed is initialised"):
        torchfocal.unified_focal_loss(x, target, batch=True, distributed=True)
