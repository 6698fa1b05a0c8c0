"""Sigmoid focal loss math: the naive autograd version and the fused analytic version.

Nothing here validates input: the functional layer hands over tensors that are already
checked, on one device, in the compute dtype (float32 or float64), and shaped so that
``alpha``, ``weight`` and ``pos_weight`` broadcast against ``x``.

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
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch import Tensor

from . import _blocks
from ._blocks import Gamma

AlphaArg = float | Tensor | None


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

    ``y`` is a float target here (the functional layer converts masks). The modulator is
    still taken in log space: ``(1 - p_t) ** gamma`` written directly has an infinite
    derivative at p_t = 1 when gamma < 1, and autograd turns that into NaN.
    """
    ce = F.binary_cross_entropy_with_logits(x, y, pos_weight=pos_weight, reduction="none")
    if _blocks.equals(gamma, 0.0):
        modulator: Tensor | float = 1.0
    else:
        log_p, log_1mp = F.logsigmoid(x), F.logsigmoid(-x)
        log_q = torch.logaddexp(torch.log(y) + log_1mp, torch.log1p(-y) + log_p)
        modulator = torch.exp(gamma * log_q)
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
