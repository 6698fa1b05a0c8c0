"""NumPy float64 reference implementations: forward value and analytic input gradient.

These are the test oracle, written from the formulas in docs/math.md (the focal losses and
the focal family: FL*, asymmetric, Poly-1, varifocal, quality focal and distribution focal
losses, each restated in its function's docstring). They share no code with
``torchfocal.losses``, and favour plainness over speed or memory. Each function takes
array-likes, works in float64, and returns ``(loss, grad)`` where ``grad`` is
d(loss)/d(input) contracted with ``grad_output`` (ones by default), in the input's shape.
Every logarithm of a probability is a log-sigmoid or log-softmax of the logits and every
power ``q**gamma`` is ``exp(gamma log q)``, so both stay finite for ``|x|`` up to 1e4. Up to
float64's largest logits the oracle is right too: a log-probability below -finfo.max is
-inf (its rounded value) and its products are formed from finite terms, FL*'s ``gamma x``
is not formed where it overflows, and a loss beyond the float64 range is inf.
tests/test_extremes.py holds these against the textbook formulas in 340-digit arithmetic.
Where a target is a class index equal to ``ignore_index`` the location contributes 0 and is
not counted by ``"mean"``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

Array = NDArray[np.float64]
#: A focal ``gamma``: a number, ``"flsd53"``, or a function of the probabilities (docs/math.md,
#: "Sample-dependent gamma"); sample-dependent values are constants in the gradient.
Gamma = float | str | Callable[[Array], ArrayLike]


def _log_sigmoid(x: Array) -> Array:
    # log(1 / (1 + e^-x)) = -log(1 + e^-x), evaluated without overflow by logaddexp.
    return -np.logaddexp(0.0, -x)


def _logsumexp(a: Array, axis: int = -1) -> Array:
    """log(sum(exp(a))) along ``axis`` (dropped); -inf where every term is -inf."""
    top = a.max(axis=axis, keepdims=True)
    safe_top = np.where(np.isfinite(top), top, 0.0)
    with np.errstate(divide="ignore"):
        out = np.log(np.exp(a - safe_top).sum(axis=axis, keepdims=True)) + safe_top
    return np.asarray(np.squeeze(out, axis=axis), dtype=np.float64)


def _log_softmax(x: Array) -> Array:
    """log p over the last axis.

    -inf where a logit lies more than the float range below the largest one (x_c - max
    overflows): the true log p_c is then below -finfo.max, so -inf is its rounded value.
    """
    with np.errstate(over="ignore"):
        shift = x - x.max(axis=-1, keepdims=True)
    return np.asarray(shift - np.log(np.exp(shift).sum(axis=-1, keepdims=True)), np.float64)


def _weighted_log_softmax(weight: Array, x: Array) -> Array:
    """weight * log p over the last axis, for weight >= 0, without 0 * (-inf).

    Where log p_c is -inf (see _log_softmax) the product is weight * (x_c - logsumexp(x)),
    taken as weight x_c - weight logsumexp(x): both terms are finite, and so is their
    difference when weight is small enough (0 for weight 0). Elsewhere weight * log p_c.
    """
    log_p = _log_softmax(x)
    log_z = _logsumexp(x)[..., None]
    weight = np.broadcast_to(weight, np.broadcast_shapes(np.shape(weight), x.shape))
    with np.errstate(over="ignore", invalid="ignore"):
        far = weight * x - weight * log_z
        out = np.where(np.isneginf(log_p), far, weight * log_p)
    return np.asarray(out, dtype=np.float64)


def _focal_slope_tail(log_p: Array, log_1mp: Array, gamma: float | Array) -> Array:
    """p (1 - p)^(gamma - 1) (-log p), the modulator's share of d(m log p)/dlog p, in logs.

    0 where p is 1 (-log p = 0) and where p is 0 (log p = -inf, the limit of p log p).
    """
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        tail = np.exp(log_p + (gamma - 1.0) * log_1mp + np.log(-log_p))
    return np.asarray(np.where((log_p == 0) | np.isneginf(log_p), 0.0, tail), dtype=np.float64)


def _log_one_minus_softmax(x: Array) -> Array:
    """log(1 - p_c) over the last axis: logsumexp of the other logits minus logsumexp of all.

    No cancellation, and finite for finite logits (-inf only with a single class). Both are
    taken of the logits less their maximum: at |x| ~ 1e38 an unshifted logsumexp rounds
    log(sum) away (x_max + log 2 == x_max in float64).
    """
    with np.errstate(over="ignore"):
        shifted = x - x.max(axis=-1, keepdims=True)
    log_z = _logsumexp(shifted)
    out = np.full_like(x, -np.inf)
    for c in range(x.shape[-1]):
        others = np.delete(shifted, c, axis=-1)
        if others.shape[-1]:
            out[..., c] = _logsumexp(others) - log_z
    return out


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


def _sigmoid_inputs(
    input: ArrayLike, target: ArrayLike, class_dim: int, ignore_index: int
) -> tuple[Array, Array, Array, int]:
    """(x, y, valid, class_dim) for the sigmoid target forms; y before label smoothing."""
    x = np.asarray(input, dtype=np.float64)
    class_dim = class_dim % x.ndim if x.ndim else 0
    y, valid = _dense_targets(np.asarray(target), x.shape, class_dim, ignore_index)
    return x, y, valid, class_dim


def _alpha_t(alpha: float | ArrayLike | None, y: Array, ndim: int, class_dim: int) -> Array:
    """alpha y + (1 - alpha)(1 - y); 1 when alpha is None. alpha may hold one value per class."""
    if alpha is None:
        return np.ones(())
    a = _per_class(alpha, ndim, class_dim) if np.ndim(alpha) else float(alpha)  # type: ignore[arg-type]
    return np.asarray(a * y + (1.0 - a) * (1.0 - y), dtype=np.float64)


def _softmax_targets(
    target: NDArray[Any],
    class_dim: int,
    num_classes: int,
    ignore_index: int,
    label_smoothing: float,
) -> tuple[Array, Array]:
    """(t, valid) with the class axis last: smoothed one-hot of index targets (zero where
    ignored) or given probabilities; valid has the location shape."""
    if np.issubdtype(target.dtype, np.floating):
        t = np.moveaxis(target.astype(np.float64), class_dim, -1)
        t = t * (1.0 - label_smoothing) + label_smoothing / num_classes
        return t, np.ones(t.shape[:-1])
    valid = (target != ignore_index).astype(np.float64)
    safe = np.where(target == ignore_index, 0, target)
    one_hot = np.eye(num_classes)[safe]
    t = (one_hot * (1.0 - label_smoothing) + label_smoothing / num_classes) * valid[..., None]
    return t, valid


def _sample_gamma(gamma: str | Callable[[Array], ArrayLike], prob: Array) -> Array:
    """Per-element gamma: "flsd53" (5 where prob < 0.2, else 3) or a callable of ``prob``."""
    if isinstance(gamma, str):
        if gamma != "flsd53":
            raise ValueError(f"gamma must be a number, 'flsd53' or a callable; got {gamma!r}")
        return np.where(prob < 0.2, 5.0, 3.0).astype(np.float64)
    if callable(gamma):
        values = np.asarray(gamma(prob), dtype=np.float64)
        values = np.broadcast_to(values, prob.shape).astype(np.float64)
        if not (np.isfinite(values).all() and (values >= 0).all()):
            raise ValueError("a callable gamma must return finite values >= 0")
        return values
    raise TypeError(f"gamma must be a number, 'flsd53' or a callable; got {gamma!r}")


def _check_reduction(reduction: str, allowed: tuple[str, ...]) -> None:
    if reduction not in allowed:
        raise ValueError(f"reduction must be one of {allowed}; got {reduction!r}")


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


def _reduce_locations(
    loss: Array,
    grad: Array,
    *,
    class_dim: int,
    reduction: str,
    count: float,
    avg_factor: float | None,
    grad_output: ArrayLike | None,
) -> tuple[Array, Array]:
    """Reduce a per-location loss whose gradient has the class axis last; move it back."""
    _check_reduction(reduction, ("none", "mean", "sum"))
    upstream = np.ones(()) if grad_output is None else np.asarray(grad_output, np.float64)
    if reduction == "none":
        return loss, np.moveaxis(grad * np.expand_dims(upstream, -1), -1, class_dim)
    if reduction == "sum":
        divisor = 1.0
    else:
        divisor = float(avg_factor) if avg_factor is not None else max(count, 1.0)
    return np.asarray(loss.sum() / divisor), np.moveaxis(grad * upstream / divisor, -1, class_dim)


def sigmoid_focal_loss(
    input: ArrayLike,
    target: ArrayLike,
    *,
    alpha: float | ArrayLike | None = 0.25,
    gamma: Gamma = 2.0,
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
    gamma "flsd53" is 5 where p_t < 0.2 else 3; a callable gets p_t (after label smoothing,
    input's shape). Either way gamma is a per-element constant in the gradient.
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
    g: float | Array
    if isinstance(gamma, float | int):
        g = float(gamma)
    else:
        g = _sample_gamma(gamma, p * y + one_minus_p * (1.0 - y))
    if isinstance(g, float) and g == 0.0:
        modulator = np.ones(shape)
        d_modulator = np.zeros(shape)
    else:
        # gamma = 0 elements of a sample-dependent gamma: modulator 1, derivative 0.
        modulator = np.where(g == 0.0, 1.0, np.exp(g * log_q))
        # gamma q^(gamma-1) p (1-p) as one exponential: finite even where q underflows.
        d_modulator = g * np.exp((g - 1.0) * log_q + log_p + log_1mp) * (1.0 - 2.0 * y)
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
    gamma: Gamma = 2.0,
    weight: ArrayLike | None = None,
    ignore_index: int = -100,
    label_smoothing: float = 0.0,
    class_dim: int = 1,
    reduction: str = "mean",
    grad_output: ArrayLike | None = None,
) -> tuple[Array, Array]:
    """Softmax focal loss and its gradient; same arguments as the torch function.

    Per location: loss = -sum_c a_c (1 - p_c)**gamma_c log p_c with a_c = alpha_c w_c t_c, and
    dloss/dx_j = -sum_c a_c f'_c (delta_cj - p_j), where
    f'_c = (1 - p_c)**gamma_c - gamma_c p_c (1 - p_c)**(gamma_c - 1) log p_c.
    log(1 - p_c) is taken as logsumexp over the other classes minus logsumexp over all.
    gamma_c is gamma, or for "flsd53" / a callable its value at p_c (the callable gets the
    probabilities in the input's layout); it is a constant in the gradient.
    """
    x = np.moveaxis(np.asarray(input, dtype=np.float64), class_dim, -1)
    num_classes = x.shape[-1]
    target_array = np.asarray(target)
    log_p = _log_softmax(x)
    p = np.exp(log_p)
    log_1mp = _log_one_minus_softmax(x)

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

    g: float | Array
    if isinstance(gamma, float | int):
        g = float(gamma)
    else:
        g = np.moveaxis(_sample_gamma(gamma, np.moveaxis(p, -1, class_dim)), class_dim, -1)
    if isinstance(g, float) and g == 0.0:
        modulator = np.ones_like(x)
        f_prime = np.ones_like(x)
    else:
        with np.errstate(invalid="ignore"):
            modulator = np.where(g == 0.0, 1.0, np.exp(g * log_1mp))
        f_prime = modulator + g * _focal_slope_tail(log_p, log_1mp, g)
    loss = -_weighted_log_softmax(a * modulator, x).sum(axis=-1)
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


def sigmoid_focal_loss_star(
    input: ArrayLike,
    target: ArrayLike,
    *,
    gamma: float = 2.0,
    beta: float = 1.0,
    alpha: float | ArrayLike | None = None,
    weight: ArrayLike | None = None,
    ignore_index: int = -100,
    class_dim: int = 1,
    reduction: str = "mean",
    avg_factor: float | None = None,
    grad_output: ArrayLike | None = None,
) -> tuple[Array, Array]:
    """FL* (Lin et al. 2017, appendix A) and its gradient.

    s = 2y - 1, z = gamma s x + beta, loss = w alpha_t softplus(-z) / gamma
    (= -log sigmoid(z) / gamma), dloss/dx = -w alpha_t s sigmoid(-z). gamma > 0.
    Where gamma s x exceeds the float range the loss is max(-(s x + beta / gamma), 0).
    """
    if not gamma > 0:
        raise ValueError(f"FL* needs gamma > 0; got {gamma!r}")
    x, y, valid, class_dim = _sigmoid_inputs(input, target, class_dim, ignore_index)
    w = valid if weight is None else valid * np.asarray(weight, dtype=np.float64)
    alpha_t = _alpha_t(alpha, y, x.ndim, class_dim)
    s = 2.0 * y - 1.0
    with np.errstate(over="ignore"):
        z = gamma * s * x + beta
    # Where gamma s x overflows, |z| is far beyond exp's range: softplus(-z) = max(-z, 0)
    # exactly, and max(-z, 0) / gamma = max(-(s x + beta / gamma), 0) forms no such product.
    saturated = np.maximum(-(s * x + beta / gamma), 0.0)
    loss = w * alpha_t * np.where(np.isfinite(z), np.logaddexp(0.0, -z) / gamma, saturated)
    grad = -w * alpha_t * s * np.exp(_log_sigmoid(-z))
    return _reduce(
        np.broadcast_to(loss, x.shape).astype(np.float64),
        np.broadcast_to(grad, x.shape).astype(np.float64),
        reduction=reduction,
        count=float(valid.sum()),
        positive_mass=float((y * valid).sum()),
        avg_factor=avg_factor,
        grad_output=grad_output,
    )


def asymmetric_loss(
    input: ArrayLike,
    target: ArrayLike,
    *,
    gamma_pos: float = 0.0,
    gamma_neg: float = 4.0,
    clip: float = 0.05,
    weight: ArrayLike | None = None,
    ignore_index: int = -100,
    class_dim: int = 1,
    reduction: str = "mean",
    avg_factor: float | None = None,
    grad_output: ArrayLike | None = None,
) -> tuple[Array, Array]:
    """Asymmetric loss (Ridnik et al. 2021) and its gradient.

    p_m = max(p - clip, 0), u = 1 - p_m = min(1 - p + clip, 1);
    L+ = (1 - p)**gamma_pos (-log p), L- = p_m**gamma_neg (-log u), loss = w (y L+ + (1-y) L-).
    dL+/dx = -(1 - p)**gamma_pos (gamma_pos p (-log p) + 1 - p);
    dL-/dx = p (1 - p) (gamma_neg p_m**(gamma_neg - 1) (-log u) + p_m**gamma_neg / u) where
    p > clip, else 0 (also at the kink p = clip); for clip = 0 it is
    p**gamma_neg (gamma_neg (1 - p) (-log(1 - p)) + p).
    """
    if not 0.0 <= clip < 1.0:
        raise ValueError(f"clip must be in [0, 1); got {clip!r}")
    x, y, valid, class_dim = _sigmoid_inputs(input, target, class_dim, ignore_index)
    w = valid if weight is None else valid * np.asarray(weight, dtype=np.float64)
    log_p, log_1mp = _log_sigmoid(x), _log_sigmoid(-x)
    p, one_minus_p = np.exp(log_p), np.exp(log_1mp)

    m_pos = np.exp(gamma_pos * log_1mp) if gamma_pos else np.ones_like(x)
    loss_pos = m_pos * -log_p
    grad_pos = -m_pos * (gamma_pos * p * -log_p + one_minus_p)

    if clip == 0.0:
        m_neg = np.exp(gamma_neg * log_p) if gamma_neg else np.ones_like(x)
        loss_neg = m_neg * -log_1mp
        grad_neg = m_neg * (gamma_neg * one_minus_p * -log_1mp + p)
    else:
        active = p > clip
        p_m = np.where(active, p - clip, 0.5)  # 0.5: any safe value where inactive
        u = np.minimum(one_minus_p + clip, 1.0)
        # -log u: log1p(-p_m) is accurate for small p_m, log(u) for u near clip.
        neg_log_u = np.where(p_m < 0.5, -np.log1p(-p_m), -np.log(u))
        log_pm = np.log(p_m)
        m_neg = np.exp(gamma_neg * log_pm) if gamma_neg else np.ones_like(x)
        d_neg = m_neg / u
        if gamma_neg:
            d_neg = d_neg + gamma_neg * np.exp((gamma_neg - 1.0) * log_pm) * neg_log_u
        loss_neg = np.where(active, m_neg * neg_log_u, 0.0)
        grad_neg = np.where(active, np.exp(log_p + log_1mp) * d_neg, 0.0)

    loss = w * (y * loss_pos + (1.0 - y) * loss_neg)
    grad = w * (y * grad_pos + (1.0 - y) * grad_neg)
    return _reduce(
        np.broadcast_to(loss, x.shape).astype(np.float64),
        np.broadcast_to(grad, x.shape).astype(np.float64),
        reduction=reduction,
        count=float(valid.sum()),
        positive_mass=float((y * valid).sum()),
        avg_factor=avg_factor,
        grad_output=grad_output,
    )


def poly1_focal_loss(
    input: ArrayLike,
    target: ArrayLike,
    *,
    epsilon: float = 1.0,
    gamma: float = 2.0,
    alpha: float | ArrayLike | None = None,
    activation: str = "sigmoid",
    weight: ArrayLike | None = None,
    ignore_index: int = -100,
    label_smoothing: float = 0.0,
    class_dim: int = 1,
    reduction: str = "mean",
    avg_factor: float | None = None,
    grad_output: ArrayLike | None = None,
) -> tuple[Array, Array]:
    """Poly-1 focal loss (Leng et al. 2022) and its gradient.

    Sigmoid, per element (targets and reductions as sigmoid_focal_loss, no pos_weight)::

        loss = w (alpha_t q**gamma bce + epsilon q**(gamma + 1)), q = 1 - p_t,
        d/dx = w (alpha_t (gamma q**(gamma-1) bce dq/dx + q**gamma (p - y))
                  + epsilon (gamma + 1) q**gamma dq/dx),  dq/dx = (1 - 2y) p (1 - p).

    Softmax, per location (weight and avg_factor are not accepted)::

        loss = -sum_c alpha_c t_c (1 - p_c)**gamma log p_c + epsilon (1 - P_t)**(gamma + 1),
        P_t = sum_c t_c p_c, d(1 - P_t)/dx_j = -p_j (t_j - P_t).

    1 - P_t is summed as sum_c p_c (1 - t_c) and t_j - P_t as sum_c p_c (t_j - t_c), without
    cancellation.
    """
    if activation == "sigmoid":
        return _poly1_sigmoid(
            input,
            target,
            epsilon=epsilon,
            gamma=gamma,
            alpha=alpha,
            weight=weight,
            ignore_index=ignore_index,
            label_smoothing=label_smoothing,
            class_dim=class_dim,
            reduction=reduction,
            avg_factor=avg_factor,
            grad_output=grad_output,
        )
    if activation == "softmax":
        if weight is not None or avg_factor is not None:
            raise ValueError("weight and avg_factor apply to the sigmoid activation only")
        return _poly1_softmax(
            input,
            target,
            epsilon=epsilon,
            gamma=gamma,
            alpha=alpha,
            ignore_index=ignore_index,
            label_smoothing=label_smoothing,
            class_dim=class_dim,
            reduction=reduction,
            grad_output=grad_output,
        )
    raise ValueError(f"activation must be 'sigmoid' or 'softmax'; got {activation!r}")


def poly1_cross_entropy(
    input: ArrayLike,
    target: ArrayLike,
    *,
    epsilon: float = 1.0,
    activation: str = "softmax",
    weight: ArrayLike | None = None,
    ignore_index: int = -100,
    label_smoothing: float = 0.0,
    class_dim: int = 1,
    reduction: str = "mean",
    avg_factor: float | None = None,
    grad_output: ArrayLike | None = None,
) -> tuple[Array, Array]:
    """Poly-1 cross-entropy: poly1_focal_loss with gamma = 0 and alpha = None."""
    return poly1_focal_loss(
        input,
        target,
        epsilon=epsilon,
        gamma=0.0,
        alpha=None,
        activation=activation,
        weight=weight,
        ignore_index=ignore_index,
        label_smoothing=label_smoothing,
        class_dim=class_dim,
        reduction=reduction,
        avg_factor=avg_factor,
        grad_output=grad_output,
    )


def _poly1_sigmoid(
    input: ArrayLike,
    target: ArrayLike,
    *,
    epsilon: float,
    gamma: float,
    alpha: float | ArrayLike | None,
    weight: ArrayLike | None,
    ignore_index: int,
    label_smoothing: float,
    class_dim: int,
    reduction: str,
    avg_factor: float | None,
    grad_output: ArrayLike | None,
) -> tuple[Array, Array]:
    x, y, valid, class_dim = _sigmoid_inputs(input, target, class_dim, ignore_index)
    positive_mass = float((y * valid).sum())
    y = y * (1.0 - label_smoothing) + label_smoothing / 2.0
    w = valid if weight is None else valid * np.asarray(weight, dtype=np.float64)
    alpha_t = _alpha_t(alpha, y, x.ndim, class_dim)
    log_p, log_1mp = _log_sigmoid(x), _log_sigmoid(-x)
    p = np.exp(log_p)
    bce = -(y * log_p + (1.0 - y) * log_1mp)
    with np.errstate(divide="ignore"):
        log_q = np.logaddexp(np.log(y) + log_1mp, np.log(1.0 - y) + log_p)
    sign = 1.0 - 2.0 * y  # dq/dx = sign p (1 - p)
    if gamma:
        q_gamma = np.exp(gamma * log_q)
        d_q_gamma = gamma * np.exp((gamma - 1.0) * log_q + log_p + log_1mp) * sign
    else:
        q_gamma, d_q_gamma = np.ones_like(x), np.zeros_like(x)
    poly = epsilon * np.exp((gamma + 1.0) * log_q)
    d_poly = epsilon * (gamma + 1.0) * np.exp(gamma * log_q + log_p + log_1mp) * sign
    loss = w * (alpha_t * q_gamma * bce + poly)
    grad = w * (alpha_t * (d_q_gamma * bce + q_gamma * (p - y)) + d_poly)
    return _reduce(
        np.broadcast_to(loss, x.shape).astype(np.float64),
        np.broadcast_to(grad, x.shape).astype(np.float64),
        reduction=reduction,
        count=float(valid.sum()),
        positive_mass=positive_mass,
        avg_factor=avg_factor,
        grad_output=grad_output,
    )


def _poly1_softmax(
    input: ArrayLike,
    target: ArrayLike,
    *,
    epsilon: float,
    gamma: float,
    alpha: float | ArrayLike | None,
    ignore_index: int,
    label_smoothing: float,
    class_dim: int,
    reduction: str,
    grad_output: ArrayLike | None,
) -> tuple[Array, Array]:
    x = np.moveaxis(np.asarray(input, dtype=np.float64), class_dim, -1)
    num_classes = x.shape[-1]
    t, valid = _softmax_targets(
        np.asarray(target), class_dim, num_classes, ignore_index, label_smoothing
    )
    log_p = _log_softmax(x)
    log_1mp = _log_one_minus_softmax(x)
    p = np.exp(log_p)
    a = t if alpha is None else t * np.asarray(alpha, dtype=np.float64)

    if gamma:
        modulator = np.exp(gamma * log_1mp)
        f_prime = modulator + gamma * _focal_slope_tail(log_p, log_1mp, gamma)
    else:
        modulator, f_prime = np.ones_like(x), np.ones_like(x)
    focal = -_weighted_log_softmax(a * modulator, x).sum(axis=-1)
    weighted = a * f_prime
    d_focal = -weighted + p * weighted.sum(axis=-1, keepdims=True)

    with np.errstate(divide="ignore"):
        log_one_minus_pt = _logsumexp(log_p + np.log1p(-t))  # log sum_c p_c (1 - t_c)
    t_minus_pt = (p[..., None, :] * (t[..., :, None] - t[..., None, :])).sum(axis=-1)
    poly = epsilon * np.exp((gamma + 1.0) * log_one_minus_pt)
    d_poly = -epsilon * (gamma + 1.0) * np.exp(gamma * log_one_minus_pt)[..., None] * p * t_minus_pt

    loss = valid * (focal + poly)
    grad = valid[..., None] * (d_focal + d_poly)
    return _reduce_locations(
        loss,
        grad,
        class_dim=class_dim,
        reduction=reduction,
        count=float(valid.sum()),
        avg_factor=None,
        grad_output=grad_output,
    )


def varifocal_loss(
    input: ArrayLike,
    target_score: ArrayLike,
    *,
    alpha: float = 0.75,
    gamma: float = 2.0,
    iou_weighted: bool = True,
    weight: ArrayLike | None = None,
    reduction: str = "mean",
    avg_factor: float | None = None,
    grad_output: ArrayLike | None = None,
) -> tuple[Array, Array]:
    """Varifocal loss (Zhang et al. 2021, mmdet semantics) and its gradient.

    Positives (q > 0): loss = w s bce(x, q), grad = w s (p - q), s = q if iou_weighted else 1.
    Negatives (q = 0): loss = w alpha p**gamma (-log(1 - p)),
    grad = w alpha p**gamma (gamma (1 - p) (-log(1 - p)) + p).
    Reductions none / mean (over every element, or / avg_factor) / sum.
    """
    _check_reduction(reduction, ("none", "mean", "sum"))
    x = np.asarray(input, dtype=np.float64)
    q = np.broadcast_to(np.asarray(target_score, dtype=np.float64), x.shape)
    w = np.ones(()) if weight is None else np.asarray(weight, dtype=np.float64)
    log_p, log_1mp = _log_sigmoid(x), _log_sigmoid(-x)
    p, one_minus_p = np.exp(log_p), np.exp(log_1mp)

    scale = q if iou_weighted else np.ones_like(q)
    loss_pos = scale * -(q * log_p + (1.0 - q) * log_1mp)
    grad_pos = scale * (p - q)
    p_gamma = np.exp(gamma * log_p) if gamma else np.ones_like(x)
    loss_neg = alpha * p_gamma * -log_1mp
    grad_neg = alpha * p_gamma * (gamma * one_minus_p * -log_1mp + p)
    positive = q > 0
    loss = w * np.where(positive, loss_pos, loss_neg)
    grad = w * np.where(positive, grad_pos, grad_neg)
    return _reduce(
        np.broadcast_to(loss, x.shape).astype(np.float64),
        np.broadcast_to(grad, x.shape).astype(np.float64),
        reduction=reduction,
        count=float(x.size),
        positive_mass=0.0,
        avg_factor=avg_factor,
        grad_output=grad_output,
    )


def quality_focal_loss(
    input: ArrayLike,
    target_score: ArrayLike,
    *,
    beta: float = 2.0,
    weight: ArrayLike | None = None,
    reduction: str = "mean",
    avg_factor: float | None = None,
    grad_output: ArrayLike | None = None,
) -> tuple[Array, Array]:
    """Quality focal loss (Li et al. 2020, GFL) and its gradient.

    ::

        loss = w |q - p|**beta bce(x, q),
        grad = w (beta |p - q|**(beta-1) sign(p - q) p (1 - p) bce + |p - q|**beta (p - q)),

    the first term 0 where p == q and for beta = 0 (then ``|p - q|**0 = 1``: BCE). p - q is
    taken as (1 - q) - (1 - p) for q >= 0.5, exact at q = 1.
    Reductions none / mean (over every element, or / avg_factor) / sum.
    """
    _check_reduction(reduction, ("none", "mean", "sum"))
    x = np.asarray(input, dtype=np.float64)
    q = np.broadcast_to(np.asarray(target_score, dtype=np.float64), x.shape)
    w = np.ones(()) if weight is None else np.asarray(weight, dtype=np.float64)
    log_p, log_1mp = _log_sigmoid(x), _log_sigmoid(-x)
    p, one_minus_p = np.exp(log_p), np.exp(log_1mp)
    bce = -(q * log_p + (1.0 - q) * log_1mp)
    d = np.where(q >= 0.5, (1.0 - q) - one_minus_p, p - q)  # p - q
    if beta:
        nonzero = d != 0
        log_abs_d = np.log(np.where(nonzero, np.abs(d), 1.0))
        modulator = np.where(nonzero, np.exp(beta * log_abs_d), 0.0)
        d_modulator = np.where(
            nonzero, beta * np.exp((beta - 1.0) * log_abs_d + log_p + log_1mp) * np.sign(d), 0.0
        )
    else:
        modulator, d_modulator = np.ones_like(x), np.zeros_like(x)
    loss = w * modulator * bce
    grad = w * (d_modulator * bce + modulator * d)
    return _reduce(
        np.broadcast_to(loss, x.shape).astype(np.float64),
        np.broadcast_to(grad, x.shape).astype(np.float64),
        reduction=reduction,
        count=float(x.size),
        positive_mass=0.0,
        avg_factor=avg_factor,
        grad_output=grad_output,
    )


def distribution_focal_loss(
    input: ArrayLike,
    target: ArrayLike,
    *,
    weight: ArrayLike | None = None,
    class_dim: int = -1,
    reduction: str = "mean",
    avg_factor: float | None = None,
    grad_output: ArrayLike | None = None,
) -> tuple[Array, Array]:
    """Distribution focal loss (Li et al. 2020, GFL) and its gradient.

    Over n + 1 bins along class_dim, target y in [0, n]: l = min(floor(y), n - 1), r = l + 1,
    two-hot t with r - y at l and y - l at r; loss = -w sum_j t_j log S_j (S = softmax),
    grad_j = w (S_j - t_j). weight has the location shape (input's without class_dim).
    Reductions none / mean (over locations, or / avg_factor) / sum.
    """
    x = np.moveaxis(np.asarray(input, dtype=np.float64), class_dim, -1)
    n = x.shape[-1] - 1
    y = np.asarray(target, dtype=np.float64)
    left = np.minimum(np.floor(y), n - 1).astype(np.int64)
    t = np.zeros_like(x)
    np.put_along_axis(t, left[..., None], (left + 1 - y)[..., None], axis=-1)
    np.put_along_axis(t, left[..., None] + 1, (y - left)[..., None], axis=-1)
    log_s = _log_softmax(x)
    w = (
        np.ones(y.shape)
        if weight is None
        else np.broadcast_to(np.asarray(weight, np.float64), y.shape)
    )
    loss = -w * _weighted_log_softmax(t, x).sum(axis=-1)
    grad = w[..., None] * (np.exp(log_s) - t)
    return _reduce_locations(
        loss,
        grad,
        class_dim=class_dim,
        reduction=reduction,
        count=float(y.size),
        avg_factor=avg_factor,
        grad_output=grad_output,
    )


# -- long-tail softmax losses: logit adjustment (balanced softmax) and LDAM --------------------


def _affine_log_softmax(x: Array, scale: float, bias: Array, a: Array) -> tuple[Array, Array]:
    """(log p, sum_c a_c log p_c) of the logits z = scale x + bias over the last axis, for
    a_c >= 0, finite wherever the true values are.

    z is formed as scale (x - M) + bias, M the row's largest x, which is the same softmax:
    scale x overflows from |x| = finfo.max / scale, and x + bias rounds the bias to x's ulp
    (all of it at finfo.max), while x - M is exact near the maximum, where the
    probabilities are. An entry more than the float range below the top has z = -inf
    (log p_c = -inf, its rounded value, and p_c = 0); its product a_c log p_c is formed
    from finite terms, a_c s (x_c - M) + a_c b_c - a_c log Z (a_c s x_c - a_c s M where
    x_c - M itself overflows: then x_c < 0 < M, so the two never make inf - inf), which is
    0 for a_c = 0 and finite wherever the true product is.
    """
    top = x.max(axis=-1, keepdims=True)
    with np.errstate(over="ignore"):
        gap = x - top  # <= 0; -inf past the float range
        z = scale * gap + bias
    log_z = _logsumexp(z)[..., None]  # >= the top entry's bias: finite
    log_p = z - log_z
    with np.errstate(over="ignore", invalid="ignore"):  # the branches not taken
        weighted = a * scale
        scaled_gap = np.where(np.isneginf(gap), weighted * x - weighted * top, weighted * gap)
        far = scaled_gap + a * bias - a * log_z
        terms = np.where(np.isneginf(log_p), far, a * log_p)
    return log_p, np.asarray(terms.sum(axis=-1), dtype=np.float64)


def _cross_entropy(
    x: Array,
    target: NDArray[Any],
    *,
    scale: float = 1.0,
    bias: Array,
    weight: ArrayLike | None,
    ignore_index: int,
    label_smoothing: float,
    class_dim: int,
    reduction: str,
    grad_output: ArrayLike | None,
) -> tuple[Array, Array]:
    """F.cross_entropy of the logits z = scale x + bias (class axis last; ``bias`` per class
    or per entry) and its gradient with respect to x.

    Per location, with p = softmax(z), t the (smoothed) one-hot of an index target or the
    (smoothed) probabilities, and a_c = w_c t_c: loss = -sum_c a_c log p_c and
    dloss/dx_j = scale (p_j sum_c a_c - a_j) (``_affine_log_softmax`` forms them). "mean"
    divides by the summed w_y of the counted index targets (by the number of locations for
    probabilities), and by 1 where that is 0.
    """
    num_classes = x.shape[-1]
    t, valid = _softmax_targets(target, class_dim, num_classes, ignore_index, label_smoothing)
    w = np.ones(num_classes) if weight is None else np.asarray(weight, dtype=np.float64)
    a = t * w
    log_p, weighted_log_p = _affine_log_softmax(x, scale, bias, a)
    loss = -weighted_log_p
    grad = scale * (np.exp(log_p) * a.sum(axis=-1, keepdims=True) - a)
    upstream = np.ones(()) if grad_output is None else np.asarray(grad_output, np.float64)
    if reduction == "none":
        return loss, np.moveaxis(grad * np.expand_dims(upstream, -1), -1, class_dim)
    if reduction == "sum":
        divisor = 1.0
    elif reduction == "mean":
        if np.issubdtype(target.dtype, np.floating):
            total = float(valid.sum())
        else:
            total = float((w[np.where(valid > 0, target, 0)] * valid).sum())
        divisor = total if total > 0 else 1.0
    else:
        raise ValueError(f"reduction must be a known reduction; got {reduction!r}")
    return np.asarray(loss.sum() / divisor), np.moveaxis(grad * upstream / divisor, -1, class_dim)


def logit_adjusted_cross_entropy(
    input: ArrayLike,
    target: ArrayLike,
    *,
    prior: ArrayLike,
    tau: float = 1.0,
    weight: ArrayLike | None = None,
    ignore_index: int = -100,
    label_smoothing: float = 0.0,
    class_dim: int = 1,
    reduction: str = "mean",
    grad_output: ArrayLike | None = None,
) -> tuple[Array, Array]:
    """Logit-adjusted cross-entropy (Menon et al. 2021; balanced softmax at tau = 1).

    pi = prior / sum(prior), z_c = x_c + tau log pi_c, loss = F.cross_entropy(z, target) with
    its options; z - x does not depend on x, so dloss/dx = dloss/dz = p(z) sum_c a_c - a.
    (z is formed after the row's largest logit is taken off: ``_affine_log_softmax``.)
    """
    x = np.moveaxis(np.asarray(input, dtype=np.float64), class_dim, -1)
    log_prior = np.log(np.asarray(prior, dtype=np.float64))
    # log(pi) = log(prior) - log(sum(prior)), in logs: a tiny prior over a huge sum is no 0
    return _cross_entropy(
        x,
        np.asarray(target),
        bias=tau * (log_prior - _logsumexp(log_prior)),
        weight=weight,
        ignore_index=ignore_index,
        label_smoothing=label_smoothing,
        class_dim=class_dim,
        reduction=reduction,
        grad_output=grad_output,
    )


def _class_balanced_loss(
    input: ArrayLike,
    target: ArrayLike,
    *,
    weight: ArrayLike,
    loss: str = "focal",
    gamma: float | None = None,
    ignore_index: int = -100,
    class_dim: int = 1,
    reduction: str = "mean",
    grad_output: ArrayLike | None = None,
) -> tuple[Array, Array]:
    """Class-balanced loss (Cui et al. 2019) and its gradient: another loss of this module
    with the class weight w_y of each sample, as the torch function calls it (private: a
    composition of the public oracles, the registry's ``reference`` of the loss).

    "focal" / "sigmoid": the sigmoid focal loss (gamma 2 / 0, alpha None) with weight w_y on
    every class of the sample and "mean" over the counted samples; "softmax": the softmax
    focal loss (gamma 0 unless given) with alpha = w.
    """
    if gamma is None:
        gamma = 2.0 if loss == "focal" else 0.0
    x = np.asarray(input, dtype=np.float64)
    dim = class_dim % x.ndim
    if loss == "softmax":
        return softmax_focal_loss(
            x,
            target,
            alpha=weight,
            gamma=gamma,
            ignore_index=ignore_index,
            class_dim=dim,
            reduction=reduction,
            grad_output=grad_output,
        )
    index = np.asarray(target).astype(np.int64)
    keep = index != ignore_index
    sample_weight = np.asarray(weight, dtype=np.float64)[np.where(keep, index, 0)] * keep
    return sigmoid_focal_loss(
        x,
        index,
        alpha=None,
        gamma=gamma,
        weight=np.expand_dims(sample_weight, dim),
        ignore_index=ignore_index,
        class_dim=dim,
        reduction=reduction,
        avg_factor=max(float(keep.sum()), 1.0) if reduction == "mean" else None,
        grad_output=grad_output,
    )


def ldam_loss(
    input: ArrayLike,
    target: ArrayLike,
    *,
    class_counts: ArrayLike,
    max_margin: float = 0.5,
    scale: float = 30.0,
    weight: ArrayLike | None = None,
    ignore_index: int = -100,
    class_dim: int = 1,
    reduction: str = "mean",
    grad_output: ArrayLike | None = None,
) -> tuple[Array, Array]:
    """LDAM (Cao et al. 2019) of index targets and its gradient.

    m_c = K n_c^(-1/4) with K such that max_c m_c = max_margin; z = s (x - m_y e_y) (no
    margin at ignored locations); loss = F.cross_entropy(z, target); dloss/dx = s dloss/dz.
    (z is formed after the row's largest logit is taken off: ``_affine_log_softmax``.)
    """
    x = np.moveaxis(np.asarray(input, dtype=np.float64), class_dim, -1)
    target_array = np.asarray(target)
    margins = np.asarray(class_counts, dtype=np.float64) ** -0.25
    margins = margins * (max_margin / margins.max())
    valid = target_array != ignore_index
    one_hot = np.eye(x.shape[-1])[np.where(valid, target_array, 0)] * valid[..., None]
    return _cross_entropy(
        x,
        target_array,
        scale=scale,
        bias=-scale * margins * one_hot,
        weight=weight,
        ignore_index=ignore_index,
        label_smoothing=0.0,
        class_dim=class_dim,
        reduction=reduction,
        grad_output=grad_output,
    )


def seesaw_loss(
    input: ArrayLike,
    target: ArrayLike,
    *,
    class_counts: ArrayLike,
    p: float = 0.8,
    q: float = 2.0,
    eps: float = 1e-2,
    ignore_index: int = -100,
    class_dim: int = 1,
    reduction: str = "mean",
    grad_output: ArrayLike | None = None,
) -> tuple[Array, Array]:
    """Seesaw loss (Wang et al. 2021) and its gradient, given the class counts.

    For a location of class i: N = max(counts, 1), log s = log_softmax(x) (a constant),
    log M_ij = p min(log N_j - log N_i, 0), log C_ij = q max(log s_j - max(log s_i, log eps), 0),
    z = x + log M_i. + log C_i. (z_i = x_i: both terms are 0 at j = i);
    loss = -log softmax(z)_i, d loss/dx = softmax(z) - onehot(i) (S is a constant of the
    gradient). Ignored locations give 0 and are not counted by "mean".
    """
    if not (p >= 0 and q >= 0 and 0 < eps <= 1):
        raise ValueError(f"seesaw needs p, q >= 0 and eps in (0, 1]; got {p!r}, {q!r}, {eps!r}")
    x = np.moveaxis(np.asarray(input, dtype=np.float64), class_dim, -1)
    num_classes = x.shape[-1]
    labels = np.asarray(target)
    valid = (labels != ignore_index).astype(np.float64)
    safe = np.where(labels == ignore_index, 0, labels).astype(np.int64)
    log_n = np.log(np.maximum(np.asarray(class_counts, dtype=np.float64), 1.0))
    if log_n.shape != (num_classes,):
        raise ValueError(f"class_counts must hold {num_classes} values; got {log_n.shape}")

    log_mitigation = p * np.minimum(log_n - log_n[safe][..., None], 0.0)
    log_s = _log_softmax(x)
    log_s_i = np.take_along_axis(log_s, safe[..., None], axis=-1)
    with np.errstate(invalid="ignore"):  # -inf log s_j: (-inf) - finite, then max with 0
        log_compensation = q * np.maximum(log_s - np.maximum(log_s_i, np.log(eps)), 0.0)
    z = x + log_mitigation + log_compensation
    log_pz = _log_softmax(z)
    one_hot = np.eye(num_classes)[safe]
    loss = np.where(valid > 0, -np.take_along_axis(log_pz, safe[..., None], axis=-1)[..., 0], 0.0)
    grad = (np.exp(log_pz) - one_hot) * valid[..., None]
    return _reduce_locations(
        loss,
        grad,
        class_dim=class_dim,
        reduction=reduction,
        count=float(valid.sum()),
        avg_factor=None,
        grad_output=grad_output,
    )


def equalization_loss_v2(
    input: ArrayLike,
    target: ArrayLike,
    *,
    pos_grad: ArrayLike,
    neg_grad: ArrayLike,
    gamma: float = 12.0,
    mu: float = 0.8,
    alpha: float = 4.0,
    reduction: str = "mean",
    grad_output: ArrayLike | None = None,
) -> tuple[Array, Array]:
    """Equalization loss v2 (Tan et al. 2021) and its gradient, given the statistics.

    x (N, C), target (N,) in [0, C] (C = background: no positive), y its one-hot.
    Per class, r = pos_grad / (neg_grad + 1e-10), f = 1 / (1 + exp(-gamma (r - mu)));
    w- = f and w+ = 1 + alpha (1 - f), both 1 for a class whose statistics are both 0.
    loss = w bce(x, y) with w = y w+ + (1 - y) w-, grad = w (sigmoid(x) - y);
    "mean" = sum / N (per row), "sum", "none" ((N, C)).
    """
    _check_reduction(reduction, ("none", "mean", "sum"))
    x = np.asarray(input, dtype=np.float64)
    num_rows, num_classes = x.shape
    y = (np.asarray(target)[:, None] == np.arange(num_classes)[None, :]).astype(np.float64)
    pos = np.asarray(pos_grad, dtype=np.float64)
    neg = np.asarray(neg_grad, dtype=np.float64)
    ratio = pos / (neg + 1e-10)
    # 1 / (1 + exp(-z)) as exp(-log(1 + exp(-z))): no overflow for very negative z.
    f = np.exp(-np.logaddexp(0.0, -gamma * (ratio - mu)))
    one_minus_f = np.exp(-np.logaddexp(0.0, gamma * (ratio - mu)))
    seen = (pos != 0) | (neg != 0)
    w_neg = np.where(seen, f, 1.0)
    w_pos = 1.0 + alpha * np.where(seen, one_minus_f, 0.0)
    w = y * w_pos + (1.0 - y) * w_neg
    bce = y * np.logaddexp(0.0, -x) + (1.0 - y) * np.logaddexp(0.0, x)
    loss = w * bce
    grad = w * (np.exp(_log_sigmoid(x)) - y)
    return _reduce(
        loss,
        grad,
        reduction=reduction,
        count=float(num_rows),
        positive_mass=0.0,
        avg_factor=None,
        grad_output=grad_output,
    )


# -- region (Dice-like) losses ------------------------------------------------------------------


def _region_operands(
    input: ArrayLike,
    target: ArrayLike,
    *,
    activation: str,
    ignore_index: int,
    class_dim: int,
) -> tuple[Array, Array, Array, int]:
    """(p, t, valid, class_dim) with the class axis last and the locations flattened:
    p and t (N, L, C), valid (N, L, 1); t is zero at ignored locations."""
    x = np.moveaxis(np.asarray(input, dtype=np.float64), class_dim, -1)
    num, classes = x.shape[0], x.shape[-1]
    if activation == "softmax":
        p = np.exp(_log_softmax(x))
    elif activation == "sigmoid":
        p = np.exp(_log_sigmoid(x))
    else:
        p = x.copy()
    raw = np.asarray(target)
    if raw.shape == np.asarray(input).shape:
        t = np.moveaxis(raw.astype(np.float64), class_dim, -1)
        valid = np.ones((*t.shape[:-1], 1))
    else:
        valid = (raw != ignore_index)[..., None].astype(np.float64)
        # Sigmoid index C (no class) matches no column.
        t = (raw[..., None] == np.arange(classes)).astype(np.float64) * valid
    locations = int(np.prod(x.shape[1:-1]))
    return (
        p.reshape(num, locations, classes),
        t.reshape(num, locations, classes),
        valid.reshape(num, locations, 1),
        class_dim,
    )


def _region_loss(
    input: ArrayLike,
    target: ArrayLike,
    entry: Callable[[Array, Array, Array], tuple[Array, Array, Array]],
    *,
    per_class: bool,
    activation: str,
    weight: ArrayLike | None,
    include_background: bool,
    ignore_index: int,
    class_dim: int,
    squared: bool,
    batch: bool,
    reduction: str,
    grad_output: ArrayLike | None,
) -> tuple[Array, Array]:
    """A region loss from ``entry(I, P, T) -> (value, dvalue/dI, dvalue/dP)``: per entry
    (per_class, arrays (Nb, K)) or per sample (value (Nb,), derivatives (Nb, K), the
    derivative of the sample's value by each class's sum)."""
    _check_reduction(reduction, ("none", "mean", "sum"))
    shape = np.asarray(input).shape
    p, t, valid, class_dim = _region_operands(
        input, target, activation=activation, ignore_index=ignore_index, class_dim=class_dim
    )
    first = 0 if include_background else 1
    p_power = p * p if squared else p
    intersection = (p * t).sum(axis=1)
    predicted = (p_power * valid).sum(axis=1)
    truth = (t * t if squared else t).sum(axis=1)
    counts = valid.sum(axis=(1, 2))
    if batch:
        intersection, predicted, truth = (
            a.sum(axis=0, keepdims=True) for a in (intersection, predicted, truth)
        )
        counts = counts.sum(keepdims=True)
    counted = (counts > 0).astype(np.float64)
    value, d_value_d_i, d_value_d_p = entry(
        intersection[:, first:], predicted[:, first:], truth[:, first:]
    )
    if per_class:
        w = np.ones(value.shape[1]) if weight is None else np.asarray(weight, np.float64)[first:]
        e = counted[:, None] * w[None, :]
    else:
        e = counted
    upstream = np.ones(()) if grad_output is None else np.asarray(grad_output, np.float64)
    if reduction == "none":
        out = value * e
        if batch:
            out = out[0]
            upstream = np.expand_dims(upstream, 0)
        u = e * upstream
    else:
        total_e = e.sum()
        divisor = 1.0 if reduction == "sum" or total_e == 0 else total_e
        out = np.asarray((value * e).sum() / divisor)
        u = e * upstream / divisor
    if per_class:
        d_i, d_p = u * d_value_d_i, u * d_value_d_p
    else:
        d_i, d_p = u[:, None] * d_value_d_i, u[:, None] * d_value_d_p
    d_i = np.concatenate([np.zeros((d_i.shape[0], first)), d_i], axis=1)[:, None, :]
    d_p = np.concatenate([np.zeros((d_p.shape[0], first)), d_p], axis=1)[:, None, :]
    # dloss/dp = valid (dI t + dP dP/dp), dP/dp = 1 or 2p; then through the activation.
    g = d_i * t + d_p * (2.0 * p if squared else 1.0) * valid
    if activation == "softmax":
        grad = p * (g - (p * g).sum(axis=-1, keepdims=True))
    elif activation == "sigmoid":
        grad = g * p * (1.0 - p)
    else:
        grad = g
    moved: list[int] = list(np.moveaxis(np.zeros(shape), class_dim, -1).shape)
    return out, np.moveaxis(grad.reshape(moved), -1, class_dim)


def dice_loss(
    input: ArrayLike,
    target: ArrayLike,
    *,
    activation: str = "softmax",
    weight: ArrayLike | None = None,
    include_background: bool = True,
    ignore_index: int = -100,
    class_dim: int = 1,
    smooth_nr: float = 1e-5,
    smooth_dr: float = 1e-5,
    squared: bool = False,
    log: bool = False,
    batch: bool = False,
    reduction: str = "mean",
    grad_output: ArrayLike | None = None,
) -> tuple[Array, Array]:
    """Dice loss: per (sample, class) dice = (2 I + s_nr) / (S + s_dr), S = P + T;
    loss 1 - dice (dloss/dI = -2 / (S + s_dr), dloss/dP = dice / (S + s_dr)) or -log dice
    (-2 / (2 I + s_nr), 1 / (S + s_dr)); a zero denominator gives dice 1, derivatives 0."""

    def entry(i: Array, p: Array, t: Array) -> tuple[Array, Array, Array]:
        numerator, denominator = 2.0 * i + smooth_nr, p + t + smooth_dr
        zero = denominator == 0
        d = np.where(zero, 1.0, denominator)
        dice = np.where(zero, 1.0, numerator / d)
        if log:
            return -np.log(dice), np.where(zero, 0.0, -2.0 / numerator), np.where(zero, 0.0, 1 / d)
        return 1.0 - dice, np.where(zero, 0.0, -2.0 / d), np.where(zero, 0.0, dice / d)

    return _region_loss(
        input,
        target,
        entry,
        per_class=True,
        activation=activation,
        weight=weight,
        include_background=include_background,
        ignore_index=ignore_index,
        class_dim=class_dim,
        squared=squared,
        batch=batch,
        reduction=reduction,
        grad_output=grad_output,
    )


def _tversky_entry(
    alpha: float, beta: float, smooth_nr: float, smooth_dr: float, gamma: float | None, log: bool
) -> Callable[[Array, Array, Array], tuple[Array, Array, Array]]:
    """TI = (I + s_nr) / (I + alpha FP + beta FN + s_dr), FP = P - I, FN = T - I."""

    def entry(i: Array, p: Array, t: Array) -> tuple[Array, Array, Array]:
        fp, fn = p - i, t - i
        denominator = i + alpha * fp + beta * fn + smooth_dr
        zero = denominator == 0
        d = np.where(zero, 1.0, denominator)
        ti = np.where(zero, 1.0, (i + smooth_nr) / d)
        # dD/dI = 1 - alpha - beta, dD/dP = alpha.
        d_ti_d_i = np.where(zero, 0.0, (1.0 - ti * (1.0 - alpha - beta)) / d)
        d_ti_d_p = np.where(zero, 0.0, -ti * alpha / d)
        if log:
            return (
                -np.log(ti),
                -d_ti_d_i / np.where(zero, 1.0, ti),
                -d_ti_d_p / np.where(zero, 1.0, ti),
            )
        rest = np.where(
            zero, 0.0, np.maximum((alpha * fp + beta * fn + smooth_dr - smooth_nr) / d, 0)
        )
        if gamma is None:
            return rest, -d_ti_d_i, -d_ti_d_p
        positive = rest > 0
        safe = np.where(positive, rest, 1.0)
        slope = np.where(positive, gamma * safe ** (gamma - 1.0), 1.0 if gamma == 1.0 else 0.0)
        value = np.where(positive, safe**gamma, 0.0**gamma)
        return value, -slope * d_ti_d_i, -slope * d_ti_d_p

    return entry


def tversky_loss(
    input: ArrayLike,
    target: ArrayLike,
    *,
    alpha: float = 0.5,
    beta: float = 0.5,
    activation: str = "softmax",
    weight: ArrayLike | None = None,
    include_background: bool = True,
    ignore_index: int = -100,
    class_dim: int = 1,
    smooth_nr: float = 1e-5,
    smooth_dr: float = 1e-5,
    log: bool = False,
    batch: bool = False,
    reduction: str = "mean",
    grad_output: ArrayLike | None = None,
) -> tuple[Array, Array]:
    """Tversky loss (Salehi et al. 2017): 1 - TI or -log TI per (sample, class)."""
    return _region_loss(
        input,
        target,
        _tversky_entry(alpha, beta, smooth_nr, smooth_dr, None, log),
        per_class=True,
        activation=activation,
        weight=weight,
        include_background=include_background,
        ignore_index=ignore_index,
        class_dim=class_dim,
        squared=False,
        batch=batch,
        reduction=reduction,
        grad_output=grad_output,
    )


def focal_tversky_loss(
    input: ArrayLike,
    target: ArrayLike,
    *,
    alpha: float = 0.3,
    beta: float = 0.7,
    gamma: float = 0.75,
    activation: str = "softmax",
    weight: ArrayLike | None = None,
    include_background: bool = True,
    ignore_index: int = -100,
    class_dim: int = 1,
    smooth_nr: float = 1e-5,
    smooth_dr: float = 1e-5,
    batch: bool = False,
    reduction: str = "mean",
    grad_output: ArrayLike | None = None,
) -> tuple[Array, Array]:
    """Focal Tversky loss (Abraham and Khan 2019): (1 - TI)^gamma per (sample, class);
    its slope gamma (1 - TI)^(gamma - 1) is taken as 0 at 1 - TI = 0 for gamma < 1."""
    return _region_loss(
        input,
        target,
        _tversky_entry(alpha, beta, smooth_nr, smooth_dr, gamma, False),
        per_class=True,
        activation=activation,
        weight=weight,
        include_background=include_background,
        ignore_index=ignore_index,
        class_dim=class_dim,
        squared=False,
        batch=batch,
        reduction=reduction,
        grad_output=grad_output,
    )


def generalized_dice_loss(
    input: ArrayLike,
    target: ArrayLike,
    *,
    weight_type: str = "square",
    activation: str = "softmax",
    include_background: bool = True,
    ignore_index: int = -100,
    class_dim: int = 1,
    smooth_nr: float = 1e-5,
    smooth_dr: float = 1e-5,
    batch: bool = False,
    reduction: str = "mean",
    grad_output: ArrayLike | None = None,
) -> tuple[Array, Array]:
    """Generalized Dice (Sudre et al. 2017) per sample: 1 - (2 sum w I + s_nr) /
    (sum w (P + T) + s_dr), w = 1/T^2, 1/T or 1 (constants); an absent class takes the
    largest weight of the present ones of its row (0 if none is present)."""

    def entry(i: Array, p: Array, t: Array) -> tuple[Array, Array, Array]:
        w = np.ones_like(t)
        if weight_type != "uniform":
            with np.errstate(divide="ignore"):
                w = 1.0 / (t**2 if weight_type == "square" else t)
            for row in range(w.shape[0]):
                finite = np.isfinite(w[row])
                w[row, ~finite] = w[row, finite].max() if finite.any() else 0.0
        numerator = 2.0 * (w * i).sum(axis=1) + smooth_nr
        denominator = (w * (p + t)).sum(axis=1) + smooth_dr
        zero = denominator == 0
        d = np.where(zero, 1.0, denominator)
        ratio = np.where(zero, 1.0, numerator / d)
        scale = np.where(zero, 0.0, 1.0 / d)[:, None]
        return 1.0 - ratio, -2.0 * w * scale, w * ratio[:, None] * scale

    return _region_loss(
        input,
        target,
        entry,
        per_class=False,
        activation=activation,
        weight=None,
        include_background=include_background,
        ignore_index=ignore_index,
        class_dim=class_dim,
        squared=False,
        batch=batch,
        reduction=reduction,
        grad_output=grad_output,
    )


def dice_focal_loss(
    input: ArrayLike,
    target: ArrayLike,
    *,
    lambda_dice: float = 1.0,
    lambda_focal: float = 1.0,
    gamma: float = 2.0,
    alpha: float | ArrayLike | None = None,
    activation: str = "softmax",
    weight: ArrayLike | None = None,
    include_background: bool = True,
    ignore_index: int = -100,
    class_dim: int = 1,
    smooth_nr: float = 1e-5,
    smooth_dr: float = 1e-5,
    squared: bool = False,
    log: bool = False,
    batch: bool = False,
    reduction: str = "mean",
    grad_output: ArrayLike | None = None,
) -> tuple[Array, Array]:
    """lambda_dice * dice_loss + lambda_focal * (softmax or sigmoid) focal loss; the
    sigmoid term's class weights are lined up with class_dim."""
    dice, dice_grad = dice_loss(
        input,
        target,
        activation=activation,
        weight=weight,
        include_background=include_background,
        ignore_index=ignore_index,
        class_dim=class_dim,
        smooth_nr=smooth_nr,
        smooth_dr=smooth_dr,
        squared=squared,
        log=log,
        batch=batch,
        reduction=reduction,
        grad_output=grad_output,
    )
    x = np.asarray(input, dtype=np.float64)
    raw = np.asarray(target)
    if activation == "softmax":
        if raw.shape == x.shape:
            raw = raw.astype(np.float64)
        focal, focal_grad = softmax_focal_loss(
            x,
            raw,
            alpha=alpha,
            gamma=gamma,
            weight=weight,
            ignore_index=ignore_index,
            class_dim=class_dim,
            reduction=reduction,
            grad_output=grad_output,
        )
    else:
        element_weight = None
        if weight is not None:
            shape = [1] * x.ndim
            shape[class_dim] = -1
            element_weight = np.asarray(weight, np.float64).reshape(shape)
        focal, focal_grad = sigmoid_focal_loss(
            x,
            raw,
            alpha=alpha,
            gamma=gamma,
            weight=element_weight,
            ignore_index=ignore_index,
            class_dim=class_dim,
            reduction=reduction,
            grad_output=grad_output,
        )
    return (
        lambda_dice * dice + lambda_focal * focal,
        lambda_dice * dice_grad + lambda_focal * focal_grad,
    )


def dice_ce_loss(
    input: ArrayLike,
    target: ArrayLike,
    *,
    lambda_dice: float = 1.0,
    lambda_ce: float = 1.0,
    **options: Any,
) -> tuple[Array, Array]:
    """dice_focal_loss at gamma 0 without alpha."""
    return dice_focal_loss(
        input,
        target,
        lambda_dice=lambda_dice,
        lambda_focal=lambda_ce,
        gamma=0.0,
        alpha=None,
        **options,
    )


def unified_focal_loss(
    input: ArrayLike,
    target: ArrayLike,
    *,
    weight: float = 0.5,
    delta: float = 0.6,
    gamma: float = 0.5,
    asymmetric: bool = True,
    activation: str = "softmax",
    ignore_index: int = -100,
    class_dim: int = 1,
    smooth_nr: float = 1e-5,
    smooth_dr: float = 1e-5,
    batch: bool = False,
    reduction: str = "mean",
    grad_output: ArrayLike | None = None,
) -> tuple[Array, Array]:
    """Unified focal loss (Yeung et al. 2022, equations 17-22): weight * focal term +
    (1 - weight) * focal Tversky term summed over classes (softmax logits only here).

    Focal (per location): -(1 - delta)(1 - p_0)^gamma t_0 log p_0 - delta sum_{c>=1}
    (1 - p_c)^g_c t_c log p_c, g_c = 0 (asymmetric) or gamma; Tversky (per sample):
    sum_c (1 - mTI_c)^e_c, mTI with alpha = 1 - delta on FP and beta = delta on FN,
    e_0 = 1 (asymmetric) or 1 - gamma, e_c = 1 - gamma; with ``batch`` the Tversky sums
    run over the whole batch (one Tversky term).
    """
    if activation != "softmax":
        raise ValueError(f"activation must be 'softmax' for the reference; got {activation!r}")
    x = np.asarray(input, dtype=np.float64)
    classes = x.shape[class_dim]
    raw = np.asarray(target)
    focal_target = raw.astype(np.float64) if raw.shape == x.shape else raw
    upstream = 1.0 if grad_output is None else float(np.asarray(grad_output))
    background = np.zeros(classes)
    background[0] = 1.0 - delta
    foreground = np.full(classes, delta)
    foreground[0] = 0.0
    pieces = (
        [(background, gamma), (foreground, 0.0)]
        if asymmetric
        else [(background + foreground, gamma)]
    )
    focal, focal_grad = np.zeros(()), np.zeros_like(x)
    for alpha, g in pieces:
        value, grad = softmax_focal_loss(
            x,
            focal_target,
            alpha=alpha,
            gamma=g,
            ignore_index=ignore_index,
            class_dim=class_dim,
            reduction=reduction,
        )
        focal, focal_grad = focal + value, focal_grad + grad
    exponents = np.full(classes, 1.0 - gamma)
    if asymmetric:
        exponents[0] = 1.0
    base = _tversky_entry(1.0 - delta, delta, smooth_nr, smooth_dr, 1.0, False)

    def entry(i: Array, p: Array, t: Array) -> tuple[Array, Array, Array]:
        rest, d_i, d_p = base(i, p, t)  # exponent 1: the slopes of 1 - mTI itself
        positive = rest > 0
        safe = np.where(positive, rest, 1.0)
        slope = np.where(
            positive, exponents * safe ** (exponents - 1.0), np.where(exponents == 1.0, 1.0, 0.0)
        )
        return np.where(positive, safe**exponents, 0.0), slope * d_i, slope * d_p

    tversky, tversky_grad = _region_loss(
        x,
        raw,
        entry,
        per_class=True,
        activation="softmax",
        weight=None,
        include_background=True,
        ignore_index=ignore_index,
        class_dim=class_dim,
        squared=False,
        batch=batch,
        reduction=reduction,
        grad_output=None,
    )
    if reduction == "mean":
        tversky, tversky_grad = tversky * classes, tversky_grad * classes
    return (
        weight * focal + (1.0 - weight) * tversky,
        upstream * (weight * focal_grad + (1.0 - weight) * tversky_grad),
    )


def _lovasz_flat(errors: Array, foreground: Array) -> tuple[float, Array]:
    """(Lovasz extension of the Jaccard loss at ``errors``, its gradient): the authors'
    algorithm on the counted locations of one class (1-D arrays)."""
    if errors.size == 0:
        return 0.0, np.zeros(0)
    order = np.argsort(-errors, kind="stable")
    gt = foreground[order]
    total = gt.sum()
    jaccard = 1.0 - (total - np.cumsum(gt)) / (total + np.cumsum(1.0 - gt))
    g = np.concatenate([jaccard[:1], np.diff(jaccard)])
    grad = np.zeros_like(errors)
    grad[order] = g
    return float(errors[order] @ g), grad


def lovasz_softmax_loss(
    input: ArrayLike,
    target: ArrayLike,
    *,
    classes: str | list[int] = "present",
    per_image: bool = False,
    ignore_index: int = -100,
    class_dim: int = 1,
    reduction: str = "mean",
    grad_output: ArrayLike | None = None,
) -> tuple[Array, Array]:
    """Lovasz-softmax (Berman et al. 2018): ignored locations removed, per class the errors
    ``|[y = c] - p_c|`` through ``_lovasz_flat``, averaged over the chosen classes (present
    ones: 0 if none), per image or over all; d/dp_c = -/+ g on the foreground / background,
    then through the softmax."""
    _check_reduction(reduction, ("none", "mean", "sum"))
    x = np.moveaxis(np.asarray(input, dtype=np.float64), class_dim, -1)
    p = np.exp(_log_softmax(x))
    labels = np.asarray(target)
    num_classes = x.shape[-1]
    groups: list[list[int]] = (
        [list(range(x.shape[0]))] if not per_image else [[n] for n in range(x.shape[0])]
    )
    upstream = (
        np.ones(len(groups))
        if grad_output is None
        else np.broadcast_to(np.asarray(grad_output, np.float64), (len(groups),))
    )
    values, grad_p = [], np.zeros_like(p)
    for number, group in enumerate(groups):
        probs, lab = p[group].reshape(-1, num_classes), labels[group].reshape(-1)
        keep = lab != ignore_index
        chosen: list[int] = (
            list(range(num_classes)) if isinstance(classes, str) else [int(c) for c in classes]
        )
        losses, grads = [], []
        for c in chosen:
            fg = (lab[keep] == c).astype(np.float64)
            if classes == "present" and fg.sum() == 0:
                continue
            value, grad = _lovasz_flat(np.abs(fg - probs[keep, c]), fg)
            losses.append(value)
            grads.append((c, fg, grad))
        value = float(np.mean(losses)) if losses else 0.0
        values.append(value)
        local = np.zeros_like(probs)
        for c, fg, grad in grads:
            local[np.flatnonzero(keep), c] = grad * (1.0 - 2.0 * fg) / len(losses)
        scale = upstream[number] * (
            1.0 if reduction in ("sum", "none") or per_image is False else 1.0 / len(groups)
        )
        grad_p[group] += (local * scale).reshape(grad_p[group].shape)
    out = np.asarray(values)
    if reduction == "mean":
        out = np.asarray(out.mean() if out.size else 0.0)
    elif reduction == "sum":
        out = np.asarray(out.sum())
    elif not per_image:
        out = np.asarray(out[0])
    grad_x = p * (grad_p - (p * grad_p).sum(axis=-1, keepdims=True))
    return out, np.moveaxis(grad_x, -1, class_dim)


def lovasz_hinge_loss(
    input: ArrayLike,
    target: ArrayLike,
    *,
    per_image: bool = False,
    ignore_index: int = -100,
    reduction: str = "mean",
    grad_output: ArrayLike | None = None,
) -> tuple[Array, Array]:
    """Lovasz hinge (Berman et al. 2018): errors max(1 - x s, 0), s = 2y - 1, on the counted
    locations, per image or over all; d/dx = -g s where 1 - x s > 0."""
    _check_reduction(reduction, ("none", "mean", "sum"))
    x = np.asarray(input, dtype=np.float64)
    labels = np.asarray(target)
    groups: list[list[int]] = (
        [list(range(x.shape[0]))] if not per_image else [[n] for n in range(x.shape[0])]
    )
    upstream = (
        np.ones(len(groups))
        if grad_output is None
        else np.broadcast_to(np.asarray(grad_output, np.float64), (len(groups),))
    )
    values, grad_x = [], np.zeros_like(x)
    for number, group in enumerate(groups):
        logits, lab = x[group].reshape(-1), labels[group].reshape(-1)
        keep = lab != ignore_index
        signs = 2.0 * lab[keep] - 1.0
        margin = 1.0 - logits[keep] * signs
        value, grad = _lovasz_flat(np.maximum(margin, 0.0), lab[keep].astype(np.float64))
        values.append(value)
        local = np.zeros_like(logits)
        local[keep] = -grad * (margin > 0) * signs
        scale = upstream[number] * (1.0 / len(groups) if reduction == "mean" else 1.0)
        grad_x[group] += (local * scale).reshape(grad_x[group].shape)
    out = np.asarray(values)
    if reduction == "mean":
        out = np.asarray(out.mean())
    elif reduction == "sum":
        out = np.asarray(out.sum())
    elif not per_image:
        out = np.asarray(out[0])
    return out, grad_x


# Every public function here is the oracle of a loss; the list is made, not kept (the
# oracle imports nothing of the code it checks, so not the registry either: test_registry
# holds the two to each other).
__all__ = sorted(
    name
    for name, value in list(globals().items())
    if inspect.isfunction(value) and value.__module__ == __name__ and not name.startswith("_")
)
