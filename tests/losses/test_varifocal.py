"""varifocal_loss (VFL, Zhang et al.): the NumPy reference on every backend, its negatives
as the alpha-weighted focal loss and its positives as score-weighted binary cross-entropy,
half inputs, odd shapes, and its argument errors."""

from __future__ import annotations

from typing import Any

import pytest
import torch
import torch.nn.functional as F

import torchfocal
from conftest import check_against_reference, tolerance
from losses.focal_family import (
    BACKENDS,
    MASK,
    SCORE,
    SCORE_ODD_SHAPES,
    C,
    X,
    assert_same,
    check_score_loss_on_odd_shape,
    iou_scores,
    loss_and_grad,
    random_logits,
    upstream_for,
)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("iou_weighted", [True, False])
@pytest.mark.parametrize(("alpha", "gamma"), [(0.75, 2.0), (0.25, 0.5), (1.0, 0.0)])
@pytest.mark.parametrize(
    ("reduction", "avg_factor"), [("none", None), ("mean", None), ("mean", 3.0), ("sum", None)]
)
def test_varifocal_matches_reference(
    backend: str,
    iou_weighted: bool,
    alpha: float,
    gamma: float,
    reduction: str,
    avg_factor: float | None,
) -> None:
    x = random_logits()
    check_against_reference(
        "varifocal_loss",
        backend,
        x,
        iou_scores(),
        upstream_for(reduction, x),
        alpha=alpha,
        gamma=gamma,
        iou_weighted=iou_weighted,
        weight=torch.rand(6, 1, dtype=torch.float64),
        reduction=reduction,
        avg_factor=avg_factor,
    )


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("gamma", [0.0, 0.5, 2.0])
def test_varifocal_negatives_are_alpha_weighted_focal(backend: str, gamma: float) -> None:
    x = random_logits()
    zeros = torch.zeros_like(x)
    vfl = loss_and_grad(
        torchfocal.varifocal_loss,
        x,
        zeros,
        alpha=0.75,
        gamma=gamma,
        reduction="none",
        backend=backend,
    )
    focal = loss_and_grad(
        torchfocal.sigmoid_focal_loss, x, zeros, alpha=0.25, gamma=gamma, reduction="none"
    )
    assert_same(vfl, focal)


@pytest.mark.parametrize("backend", BACKENDS)
def test_varifocal_positives_are_score_weighted_bce(backend: str) -> None:
    x = random_logits()
    score = torch.rand(6, C, dtype=torch.float64) * 0.9 + 0.1  # every element positive
    bce = F.binary_cross_entropy_with_logits(x, score, reduction="none")
    weighted = torchfocal.varifocal_loss(x, score, reduction="none", backend=backend)
    plain = torchfocal.varifocal_loss(
        x, score, iou_weighted=False, reduction="none", backend=backend
    )
    torch.testing.assert_close(weighted, score * bce)
    torch.testing.assert_close(plain, bce)


def test_dtype_tolerance_is_met_by_half_inputs() -> None:
    """Half inputs are computed in float32: the result is the float32 result, rounded."""
    x = random_logits().float()
    score = iou_scores().float()
    for dtype in (torch.float16, torch.bfloat16):
        half = torchfocal.varifocal_loss(x.to(dtype), score, reduction="none")
        full = torchfocal.varifocal_loss(x.to(dtype).float(), score, reduction="none")
        torch.testing.assert_close(half, full.to(dtype), **tolerance(dtype))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("shape", SCORE_ODD_SHAPES)
def test_varifocal_on_odd_shapes(backend: str, shape: tuple[int, ...]) -> None:
    check_score_loss_on_odd_shape("varifocal_loss", backend, shape)


# -- errors ----------------------------------------------------------------------------------

ERRORS: list[tuple[tuple[Any, ...], dict[str, Any], type[Exception], str]] = [
    (
        (X, SCORE[:, :4]),
        {},
        ValueError,
        r"target must have the shape of input \(4, 5\); got \(4, 4\)",
    ),
    ((X, MASK), {}, TypeError, r"target must be a float tensor"),
    ((X, SCORE + 1), {}, ValueError, r"target must hold values in \[0, 1\]"),
    ((X, SCORE), {"alpha": 2.0}, ValueError, r"alpha must be in \[0, 1\]"),
    ((X, SCORE), {"gamma": -0.5}, ValueError, r"gamma must be a finite"),
    ((X, SCORE), {"iou_weighted": 1}, TypeError, r"iou_weighted must be a bool"),
    ((X, SCORE), {"reduction": "avg"}, ValueError, r"reduction must be"),
    ((X, SCORE), {"avg_factor": 0.0}, ValueError, r"avg_factor must be a finite"),
]


@pytest.mark.parametrize(("args", "kwargs", "error", "match"), ERRORS)
def test_error(args: tuple[Any, ...], kwargs: dict[str, Any], error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        torchfocal.varifocal_loss(*args, **kwargs)


MODULE_ERRORS: list[tuple[dict[str, Any], type[Exception], str]] = [
    ({"iou_weighted": "yes"}, TypeError, r"iou_weighted must be a bool"),
    ({"reduction": "sum", "avg_factor": 2.0}, ValueError, r"avg_factor must be"),
]


@pytest.mark.parametrize(("kwargs", "error", "match"), MODULE_ERRORS)
def test_module_error(kwargs: dict[str, Any], error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        torchfocal.VarifocalLoss(**kwargs)
