"""Each elementwise loss's own math, for the Triton skeleton of :mod:`.elementwise`.

One ``@triton.jit`` function per loss, all with one signature, so that the skeleton takes
the loss as a ``tl.constexpr`` function argument (no switch on a loss number):

    math(x, y, scale, pos_weight, gamma, <three numbers named by the loss>,
         HARD, HAS_POS_WEIGHT, GAMMA_INT, HALF) -> (loss, dloss/dx before the weight)

``x`` is the logit and ``y`` the (smoothed) target of each element, both in the compute
dtype; ``scale`` is alpha_t (1 where the loss has no alpha), ``pos_weight`` the element's
positive weight (1.0 unless HAS_POS_WEIGHT), ``gamma`` the skeleton's focusing parameter
(a number, flsd53's 5 or 3, or one per element); ``HARD``: every y is 0 or 1; ``GAMMA_INT``:
gamma as a compile-time integer 0 to 3, or -1 for any other gamma; ``HALF``: the input is
float16 / bfloat16, whose results are rounded to 2^-11 / 2^-8 (the primitives may be
shorter). A loss names its own
numbers in its signature; :data:`KERNEL_MATH` says which names the host passes, in order,
so a call names them too (``params={"beta": 1.0}``).

The formulas and their derivations are those of the loss's module in
:mod:`torchfocal.losses` and of docs/math.md; these kernels are tested against the NumPy
oracle (:mod:`torchfocal.reference`), not against those modules.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import triton
import triton.language as tl

from .common import exp_neg_product, log1p, sigmoid_parts


@triton.jit
def _power(q, GAMMA_INT: tl.constexpr):
    """q^GAMMA_INT for a compile-time integer 0 to 3, by multiplication."""
    result = tl.full(q.shape, 1.0, q.dtype)
    if GAMMA_INT >= 1:
        result = q
    if GAMMA_INT >= 2:
        result = result * q
    if GAMMA_INT >= 3:
        result = result * q
    return result


@triton.jit
def _soft_integer_gamma(x, y, scale, gamma, GAMMA_INT: tl.constexpr, HALF: tl.constexpr):
    """Sigmoid focal loss of soft targets, an integer gamma and no pos_weight: the direct
    form around x itself, with no anchor and no ratio q0 / q (about 20 SASS instructions
    less per element than the anchored form, forward and backward each). With
    p = sigmoid(x), p_bar = 1 - p, y_bar = 1 - y:

        ce = y softplus(-x) + y_bar softplus(x),    dce/dx = p - y = p y_bar - p_bar y
        q = 1 - p_t = p y_bar + p_bar y,            dq/dx = p p_bar (1 - 2y)
        loss = s q^gamma ce,    dloss/dx = s (gamma q^(gamma - 1) dq/dx ce + q^gamma dce/dx)

    Every sum but the gradient's last is of terms >= 0 (no cancellation), and every product
    is finite for a finite x: ce <= |x| + log 2, and p p_bar ce -> 0 where ce grows.
    """
    softplus_neg, softplus_pos, p, p_bar = sigmoid_parts(x, HALF)
    y_bar = 1.0 - y
    ce = y * softplus_neg + y_bar * softplus_pos
    q = p * y_bar + p_bar * y
    modulator = _power(q, GAMMA_INT)
    grad = modulator * (p * y_bar - p_bar * y)
    if GAMMA_INT >= 1:
        slope = p * p_bar * (1.0 - 2.0 * y)
        grad += gamma * _power(q, GAMMA_INT - 1) * slope * ce
    return scale * modulator * ce, scale * grad


@triton.jit
def sigmoid_focal(
    x,
    y,
    scale,
    pos_weight,
    gamma,
    unused_first,
    unused_second,
    unused_third,
    HARD: tl.constexpr,
    HAS_POS_WEIGHT: tl.constexpr,
    GAMMA_INT: tl.constexpr,
    HALF: tl.constexpr,
):
    """Sigmoid focal loss (losses/sigmoid_focal.py, whose notation this follows).

    Around the anchor a = [y > 1/2]: x_t = +-x, d = |y - a| (0 for hard targets), with
    e = exp(-|x_t|), p_t0 = sigmoid(x_t), q0 = sigmoid(-x_t):

        q    = q0 + d (p_t0 - q0),   m = q^gamma
        ce   = (1 - d) c_a softplus(-x_t) + d c_o softplus(x_t)      (c: pos_weight or 1)
        loss = s m ce                                                (s = scale = alpha_t)
        -dloss/dx_t = gamma (1 - 2d) p_t0 (q0 / q) loss + s m ((1 - d) c_a q0 - d c_o p_t0),
        dx_t/dx = +-1.

    m: for an integer gamma, q multiplied by itself (and (q0 / q) m = q0 q^(gamma - 1): no
    division); otherwise exp(gamma log q), with log q = -softplus(x_t) for hard targets
    (q0 underflows long before q0^gamma does for gamma < 1), so every term is finite for
    every finite logit; gamma = 0 gives m = 1 exactly. Soft targets with an integer gamma
    and no pos_weight take the shorter direct form (:func:`_soft_integer_gamma`).
    """
    if not HARD and GAMMA_INT >= 0 and not HAS_POS_WEIGHT:
        return _soft_integer_gamma(x, y, scale, gamma, GAMMA_INT, HALF)
    anchor = y > 0.5
    x_t = tl.where(anchor, x, -x)
    # -log p_t0, -log q0, p_t0, q0
    softplus_neg, softplus_pos, p_t0, q0 = sigmoid_parts(x_t, HALF)
    if HARD:
        # m = q0^gamma = exp(-gamma softplus(x_t)) in the loss, which needs no 1 / (1 + e)
        # then (forward computes only the loss: two instructions for any gamma); q0^gamma
        # by multiplication in the gradient, which needs q0 and p_t0 anyway.
        modulator_loss = exp_neg_product(softplus_pos, gamma)
        modulator_grad = modulator_loss
        if GAMMA_INT >= 0:
            modulator_grad = _power(q0, GAMMA_INT)
        if HAS_POS_WEIGHT:
            scale = scale * tl.where(anchor, pos_weight, 1.0)
        # The factors (<= 1 but pos_weight) meet the possibly huge softplus last.
        loss = scale * modulator_loss * softplus_neg
        grad_t = scale * modulator_grad * (q0 + gamma * p_t0 * softplus_neg)
    else:
        d = tl.where(anchor, 1.0 - y, y)
        q = q0 + d * (p_t0 - q0)
        if GAMMA_INT >= 0:
            modulator = _power(q, GAMMA_INT)
            # (q0 / q) m = q0 q^(gamma - 1); gamma = 0 multiplies it by 0: any finite value
            ratio_modulator = q0
            if GAMMA_INT >= 1:
                ratio_modulator = q0 * _power(q, GAMMA_INT - 1)
        else:
            log_q = tl.where(d > 0, tl.log(q), -softplus_pos)
            modulator = tl.exp(gamma * log_q)
            # q0 / q is 0 / 0 only where d = 0 and q0 underflowed: its limit there is 1.
            ratio_modulator = tl.where(d > 0, q0 / q, 1.0) * modulator
        weight_anchor = scale
        weight_other = scale
        if HAS_POS_WEIGHT:
            weight_anchor = scale * tl.where(anchor, pos_weight, 1.0)
            weight_other = scale * tl.where(anchor, 1.0, pos_weight)
        ce = (1.0 - d) * softplus_neg * weight_anchor + d * softplus_pos * weight_other
        loss = modulator * ce
        grad_t = gamma * (1.0 - 2.0 * d) * p_t0 * ratio_modulator * ce
        grad_t += modulator * ((1.0 - d) * q0 * weight_anchor - d * p_t0 * weight_other)
    return loss, tl.where(anchor, -grad_t, grad_t)


@triton.jit
def focal_star(
    x,
    y,
    scale,
    pos_weight,
    skeleton_gamma,
    gamma,
    beta,
    unused_third,
    HARD: tl.constexpr,
    HAS_POS_WEIGHT: tl.constexpr,
    GAMMA_INT: tl.constexpr,
    HALF: tl.constexpr,
):
    """FL* (losses/focal_star.py): with s = 2y - 1, x_t = s x and z = gamma x_t + beta,

        loss = s_a softplus(-z) / gamma,     dloss/dx = -s_a s sigmoid(-z)   (s_a = scale)

    (d softplus(-z)/dz = -sigmoid(-z), dz/dx = gamma s: gamma cancels, so |dloss/dx| <= s_a).
    gamma x_t overflows for |x| near the dtype's largest value and gamma > 1, while the
    loss, about |x|, does not. z = +inf gives softplus(-z) = 0 and sigmoid(-z) = 0, the
    right values; where z = -inf (the loss side) softplus(-z) = -z exactly, so the loss is
    -(x_t + beta / gamma), the same number without the overflowing product (its derivative
    -s is the gradient's, sigmoid(-z) = 1 there).
    """
    s = 2.0 * y - 1.0
    x_t = s * x
    z = gamma * x_t + beta
    softplus_neg_z, _, _, sigmoid_neg_z = sigmoid_parts(z, HALF)
    loss = tl.where(z == float("-inf"), -(x_t + beta / gamma), softplus_neg_z / gamma)
    return scale * loss, -scale * s * sigmoid_neg_z


@triton.jit
def asymmetric(
    x,
    y,
    scale,
    pos_weight,
    skeleton_gamma,
    gamma_pos,
    gamma_neg,
    clip,
    HARD: tl.constexpr,
    HAS_POS_WEIGHT: tl.constexpr,
    GAMMA_INT: tl.constexpr,
    HALF: tl.constexpr,
):
    """Asymmetric loss (losses/asymmetric.py; no alpha): loss = y L+ + (1 - y) L-.

    Positives, the focal loss's hard form, with (1 - p)^gamma_pos = exp(-gamma_pos softplus(x)):

        L+ = (1 - p)^gamma_pos softplus(-x)
        dL+/dx = -(1 - p)^gamma_pos (gamma_pos p softplus(-x) + 1 - p)

    (p softplus(-x) is 0, not 0 * inf, where softplus(-x) is huge: p is exactly 0 there).
    Negatives see p_m = max(p - clip, 0) and u = 1 - p_m = 1 - p + clip:

        L- = p_m^gamma_neg (-log u)
        dL-/dx = p (1 - p) p_m^gamma_neg (gamma_neg r + 1 / u),   r = -log(u) / p_m

    where p > clip, else 0. r lies in [1, 1/u], so p_m^(gamma_neg - 1), unbounded as
    p_m -> 0 for gamma_neg < 1, is never formed. -log u is -log1p(-p_m) while p_m < 1/2
    (accurate for small p_m) and -log(1 - p + clip) beyond (accurate as u comes down to
    clip). "Below the clip" is p - clip <= 0, False for a NaN p, which so stays NaN instead
    of taking that side's constant 0. Without a clip, p^gamma_neg = exp(-gamma_neg
    softplus(-x)) and dL-/dx = p^gamma_neg (gamma_neg (1 - p) softplus(x) + p).
    """
    softplus_neg, softplus_pos, p, one_minus_p = sigmoid_parts(x, HALF)
    modulator_pos = tl.exp(-gamma_pos * softplus_pos)
    loss_pos = modulator_pos * softplus_neg
    grad_pos = -modulator_pos * (gamma_pos * p * softplus_neg + one_minus_p)
    if clip > 0:
        shifted = p - clip
        below = shifted <= 0
        # Below the clip both results are 0 whatever p_m is: 1/2 keeps its logs finite.
        p_m = tl.where(below, 0.5, shifted)
        u = one_minus_p + clip
        neg_log_u = tl.where(p_m < 0.5, -log1p(-p_m), -tl.log(u))
        modulator_neg = tl.exp(gamma_neg * tl.log(p_m))
        loss_neg = tl.where(below, 0.0, modulator_neg * neg_log_u)
        ratio = neg_log_u / p_m
        grad_neg = (p * one_minus_p) * modulator_neg * (gamma_neg * ratio + 1.0 / u)
        grad_neg = tl.where(below, 0.0, grad_neg)
    else:
        modulator_neg = tl.exp(-gamma_neg * softplus_neg)
        loss_neg = modulator_neg * softplus_pos
        grad_neg = modulator_neg * (gamma_neg * one_minus_p * softplus_pos + p)
    if HARD:
        positive = y > 0.5
        loss = tl.where(positive, loss_pos, loss_neg)
        grad = tl.where(positive, grad_pos, grad_neg)
    else:
        loss = y * loss_pos + (1.0 - y) * loss_neg
        grad = y * grad_pos + (1.0 - y) * grad_neg
    return loss, grad


@triton.jit
def poly1(
    x,
    y,
    scale,
    pos_weight,
    skeleton_gamma,
    epsilon,
    gamma,
    unused_third,
    HARD: tl.constexpr,
    HAS_POS_WEIGHT: tl.constexpr,
    GAMMA_INT: tl.constexpr,
    HALF: tl.constexpr,
):
    """Poly-1 focal loss, sigmoid form (losses/poly1.py): the focal loss (alpha-weighted:
    s_a = scale) plus epsilon q^k, k = gamma + 1, q = 1 - p_t, not alpha-weighted.

    Around the anchor a = [y > 1/2] as in :func:`sigmoid_focal` (x_t = +-x, d = |y - a|,
    p_t0 = sigmoid(x_t), q0 = sigmoid(-x_t), q = q0 + d (p_t0 - q0)):

        dq/dx_t     = -(1 - 2d) p_t0 q0
        d(q^k)/dx_t = -k (1 - 2d) q^gamma p_t0 q0,   dx_t/dx = +-1,

    with q^gamma p_t0 q0 taken as exp(gamma log q - softplus(-x_t) - softplus(x_t)): every
    term of the exponent is <= 0 (no inf - inf), and k - 1 = gamma >= 0, so no negative
    power of q is formed. log q is -softplus(x_t) for hard targets (d = 0; q0 underflows
    long before q0^k does), log(q) otherwise (q >= d > 0).
    """
    focal, focal_grad = sigmoid_focal(x, y, scale, 1.0, gamma, 0.0, 0.0, 0.0, HARD, False, -1, HALF)
    anchor = y > 0.5
    x_t = tl.where(anchor, x, -x)
    softplus_neg, softplus_pos, p_t0, q0 = sigmoid_parts(x_t, HALF)
    if HARD:
        log_q = -softplus_pos
        slope = 1.0  # 1 - 2d
    else:
        d = tl.where(anchor, 1.0 - y, y)
        q = q0 + d * (p_t0 - q0)
        log_q = tl.where(d > 0, tl.log(q), -softplus_pos)
        slope = 1.0 - 2.0 * d
    power = gamma + 1.0
    term = epsilon * tl.exp(power * log_q)
    term_grad_t = -epsilon * power * slope * tl.exp(gamma * log_q - softplus_neg - softplus_pos)
    return focal + term, focal_grad + tl.where(anchor, term_grad_t, -term_grad_t)


@triton.jit
def varifocal(
    x,
    q,
    scale,
    pos_weight,
    skeleton_gamma,
    alpha,
    gamma,
    iou_weighted,
    HARD: tl.constexpr,
    HAS_POS_WEIGHT: tl.constexpr,
    GAMMA_INT: tl.constexpr,
    HALF: tl.constexpr,
):
    """Varifocal loss (losses/varifocal.py), on the target score q; alpha weighs the
    negatives (it is no alpha_t), iou_weighted is 1.0 or 0.0:

        q > 0:  loss = s bce(x, q),   dloss/dx = s ((1 - q) p - q (1 - p)),   s = q or 1
        q = 0:  loss = alpha p^gamma softplus(x),
                dloss/dx = alpha p^gamma (gamma (1 - p) softplus(x) + p)

    p - q written (1 - q) p - q (1 - p) is exact to rounding at q = 1 as p -> 1, and
    d p^gamma/dx = gamma p^gamma (1 - p) forms no p^(gamma - 1). p^gamma is
    exp(-gamma softplus(-x)); (1 - p) softplus(x) is 0 where softplus(x) is huge.
    """
    softplus_neg, softplus_pos, p, one_minus_p = sigmoid_parts(x, HALF)
    positive = q > 0
    s = tl.where(iou_weighted != 0, q, 1.0)
    loss_pos = s * (q * softplus_neg + (1.0 - q) * softplus_pos)
    grad_pos = s * ((1.0 - q) * p - q * one_minus_p)
    modulator = alpha * tl.exp(-gamma * softplus_neg)
    loss_neg = modulator * softplus_pos
    grad_neg = modulator * (gamma * one_minus_p * softplus_pos + p)
    return tl.where(positive, loss_pos, loss_neg), tl.where(positive, grad_pos, grad_neg)


@triton.jit
def quality_focal(
    x,
    q,
    scale,
    pos_weight,
    skeleton_gamma,
    beta,
    unused_second,
    unused_third,
    HARD: tl.constexpr,
    HAS_POS_WEIGHT: tl.constexpr,
    GAMMA_INT: tl.constexpr,
    HALF: tl.constexpr,
):
    """Quality focal loss (losses/quality_focal.py), on the target score q, d = p - q:

        loss     = |d|^beta bce(x, q)
        dloss/dx = beta |d|^(beta - 1) sign(d) p (1 - p) bce(x, q) + |d|^beta d

    beta is 0 (BCE against q: |d|^0 = 1, the gradient d) or >= 1, where
    |d|^(beta - 1) <= 1; at d = 0 the first term is taken as 0 (the derivative for
    beta > 1, the midpoint of the one-sided slopes for beta = 1) and |d|^beta is 0, never
    exp(beta log 0). d = (1 - q) p - q (1 - p) is exact to rounding for q in {0, 1}.
    p (1 - p) bce is 0, not 0 * inf, where bce is huge (p (1 - p) is exactly 0 there).
    "d != 0" is True for NaN, so a NaN logit stays NaN.
    """
    softplus_neg, softplus_pos, p, one_minus_p = sigmoid_parts(x, HALF)
    bce = q * softplus_neg + (1.0 - q) * softplus_pos
    difference = (1.0 - q) * p - q * one_minus_p
    if beta == 0:
        loss = bce
        grad = difference
    else:
        nonzero = difference != 0
        log_magnitude = tl.log(tl.where(nonzero, tl.abs(difference), 1.0))
        modulator = tl.where(nonzero, tl.exp(beta * log_magnitude), 0.0)
        slope = tl.where(nonzero, beta * tl.exp((beta - 1.0) * log_magnitude), 0.0)
        slope = tl.where(difference < 0, -slope, slope)
        loss = modulator * bce
        grad = slope * (p * one_minus_p) * bce + modulator * difference
    return loss, grad


class KernelMath(NamedTuple):
    """A loss's kernel math and the names of the numbers it takes (in its signature's
    order, after ``gamma``)."""

    function: Any
    parameters: tuple[str, ...] = ()
    #: Loss and gradient are ``scale`` times the rest: the skeleton may fold the upstream
    #: gradient into ``scale`` (a select of two numbers per element instead of a multiply).
    scale_linear: bool = False


#: The kernel math of each elementwise loss, by the name its module passes.
KERNEL_MATH: dict[str, KernelMath] = {
    "sigmoid_focal": KernelMath(sigmoid_focal, scale_linear=True),
    "focal_star": KernelMath(focal_star, ("gamma", "beta"), scale_linear=True),
    "asymmetric": KernelMath(asymmetric, ("gamma_pos", "gamma_neg", "clip")),
    "poly1": KernelMath(poly1, ("epsilon", "gamma")),
    "varifocal": KernelMath(varifocal, ("alpha", "gamma", "iou_weighted")),
    "quality_focal": KernelMath(quality_focal, ("beta",)),
}
