"""Triton kernel of the softmax focal loss: loss and dloss/dx per location in one launch.

Per location (one position of the outer and inner dimensions), with logits x over the C
classes, p = softmax(x), l_c = log p_c, class factor a_c, target t_c and modulator
m_c = (1 - p_c)^gamma (the derivation is in docs/math.md, "Softmax focal loss"):

    loss       = -sum_c a_c t_c m_c l_c
    dloss/dx_j = p_j (S - w_j) - w_j (1 - p_j),     w_c = a_c t_c G_c,  S = sum_c w_c,
    G_c        = m_c (1 + gamma p_c rho_c),          rho_c = -l_c / (1 - p_c)

(-sum_c w_c (delta_cj - p_j), with the class's own term kept apart.) p_j (S - w_j) is the
other classes' share and w_j (1 - p_j) the class's own, so the gradient of a class with
p_j -> 1 is a product with an accurate 1 - p_j where p_j S - w_j would be the difference of
two nearly equal numbers. For a hard index target k, S = w_k, so

    dloss/dx_j = p_j w_k  (j != k),     dloss/dx_k = -w_k (1 - p_k).

Accuracy as p -> 1. Only the row's arg-max can have p > 1/2. Besides the running maximum M
and s = sum_c exp(x_c - M), the kernel keeps s_rest = s - 1, the sum without one occurrence
of the maximum (which contributes exactly exp(0) = 1), accumulated without ever forming
1 + s_rest, so that it keeps its relative precision far below the rounding of 1 (logits
[40, 0, 0] in float32: s_rest = 8.5e-18). Then, for x_c == M,

    log s = log1p(s_rest),   1 - p_c = s_rest / s,   log(1 - p_c) = log(s_rest) - log1p(s_rest),
    p_c rho_c = log1p(s_rest) / s_rest        (p_c = 1 / s; -> 1 as s_rest -> 0),

and for the other classes (p_c <= 1/2: no cancellation) 1 - p_c, log1p(-p_c) and
p_c rho_c = p_c (-l_c) / (1 - p_c) directly. A tie at the maximum takes the same formulas:
each tied class leaves itself out of s_rest and sees the other ones as exp(0) = 1 there.

Other numerics (DESIGN.md section 2), as in the fused CPU form
(:mod:`torchfocal.losses.softmax_focal`):
- gamma = 0 gives m_c = 1 exactly (never 0 * log 0), so the loss is the cross-entropy;
  gamma < 1 never forms (1 - p)^(gamma - 1).
- a logit more than the float range below the row's maximum (rows such as [max, -max, 0])
  has x_c - M = -inf: its p_c is 0, its m_c 1, p_c rho_c its limit 0 (-l_c is clamped at
  SATURATED_LOGIT), and its loss term is formed as w x_c - w M - w log s (0 for w = 0, and
  finite wherever the true product is).
- a NaN logit makes its location's loss and whole gradient row NaN: the row's NaNs are
  summed into both (a NaN-ignoring maximum, as on the GPU, would otherwise hide it).
- index == ignore_index: the location's loss and gradient are exactly 0.

log1p has no Triton form that the interpreter runs (libdevice is GPU-only), so log1p(z) is
Goldberg's z log(u) / (u - 1) with u = 1 + z rounded: the rounding of u cancels between the
logarithm and the denominator, which leaves a few ulps.

Passes over a location's classes (reads of the row; the gradient is written once). Forward
and backward are two launches: forward writes the loss and, per location, the statistics
backward needs (M, s_rest with the NaN poison in it, and S for dense targets); backward reads
them back and makes one pass that writes the gradient times the upstream gradient.
- C <= BLOCK_C: the row is loaded once per launch and everything is computed from
  registers.
- C > BLOCK_C, an online softmax over blocks of BLOCK_C classes in forward:
  - hard index target (no label smoothing): pass 1 finds M and s_rest, the loss needs only
    x_k (one load per location): 1 pass;
  - label smoothing or probability targets: every class carries weight, so S needs every
    G_c, which needs the final M and s: pass 1 (M, s_rest), pass 2 (the loss and S).
- Backward: 1 pass, for every target form.

The losses that are the cross-entropy of adjusted logits z = f(x) (logit adjustment, LDAM,
Seesaw) give f as the constexpr ``ADJUST`` (:mod:`.softmax_math`), which the kernel applies
to every tile of logits it loads, the target's included, so that the adjusted logits are
never written: everything above then holds for z. An adjustment that needs the raw row
(the logit adjustment's and LDAM's shift by its maximum, Seesaw's logsumexp) has its ``ROW``
function evaluated on the raw row's statistics first (from the registers, or in one more
pass over the blocks in forward; the sum of exponentials only where ROW_TOTAL asks for it),
stored for backward as the statistics' third row (class indices) or a fourth (dense
targets); dz/dx (LDAM's scale) multiplies the upstream gradient. TWO_BIN: the target is a
continuous label per location, whose two bins (the distribution focal loss's) the kernel
weights itself (no dense target is read).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

import torch
import triton
import triton.language as tl
from torch import Tensor

from .._engine.numerics import SATURATED_LOGIT
from .common import LOG2E, float_parts, launch, scalar
from .softmax_math import ADJUSTMENTS

_CLAMPED_NEG_LOG_P = tl.constexpr(SATURATED_LOGIT)

# Elements of one program's tile (BLOCK_L locations x BLOCK_C classes): 16 KiB of float32
# reads in flight per program. The kernel keeps about ten tiles of temporaries live at once
# (x, p, 1 - p, the modulator, G, the target, ...), so the warps are chosen for 16 elements
# per thread: 160 registers or so at the largest tile, under the 255 a thread can have.
# (Not tuned on a GPU yet.)
_TILE_ELEMENTS = 4096
_ELEMENTS_PER_THREAD = 16
_MAX_WARPS = 8
# The least number of locations in a tile over a map (inner > 1): 32 float32 values are one
# 128-byte memory transaction per class, so the reads along the contiguous inner dimension
# stay coalesced however many classes share the tile.
_MAP_MIN_LOCATIONS = 32
_INT32_LIMIT = 2**31
# Rows of at least this many classes get a program each (BLOCK_L = 1): with several rows in
# a tile, every thread computes each row's per-row terms (logs, divisions: about 150
# instructions) once per row it holds, which for (4, 1024) tiles cost more per element than
# the elements themselves (sm_90 SASS: 55 + 78 instructions per element before, 20 + 18
# after, at C = 1000 in bfloat16).
_ROW_PER_PROGRAM_CLASSES = 512
_ROW_ELEMENTS_PER_THREAD = 32


@triton.jit
def _log1p_ratio(z):
    """log1p(z) / z for z > -1 (1 at z = 0): Goldberg's log(u) / (u - 1), u = 1 + z rounded."""
    u = 1.0 + z
    exact_one = u == 1.0
    ratio = tl.log(tl.where(exact_one, 2.0, u)) / tl.where(exact_one, 1.0, u - 1.0)
    return tl.where(exact_one, 1.0, ratio)


@triton.jit
def _class_block(
    class_start,
    num_classes,
    row_start,
    inner,
    ROWS: tl.constexpr,
    WIDE: tl.constexpr,
    BLOCK_C: tl.constexpr,
):
    """Classes [class_start, class_start + BLOCK_C) as a (1, BLOCK_C) row, which of them
    exist, and their (BLOCK_L, BLOCK_C) element offsets (class stride ``inner``)."""
    classes = class_start + tl.arange(0, BLOCK_C)
    if WIDE:
        classes = classes.to(tl.int64)
    classes = classes[None, :]
    # rows: stride 1, left out so that the compiler sees contiguous classes
    offsets = row_start[:, None] + (classes if ROWS else classes * inner)
    return classes, classes < num_classes, offsets


@triton.jit
def _load_logits(x_ptr, offsets, mask, COMPUTE_DTYPE: tl.constexpr):
    """A tile of logits in the compute dtype: padding classes (and padding locations, whose
    results are never stored) are -inf: never the maximum of a row with a finite logit,
    exp = 0."""
    return tl.load(x_ptr + offsets, mask=mask, other=float("-inf")).to(COMPUTE_DTYPE)


@triton.jit
def _adjusted(
    x,
    classes,
    class_valid,
    target_class,
    adjust_ptr,
    target_value,
    row_value,
    first,
    second,
    third,
    ADJUST: tl.constexpr,
    ADJUSTED: tl.constexpr,
    INDEX_TARGET: tl.constexpr,
    COMPUTE_DTYPE: tl.constexpr,
):
    """A tile of logits x as the loss's adjustment ``ADJUST`` makes them
    (:mod:`.softmax_math`; x itself where ADJUSTED is off), with its per-class vector read
    at the tile's classes (padding classes stay -inf: every adjustment keeps -inf)."""
    if ADJUSTED:
        class_value = tl.load(adjust_ptr + classes, mask=class_valid, other=0.0)
        # (no class index: no target class)
        hit = classes == target_class[:, None] if INDEX_TARGET else classes < 0
        x = ADJUST(
            x,
            hit,
            class_value.to(COMPUTE_DTYPE),
            target_value[:, None],
            row_value[:, None],
            first,
            second,
            third,
        )
    return x


@triton.jit
def _block_stats(x, valid_classes):
    """A block's maximum per location and its s_rest:
    sum_{x != max} exp(x - max) + (count(x == max) - 1), the ties at the maximum counted as
    exactly 1 each and one of them left out. A NaN logit is never equal to the maximum: its
    term exp(NaN) = NaN makes s_rest NaN, the poison that makes the location's loss and
    gradient NaN (padding classes are -inf: exp(-inf) = 0). A block whose every logit is
    -inf ties at its maximum in each of its ``valid_classes`` (the padding, -inf too, is
    counted out per location instead of per element)."""
    block_max = tl.max(x, axis=1)
    at_max = x == block_max[:, None]
    terms = tl.where(at_max, 0.0, tl.exp2((x - block_max[:, None]) * LOG2E))
    ties = tl.sum(tl.where(at_max, 1.0, 0.0), axis=1)
    ties = tl.where(block_max == float("-inf"), valid_classes, ties)
    return block_max, tl.sum(terms, axis=1) + (ties - 1.0)


@triton.jit
def _row_extremes(x, class_valid):
    """A block's largest and smallest logit per location (the padding classes, -inf, left
    out of the smallest)."""
    return tl.max(x, axis=1), tl.min(tl.where(class_valid, x, float("inf")), axis=1)


@triton.jit
def _merge_stats(top, rest, block_max, block_rest):
    """The running (maximum, s_rest) merged with a block's. The side with the larger maximum
    keeps its s_rest and adds the other side's whole sum 1 + s_rest rescaled to it (on a tie
    the block's maximum is one more term exp(0) = 1). The empty state is (-inf, -1): sum 0."""
    new_top = tl.maximum(top, block_max)
    # exp(old - new), taken as 1 where old == new (so -inf - -inf is never formed)
    top_scale = tl.where(top == new_top, 1.0, tl.exp2((top - new_top) * LOG2E))
    block_scale = tl.where(block_max == new_top, 1.0, tl.exp2((block_max - new_top) * LOG2E))
    new_rest = tl.where(
        top >= block_max,
        rest + (1.0 + block_rest) * block_scale,
        block_rest + (1.0 + rest) * top_scale,
    )
    return new_top, new_rest


@triton.jit
def _class_terms(x, top, rest, log_total, gamma):
    """p_c, 1 - p_c, x_c - M, the modulator m_c and G_c = m_c (1 + gamma p_c rho_c), from
    the location's maximum M (``top``), s_rest (``rest``) and log s (``log_total``)."""
    shifted = x - top  # <= 0; -inf only beyond the float range below the maximum
    is_top = x == top
    total = 1.0 + rest
    p = tl.exp(shifted) / total
    # p_other: p with the maxima at 0, so that log1p(-1) and 1 / 0 are never formed
    p_other = tl.where(is_top, 0.0, p)
    rest_positive = rest > 0.0
    log_rest = tl.where(rest_positive, tl.log(tl.where(rest_positive, rest, 1.0)), float("-inf"))
    one_minus_p = tl.where(is_top, rest / total, 1.0 - p_other)
    log_one_minus_p = tl.where(is_top, log_rest - log_total, -p_other * _log1p_ratio(-p_other))
    neg_log_p = tl.minimum(log_total - shifted, _CLAMPED_NEG_LOG_P)
    p_rho = tl.where(is_top, _log1p_ratio(rest), p_other * neg_log_p / (1.0 - p_other))
    # gamma = 0 gives exactly 1 (gamma log(1 - p) would be 0 * -inf = NaN where p = 1)
    modulator = tl.exp(gamma * tl.where(gamma == 0.0, 0.0, log_one_minus_p))
    return p, one_minus_p, shifted, modulator, modulator * (1.0 + gamma * p_rho)


@triton.jit
def _weighted_log_p(weight, x, top, shifted, log_total):
    """weight log p = weight (x - M - log s) for weight >= 0, never 0 * -inf: where x - M is
    -inf (beyond the float range) it is weight x - weight M - weight log s, with weight x
    taken as 0 for weight 0 (padding classes are x = -inf)."""
    far = shifted == float("-inf")
    near_term = weight * (tl.where(far, 0.0, shifted) - log_total)
    far_x = tl.where(far & (weight != 0.0), x, 0.0)
    far_term = weight * far_x - weight * top - weight * log_total
    return tl.where(far, far_term, near_term)


@triton.jit
def _dense_weight(
    classes,
    class_valid,
    offsets,
    mask,
    target_class,
    counted,
    target_ptr,
    class_factor_ptr,
    class_factor,
    smoothing,
    num_classes,
    INDEX_TARGET: tl.constexpr,
    SMOOTHED: tl.constexpr,
    CLASS_FACTOR_PER_CLASS: tl.constexpr,
    TWO_BIN: tl.constexpr,
    COMPUTE_DTYPE: tl.constexpr,
):
    """a_c t_c over a tile: t the smoothed one-hot of the index (0 at an ignored location),
    the two-bin target of a continuous label (TWO_BIN: ``target_class`` is the label) or the
    (smoothed) probabilities; 0 on padding."""
    if TWO_BIN:
        # label in [0, C - 1]: bins l = min(floor(label), C - 2) and l + 1 get l + 1 - label
        # and label - l (the label is >= 0: truncation is the floor)
        label = target_class[:, None]
        left = tl.minimum(label.to(tl.int32), num_classes - 2)
        left_share = (left + 1).to(COMPUTE_DTYPE) - label
        t = tl.where(classes == left, left_share, 0.0)
        t += tl.where(classes == left + 1, 1.0 - left_share, 0.0)
        t = tl.where(counted[:, None] & class_valid, t, 0.0)
    elif INDEX_TARGET:
        # t_c = eps / C + (1 - eps) [c == k]
        hit = classes == target_class[:, None]
        t = tl.where(hit, 1.0 - smoothing, 0.0) + smoothing / num_classes
        t = tl.where(counted[:, None] & class_valid, t, 0.0)
    else:
        t = tl.load(target_ptr + offsets, mask=mask, other=0.0).to(COMPUTE_DTYPE)
        if SMOOTHED:
            t = tl.where(mask, t * (1.0 - smoothing) + smoothing / num_classes, 0.0)
    if CLASS_FACTOR_PER_CLASS:
        factor = tl.load(class_factor_ptr + classes, mask=class_valid, other=0.0)
        return factor.to(COMPUTE_DTYPE) * t
    return class_factor * t


@triton.jit
def _gamma_tile(
    gamma_ptr,
    offsets,
    mask,
    gamma_location,
    GAMMA_PER_LOCATION: tl.constexpr,
    GAMMA_PER_ELEMENT: tl.constexpr,
    COMPUTE_DTYPE: tl.constexpr,
):
    """gamma over a tile: per element, per location (a column) or one number.

    One return: a return inside a constexpr ``if`` does not end code generation, so every
    return of a jit function must have the same type (the interpreter never checks)."""
    if GAMMA_PER_ELEMENT:
        gamma = tl.load(gamma_ptr + offsets, mask=mask, other=0.0).to(COMPUTE_DTYPE)
    elif GAMMA_PER_LOCATION:
        gamma = gamma_location[:, None]
    else:
        gamma = gamma_location
    return gamma


@triton.jit
def _dense_sums(
    x,
    weight,
    gamma,
    top,
    rest,
    log_total,
):
    """A tile's share of the loss, -sum_c a_c t_c m_c l_c, and of S = sum_c a_c t_c G_c."""
    _, _, shifted, modulator, g = _class_terms(
        x, top[:, None], rest[:, None], log_total[:, None], gamma
    )
    loss = -_weighted_log_p(weight * modulator, x, top[:, None], shifted, log_total[:, None])
    return tl.sum(loss, axis=1), tl.sum(weight * g, axis=1)


@triton.jit
def _dense_grad(
    x,
    weight,
    gamma,
    top,
    rest,
    log_total,
    weight_sum,
):
    """dloss/dx_j = p_j (S - w_j) - w_j (1 - p_j) over a tile, w = a t G (S: ``weight_sum``,
    with the row's NaN poison)."""
    p, one_minus_p, _, _, g = _class_terms(
        x, top[:, None], rest[:, None], log_total[:, None], gamma
    )
    w = weight * g
    return p * (weight_sum[:, None] - w) - w * one_minus_p


@triton.jit
def _softmax_focal_kernel(
    x_ptr,
    index_ptr,
    target_ptr,
    gamma_ptr,
    class_factor_ptr,
    adjust_ptr,
    loss_ptr,
    stats_ptr,
    upstream_ptr,
    grad_ptr,
    outer,
    class_groups,
    inner,
    ignore_index,
    gamma_high,
    gamma_low,
    class_factor_high,
    class_factor_low,
    smoothing_high,
    smoothing_low,
    first_high,
    first_low,
    second_high,
    second_low,
    third_high,
    third_low,
    slope_high,
    slope_low,
    ADJUST: tl.constexpr,
    ROW: tl.constexpr,
    ADJUSTED: tl.constexpr,
    ROW_PASS: tl.constexpr,
    ROW_TOTAL: tl.constexpr,
    TWO_BIN: tl.constexpr,
    BACKWARD: tl.constexpr,
    INDEX_TARGET: tl.constexpr,
    SMOOTHED: tl.constexpr,
    GAMMA_PER_LOCATION: tl.constexpr,
    GAMMA_PER_ELEMENT: tl.constexpr,
    CLASS_FACTOR_PER_CLASS: tl.constexpr,
    UPSTREAM: tl.constexpr,
    ROWS: tl.constexpr,
    WIDE: tl.constexpr,
    SINGLE_BLOCK: tl.constexpr,
    COMPUTE_DTYPE: tl.constexpr,
    CLASS_ALIGN: tl.constexpr,
    BLOCK_L: tl.constexpr,
    BLOCK_C: tl.constexpr,
):
    """One program: BLOCK_L locations, their classes in blocks of BLOCK_C (the passes are in
    the module docstring). ROWS (inner == 1): the locations are rows of contiguous classes;
    otherwise a run of BLOCK_L contiguous inner positions of one outer position.

    Forward (BACKWARD off) writes each location's loss and its statistics: the maximum M,
    s_rest (NaN where the row has a NaN: the poison) and, for dense targets, S. Backward
    reads them back, so that the gradient is one pass over the row, times the upstream
    gradient (UPSTREAM: 1 one value, 2 one per location)."""
    # C as CLASS_ALIGN * groups: the compiler then knows that rows start on multiples of
    # CLASS_ALIGN elements (16 bytes where C allows) and loads them in 16-byte vectors.
    num_classes = class_groups * CLASS_ALIGN
    pid = tl.program_id(0)
    if WIDE:
        pid = pid.to(tl.int64)
    lanes = tl.arange(0, BLOCK_L)
    if ROWS:
        location = pid * BLOCK_L + lanes
        location_valid = location < outer
        row_start = location * num_classes
    else:
        blocks_per_outer = tl.cdiv(inner, BLOCK_L)
        outer_position = pid // blocks_per_outer
        inner_position = (pid % blocks_per_outer) * BLOCK_L + lanes
        location = outer_position * inner + inner_position
        location_valid = inner_position < inner
        row_start = outer_position * num_classes * inner + inner_position
    locations = outer * inner
    smoothing = scalar(smoothing_high, smoothing_low, COMPUTE_DTYPE)
    class_factor = scalar(class_factor_high, class_factor_low, COMPUTE_DTYPE)
    if GAMMA_PER_LOCATION:
        gamma_location = tl.load(gamma_ptr + location, mask=location_valid, other=0.0)
        gamma_location = gamma_location.to(COMPUTE_DTYPE)
    else:
        gamma_location = scalar(gamma_high, gamma_low, COMPUTE_DTYPE)
    if INDEX_TARGET:
        target_class = tl.load(index_ptr + location, mask=location_valid, other=0).to(tl.int64)
        counted = location_valid & (target_class != ignore_index)
        target_class = tl.where(counted, target_class, 0)
        if not WIDE:  # in [0, C): compared with 32-bit class numbers
            target_class = target_class.to(tl.int32)
    elif TWO_BIN:
        # the continuous label (the location's two bins: :func:`_dense_weight`)
        target_class = tl.load(index_ptr + location, mask=location_valid, other=0.0)
        target_class = target_class.to(COMPUTE_DTYPE)
        counted = location_valid
    else:
        target_class = lanes  # unused: probability targets have no class index
        counted = location_valid
    # The loss's adjustment of the logits (:mod:`.softmax_math`): its numbers, its vector at
    # the target class, and the number it takes from the raw row (stats row 2 in backward
    # where only the target class carries weight, else row 3: dense targets keep S in 2).
    first = scalar(first_high, first_low, COMPUTE_DTYPE)
    second = scalar(second_high, second_low, COMPUTE_DTYPE)
    third = scalar(third_high, third_low, COMPUTE_DTYPE)
    target_value = tl.zeros((BLOCK_L,), COMPUTE_DTYPE)
    row_value = tl.zeros((BLOCK_L,), COMPUTE_DTYPE)
    if ADJUSTED and INDEX_TARGET:
        target_value = tl.load(adjust_ptr + target_class, mask=location_valid, other=0.0)
        target_value = target_value.to(COMPUTE_DTYPE)
    if INDEX_TARGET and not SMOOTHED:
        # Only the target class carries weight: its logit is one load per location.
        target_offsets = row_start + (target_class if ROWS else target_class * inner)
        x_target = tl.load(x_ptr + target_offsets, mask=location_valid, other=0.0)
        x_target = x_target.to(COMPUTE_DTYPE)
        row_slot = 2 * locations
    else:
        x_target = tl.zeros((BLOCK_L,), COMPUTE_DTYPE)  # (no target class: a row function's 0)
        row_slot = 3 * locations

    if BACKWARD:
        top = tl.load(stats_ptr + location, mask=location_valid, other=0.0)
        rest = tl.load(stats_ptr + locations + location, mask=location_valid, other=0.0)
        if ROW_PASS:
            row_value = tl.load(stats_ptr + row_slot + location, mask=location_valid)
        if UPSTREAM == 1:  # one value, as a column of the tile
            upstream = tl.zeros((BLOCK_L,), COMPUTE_DTYPE) + tl.load(upstream_ptr).to(COMPUTE_DTYPE)
        else:
            upstream = tl.load(upstream_ptr + location, mask=location_valid, other=0.0)
            upstream = upstream.to(COMPUTE_DTYPE)
        # dz/dx of the adjustment (1 for a shift)
        upstream = upstream * scalar(slope_high, slope_low, COMPUTE_DTYPE)
    else:
        # The only load of the row, or pass 1: the maximum, s_rest and the NaN poison
        # (0, or NaN where the row has a NaN: added to the loss and kept in s_rest); an
        # adjustment with a row function has the raw row's first (pass 0 over blocks).
        if SINGLE_BLOCK:
            classes, class_valid, offsets = _class_block(
                0, num_classes, row_start, inner, ROWS, WIDE, BLOCK_C
            )
            mask = location_valid[:, None] & class_valid
            x_row = _load_logits(x_ptr, offsets, mask, COMPUTE_DTYPE)
            if ROW_PASS:
                raw_top, raw_bottom = _row_extremes(x_row, class_valid)
                raw_log_total = tl.zeros((BLOCK_L,), COMPUTE_DTYPE)
                if ROW_TOTAL:
                    raw_top, raw_rest = _block_stats(x_row, num_classes.to(COMPUTE_DTYPE))
                    raw_log_total = raw_rest * _log1p_ratio(raw_rest)
                row_value = ROW(raw_top, raw_bottom, raw_log_total, x_target, first, second, third)
            x_row = _adjusted(
                x_row, classes, class_valid, target_class, adjust_ptr, target_value, row_value,
                first, second, third, ADJUST, ADJUSTED, INDEX_TARGET, COMPUTE_DTYPE,
            )  # fmt: skip
            top, rest = _block_stats(x_row, num_classes.to(COMPUTE_DTYPE))
        else:
            if ROW_PASS:  # pass 0: the raw row's extremes (and s_rest where ROW_TOTAL)
                raw_top = tl.full((BLOCK_L,), float("-inf"), COMPUTE_DTYPE)
                raw_bottom = tl.full((BLOCK_L,), float("inf"), COMPUTE_DTYPE)
                raw_rest = tl.full((BLOCK_L,), -1.0, COMPUTE_DTYPE)
                for class_start in range(0, num_classes, BLOCK_C):
                    classes, class_valid, offsets = _class_block(
                        class_start, num_classes, row_start, inner, ROWS, WIDE, BLOCK_C
                    )
                    mask = location_valid[:, None] & class_valid
                    x = _load_logits(x_ptr, offsets, mask, COMPUTE_DTYPE)
                    block_max, block_min = _row_extremes(x, class_valid)
                    raw_bottom = tl.minimum(raw_bottom, block_min)
                    if ROW_TOTAL:
                        block_max, block_rest = _block_stats(
                            x, tl.minimum(num_classes - class_start, BLOCK_C).to(COMPUTE_DTYPE)
                        )
                        raw_top, raw_rest = _merge_stats(raw_top, raw_rest, block_max, block_rest)
                    else:
                        raw_top = tl.maximum(raw_top, block_max)
                raw_log_total = tl.zeros((BLOCK_L,), COMPUTE_DTYPE)
                if ROW_TOTAL:
                    raw_log_total = raw_rest * _log1p_ratio(raw_rest)
                row_value = ROW(raw_top, raw_bottom, raw_log_total, x_target, first, second, third)
            top = tl.full((BLOCK_L,), float("-inf"), COMPUTE_DTYPE)
            rest = tl.full((BLOCK_L,), -1.0, COMPUTE_DTYPE)
            for class_start in range(0, num_classes, BLOCK_C):
                classes, class_valid, offsets = _class_block(
                    class_start, num_classes, row_start, inner, ROWS, WIDE, BLOCK_C
                )
                mask = location_valid[:, None] & class_valid
                x = _load_logits(x_ptr, offsets, mask, COMPUTE_DTYPE)
                x = _adjusted(
                    x, classes, class_valid, target_class, adjust_ptr, target_value, row_value,
                    first, second, third, ADJUST, ADJUSTED, INDEX_TARGET, COMPUTE_DTYPE,
                )  # fmt: skip
                block_max, block_rest = _block_stats(
                    x, tl.minimum(num_classes - class_start, BLOCK_C).to(COMPUTE_DTYPE)
                )
                top, rest = _merge_stats(top, rest, block_max, block_rest)
        tl.store(stats_ptr + location, top, mask=location_valid)
        tl.store(stats_ptr + locations + location, rest, mask=location_valid)
        if ROW_PASS:
            tl.store(stats_ptr + row_slot + location, row_value, mask=location_valid)
    log_total = rest * _log1p_ratio(rest)  # log s = log1p(s_rest)

    if INDEX_TARGET and not SMOOTHED:
        if ADJUSTED:  # the target's adjusted logit
            x_target = ADJUST(
                x_target, target_class >= 0, target_value, target_value, row_value,
                first, second, third,
            )  # fmt: skip
        if GAMMA_PER_ELEMENT:
            gamma_target = tl.load(gamma_ptr + target_offsets, mask=location_valid, other=0.0)
            gamma_target = gamma_target.to(COMPUTE_DTYPE)
        else:
            gamma_target = gamma_location
        if CLASS_FACTOR_PER_CLASS:
            factor = tl.load(class_factor_ptr + target_class, mask=location_valid, other=0.0)
            factor = factor.to(COMPUTE_DTYPE)
        else:
            factor = class_factor
        _, one_minus_p_target, shifted_target, modulator_target, g_target = _class_terms(
            x_target, top, rest, log_total, gamma_target
        )
        if BACKWARD:
            weight_target = tl.where(counted, factor * g_target * upstream, 0.0)[:, None]
            target_grad = -weight_target * one_minus_p_target[:, None]
            # p = exp(x - M) / s = exp2((x - M) log2(e) - log2(s)): no division per element
            log2_total = (log_total * LOG2E)[:, None]
            for class_start in range(0, num_classes, BLOCK_C):  # the gradient: one pass
                classes, class_valid, offsets = _class_block(
                    class_start, num_classes, row_start, inner, ROWS, WIDE, BLOCK_C
                )
                mask = location_valid[:, None] & class_valid
                x = _load_logits(x_ptr, offsets, mask, COMPUTE_DTYPE)
                x = _adjusted(
                    x, classes, class_valid, target_class, adjust_ptr, target_value, row_value,
                    first, second, third, ADJUST, ADJUSTED, INDEX_TARGET, COMPUTE_DTYPE,
                )  # fmt: skip
                p = tl.exp2((x - top[:, None]) * LOG2E - log2_total)
                hit = classes == target_class[:, None]
                grad = tl.where(hit, target_grad, p * weight_target)
                tl.store(grad_ptr + offsets, grad.to(grad_ptr.dtype.element_ty), mask=mask)
        else:
            loss = -_weighted_log_p(
                factor * modulator_target, x_target, top, shifted_target, log_total
            )
            tl.store(loss_ptr + location, tl.where(counted, loss, 0.0), mask=location_valid)
    else:
        # Dense targets: every class carries a_c t_c. Forward: the loss and
        # S = sum_c w_c, from the registers or in pass 2; backward: the gradient.
        if BACKWARD:
            weight_sum = tl.load(stats_ptr + 2 * locations + location, mask=location_valid)
            for class_start in range(0, num_classes, BLOCK_C):  # the gradient: one pass
                classes, class_valid, offsets = _class_block(
                    class_start, num_classes, row_start, inner, ROWS, WIDE, BLOCK_C
                )
                mask = location_valid[:, None] & class_valid
                x = _load_logits(x_ptr, offsets, mask, COMPUTE_DTYPE)
                x = _adjusted(
                    x, classes, class_valid, target_class, adjust_ptr, target_value, row_value,
                    first, second, third, ADJUST, ADJUSTED, INDEX_TARGET, COMPUTE_DTYPE,
                )  # fmt: skip
                weight = _dense_weight(
                    classes, class_valid, offsets, mask, target_class, counted, target_ptr,
                    class_factor_ptr, class_factor, smoothing, num_classes,
                    INDEX_TARGET, SMOOTHED, CLASS_FACTOR_PER_CLASS, TWO_BIN, COMPUTE_DTYPE,
                )  # fmt: skip
                gamma = _gamma_tile(
                    gamma_ptr, offsets, mask, gamma_location,
                    GAMMA_PER_LOCATION, GAMMA_PER_ELEMENT, COMPUTE_DTYPE,
                )  # fmt: skip
                grad = _dense_grad(x, weight, gamma, top, rest, log_total, weight_sum)
                grad = tl.where(counted[:, None], grad * upstream[:, None], 0.0)
                tl.store(grad_ptr + offsets, grad.to(grad_ptr.dtype.element_ty), mask=mask)
        else:
            if SINGLE_BLOCK:
                weight = _dense_weight(
                    classes, class_valid, offsets, mask, target_class, counted, target_ptr,
                    class_factor_ptr, class_factor, smoothing, num_classes,
                    INDEX_TARGET, SMOOTHED, CLASS_FACTOR_PER_CLASS, TWO_BIN, COMPUTE_DTYPE,
                )  # fmt: skip
                gamma = _gamma_tile(
                    gamma_ptr, offsets, mask, gamma_location,
                    GAMMA_PER_LOCATION, GAMMA_PER_ELEMENT, COMPUTE_DTYPE,
                )  # fmt: skip
                loss, weight_sum = _dense_sums(x_row, weight, gamma, top, rest, log_total)
            else:
                loss = tl.zeros((BLOCK_L,), COMPUTE_DTYPE)
                weight_sum = tl.zeros((BLOCK_L,), COMPUTE_DTYPE)
                for class_start in range(0, num_classes, BLOCK_C):  # pass 2: loss and S
                    classes, class_valid, offsets = _class_block(
                        class_start, num_classes, row_start, inner, ROWS, WIDE, BLOCK_C
                    )
                    mask = location_valid[:, None] & class_valid
                    x = _load_logits(x_ptr, offsets, mask, COMPUTE_DTYPE)
                    x = _adjusted(
                        x, classes, class_valid, target_class, adjust_ptr, target_value, row_value,
                        first, second, third, ADJUST, ADJUSTED, INDEX_TARGET, COMPUTE_DTYPE,
                    )  # fmt: skip
                    weight = _dense_weight(
                        classes, class_valid, offsets, mask, target_class, counted,
                        target_ptr, class_factor_ptr, class_factor, smoothing, num_classes,
                        INDEX_TARGET, SMOOTHED, CLASS_FACTOR_PER_CLASS, TWO_BIN, COMPUTE_DTYPE,
                    )  # fmt: skip
                    gamma = _gamma_tile(
                        gamma_ptr, offsets, mask, gamma_location,
                        GAMMA_PER_LOCATION, GAMMA_PER_ELEMENT, COMPUTE_DTYPE,
                    )  # fmt: skip
                    block_loss, block_weight_sum = _dense_sums(
                        x, weight, gamma, top, rest, log_total
                    )
                    loss += block_loss
                    weight_sum += block_weight_sum
            tl.store(loss_ptr + location, tl.where(counted, loss, 0.0), mask=location_valid)
            weight_sum = tl.where(counted, weight_sum, 0.0)
            tl.store(stats_ptr + 2 * locations + location, weight_sum, mask=location_valid)


def _next_power_of_2(n: int) -> int:
    return 1 << max(n - 1, 0).bit_length()


def _blocks(
    outer: int, num_classes: int, inner: int, tile_elements: int = _TILE_ELEMENTS
) -> tuple[int, int]:
    """(BLOCK_L, BLOCK_C) for a (outer, C, inner) input.

    The tile holds ``tile_elements``. The classes take as much of it as the row needs (one load
    of the whole row where it fits), leaving at least one location for rows (classes are
    contiguous there) and _MAP_MIN_LOCATIONS contiguous inner positions for maps (coalesced
    reads); the rest of the tile goes to more locations, up to as many as there are.
    """
    rows = inner == 1
    locations = outer if rows else inner
    if rows and num_classes >= _ROW_PER_PROGRAM_CLASSES:
        return 1, min(_next_power_of_2(num_classes), tile_elements)
    min_locations = 1 if rows else min(_next_power_of_2(inner), _MAP_MIN_LOCATIONS)
    block_c = min(_next_power_of_2(num_classes), tile_elements // min_locations)
    block_l = min(max(tile_elements // block_c, min_locations), _next_power_of_2(locations))
    return block_l, block_c


def _num_warps(tile_elements: int, elements_per_thread: int = _ELEMENTS_PER_THREAD) -> int:
    """Warps of 32 threads for ``elements_per_thread`` each (a power of 2, 1 to
    _MAX_WARPS)."""
    return max(1, min(_MAX_WARPS, tile_elements // (32 * elements_per_thread)))


def _as_class_factor(
    class_factor: float | Tensor | None, num_classes: int
) -> tuple[float, Tensor | None]:
    """(the number, or the per-class values as a contiguous (C,) tensor)."""
    if class_factor is None:
        return 1.0, None
    if not isinstance(class_factor, Tensor):
        return float(class_factor), None
    values = class_factor.reshape(-1)
    if values.numel() == 1:
        values = values.expand(num_classes)
    if values.numel() != num_classes:
        raise ValueError(
            f"class_factor must have {num_classes} values (one per class); "
            f"got shape {tuple(class_factor.shape)}"
        )
    return 1.0, values.contiguous()


class SoftmaxLaunch(NamedTuple):
    """A call's operands as the kernel takes them (see :func:`prepare`)."""

    x: Tensor
    target_index: Tensor | None
    probabilities: Tensor | None
    gamma: Tensor | None
    gamma_value: float
    gamma_per_location: bool
    class_factor: Tensor | None
    class_factor_value: float
    ignore_index: int
    label_smoothing: float
    #: The loss's adjustment of the logits (a key of :data:`.softmax_math.ADJUSTMENTS`), its
    #: per-class vector (C values in the compute dtype, or None) and its numbers, in the
    #: order the adjustment names them.
    adjust: str = ""
    adjust_values: Tensor | None = None
    adjust_params: tuple[float, ...] = ()


def prepare(
    x: Tensor,
    *,
    index: Tensor | None,
    probabilities: Tensor | None,
    ignore_index: int,
    label_smoothing: float,
    gamma: float | Tensor,
    class_factor: float | Tensor | None,
    adjust: str = "",
    adjust_values: Tensor | None = None,
    adjust_params: Mapping[str, float] | None = None,
) -> SoftmaxLaunch:
    """Check and lay out one call's operands.

    Args:
        x: logits (outer, C, inner), float16 / bfloat16 / float32 / float64 (computed in
            float32, float64 in float64).
        index: (outer, inner) class indices of any integer dtype (in range or
            ``ignore_index``: the caller checks), or a float continuous label in
            [0, C - 1] (the two-bin target of the distribution focal loss: bins
            l = min(floor(label), C - 2) and l + 1 get l + 1 - label and label - l; no
            ``ignore_index``), or None.
        probabilities: (outer, C, inner) float target, or None (exactly one of the two).
        ignore_index: locations whose index equals it get loss and gradient 0.
        label_smoothing: eps in [0, 1): t <- t (1 - eps) + eps / C.
        gamma: a number, or a tensor of per-location (outer, inner) or per-element
            (outer, C, inner) values.
        class_factor: None, a number, or C per-class values (alpha times weight).
        adjust: the loss's adjustment of the logits (:data:`.softmax_math.ADJUSTMENTS`;
            "" none); ``adjust_values`` its C per-class values (None where it takes
            none) and ``adjust_params`` its numbers by name. An adjustment that reads the
            target class (not ``dense``) takes class-index targets without label
            smoothing.
    """
    if adjust not in ADJUSTMENTS:
        raise ValueError(f"adjust must be one of {sorted(ADJUSTMENTS)}; got {adjust!r}")
    adjustment = ADJUSTMENTS[adjust]
    params = dict(adjust_params or {})
    if set(params) != set(adjustment.parameters):
        raise ValueError(
            f"adjust_params of {adjust!r} must be {sorted(adjustment.parameters)}; "
            f"got {sorted(params)}"
        )
    if not adjustment.dense and not _target_class_only(index, label_smoothing):
        raise ValueError(
            f"adjust {adjust!r} takes class-index targets without label smoothing; got "
            + ("probabilities" if index is None else f"a {index.dtype} target")
            + f" and label_smoothing={label_smoothing}"
        )
    if (index is None) == (probabilities is None):
        raise ValueError("softmax_focal takes exactly one of index and probabilities")
    if x.dim() != 3:
        raise ValueError(f"x must be (outer, C, inner); got shape {tuple(x.shape)}")
    outer, num_classes, inner = x.shape
    if index is not None:
        if index.shape != (outer, inner):
            raise ValueError(f"index must have shape {(outer, inner)}; got {tuple(index.shape)}")
        index = index.contiguous()
    if probabilities is not None:
        if probabilities.shape != x.shape:
            raise ValueError(
                f"probabilities must have shape {tuple(x.shape)}; got {tuple(probabilities.shape)}"
            )
        probabilities = probabilities.contiguous()
    gamma_tensor: Tensor | None = None
    gamma_value = 0.0
    if isinstance(gamma, Tensor):
        if gamma.numel() not in (outer * inner, x.numel()):
            raise ValueError(
                f"gamma must have shape {(outer, inner)} (per location) or {tuple(x.shape)} "
                f"(per element); got {tuple(gamma.shape)}"
            )
        gamma_tensor = gamma.contiguous()
    else:
        gamma_value = float(gamma)
    class_factor_value, class_factor_tensor = _as_class_factor(class_factor, num_classes)
    if adjust_values is not None:
        if adjust_values.numel() != num_classes:
            raise ValueError(
                f"adjust_values must have {num_classes} values (one per class); "
                f"got shape {tuple(adjust_values.shape)}"
            )
        adjust_values = adjust_values.reshape(-1).contiguous()
    return SoftmaxLaunch(
        x.contiguous(),
        index,
        probabilities,
        gamma_tensor,
        gamma_value,
        # per location where the two readings agree (C = 1): both are the same memory
        gamma_tensor is not None and gamma_tensor.numel() == outer * inner,
        class_factor_tensor,
        class_factor_value,
        ignore_index,
        label_smoothing,
        adjust,
        adjust_values,
        tuple(float(params[name]) for name in adjustment.parameters),
    )


def _launch(
    call: SoftmaxLaunch,
    *,
    loss: Tensor | None,
    stats: Tensor,
    upstream: Tensor | None,
    grad: Tensor | None,
) -> None:
    x = call.x
    outer, num_classes, inner = x.shape
    # 64-bit offsets take two registers each: a quarter of the tile and of the elements per
    # thread (16 and 8 per thread spilled in float32 with triton 3.8 on sm_90, 4 does not).
    wide = x.numel() >= _INT32_LIMIT
    shrink = 4 if wide else 1
    block_l, block_c = _blocks(outer, num_classes, inner, _TILE_ELEMENTS // shrink)
    rows = inner == 1
    programs = triton.cdiv(outer, block_l) if rows else outer * triton.cdiv(inner, block_l)
    # Rows (classes contiguous): the largest power of 2 that divides C, up to a 16-byte
    # vector of x's dtype. Maps read a class every ``inner`` elements: no vectors to gain.
    class_align = min(num_classes & -num_classes, 16 // x.element_size()) if rows else 1
    # A row per program takes twice the elements per thread where only the target class
    # carries weight (the per-row math is then spread over more elements); the dense
    # targets' passes keep about ten tiles of temporaries live, which 32 per thread spill.
    per_row = block_l == 1 and rows and _target_class_only(call.target_index, call.label_smoothing)
    elements_per_thread = _ROW_ELEMENTS_PER_THREAD if per_row else _ELEMENTS_PER_THREAD
    # The placeholder for an absent tensor operand: never read (its constexpr is off).
    unused = stats
    adjustment = ADJUSTMENTS[call.adjust]
    numbers = [*call.adjust_params, 0.0, 0.0, 0.0][:3]
    slope = 1.0
    if adjustment.slope is not None:
        slope = call.adjust_params[adjustment.parameters.index(adjustment.slope)]
    two_bin = call.target_index is not None and call.target_index.is_floating_point()
    launch(
        _softmax_focal_kernel,
        programs,
        x.device,
        x,
        call.target_index if call.target_index is not None else unused,
        call.probabilities if call.probabilities is not None else unused,
        call.gamma if call.gamma is not None else unused,
        call.class_factor if call.class_factor is not None else unused,
        call.adjust_values if call.adjust_values is not None else unused,
        loss if loss is not None else unused,
        stats,
        upstream if upstream is not None else unused,
        grad if grad is not None else x,
        outer,
        num_classes // class_align,
        inner,
        call.ignore_index,
        *float_parts(call.gamma_value),
        *float_parts(call.class_factor_value),
        *float_parts(call.label_smoothing),
        *(part for value in numbers for part in float_parts(value)),
        *float_parts(slope),
        ADJUST=adjustment.function,
        ROW=adjustment.row if adjustment.row is not None else ADJUSTMENTS[""].function,
        ADJUSTED=call.adjust != "",
        ROW_PASS=adjustment.row is not None,
        ROW_TOTAL=adjustment.row_total,
        TWO_BIN=two_bin,
        BACKWARD=grad is not None,
        INDEX_TARGET=call.target_index is not None and not two_bin,
        SMOOTHED=call.label_smoothing != 0.0,
        GAMMA_PER_LOCATION=call.gamma_per_location,
        GAMMA_PER_ELEMENT=call.gamma is not None and not call.gamma_per_location,
        CLASS_FACTOR_PER_CLASS=call.class_factor is not None,
        UPSTREAM=0 if upstream is None else (1 if upstream.dim() == 0 else 2),
        ROWS=rows,
        WIDE=wide,
        SINGLE_BLOCK=block_c >= num_classes,
        COMPUTE_DTYPE=tl.float64 if stats.dtype == torch.float64 else tl.float32,
        CLASS_ALIGN=class_align,
        BLOCK_L=block_l,
        BLOCK_C=block_c,
        num_warps=_num_warps(block_l * block_c, elements_per_thread // shrink),
    )


def stats_rows(adjust: str, index: Tensor | None, label_smoothing: float) -> int:
    """The rows of the statistics forward writes: the row's maximum, s_rest and S (dense
    targets) or the adjustment's row value (class indices without label smoothing); a
    fourth for the row value of an adjustment with a row function on dense targets."""
    dense = not _target_class_only(index, label_smoothing)
    return 4 if ADJUSTMENTS[adjust].row is not None and dense else 3


def _target_class_only(index: Tensor | None, label_smoothing: float) -> bool:
    """Class-index targets without label smoothing: only the target class carries weight
    (the kernel's INDEX_TARGET and not SMOOTHED)."""
    return index is not None and not index.is_floating_point() and label_smoothing == 0.0


def forward(call: SoftmaxLaunch) -> tuple[Tensor, Tensor]:
    """The loss per location (outer, inner) and the statistics backward reads
    (:func:`stats_rows`, outer, inner: the row's maximum, s_rest, S or the adjustment's row
    value, and that row value for dense targets), both in the compute dtype (float32, or
    float64 for float64 logits); one launch, no gradient.

    No host synchronisation: shapes and numbers decide the kernel's specialisation, never
    tensor values."""
    x = call.x
    outer, num_classes, inner = x.shape
    compute_dtype = torch.float64 if x.dtype == torch.float64 else torch.float32
    loss = torch.empty((outer, inner), dtype=compute_dtype, device=x.device)
    rows = stats_rows(call.adjust, call.target_index, call.label_smoothing)
    stats = torch.empty((rows, outer, inner), dtype=compute_dtype, device=x.device)
    if loss.numel() == 0 or num_classes == 0:
        return loss.zero_(), stats.zero_()
    _launch(call, loss=loss, stats=stats, upstream=None, grad=None)
    return loss, stats


def backward(call: SoftmaxLaunch, stats: Tensor, upstream: Tensor) -> Tensor:
    """dloss/dx times ``upstream`` (a 0-d tensor, or one value per location (outer, inner)),
    in x's dtype and shape: one launch, one pass over each row, from forward's ``stats``."""
    x = call.x
    grad = torch.empty_like(x)
    if x.numel() == 0:
        return grad
    _launch(call, loss=None, stats=stats, upstream=upstream.contiguous(), grad=grad)
    return grad


def softmax_focal(
    x: Tensor,
    *,
    index: Tensor | None,
    probabilities: Tensor | None,
    ignore_index: int,
    label_smoothing: float,
    gamma: float | Tensor,
    class_factor: float | Tensor | None,
    need_grad: bool,
    adjust: str = "",
    adjust_values: Tensor | None = None,
    adjust_params: Mapping[str, float] | None = None,
) -> tuple[Tensor, Tensor | None]:
    """The loss per location and (``need_grad``) dloss/dx of one call: :func:`forward`, then
    :func:`backward` with an upstream gradient of 1 (the arguments: :func:`prepare`)."""
    call = prepare(
        x,
        index=index,
        probabilities=probabilities,
        ignore_index=ignore_index,
        label_smoothing=label_smoothing,
        gamma=gamma,
        class_factor=class_factor,
        adjust=adjust,
        adjust_values=adjust_values,
        adjust_params=adjust_params,
    )
    loss, stats = forward(call)
    if not need_grad:
        return loss, None
    return loss, backward(call, stats, torch.ones((), dtype=stats.dtype, device=x.device))
