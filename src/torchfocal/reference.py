"""NumPy float64 reference implementations: forward value and analytic input gradient.

These are the test oracle. They are written from the formulas in docs/math.md, share no
code with :mod:`torchfocal._kernels`, and favour plainness over speed or memory. Each
function takes array-likes, works in float64, and returns ``(loss, grad)`` where ``grad`` is
d(loss)/d(input) contracted with ``grad_output`` (ones by default), in the input's shape.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

Array = NDArray[np.float64]

__all__ = ["sigmoid_focal_loss", "softmax_focal_loss"]


def _log_sigmoid(x: Array) -> Array:
    # log(1 / (1 + e^-x)) = -log(1 + e^-x), evaluated without overflow by logaddexp.
    return -np.logaddexp(0.0, -x)


def _per_class(value: Any, ndim: int, class_dim: int) -> Array:
    array = np.asarray(value, dtype=np.float64)
    if array.ndim == 1 and ndim >= 1:
        shape = [1] * ndim
        shape[class_dim] = array.size
        return array.reshape(shape)
    return array


def _dense_targets(
    target: NDArray[Any], shape: tuple[int, ...], class_dim: int, ignore_index: int
) -> tuple[Array, Array]:
    """(y, valid) as float64 arrays of the input's shape, from any accepted target form."""
    if target.shape == shape:
        return target.astype(np.float64), np.ones(shape)
    num_classes = shape[class_dim]
    index = np.expand_dims(target.astype(np.int64), class_dim)
    valid = (index != ignore_index).astype(np.float64)
    classes = np.arange(num_classes).reshape(
        [num_classes if d == class_dim else 1 for d in range(len(shape))]
    )
    y = (index == classes).astype(np.float64) * valid
    return np.broadcast_to(y, shape).copy(), np.broadcast_to(valid, shape).copy()


def _reduce(
    loss: Array,
    grad: Array,
    *,
    reduction: str,
    count: float,
    positive_mass: float,
    avg_factor: float | None,
    grad_output: ArrayLike | None,
) -> tuple[Array, Array]:
    upstream = np.ones(()) if grad_output is None else np.asarray(grad_output, dtype=np.float64)
    if reduction == "none":
        return loss, grad * upstream
    if reduction == "sum":
        divisor = 1.0
    elif reduction == "mean":
        divisor = float(avg_factor) if avg_factor is not None else max(count, 1.0)
    elif reduction == "positives":
        divisor = max(positive_mass, 1.0)
    else:
        raise ValueError(f"reduction must be a known reduction; got {reduction!r}")
    return np.asarray(loss.sum() / divisor), grad * (upstream / divisor)


def sigmoid_focal_loss(
    input: ArrayLike,
    target: ArrayLike,
    *,
    alpha: float | ArrayLike | None = 0.25,
    gamma: float = 2.0,
    weight: ArrayLike | None = None,
    pos_weight: ArrayLike | None = None,
    label_smoothing: float = 0.0,
    ignore_index: int = -100,
    class_dim: int = 1,
    reduction: str = "mean",
    avg_factor: float | None = None,
    grad_output: ArrayLike | None = None,
) -> tuple[Array, Array]:
    """Sigmoid focal loss and its gradient; same arguments as the torch function.

    loss = w * alpha_t * q**gamma * ce, with q = 1 - p_t,
    ce = -(c y log p + (1 - y) log(1 - p)),
    d/dx = w * alpha_t * (gamma q**(gamma-1) dq/dx * ce + q**gamma dce/dx),
    dq/dx = (1 - 2y) p (1 - p), dce/dx = (1 - y) p - c y (1 - p).
    """
    x = np.asarray(input, dtype=np.float64)
    shape = x.shape
    class_dim = class_dim % x.ndim if x.ndim else 0
    y, valid = _dense_targets(np.asarray(target), shape, class_dim, ignore_index)
    positive_mass = float((y * valid).sum())
    count = float(valid.sum())
    y = y * (1.0 - label_smoothing) + label_smoothing / 2.0

    log_p, log_1mp = _log_sigmoid(x), _log_sigmoid(-x)
    p, one_minus_p = np.exp(log_p), np.exp(log_1mp)
    c: Array = np.ones(())
    if pos_weight is not None:
        c = np.asarray(pos_weight, dtype=np.float64)
        if c.ndim == 1 and x.ndim and c.size == shape[class_dim]:
            c = _per_class(c, x.ndim, class_dim)
    w = valid if weight is None else valid * np.asarray(weight, dtype=np.float64)
    if alpha is None:
        alpha_t: Array | float = 1.0
    else:
        a = _per_class(alpha, x.ndim, class_dim) if np.ndim(alpha) else float(alpha)  # type: ignore[arg-type]
        alpha_t = a * y + (1.0 - a) * (1.0 - y)

    ce = -(c * y * log_p + (1.0 - y) * log_1mp)
    with np.errstate(divide="ignore"):
        log_q = np.logaddexp(np.log(y) + log_1mp, np.log(1.0 - y) + log_p)
    if gamma == 0.0:
        modulator = np.ones(shape)
        d_modulator = np.zeros(shape)
    else:
        modulator = np.exp(gamma * log_q)
        # gamma q^(gamma-1) p (1-p) as one exponential: finite even where q underflows.
        d_modulator = gamma * np.exp((gamma - 1.0) * log_q + log_p + log_1mp) * (1.0 - 2.0 * y)
    d_ce = (1.0 - y) * p - c * y * one_minus_p

    loss = np.broadcast_to(w * alpha_t * modulator * ce, shape).astype(np.float64)
    grad = np.broadcast_to(w * alpha_t * (d_modulator * ce + modulator * d_ce), shape)
    return _reduce(
        loss,
        grad.astype(np.float64),
        reduction=reduction,
        count=count,
        positive_mass=positive_mass,
        avg_factor=avg_factor,
        grad_output=grad_output,
    )


def softmax_focal_loss(
    input: ArrayLike,
    target: ArrayLike,
    *,
    alpha: float | ArrayLike | None = None,
    gamma: float = 2.0,
    weight: ArrayLike | None = None,
    ignore_index: int = -100,
    label_smoothing: float = 0.0,
    class_dim: int = 1,
    reduction: str = "mean",
    grad_output: ArrayLike | None = None,
) -> tuple[Array, Array]:
    """Softmax focal loss and its gradient; same arguments as the torch function.

    Per location: loss = -sum_c a_c (1 - p_c)**gamma log p_c with a_c = alpha_c w_c t_c, and
    dloss/dx_j = -sum_c a_c f'_c (delta_cj - p_j), where
    f'_c = (1 - p_c)**gamma - gamma p_c (1 - p_c)**(gamma - 1) log p_c.
    log(1 - p_c) is taken as logsumexp over the other classes minus logsumexp over all.
    """
    x = np.moveaxis(np.asarray(input, dtype=np.float64), class_dim, -1)
    num_classes = x.shape[-1]
    target_array = np.asarray(target)
    shift = x - x.max(axis=-1, keepdims=True)
    log_z = np.log(np.exp(shift).sum(axis=-1, keepdims=True))
    log_p = shift - log_z
    p = np.exp(log_p)
    log_1mp = np.empty_like(x)
    with np.errstate(divide="ignore"):
        for c in range(num_classes):
            others = np.delete(shift, c, axis=-1)
            log_1mp[..., c] = np.log(np.exp(others).sum(axis=-1)) - log_z[..., 0]

    if np.issubdtype(target_array.dtype, np.floating):
        t = np.moveaxis(target_array.astype(np.float64), class_dim, -1)
        t = t * (1.0 - label_smoothing) + label_smoothing / num_classes
        valid = np.ones(x.shape[:-1])
        counted_weight = valid.copy()
    else:
        valid = (target_array != ignore_index).astype(np.float64)
        safe = np.where(target_array == ignore_index, 0, target_array)
        one_hot = np.eye(num_classes)[safe]
        t = (one_hot * (1.0 - label_smoothing) + label_smoothing / num_classes) * valid[..., None]
        class_w = np.ones(num_classes) if weight is None else np.asarray(weight, np.float64)
        counted_weight = class_w[safe] * valid
    a = t.copy()
    if alpha is not None:
        a = a * np.asarray(alpha, dtype=np.float64)
    if weight is not None:
        a = a * np.asarray(weight, dtype=np.float64)

    modulator = np.exp(gamma * log_1mp) if gamma else np.ones_like(x)
    loss = -(a * modulator * log_p).sum(axis=-1)
    if gamma:
        with np.errstate(divide="ignore", invalid="ignore"):
            # p (1-p)^(gamma-1) (-log p) in logs; -log p = 0 gives exactly 0.
            tail = np.exp(log_p + (gamma - 1.0) * log_1mp + np.log(-log_p))
        tail = np.where(log_p == 0, 0.0, tail)
        f_prime = modulator + gamma * tail
    else:
        f_prime = np.ones_like(x)
    weighted = a * f_prime
    grad = -weighted + p * weighted.sum(axis=-1, keepdims=True)

    upstream = np.ones(()) if grad_output is None else np.asarray(grad_output, np.float64)
    if reduction == "none":
        return loss, np.moveaxis(grad * np.expand_dims(upstream, -1), -1, class_dim)
    if reduction == "sum":
        divisor = 1.0
    elif reduction == "mean":
        total = float(counted_weight.sum())
        divisor = total if total > 0 else 1.0
    else:
        raise ValueError(f"reduction must be a known reduction; got {reduction!r}")
    return np.asarray(loss.sum() / divisor), np.moveaxis(grad * upstream / divisor, -1, class_dim)
