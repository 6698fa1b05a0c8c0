"""The focal family: FL*, asymmetric, Poly-1, varifocal, quality and distribution focal loss.

Nothing here validates input. Each loss has a naive form (plain torch ops under autograd,
the readable version) and a fused form that returns ``(loss, dloss/dx)`` for one block;
the engine runs the fused forms block by block (:mod:`torchfocal._kernels._blocks`) under
the one autograd Function of :mod:`torchfocal._kernels.autograd`. The derivations are in
docs/math.md; the notation is that of
:mod:`torchfocal._kernels.sigmoid` (x the logit, y the target, p = sigmoid(x)), and
softplus(-x) = -log p, softplus(x) = -log(1 - p) are always taken as logsigmoids, so no
logarithm of a probability that rounds to 0 is ever formed.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from . import _blocks
from . import sigmoid as _sigmoid
from . import softmax as _softmax
from .sigmoid import SATURATED_LOGIT, AlphaArg, saturated_logsigmoid


def _sign(y: Tensor) -> Tensor:
    """2y - 1: +1 for a positive target, -1 for a negative one (linear for soft targets)."""
    if y.dtype == torch.bool:
        return torch.where(y, 1.0, -1.0)
    return 2.0 * y - 1.0


def _scaled(
    loss: Tensor, grad: Tensor | None, scale: Tensor | float | None
) -> tuple[Tensor, Tensor | None]:
    if scale is None:
        return loss, grad
    return loss * scale, None if grad is None else grad * scale


def _alpha_t(alpha: AlphaArg, y: Tensor, like: Tensor) -> Tensor | float | None:
    if alpha is None:
        return None
    if y.dtype == torch.bool:
        return _sigmoid._alpha_select(alpha, y, like)
    return _sigmoid._alpha_t(alpha, y)


def _times(*factors: Tensor | float | None) -> Tensor | float | None:
    """The product of the factors that are present (None when none is)."""
    result: Tensor | float | None = None
    for factor in factors:
        if factor is not None:
            result = factor if result is None else result * factor
    return result


# FL* (Lin et al. 2017, appendix A). With s = 2y - 1 and z = gamma s x + beta:
#   loss = -log sigmoid(z) / gamma = softplus(-z) / gamma,
#   dloss/dx = -sigmoid(-z) * gamma s / gamma = -s sigmoid(-z)        (bounded by 1).
# gamma s x overflows for |x| near finfo.max and gamma > 1, while the loss itself (about |x|)
# does not. Where z = -inf (the loss side; z = +inf gives logsigmoid = 0, the right value),
# softplus(-z) / gamma = -z / gamma = -(s x + beta / gamma) exactly (softplus(-z) = -z once
# exp(z) rounds to 0), a form without the overflowing product; its derivative -s is that of
# the loss there, sigmoid(-z) = 1.


def _star_loss(x_t: Tensor, gamma: float, beta: float) -> Tensor:
    """softplus(-(gamma x_t + beta)) / gamma, finite wherever the true value is."""
    z = gamma * x_t + beta
    return torch.where(torch.isneginf(z), -(x_t + beta / gamma), -F.logsigmoid(z) / gamma)


def star_naive(
    x: Tensor, y: Tensor, *, gamma: float, beta: float, alpha: AlphaArg, weight: Tensor | None
) -> Tensor:
    loss = _star_loss(_sign(y) * x, gamma, beta)
    scale = _times(_alpha_t(alpha, y, x), weight)
    return loss if scale is None else loss * scale


def star_fused(
    x: Tensor,
    y: Tensor,
    *,
    gamma: float,
    beta: float,
    alpha: AlphaArg,
    weight: Tensor | None,
    need_grad: bool,
) -> tuple[Tensor, Tensor | None]:
    sign = _sign(y)
    x_t = x.mul(sign)
    z = x_t.mul(gamma).add_(beta)
    loss = F.logsigmoid(z).div_(-gamma)
    if _blocks.has_neg_inf(z):
        # gamma x_t overflowed on the loss side (see _star_loss).
        loss = torch.where(torch.isneginf(z), x_t.add_(beta / gamma).neg_(), loss)
    # sigmoid(-z) is exact for z = +-inf too (0 or 1).
    grad = torch.sigmoid(z.neg_()).mul_(sign).neg_() if need_grad else None
    return _scaled(loss, grad, _times(_alpha_t(alpha, y, x), weight))


# Asymmetric loss (Ridnik et al. 2021). Positives: L+ = (1-p)^g+ softplus(-x). Negatives
# see the shifted probability p_m = max(p - clip, 0), with u = 1 - p_m = min(1 - p + clip, 1):
#   L- = p_m^g- (-log u)
#   dL-/dx = p (1 - p) p_m^g- (g- r + 1/u),  r = -log(u) / p_m   where p > clip, else 0.
# r = -log1p(-p_m)/p_m lies in [1, 1/u], so the gradient never forms p_m^(g- - 1), which is
# unbounded as p_m -> 0 for g- < 1. Without a clip, u = 1 - p and -log u = softplus(x).
# -log u is -log1p(-p_m) while p_m < 1/2 (accurate for small p_m) and -log(1 - p + clip)
# beyond (accurate as p -> 1). "Below the clip" is p_m <= 0, which is False for NaN, so a
# NaN logit stays NaN instead of taking the constant 0 of that side.


def _power(log_base: Tensor, exponent: float) -> Tensor | float:
    """base^exponent from log(base); exponent 0 gives 1 even where the base is 0."""
    return 1.0 if exponent == 0.0 else torch.exp(exponent * log_base)


def _clipped_negative(
    p: Tensor, one_minus_p: Tensor, clip: float
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """(active, p_m, log p_m, u, -log u) of the clipped negative side.

    active is 1 above the clip and 0 below, as a float mask that multiplies the side's loss
    and gradient (a NaN p counts as active, so it propagates). Below the clip p_m is
    clamped at finfo.tiny: log p_m and every derivative stay finite there (a multiplied
    mask needs finite values), and the clamp's derivative is 0. -log u is -log1p(-p_m) while
    p_m < 1/2 and -log(1 - p + clip) beyond, blended by a 0/1 mask (both sides finite).
    """
    shifted = p - clip
    active = (~(shifted <= 0)).to(p.dtype)
    p_m = shifted.clamp(min=torch.finfo(p.dtype).tiny)
    small = (p_m < 0.5).to(p.dtype)
    u = one_minus_p + clip
    neg_log_u = small * -torch.log1p(-p_m) + (1.0 - small) * -torch.log(u)
    return active, p_m, torch.log(p_m), u, neg_log_u


def asymmetric_naive(
    x: Tensor,
    y: Tensor,
    *,
    gamma_pos: float,
    gamma_neg: float,
    clip: float,
    weight: Tensor | None,
) -> Tensor:
    log_p, log_1mp = F.logsigmoid(x), F.logsigmoid(-x)
    # The modulators' logarithms saturate (SATURATED_LOGIT) where the loss grows like |x|.
    positive = _power(saturated_logsigmoid(-x), gamma_pos) * -log_p
    if clip == 0.0:
        negative = _power(saturated_logsigmoid(x), gamma_neg) * -log_1mp
    else:
        # p and 1 - p as exponentials of logsigmoids: their derivative p (1 - p) keeps its
        # relative precision where sigmoid's y (1 - y) rounds 1 - y to 0.
        active, _, log_p_m, _, neg_log_u = _clipped_negative(
            torch.exp(log_p), torch.exp(log_1mp), clip
        )
        negative = active * _power(log_p_m, gamma_neg) * neg_log_u
    y_float = y.to(x.dtype)
    loss = y_float * positive + (1.0 - y_float) * negative
    return loss if weight is None else loss * weight


def asymmetric_fused(
    x: Tensor,
    y: Tensor,
    *,
    gamma_pos: float,
    gamma_neg: float,
    clip: float,
    weight: Tensor | None,
    need_grad: bool,
) -> tuple[Tensor, Tensor | None]:
    log_p, log_1mp = F.logsigmoid(x), F.logsigmoid(-x)
    p, one_minus_p = log_p.exp(), log_1mp.exp()
    modulator_pos = _power(log_1mp, gamma_pos)
    loss_pos = -log_p * modulator_pos
    if clip == 0.0:
        modulator_neg = _power(log_p, gamma_neg)
        loss_neg = -log_1mp * modulator_neg
    else:
        active, p_m, log_p_m, u, neg_log_u = _clipped_negative(p, one_minus_p, clip)
        # 0 below the clip; exp(0 * log p_m) = 1 above it for gamma_neg = 0.
        modulator_neg = torch.exp(gamma_neg * log_p_m).mul_(active)
        loss_neg = neg_log_u * modulator_neg  # +0 below: neg_log_u > 0 there
    if y.dtype == torch.bool:
        loss = torch.where(y, loss_pos, loss_neg)
    else:
        loss = y * loss_pos + (1.0 - y) * loss_neg
    if not need_grad:
        return _scaled(loss, None, weight)
    grad_pos = -modulator_pos * (gamma_pos * p * -log_p + one_minus_p)
    if clip == 0.0:
        grad_neg = modulator_neg * (gamma_neg * one_minus_p * -log_1mp + p)
    else:
        # Below the clip modulator_neg is 0 and ratio is 1 (p_m = finfo.tiny).
        ratio = neg_log_u / p_m
        grad_neg = (p * one_minus_p) * modulator_neg * (gamma_neg * ratio + 1.0 / u)
    if y.dtype == torch.bool:
        grad = torch.where(y, grad_pos, grad_neg)
    else:
        grad = y * grad_pos + (1.0 - y) * grad_neg
    return _scaled(loss, grad, weight)


# Poly-1 (Leng et al. 2022), sigmoid form: the focal loss plus epsilon q^(gamma + 1), q = 1 - p_t.
# With dq/dx = (1 - 2y) p (1 - p):  d/dx q^k = k q^(k-1) (1 - 2y) p (1 - p), k = gamma + 1 >= 1,
# one exponential of logs, finite for every x.


def _log_q(x: Tensor, y: Tensor) -> Tensor:
    """log(1 - p_t) = log(y (1 - p) + (1 - y) p) in log space (smooth in x and a float y)."""
    if y.dtype == torch.bool:
        return saturated_logsigmoid(torch.where(y, -x, x))
    return _sigmoid.log_one_minus_pt(x, y)


def poly1_sigmoid_naive(
    x: Tensor,
    y: Tensor,
    *,
    epsilon: float,
    gamma: float,
    alpha: AlphaArg,
    weight: Tensor | None,
) -> Tensor:
    focal = _sigmoid.naive_elementwise(x, y, alpha=alpha, gamma=gamma, weight=None, pos_weight=None)
    loss = focal + epsilon * torch.exp((gamma + 1.0) * _log_q(x, y))
    return loss if weight is None else loss * weight


def poly1_sigmoid_fused(
    x: Tensor,
    y: Tensor,
    *,
    epsilon: float,
    gamma: float,
    alpha: AlphaArg,
    weight: Tensor | None,
    need_grad: bool,
) -> tuple[Tensor, Tensor | None]:
    loss, grad = _sigmoid.fused_elementwise(
        x,
        y,
        alpha=alpha,
        gamma=gamma,
        weight=None,
        pos_weight=None,
        need_grad=need_grad,
        detect_binary=False,
    )
    # Values only: the fused kernel differentiates by hand, so the plain log-space form
    # serves (the naive form's _log_q keeps its derivatives finite too, at more cost).
    if y.dtype == torch.bool:
        log_q = F.logsigmoid(torch.where(y, -x, x))
    else:
        log_q = torch.logaddexp(torch.log(y) + F.logsigmoid(-x), torch.log1p(-y) + F.logsigmoid(x))
    loss = loss + epsilon * torch.exp((gamma + 1.0) * log_q)
    if grad is not None:
        log_pq = F.logsigmoid(x) + F.logsigmoid(-x)  # log p (1 - p)
        d_term = (gamma + 1.0) * torch.exp(gamma * log_q + log_pq) * -_sign(y)
        grad = grad + epsilon * d_term
    return _scaled(loss, grad, weight)


# Varifocal loss (Zhang et al. 2021). With q the IoU-aware target score:
#   q > 0:  loss = s bce(x, q),        s = q (iou_weighted) or 1,  dloss/dx = s (p - q)
#   q = 0:  loss = alpha p^gamma softplus(x),
#           dloss/dx = alpha p^gamma (gamma (1 - p) softplus(x) + p)
# p - q is written (1 - q) p - q (1 - p), exact to rounding at q = 1 as p -> 1.


def _soft_bce(log_p: Tensor, log_1mp: Tensor, q: Tensor) -> Tensor:
    return -(q * log_p + (1.0 - q) * log_1mp)


def varifocal_naive(
    x: Tensor,
    q: Tensor,
    *,
    alpha: float,
    gamma: float,
    iou_weighted: bool,
    weight: Tensor | None,
) -> Tensor:
    log_p, log_1mp = F.logsigmoid(x), F.logsigmoid(-x)
    positive = _soft_bce(log_p, log_1mp, q)
    if iou_weighted:
        positive = q * positive
    # p^gamma's logarithm saturates (SATURATED_LOGIT) where softplus(x) grows like x.
    negative = alpha * _power(saturated_logsigmoid(x), gamma) * -log_1mp
    loss = torch.where(q > 0, positive, negative)
    return loss if weight is None else loss * weight


def varifocal_fused(
    x: Tensor,
    q: Tensor,
    *,
    alpha: float,
    gamma: float,
    iou_weighted: bool,
    weight: Tensor | None,
    need_grad: bool,
) -> tuple[Tensor, Tensor | None]:
    log_p, log_1mp = F.logsigmoid(x), F.logsigmoid(-x)
    positive = q > 0
    scale: Tensor | float = q if iou_weighted else 1.0
    modulator = _power(log_p, gamma)
    softplus_x = -log_1mp
    loss = torch.where(
        positive, scale * _soft_bce(log_p, log_1mp, q), alpha * modulator * softplus_x
    )
    if not need_grad:
        return _scaled(loss, None, weight)
    p, one_minus_p = log_p.exp(), log_1mp.exp()
    grad_pos = scale * ((1.0 - q) * p - q * one_minus_p)
    grad_neg = alpha * modulator * (gamma * one_minus_p * softplus_x + p)
    return _scaled(loss, torch.where(positive, grad_pos, grad_neg), weight)


# Quality focal loss (Li et al. 2020). With d = p - q:
#   loss = |d|^beta bce(x, q)
#   dloss/dx = beta |d|^(beta-1) sign(d) p (1 - p) bce + |d|^beta d
# For beta >= 1 the first factor is bounded (the functional layer rejects 0 < beta < 1, whose
# derivative is unbounded at p = q); at d = 0 the first term is 0.


def _difference(log_p: Tensor, log_1mp: Tensor, q: Tensor) -> Tensor:
    """p - q as (1 - q) p - q (1 - p): exact to rounding for q in {0, 1}."""
    return (1.0 - q) * log_p.exp() - q * log_1mp.exp()


def _abs_power(d: Tensor, beta: float) -> Tensor:
    """|d|^beta with finite derivatives of the first and second order under autograd.

    An even integer beta is the polynomial d^beta (exact derivatives everywhere). Otherwise
    d = 0 takes the constant 0, with derivatives 0: the first derivative's value for
    beta > 1 (and the convention of the fused kernel for beta = 1), the second's for
    beta > 2; for 1 < beta < 2 the true second derivative there is infinite. d is replaced
    by 1 in the branch not taken, so pow's derivative 0^(beta - 1) never meets it.
    """
    if float(beta).is_integer() and int(beta) % 2 == 0:
        return d.pow(beta)
    nonzero = d != 0  # True for NaN, which propagates
    safe = torch.where(nonzero, d, 1.0)
    return torch.where(nonzero, safe.abs().pow(beta), 0.0)


def quality_naive(x: Tensor, q: Tensor, *, beta: float, weight: Tensor | None) -> Tensor:
    log_p, log_1mp = F.logsigmoid(x), F.logsigmoid(-x)
    loss = _soft_bce(log_p, log_1mp, q)
    if beta != 0.0:
        # p and 1 - p from the saturated logit: exactly 0 or 1 past SATURATED_LOGIT either
        # way, with derivative exactly 0 where bce (about |x|) could overflow dloss/dd.
        x_s = x.clamp(min=-SATURATED_LOGIT, max=SATURATED_LOGIT)
        d = _difference(F.logsigmoid(x_s), F.logsigmoid(-x_s), q)
        loss = _abs_power(d, beta) * loss
    return loss if weight is None else loss * weight


def quality_fused(
    x: Tensor, q: Tensor, *, beta: float, weight: Tensor | None, need_grad: bool
) -> tuple[Tensor, Tensor | None]:
    log_p, log_1mp = F.logsigmoid(x), F.logsigmoid(-x)
    bce = _soft_bce(log_p, log_1mp, q)
    difference = _difference(log_p, log_1mp, q)
    if beta == 0.0:
        return _scaled(bce, difference if need_grad else None, weight)
    magnitude = difference.abs()
    modulator = magnitude.pow(beta)
    loss = modulator * bce
    if not need_grad:
        return _scaled(loss, None, weight)
    # beta |d|^(beta - 1) sign(d) = beta |d|^beta / d, taken as 0 at d = 0.
    slope = torch.where(magnitude > 0, beta * magnitude.pow(beta - 1.0) * difference.sign(), 0.0)
    grad = slope * torch.exp(log_p + log_1mp) * bce + modulator * difference
    return _scaled(loss, grad, weight)


# Poly-1, softmax form: the softmax focal loss plus epsilon (1 - P_t)^k, k = gamma + 1, with
# P_t = sum_c t_c p_c and dP_t/dx_j = p_j (t_j - P_t):
#   d/dx_j (1 - P_t)^k = -k (1 - P_t)^(k-1) p_j (t_j - P_t).
# For an index target 1 - P_t is 1 - p_y, taken as the sum of the other classes when p_y > 1/2;
# for a dense target it is sum_c t_c (1 - p_c) + (1 - sum_c t_c), each 1 - p_c accurate.


def poly1_softmax_term(x: Tensor, t: Tensor, *, power: float, dim: int) -> Tensor:
    """(1 - P_t)^power per location, the naive way: ``t`` is the dense target.

    Autograd differentiates this to every order and to t, so it is built to be smooth:

    - 1 - P_t = sum_c p_c (1 - t_c) (since sum_c p_c = 1): terms >= 0, no cancellation as
      P_t -> 1, and no clamp;
    - the power is exp(power log(1 - P_t)), finite second derivatives for power < 2 as
      1 - P_t -> 0;
    - log(1 - P_t) = log A + log1p(sum_{t_c = 1} (1 - t_c) p_c / A), A the sum over the
      classes with t_c < 1 taken as logsumexp(log p_c + log(1 - t_c)). The second term is 0
      but keeps the derivative in t_c at t_c = 1 (-p_c / A), which log(1 - t_c) cannot give
      (log 0, sanitised by a double where). p_c / A is capped at exp(log(finfo.max) / 2 - 1)
      so that its square stays finite (past it every such derivative is below the dtype's
      normal range).
    - log p_c is clamped at -SATURATED_LOGIT: p_c is 0 below it in every dtype, and the clamp
      keeps every logarithm finite for rows that differ by up to twice the float range.
    """
    if x.shape[dim] == 1:
        # A single class has p = 1: 1 - P_t = 1 - t, whatever the logit.
        return (1.0 - t).clamp(min=0.0).pow(power).squeeze(dim)
    log_p = torch.log_softmax(x, dim=dim).clamp(min=-SATURATED_LOGIT)
    u = 1.0 - t
    open_ = u > 0
    log_terms = torch.where(open_, log_p + torch.log(torch.where(open_, u, 1.0)), float("-inf"))
    log_a = torch.logsumexp(log_terms, dim=dim, keepdim=True)
    cap = 0.5 * math.log(torch.finfo(x.dtype).max) - 1.0
    ratio = torch.exp((log_p - log_a).clamp(max=cap))
    closed = torch.where(open_, 0.0, u) * ratio
    log_rest = log_a + torch.log1p(closed.sum(dim=dim, keepdim=True))
    return torch.exp(power * log_rest).squeeze(dim)


def poly1_softmax_fused(
    x: Tensor,
    target: Tensor,
    valid: Tensor | None,
    *,
    class_factor: Tensor | float | None,
    gamma: float,
    epsilon: float,
    dim: int,
    need_grad: bool,
) -> tuple[Tensor, Tensor | None]:
    loss, grad = _softmax.fused(
        x, target, valid, class_factor=class_factor, gamma=gamma, dim=dim, need_grad=need_grad
    )
    log_p = torch.log_softmax(x, dim=dim)
    p = log_p.exp()
    dense = target.is_floating_point() and target.shape[dim] == x.shape[dim]
    if dense:
        log_1mp = _softmax.log1m_softmax(x, log_p, dim)
        rest = (target * log_1mp.exp()).sum(dim=dim, keepdim=True) + (
            1.0 - target.sum(dim=dim, keepdim=True)
        )
    else:
        p_y = p.gather(dim, target)
        others = p.scatter(dim, target, 0.0).sum(dim=dim, keepdim=True)
        rest = torch.where(p_y <= 0.5, 1.0 - p_y, others)
    rest = rest.clamp(min=0.0)
    valid_factor = 1.0 if valid is None else valid.to(x.dtype)
    term = rest.pow(gamma + 1.0) * valid_factor
    loss = loss + epsilon * term.squeeze(dim)
    if grad is None:
        return loss, None
    coefficient = epsilon * (gamma + 1.0) * _power(torch.log(rest), gamma) * valid_factor
    if dense:
        # t_j - P_t = t_j - 1 + (1 - P_t)
        grad = grad - coefficient * p * (target - 1.0 + rest)
    else:
        # j != y: +k rest^(k-1) p_y p_j;  j = y: -k rest^(k-1) p_y (1 - p_y) = ... * rest
        extra = (coefficient * p_y) * p
        extra.scatter_(dim, target, -(coefficient * p_y * rest))
        grad = grad + extra
    return loss, grad
