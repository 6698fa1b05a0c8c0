"""Running a loss's fused kernel over a tensor: one runner per kind of device.

A fused kernel (``kernel(x, target, **operands, need_grad=...) -> (loss, dloss/dx)``) runs a
dozen elementwise steps. Where it runs:

- CPU, large tensors: cut into blocks. A block's dozen steps run on data that stays in
  the CPU's cache, and its temporaries are small enough for the allocator to reuse (a
  fresh temporary of a megabyte or more costs page faults on every call, more than the
  arithmetic at a few hundred thousand elements). Measured (BENCHMARKS.md, "Blocks"): an
  elementwise loss runs as one pass up to :data:`BLOCK_THRESHOLD` elements, in blocks of
  :data:`BLOCK_ELEMENTS` up to :data:`LARGE_ABOVE`, and of :data:`LARGE_BLOCK_ELEMENTS`
  beyond (where ops on a larger block use both threads); a loss with one value per
  location (softmax: a log-softmax, a gather, a scatter per row) pays for each block's
  dozen small per-row ops and runs as one pass up to :data:`PER_LOCATION_THRESHOLD`.
- every other device (and under torch.compile): one pass. A GPU's kernels are launched
  asynchronously and are not limited by a CPU cache; a Python loop of blocks would multiply
  the launches, and any read of a value would synchronise with the device.
- ``backend="compiled"``: the loss's own compiled program
  (:mod:`torchfocal._engine.compiled`), or these eager runners where it does not compile.

:func:`~torchfocal._engine.engine.run` picks the backend's runner; :func:`run_eager` is the
fused backend's.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor

from .numerics import Kernel, reads_values
from .reduction import Divisor, reciprocal, scaled_result, scaled_sum

#: Elementwise losses on CPU tensors of more elements than this are cut into blocks
#: (module docstring).
BLOCK_THRESHOLD = 1 << 16
#: Elements per block up to LARGE_ABOVE, and beyond it.
BLOCK_ELEMENTS = 1 << 15
LARGE_BLOCK_ELEMENTS = 1 << 18
#: The size from which blocks are large.
LARGE_ABOVE = 1 << 21
#: Per-location losses on CPU tensors of more elements than this are cut into blocks.
PER_LOCATION_THRESHOLD = 1 << 21


def blocks(shape: torch.Size, block_elements: int) -> list[tuple[Any, ...]]:
    """Index tuples that cut a tensor of ``shape`` into blocks of about ``block_elements``.

    The cut runs along the first dimension at which the leading dimensions hold enough
    pieces; the dimensions before it are taken one index at a time.
    """
    total = 1
    for size in shape:
        total *= int(size)
    if total <= block_elements or len(shape) == 0:
        return [()]
    wanted = -(-total // block_elements)
    leading = 1
    for dim, size in enumerate(shape):
        if leading * int(size) >= wanted or dim == len(shape) - 1:
            # Rounded up: equal pieces, no leftover sliver of a block at the end.
            per_piece = max(1, -(-(leading * int(size)) // wanted))
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


def uses_blocks(x: Tensor, per_location: bool = False) -> bool:
    """Blocks only for large CPU tensors (module docstring), never while tracing or under a
    torch.func transform (vmap's tensors hide the batch from numel)."""
    threshold = PER_LOCATION_THRESHOLD if per_location else BLOCK_THRESHOLD
    return x.device.type == "cpu" and x.numel() > threshold and reads_values(x)


def block_elements(x: Tensor) -> int:
    return BLOCK_ELEMENTS if x.numel() <= LARGE_ABOVE else LARGE_BLOCK_ELEMENTS


def _single_pass(
    kernel: Kernel,
    x: Tensor,
    target: Tensor,
    input_dtype: torch.dtype,
    need_grad: bool,
    operands: Mapping[str, Any],
    dim: int | None,
    divisor: Divisor,
) -> tuple[Tensor, Tensor | None]:
    inverse = reciprocal(divisor, x.device)
    if dim is None:
        loss, grad = kernel(x, target, **operands, need_grad=need_grad)
        loss, grad = scaled_result(loss, grad, inverse)
    else:
        loss, grad = kernel(x, target, **operands, dim=dim, need_grad=need_grad, grad_scale=inverse)
        loss = loss if inverse is None else scaled_sum(loss, inverse)
    return loss.to(input_dtype), None if grad is None else grad.to(input_dtype)


def _elementwise_blocks(
    kernel: Kernel,
    x: Tensor,
    target: Tensor,
    input_dtype: torch.dtype,
    need_grad: bool,
    operands: Mapping[str, Any],
    divisor: Divisor,
) -> tuple[Tensor, Tensor | None]:
    inverse = reciprocal(divisor, x.device)
    grad = torch.empty(x.shape, dtype=input_dtype, device=x.device) if need_grad else None
    losses = torch.empty_like(x) if divisor is None else None
    total = torch.zeros((), dtype=torch.float64, device=x.device)
    for index in blocks(x.shape, block_elements(x)):
        block_operands = {name: take(value, index, x.dim()) for name, value in operands.items()}
        block_target = take(target, index, x.dim())
        block_loss, block_grad = kernel(
            x[index], block_target, **block_operands, need_grad=need_grad
        )
        if losses is not None:
            losses[index] = block_loss
        else:
            total += scaled_sum(block_loss, inverse)
        if grad is not None and block_grad is not None:
            grad[index] = block_grad if inverse is None else block_grad * inverse
    if losses is not None:
        return losses.to(input_dtype), grad
    return total.to(input_dtype), grad


def _per_location_blocks(
    kernel: Kernel,
    x: Tensor,
    target: Tensor,
    input_dtype: torch.dtype,
    need_grad: bool,
    operands: Mapping[str, Any],
    dim: int,
    divisor: Divisor,
) -> tuple[Tensor, Tensor | None]:
    """Blocks of whole locations: the classes along ``dim`` stay together in a block."""
    inverse = reciprocal(divisor, x.device)
    grad = torch.empty(x.shape, dtype=input_dtype, device=x.device) if need_grad else None
    per_location = list(x.shape)
    del per_location[dim]
    losses = torch.empty(per_location, dtype=x.dtype, device=x.device)
    class_one = list(x.shape)
    class_one[dim] = 1
    block_size = max(1, block_elements(x) // max(x.shape[dim], 1))
    for block in blocks(torch.Size(class_one), block_size):
        index = tuple(slice(None) if pos == dim else item for pos, item in enumerate(block))
        block_dim = dim - sum(isinstance(item, int) for item in index[:dim])
        block_operands = {name: take(value, index, x.dim()) for name, value in operands.items()}
        block_loss, block_grad = kernel(
            x[index],
            take(target, index, x.dim()),
            **block_operands,
            dim=block_dim,
            need_grad=need_grad,
            grad_scale=inverse,
        )
        losses[tuple(item for pos, item in enumerate(index) if pos != dim)] = block_loss
        if grad is not None and block_grad is not None:
            grad[index] = block_grad
    if inverse is None:
        return losses.to(input_dtype), grad
    return scaled_sum(losses, inverse).to(input_dtype), grad


def run_eager(
    kernel: Kernel,
    input: Tensor,
    need_grad: bool,
    *,
    target: Tensor,
    operands: Mapping[str, Any],
    divisor: Divisor,
    compute_dtype: torch.dtype,
    dim: int | None = None,
) -> tuple[Tensor, Tensor | None]:
    """``(loss, dloss/dinput)`` of the fused kernel, both in the input's dtype.

    ``x`` is the input in ``compute_dtype``; the target and the operands broadcast against
    it (and are cut with it). ``dim`` is None for an elementwise loss, else the class
    dimension of a loss with one value per location. The loss is unreduced for a ``None``
    divisor, else the sum (float64 where the device has it,
    :func:`~torchfocal._engine.reduction.scaled_sum`) times 1 / divisor; the gradient is
    already divided by the divisor.
    """
    x = input.to(compute_dtype)
    if not uses_blocks(x, per_location=dim is not None):
        return _single_pass(kernel, x, target, input.dtype, need_grad, operands, dim, divisor)
    if dim is None:
        return _elementwise_blocks(kernel, x, target, input.dtype, need_grad, operands, divisor)
    return _per_location_blocks(kernel, x, target, input.dtype, need_grad, operands, dim, divisor)
