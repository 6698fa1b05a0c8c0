"""The NumPy oracle itself: against closed forms and finite differences."""

from __future__ import annotations

import math

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
