"""Cutting a tensor into cache-sized blocks, for the fused kernels.

A fused kernel runs a dozen elementwise steps; on a whole tensor each step is a pass over
main memory, on a block that fits in the CPU's cache the same steps cost about one.
"""

from __future__ import annotations

import itertools
from typing import Any

import torch
from torch import Tensor

#: Elements per block: the temporaries of one block stay in the CPU's cache, so the dozen
#: elementwise steps of the math cost one pass over memory instead of a dozen.
BLOCK_ELEMENTS = 1 << 16


def blocks(shape: torch.Size, block_elements: int) -> list[tuple[Any, ...]]:
    """Index tuples that cut a tensor of ``shape`` into blocks of about ``block_elements``.

    The cut runs along the first dimension at which the leading dimensions hold enough
    pieces; the dimensions before it are taken one index at a time.
    """
    if is_compiling():
        return [()]  # under torch.compile one block: the compiler fuses the loop itself
    total = 1
    for size in shape:
        total *= int(size)
    if total <= block_elements or len(shape) == 0:
        return [()]
    wanted = -(-total // block_elements)
    leading = 1
    for dim, size in enumerate(shape):
        if leading * int(size) >= wanted or dim == len(shape) - 1:
            per_piece = max(1, (leading * int(size)) // wanted)
            outer = [range(int(s)) for s in shape[:dim]]
            steps = range(0, int(size), per_piece)
            result: list[tuple[Any, ...]] = []
            for prefix in itertools.product(*outer):
                result.extend((*prefix, slice(i, i + per_piece)) for i in steps)
            return result
        leading *= int(size)
    return [()]  # pragma: no cover - the loop always returns


def take(operand: Any, index: tuple[Any, ...], ndim: int) -> Any:
    """The block of an operand that broadcasts against an ``ndim`` tensor ``x``: x[index]."""
    if not isinstance(operand, Tensor) or operand.dim() == 0 or not index:
        return operand
    lead = ndim - operand.dim()  # operands line up with x's trailing dimensions
    parts: list[Any] = []
    for position, item in enumerate(index):
        if position < lead:
            continue  # a dimension the operand does not have broadcasts
        if operand.shape[position - lead] == 1:
            parts.append(0 if isinstance(item, int) else slice(None))
        else:
            parts.append(item)
    return operand[tuple(parts)]


def is_compiling() -> bool:
    """True while torch.compile traces (data-dependent Python branches must be avoided)."""
    compiler = getattr(torch, "compiler", None)
    check = getattr(compiler, "is_compiling", None)
    return bool(check()) if check is not None else False


def is_one(grad_output: Tensor) -> bool:
    """backward's "multiply by grad_output" can be skipped for the scalar 1 (not while tracing)."""
    if is_compiling() or grad_output.numel() != 1:
        return False
    return bool(grad_output.reshape(()) == 1)
