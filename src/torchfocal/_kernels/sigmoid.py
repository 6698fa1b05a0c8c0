"""Sigmoid focal loss math: the naive autograd version and the fused analytic version.

Nothing here validates input: the functional layer hands over tensors that are already
checked, on one device, and shaped so that ``alpha``, ``weight`` and ``pos_weight``
broadcast against ``x``; the math functions get them in the compute dtype (float32 or
float64), :func:`run_fused` gets the input in its own dtype and casts it.

Notation (per element): x the logit, y the target in [0, 1], p = sigmoid(x),
p_t = p y + (1 - p)(1 - y), q = 1 - p_t = y (1 - p) + (1 - y) p,
alpha_t = alpha y + (1 - alpha)(1 - y), c the pos_weight (1 when absent), w the weight.

    ce   = -(c y log p + (1 - y) log(1 - p))          (BCEWithLogitsLoss, pos_weight c)
    m    = q ** gamma = exp(gamma log q)               (the modulator)
    loss = w alpha_t m ce

Gradient (derivation in docs/math.md):

    d ce / dx = (1 - y) p - c y (1 - p)
    d m / dx  = gamma q^(gamma - 1) dq/dx = gamma m (1 - 2y) r,   r = p (1 - p) / q
    d loss/dx = w alpha_t (d m/dx ce + m d ce/dx)

q is a convex combination of p and 1 - p, so q >= min(p, 1 - p) and r <= max(p, 1 - p) <= 1:
written with r, the gradient never forms q^(gamma - 1), which is what overflows to inf (and
then NaN) for gamma < 1 when the example is well classified. Every logarithm is a
logsigmoid of a finite logit, so log q, m and r are finite for every finite x.

The naive version is what autograd differentiates, to every order and to every tensor
argument, so its log q (:func:`log_one_minus_pt`) is written to be smooth in x and y with
finite derivatives everywhere, hard targets included (docs/math.md, "Derivatives of the
naive forms").
"""

from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F
from torch import Tensor

from . import _blocks
from ._blocks import Gamma

AlphaArg = float | Tensor | None

#: A logit magnitude past which sigmoid(-|x|) underflows to exactly 0 in every compute dtype
#: (float32 below about -104, float64 below -745). A modulator such as (1 - p)^gamma is then
#: exactly constant in x, and the naive forms evaluate it at this bound: same value, and a
#: derivative that is exactly 0 instead of the product of an overflowing upstream gradient
#: (the loss, up to |x| ~ finfo.max, times gamma) with an underflowed one (inf * 0 = NaN).
SATURATED_LOGIT = 1e4


def saturated_logsigmoid(z: Tensor) -> Tensor:
    """logsigmoid(z) for a modulator's exponent: exact, with z clamped at +SATURATED_LOGIT
    (beyond it logsigmoid(z) = -exp(-z) rounds to 0 and so does its derivative)."""
    return F.logsigmoid(z.clamp(max=SATURATED_LOGIT))


def _logaddexp(a: Tensor, b: Tensor) -> Tensor:
    """log(e^a + e^b) = hi - logsigmoid(hi - lo), hi and lo the larger and smaller argument.

    torch.logaddexp's second derivative is NaN once |a - b| passes exp's range (89 in
    float32); logsigmoid's is not. Both branches of the where are the same analytic function
    (a - logsigmoid(a - b) = b - logsigmoid(b - a)), so every derivative is exact, ties
    included; the larger argument as the base keeps hi - lo >= 0 free of cancellation.
    """
    first = a >= b  # False for NaN, which then flows through hi - lo
    hi, lo = torch.where(first, a, b), torch.where(first, b, a)
    return hi - F.logsigmoid(hi - lo)


def log_one_minus_pt(x: Tensor, y: Tensor) -> Tensor:
    """log q = log(1 - p_t) = log(y (1 - p) + (1 - y) p) for a float target y in [0, 1].

    Exact for every finite x and y, and smooth in both under autograd: first and second
    derivatives are finite, hard targets included. Anchored at the hard target
    y0 = [y > 1/2] (a constant), with x_t = x for y0 = 1, -x for y0 = 0, and
    d = |y - y0| in [0, 1/2] (linear in y):

        q = d p_t0 + (1 - d) q0,      p_t0 = sigmoid(x_t),  q0 = sigmoid(-x_t).

    For d > 0 every term of logaddexp(log d + logsigmoid(x_t), log1p(-d) + logsigmoid(-x_t))
    is finite (a logaddexp with finite second derivatives, :func:`_logaddexp`). For d = 0,
    log d = -inf would meet a zero weight in the chain rule (0 * inf = NaN); there
    q = q0 (1 + d k) with k = (p_t0 - q0) / q0 = expm1(x_t), so

        log q = logsigmoid(-x_t) + log1p(d expm1(x_t))

    has the value logsigmoid(-x_t) and keeps the derivatives in y: dlog q/dd = expm1(x_t) and
    d2log q/(dd dx_t) = exp(x_t). Each branch is evaluated on inputs made safe where it is
    not taken (the "double where"), so neither puts inf or NaN into the other's gradient.
    expm1 is capped at x_t = log(finfo.max) / 2 - 1, so that its square stays finite; past
    that cap the derivative in a hard target is that of the cap, where q0 and every
    derivative in y are already below the dtype's normal range (e^-43 in float32, e^-353 in
    float64). x_t below -SATURATED_LOGIT is evaluated at the bound, where q is exactly
    1 - d and its derivative in x exactly 0 (see SATURATED_LOGIT).
    """
    anchor = y > 0.5
    x_t = torch.where(anchor, x, -x).clamp(min=-SATURATED_LOGIT)
    d = torch.where(anchor, 1.0 - y, y)
    soft = d > 0
    d_safe = torch.where(soft, d, 0.5)
    mixed = _logaddexp(
        torch.log(d_safe) + F.logsigmoid(x_t), torch.log1p(-d_safe) + F.logsigmoid(-x_t)
    )
    cap = 0.5 * math.log(torch.finfo(x.dtype).max) - 1.0
    hard = F.logsigmoid(-x_t) + torch.log1p(d * torch.expm1(x_t.clamp(max=cap)))
    return torch.where(soft, mixed, hard)


def _alpha_t(alpha: AlphaArg, y: Tensor) -> Tensor | float:
    """alpha y + (1 - alpha)(1 - y) for float targets (1 when alpha is None)."""
    if alpha is None:
        return 1.0
    return alpha * y + (1.0 - alpha) * (1.0 - y)


def _alpha_select(alpha: float | Tensor, y: Tensor, like: Tensor) -> Tensor:
    """alpha_t for a bool target: alpha where y, else 1 - alpha."""
    if not isinstance(alpha, Tensor):
        alpha = torch.tensor(alpha, dtype=like.dtype, device=like.device)
    return torch.where(y, alpha, 1.0 - alpha)


def naive_elementwise(
    x: Tensor,
    y: Tensor,
    *,
    alpha: AlphaArg,
    gamma: Gamma,
    weight: Tensor | None,
    pos_weight: Tensor | None,
) -> Tensor:
    """The readable version: plain torch ops, differentiated by autograd.

    ``y`` is a float target (a bool mask is converted here). Autograd takes every
    derivative of this form (to x, y, alpha, weight and pos_weight, and second derivatives),
    so each piece is smooth with finite derivatives: ce as logsigmoids (finite for every
    finite x), and the modulator in log space with :func:`log_one_minus_pt`;
    ``(1 - p_t) ** gamma`` written directly has an infinite derivative at p_t = 1 when
    gamma < 1, and ``log(y)`` an infinite one at y = 0, which autograd turns into NaN.
    """
    if y.dtype == torch.bool:
        y = y.to(x.dtype)
    c_y = y if pos_weight is None else pos_weight * y
    ce = -(c_y * F.logsigmoid(x) + (1.0 - y) * F.logsigmoid(-x))
    if _blocks.equals(gamma, 0.0):
        modulator: Tensor | float = 1.0
    else:
        modulator = torch.exp(gamma * log_one_minus_pt(x, y))
    loss = modulator * ce
    if alpha is not None:
        loss = (alpha * y + (1.0 - alpha) * (1.0 - y)) * loss
    if weight is not None:
        loss = loss * weight
    return loss


def fused_elementwise(
    x: Tensor,
    y: Tensor,
    *,
    alpha: AlphaArg,
    gamma: Gamma,
    weight: Tensor | None,
    pos_weight: Tensor | None,
    need_grad: bool,
    detect_binary: bool = True,
) -> tuple[Tensor, Tensor | None]:
    """Loss and dloss/dx of one block; ``y`` is a bool mask (hard targets) or float.

    With ``detect_binary``, float targets holding only 0 and 1 take the hard path (a
    data-dependent branch, so the compiled engine and tracing turn it off).
    """
    if y.dtype != torch.bool and detect_binary and _all_binary(y):
        y = y > 0.5
    if y.dtype == torch.bool:
        loss, grad = _hard(
            x, y, alpha=alpha, gamma=gamma, pos_weight=pos_weight, need_grad=need_grad
        )
    else:
        loss, grad = _soft(
            x, y, alpha=alpha, gamma=gamma, pos_weight=pos_weight, need_grad=need_grad
        )
    if weight is not None:
        loss = loss * weight
        if grad is not None:
            grad = grad * weight
    return loss, grad


def _all_binary(y: Tensor) -> bool:
    """Float targets that hold only 0 and 1 take the cheaper hard-target path."""
    return bool(((y == 0) | (y == 1)).all())


def _hard(
    x: Tensor,
    y: Tensor,
    *,
    alpha: AlphaArg,
    gamma: Gamma,
    pos_weight: Tensor | None,
    need_grad: bool,
) -> tuple[Tensor, Tensor | None]:
    """Hard targets: with x_t = x for y = 1 and -x for y = 0, p_t = sigmoid(x_t).

    One exponential and one log1p serve every term: with e = exp(-|x_t|) and
    t = log1p(e), softplus(+-x_t) = t + relu(+-x_t), so

        ce = -log p_t = softplus(-x_t),     -log(1 - p_t) = softplus(x_t),
        p_t, 1 - p_t  = 1 / (1 + e) and e / (1 + e) (which is which by the sign of x_t),

    all accurate to rounding for every finite x_t. With m = (1 - p_t)^gamma and the
    pos_weight c_t of the element's side, since dx_t/dx = +-1:

        loss       = alpha_t m c_t ce
        dloss/dx_t = -alpha_t m (gamma p_t c_t ce + c_t (1 - p_t)).
    """
    x_t = torch.where(y, x, -x)
    positive = x_t >= 0
    e = x_t.abs().neg_().exp_()
    t = torch.log1p(e)
    ce = torch.where(positive, t, t - x_t)  # softplus(-x_t)
    r = e.add(1.0).reciprocal_()
    q = torch.where(positive, e.mul_(r), r)  # 1 - p_t; e now holds e / (1 + e)
    if _blocks.equals(gamma, 0.0):
        modulator: Tensor | None = None
    elif _blocks.equals(gamma, 1.0):
        modulator = q
    elif _blocks.equals(gamma, 2.0):
        modulator = q * q
    else:
        # log(1 - p_t) = -softplus(x_t): the modulator in log space, exact for any gamma.
        modulator = torch.where(positive, t.add(x_t), t).mul_(-gamma).exp_()
    c_t = None
    if pos_weight is not None:
        c_t = torch.where(y, pos_weight, torch.ones((), dtype=x.dtype, device=x.device))
        ce = ce * c_t
    scale: Tensor | None = modulator
    if alpha is not None:
        alpha_t = _alpha_select(alpha, y, x)
        scale = alpha_t if scale is None else scale * alpha_t
    loss = ce if scale is None else scale * ce
    if not need_grad:
        return loss, None
    # q is still 1 - p_t; e holds e / (1 + e), r holds 1 / (1 + e).
    p_t = torch.where(positive, r, e)
    inner = q if c_t is None else q * c_t
    if not _blocks.equals(gamma, 0.0):
        inner = p_t.mul_(gamma).mul_(ce).add_(inner)
    grad_t = inner if scale is None else inner * scale
    grad = torch.where(y, grad_t.neg(), grad_t)
    return loss, grad


def _soft(
    x: Tensor,
    y: Tensor,
    *,
    alpha: AlphaArg,
    gamma: Gamma,
    pos_weight: Tensor | None,
    need_grad: bool,
) -> tuple[Tensor, Tensor | None]:
    """Soft (or smoothed) targets, the general formulas of the module docstring."""
    log_p, log_1mp = F.logsigmoid(x), F.logsigmoid(-x)
    c_y = y if pos_weight is None else pos_weight * y
    ce = -(c_y * log_p + (1.0 - y) * log_1mp)
    alpha_t = _alpha_t(alpha, y)
    if _blocks.equals(gamma, 0.0):
        loss = alpha_t * ce
        if not need_grad:
            return loss, None
        grad = alpha_t * ((1.0 - y) * torch.sigmoid(x) - c_y * torch.sigmoid(-x))
        return loss, grad
    # log q = log(y (1 - p) + (1 - y) p); log(0) = -inf is harmless inside logaddexp.
    log_q = torch.logaddexp(torch.log(y) + log_1mp, torch.log1p(-y) + log_p)
    modulator = torch.exp(gamma * log_q)
    loss = alpha_t * modulator * ce
    if not need_grad:
        return loss, None
    r = torch.exp(log_p + log_1mp - log_q)
    d_modulator = gamma * modulator * (1.0 - 2.0 * y) * r
    d_ce = (1.0 - y) * torch.sigmoid(x) - c_y * torch.sigmoid(-x)
    grad = alpha_t * (d_modulator * ce + modulator * d_ce)
    return loss, grad


def run_fused(
    input: Tensor,
    need_grad: bool,
    *,
    y: Tensor,
    alpha: AlphaArg,
    gamma: Gamma,
    weight: Tensor | None,
    pos_weight: Tensor | None,
    divisor: float | Tensor | None,
    compute_dtype: torch.dtype,
    compiled: bool,
) -> tuple[Tensor, Tensor | None]:
    """The fused loss of one call and dloss/dinput, both in the input's dtype.

    ``divisor`` is ``None`` for ``reduction="none"``, else the normaliser of
    :mod:`torchfocal._reduction`; ``compute_dtype`` is the dtype of the math. With
    ``compiled`` the math runs through :mod:`torchfocal._kernels.compiled` (eagerly, block
    by block, where compiling is unavailable).
    """
    if compiled:
        from . import compiled as _compiled

        x = input.to(compute_dtype)
        result = _compiled.sigmoid(x, y, alpha, gamma, weight, pos_weight, divisor, need_grad)
        if result is not None:
            loss, grad = result
            return loss.to(input.dtype), None if grad is None else grad.to(input.dtype)
    return _blocks.run_elementwise(
        functools.partial(fused_elementwise, detect_binary=not _blocks.is_compiling()),
        input,
        need_grad,
        operands={
            "y": y,
            "alpha": alpha,
            "gamma": gamma,
            "weight": weight,
            "pos_weight": pos_weight,
        },
        divisor=divisor,
        compute_dtype=compute_dtype,
    )
