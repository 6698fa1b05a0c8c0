"""poly1_focal_loss and poly1_cross_entropy (Poly-1, Leng et al.): the NumPy reference on
every backend in the sigmoid and softmax forms, the focal loss at epsilon = 0, the paper's
cross-entropy plus epsilon (1 - p_t), F.cross_entropy's class weights, odd shapes, and
their argument errors."""

from __future__ import annotations

from typing import Any

import pytest
import torch
import torch.nn.functional as F

import torchfocal
from conftest import check_against_reference, covering, run_loss
from losses.focal_family import (
    BACKENDS,
    INDEX,
    MASK,
    SIGMOID_FORMS,
    SIGMOID_ODD_SHAPES,
    C,
    X,
    assert_same,
    check_sigmoid_form_on_odd_shape,
    loss_and_grad,
    probs_or_index,
    random_logits,
    sigmoid_target,
    softmax_target,
    upstream_for,
)

#: The classes of the softmax form's class-weight tests.
SOFTMAX_C = 5


@pytest.mark.parametrize(
    *covering(
        {
            "backend": BACKENDS,
            "epsilon,gamma,alpha,label_smoothing": [
                (1.0, 2.0, None, 0.0),
                (-1.0, 0.0, 0.25, 0.1),
                (2.5, 0.5, [0.2, 0.4, 0.6, 0.8], 0.0),
            ],
        },
        {"form": SIGMOID_FORMS, "reduction": ["none", "mean", "positives"]},
    )
)
def test_poly1_sigmoid_matches_reference(
    backend: str,
    form: str,
    epsilon: float,
    gamma: float,
    alpha: Any,
    label_smoothing: float,
    reduction: str,
) -> None:
    x, target = random_logits(), sigmoid_target(form)
    check_against_reference(
        "poly1_focal_loss",
        backend,
        x,
        target,
        upstream_for(reduction, x),
        epsilon=epsilon,
        gamma=gamma,
        alpha=alpha,
        activation="sigmoid",
        weight=torch.rand(6, C, dtype=torch.float64),
        label_smoothing=label_smoothing,
        reduction=reduction,
    )


@pytest.mark.parametrize(
    *covering(
        {
            "backend": BACKENDS,
            "epsilon,gamma,alpha,label_smoothing": [
                (1.0, 2.0, None, 0.0),
                (-1.0, 0.0, 0.5, 0.2),
                (3.0, 0.5, [0.5, 1.0, 2.0, 1.5], 0.0),
            ],
        },
        {
            "form": ["index", "index+ignore", "probabilities"],
            "reduction": ["none", "mean", "sum"],
            "shape,class_dim": [((6, C), 1), ((2, 3, C), -1)],
        },
    )
)
def test_poly1_softmax_matches_reference(
    backend: str,
    form: str,
    epsilon: float,
    gamma: float,
    alpha: Any,
    label_smoothing: float,
    reduction: str,
    shape: tuple[int, ...],
    class_dim: int,
) -> None:
    x = random_logits(shape)
    target = softmax_target(form, shape, class_dim % len(shape))
    location_shape = list(shape)
    del location_shape[class_dim]
    upstream = torch.randn(location_shape, dtype=torch.float64) if reduction == "none" else None
    check_against_reference(
        "poly1_focal_loss",
        backend,
        x,
        target,
        upstream,
        epsilon=epsilon,
        gamma=gamma,
        alpha=alpha,
        activation="softmax",
        label_smoothing=label_smoothing,
        class_dim=class_dim,
        reduction=reduction,
    )


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("activation", ["sigmoid", "softmax"])
def test_poly1_cross_entropy_matches_reference(backend: str, activation: str) -> None:
    x = random_logits()
    target = sigmoid_target("mask") if activation == "sigmoid" else torch.randint(0, C, (6,))
    check_against_reference(
        "poly1_cross_entropy", backend, x, target, epsilon=2.0, activation=activation
    )


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("gamma", [0.0, 2.0])
def test_poly1_with_epsilon_0_is_the_focal_loss(backend: str, gamma: float) -> None:
    x = random_logits()
    mask = sigmoid_target("mask")
    poly = loss_and_grad(
        torchfocal.poly1_focal_loss,
        x,
        mask,
        epsilon=0.0,
        gamma=gamma,
        alpha=0.25,
        reduction="none",
        backend=backend,
    )
    focal = loss_and_grad(
        torchfocal.sigmoid_focal_loss, x, mask, gamma=gamma, alpha=0.25, reduction="none"
    )
    assert_same(poly, focal)
    index = torch.randint(0, C, (6,))
    poly = loss_and_grad(
        torchfocal.poly1_focal_loss,
        x,
        index,
        epsilon=0.0,
        gamma=gamma,
        activation="softmax",
        label_smoothing=0.1,
        reduction="none",
        backend=backend,
    )
    focal = loss_and_grad(
        torchfocal.softmax_focal_loss,
        x,
        index,
        gamma=gamma,
        label_smoothing=0.1,
        reduction="none",
    )
    assert_same(poly, focal)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("epsilon", [0.0, 1.0, -1.0])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
def test_poly1_cross_entropy_is_ce_plus_epsilon_one_minus_pt(
    backend: str, epsilon: float, label_smoothing: float
) -> None:
    """Written out as the paper's code does: CE + epsilon (1 - sum(t * softmax))."""
    x = random_logits()
    index = torch.randint(0, C, (6,))
    index[1] = -100

    def written_out(z: torch.Tensor) -> torch.Tensor:
        ce = F.cross_entropy(
            z, index, ignore_index=-100, label_smoothing=label_smoothing, reduction="none"
        )
        t = F.one_hot(index.clamp(min=0), C).double() * (1 - label_smoothing) + label_smoothing / C
        p_t = (t * torch.softmax(z, dim=1)).sum(dim=1)
        return ((ce + epsilon * (1 - p_t)) * (index != -100)).sum() / (index != -100).sum()

    poly = loss_and_grad(
        torchfocal.poly1_cross_entropy,
        x,
        index,
        epsilon=epsilon,
        label_smoothing=label_smoothing,
        backend=backend,
    )
    assert_same(poly, loss_and_grad(written_out, x))


# Poly-1 in the softmax form takes F.cross_entropy's class weights.


def _poly1_expected(
    x: torch.Tensor,
    target: torch.Tensor,
    *,
    weight: torch.Tensor | None,
    epsilon: float,
    gamma: float,
    label_smoothing: float,
    reduction: str,
) -> torch.Tensor:
    """Poly-1 written out under autograd: the weighted focal (gamma = 0: F.cross_entropy)
    part plus the unweighted epsilon (1 - P_t)^(gamma + 1), divided as F.cross_entropy."""
    if gamma == 0.0:
        focal = F.cross_entropy(
            x, target, weight=weight, label_smoothing=label_smoothing, reduction="none"
        )
    else:
        focal = torchfocal.softmax_focal_loss(
            x,
            target,
            gamma=gamma,
            weight=weight,
            label_smoothing=label_smoothing,
            reduction="none",
            backend="naive",
        )
    if target.is_floating_point():
        t, valid = target, torch.ones(target.shape[:1] + target.shape[2:], dtype=x.dtype)
        divisor = valid.sum()
    else:
        valid = (target != -100).to(x.dtype)
        t = F.one_hot(target.clamp(min=0), SOFTMAX_C).movedim(-1, 1).to(x.dtype)
        class_weight = torch.ones(SOFTMAX_C, dtype=x.dtype) if weight is None else weight
        divisor = (class_weight[target.clamp(min=0)] * valid).sum()
    t = t * (1 - label_smoothing) + label_smoothing / SOFTMAX_C
    one_minus_p_t = 1 - (t * torch.softmax(x, dim=1)).sum(dim=1)
    per_location = focal + epsilon * one_minus_p_t ** (gamma + 1) * valid
    if reduction == "none":
        return per_location
    return per_location.sum() if reduction == "sum" else per_location.sum() / divisor


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("shape", [(7, SOFTMAX_C), (3, SOFTMAX_C, 2, 3)], ids=["2d", "4d"])
@pytest.mark.parametrize("form", ["index", "index_ignore", "probs"])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.15])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("epsilon", [0.0, 2.0])
def test_poly1_cross_entropy_weight_is_cross_entropy_weight(
    backend: str,
    shape: tuple[int, ...],
    form: str,
    label_smoothing: float,
    reduction: str,
    epsilon: float,
) -> None:
    """epsilon = 0 is F.cross_entropy(weight=w) for every option; epsilon adds the
    unweighted Poly-1 term, and "mean" still divides by the counted targets' weights."""
    x = torch.randn(shape, dtype=torch.float64) * 3
    target = probs_or_index(form, shape)
    weight = torch.rand(SOFTMAX_C, dtype=torch.float64) * 3 + 0.1
    options: dict[str, Any] = {"label_smoothing": label_smoothing, "reduction": reduction}
    value, grad = run_loss(
        "poly1_cross_entropy", backend, x, target, weight=weight, epsilon=epsilon, **options
    )
    xt = x.clone().requires_grad_(True)
    expected = _poly1_expected(xt, target, weight=weight, epsilon=epsilon, gamma=0.0, **options)
    expected.backward(torch.ones_like(expected))
    torch.testing.assert_close(value, expected.detach(), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(grad, xt.grad, rtol=1e-12, atol=1e-12)
    if epsilon == 0.0:
        torch.testing.assert_close(value, F.cross_entropy(x, target, weight=weight, **options))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("form", ["index_ignore", "probs"])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_poly1_focal_softmax_weight(backend: str, form: str, reduction: str) -> None:
    """With gamma > 0 the class weight scales the focal part, as softmax_focal_loss's."""
    x = torch.randn(9, SOFTMAX_C, dtype=torch.float64) * 3
    target = probs_or_index(form, (9, SOFTMAX_C))
    weight = torch.rand(SOFTMAX_C, dtype=torch.float64) * 3 + 0.1
    value, grad = run_loss(
        "poly1_focal_loss",
        backend,
        x,
        target,
        activation="softmax",
        weight=weight,
        gamma=1.5,
        epsilon=1.0,
        label_smoothing=0.1,
        reduction=reduction,
    )
    xt = x.clone().requires_grad_(True)
    expected = _poly1_expected(
        xt,
        target,
        weight=weight,
        epsilon=1.0,
        gamma=1.5,
        label_smoothing=0.1,
        reduction=reduction,
    )
    expected.backward(torch.ones_like(expected))
    torch.testing.assert_close(value, expected.detach(), rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(grad, xt.grad, rtol=1e-10, atol=1e-12)


def test_poly1_cross_entropy_module_takes_class_weights() -> None:
    x = torch.randn(6, SOFTMAX_C)
    target = probs_or_index("index_ignore", (6, SOFTMAX_C))
    weight = torch.rand(SOFTMAX_C) + 0.5
    module = torchfocal.Poly1CrossEntropyLoss(epsilon=1.0, weight=weight)
    expected = torchfocal.poly1_cross_entropy(x, target, epsilon=1.0, weight=weight)
    torch.testing.assert_close(module(x, target), expected)
    assert set(module.state_dict()) == {"weight"}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("shape", SIGMOID_ODD_SHAPES)
def test_poly1_on_odd_shapes(backend: str, shape: tuple[int, ...]) -> None:
    check_sigmoid_form_on_odd_shape("poly1_focal_loss", backend, shape)


# -- errors ----------------------------------------------------------------------------------

ERRORS: list[tuple[str, tuple[Any, ...], dict[str, Any], type[Exception], str]] = [
    (
        "poly1_focal_loss",
        (X, MASK),
        {"activation": "tanh"},
        ValueError,
        r"activation must be 'sigmoid' \| 'softmax'; got 'tanh'",
    ),
    (
        "poly1_focal_loss",
        (X, MASK),
        {"epsilon": -1.5},
        ValueError,
        r"epsilon must be in \[-1, inf\]",
    ),
    (
        "poly1_focal_loss",
        (X, MASK),
        {"label_smoothing": 1.0},
        ValueError,
        r"label_smoothing must be",
    ),
    (
        "poly1_focal_loss",
        (X, INDEX),
        {"activation": "softmax", "weight": torch.ones(4)},
        ValueError,
        r"weight must have one value per class \(5 along class_dim=1\); got shape \(4,\)",
    ),
    (
        "poly1_focal_loss",
        (X, INDEX),
        {"activation": "softmax", "avg_factor": 2.0},
        ValueError,
        r"avg_factor must be None for activation='softmax'",
    ),
    (
        "poly1_focal_loss",
        (X, INDEX),
        {"activation": "softmax", "reduction": "positives"},
        ValueError,
        r"reduction must be one of 'none' \| 'mean' \| 'sum'",
    ),
    (
        "poly1_focal_loss",
        (X, torch.tensor([0, 5, 1, 1])),
        {"activation": "softmax"},
        ValueError,
        r"target class indices must be in \[0, 4\]",
    ),
    (
        "poly1_cross_entropy",
        (X, torch.rand(4, 5)),
        {},
        ValueError,
        r"target probabilities must sum",
    ),
]


@pytest.mark.parametrize(
    ("name", "args", "kwargs", "error", "match"),
    ERRORS,
    ids=[f"{case[0]}-{index}" for index, case in enumerate(ERRORS)],
)
def test_error(
    name: str, args: tuple[Any, ...], kwargs: dict[str, Any], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        getattr(torchfocal, name)(*args, **kwargs)


MODULE_ERRORS: list[tuple[str, dict[str, Any], type[Exception], str]] = [
    ("Poly1FocalLoss", {"activation": "relu"}, ValueError, r"activation must be"),
    ("Poly1FocalLoss", {"epsilon": -2.0}, ValueError, r"epsilon must be in"),
    (
        "Poly1FocalLoss",
        {"activation": "softmax", "reduction": "positives"},
        ValueError,
        r"reduction must be",
    ),
    ("Poly1CrossEntropyLoss", {"label_smoothing": -0.1}, ValueError, r"label_smoothing must be"),
]


@pytest.mark.parametrize(("name", "kwargs", "error", "match"), MODULE_ERRORS)
def test_module_error(
    name: str, kwargs: dict[str, Any], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        getattr(torchfocal, name)(**kwargs)
