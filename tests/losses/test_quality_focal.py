"""quality_focal_loss (QFL, Li et al.'s generalized focal loss): the NumPy reference on
every backend, soft binary cross-entropy at beta = 0 and modulated by |score - p|^beta,
odd shapes, and its argument errors."""

from __future__ import annotations

from typing import Any

import pytest
import torch
import torch.nn.functional as F

import torchfocal
from conftest import check_against_reference
from losses.focal_family import (
    BACKENDS,
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
@pytest.mark.parametrize("beta", [0.0, 1.0, 2.0, 3.5])
@pytest.mark.parametrize(
    ("reduction", "avg_factor"), [("none", None), ("mean", None), ("mean", 2.5), ("sum", None)]
)
def test_quality_matches_reference(
    backend: str, beta: float, reduction: str, avg_factor: float | None
) -> None:
    x = random_logits()
    check_against_reference(
        "quality_focal_loss",
        backend,
        x,
        iou_scores(),
        upstream_for(reduction, x),
        beta=beta,
        weight=torch.rand(6, C, dtype=torch.float64),
        reduction=reduction,
        avg_factor=avg_factor,
    )


@pytest.mark.parametrize("backend", BACKENDS)
def test_quality_with_beta_0_is_soft_bce(backend: str) -> None:
    x, score = random_logits(), iou_scores()
    qfl = loss_and_grad(
        torchfocal.quality_focal_loss, x, score, beta=0.0, reduction="sum", backend=backend
    )
    assert_same(qfl, loss_and_grad(F.binary_cross_entropy_with_logits, x, score, reduction="sum"))


@pytest.mark.parametrize("backend", BACKENDS)
def test_quality_is_modulated_bce(backend: str) -> None:
    x, score = random_logits(), iou_scores()
    qfl = torchfocal.quality_focal_loss(x, score, beta=2.0, reduction="none", backend=backend)
    bce = F.binary_cross_entropy_with_logits(x, score, reduction="none")
    torch.testing.assert_close(qfl, (score - torch.sigmoid(x)).abs() ** 2 * bce)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("shape", SCORE_ODD_SHAPES)
def test_quality_on_odd_shapes(backend: str, shape: tuple[int, ...]) -> None:
    check_score_loss_on_odd_shape("quality_focal_loss", backend, shape)


# -- errors ----------------------------------------------------------------------------------

ERRORS: list[tuple[tuple[Any, ...], dict[str, Any], type[Exception], str]] = [
    ((X, SCORE), {"beta": 0.5}, ValueError, r"beta must be 0 or >= 1"),
    ((X, SCORE), {"beta": -1.0}, ValueError, r"beta must be in"),
    ((X, SCORE), {"weight": torch.ones(5, 1)}, ValueError, r"weight must broadcast"),
    ((X, SCORE), {"backend": "jit"}, ValueError, r"backend must be one of"),
]


@pytest.mark.parametrize(("args", "kwargs", "error", "match"), ERRORS)
def test_error(args: tuple[Any, ...], kwargs: dict[str, Any], error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        torchfocal.quality_focal_loss(*args, **kwargs)


MODULE_ERRORS: list[tuple[dict[str, Any], type[Exception], str]] = [
    ({"beta": 0.5}, ValueError, r"beta must be 0 or >= 1"),
]


@pytest.mark.parametrize(("kwargs", "error", "match"), MODULE_ERRORS)
def test_module_error(kwargs: dict[str, Any], error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        torchfocal.QualityFocalLoss(**kwargs)
