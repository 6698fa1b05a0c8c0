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
"""

from __future__ import annotations

from typing import cast

import torch
from torch import Tensor

from . import _blocks
from ._blocks import Gamma


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
    """The readable version: plain torch ops under autograd; ``t`` is the dense target."""
    log_p = torch.log_softmax(x, dim=dim)
    modulator = (
        1.0 if _blocks.equals(gamma, 0.0) else torch.exp(gamma * log1m_softmax(x, log_p, dim))
    )
    focal_log_p = modulator * log_p
    weighted = t * focal_log_p
    if class_factor is not None:
        weighted = weighted * class_factor
    return -weighted.sum(dim=dim)


def _modulator_and_g(
    log_p: Tensor, log_1mp: Tensor, gamma: Gamma, need_grad: bool
) -> tuple[Tensor | float, Tensor | float | None]:
    if _blocks.equals(gamma, 0.0):
        return 1.0, (1.0 if need_grad else None)
    modulator = torch.exp(gamma * log_1mp)
    if not need_grad:
        return modulator, None
    # rho = l / expm1(l), with its limit 1 where l rounds to 0.
    rho = torch.where(log_p < 0, log_p / torch.expm1(log_p), torch.ones_like(log_p))
    g = modulator * (1.0 + gamma * torch.exp(log_p) * rho)
    return modulator, g


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
    loss = (-(a_y * modulator * log_p_y)).squeeze(dim)
    if not need_grad:
        return loss, None
    # g_y = m_y (1 + gamma p_y rho_y), rho = l / expm1(l) (-> 1 where l rounds to 0).
    g_y: Tensor | float = 1.0
    if not _blocks.equals(gamma, 0.0):
        rho = torch.where(log_p_y < 0, log_p_y / torch.expm1(log_p_y), torch.ones_like(log_p_y))
        g_y = modulator * (1.0 + gamma * p_y * rho)
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
    loss = -(a * modulator * log_p).sum(dim=dim)
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
    if target.shape[dim] == x.shape[dim] and target.is_floating_point():
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
