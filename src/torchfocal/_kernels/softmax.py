"""Softmax focal loss math: the naive autograd version and the fused analytic version.

Nothing here validates input. Per location, with logits x over the class dimension,
l_c = log p_c = log_softmax(x)_c, class factor a_c = t_c * alpha_c * w_c (t the one-hot or
probability target, alpha and w the per-class alpha and weight):

    loss = -sum_c a_c m_c l_c,        m_c = (1 - p_c) ** gamma = exp(gamma * log(1 - p_c))

Gradient (derivation in docs/math.md). With dl_c/dx_j = delta_cj - p_j,

    d(m_c l_c)/dx_j = g_c (delta_cj - p_j),   g_c = m_c (1 + gamma p_c rho_c),
    rho_c = -l_c / (1 - p_c) = l_c / expm1(l_c)        (in [1, inf); -> 1 as p_c -> 1)
    dloss/dx_j = -a_j g_j (1 - p_j) + p_j sum_{c != j} a_c g_c

g_c replaces gamma (1 - p_c)^(gamma - 1) p_c l_c, whose first factor is infinite at p_c = 1
for gamma < 1, by the bounded product m_c p_c rho_c. The last line is written so that the
target class's term is a product with (1 - p_j), not the difference of two nearly equal
numbers when p_j -> 1.

log(1 - p_c) itself: for every class but the arg-max, p_c <= 1/2 and log1p(-p_c) is
accurate; for the arg-max class M, 1 - p_M = sum_{k != M} p_k, so
log(1 - p_M) = logsumexp_{k != M} x_k - logsumexp_k x_k, which keeps its precision when
p_M rounds to 1.

Rows whose logits differ by more than the float range (e.g. [max, -max, 0]): log p_c of
the far class is below -finfo.max and log_softmax rounds it to -inf. The loss terms
a_c log p_c are then formed by :func:`weighted_log_p` (never 0 * -inf, and finite wherever
the product is), and p_c rho_c takes its limit 0 (l_c is clamped at -SATURATED_LOGIT, where
p_c is already 0 in every dtype).
"""

from __future__ import annotations

from typing import cast

import torch
from torch import Tensor

from . import _blocks
from ._blocks import Gamma
from .sigmoid import SATURATED_LOGIT


def _weighted_log_p_value(
    weight: Tensor | float, x: Tensor, log_p: Tensor, dim: int, index: Tensor | None = None
) -> Tensor:
    """weight * log p for the fused kernels (values only, no autograd; see weighted_log_p).

    ``log_p`` and ``weight`` are the whole row's, or the entries gathered at ``index``. Where
    log p is -inf the product is weight x - weight top, with top the row's largest logit:
    logsumexp(x) exceeds it by at most log C, far below the rounding of a logit difference
    beyond finfo.max. Elsewhere it is the plain product; rows that differ by that much are
    rare, so the fix-up (a pass for the row maxima) runs only when a -inf is there.
    """
    product = weight * log_p
    if not _blocks.has_neg_inf(log_p):
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
    """log(1 - softmax(x)) along ``dim``, accurate for every class (see the module docstring)."""
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


def naive_per_location(
    x: Tensor, t: Tensor, *, class_factor: Tensor | float | None, gamma: Gamma, dim: int
) -> Tensor:
    """The readable version: plain torch ops under autograd; ``t`` is the dense target.

    Autograd differentiates this to every order and to t and the class factor, so: the
    modulator is exp(gamma log(1 - p_c)) (finite derivatives for gamma < 1), and where
    log p_c < -SATURATED_LOGIT it is the constant 1 (its exact value: p_c is 0 in every
    dtype), which keeps an overflowing dloss/dm_c = -a_c log p_c (up to 2 finfo.max) times
    gamma away from dlog(1 - p_c)/dx = 0 (inf * 0 = NaN).
    """
    log_p = torch.log_softmax(x, dim=dim)
    weight = t if class_factor is None else t * class_factor
    if not _blocks.equals(gamma, 0.0):
        modulator = torch.exp(gamma * log1m_softmax(x, log_p, dim))
        weight = weight * torch.where(log_p < -SATURATED_LOGIT, 1.0, modulator)
    log_z = log_normaliser(x, log_p, dim)
    return -weighted_log_p(weight, x, log_p, log_z).sum(dim=dim)


def _modulator_and_g(
    log_p: Tensor, log_1mp: Tensor, gamma: Gamma, need_grad: bool
) -> tuple[Tensor | float, Tensor | float | None]:
    if _blocks.equals(gamma, 0.0):
        return 1.0, (1.0 if need_grad else None)
    modulator = torch.exp(gamma * log_1mp)
    if not need_grad:
        return modulator, None
    return modulator, modulator * (1.0 + gamma * _p_rho(log_p))


def _p_rho(log_p: Tensor) -> Tensor:
    """p rho = p l / expm1(l), l = log p: its limit 1 where l rounds to 0, and 0 where p is 0
    (l is clamped at -SATURATED_LOGIT, so l = -inf never forms -inf / -1 * 0)."""
    l = log_p.clamp(min=-SATURATED_LOGIT)  # noqa: E741
    return torch.exp(l) * torch.where(l < 0, l / torch.expm1(l), 1.0)


def fused_index(
    x: Tensor,
    index: Tensor,
    valid: Tensor | None,
    *,
    class_factor: Tensor | float | None,
    gamma: Gamma,
    dim: int,
    need_grad: bool,
) -> tuple[Tensor, Tensor | None]:
    """Hard index targets: ``index`` has the class dim of size 1 (ignored entries set to 0).

    Only the target class carries a_c, so its quantities are gathered and no one-hot is
    built.
    """
    # log_softmax shifts by the maximum first; x - logsumexp(x) would lose ~1e-3 at |x| ~ 1e4
    # in float32.
    p = torch.log_softmax(x, dim=dim)
    log_p_y = p.gather(dim, index)
    p = p.exp_()
    # 1 - p_y: directly while p_y <= 1/2 (no cancellation there, and exact to rounding even
    # when the logits are so large that the p_k carry the rounding of logsumexp), else as
    # the sum of the other classes' probabilities (no cancellation as p_y -> 1).
    p_y = log_p_y.exp()
    others = p.scatter(dim, index, 0.0).sum(dim=dim, keepdim=True)
    rest = torch.where(p_y <= 0.5, 1.0 - p_y, others)
    a_y: Tensor | float = 1.0
    if isinstance(class_factor, Tensor):
        a_y = class_factor.reshape(-1)[index]
    elif class_factor is not None:
        a_y = class_factor
    if valid is not None:
        a_y = valid.to(x.dtype) * a_y
    if _blocks.equals(gamma, 0.0):
        modulator: Tensor | float = 1.0
    elif _blocks.equals(gamma, 2.0):
        modulator = rest * rest
    else:
        modulator = torch.log(rest).mul_(gamma).exp_()
    loss = (-_weighted_log_p_value(a_y * modulator, x, log_p_y, dim, index)).squeeze(dim)
    if not need_grad:
        return loss, None
    # g_y = m_y (1 + gamma p_y rho_y), rho = l / expm1(l) (-> 1 where l rounds to 0).
    g_y: Tensor | float = 1.0
    if not _blocks.equals(gamma, 0.0):
        g_y = modulator * (1.0 + gamma * _p_rho(log_p_y))
    coefficient = a_y * g_y
    grad = p.mul_(coefficient)
    # The target class: -a_y g_y (1 - p_y).
    grad.scatter_(dim, index, -(coefficient * rest).expand_as(log_p_y))
    return loss, grad


def fused_dense(
    x: Tensor,
    t: Tensor,
    *,
    class_factor: Tensor | float | None,
    gamma: Gamma,
    dim: int,
    need_grad: bool,
) -> tuple[Tensor, Tensor | None]:
    """Dense targets (probabilities, or smoothed one-hot): every class may carry weight."""
    log_p = torch.log_softmax(x, dim=dim)
    log_1mp = log1m_softmax(x, log_p, dim) if not _blocks.equals(gamma, 0.0) or need_grad else log_p
    modulator, g = _modulator_and_g(log_p, log_1mp, gamma, need_grad)
    a = t if class_factor is None else t * class_factor
    loss = -_weighted_log_p_value(a * modulator, x, log_p, dim).sum(dim=dim)
    if not need_grad:
        return loss, None
    a_g = a * cast(Tensor | float, g)
    total = a_g.sum(dim=dim, keepdim=True)
    grad = torch.exp(log_p) * (total - a_g) - a_g * torch.exp(log_1mp)
    return loss, grad


def fused(
    x: Tensor,
    target: Tensor,
    valid: Tensor | None,
    *,
    class_factor: Tensor | float | None,
    gamma: Gamma,
    dim: int,
    need_grad: bool,
) -> tuple[Tensor, Tensor | None]:
    """The fused kernel for either target form: an index target has a class dim of size 1."""
    if target.is_floating_point():  # only a dense target is a float (indices are integers)
        return fused_dense(
            x, target, class_factor=class_factor, gamma=gamma, dim=dim, need_grad=need_grad
        )
    return fused_index(
        x, target, valid, class_factor=class_factor, gamma=gamma, dim=dim, need_grad=need_grad
    )


def run_fused(
    input: Tensor,
    need_grad: bool,
    *,
    target: Tensor,
    valid: Tensor | None,
    class_factor: Tensor | float | None,
    gamma: Gamma,
    dim: int,
    divisor: float | Tensor | None,
    compute_dtype: torch.dtype,
    compiled: bool,
) -> tuple[Tensor, Tensor | None]:
    """The fused loss of one call and dloss/dinput, both in the input's dtype.

    ``target`` is either an index tensor (class dim of size 1) or a dense float target of
    the input's shape; ``divisor`` is None for ``reduction="none"``.
    """
    if compiled:
        from . import compiled as _compiled

        dense = target.is_floating_point()
        x = input.to(compute_dtype)
        result = _compiled.softmax(
            x, target, valid, class_factor, gamma, dim, dense, divisor, need_grad
        )
        if result is not None:
            loss, grad = result
            return loss.to(input.dtype), None if grad is None else grad.to(input.dtype)
    return _blocks.run_per_location(
        fused,
        input,
        need_grad,
        operands={"target": target, "valid": valid, "class_factor": class_factor, "gamma": gamma},
        dim=dim,
        divisor=divisor,
        compute_dtype=compute_dtype,
    )
