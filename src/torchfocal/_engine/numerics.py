"""Numerics every loss shares: logsigmoids, log(1 - p_t), log-softmax pieces, alpha_t.

Nothing here knows a loss by name: these are the building blocks the loss modules write
their naive and fused forms with. Notation (per element): x the logit, y the target in
[0, 1], p = sigmoid(x), p_t = p y + (1 - p)(1 - y); for the softmax forms p_c the class
probabilities along the class dimension. Derivations are in docs/math.md.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

#: A focusing parameter: a number, or one value per element (a sample-dependent gamma, which
#: the kernels treat as a constant of the graph).
Gamma = float | Tensor
#: alpha as the kernels take it: absent, one number, or per-class values lined up with x.
AlphaArg = float | Tensor | None
#: ``kernel(x, target, **operands, need_grad=..., [dim=..., grad_scale=...]) -> (loss,
#: dloss/dx or None)``. The gradient an elementwise kernel returns is a tensor of its own
#: (no view of an operand): the runners scale it by 1 / divisor in place. A per-location
#: kernel (``dim`` given) takes that factor as ``grad_scale`` (None or a number) and
#: applies it itself, where it costs one value per location instead of a pass over every
#: element.
Kernel = Callable[..., tuple[Tensor, Tensor | None]]

#: A logit magnitude past which sigmoid(-|x|) underflows to exactly 0 in every compute dtype
#: (float32 below about -104, float64 below -745). A modulator such as (1 - p)^gamma is then
#: exactly constant in x, and the naive forms evaluate it at this bound: same value, and a
#: derivative that is exactly 0 instead of the product of an overflowing upstream gradient
#: (the loss, up to |x| ~ finfo.max, times gamma) with an underflowed one (inf * 0 = NaN).
SATURATED_LOGIT = 1e4


#: torch.compiler.is_compiling, where torch has it (2.3 and later); looked up once, as
#: torch 2.2's dynamo cannot trace the lookup.
_is_compiling: Callable[[], bool] | None = getattr(torch.compiler, "is_compiling", None)


def is_compiling() -> bool:
    """True while torch.compile traces (data-dependent Python branches must be avoided)."""
    if _is_compiling is not None:
        return bool(_is_compiling())
    # torch < 2.3: tracing has imported torch._dynamo, whose is_compiling it answers
    if "torch._dynamo" not in sys.modules:
        return False
    return bool(sys.modules["torch._dynamo"].is_compiling())


def is_transformed(tensor: Tensor) -> bool:
    """True for a tensor that a torch.func transform wraps (vmap's batched tensors, grad's
    and jacrev's tracked ones): the host cannot read its values (vmap refuses ``.item()``
    and data-dependent branches), and Triton kernels and compiled programs cannot take it.

    False while torch.compile traces: dynamo cannot trace the question (a graph break), and
    what it traces, transforms included, is never read on the host anyway."""
    return not is_compiling() and torch._C._functorch.is_functorch_wrapped_tensor(tensor)


def reads_values(tensor: Tensor) -> bool:
    """Whether a data-dependent Python branch on ``tensor`` is free: a CPU tensor outside
    torch.compile and torch.func transforms. Elsewhere (CUDA and other devices, where the
    read is a host-device synchronisation; meta tensors, which have no values; tracing;
    a transformed tensor, :func:`is_transformed`) the kernels take the branch-free form."""
    return tensor.device.type == "cpu" and not is_compiling() and not is_transformed(tensor)


def has_neg_inf(values: Tensor) -> bool:
    """Whether ``values`` may hold -inf: checked where that is free (:func:`reads_values`),
    assumed elsewhere."""
    if not reads_values(values):
        return True
    return bool(torch.isneginf(values).any())


def equals(gamma: Gamma, value: float) -> bool:
    """gamma is the number ``value`` (a per-element gamma tensor takes the general path)."""
    return not isinstance(gamma, Tensor) and gamma == value


def scalar(value: float, like: Tensor) -> Tensor:
    """A number as a 0-d tensor of x's dtype on x's device. ``torch.full`` writes it on the
    device itself: no host-to-device copy, so no synchronisation."""
    return torch.full((), value, dtype=like.dtype, device=like.device)


def sign(y: Tensor) -> Tensor:
    """2y - 1: +1 for a positive target, -1 for a negative one (linear for soft targets)."""
    if y.dtype == torch.bool:
        return torch.where(y, 1.0, -1.0)
    return 2.0 * y - 1.0


def times(*factors: Tensor | float | None) -> Tensor | float | None:
    """The product of the factors that are present (None when none is)."""
    result: Tensor | float | None = None
    for factor in factors:
        if factor is not None:
            result = factor if result is None else result * factor
    return result


def scaled(
    loss: Tensor, grad: Tensor | None, scale: Tensor | float | None
) -> tuple[Tensor, Tensor | None]:
    """(loss, grad) times an elementwise scale (a weight), when there is one."""
    if scale is None:
        return loss, grad
    return loss * scale, None if grad is None else grad * scale


def power(log_base: Tensor, exponent: float | Tensor) -> Tensor | float:
    """base^exponent from log(base); exponent 0 gives 1 even where the base is 0 (a 0-d
    tensor exponent, as the compiled engine passes a number, is never 0)."""
    return 1.0 if equals(exponent, 0.0) else torch.exp(exponent * log_base)


# Sigmoid forms -----------------------------------------------------------------------------


def soft_bce(log_p: Tensor, log_1mp: Tensor, q: Tensor) -> Tensor:
    """Binary cross-entropy against a soft target q, from log p and log(1 - p)."""
    return -(q * log_p + (1.0 - q) * log_1mp)


def saturated_logsigmoid(z: Tensor) -> Tensor:
    """logsigmoid(z) for a modulator's exponent: exact, with z clamped at +SATURATED_LOGIT
    (beyond it logsigmoid(z) = -exp(-z) rounds to 0 and so does its derivative)."""
    return F.logsigmoid(z.clamp(max=SATURATED_LOGIT))


def logaddexp(a: Tensor, b: Tensor) -> Tensor:
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
    is finite (a logaddexp with finite second derivatives, :func:`logaddexp`). For d = 0,
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
    mixed = logaddexp(
        torch.log(d_safe) + F.logsigmoid(x_t), torch.log1p(-d_safe) + F.logsigmoid(-x_t)
    )
    cap = 0.5 * math.log(torch.finfo(x.dtype).max) - 1.0
    hard = F.logsigmoid(-x_t) + torch.log1p(d * torch.expm1(x_t.clamp(max=cap)))
    return torch.where(soft, mixed, hard)


def alpha_t(alpha: AlphaArg, y: Tensor, like: Tensor) -> Tensor | float | None:
    """alpha_t = alpha y + (1 - alpha)(1 - y) = (1 - alpha) + y (2 alpha - 1): alpha for a
    positive, 1 - alpha for a negative, linear in a soft target (None when alpha is None).

    Two arithmetic ops on the target (bool targets are read as 0 and 1), differentiable in
    alpha and y; the CPU's bool ops (``torch.where``) cost several times as much.
    """
    if alpha is None:
        return None
    if y.dtype == torch.bool:
        y = y.to(like.dtype)
    if isinstance(alpha, Tensor):
        return y * (2.0 * alpha - 1.0) + (1.0 - alpha)
    return y.mul(2.0 * alpha - 1.0).add_(1.0 - alpha)


# Softmax forms -----------------------------------------------------------------------------


def weighted_log_p_value(
    weight: Tensor | float, x: Tensor, log_p: Tensor, dim: int, index: Tensor | None = None
) -> Tensor:
    """weight * log p for the fused kernels (values only, no autograd; see weighted_log_p).

    ``log_p`` and ``weight`` are the whole row's, or the entries gathered at ``index``. Where
    log p is -inf the product is weight x - weight top, with top the row's largest logit:
    logsumexp(x) exceeds it by at most log C, far below the rounding of a logit difference
    beyond finfo.max. Elsewhere it is the plain product; rows that differ by that much are
    rare, so the fix-up (a pass for the row maxima) runs only when a -inf is there (always,
    where looking costs a synchronisation: :func:`has_neg_inf`).
    """
    product = weight * log_p
    if not has_neg_inf(log_p):
        return product
    top = x.amax(dim=dim, keepdim=True)
    if index is not None:
        x = x.gather(dim, index)
    return torch.where(torch.isneginf(log_p), weight * x - weight * top, product)


def log_normaliser(x: Tensor, log_p: Tensor, dim: int) -> Tensor:
    """logsumexp(x) along ``dim`` (kept), from log_softmax: x_M - log p_M at the arg-max M.

    log p_M = -log sum_k exp(x_k - x_M) lies in [-log C, 0], so this is exact to rounding
    and needs no second pass of exponentials.
    """
    return x.amax(dim=dim, keepdim=True) - log_p.amax(dim=dim, keepdim=True)


def weighted_log_p(weight: Tensor, x: Tensor, log_p: Tensor, log_z: Tensor) -> Tensor:
    """weight * log p for weight >= 0, finite wherever the true product is.

    log p_c = x_c - log_z is -inf where x_c lies more than the float range below the row's
    maximum (its true value is below -finfo.max). There the product is taken as
    weight x_c - weight log_z: two finite terms, so 0 for weight 0 (not 0 * -inf = NaN) and
    finite for a weight small enough (a DFL bin share, alpha = 0.25), -inf only where the
    true product is beyond the range. Under autograd both branches have the derivative
    weight (delta_cj - p_j) in x and log p_c in the weight, and each is evaluated on inputs
    made safe where it is not taken (the "double where"), so neither puts 0 * inf into the
    other's gradient. A NaN log p (a NaN logit in the row) takes the ordinary branch.
    """
    far = log_p == float("-inf")
    inside = weight * torch.where(far, 0.0, log_p)
    outside = weight * torch.where(far, x, 0.0) - weight * torch.where(far, log_z, 0.0)
    return torch.where(far, outside, inside)


def log1m_softmax(x: Tensor, log_p: Tensor, dim: int) -> Tensor:
    """log(1 - softmax(x)) along ``dim``, accurate for every class.

    For every class but the arg-max, p_c <= 1/2 and log1p(-p_c) is accurate; for the
    arg-max class M, 1 - p_M = sum_{k != M} p_k, so
    log(1 - p_M) = logsumexp_{k != M} x_k - logsumexp_k x_k, which keeps its precision when
    p_M rounds to 1.
    """
    num_classes = x.shape[dim]
    if num_classes == 1:
        # One class: p = 1 exactly; a constant, so no gradient can flow through -inf.
        return torch.full_like(x, float("-inf"))
    top = x.argmax(dim=dim, keepdim=True)
    # The arg-max entry is replaced below; a constant there keeps log1p(-1) = -inf (and its
    # infinite derivative, which autograd would turn into 0 * inf = NaN) out of the graph.
    result = torch.log1p(-torch.exp(log_p.scatter(dim, top, -1.0)))
    # Shifted by the maximum, both logsumexps are small numbers: at |x| ~ 1e4 in float32 the
    # unshifted ones carry a rounding of ~1e-3 each, and so would their difference.
    shifted = x - x.gather(dim, top)
    others = shifted.scatter(dim, top, float("-inf"))
    log_rest = torch.logsumexp(others, dim=dim, keepdim=True) - torch.logsumexp(
        shifted, dim=dim, keepdim=True
    )
    return result.scatter(dim, top, log_rest)


def p_rho(log_p: Tensor) -> Tensor:
    """p rho = p l / expm1(l), l = log p: its limit 1 where l rounds to 0, and 0 where p is 0
    (l is clamped at -SATURATED_LOGIT, so l = -inf never forms -inf / -1 * 0)."""
    l = log_p.clamp(min=-SATURATED_LOGIT)  # noqa: E741
    return torch.exp(l) * torch.where(l < 0, l / torch.expm1(l), 1.0)
