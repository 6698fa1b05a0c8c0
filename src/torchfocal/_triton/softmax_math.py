"""The logit adjustments that the softmax focal kernel (:mod:`.softmax`) applies as it loads
a row: each loss of the softmax form that is the cross-entropy of adjusted logits
z = f(x) gives its f here, a ``@triton.jit`` function the kernel takes as the constexpr
``ADJUST`` (DESIGN.md section 1: one skeleton per loss form, each loss's own math a jit
function it is given). The kernel then runs its softmax on z, so the adjusted logits are
never written to memory (the adjustment folded into the one read of the row).

Every adjustment has the signature

    adjust(x, hit, class_value, target_value, row_value, first, second, third) -> z

with x the loaded logits (a tile; -inf on padding), ``hit`` where the class is the
location's target, ``class_value`` the adjustment's per-class vector at each class,
``target_value`` that vector at the target class (one per location), ``row_value`` a
per-location number made from the raw row (see ``row`` below; 0 where the adjustment has
none) and the loss's own numbers by the names :data:`ADJUSTMENTS` lists. dz/dx is
``slope`` (a number), or the adjustment is a constant of the gradient (slope 1): the
kernel multiplies the gradient by it.

An adjustment with a ``row`` function needs the raw row's statistics first (one more pass
over the row in forward where it does not fit in registers):

    row(top, bottom, log_total, x_target, first, second, third) -> row_value

with ``top`` and ``bottom`` the raw row's largest and smallest logits, ``log_total``
log sum exp(x - top) (formed only for an adjustment whose ``row_total`` is set; 0
otherwise) and ``x_target`` the raw target logit (0 for dense targets). Forward stores
row_value for backward: in the statistics' third row, which index targets without label
smoothing leave free, or in a fourth (dense targets, which use the third for S).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import triton
import triton.language as tl


@triton.jit
def identity(x, hit, class_value, target_value, row_value, first, second, third):
    """No adjustment (the softmax focal loss itself): z = x."""
    return x


@triton.jit
def class_bias(x, hit, class_value, target_value, row_value, first, second, third):
    """Logit adjustment (Menon et al.): z_c = (x_c - S) + b_c, b = tau log(prior) per class,
    S the shift of the row (``row_value``, :func:`row_shift`): the same softmax, and x - S
    keeps b's digits near the top, where x + b would round them to x's ulp (5e-4 at
    x = 1e4 in float32; all of b at finfo.max). Parenthesised as written: the rounding of
    x - S (exact near S) comes first."""
    return (x - row_value) + class_value


@triton.jit
def ldam_margin(x, hit, class_value, target_value, row_value, scale, second, third):
    """LDAM (Cao et al.): z_c = s (x_c - M - m_y [c = y]), M the raw row's maximum
    (``row_value``): any shift of a row leaves its cross-entropy as it is, and s (x - M)
    never overflows where s x would (|x| > float max / s). dz/dx = s."""
    return scale * (x - row_value - tl.where(hit, target_value, 0.0))


@triton.jit
def row_maximum(top, bottom, log_total, x_target, first, second, third):
    """The raw row's maximum (LDAM's shift)."""
    return top


@triton.jit
def row_shift(top, bottom, log_total, x_target, first, second, third):
    """Logit adjustment's shift: the raw row's maximum where taking it off keeps every
    logit of the row finite, else 0. A row that spans more than the float range (as
    [max, -max, 0]) would have x - top = -inf at its far end, where a class that carries
    target weight (probabilities, label smoothing) has a finite loss term that the kernel
    forms from its unshifted logit (w x - w top - w log s); such a row keeps the rounding
    of x + b at its top, which matters only where two logits above finfo.max * eps / 4
    nearly tie. (The torch backends shift the same rows by the same S.)"""
    return tl.where(top - bottom == float("inf"), 0.0, top)


@triton.jit
def seesaw_shift(x, hit, class_value, target_value, row_value, p, q, log_eps):
    """Seesaw (Wang et al.): z_j = x_j + log S_ij, i the target,
    log S_ij = p min(log N_j - log N_i, 0) + q max(x_j - row_value, 0),
    row_value = max(x_i, logsumexp(x) + log eps): the compensation
    q max(log s_j - max(log s_i, log eps), 0) with log s = x - logsumexp(x). Both terms are
    0 at j = i, so no mask is needed. log S is a constant of the gradient (the reference
    detaches it): dz/dx = 1."""
    mitigation = p * tl.minimum(class_value - target_value, 0.0)
    return x + mitigation + q * tl.maximum(x - row_value, 0.0)


@triton.jit
def seesaw_row(top, bottom, log_total, x_target, p, q, log_eps):
    """max(x_i, logsumexp(x) + log eps), the compensation's threshold."""
    return tl.maximum(x_target, top + log_total + log_eps)


class Adjustment(NamedTuple):
    """A loss's adjustment of the logits and the names of the numbers it takes (in its
    signature's order)."""

    function: Any
    parameters: tuple[str, ...] = ()
    #: The function of the raw row's statistics that the adjustment needs, or None.
    row: Any = None
    #: The parameter that is dz/dx, or None (1: a shift, a constant of the gradient).
    slope: str | None = None
    #: The row function reads ``log_total`` (the raw row's sum of exponentials, an exp of
    #: every logit in the raw pass); without it the pass takes the extremes alone.
    row_total: bool = False
    #: The adjustment takes dense targets (class probabilities, label smoothing): it reads
    #: no target class (``hit``, ``target_value``, ``x_target``).
    dense: bool = False


#: The adjustment of each loss, by the name its module passes ("" is none).
ADJUSTMENTS: dict[str, Adjustment] = {
    "": Adjustment(identity, dense=True),
    "class_bias": Adjustment(class_bias, row=row_shift, dense=True),
    "ldam": Adjustment(ldam_margin, ("scale",), row=row_maximum, slope="scale"),
    "seesaw": Adjustment(seesaw_shift, ("p", "q", "log_eps"), row=seesaw_row, row_total=True),
}
