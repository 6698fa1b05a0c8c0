"""Cutting a tensor into cache-sized blocks, for the fused kernels.

A fused kernel runs a dozen elementwise steps; on a whole tensor each step is a pass over
main memory, on a block that fits in the CPU's cache the same steps cost about one.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import Tensor

#: Elements per block: the temporaries of one block stay in the CPU's cache, so the dozen
#: elementwise steps of the math cost one pass over memory instead of a dozen.
BLOCK_ELEMENTS = 1 << 16

#: A focusing parameter: a number, or one value per element (a sample-dependent gamma, which
#: the kernels treat as a constant of the graph).
Gamma = float | Tensor


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


def has_neg_inf(values: Tensor) -> bool:
    """Whether ``values`` may hold -inf: checked on CPU tensors outside torch.compile (the
    answer costs no device sync there), assumed elsewhere (meta tensors included)."""
    if values.device.type != "cpu" or is_compiling():
        return True
    return bool(torch.isneginf(values).any())


def equals(gamma: Gamma, value: float) -> bool:
    """gamma is the number ``value`` (a per-element gamma tensor takes the general path)."""
    return not isinstance(gamma, Tensor) and gamma == value


def is_one(grad_output: Tensor) -> bool:
    """backward's "multiply by grad_output" can be skipped for the scalar 1 (not while tracing)."""
    if is_compiling() or grad_output.numel() != 1:
        return False
    return bool(grad_output.reshape(()) == 1)


def upstream_gradient(grad: Tensor, grad_output: Tensor, class_dim: int | None) -> Tensor:
    """The saved dloss/dx times grad_output, for backward.

    ``class_dim`` is given for a loss with one value per location under ``reduction="none"``:
    one upstream value per location, broadcast over the classes. Otherwise grad_output has
    the loss's shape, and a scalar 1 is skipped.
    """
    if class_dim is not None:
        return grad * grad_output.unsqueeze(class_dim)
    return grad if is_one(grad_output) else grad * grad_output


def reciprocal(divisor: float | Tensor | None) -> float | Tensor | None:
    """1 / divisor, in float64 for a tensor (an integer count must not become a float32 1/n)."""
    if isinstance(divisor, Tensor):
        return 1.0 / divisor.to(torch.float64)
    return None if divisor is None else 1.0 / divisor


def scaled_sum(loss: Tensor, inverse: float | Tensor | None) -> Tensor:
    """``sum(loss) * inverse`` in float64 (``inverse`` None: the plain sum).

    Float32 losses are summed in float64, where no sum of them can overflow. Float64 losses
    have nothing wider: each is scaled first, so that the mean of values near float64's
    largest, itself finite, does not pass through an infinite sum.
    """
    if inverse is None:
        return loss.sum(dtype=torch.float64)
    if loss.dtype == torch.float64:
        return (loss * inverse).sum()
    return loss.sum(dtype=torch.float64) * inverse


ElementwiseKernel = Callable[..., tuple[Tensor, Tensor | None]]


def run_elementwise(
    kernel: ElementwiseKernel,
    input: Tensor,
    need_grad: bool,
    *,
    operands: Mapping[str, Any],
    divisor: float | Tensor | None,
    compute_dtype: torch.dtype,
) -> tuple[Tensor, Tensor | None]:
    """Run ``kernel(x, **operands, need_grad=...)`` block by block; ``(loss, dloss/dinput)``.

    ``x`` is the input in ``compute_dtype``. The operands broadcast against it and are cut
    with it. The loss is elementwise for a ``None`` divisor, else the float64 sum times
    1 / divisor (:func:`scaled_sum`); it is returned in the input's dtype, and so is the
    gradient, already divided by the divisor.
    """
    x = input.to(compute_dtype)
    inverse = reciprocal(divisor)
    grad = torch.empty(x.shape, dtype=input.dtype, device=x.device) if need_grad else None
    losses = torch.empty_like(x) if divisor is None else None
    total = torch.zeros((), dtype=torch.float64, device=x.device)
    for index in blocks(x.shape, BLOCK_ELEMENTS):
        block_operands = {name: take(value, index, x.dim()) for name, value in operands.items()}
        block_loss, block_grad = kernel(x[index], **block_operands, need_grad=need_grad)
        if losses is not None:
            losses[index] = block_loss
        else:
            total += scaled_sum(block_loss, inverse)
        if grad is not None and block_grad is not None:
            grad[index] = block_grad if inverse is None else block_grad * inverse
    if losses is not None:
        return losses.to(input.dtype), grad
    return total.to(input.dtype), grad


def run_per_location(
    kernel: ElementwiseKernel,
    input: Tensor,
    need_grad: bool,
    *,
    operands: Mapping[str, Any],
    dim: int,
    divisor: float | Tensor | None,
    compute_dtype: torch.dtype,
) -> tuple[Tensor, Tensor | None]:
    """Run ``kernel(x, **operands, dim=..., need_grad=...)`` over blocks of whole locations.

    For losses with one value per location (the classes along ``dim`` stay together in a
    block); ``x`` is the input in ``compute_dtype``. Operands broadcast against it; the loss
    has the input's shape without ``dim`` (``None`` divisor) or is the float64 sum times
    1 / divisor, and it and the gradient, already divided by the divisor, are returned in
    the input's dtype.
    """
    x = input.to(compute_dtype)
    inverse = reciprocal(divisor)
    grad = torch.empty(x.shape, dtype=input.dtype, device=x.device) if need_grad else None
    per_location = list(x.shape)
    del per_location[dim]
    losses = torch.empty(per_location, dtype=x.dtype, device=x.device)
    class_one = list(x.shape)
    class_one[dim] = 1
    block_size = max(1, BLOCK_ELEMENTS // max(x.shape[dim], 1))
    for block in blocks(torch.Size(class_one), block_size):
        index = tuple(slice(None) if pos == dim else item for pos, item in enumerate(block))
        block_dim = dim - sum(isinstance(item, int) for item in index[:dim])
        block_operands = {name: take(value, index, x.dim()) for name, value in operands.items()}
        block_loss, block_grad = kernel(
            x[index], **block_operands, dim=block_dim, need_grad=need_grad
        )
        losses[tuple(item for pos, item in enumerate(index) if pos != dim)] = block_loss
        if grad is not None and block_grad is not None:
            grad[index] = block_grad if inverse is None else block_grad * inverse
    if inverse is None:
        return losses.to(input.dtype), grad
    return scaled_sum(losses, inverse).to(input.dtype), grad
