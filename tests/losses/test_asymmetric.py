"""asymmetric_loss (ASL): the NumPy reference on every backend, binary cross-entropy
without focusing or clip, the clip of easy negatives, odd shapes, and its argument
errors."""

from __future__ import annotations

from typing import Any

import pytest
import torch
import torch.nn.functional as F

import torchfocal
from conftest import check_against_reference, covering
from losses.focal_family import (
    BACKENDS,
    MASK,
    SIGMOID_FORMS,
    SIGMOID_ODD_SHAPES,
    C,
    X,
    assert_same,
    check_sigmoid_form_on_odd_shape,
    loss_and_grad,
    random_logits,
    sigmoid_target,
    upstream_for,
)


@pytest.mark.parametrize(
    *covering(
        {
            "backend": BACKENDS,
            "gamma_pos,gamma_neg,clip": [
                (0.0, 4.0, 0.05),
                (1.0, 0.5, 0.3),
                (0.0, 0.0, 0.0),
                (0.5, 2.0, 0.0),
                (2.0, 0.0, 0.2),
            ],
        },
        {"form": SIGMOID_FORMS, "reduction": ["none", "mean", "sum", "positives"]},
    )
)
def test_asymmetric_matches_reference(
    backend: str, form: str, gamma_pos: float, gamma_neg: float, clip: float, reduction: str
) -> None:
    x, target = random_logits(), sigmoid_target(form)
    check_against_reference(
        "asymmetric_loss",
        backend,
        x,
        target,
        upstream_for(reduction, x),
        gamma_pos=gamma_pos,
        gamma_neg=gamma_neg,
        clip=clip,
        weight=torch.rand(C, dtype=torch.float64),
        reduction=reduction,
    )


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("form", ["soft", "mask"])
def test_asymmetric_without_focusing_or_clip_is_bce(backend: str, form: str) -> None:
    x, target = random_logits(), sigmoid_target(form)
    asl = loss_and_grad(
        torchfocal.asymmetric_loss,
        x,
        target,
        gamma_pos=0.0,
        gamma_neg=0.0,
        clip=0.0,
        reduction="none",
        backend=backend,
    )
    bce = loss_and_grad(F.binary_cross_entropy_with_logits, x, target.double(), reduction="none")
    assert_same(asl, bce)


@pytest.mark.parametrize("backend", BACKENDS)
def test_asymmetric_drops_negatives_below_the_clip(backend: str) -> None:
    x = torch.tensor([[-4.0, -3.0, 0.0]], dtype=torch.float64)  # p = 0.018, 0.047, 0.5
    loss, grad = loss_and_grad(
        torchfocal.asymmetric_loss,
        x,
        torch.zeros(1, 3),
        clip=0.05,
        reduction="none",
        backend=backend,
    )
    assert loss[0, :2].tolist() == [0.0, 0.0] and grad[0, :2].tolist() == [0.0, 0.0]
    assert loss[0, 2] > 0 and grad[0, 2] > 0


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("shape", SIGMOID_ODD_SHAPES)
def test_asymmetric_on_odd_shapes(backend: str, shape: tuple[int, ...]) -> None:
    check_sigmoid_form_on_odd_shape("asymmetric_loss", backend, shape)


# -- errors ----------------------------------------------------------------------------------

ERRORS: list[tuple[tuple[Any, ...], dict[str, Any], type[Exception], str]] = [
    ((X, MASK), {"clip": 1.0}, ValueError, r"clip must be in \[0, 1\)"),
    ((X, MASK), {"clip": -0.1}, ValueError, r"clip must be in"),
    ((X, MASK), {"gamma_neg": -1.0}, ValueError, r"gamma_neg must be in"),
    ((X, MASK), {"gamma_pos": float("inf")}, ValueError, r"gamma_pos must be in"),
    ((X, torch.full((4, 5), 1.5)), {}, ValueError, r"target must hold values in"),
    ((X, torch.tensor([0, 9, 1, 1])), {}, ValueError, r"target class indices must be in \[0, 5\]"),
]


@pytest.mark.parametrize(("args", "kwargs", "error", "match"), ERRORS)
def test_error(args: tuple[Any, ...], kwargs: dict[str, Any], error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        torchfocal.asymmetric_loss(*args, **kwargs)


MODULE_ERRORS: list[tuple[dict[str, Any], type[Exception], str]] = [
    ({"clip": 1.0}, ValueError, r"clip must be in"),
    ({"reduction": "avg"}, ValueError, r"reduction must be"),
]


@pytest.mark.parametrize(("kwargs", "error", "match"), MODULE_ERRORS)
def test_module_error(kwargs: dict[str, Any], error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        torchfocal.AsymmetricLoss(**kwargs)
