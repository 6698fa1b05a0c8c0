"""Dice + focal and Dice + cross-entropy (torchfocal.losses.dice_focal): every backend
against the NumPy oracle, Dice plus F.cross_entropy written out, gradcheck /
gradgradcheck, meta tensors, all-ignored inputs, dtypes and the argument errors."""

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

LOSSES = ("dice_focal_loss", "dice_ce_loss")


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("form", ["index", "dense"])
def test_dice_focal_and_ce_match_reference(form: str, backend: str) -> None:
    weight = torch.tensor([0.5, 2.0, 1.0, 1.5], dtype=torch.float64)
    for activation in ("softmax", "sigmoid"):
        x, target = region_inputs(activation, form, (2, 4, 3, 5))
        if form == "dense" and activation == "softmax":
            target = torch.softmax(torch.randn_like(x), dim=1)  # focal: rows summing to 1
        for options in (
            {},
            {"weight": weight, "gamma": 1.5, "lambda_dice": 0.3, "batch": True},
            {"reduction": "sum", "include_background": False, "lambda_focal": 2.0},
        ):
            check_against_oracle(
                "dice_focal_loss", backend, x, target, activation=activation, **options
            )
        check_against_oracle(
            "dice_ce_loss", backend, x, target, activation=activation, weight=weight, lambda_ce=0.7
        )


def test_dice_ce_is_dice_plus_cross_entropy() -> None:
    x, target = region_inputs("softmax", "index")
    weight = torch.tensor([0.5, 2.0, 1.0, 1.5], dtype=torch.float64)
    for options in ({}, {"weight": weight}, {"reduction": "sum"}):
        expected = torchfocal.dice_loss(x, target, **options) + torch.nn.functional.cross_entropy(
            x, target, **options
        )
        torch.testing.assert_close(torchfocal.dice_ce_loss(x, target, **options), expected, **TIGHT)
    mask = torch.rand(x.shape) > 0.5
    expected = torchfocal.dice_loss(x, mask, activation="sigmoid") + (
        torch.nn.functional.binary_cross_entropy_with_logits(x, mask.double())
    )
    torch.testing.assert_close(
        torchfocal.dice_ce_loss(x, mask, activation="sigmoid"), expected, **TIGHT
    )


@pytest.mark.parametrize("name", LOSSES)
def test_combined_gradcheck_gradgradcheck_and_meta(name: str) -> None:
    check_combined_gradcheck_gradgradcheck_and_meta(name)


@pytest.mark.parametrize("name", LOSSES)
def test_combined_all_ignored_and_dtypes(name: str) -> None:
    check_combined_all_ignored_and_dtypes(name)


def test_dice_focal_and_ce_errors() -> None:
    x, target = region_inputs("softmax", "index")
    with pytest.raises(ValueError, match=r"reduction must be one of 'mean' \| 'sum'; got 'none'"):
        torchfocal.dice_focal_loss(x, target, reduction="none")
    with pytest.raises(ValueError, match=r"activation must be 'softmax' or 'sigmoid' for a loss"):
        torchfocal.dice_ce_loss(x, target, activation="none")
    with pytest.raises(ValueError, match=r"lambda_dice must be in \[0, inf\]"):
        torchfocal.dice_focal_loss(x, target, lambda_dice=-1.0)
    with pytest.raises(ValueError, match=r"lambda_ce must be in \[0, inf\]"):
        torchfocal.dice_ce_loss(x, target, lambda_ce=-1.0)
    with pytest.raises(ValueError, match=r"gamma must be a finite non-negative float"):
        torchfocal.dice_focal_loss(x, target, gamma=-1.0)
