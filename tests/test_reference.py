"""The NumPy oracle itself: against closed forms and finite differences."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from torchfocal import reference


def test_reference_reproduces_plain_formulas() -> None:
    """Binary targets: -alpha_t (1 - p_t)^gamma log p_t, evaluated naively at moderate x."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(5, 4)) * 2
    y = (rng.random((5, 4)) < 0.4).astype(float)
    p = 1 / (1 + np.exp(-x))
    p_t = np.where(y == 1, p, 1 - p)
    alpha_t = np.where(y == 1, 0.25, 0.75)
    expected = -alpha_t * (1 - p_t) ** 2 * np.log(p_t)
    loss, _ = reference.sigmoid_focal_loss(x, y, alpha=0.25, gamma=2.0, reduction="none")
    np.testing.assert_allclose(loss, expected, rtol=1e-12)


@pytest.mark.parametrize("gamma", [0.0, 0.3, 1.0, 2.5])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum", "positives"])
def test_reference_gradient_matches_finite_differences(gamma: float, reduction: str) -> None:
    rng = np.random.default_rng(2)
    x = rng.normal(size=(3, 4)) * 2
    y = rng.random((3, 4))
    pos_weight = rng.random(4) + 0.5
    weight = rng.random((3, 1))
    upstream = rng.normal(size=(3, 4)) if reduction == "none" else None
    kwargs = dict(
        gamma=gamma,
        alpha=0.3,
        pos_weight=pos_weight,
        weight=weight,
        label_smoothing=0.1,
        reduction=reduction,
    )

    def objective(z: np.ndarray) -> float:
        loss, _ = reference.sigmoid_focal_loss(z, y, **kwargs)  # type: ignore[arg-type]
        return float((loss * upstream).sum() if upstream is not None else loss)

    _, grad = reference.sigmoid_focal_loss(x, y, grad_output=upstream, **kwargs)  # type: ignore[arg-type]
    numeric = np.zeros_like(x)
    h = 1e-6
    for i in np.ndindex(x.shape):
        step = np.zeros_like(x)
        step[i] = h
        numeric[i] = (objective(x + step) - objective(x - step)) / (2 * h)
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-8)


def test_reference_index_targets_and_ignore() -> None:
    x = np.zeros((2, 3))
    target = np.array([1, -100])
    loss, grad = reference.sigmoid_focal_loss(x, target, alpha=None, gamma=0.0, reduction="none")
    np.testing.assert_allclose(loss[0], [math.log(2)] * 3)
    np.testing.assert_array_equal(loss[1], 0.0)
    np.testing.assert_allclose(grad[0], [0.5, -0.5, 0.5])
    mean, _ = reference.sigmoid_focal_loss(x, target, alpha=None, gamma=0.0, reduction="mean")
    assert float(mean) == pytest.approx(math.log(2))  # divided by the 3 counted elements


# --- The focal family: finite differences, closed forms, and finiteness at |x| = 1e4. ---

Loss = Callable[..., tuple[np.ndarray, np.ndarray]]
REDUCTIONS = ["none", "mean", "sum", "positives"]
LOCATION_REDUCTIONS = ["none", "mean", "sum"]


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


def _assert_gradient(
    fn: Loss,
    x: np.ndarray,
    target: Any,
    *,
    rtol: float = 1e-6,
    atol: float = 1e-8,
    **kwargs: Any,
) -> None:
    """Central finite differences (h = 1e-6) against the returned analytic gradient.

    For reduction="none" the loss is contracted with a random grad_output of its shape.
    """
    upstream = None
    if kwargs.get("reduction") == "none":
        loss_shape = np.shape(fn(x, target, **kwargs)[0])
        upstream = np.random.default_rng(99).normal(size=loss_shape)

    def objective(z: np.ndarray) -> float:
        loss, _ = fn(z, target, **kwargs)
        return float((loss * upstream).sum() if upstream is not None else loss)

    _, grad = fn(x, target, grad_output=upstream, **kwargs)
    assert grad.shape == x.shape
    numeric = np.zeros_like(x)
    h = 1e-6
    for i in np.ndindex(x.shape):
        step = np.zeros_like(x)
        step[i] = h
        numeric[i] = (objective(x + step) - objective(x - step)) / (2 * h)
    assert np.abs(numeric).max() > 1e-3  # the check is not vacuous
    np.testing.assert_allclose(grad, numeric, rtol=rtol, atol=atol)


def _sigmoid_target(kind: str, rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """soft probabilities, hard 0/1 floats, or class indices (C = background, one ignored)."""
    if kind == "soft":
        return rng.random(shape)
    if kind == "hard":
        return (rng.random(shape) < 0.4).astype(float)
    index = rng.integers(0, shape[1] + 1, size=shape[0])
    index[1] = -100
    return index


def _bce(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    p = _sigmoid(x)
    return -(y * np.log(p) + (1 - y) * np.log(1 - p))


# FL*


@pytest.mark.parametrize("kind", ["soft", "hard", "index"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize(
    ("gamma", "beta", "alpha"),
    [(0.3, 1.0, None), (1.0, 0.0, 0.25), (2.5, -1.0, [0.1, 0.5, 0.7, 0.9])],
)
def test_focal_star_gradient(
    gamma: float, beta: float, alpha: Any, reduction: str, kind: str
) -> None:
    rng = np.random.default_rng(10)
    x = rng.normal(size=(4, 4)) * 2
    target = _sigmoid_target(kind, rng, (4, 4))
    weight = rng.random((4, 1)) + 0.5
    _assert_gradient(
        reference.sigmoid_focal_loss_star,
        x,
        target,
        gamma=gamma,
        beta=beta,
        alpha=alpha,
        weight=weight,
        reduction=reduction,
    )


def test_focal_star_closed_forms() -> None:
    rng = np.random.default_rng(11)
    x = rng.normal(size=(5, 3)) * 2
    y = (rng.random((5, 3)) < 0.5).astype(float)
    loss, _ = reference.sigmoid_focal_loss_star(x, y, gamma=1.0, beta=0.0, reduction="none")
    np.testing.assert_allclose(loss, _bce(x, y), rtol=1e-12)
    loss, _ = reference.sigmoid_focal_loss_star(
        x, y, gamma=1.0, beta=0.0, alpha=0.25, reduction="none"
    )
    np.testing.assert_allclose(loss, np.where(y == 1, 0.25, 0.75) * _bce(x, y), rtol=1e-12)
    # General gamma, beta: -log sigmoid(gamma x_t + beta) / gamma, x_t = x or -x.
    loss, _ = reference.sigmoid_focal_loss_star(x, y, gamma=2.0, beta=1.5, reduction="none")
    x_t = np.where(y == 1, x, -x)
    np.testing.assert_allclose(loss, -np.log(_sigmoid(2.0 * x_t + 1.5)) / 2.0, rtol=1e-12)


# Asymmetric loss


@pytest.mark.parametrize("kind", ["soft", "hard", "index"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize(
    ("gamma_pos", "gamma_neg", "clip"),
    [(0.0, 0.0, 0.0), (0.3, 4.0, 0.05), (1.0, 0.3, 0.2), (2.0, 2.5, 0.0)],
)
def test_asymmetric_gradient(
    gamma_pos: float, gamma_neg: float, clip: float, reduction: str, kind: str
) -> None:
    rng = np.random.default_rng(12)
    x = rng.normal(size=(4, 4)) * 2
    if clip:
        # Stay clear of the kink at p = clip, where the derivative jumps.
        assert np.abs(_sigmoid(x) - clip).min() > 1e-2
    target = _sigmoid_target(kind, rng, (4, 4))
    weight = rng.random((4, 4)) + 0.5
    _assert_gradient(
        reference.asymmetric_loss,
        x,
        target,
        gamma_pos=gamma_pos,
        gamma_neg=gamma_neg,
        clip=clip,
        weight=weight,
        reduction=reduction,
    )


def test_asymmetric_closed_forms() -> None:
    rng = np.random.default_rng(13)
    x = rng.normal(size=(6, 3)) * 2
    y = rng.random((6, 3))
    loss, _ = reference.asymmetric_loss(
        x, y, gamma_pos=0.0, gamma_neg=0.0, clip=0.0, reduction="none"
    )
    np.testing.assert_allclose(loss, _bce(x, y), rtol=1e-12)
    # Naive ASL with a clip: p_m = max(p - clip, 0), both sides mixed linearly by y.
    p = _sigmoid(x)
    p_m = np.maximum(p - 0.1, 0)
    expected = y * (1 - p) ** 1.0 * -np.log(p) + (1 - y) * p_m**3.0 * -np.log(1 - p_m)
    loss, _ = reference.asymmetric_loss(
        x, y, gamma_pos=1.0, gamma_neg=3.0, clip=0.1, reduction="none"
    )
    np.testing.assert_allclose(loss, expected, rtol=1e-12)
    # Below the clip the negative side is exactly 0, loss and gradient.
    loss, grad = reference.asymmetric_loss([-5.0], [0.0], clip=0.05, reduction="none")
    assert loss[0] == 0.0 and grad[0] == 0.0


# Poly-1


@pytest.mark.parametrize("kind", ["soft", "hard", "index"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize(
    ("epsilon", "gamma", "alpha", "label_smoothing"),
    [
        (1.0, 2.0, 0.25, 0.0),
        (-0.5, 0.3, None, 0.1),
        (2.0, 0.0, [0.1, 0.5, 0.7, 0.9], 0.0),
    ],
)
def test_poly1_sigmoid_gradient(
    epsilon: float, gamma: float, alpha: Any, label_smoothing: float, reduction: str, kind: str
) -> None:
    rng = np.random.default_rng(14)
    x = rng.normal(size=(4, 4)) * 2
    target = _sigmoid_target(kind, rng, (4, 4))
    weight = rng.random((4, 1)) + 0.5
    _assert_gradient(
        reference.poly1_focal_loss,
        x,
        target,
        epsilon=epsilon,
        gamma=gamma,
        alpha=alpha,
        weight=weight,
        label_smoothing=label_smoothing,
        reduction=reduction,
    )


@pytest.mark.parametrize("kind", ["index", "soft"])
@pytest.mark.parametrize("reduction", LOCATION_REDUCTIONS)
@pytest.mark.parametrize(
    ("epsilon", "gamma", "alpha", "label_smoothing"),
    [
        (1.0, 2.0, None, 0.0),
        (-0.5, 0.3, 0.5, 0.1),
        (2.0, 0.0, [0.1, 0.5, 0.7, 0.9], 0.2),
    ],
)
def test_poly1_softmax_gradient(
    epsilon: float, gamma: float, alpha: Any, label_smoothing: float, reduction: str, kind: str
) -> None:
    rng = np.random.default_rng(15)
    x = rng.normal(size=(4, 4, 2)) * 2  # class_dim 1, a trailing spatial axis
    if kind == "index":
        target: np.ndarray = rng.integers(0, 4, size=(4, 2))
        target[1, 0] = -100
    else:
        raw = rng.random((4, 4, 2))
        target = raw / raw.sum(axis=1, keepdims=True)
    _assert_gradient(
        reference.poly1_focal_loss,
        x,
        target,
        epsilon=epsilon,
        gamma=gamma,
        alpha=alpha,
        activation="softmax",
        label_smoothing=label_smoothing,
        reduction=reduction,
    )


@pytest.mark.parametrize("activation", ["sigmoid", "softmax"])
@pytest.mark.parametrize("reduction", LOCATION_REDUCTIONS)
def test_poly1_cross_entropy_gradient(activation: str, reduction: str) -> None:
    rng = np.random.default_rng(16)
    x = rng.normal(size=(5, 3)) * 2
    target = rng.integers(0, 3, size=5)
    _assert_gradient(
        reference.poly1_cross_entropy,
        x,
        target,
        epsilon=1.5,
        activation=activation,
        label_smoothing=0.1,
        reduction=reduction,
    )


@pytest.mark.parametrize("kind", ["soft", "hard", "index"])
def test_poly1_sigmoid_epsilon_zero_is_focal(kind: str) -> None:
    rng = np.random.default_rng(17)
    x = rng.normal(size=(4, 4)) * 2
    target = _sigmoid_target(kind, rng, (4, 4))
    options: dict[str, Any] = dict(
        gamma=1.5, alpha=[0.1, 0.5, 0.7, 0.9], weight=rng.random((4, 1)), label_smoothing=0.1
    )
    for reduction in REDUCTIONS:
        poly = reference.poly1_focal_loss(x, target, epsilon=0.0, reduction=reduction, **options)
        focal = reference.sigmoid_focal_loss(x, target, reduction=reduction, **options)
        np.testing.assert_allclose(poly[0], focal[0], rtol=1e-12)
        np.testing.assert_allclose(poly[1], focal[1], rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("kind", ["index", "soft"])
def test_poly1_softmax_epsilon_zero_is_focal(kind: str) -> None:
    rng = np.random.default_rng(18)
    x = rng.normal(size=(5, 3)) * 2
    if kind == "index":
        target: np.ndarray = rng.integers(0, 3, size=5)
        target[2] = -100
    else:
        raw = rng.random((5, 3))
        target = raw / raw.sum(axis=1, keepdims=True)
    options: dict[str, Any] = dict(gamma=2.0, alpha=[0.2, 0.3, 0.5], label_smoothing=0.1)
    for reduction in LOCATION_REDUCTIONS:
        poly = reference.poly1_focal_loss(
            x, target, epsilon=0.0, activation="softmax", reduction=reduction, **options
        )
        focal = reference.softmax_focal_loss(x, target, reduction=reduction, **options)
        np.testing.assert_allclose(poly[0], focal[0], rtol=1e-12)
        np.testing.assert_allclose(poly[1], focal[1], rtol=1e-12, atol=1e-15)


def test_poly1_closed_forms() -> None:
    rng = np.random.default_rng(19)
    x = rng.normal(size=(5, 3)) * 2
    y = (rng.random((5, 3)) < 0.4).astype(float)
    p = _sigmoid(x)
    p_t = np.where(y == 1, p, 1 - p)
    alpha_t = np.where(y == 1, 0.25, 0.75)
    expected = -alpha_t * (1 - p_t) ** 2 * np.log(p_t) + 1.5 * (1 - p_t) ** 3
    loss, _ = reference.poly1_focal_loss(x, y, epsilon=1.5, gamma=2.0, alpha=0.25, reduction="none")
    np.testing.assert_allclose(loss, expected, rtol=1e-12)

    # Softmax, index targets: -alpha_y (1 - p_y)^gamma log p_y + epsilon (1 - p_y)^(gamma + 1).
    index = rng.integers(0, 3, size=5)
    s = np.exp(x) / np.exp(x).sum(axis=1, keepdims=True)
    p_y = s[np.arange(5), index]
    alpha = np.array([0.2, 0.3, 0.5])
    expected = -alpha[index] * (1 - p_y) ** 2 * np.log(p_y) + 1.5 * (1 - p_y) ** 3
    loss, _ = reference.poly1_focal_loss(
        x, index, epsilon=1.5, gamma=2.0, alpha=alpha, activation="softmax", reduction="none"
    )
    np.testing.assert_allclose(loss, expected, rtol=1e-12)

    # Poly-1 cross-entropy: -log p_y + epsilon (1 - p_y); with soft targets 1 - sum_c t_c p_c.
    loss, _ = reference.poly1_cross_entropy(x, index, epsilon=2.0, reduction="none")
    np.testing.assert_allclose(loss, -np.log(p_y) + 2.0 * (1 - p_y), rtol=1e-12)
    t = rng.random((5, 3))
    t /= t.sum(axis=1, keepdims=True)
    loss, _ = reference.poly1_cross_entropy(x, t, epsilon=2.0, reduction="none")
    expected = -(t * np.log(s)).sum(axis=1) + 2.0 * (1 - (t * s).sum(axis=1))
    np.testing.assert_allclose(loss, expected, rtol=1e-12)
    mean, _ = reference.poly1_cross_entropy(x, t, epsilon=2.0, reduction="mean")
    assert float(mean) == pytest.approx(expected.mean(), rel=1e-12)


def test_poly1_cross_entropy_is_poly1_focal_gamma_zero() -> None:
    rng = np.random.default_rng(20)
    x = rng.normal(size=(4, 3))
    index = np.array([0, 2, -100, 1])
    for activation in ("sigmoid", "softmax"):
        ce = reference.poly1_cross_entropy(x, index, epsilon=0.7, activation=activation)
        focal = reference.poly1_focal_loss(
            x, index, epsilon=0.7, gamma=0.0, alpha=None, activation=activation
        )
        np.testing.assert_array_equal(ce[0], focal[0])
        np.testing.assert_array_equal(ce[1], focal[1])


# Varifocal loss


def _vfl_target(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    return np.where(rng.random(shape) < 0.5, rng.random(shape), 0.0)


@pytest.mark.parametrize("reduction", LOCATION_REDUCTIONS)
@pytest.mark.parametrize("iou_weighted", [True, False])
@pytest.mark.parametrize("gamma", [0.0, 0.3, 2.0])
def test_varifocal_gradient(gamma: float, iou_weighted: bool, reduction: str) -> None:
    rng = np.random.default_rng(21)
    x = rng.normal(size=(4, 4)) * 2
    q = _vfl_target(rng, (4, 4))
    assert (q == 0).any() and (q > 0).any()
    _assert_gradient(
        reference.varifocal_loss,
        x,
        q,
        alpha=0.6,
        gamma=gamma,
        iou_weighted=iou_weighted,
        weight=rng.random((4, 1)) + 0.5,
        reduction=reduction,
        avg_factor=7.0 if reduction == "mean" and iou_weighted else None,
    )


def test_varifocal_closed_forms() -> None:
    rng = np.random.default_rng(22)
    x = rng.normal(size=(5, 3)) * 2
    zeros = np.zeros((5, 3))
    vfl = reference.varifocal_loss(x, zeros, alpha=0.75, gamma=2.0, reduction="none")
    focal = reference.sigmoid_focal_loss(x, zeros, alpha=0.25, gamma=2.0, reduction="none")
    np.testing.assert_allclose(vfl[0], focal[0], rtol=1e-12)
    np.testing.assert_allclose(vfl[1], focal[1], rtol=1e-12)
    q = _vfl_target(rng, (5, 3))
    p = _sigmoid(x)
    bce = _bce(x, q)
    for iou_weighted, scale in ((True, q), (False, 1.0)):
        expected = np.where(q > 0, scale * bce, 0.75 * p**2 * -np.log(1 - p))
        loss, _ = reference.varifocal_loss(
            x, q, alpha=0.75, gamma=2.0, iou_weighted=iou_weighted, reduction="none"
        )
        np.testing.assert_allclose(loss, expected, rtol=1e-12)
    mean, _ = reference.varifocal_loss(x, q, reduction="mean")
    total, _ = reference.varifocal_loss(x, q, reduction="sum")
    by_factor, _ = reference.varifocal_loss(x, q, reduction="mean", avg_factor=4.0)
    assert float(mean) == pytest.approx(float(total) / 15, rel=1e-12)
    assert float(by_factor) == pytest.approx(float(total) / 4, rel=1e-12)


# Quality focal loss


@pytest.mark.parametrize("reduction", LOCATION_REDUCTIONS)
@pytest.mark.parametrize("beta", [0.0, 0.3, 1.0, 2.0])
def test_quality_focal_gradient(beta: float, reduction: str) -> None:
    rng = np.random.default_rng(25)
    x = rng.normal(size=(4, 4)) * 2
    q = rng.random((4, 4))
    q[0, :2] = 0.0
    q[1, :2] = 1.0
    # |p - q|^(beta - 1) varies fast near p = q for beta < 1: keep them apart.
    assert np.abs(_sigmoid(x) - q).min() > 1e-2
    _assert_gradient(
        reference.quality_focal_loss,
        x,
        q,
        beta=beta,
        weight=rng.random((4, 4)) + 0.5,
        reduction=reduction,
        avg_factor=5.0 if reduction == "mean" else None,
    )


def test_quality_focal_closed_forms() -> None:
    rng = np.random.default_rng(24)
    x = rng.normal(size=(5, 3)) * 2
    q = rng.random((5, 3))
    q[0] = [0.0, 1.0, 0.5]
    loss, grad = reference.quality_focal_loss(x, q, beta=0.0, reduction="none")
    np.testing.assert_allclose(loss, _bce(x, q), rtol=1e-12)
    np.testing.assert_allclose(grad, _sigmoid(x) - q, rtol=1e-10, atol=1e-15)
    loss, _ = reference.quality_focal_loss(x, q, beta=2.0, reduction="none")
    np.testing.assert_allclose(loss, np.abs(q - _sigmoid(x)) ** 2 * _bce(x, q), rtol=1e-10)
    # p == q exactly: no loss, and the first gradient term is taken as 0.
    loss, grad = reference.quality_focal_loss([0.0], [0.5], beta=0.5, reduction="none")
    assert loss[0] == 0.0 and grad[0] == 0.0


# Distribution focal loss


@pytest.mark.parametrize("reduction", LOCATION_REDUCTIONS)
@pytest.mark.parametrize("class_dim", [-1, 1])
def test_distribution_focal_gradient(class_dim: int, reduction: str) -> None:
    rng = np.random.default_rng(25)
    n = 4  # n + 1 = 5 bins
    x = rng.normal(size=(3, 5, 2) if class_dim == 1 else (3, 2, 5)) * 2
    y = rng.random((3, 2)) * n
    y.flat[0], y.flat[1], y.flat[2] = 0.0, 2.0, float(n)  # the integer and end-point cases
    _assert_gradient(
        reference.distribution_focal_loss,
        x,
        y,
        class_dim=class_dim,
        weight=rng.random(y.shape) + 0.5,
        reduction=reduction,
        avg_factor=3.0 if reduction == "mean" and class_dim == 1 else None,
    )


def test_distribution_focal_closed_forms() -> None:
    rng = np.random.default_rng(26)
    x = rng.normal(size=(6, 4)) * 2  # n = 3
    y = np.array([0.0, 0.4, 1.0, 2.5, 2.99, 3.0])
    s = np.exp(x) / np.exp(x).sum(axis=1, keepdims=True)
    expected = []
    for i, value in enumerate(y):
        left = min(math.floor(value), 2)
        right = left + 1
        expected.append(
            -((right - value) * math.log(s[i, left]) + (value - left) * math.log(s[i, right]))
        )
    loss, grad = reference.distribution_focal_loss(x, y, reduction="none")
    np.testing.assert_allclose(loss, expected, rtol=1e-12)
    two_hot = np.zeros((6, 4))
    two_hot[np.arange(6), [0, 0, 1, 2, 2, 2]] = [1.0, 0.6, 1.0, 0.5, 0.01, 0.0]
    two_hot[np.arange(6), [1, 1, 2, 3, 3, 3]] = [0.0, 0.4, 0.0, 0.5, 0.99, 1.0]
    np.testing.assert_allclose(grad, s - two_hot, rtol=1e-10, atol=1e-14)
    mean, _ = reference.distribution_focal_loss(x, y, weight=np.full(6, 2.0))
    assert float(mean) == pytest.approx(2 * sum(expected) / 6, rel=1e-12)


# Sample-dependent gamma


def test_flsd53_sigmoid_is_focal_with_gamma_by_hand() -> None:
    rng = np.random.default_rng(27)
    x = rng.normal(size=(6, 4)) * 2.5
    y = (rng.random((6, 4)) < 0.4).astype(float)
    p = _sigmoid(x)
    p_t = np.where(y == 1, p, 1 - p)
    assert (p_t < 0.2).any() and (p_t >= 0.2).any()
    gamma = np.where(p_t < 0.2, 5.0, 3.0)
    alpha_t = np.where(y == 1, 0.25, 0.75)
    loss, grad = reference.sigmoid_focal_loss(x, y, gamma="flsd53", reduction="none")
    np.testing.assert_allclose(loss, -alpha_t * (1 - p_t) ** gamma * np.log(p_t), rtol=1e-12)
    five = reference.sigmoid_focal_loss(x, y, gamma=5.0, reduction="none")
    three = reference.sigmoid_focal_loss(x, y, gamma=3.0, reduction="none")
    np.testing.assert_allclose(grad, np.where(p_t < 0.2, five[1], three[1]), rtol=1e-12)


def test_flsd53_sigmoid_uses_p_t_after_label_smoothing() -> None:
    # y = 1 smoothed by 0.5 is 0.75; at x = -2, p = 0.119: p_t = 0.75 p + 0.25 (1 - p) = 0.31.
    x, y = np.array([-2.0]), np.array([1.0])
    loss, _ = reference.sigmoid_focal_loss(
        x, y, gamma="flsd53", label_smoothing=0.5, reduction="none"
    )
    three, _ = reference.sigmoid_focal_loss(x, y, gamma=3.0, label_smoothing=0.5, reduction="none")
    five, _ = reference.sigmoid_focal_loss(x, y, gamma=5.0, label_smoothing=0.5, reduction="none")
    np.testing.assert_array_equal(loss, three)
    assert not np.allclose(loss, five)


def test_flsd53_softmax_is_focal_with_gamma_by_hand() -> None:
    rng = np.random.default_rng(28)
    x = rng.normal(size=(8, 4)) * 2
    index = rng.integers(0, 4, size=8)
    s = np.exp(x) / np.exp(x).sum(axis=1, keepdims=True)
    p_y = s[np.arange(8), index]
    assert (p_y < 0.2).any() and (p_y >= 0.2).any()
    gamma = np.where(p_y < 0.2, 5.0, 3.0)
    loss, grad = reference.softmax_focal_loss(x, index, gamma="flsd53", reduction="none")
    np.testing.assert_allclose(loss, -((1 - p_y) ** gamma) * np.log(p_y), rtol=1e-12)
    five = reference.softmax_focal_loss(x, index, gamma=5.0, reduction="none")
    three = reference.softmax_focal_loss(x, index, gamma=3.0, reduction="none")
    np.testing.assert_allclose(grad, np.where((p_y < 0.2)[:, None], five[1], three[1]), rtol=1e-12)


def test_softmax_gamma_is_per_class_with_soft_targets() -> None:
    rng = np.random.default_rng(29)
    x = rng.normal(size=(5, 3)) * 2
    t = rng.random((5, 3))
    t /= t.sum(axis=1, keepdims=True)
    s = np.exp(x) / np.exp(x).sum(axis=1, keepdims=True)
    gamma = 1.0 + s  # gamma_c = f(p_c)
    expected = -(t * (1 - s) ** gamma * np.log(s)).sum(axis=1)
    loss, _ = reference.softmax_focal_loss(x, t, gamma=lambda p: 1.0 + p, reduction="none")
    np.testing.assert_allclose(loss, expected, rtol=1e-12)


@pytest.mark.parametrize("loss", ["sigmoid", "softmax"])
@pytest.mark.parametrize("reduction", LOCATION_REDUCTIONS)
def test_sample_gamma_gradient_treats_gamma_as_constant(loss: str, reduction: str) -> None:
    """The gradient for gamma = f(p) equals the gradient with gamma frozen at f(p(x))."""
    rng = np.random.default_rng(30)
    x = rng.normal(size=(4, 3)) * 2
    fn = reference.sigmoid_focal_loss if loss == "sigmoid" else reference.softmax_focal_loss
    target = rng.integers(0, 3, size=4)

    def gamma_of(p: np.ndarray) -> np.ndarray:
        return 0.3 + 2 * p

    seen: list[np.ndarray] = []

    def recording(p: np.ndarray) -> np.ndarray:
        seen.append(p.copy())
        return gamma_of(p)

    _, grad = fn(x, target, gamma=recording, reduction=reduction)  # type: ignore[operator]
    assert seen[0].shape == x.shape
    frozen = gamma_of(seen[0])
    _, frozen_grad = fn(x, target, gamma=lambda p: frozen, reduction=reduction)  # type: ignore[operator]
    np.testing.assert_allclose(grad, frozen_grad, rtol=1e-14)
    _assert_gradient(fn, x, target, gamma=lambda p: frozen, reduction=reduction)
    # And flsd53 away from its step: a plain finite-difference check.
    _assert_gradient(fn, x, target, gamma="flsd53", reduction=reduction)


def test_sample_gamma_callable_forms() -> None:
    rng = np.random.default_rng(31)
    x = rng.normal(size=(4, 3)) * 2
    index = np.array([0, 2, -100, 1])
    for fn in (reference.sigmoid_focal_loss, reference.softmax_focal_loss):
        constant = fn(x, index, gamma=lambda p: np.full_like(p, 1.5))  # type: ignore[operator]
        plain = fn(x, index, gamma=1.5)  # type: ignore[operator]
        np.testing.assert_allclose(constant[0], plain[0], rtol=1e-14)
        np.testing.assert_allclose(constant[1], plain[1], rtol=1e-14)
        by_name = fn(x, index, gamma="flsd53", reduction="none")  # type: ignore[operator]
        by_hand = fn(x, index, gamma=lambda p: np.where(p < 0.2, 5.0, 3.0), reduction="none")  # type: ignore[operator]
        np.testing.assert_array_equal(by_name[0], by_hand[0])
        np.testing.assert_array_equal(by_name[1], by_hand[1])
        with pytest.raises(ValueError):
            fn(x, index, gamma="flsd")  # type: ignore[operator]
        with pytest.raises(ValueError):
            fn(x, index, gamma=lambda p: -p)  # type: ignore[operator]


# Ignored locations, argument errors, and extreme logits


@pytest.mark.parametrize(
    ("fn", "kwargs"),
    [
        (reference.sigmoid_focal_loss_star, {}),
        (reference.asymmetric_loss, {}),
        (reference.poly1_focal_loss, {}),
        (reference.poly1_focal_loss, {"activation": "softmax"}),
        (reference.poly1_cross_entropy, {}),
    ],
)
def test_ignored_locations_contribute_nothing(fn: Loss, kwargs: dict[str, Any]) -> None:
    rng = np.random.default_rng(32)
    x = rng.normal(size=(4, 3)) * 2
    index = np.array([0, -100, 2, 1])
    loss, grad = fn(x, index, reduction="none", **kwargs)
    assert np.all(loss[1] == 0.0) and np.all(grad[1] == 0.0)
    assert np.all(np.abs(loss[[0, 2, 3]]).reshape(3, -1).sum(axis=1) > 0.0)
    mean, _ = fn(x, index, reduction="mean", **kwargs)
    counted = 3 * (3 if loss.ndim == 2 else 1)  # elements (sigmoid) or locations (softmax)
    assert float(mean) == pytest.approx(float(loss.sum()) / counted, rel=1e-12)


def test_argument_errors() -> None:
    x, y = np.zeros((2, 3)), np.zeros((2, 3))
    with pytest.raises(ValueError):
        reference.sigmoid_focal_loss_star(x, y, gamma=0.0)
    with pytest.raises(ValueError):
        reference.asymmetric_loss(x, y, clip=1.0)
    with pytest.raises(ValueError):
        reference.poly1_focal_loss(x, y, activation="tanh")
    with pytest.raises(ValueError):
        reference.poly1_focal_loss(x, np.array([0, 1]), activation="softmax", weight=np.ones(3))
    with pytest.raises(ValueError):
        reference.varifocal_loss(x, y, reduction="positives")
    with pytest.raises(ValueError):
        reference.quality_focal_loss(x, y, reduction="avg")
    with pytest.raises(ValueError):
        reference.distribution_focal_loss(x, np.zeros(2), reduction="positives")


EXTREME = np.array([[1e4, -1e4, 0.0, 30.0], [-1e4, 1e4, -30.0, 1e4]])


def _extreme_calls(gamma: float) -> list[tuple[str, Loss, Any, dict[str, Any]]]:
    hard = np.array([[1.0, 0.0, 1.0, 0.0], [1.0, 0.0, 0.0, 1.0]])
    soft = np.array([[0.3, 0.9, 1.0, 0.0], [0.5, 0.2, 0.0, 1.0]])
    index = np.array([1, 3])
    soft_rows = soft / soft.sum(axis=1, keepdims=True)
    calls: list[tuple[str, Loss, Any, dict[str, Any]]] = []
    for name, target in (("hard", hard), ("soft", soft), ("index", index)):
        calls += [
            (f"sfl-{name}", reference.sigmoid_focal_loss, target, {"gamma": gamma}),
            (f"sfl-flsd-{name}", reference.sigmoid_focal_loss, target, {"gamma": "flsd53"}),
            (
                f"fl*-{name}",
                reference.sigmoid_focal_loss_star,
                target,
                {"gamma": max(gamma, 0.3), "beta": 1.0},
            ),
            (
                f"asl-{name}",
                reference.asymmetric_loss,
                target,
                {"gamma_pos": gamma, "gamma_neg": gamma, "clip": 0.05},
            ),
            (
                f"asl0-{name}",
                reference.asymmetric_loss,
                target,
                {"gamma_pos": gamma, "gamma_neg": gamma, "clip": 0.0},
            ),
            (
                f"poly-{name}",
                reference.poly1_focal_loss,
                target,
                {"gamma": gamma, "label_smoothing": 0.1},
            ),
        ]
    for name, target in (("index", index), ("soft", soft_rows)):
        calls += [
            (f"softmax-{name}", reference.softmax_focal_loss, target, {"gamma": gamma}),
            (f"softmax-flsd-{name}", reference.softmax_focal_loss, target, {"gamma": "flsd53"}),
            (
                f"poly-softmax-{name}",
                reference.poly1_focal_loss,
                target,
                {"gamma": gamma, "activation": "softmax", "label_smoothing": 0.1},
            ),
            (f"poly-ce-{name}", reference.poly1_cross_entropy, target, {}),
        ]
    for name, target in (("hard", hard), ("soft", soft)):
        calls += [
            (f"vfl-{name}", reference.varifocal_loss, target, {"gamma": gamma}),
            (f"qfl-{name}", reference.quality_focal_loss, target, {"beta": gamma}),
        ]
    calls.append(
        (
            "dfl",
            reference.distribution_focal_loss,
            np.array([0.0, 2.5]),
            {},
        )
    )
    return calls


@pytest.mark.parametrize("gamma", [0.0, 0.3, 2.0, 10.0])
def test_finite_at_extreme_logits(gamma: float) -> None:
    for name, fn, target, kwargs in _extreme_calls(gamma):
        for reduction in ("none", "sum"):
            # No overflow, 0 * inf or inf - inf anywhere (underflow to 0 is fine).
            with np.errstate(over="raise", invalid="raise"):
                loss, grad = fn(EXTREME, target, reduction=reduction, **kwargs)
            assert np.isfinite(loss).all(), (name, gamma, reduction, loss)
            assert np.isfinite(grad).all(), (name, gamma, reduction, grad)
            assert grad.shape == EXTREME.shape


def test_values_at_extreme_logits() -> None:
    """Where the answer is known at |x| = 1e4: about |x| on the wrong side, 0 on the right."""
    x = np.array([-1e4, 1e4])
    one = np.array([1.0, 1.0])
    loss, grad = reference.sigmoid_focal_loss_star(x, one, gamma=2.0, beta=1.0, reduction="none")
    np.testing.assert_allclose(loss, [(2e4 - 1) / 2, 0.0], atol=1e-300)
    np.testing.assert_allclose(grad, [-1.0, 0.0], atol=1e-300)
    loss, grad = reference.asymmetric_loss(x, one, gamma_pos=0.3, reduction="none")
    np.testing.assert_allclose(loss, [1e4, 0.0], atol=1e-300)
    np.testing.assert_allclose(grad, [-1.0, 0.0], atol=1e-300)
    loss, _ = reference.asymmetric_loss(x, 1 - one, gamma_neg=4.0, clip=0.05, reduction="none")
    np.testing.assert_allclose(loss, [0.0, 0.95**4 * -math.log(0.05)], rtol=1e-12)
    loss, grad = reference.poly1_focal_loss(x, one, epsilon=1.0, gamma=0.0, reduction="none")
    np.testing.assert_allclose(loss, [1e4 + 1.0, 0.0], rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(grad, [-1.0, 0.0], atol=1e-300)
    loss, _ = reference.poly1_cross_entropy([[1e4, -1e4, 0.0]], [1], reduction="none")
    np.testing.assert_allclose(loss, [2e4 + 1.0], rtol=1e-12)
    loss, _ = reference.varifocal_loss(x, one, reduction="none")
    np.testing.assert_allclose(loss, [1e4, 0.0], atol=1e-300)
    loss, _ = reference.varifocal_loss(x, 1 - one, alpha=0.75, gamma=0.3, reduction="none")
    np.testing.assert_allclose(loss, [0.0, 0.75 * 1e4], rtol=1e-12, atol=1e-300)
    loss, _ = reference.quality_focal_loss(x, one, beta=2.0, reduction="none")
    np.testing.assert_allclose(loss, [1e4, 0.0], atol=1e-300)
    loss, grad = reference.distribution_focal_loss([[1e4, -1e4]], [1.0], reduction="none")
    np.testing.assert_allclose(loss, [2e4], rtol=1e-12)
    np.testing.assert_allclose(grad, [[1.0, -1.0]], atol=1e-300)
