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

An adjustment with a ``row`` function needs the raw row's softmax statistics first (one
more pass over the row in forward where it does not fit in registers):

    row(top, log_total, x_target, first, second, third) -> row_value

with ``top`` the raw row's maximum, ``log_total`` log sum exp(x - top) and ``x_target``
the raw target logit. Forward stores row_value for backward (the statistics' third row,
which index targets without label smoothing leave free).
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
    """Logit adjustment (Menon et al.): z_c = x_c + b_c, b = tau log(prior) per class."""
    return x + class_value


@triton.jit
def ldam_margin(x, hit, class_value, target_value, row_value, scale, second, third):
    """LDAM (Cao et al.): z_c = s (x_c - M - m_y [c = y]), M the raw row's maximum
    (``row_value``): any shift of a row leaves its cross-entropy as it is, and s (x - M)
    never overflows where s x would (|x| > float max / s). dz/dx = s."""
    return scale * (x - row_value - tl.where(hit, target_value, 0.0))


@triton.jit
def row_maximum(top, log_total, x_target, first, second, third):
    """The raw row's maximum (LDAM's shift)."""
    return top


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
def seesaw_row(top, log_total, x_target, p, q, log_eps):
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


#: The adjustment of each loss, by the name its module passes ("" is none).
ADJUSTMENTS: dict[str, Adjustment] = {
    "": Adjustment(identity),
    "class_bias": Adjustment(class_bias),
    "ldam": Adjustment(ldam_margin, ("scale",), row=row_maximum, slope="scale"),
    "seesaw": Adjustment(seesaw_shift, ("p", "q", "log_eps"), row=seesaw_row),
}
