"""One Triton kernel skeleton for the elementwise (sigmoid-form) losses.

A launch reads each logit and its target once, and writes dloss/dx (in the input's dtype)
and either the loss of every element or one partial sum per program (with, in the same
pass, the positive target mass and the number of counted elements that the "positives"
and "mean" normalisers need). The engine sums the partials (a tiny reduction) and scales
the gradient in backward, so a call is one launch and no host synchronisation.

The input is viewed as ``(outer, C, inner)`` with the classes in the middle, so that:

- a class-index target ``(outer, inner)`` is read once per element and compared with the
  element's class (no one-hot is built); ``ignore_index`` leaves the element out of the
  loss, the gradient and the count;
- every optional operand (alpha per class, weight, pos_weight, a gamma per element) is a
  strided view of that shape, whose strides are 0 along the dimensions it broadcasts over:
  it is read in place, never expanded;
- bool and uint8 masks are read as bytes, float targets in their own dtype.

Each loss contributes its own elementwise math (a ``@triton.jit`` function below, picked by
the constexpr ``LOSS``): it takes the logit, the (smoothed) target, ``scale`` (alpha_t,
for the losses with an alpha of that form) and the loss's numbers (``param0..2``), and
returns the loss and dloss/dx before the weight. The formulas and their derivations are
those of the loss's module in :mod:`torchfocal.losses` and of docs/math.md; the kernels
here are tested against the NumPy oracle (:mod:`torchfocal.reference`), not against those
modules.

Arithmetic is in float32 for float16, bfloat16 and float32 inputs, in float64 for float64.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import triton
import triton.language as tl
from torch import Tensor

from .common import float_parts, launch, log1p, scalar

#: The kernel of each loss, by the name the loss modules pass.
LOSSES = {
    "sigmoid_focal": 0,
    "focal_star": 1,
    "asymmetric": 2,
    "poly1": 3,
    "varifocal": 4,
    "quality_focal": 5,
}
#: Target forms: a mask (read as bytes), a float target, class indices.
FORMS = {"mask": 0, "float": 1, "index": 2}
#: Elements per program. A program's partial sums are taken over this many values (a tree
#: sum in float64, then a float64 sum over the programs).
BLOCK = 1024


@triton.jit
def _load(ptr, o, c, i, s_outer, s_class, s_inner, mask, COMPUTE: tl.constexpr):
    """An operand's value at each element (o, c, i) of the block, by its strides."""
    return tl.load(ptr + o * s_outer + c * s_class + i * s_inner, mask=mask, other=0).to(COMPUTE)


@triton.jit
def _sigmoid_parts(x):
    """(softplus(-x), softplus(x), p, 1 - p) of p = sigmoid(x): -log p, -log(1 - p) and
    the two probabilities, from one e = exp(-|x|) and t = log1p(e):
    softplus(+-x) = t + relu(+-x), and p, 1 - p = 1 / (1 + e),
    e / (1 + e) (which is which by the sign of x). All four are finite for every finite x,
    +-inf included where the limit is finite (softplus(-inf) = 0, sigmoid(+-inf) = 1 or 0),
    and NaN for a NaN x."""
    positive = x >= 0
    e = tl.exp(-tl.abs(x))
    t = log1p(e)
    r = 1.0 / (1.0 + e)
    softplus_neg = tl.where(positive, t, t - x)
    softplus_pos = tl.where(positive, t + x, t)
    p = tl.where(positive, r, e * r)
    one_minus_p = tl.where(positive, e * r, r)
    return softplus_neg, softplus_pos, p, one_minus_p


@triton.jit
def _sigmoid_focal(
    x, y, scale, pos_weight, gamma, HARD: tl.constexpr, HAS_POS_WEIGHT: tl.constexpr
):
    """Sigmoid focal loss (losses/sigmoid_focal.py, whose notation this follows).

    Around the anchor a = [y > 1/2]: x_t = +-x, d = |y - a| (0 for hard targets), with
    e = exp(-|x_t|), p_t0 = sigmoid(x_t), q0 = sigmoid(-x_t):

        q    = q0 + d (p_t0 - q0),   m = q^gamma = exp(gamma log q)
        ce   = (1 - d) c_a softplus(-x_t) + d c_o softplus(x_t)
        loss = s m ce                                     (s = scale = alpha_t)
        -dloss/dx_t = gamma (1 - 2d) rho p_t0 loss + s m ((1 - d) c_a q0 - d c_o p_t0),
        rho = q0 / q (1 where d = 0),   dx_t/dx = +-1.

    log q is -softplus(x_t) for hard targets (q0 underflows long before q0^gamma does for
    gamma < 1), so every term is finite for every finite logit; gamma = 0 gives m = 1
    exactly (0 times a finite log q).
    """
    anchor = y > 0.5
    x_t = tl.where(anchor, x, -x)
    # -log p_t0, -log q0, p_t0, q0
    softplus_neg, softplus_pos, p_t0, q0 = _sigmoid_parts(x_t)
    if HARD:
        c_t = 1.0
        if HAS_POS_WEIGHT:
            c_t = tl.where(anchor, pos_weight, 1.0)
        # The factors (<= 1 but c_t) meet the possibly huge softplus last.
        factor = scale * tl.exp(-gamma * softplus_pos) * c_t
        loss = factor * softplus_neg
        grad_t = factor * (q0 + gamma * p_t0 * softplus_neg)
    else:
        d = tl.where(anchor, 1.0 - y, y)
        q = q0 + d * (p_t0 - q0)
        log_q = tl.where(d > 0, tl.log(q), -softplus_pos)
        modulated = scale * tl.exp(gamma * log_q)
        c_a = modulated
        c_o = modulated
        if HAS_POS_WEIGHT:
            c_a = tl.where(anchor, pos_weight, 1.0) * modulated
            c_o = tl.where(anchor, 1.0, pos_weight) * modulated
        loss = (1.0 - d) * softplus_neg * c_a + d * softplus_pos * c_o
        # q0 / q is 0 / 0 only where d = 0 and q0 underflowed: its limit there is 1.
        rho = tl.where(d > 0, q0 / q, 1.0)
        grad_t = gamma * (1.0 - 2.0 * d) * rho * p_t0 * loss
        grad_t += (1.0 - d) * q0 * c_a - d * p_t0 * c_o
    return loss, tl.where(anchor, -grad_t, grad_t)


@triton.jit
def _focal_star(x, y, scale, gamma, beta):
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
    softplus_neg_z, _, _, sigmoid_neg_z = _sigmoid_parts(z)
    loss = tl.where(z == float("-inf"), -(x_t + beta / gamma), softplus_neg_z / gamma)
    return scale * loss, -scale * s * sigmoid_neg_z


@triton.jit
def _asymmetric(x, y, gamma_pos, gamma_neg, clip, HARD: tl.constexpr):
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
    softplus_neg, softplus_pos, p, one_minus_p = _sigmoid_parts(x)
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
def _poly1(x, y, scale, epsilon, gamma, HARD: tl.constexpr):
    """Poly-1 focal loss, sigmoid form (losses/poly1.py): the focal loss (alpha-weighted:
    s_a = scale) plus epsilon q^k, k = gamma + 1, q = 1 - p_t, not alpha-weighted.

    Around the anchor a = [y > 1/2] as in :func:`_sigmoid_focal` (x_t = +-x, d = |y - a|,
    p_t0 = sigmoid(x_t), q0 = sigmoid(-x_t), q = q0 + d (p_t0 - q0)):

        dq/dx_t     = -(1 - 2d) p_t0 q0
        d(q^k)/dx_t = -k (1 - 2d) q^gamma p_t0 q0,   dx_t/dx = +-1,

    with q^gamma p_t0 q0 taken as exp(gamma log q - softplus(-x_t) - softplus(x_t)): every
    term of the exponent is <= 0 (no inf - inf), and k - 1 = gamma >= 0, so no negative
    power of q is formed. log q is -softplus(x_t) for hard targets (d = 0; q0 underflows
    long before q0^k does), log(q) otherwise (q >= d > 0).
    """
    focal, focal_grad = _sigmoid_focal(x, y, scale, 1.0, gamma, HARD, False)
    anchor = y > 0.5
    x_t = tl.where(anchor, x, -x)
    softplus_neg, softplus_pos, p_t0, q0 = _sigmoid_parts(x_t)
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
def _varifocal(x, q, alpha, gamma, iou_weighted):
    """Varifocal loss (losses/varifocal.py), on the target score q; alpha weighs the
    negatives (it is no alpha_t), iou_weighted is 1.0 or 0.0:

        q > 0:  loss = s bce(x, q),   dloss/dx = s ((1 - q) p - q (1 - p)),   s = q or 1
        q = 0:  loss = alpha p^gamma softplus(x),
                dloss/dx = alpha p^gamma (gamma (1 - p) softplus(x) + p)

    p - q written (1 - q) p - q (1 - p) is exact to rounding at q = 1 as p -> 1, and
    d p^gamma/dx = gamma p^gamma (1 - p) forms no p^(gamma - 1). p^gamma is
    exp(-gamma softplus(-x)); (1 - p) softplus(x) is 0 where softplus(x) is huge.
    """
    softplus_neg, softplus_pos, p, one_minus_p = _sigmoid_parts(x)
    positive = q > 0
    s = tl.where(iou_weighted != 0, q, 1.0)
    loss_pos = s * (q * softplus_neg + (1.0 - q) * softplus_pos)
    grad_pos = s * ((1.0 - q) * p - q * one_minus_p)
    modulator = alpha * tl.exp(-gamma * softplus_neg)
    loss_neg = modulator * softplus_pos
    grad_neg = modulator * (gamma * one_minus_p * softplus_pos + p)
    return tl.where(positive, loss_pos, loss_neg), tl.where(positive, grad_pos, grad_neg)


@triton.jit
def _quality_focal(x, q, beta):
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
    softplus_neg, softplus_pos, p, one_minus_p = _sigmoid_parts(x)
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


@triton.jit
def _elementwise_kernel(
    x_ptr,
    target_ptr,
    grad_ptr,
    out_ptr,
    upstream_ptr,
    flags_ptr,
    alpha_ptr,
    alpha_s0,
    alpha_s1,
    alpha_s2,
    weight_ptr,
    weight_s0,
    weight_s1,
    weight_s2,
    pos_weight_ptr,
    pos_weight_s0,
    pos_weight_s1,
    pos_weight_s2,
    gamma_ptr,
    gamma_s0,
    gamma_s1,
    gamma_s2,
    n_elements,
    num_classes,
    inner,
    num_programs,
    ignore_index,
    alpha_high,
    alpha_low,
    gamma_high,
    gamma_low,
    smoothing_high,
    smoothing_low,
    param0_high,
    param0_low,
    param1_high,
    param1_low,
    param2_high,
    param2_low,
    LOSS: tl.constexpr,
    FORM: tl.constexpr,
    HARD: tl.constexpr,
    ALPHA_PER_CLASS: tl.constexpr,
    HAS_ALPHA: tl.constexpr,
    HAS_WEIGHT: tl.constexpr,
    HAS_POS_WEIGHT: tl.constexpr,
    GAMMA_FORM: tl.constexpr,
    OUTPUT: tl.constexpr,
    NEED_MASS: tl.constexpr,
    NEED_COUNT: tl.constexpr,
    COUNT_POSITIVES: tl.constexpr,
    NEED_GRAD: tl.constexpr,
    UPSTREAM: tl.constexpr,
    CHECK_RANGE: tl.constexpr,
    COORDINATES: tl.constexpr,
    WIDE_INDEX: tl.constexpr,
    COMPUTE: tl.constexpr,
    BLOCK: tl.constexpr,
):
    alpha = scalar(alpha_high, alpha_low, COMPUTE)
    gamma = scalar(gamma_high, gamma_low, COMPUTE)
    label_smoothing = scalar(smoothing_high, smoothing_low, COMPUTE)
    param0 = scalar(param0_high, param0_low, COMPUTE)
    param1 = scalar(param1_high, param1_low, COMPUTE)
    param2 = scalar(param2_high, param2_low, COMPUTE)
    pid = tl.program_id(0)
    if WIDE_INDEX:
        pid = pid.to(tl.int64)
    offsets = pid * BLOCK + tl.arange(0, BLOCK)
    in_range = offsets < n_elements
    x = tl.load(x_ptr + offsets, mask=in_range, other=0).to(COMPUTE)

    if COORDINATES:
        # (o, c, i) of each element in the (outer, C, inner) view: integer divisions, made
        # only where an index target or an operand that broadcasts needs them.
        i = offsets % inner
        outer_class = offsets // inner
        c = outer_class % num_classes
        o = outer_class // num_classes

    counted = in_range
    if FORM == 2:
        index = tl.load(target_ptr + o * inner + i, mask=in_range, other=ignore_index)
        counted = in_range & (index != ignore_index)
        y_raw = (index == c).to(COMPUTE)
    else:
        y_raw = tl.load(target_ptr + offsets, mask=in_range, other=0).to(COMPUTE)
    if CHECK_RANGE:
        # The [0, 1] check of a float target, in the pass that reads it: one flag per
        # program (NaN fails), read by a device-side assert after the launch.
        outside = in_range & ~((y_raw >= 0) & (y_raw <= 1))
        tl.store(flags_ptr + pid, tl.max(outside.to(tl.int32), axis=0))
    y = y_raw
    if label_smoothing > 0:
        y = y_raw * (1.0 - label_smoothing) + 0.5 * label_smoothing

    scale = tl.full(x.shape, 1.0, COMPUTE)
    if HAS_ALPHA:
        alpha_value = alpha
        if ALPHA_PER_CLASS:
            alpha_value = _load(alpha_ptr, o, c, i, alpha_s0, alpha_s1, alpha_s2, in_range, COMPUTE)
        scale = alpha_value * y + (1.0 - alpha_value) * (1.0 - y)
    pos_weight = 1.0
    if HAS_POS_WEIGHT:
        pos_weight = _load(
            pos_weight_ptr, o, c, i, pos_weight_s0, pos_weight_s1, pos_weight_s2, in_range, COMPUTE
        )
    gamma_value = gamma
    if GAMMA_FORM == 1:  # "flsd53": 5 where p_t < 0.2, else 3 (Mukhoti et al. 2020)
        p = tl.sigmoid(x)
        p_t = p * y + (1.0 - p) * (1.0 - y)
        gamma_value = tl.where(p_t < 0.2, 5.0, 3.0)
    elif GAMMA_FORM == 2:  # one value per element, evaluated by the caller
        gamma_value = _load(gamma_ptr, o, c, i, gamma_s0, gamma_s1, gamma_s2, in_range, COMPUTE)

    if LOSS == 0:
        loss, grad = _sigmoid_focal(x, y, scale, pos_weight, gamma_value, HARD, HAS_POS_WEIGHT)
    elif LOSS == 1:  # params: gamma, beta
        loss, grad = _focal_star(x, y, scale, param0, param1)
    elif LOSS == 2:  # params: gamma_pos, gamma_neg, clip
        loss, grad = _asymmetric(x, y, param0, param1, param2, HARD)
    elif LOSS == 3:  # params: epsilon, gamma
        loss, grad = _poly1(x, y, scale, param0, param1, HARD)
    elif LOSS == 4:  # params: alpha (of the negatives), gamma, iou_weighted (1.0 or 0.0)
        loss, grad = _varifocal(x, y, param0, param1, param2)
    elif LOSS == 5:  # params: beta
        loss, grad = _quality_focal(x, y, param0)

    if HAS_WEIGHT:
        weight = _load(weight_ptr, o, c, i, weight_s0, weight_s1, weight_s2, in_range, COMPUTE)
        loss = loss * weight
        grad = grad * weight
    # Left-out elements (beyond the end, or ignored) are 0, whatever their logit.
    loss = tl.where(counted, loss, 0.0)
    grad = tl.where(counted, grad, 0.0)

    if NEED_GRAD:
        if UPSTREAM == 1:  # backward of a reduced loss: grad_output / divisor, one value
            grad = grad * tl.load(upstream_ptr).to(COMPUTE)
        elif UPSTREAM == 2:  # backward of reduction "none": grad_output per element
            grad = grad * tl.load(upstream_ptr + offsets, mask=in_range, other=0).to(COMPUTE)
        tl.store(grad_ptr + offsets, grad.to(grad_ptr.dtype.element_ty), mask=in_range)
    if OUTPUT == 2:
        # Partial sums, one column per program: loss, and where the divisor needs them the
        # positive target mass and the counted elements. The loss partial in float64: a
        # block of float32 losses near the float32 maximum sums past it.
        tl.store(out_ptr + pid, tl.sum(loss.to(tl.float64), axis=0))
        if NEED_MASS:
            positives = y_raw
            if COUNT_POSITIVES:
                positives = (y_raw > 0).to(COMPUTE)
            positives = tl.where(counted, positives, 0.0)
            tl.store(out_ptr + num_programs + pid, tl.sum(positives, axis=0).to(tl.float64))
        if NEED_COUNT:
            count = tl.sum(counted.to(COMPUTE), axis=0).to(tl.float64)
            tl.store(out_ptr + 2 * num_programs + pid, count)
    elif OUTPUT == 1:
        tl.store(out_ptr + offsets, loss.to(out_ptr.dtype.element_ty), mask=in_range)


def _operand(value: Tensor | None) -> tuple[Tensor | None, int, int, int]:
    """Pointer and strides of an optional (outer, C, inner) operand (None and zeros when
    absent: the kernel's constexpr flags leave it unread)."""
    if value is None:
        return None, 0, 0, 0
    s_outer, s_class, s_inner = value.stride()
    return value, s_outer, s_class, s_inner


#: What a launch writes besides the gradient: nothing (a backward launch), the loss of every
#: element, or one column of partial sums per program.
OUTPUTS = {"none": 0, "elements": 1, "partials": 2}


class ElementwiseResult(NamedTuple):
    #: The loss of every element (x's shape and dtype), the partial sums (a (3, programs)
    #: float64 tensor of loss, positive target mass and counted elements), or None.
    loss: Tensor | None
    #: dloss/dx in x's dtype, times ``upstream``; None if not wanted.
    grad: Tensor | None
    #: Per program, 1 where a float target value lies outside [0, 1]; None unless checked.
    flags: Tensor | None = None


def elementwise_loss(
    loss: str,
    x: Tensor,
    target: Tensor,
    *,
    form: str,
    ignore_index: int,
    label_smoothing: float,
    alpha: float | Tensor | None,
    weight: Tensor | None,
    pos_weight: Tensor | None,
    gamma: float | str | Tensor,
    params: tuple[float, ...],
    output: str,
    need_mass: bool = False,
    need_count: bool = False,
    count_positives: bool = False,
    need_grad: bool = False,
    upstream: Tensor | None = None,
    check_range: bool = False,
) -> ElementwiseResult:
    """Launch the kernel of ``loss`` over ``x`` (outer, C, inner), contiguous.

    ``target``: for ``form`` "mask", a contiguous uint8 tensor of x's shape; "float", x's
    shape in any float dtype; "index", (outer, inner) integers (checked by the caller).
    alpha, weight, pos_weight and a gamma tensor are views of x's shape in the compute
    dtype, with zero strides where they broadcast; gamma may also be a number or "flsd53".
    ``params``: the loss's own numbers (up to three). ``output``: see :data:`OUTPUTS`;
    ``need_mass`` / ``need_count``: the partials' positive mass / counted elements (rows
    1 and 2, left unwritten otherwise); ``count_positives``: the positive mass is the count
    of target values > 0 instead of their sum. ``upstream``: what the gradient is
    multiplied by, one value (a 0-d tensor) or one per element (x's shape, contiguous).
    ``check_range``: the result's ``flags`` say, per program, whether a float target value
    lies outside [0, 1] (or is NaN).
    """
    _, num_classes, inner = x.shape
    n_elements = x.numel()
    programs = max(triton.cdiv(n_elements, BLOCK), 1)
    grad = torch.empty_like(x) if need_grad else None
    out: Tensor | None = None
    if output == "partials":
        # float64 partials (every device Triton runs on has it); every program writes its
        # column, so nothing needs zeroing (an empty input launches no program: zeros then)
        out = torch.empty((3, programs), dtype=torch.float64, device=x.device)
        if not n_elements:
            out.zero_()
    elif output == "elements":
        out = torch.empty_like(x)
    flags = None
    if check_range:  # every program writes its flag (none runs on an empty input)
        flags = torch.empty(programs, dtype=torch.int32, device=x.device)
        if not n_elements:
            flags.zero_()
    alpha_tensor = alpha if isinstance(alpha, Tensor) else None
    gamma_tensor = gamma if isinstance(gamma, Tensor) else None
    if n_elements:
        launch(
            _elementwise_kernel,
            programs,
            x.device,
            x,
            target,
            grad,
            out,
            upstream,
            flags,
            *_operand(alpha_tensor),
            *_operand(weight),
            *_operand(pos_weight),
            *_operand(gamma_tensor),
            n_elements,
            num_classes,
            inner,
            programs,
            ignore_index,
            *float_parts(float(alpha) if isinstance(alpha, float) else 0.0),
            *float_parts(float(gamma) if isinstance(gamma, float) else 0.0),
            *float_parts(label_smoothing),
            *(part for value in (*params, 0.0, 0.0, 0.0)[:3] for part in float_parts(value)),
            LOSS=LOSSES[loss],
            FORM=FORMS[form],
            HARD=form != "float" and label_smoothing == 0,
            ALPHA_PER_CLASS=alpha_tensor is not None,
            HAS_ALPHA=alpha is not None,
            HAS_WEIGHT=weight is not None,
            HAS_POS_WEIGHT=pos_weight is not None,
            GAMMA_FORM=2 if gamma_tensor is not None else int(gamma == "flsd53"),
            OUTPUT=OUTPUTS[output],
            NEED_MASS=need_mass,
            NEED_COUNT=need_count,
            COUNT_POSITIVES=count_positives,
            NEED_GRAD=need_grad,
            UPSTREAM=0 if upstream is None else (1 if upstream.dim() == 0 else 2),
            CHECK_RANGE=check_range,
            COORDINATES=form == "index"
            or any(value is not None for value in (alpha_tensor, weight, pos_weight, gamma_tensor)),
            WIDE_INDEX=n_elements + BLOCK >= 2**31,
            COMPUTE=tl.float64 if x.dtype == torch.float64 else tl.float32,
            BLOCK=BLOCK,
        )
    return ElementwiseResult(out, grad, flags)
