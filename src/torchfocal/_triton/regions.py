"""Triton kernels of the region losses (Dice, Tversky, focal Tversky, generalized Dice): the
per-(sample, class) sums in one launch, the gradient from those sums in a second.

The logits are viewed as (outer, C, inner) around the class dimension; each program takes
a tile of BLOCK_C >= C classes (every class of a location: the softmax is taken over the
tile's columns) by BLOCK_L locations of one outer row. The target is either class indices
(outer, inner), compared with the tile's class numbers (no one-hot anywhere), or a dense
(outer, C, inner) tensor. Class indices reach the kernels as the caller gave them: a
location whose index is ``ignore_index`` is left out (no masked copy of the target and no
mask tensor are made before the kernels), and the sums kernel writes one flag per program,
nonzero where a counted index lies outside the classes, for a device-side assert after the
launch (the class-index check without a pass of its own).

- :func:`sums`: with p the activation of x (softmax over the classes, sigmoid, or x) and t
  the target, each program writes its tile's partial sums over locations of
  I = sum p t, P = sum p (sum p^2 when squared) and T = sum t (sum t^2), one row of C
  values each (and, for the sigmoid's index targets, the counted locations: the
  background index C is in no class); the caller adds the partials of each sample (a torch
  sum on the device: no atomics, so the result does not depend on scheduling).
- :func:`gradient`: from the vector-Jacobian product (dI, dP) per (sample, class) of the
  loss's own math, g_c = dI_c t_c + dP_c dP/dp_c (dP/dp = 1, or 2 p when squared), then
  through the activation: softmax dx_j = p_j (g_j - sum_c p_c g_c), sigmoid
  dx = g p (1 - p), none dx = g. A left-out location has g = 0 and so no gradient.

float16 / bfloat16 inputs are computed in float32 (float64 in float64); the gradient is
written in the input's dtype. Nothing is read on the host.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import triton
import triton.language as tl
from torch import Tensor

from .common import launch

#: The activation's number in the kernels.
ACTIVATIONS = {"softmax": 0, "sigmoid": 1, "none": 2}
#: Elements of a tile (BLOCK_C x BLOCK_L); BLOCK_C is C rounded up to a power of two. At
#: 4096 elements and 4 warps a thread holds 32 (float64: half the tile): up to 32 classes
#: (BLOCK_L >= 128), Triton's layout puts a location's classes in at most 4 threads of one
#: warp (4 locations a thread, 8 threads along the locations), so the softmax's sums over
#: the classes are a thread's own adds and two shuffles, no shared memory.
_TILE_ELEMENTS = {torch.float64: 2048}
_DEFAULT_TILE_ELEMENTS = 4096
#: Tiles a sums program adds up before it writes its partial sums, where the launch has
#: enough tiles to keep that many programs (each program's partials, 3 C values, are then
#: 1/8 of the bytes; the reductions over the locations run once per program, not per tile).
_TILES_PER_PROGRAM = 8
_MIN_PROGRAMS = 1024
_INT32_LIMIT = 2**31
#: log2(e): exp(z) = exp2(z log2(e)) (one multiply-add and a MUFU.EX2 in float32).
_LOG2E: tl.constexpr = tl.constexpr(1.4426950408889634)


@triton.jit
def _tile(
    x_ptr,
    target_ptr,
    row,
    start,
    num_classes,
    inner,
    ignore_index,
    largest,
    ACTIVATION: tl.constexpr,
    INDEX_TARGET: tl.constexpr,
    COMPUTE_DTYPE: tl.constexpr,
    BLOCK_C: tl.constexpr,
    BLOCK_L: tl.constexpr,
):
    """p and t of one tile, both zero where a location is not counted (and p zero in the
    padding classes of the softmax), the counted locations, the in-row elements, and (index
    targets) which counted locations hold an index outside [0, largest]."""
    classes = tl.arange(0, BLOCK_C)
    locations = start + tl.arange(0, BLOCK_L)
    class_ok = classes < num_classes
    in_row = locations < inner
    in_tile = class_ok[:, None] & in_row[None, :]
    offsets = row * num_classes * inner + classes[:, None] * inner + locations[None, :]
    # Masked by the tile's bounds alone (constant over aligned runs of locations, so the
    # load is vectorised); ignored locations are zeroed after it.
    x = tl.load(x_ptr + offsets, mask=in_tile, other=0.0).to(COMPUTE_DTYPE)
    counted = in_row
    outside = locations < 0  # none (dense targets are range-checked before the kernel)
    if INDEX_TARGET:
        # The raw index: a location counts where it is not ignore_index (no masked copy of
        # the target, no mask tensor before the kernel).
        y = tl.load(target_ptr + row * inner + locations, mask=in_row, other=ignore_index)
        y = y.to(tl.int64)
        counted = in_row & (y != ignore_index)
        outside = counted & ((y < 0) | (y > largest))
        # -1 matches no class: t is zero at a location that does not count
        y = tl.where(counted, y, -1).to(tl.int32)
        t = tl.where(classes[:, None] == y[None, :], 1.0, 0.0).to(COMPUTE_DTYPE)
    else:
        t = tl.load(target_ptr + offsets, mask=in_tile, other=0.0).to(COMPUTE_DTYPE)
    if ACTIVATION == 0:
        shifted = tl.where(class_ok[:, None], x, -float("inf"))
        top = tl.max(shifted, axis=0)
        if x.dtype == tl.float64:
            e = tl.exp(shifted - top[None, :])
            inverse = 1.0 / tl.sum(e, axis=0)
        else:
            e = tl.exp2(shifted * _LOG2E - (top * _LOG2E)[None, :])
            # the sum is in [1, C]: rsqrt squared is its reciprocal (common.reciprocal)
            root = tl.math.rsqrt(tl.sum(e, axis=0))
            inverse = root * root
        # p is zero where a location does not count, whatever its logits hold there (a NaN
        # or an infinity at an ignored location stays out of the sums and the gradient)
        p = tl.where(counted[None, :], e * inverse[None, :], 0.0)
    elif ACTIVATION == 1:
        keep = class_ok[:, None] & counted[None, :]
        if x.dtype == tl.float64:
            p = tl.where(keep, 1.0 / (1.0 + tl.exp(-x)), 0.0)
        else:
            # 1 + exp(-x) is in [1, inf]: rsqrt squared gives 1 / it (0 at inf)
            root = tl.math.rsqrt(1.0 + tl.exp2(x * -_LOG2E))
            p = tl.where(keep, root * root, 0.0)
    else:
        p = tl.where(class_ok[:, None] & counted[None, :], x, 0.0)
    return p, t, counted, in_tile, outside


@triton.jit
def _fold(values, BLOCK_C: tl.constexpr, BLOCK_L: tl.constexpr, FOLD: tl.constexpr):
    """(BLOCK_C, BLOCK_L) values summed FOLD consecutive locations at a time (any order)."""
    if FOLD == 1:
        return values
    else:
        folded = tl.reshape(values, (BLOCK_C, BLOCK_L // FOLD, FOLD), can_reorder=True)
        return tl.sum(folded, axis=2)


@triton.jit
def _region_sums_kernel(
    x_ptr,
    target_ptr,
    partials_ptr,
    flags_ptr,
    num_classes,
    inner,
    chunks,
    ignore_index,
    largest,
    ACTIVATION: tl.constexpr,
    INDEX_TARGET: tl.constexpr,
    COUNT: tl.constexpr,
    CHECK_INDEX: tl.constexpr,
    SQUARED: tl.constexpr,
    WIDE: tl.constexpr,
    COMPUTE_DTYPE: tl.constexpr,
    BLOCK_C: tl.constexpr,
    BLOCK_L: tl.constexpr,
    TILES: tl.constexpr,
    FOLD: tl.constexpr,
):
    """Each program: TILES consecutive tiles of one outer row (``chunks`` programs a row),
    summed elementwise over the tiles, then over the locations once."""
    program = tl.program_id(0)
    if WIDE:
        program = program.to(tl.int64)
    row = program // chunks
    first = (program % chunks) * (TILES * BLOCK_L)
    # Accumulators of BLOCK_L / FOLD columns: each tile's values are first added FOLD
    # locations at a time (a thread's own vector of locations), which keeps the three
    # accumulators at a quarter of a tile's registers.
    intersection = tl.zeros([BLOCK_C, BLOCK_L // FOLD], dtype=COMPUTE_DTYPE)
    predicted = tl.zeros([BLOCK_C, BLOCK_L // FOLD], dtype=COMPUTE_DTYPE)
    target = tl.zeros([BLOCK_C, BLOCK_L // FOLD], dtype=COMPUTE_DTYPE)
    count = tl.zeros([BLOCK_L], dtype=COMPUTE_DTYPE)
    bad = tl.zeros([BLOCK_L], dtype=tl.int32)
    for tile in range(TILES):
        p, t, counted, _, outside = _tile(
            x_ptr,
            target_ptr,
            row,
            first + tile * BLOCK_L,
            num_classes,
            inner,
            ignore_index,
            largest,
            ACTIVATION,
            INDEX_TARGET,
            COMPUTE_DTYPE,
            BLOCK_C,
            BLOCK_L,
        )
        intersection += _fold(p * t, BLOCK_C, BLOCK_L, FOLD)
        if SQUARED:
            predicted += _fold(p * p, BLOCK_C, BLOCK_L, FOLD)
            # t * t = t for an indicator
            target += _fold(t if INDEX_TARGET else t * t, BLOCK_C, BLOCK_L, FOLD)
        else:
            predicted += _fold(p, BLOCK_C, BLOCK_L, FOLD)
            target += _fold(t, BLOCK_C, BLOCK_L, FOLD)
        if COUNT:
            count += counted.to(COMPUTE_DTYPE)
        if CHECK_INDEX:
            bad = bad | outside.to(tl.int32)
    classes = tl.arange(0, BLOCK_C)
    class_ok = classes < num_classes
    width = 3 * num_classes + COUNT
    out = partials_ptr + program * width + classes
    tl.store(out, tl.sum(intersection, axis=1), mask=class_ok)
    tl.store(out + num_classes, tl.sum(predicted, axis=1), mask=class_ok)
    tl.store(out + 2 * num_classes, tl.sum(target, axis=1), mask=class_ok)
    if COUNT:
        # The counted locations, where the sum over classes of T does not give them (the
        # sigmoid's background index C is counted and in no class).
        tl.store(partials_ptr + program * width + 3 * num_classes, tl.sum(count, axis=0))
    if CHECK_INDEX:
        tl.store(flags_ptr + program, tl.max(bad, axis=0))


@triton.jit
def _region_grad_kernel(
    x_ptr,
    target_ptr,
    d_i_ptr,
    d_p_ptr,
    grad_ptr,
    num_classes,
    inner,
    blocks,
    rows_per_sample,
    ignore_index,
    ACTIVATION: tl.constexpr,
    INDEX_TARGET: tl.constexpr,
    SQUARED: tl.constexpr,
    WIDE: tl.constexpr,
    COMPUTE_DTYPE: tl.constexpr,
    BLOCK_C: tl.constexpr,
    BLOCK_L: tl.constexpr,
):
    program = tl.program_id(0)
    if WIDE:
        program = program.to(tl.int64)
    row = program // blocks
    start = (program % blocks) * BLOCK_L
    # largest 0: the range was checked by the sums kernel (its flag), not again here
    p, t, counted, in_tile, _ = _tile(
        x_ptr,
        target_ptr,
        row,
        start,
        num_classes,
        inner,
        ignore_index,
        0,
        ACTIVATION,
        INDEX_TARGET,
        COMPUTE_DTYPE,
        BLOCK_C,
        BLOCK_L,
    )
    classes = tl.arange(0, BLOCK_C)
    class_ok = classes < num_classes
    sample = row // rows_per_sample
    d_i = tl.load(d_i_ptr + sample * num_classes + classes, mask=class_ok, other=0.0)
    d_p = tl.load(d_p_ptr + sample * num_classes + classes, mask=class_ok, other=0.0)
    # dP/dp: 1, or 2 p when squared
    slope = (2.0 * d_p)[:, None] * p if SQUARED else d_p[:, None]
    g = d_i[:, None] * t + slope
    # Where a location does not count, t = 0 and p = 0, so the softmax's and the sigmoid's
    # dx below are zero there without a select; "none" (dx = g) needs one.
    if ACTIVATION == 0:
        dx = p * (g - tl.sum(p * g, axis=0)[None, :])
    elif ACTIVATION == 1:
        dx = g * (p - p * p)
    else:
        dx = tl.where(counted[None, :], g, 0.0)
    offsets = (
        row * num_classes * inner
        + classes[:, None] * inner
        + (start + tl.arange(0, BLOCK_L))[None, :]
    )
    tl.store(grad_ptr + offsets, dx.to(grad_ptr.dtype.element_ty), mask=in_tile)


def _next_power_of_2(n: int) -> int:
    return 1 << max(0, n - 1).bit_length()


def _layout(x: Tensor) -> tuple[int, int, int, int, bool]:
    """(BLOCK_C, BLOCK_L, tiles per outer row, tiles in all, 64-bit offsets) of a launch."""
    outer, num_classes, inner = x.shape
    block_c = _next_power_of_2(num_classes)
    elements = _TILE_ELEMENTS.get(x.dtype, _DEFAULT_TILE_ELEMENTS)
    block_l = min(_next_power_of_2(inner), max(1, elements // block_c))
    blocks = triton.cdiv(inner, block_l)
    return block_c, block_l, blocks, outer * blocks, x.numel() >= _INT32_LIMIT


def _tiles_per_program(tiles: int, block_l: int) -> int:
    """TILES of a sums launch of ``tiles`` tiles in all (see :data:`_TILES_PER_PROGRAM`);
    a tile of fewer than 4 locations (FOLD) takes one a program."""
    enough = tiles >= _TILES_PER_PROGRAM * _MIN_PROGRAMS and block_l >= 4
    return _TILES_PER_PROGRAM if enough else 1


def _compute(x: Tensor) -> tuple[torch.dtype, tl.dtype]:
    if x.dtype == torch.float64:
        return torch.float64, tl.float64
    return torch.float32, tl.float32


class Sums(NamedTuple):
    """The sums kernel's results, per sample: (I, P, T) (samples, C) in the compute dtype;
    for index targets the counted locations (samples,) (else None: every location counts);
    and with ``check_index`` one flag per program, nonzero where a counted index lies
    outside [0, largest] (else None)."""

    intersection: Tensor
    predicted: Tensor
    target: Tensor
    locations: Tensor | None
    flags: Tensor | None


def sums(
    x: Tensor,
    target: Tensor,
    *,
    activation: str,
    squared: bool,
    samples: int,
    ignore_index: int = -100,
    largest: int = 0,
    check_index: bool = False,
) -> Sums:
    """The sums of logits ``x`` (outer, C, inner) whose outer rows are ``samples`` samples'
    consecutive rows; ``target`` (outer, inner) class indices as given (a location counts
    where its index is not ``ignore_index``; ``largest`` is the largest class index, C - 1,
    or C where C marks the sigmoid's background) or (outer, C, inner) dense."""
    outer, num_classes, inner = x.shape
    block_c, block_l, blocks, tiles, wide = _layout(x)
    per_program = _tiles_per_program(tiles, block_l)
    chunks = triton.cdiv(blocks, per_program)
    programs = outer * chunks
    compute, compute_tl = _compute(x)
    index = not target.is_floating_point()
    # Softmax / none: each counted location is in one class, so sum_c T is the count; the
    # sigmoid's background location is in none, and the kernel counts locations itself.
    count_column = index and largest >= num_classes
    width = 3 * num_classes + int(count_column)
    check = index and check_index
    flags = torch.empty(programs, dtype=torch.int32, device=x.device) if check else None
    if not programs:
        partials = torch.zeros((samples, width), dtype=compute, device=x.device)
        return _split(partials, num_classes, index, count_column, None)
    partials = torch.empty((programs, width), dtype=compute, device=x.device)
    launch(
        _region_sums_kernel,
        programs,
        x.device,
        x,
        target,
        partials,
        flags if flags is not None else partials,
        num_classes,
        inner,
        chunks,
        ignore_index if index else 0,
        largest,
        ACTIVATION=ACTIVATIONS[activation],
        INDEX_TARGET=index,
        COUNT=count_column,
        CHECK_INDEX=check,
        SQUARED=squared,
        WIDE=wide,
        COMPUTE_DTYPE=compute_tl,
        BLOCK_C=block_c,
        BLOCK_L=block_l,
        TILES=per_program,
        FOLD=4 if per_program > 1 else 1,
    )
    per_sample = partials.view(samples, -1, width).sum(dim=1)
    return _split(per_sample, num_classes, index, count_column, flags)


def _split(
    per_sample: Tensor, num_classes: int, index: bool, count_column: bool, flags: Tensor | None
) -> Sums:
    intersection = per_sample[:, :num_classes]
    predicted = per_sample[:, num_classes : 2 * num_classes]
    target = per_sample[:, 2 * num_classes : 3 * num_classes]
    count = None
    if count_column:
        count = per_sample[:, 3 * num_classes]
    elif index:
        count = target.sum(dim=1)
    return Sums(intersection, predicted, target, count, flags)


def gradient(
    x: Tensor,
    target: Tensor,
    d_i: Tensor,
    d_p: Tensor,
    *,
    activation: str,
    squared: bool,
    samples: int,
    ignore_index: int = -100,
) -> Tensor:
    """dloss/dx (outer, C, inner) in x's dtype from the (samples, C) vjp (dI, dP) (in the
    compute dtype); the other arguments as :func:`sums`'s."""
    outer, num_classes, inner = x.shape
    block_c, block_l, blocks, programs, wide = _layout(x)
    compute, compute_tl = _compute(x)
    grad = torch.empty_like(x)
    index = not target.is_floating_point()
    if programs:
        launch(
            _region_grad_kernel,
            programs,
            x.device,
            x,
            target,
            d_i.to(compute).contiguous(),
            d_p.to(compute).contiguous(),
            grad,
            num_classes,
            inner,
            blocks,
            outer // samples,
            ignore_index if index else 0,
            ACTIVATION=ACTIVATIONS[activation],
            INDEX_TARGET=index,
            SQUARED=squared,
            WIDE=wide,
            COMPUTE_DTYPE=compute_tl,
            BLOCK_C=block_c,
            BLOCK_L=block_l,
        )
    return grad
