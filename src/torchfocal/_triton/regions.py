"""Triton kernels of the region losses (Dice, Tversky, focal Tversky, generalized Dice): the
per-(sample, class) sums in one launch, the gradient from those sums in a second.

The logits are viewed as (outer, C, inner) around the class dimension; each program takes
a tile of BLOCK_C >= C classes (every class of a location: the softmax is taken over the
tile's columns) by BLOCK_L locations of one outer row. The target is either class indices
(outer, inner), compared with the tile's class numbers (no one-hot anywhere), or a dense
(outer, C, inner) tensor; an optional byte mask (outer, inner) leaves locations out.

- :func:`sums`: with p the activation of x (softmax over the classes, sigmoid, or x) and t
  the target, each program writes its tile's partial sums over locations of
  I = sum p t, P = sum p (sum p^2 when squared) and T = sum t (sum t^2), one row of C
  values each; the caller adds the partials of each sample (a torch sum on the device: no
  atomics, so the result does not depend on scheduling).
- :func:`gradient`: from the vector-Jacobian product (dI, dP) per (sample, class) of the
  loss's own math, g_c = dI_c t_c + dP_c dP/dp_c (dP/dp = 1, or 2 p when squared), then
  through the activation: softmax dx_j = p_j (g_j - sum_c p_c g_c), sigmoid
  dx = g p (1 - p), none dx = g. A left-out location has g = 0 and so no gradient.

float16 / bfloat16 inputs are computed in float32 (float64 in float64); the gradient is
written in the input's dtype. Nothing is read on the host.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl
from torch import Tensor

from .common import launch

#: The activation's number in the kernels.
ACTIVATIONS = {"softmax": 0, "sigmoid": 1, "none": 2}
#: Elements of a tile (BLOCK_C x BLOCK_L); BLOCK_C is C rounded up to a power of two.
_TILE_ELEMENTS = 2048
_INT32_LIMIT = 2**31


@triton.jit
def _tile(
    x_ptr,
    target_ptr,
    valid_ptr,
    row,
    start,
    num_classes,
    inner,
    ACTIVATION: tl.constexpr,
    INDEX_TARGET: tl.constexpr,
    HAS_VALID: tl.constexpr,
    COMPUTE_DTYPE: tl.constexpr,
    BLOCK_C: tl.constexpr,
    BLOCK_L: tl.constexpr,
):
    """p, t and the bool mask of counted elements of one tile (zero where not counted)."""
    classes = tl.arange(0, BLOCK_C)
    locations = start + tl.arange(0, BLOCK_L)
    class_ok = classes < num_classes
    location_ok = locations < inner
    if HAS_VALID:
        counted = tl.load(valid_ptr + row * inner + locations, mask=location_ok, other=0)
        location_ok = location_ok & (counted != 0)
    keep = class_ok[:, None] & location_ok[None, :]
    offsets = row * num_classes * inner + classes[:, None] * inner + locations[None, :]
    x = tl.load(x_ptr + offsets, mask=keep, other=0.0).to(COMPUTE_DTYPE)
    if ACTIVATION == 0:
        shifted = tl.where(keep, x, -float("inf"))
        top = tl.max(shifted, axis=0)
        top = tl.where(location_ok, top, 0.0)
        e = tl.where(keep, tl.exp(shifted - top[None, :]), 0.0)
        total = tl.sum(e, axis=0)
        p = e / tl.where(location_ok, total, 1.0)[None, :]
    elif ACTIVATION == 1:
        p = tl.where(keep, 1.0 / (1.0 + tl.exp(-x)), 0.0)
    else:
        p = x
    if INDEX_TARGET:
        y = tl.load(target_ptr + row * inner + locations, mask=location_ok, other=-1)
        t = tl.where(keep & (classes[:, None] == y[None, :]), 1.0, 0.0).to(COMPUTE_DTYPE)
    else:
        t = tl.load(target_ptr + offsets, mask=keep, other=0.0).to(COMPUTE_DTYPE)
    return p, t, keep


@triton.jit
def _region_sums_kernel(
    x_ptr,
    target_ptr,
    valid_ptr,
    partials_ptr,
    num_classes,
    inner,
    blocks,
    ACTIVATION: tl.constexpr,
    INDEX_TARGET: tl.constexpr,
    HAS_VALID: tl.constexpr,
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
    p, t, _ = _tile(
        x_ptr,
        target_ptr,
        valid_ptr,
        row,
        start,
        num_classes,
        inner,
        ACTIVATION,
        INDEX_TARGET,
        HAS_VALID,
        COMPUTE_DTYPE,
        BLOCK_C,
        BLOCK_L,
    )
    if SQUARED:
        predicted = tl.sum(p * p, axis=1)
        target = tl.sum(t * t, axis=1)
    else:
        predicted = tl.sum(p, axis=1)
        target = tl.sum(t, axis=1)
    intersection = tl.sum(p * t, axis=1)
    classes = tl.arange(0, BLOCK_C)
    class_ok = classes < num_classes
    out = partials_ptr + program * 3 * num_classes + classes
    tl.store(out, intersection, mask=class_ok)
    tl.store(out + num_classes, predicted, mask=class_ok)
    tl.store(out + 2 * num_classes, target, mask=class_ok)


@triton.jit
def _region_grad_kernel(
    x_ptr,
    target_ptr,
    valid_ptr,
    d_i_ptr,
    d_p_ptr,
    grad_ptr,
    num_classes,
    inner,
    blocks,
    rows_per_sample,
    ACTIVATION: tl.constexpr,
    INDEX_TARGET: tl.constexpr,
    HAS_VALID: tl.constexpr,
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
    p, t, keep = _tile(
        x_ptr,
        target_ptr,
        valid_ptr,
        row,
        start,
        num_classes,
        inner,
        ACTIVATION,
        INDEX_TARGET,
        HAS_VALID,
        COMPUTE_DTYPE,
        BLOCK_C,
        BLOCK_L,
    )
    classes = tl.arange(0, BLOCK_C)
    class_ok = classes < num_classes
    sample = row // rows_per_sample
    d_i = tl.load(d_i_ptr + sample * num_classes + classes, mask=class_ok, other=0.0)
    d_p = tl.load(d_p_ptr + sample * num_classes + classes, mask=class_ok, other=0.0)
    g = d_i[:, None] * t + d_p[:, None] * (2.0 * p if SQUARED else 1.0)
    g = tl.where(keep, g, 0.0)
    if ACTIVATION == 0:
        dx = p * (g - tl.sum(p * g, axis=0)[None, :])
    elif ACTIVATION == 1:
        dx = g * p * (1.0 - p)
    else:
        dx = g
    locations = start + tl.arange(0, BLOCK_L)
    in_tile = class_ok[:, None] & (locations < inner)[None, :]
    offsets = row * num_classes * inner + classes[:, None] * inner + locations[None, :]
    tl.store(grad_ptr + offsets, dx.to(grad_ptr.dtype.element_ty), mask=in_tile)


def _next_power_of_2(n: int) -> int:
    return 1 << max(0, n - 1).bit_length()


def _layout(x: Tensor) -> tuple[int, int, int, int, bool]:
    """(BLOCK_C, BLOCK_L, tiles per outer row, programs, 64-bit offsets) of a launch."""
    outer, num_classes, inner = x.shape
    block_c = _next_power_of_2(num_classes)
    block_l = min(_next_power_of_2(inner), max(1, _TILE_ELEMENTS // block_c))
    blocks = triton.cdiv(inner, block_l)
    return block_c, block_l, blocks, outer * blocks, x.numel() >= _INT32_LIMIT


def _compute(x: Tensor) -> tuple[torch.dtype, tl.dtype]:
    if x.dtype == torch.float64:
        return torch.float64, tl.float64
    return torch.float32, tl.float32


def sums(
    x: Tensor,
    target: Tensor,
    valid: Tensor | None,
    *,
    activation: str,
    squared: bool,
    samples: int,
) -> tuple[Tensor, Tensor, Tensor]:
    """(I, P, T), each (samples, C) in the compute dtype, of logits ``x`` (outer, C, inner)
    whose outer rows are ``samples`` samples' consecutive rows; ``target`` (outer, inner)
    class indices or (outer, C, inner) dense; ``valid`` None or an (outer, inner) byte mask
    of counted locations."""
    num_classes, inner = x.shape[1], x.shape[2]
    block_c, block_l, blocks, programs, wide = _layout(x)
    compute, compute_tl = _compute(x)
    if not programs:
        empty = torch.zeros((samples, num_classes), dtype=compute, device=x.device)
        return empty, empty, empty
    partials = torch.empty((programs, 3, num_classes), dtype=compute, device=x.device)
    launch(
        _region_sums_kernel,
        programs,
        x.device,
        x,
        target,
        valid if valid is not None else target,
        partials,
        num_classes,
        inner,
        blocks,
        ACTIVATION=ACTIVATIONS[activation],
        INDEX_TARGET=not target.is_floating_point(),
        HAS_VALID=valid is not None,
        SQUARED=squared,
        WIDE=wide,
        COMPUTE_DTYPE=compute_tl,
        BLOCK_C=block_c,
        BLOCK_L=block_l,
    )
    per_sample = partials.view(samples, -1, 3, num_classes).sum(dim=1)
    return per_sample[:, 0], per_sample[:, 1], per_sample[:, 2]


def gradient(
    x: Tensor,
    target: Tensor,
    valid: Tensor | None,
    d_i: Tensor,
    d_p: Tensor,
    *,
    activation: str,
    squared: bool,
    samples: int,
) -> Tensor:
    """dloss/dx (outer, C, inner) in x's dtype from the (samples, C) vjp (dI, dP) (in the
    compute dtype); the other arguments as :func:`sums`'s."""
    outer, num_classes, inner = x.shape
    block_c, block_l, blocks, programs, wide = _layout(x)
    compute, compute_tl = _compute(x)
    grad = torch.empty_like(x)
    if programs:
        launch(
            _region_grad_kernel,
            programs,
            x.device,
            x,
            target,
            valid if valid is not None else target,
            d_i.to(compute).contiguous(),
            d_p.to(compute).contiguous(),
            grad,
            num_classes,
            inner,
            blocks,
            outer // samples,
            ACTIVATION=ACTIVATIONS[activation],
            INDEX_TARGET=not target.is_floating_point(),
            HAS_VALID=valid is not None,
            SQUARED=squared,
            WIDE=wide,
            COMPUTE_DTYPE=compute_tl,
            BLOCK_C=block_c,
            BLOCK_L=block_l,
        )
    return grad
