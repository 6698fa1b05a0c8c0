"""sigmoid_focal_loss_star (FL*): the NumPy reference on every backend, binary
cross-entropy at gamma = 1, beta = 0, odd shapes, and its argument errors."""

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


# Every (backend, options, target form) triple; the reduction in pairs with each.
@pytest.mark.parametrize(
    *covering(
        {
            "backend": BACKENDS,
            "gamma,beta,alpha": [
                (2.0, 1.0, None),
                (1.0, 0.0, 0.25),
                (0.5, -0.5, [0.1, 0.5, 0.9, 0.3]),
                (4.0, 2.0, 0.75),
            ],
        },
        {"form": SIGMOID_FORMS, "reduction": ["none", "mean", "sum", "positives"]},
    )
)
def test_star_matches_reference(
    backend: str, form: str, gamma: float, beta: float, alpha: Any, reduction: str
) -> None:
    x, target = random_logits(), sigmoid_target(form)
    check_against_reference(
        "sigmoid_focal_loss_star",
        backend,
        x,
        target,
        upstream_for(reduction, x),
        gamma=gamma,
        beta=beta,
        alpha=alpha,
        weight=torch.rand(6, 1, dtype=torch.float64),
        reduction=reduction,
    )


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_star_with_gamma_1_beta_0_is_bce(backend: str, reduction: str) -> None:
    x, y = random_logits(), (torch.rand(6, C) < 0.5).double()
    star = loss_and_grad(
        torchfocal.sigmoid_focal_loss_star,
        x,
        y,
        gamma=1.0,
        beta=0.0,
        reduction=reduction,
        backend=backend,
    )
    bce = loss_and_grad(F.binary_cross_entropy_with_logits, x, y, reduction=reduction)
    assert_same(star, bce)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("shape", SIGMOID_ODD_SHAPES)
def test_star_on_odd_shapes(backend: str, shape: tuple[int, ...]) -> None:
    check_sigmoid_form_on_odd_shape("sigmoid_focal_loss_star", backend, shape)


# -- errors ----------------------------------------------------------------------------------

ERRORS: list[tuple[tuple[Any, ...], dict[str, Any], type[Exception], str]] = [
    ((X, MASK), {"gamma": 0.0}, ValueError, r"gamma must be > 0"),
    ((X, MASK), {"gamma": -1.0}, ValueError, r"gamma must be a finite"),
    ((X, MASK), {"beta": float("nan")}, ValueError, r"beta must be in"),
    ((X, MASK), {"beta": "1"}, TypeError, r"beta must be a float"),
    ((X, MASK), {"alpha": 1.5}, ValueError, r"alpha must be in \[0, 1\]"),
    ((X, MASK), {"alpha": [0.5] * 4}, ValueError, r"alpha must have one"),
    ((X, MASK), {"reduction": "avg"}, ValueError, r"reduction must be"),
    (
        (X, MASK),
        {"backend": "jit"},
        ValueError,
        r"backend must be one of 'auto' \| 'naive' \| 'fused' \| 'compiled' \| 'triton'; got 'jit'",
    ),
    ((X, torch.rand(4, 6)), {}, ValueError, r"target must have the shape"),
    ((X, MASK), {"ignore_index": 1.0}, TypeError, r"ignore_index must be an int"),
    (
        (X, MASK),
        {"avg_factor": 2.0, "reduction": "sum"},
        ValueError,
        r"avg_factor must be None unless reduction='mean'",
    ),
    ((X, MASK), {"weight": torch.ones(3)}, ValueError, r"weight must broadcast"),
    ((X.int(), MASK), {}, TypeError, r"input must be"),
]


@pytest.mark.parametrize(("args", "kwargs", "error", "match"), ERRORS)
def test_error(args: tuple[Any, ...], kwargs: dict[str, Any], error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        torchfocal.sigmoid_focal_loss_star(*args, **kwargs)


MODULE_ERRORS: list[tuple[dict[str, Any], type[Exception], str]] = [
    ({"gamma": 0.0}, ValueError, r"gamma must be > 0"),
    ({"alpha": [0.5, 2.0]}, ValueError, r"alpha must hold values in"),
    ({"backend": "jit"}, ValueError, r"backend must be one of"),
]


@pytest.mark.parametrize(("kwargs", "error", "match"), MODULE_ERRORS)
def test_module_error(kwargs: dict[str, Any], error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        torchfocal.SigmoidFocalLossStar(**kwargs)
