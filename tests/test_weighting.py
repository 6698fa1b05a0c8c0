"""Class-balanced weights, balanced alpha, prior initialisation and the class-balanced loss."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import torchfocal


@pytest.mark.parametrize("beta", [0.0, 0.9, 0.99, 0.999, 0.9999])
def test_class_balanced_weights_follow_cui_formula(beta: float) -> None:
    counts = [5000, 1200, 300, 40, 7]
    raw = [(1 - beta) / (1 - beta**n) for n in counts]
    expected = [w / sum(raw) * len(counts) for w in raw]
    weights = torchfocal.class_balanced_weights(counts, beta=beta)
    assert weights.dtype == torch.float32
    torch.testing.assert_close(weights, torch.tensor(expected, dtype=torch.float32))
    assert weights.sum().item() == pytest.approx(len(counts), rel=1e-6)


def test_class_balanced_weights_limits() -> None:
    counts = torch.tensor([1000, 100, 10])
    assert torchfocal.class_balanced_weights(counts, beta=0.0).tolist() == [1.0, 1.0, 1.0]
    # beta -> 1: weights -> inverse frequency (normalised); float64 expm1 keeps this exact.
    near_one = torchfocal.class_balanced_weights(counts, beta=1 - 1e-12)
    inverse = 1 / counts.double()
    torch.testing.assert_close(near_one.double(), inverse / inverse.sum() * 3, rtol=1e-6, atol=0)
    # rarer classes never get less weight
    weights = torchfocal.class_balanced_weights(np.array([7, 3000, 50]), beta=0.999)
    assert weights[0] > weights[2] > weights[1]


@pytest.mark.parametrize(
    ("counts", "beta", "error", "match"),
    [
        (
            [10, 0, 5],
            0.9,
            ValueError,
            r"counts must be positive for every class; got 0 for class 1",
        ),
        ([10, 5, -3], 0.9, ValueError, r"got -3 for class 2"),
        ([10, 5], 1.0, ValueError, r"beta must be in \[0, 1\); got 1.0"),
        ([10, 5], -0.1, ValueError, r"beta must be in \[0, 1\)"),
        ([10, 5], "0.9", TypeError, r"beta must be a float in \[0, 1\); got str"),
        ([], 0.9, ValueError, r"counts must be a non-empty 1-D sequence"),
        ([[1, 2]], 0.9, ValueError, r"counts must be a non-empty 1-D sequence"),
        (["a", "b"], 0.9, TypeError, r"counts must be a sequence of numbers"),
        ([1.0, float("inf")], 0.9, ValueError, r"counts must be finite; got inf for class 1"),
    ],
)
def test_class_balanced_weights_errors(counts: Any, beta: Any, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        torchfocal.class_balanced_weights(counts, beta=beta)


def test_balanced_alpha_balances_the_two_sides() -> None:
    positives = torch.tensor([10, 250, 500, 990])
    alpha = torchfocal.balanced_alpha(positives, 1000)
    negatives = 1000 - positives
    torch.testing.assert_close(alpha / (1 - alpha), negatives / positives.float())
    per_class_total = torchfocal.balanced_alpha([1, 3], [4, 4])
    torch.testing.assert_close(per_class_total, torch.tensor([0.75, 0.25]))


@pytest.mark.parametrize(
    ("positives", "total", "match"),
    [
        (
            [0, 5],
            10,
            r"num_positive must be in \(0, num_total\) for every class; got 0 of 10 "
            r"for class 0",
        ),
        ([5, 10], 10, r"got 10 of 10 for class 1"),
        ([1, 2, 3], [10, 10], r"num_total must be one number or one per class \(3\); got 2"),
    ],
)
def test_balanced_alpha_errors(positives: Any, total: Any, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        torchfocal.balanced_alpha(positives, total)


@pytest.mark.parametrize("pi", [0.001, 0.01, 0.5, 0.9])
def test_prior_bias_gives_probability_pi(pi: float) -> None:
    bias = torchfocal.prior_bias(pi)
    assert 1 / (1 + math.exp(-bias)) == pytest.approx(pi, rel=1e-12)
    conv = torchfocal.prior_bias_(torch.nn.Conv2d(4, 9, 3), pi)
    assert isinstance(conv, torch.nn.Conv2d)
    torch.testing.assert_close(torch.sigmoid(conv.bias.detach()), torch.full((9,), pi))


def test_prior_bias_errors() -> None:
    with pytest.raises(ValueError, match=r"pi must be in \(0, 1\); got 0.0"):
        torchfocal.prior_bias(0.0)
    with pytest.raises(ValueError, match=r"pi must be in \(0, 1\); got 1"):
        torchfocal.prior_bias(1)
    with pytest.raises(TypeError, match=r"pi must be a float"):
        torchfocal.prior_bias("0.01")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"module must have a bias parameter .* got Linear"):
        torchfocal.prior_bias_(torch.nn.Linear(3, 2, bias=False))


# --------------------------------------------------------------------------------------
# class_balanced_loss, against a direct re-computation of Cui et al.'s definition


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
        x, target, weights=weights, loss=form, reduction=reduction, backend=backend
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
    loss = torchfocal.class_balanced_loss(x, target, weights=weights, loss="softmax", gamma=2.0)
    expected = torchfocal.softmax_focal_loss(x, target, gamma=2.0, weight=weights, reduction="sum")
    torch.testing.assert_close(loss, expected / 6)


def test_class_balanced_module_equals_function_and_moves() -> None:
    counts = [400, 40, 4]
    module = torchfocal.ClassBalancedLoss(counts, beta=0.999, loss="focal", gamma=1.0)
    x = torch.randn(5, 3, 2)
    target = torch.randint(0, 3, (5, 2))
    expected = torchfocal.class_balanced_loss(
        x, target, weights=torchfocal.class_balanced_weights(counts, 0.999), gamma=1.0
    )
    torch.testing.assert_close(module(x, target), expected)
    assert list(module.state_dict()) == ["weights"]
    assert module.to(torch.float64).weights.dtype == torch.float64
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
        ({"weights": torch.ones(4)}, ValueError, r"weights must have one value per class"),
        ({"weights": [1.0, 1.0, 1.0]}, TypeError, r"weights must be a torch.Tensor; got list"),
    ],
)
def test_class_balanced_loss_errors(kwargs: dict[str, Any], error: type, match: str) -> None:
    options: dict[str, Any] = {"target": torch.tensor([0, 1, 2, 1]), "weights": torch.ones(3)}
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
