"""The focal loss, its gradient and its second derivatives in NumPy float64, for boosting.

Everything here is per sample, in the raw-score (logit) space the boosting libraries work in.
The derivations sit beside the code and in docs/math.md ("Focal loss for gradient boosting");
the tests check every formula against torchfocal's own torch autograd (``create_graph`` for
the second derivatives) and against finite differences, so the torch losses stay the one
source of truth and this module is a transcription that is checked, not a second definition.

Nothing here imports torch: gradient boosting jobs load NumPy alone.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[np.float64]
HessianMode = Literal["exact", "clipped", "fisher", "upper"]
HESSIAN_MODES: tuple[str, ...] = ("exact", "clipped", "fisher", "upper")

# Below this, log(1 - q) / q is replaced by its series -1 - q/2 - q^2/3 (the division would
# lose every digit to rounding, and is 0/0 at q = 0).
_SERIES_BELOW = 1e-5
# The smallest 1 - p_c a division may see; q^(gamma-1) / q stays finite (<= 1/tiny), and the
# products it enters are bounded (see softmax_parts).
_TINY = float(np.finfo(np.float64).tiny)


def _softplus(x: Array) -> Array:
    return np.logaddexp(0.0, x)


# --------------------------------------------------------------------------------------
# Binary (sigmoid) focal loss


def binary_loss(x: Array, y: Array, alpha: float | None, gamma: float, eps: float) -> Array:
    """Per-sample sigmoid focal loss, as ``torchfocal.sigmoid_focal_loss(reduction="none")``.

    y is the hard label in {0, 1}; label smoothing makes it y' = y (1 - eps) + eps / 2 and
    alpha_t is taken on y' (alpha y' + (1 - alpha)(1 - y')), as the torch loss does.
    """
    ys = y * (1.0 - eps) + eps / 2.0
    a_t = 1.0 if alpha is None else alpha * ys + (1.0 - alpha) * (1.0 - ys)
    # 1 - p_t = y' (1 - p) + (1 - y') p, each sigmoid taken on its own side (no 1 - p).
    q = ys * np.exp(-_softplus(x)) + (1.0 - ys) * np.exp(-_softplus(-x))
    bce = _softplus(x) - x * ys
    return np.asarray(a_t * q**gamma * bce, dtype=np.float64)


def binary_derivatives(
    x: Array, y: Array, alpha: float | None, gamma: float, eps: float
) -> tuple[Array, Array, Array]:
    """(gradient, exact second derivative, Fisher term) of :func:`binary_loss` in x.

    Hard labels (eps = 0). With s = 2y - 1, x_t = s x, p_t = sigmoid(x_t), q = 1 - p_t and
    L = a q^gamma (-log p_t); dp_t/dx_t = p_t q and dq/dx_t = -p_t q give

        dL/dx_t   = a q^gamma (gamma p_t log p_t - q)
        d2L/dx_t2 = a q^gamma p_t [q (1 + 2 gamma + gamma log p_t) - gamma^2 p_t log p_t]

    and dL/dx = s dL/dx_t, d2L/dx2 = d2L/dx_t2 (s^2 = 1). Every power of q is q^gamma with
    gamma >= 0, so both are finite for every finite x and every gamma, gamma < 1 included,
    and p_t log p_t (in [-1/e, 0]) is formed before it meets gamma, so no product overflows.
    At gamma = 0 they are a (p - y) and a p (1 - p), the logistic loss's.

    Soft labels (label smoothing, y' in (0, 1)). q = y'(1 - p) + (1 - y') p >= min(y', 1 - y')
    > 0, so the plain chain rule is safe there: with v = p (1 - p), b = BCE(x, y'),
    dq/dx = -s v, d2q/dx2 = -s v (1 - 2p), db/dx = p - y', d2b/dx2 = v,

        dL/dx   = a q^(gamma-1) [q (p - y') - gamma s v b]
        d2L/dx2 = a q^(gamma-2) [gamma (gamma-1) v^2 b - gamma q s v (1-2p) b
                                 - 2 gamma q s v (p - y') + q^2 v]

    The Fisher term a q^gamma p (1 - p) (gamma = 0: the exact Hessian) is returned for the
    "fisher" and "upper" modes.
    """
    log_p = -_softplus(-x)
    log_1mp = -_softplus(x)
    p = np.exp(log_p)
    one_m_p = np.exp(log_1mp)
    v = p * one_m_p
    if eps == 0.0:
        a_t = 1.0 if alpha is None else alpha * y + (1.0 - alpha) * (1.0 - y)
        s = 2.0 * y - 1.0
        positive = y == 1.0
        log_pt = np.where(positive, log_p, log_1mp)
        p_t = np.where(positive, p, one_m_p)
        q = np.where(positive, one_m_p, p)
        qg = q**gamma
        pt_log_pt = p_t * log_pt
        grad = s * a_t * qg * (gamma * pt_log_pt - q)
        hess = (
            a_t
            * qg
            * (p_t * q * (1.0 + 2.0 * gamma) + gamma * q * pt_log_pt - gamma**2 * p_t * pt_log_pt)
        )
        fisher = a_t * qg * v
        return grad, hess, fisher
    ys = y * (1.0 - eps) + eps / 2.0
    a_t = 1.0 if alpha is None else alpha * ys + (1.0 - alpha) * (1.0 - ys)
    s = 2.0 * ys - 1.0
    q = ys * one_m_p + (1.0 - ys) * p
    b = _softplus(x) - x * ys
    d = p - ys
    grad = a_t * q ** (gamma - 1.0) * (q * d - gamma * s * v * b)
    hess = (
        a_t
        * q ** (gamma - 2.0)
        * (
            gamma * (gamma - 1.0) * s * s * v * v * b
            - gamma * q * s * v * (1.0 - 2.0 * p) * b
            - 2.0 * gamma * q * s * v * d
            + q * q * v
        )
    )
    fisher = a_t * q**gamma * v
    return grad, hess, fisher


# --------------------------------------------------------------------------------------
# Multi-class (softmax) focal loss


def smoothed_targets(y: npt.NDArray[np.int64], k: int, eps: float) -> Array:
    """One-hot of y smoothed as F.cross_entropy does: (1 - eps) one_hot + eps / K."""
    t = np.full((y.shape[0], k), eps / k)
    t[np.arange(y.shape[0]), y] += 1.0 - eps
    return t


def _log_softmax(z: Array) -> Array:
    shifted = z - z.max(axis=1, keepdims=True)
    return np.asarray(shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True)))


def softmax_loss(z: Array, w: Array, gamma: float) -> Array:
    """Per-sample softmax focal loss -sum_c w_c (1 - p_c)^gamma log p_c, w = alpha * t."""
    log_p = _log_softmax(z)
    q = -np.expm1(log_p)
    return np.asarray(-(w * q**gamma * log_p).sum(axis=1), dtype=np.float64)


def softmax_parts(z: Array, w: Array, gamma: float) -> dict[str, Array]:
    """The pieces every softmax derivative is built from.

    With f(p) = -(1 - p)^gamma log p and L = sum_c w_c f(p_c), dp_c/dz_j = p_c (d_cj - p_j):

        u_c = w_c f'(p_c) p_c = w_c q_c^gamma (gamma p_c r_c - 1),  r_c = log p_c / q_c
        dL/dz_j = u_j - p_j S,  S = sum_c u_c

    r_c -> -1 as q_c -> 0, so u is finite at every gamma >= 0. The second derivatives need
    u_c'(p_c) p_c, which grows like q_c^(gamma-1) for gamma < 1; it only ever enters
    multiplied by enough powers of q_c or of the other probabilities (q_c >= p_j for j != c),
    so it is carried as B_c = u_c'(p_c) p_c q_c = w_c gamma q_c^gamma p_c
    (log p_c + 2 - (gamma - 1) p_c r_c), which is bounded, and divided by q_c only where
    the product stays bounded.
    """
    log_p = _log_softmax(z)
    p = np.exp(log_p)
    q = -np.expm1(log_p)  # 1 - p_c without cancellation when p_c is close to 1
    safe_q = np.maximum(q, _TINY)
    r = np.where(q > _SERIES_BELOW, log_p / safe_q, -1.0 - q / 2.0 - q * q / 3.0)
    qg = q**gamma
    u = w * qg * (gamma * p * r - 1.0)
    s = u.sum(axis=1)
    b = w * gamma * qg * p * (log_p + 2.0 - (gamma - 1.0) * p * r)
    return {"p": p, "q": q, "safe_q": safe_q, "u": u, "S": s, "B": b, "qg": qg}


def softmax_gradient(parts: dict[str, Array]) -> Array:
    return np.asarray(parts["u"] - parts["p"] * parts["S"][:, None])


def _excluded_sums(parts: dict[str, Array]) -> tuple[Array, Array, npt.NDArray[np.intp]]:
    """A_c = u_c' p_c = B_c / q_c, their sum over c != m (m the most likely class), and m.

    A_m can be huge (q_m close to 0); every other q_c >= p_m >= 1/K keeps A_c <= K |B_c|,
    so sums that leave A_m out lose nothing to cancellation.
    """
    a = parts["B"] / parts["safe_q"]
    m = parts["p"].argmax(axis=1)
    rows = np.arange(a.shape[0])
    # a.sum() - a[m] would cancel when A_m dominates: add the others up directly instead.
    mask = np.ones_like(a, dtype=bool)
    mask[rows, m] = False
    t_rest = np.where(mask, a, 0.0).sum(axis=1)
    return a, t_rest, m


def softmax_hessian_diagonal(parts: dict[str, Array]) -> Array:
    """d2L/dz_j2 = B_j q_j - p_j q_j S + p_j^2 sum_{c != j} A_c (derivation in docs/math.md).

    Differentiating u_j - p_j S in z_j gives A_j (1 - 2 p_j) - p_j q_j S + p_j^2 sum_c A_c;
    the A_j terms add up to A_j (1 - 2 p_j + p_j^2) = A_j q_j^2 = B_j q_j, which is bounded.
    """
    p, q, b, s = parts["p"], parts["q"], parts["B"], parts["S"]
    a, t_rest, m = _excluded_sums(parts)
    rows = np.arange(p.shape[0])
    # sum_{c != j} A_c: for j = m it is t_rest; otherwise t_rest - A_j + A_m, where
    # p_j^2 A_m is formed as p_j (p_j / q_m) B_m (p_j <= q_m, so it cannot overflow).
    others = t_rest[:, None] - a
    others[rows, m] = t_rest
    pm_term = p * (p / parts["safe_q"][rows, m][:, None]) * b[rows, m][:, None]
    pm_term[rows, m] = 0.0
    return np.asarray(b * q - p * q * s[:, None] + p * p * others + pm_term)


def softmax_hessian_full(parts: dict[str, Array]) -> Array:
    """The full K x K Hessian per sample, (n, K, K), for CatBoost's multi-class objective.

    Differentiating u_j - p_j S in z_k: H_jk = d_jk A_j - p_k A_j - p_j A_k
    - p_j (d_jk - p_k) S + p_j p_k T, T = sum_c A_c. Off the diagonal the A_j, A_k terms
    combine with their share of T into -p_k B_j - p_j B_k + p_j p_k (S + sum_{c != j,k} A_c);
    the diagonal is :func:`softmax_hessian_diagonal`.
    """
    p, b, s = parts["p"], parts["B"], parts["S"]
    a, t_rest, m = _excluded_sums(parts)
    n, k = p.shape
    rows = np.arange(n)
    is_m = np.zeros((n, k), dtype=bool)
    is_m[rows, m] = True
    a_not_m = np.where(is_m, 0.0, a)
    # sum over c not in {j, k}: t_rest less the non-m ones of j and k, plus A_m when neither
    # is m (then p_j p_k A_m <= p_j B_m: q_m >= p_k).
    rest = t_rest[:, None, None] - a_not_m[:, :, None] - a_not_m[:, None, :]
    pjpk = p[:, :, None] * p[:, None, :]
    neither = ~(is_m[:, :, None] | is_m[:, None, :])
    a_m = a[rows, m]
    hess = (
        -p[:, None, :] * b[:, :, None]
        - p[:, :, None] * b[:, None, :]
        + pjpk * (s[:, None, None] + rest)
        + np.where(neither, pjpk * a_m[:, None, None], 0.0)
    )
    diag = softmax_hessian_diagonal(parts)
    hess[:, np.arange(k), np.arange(k)] = diag
    return np.asarray(hess)


def softmax_fisher_scale(parts: dict[str, Array], w: Array) -> Array:
    """sum_c w_c q_c^gamma: the focal weight of the sample (hard labels: w_y q_y^gamma)."""
    return np.asarray((w * parts["qg"]).sum(axis=1))
