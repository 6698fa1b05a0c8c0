"""The Triton runner: a loss's Triton kernel, launched once in forward and once in backward.

backend="triton" (DESIGN.md section 4; "auto" picks it for CUDA tensors where Triton is
installed). The kernels live in :mod:`torchfocal._triton`, imported here on the first
launch only, so ``import torchfocal`` never imports triton. Each loss names its kernel and
passes its operands; this runner knows no loss by name. What it does:

- views the input as ``(outer, C, inner)`` around the class dimension and every optional
  operand as a strided view of that shape (zero strides where it broadcasts: nothing is
  expanded), the target in the form it was given (masks as bytes, class indices as they
  are: no one-hot);
- launches the kernel in forward for the loss alone (or one partial sum per program, with
  the positive mass and the count of counted elements that the divisor needs, made in the
  same pass), sums the partials (float64) and forms the divisor on the device;
- launches it again in backward for the gradient, which the kernel multiplies by
  grad_output / divisor as it writes it (:class:`~._engine.autograd.Relaunched`, run by
  the engine's one autograd Function): reading the operands again costs fewer bytes than
  writing the gradient in forward and scaling it in backward, and nothing of the input's
  size is held in between.

No value is read on the host anywhere: no synchronisation with the device.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import ModuleType

import torch
from torch import Tensor

from . import autograd
from . import checks as v
from . import reduction as _reduction
from .targets import (
    UNIT_INTERVAL_MESSAGE,
    ElementwiseBatch,
    ElementwiseRequest,
    prepare_elementwise,
)


def _ops() -> ModuleType:
    """The kernels' custom ops (:mod:`torchfocal._triton.ops`), imported on first use."""
    from .._triton import ops

    return ops


def region_kernels() -> ModuleType:
    """The region losses' kernels (:mod:`torchfocal._triton.regions`), imported on first use
    (they are launched directly: not custom ops yet)."""
    from .._triton import regions

    return regions


def split_shape(shape: torch.Size, dim: int | None) -> tuple[int, int, int]:
    """(outer, C, inner) of a shape around the class dimension ``dim`` (None: (1, 1, n))."""
    if dim is None or len(shape) == 0:
        return 1, 1, int(shape.numel())
    outer = int(torch.Size(shape[:dim]).numel())
    inner = int(torch.Size(shape[dim + 1 :]).numel())
    return outer, int(shape[dim]), inner


def operand_view(
    value: Tensor | None, shape: torch.Size, split: tuple[int, int, int], dtype: torch.dtype
) -> Tensor | None:
    """An operand that broadcasts to ``shape`` as a view of the (outer, C, inner) split, in
    ``dtype`` (converted before it is broadcast, so only its own elements are). Where the
    broadcast dimensions cannot be merged into the split by strides alone (e.g. a weight
    that varies along one of two merged dimensions and not the other), it is copied."""
    if value is None:
        return None
    return value.to(dtype).expand(shape).reshape(split)


def class_weight_view(
    class_weights: tuple[Tensor, Tensor], split: tuple[int, int, int], dtype: torch.dtype
) -> Tensor:
    """The negatives' C class weights as an (outer, C, inner) view (strides 0, 1, 0) of
    memory that holds the positives' C weights right after them (the kernel's
    ``WEIGHT_BY_TARGET`` reads them C elements on)."""
    negative, positive = class_weights
    pair = torch.cat([negative.detach().reshape(-1), positive.detach().reshape(-1)]).to(dtype)
    return pair.as_strided(split, (0, 1, 0))


def class_dim_of(request: ElementwiseRequest) -> int | None:
    """The class dimension of the split: the loss's class dimension where the input has
    one, else None (an input of independent binary logits)."""
    input = request.input
    if input.dim() == 0:
        return None
    dim = request.class_dim
    if -input.dim() <= dim < input.dim():
        return dim % input.dim()
    return None


def elementwise(
    request: ElementwiseRequest,
    *,
    loss: str,
    naive: Callable[[ElementwiseBatch, Tensor], Tensor],
    params: Mapping[str, float] | None = None,
    alpha: float | Tensor | None = None,
    pos_weight: Tensor | None = None,
    gamma: float | str | Tensor = 0.0,
    class_weights: tuple[Tensor, Tensor] | None = None,
) -> autograd.Call:
    """The call of checked arguments (:func:`~._engine.targets.check_elementwise`) through
    the Triton kernel ``loss``.

    ``alpha`` (a number or a tensor lined up with the input), ``pos_weight`` (broadcast to
    the input), ``gamma`` (a number, "flsd53" or a tensor of the input's shape) and
    ``params`` (the loss's own numbers) go to the kernel. ``naive(prepared batch, x)`` is
    the reduced naive loss of x, differentiable: it runs where the kernel's gradient is not
    enough (another tensor requires grad, create_graph=True, a second backward), on
    :func:`~._engine.targets.prepare_elementwise` of the request.

    ``class_weights``: C weights of each class's negatives and C of its positives (in place
    of ``request.weight``; the kernel picks one by the hard target, so no input-sized
    weight is made).
    """
    input, form = request.input, request.form
    dim = form.dim if form.form == "index" else class_dim_of(request)
    split = split_shape(input.shape, dim)
    dtype = request.compute_dtype
    count_positives = request.count_positives

    def naive_loss(x: Tensor) -> Tensor:
        return naive(prepare_elementwise(request), x)

    reduction = request.reduction
    reduce = reduction != "none"
    need_count = reduction == "mean" and form.form == "index" and request.avg_factor is None
    target = form.target
    if form.form == "mask":
        if target.dtype not in (torch.bool, torch.uint8):
            target = target != 0
        target = target.view(torch.uint8).reshape(split).contiguous()
    elif form.form == "float":
        target = target.detach().reshape(split).contiguous()
    else:
        target = target.reshape(split[0], split[2]).contiguous()

    ops = _ops()
    alpha_tensor = (
        operand_view(alpha, input.shape, split, dtype) if isinstance(alpha, Tensor) else None
    )
    gamma_tensor = (
        operand_view(gamma, input.shape, split, dtype) if isinstance(gamma, Tensor) else None
    )
    operands = (
        target,
        form.form,
        request.ignore_index,
        request.label_smoothing,
        alpha_tensor,
        None if alpha is None or isinstance(alpha, Tensor) else float(alpha),
        class_weight_view(class_weights, split, dtype)
        if class_weights is not None
        else operand_view(request.weight, input.shape, split, dtype),
        operand_view(pos_weight, input.shape, split, dtype),
        gamma_tensor,
        float(gamma) if isinstance(gamma, (int, float)) else 0.0,
        gamma if isinstance(gamma, str) else "",
        ",".join(params or {}),  # the names, in one string (an op takes no list of str)
        [float(value) for value in (params or {}).values()],
        class_weights is not None,
    )

    def logits(x: Tensor) -> Tensor:
        return x.detach().reshape(split).contiguous()

    checked = request.range_checked_in_kernel

    def forward(x: Tensor) -> tuple[Tensor, Tensor | float | None]:
        result, flags = ops.elementwise_forward(
            loss,
            logits(x),
            *operands,
            output="partials" if reduce else "elements",
            need_mass=reduction == "positives",
            need_count=need_count,
            count_positives=count_positives,
            check_range=checked is not None,
        )
        if checked is not None:
            message = UNIT_INTERVAL_MESSAGE.format(name=checked) + "; got {bad}"
            v.require(flags == 0, message)
        if not reduce:
            return result.view(input.shape), None
        partials = result
        wide = _reduction.accumulation_dtype(input.device)
        total = partials[0].sum(dtype=wide)
        divisor = _reduction.divisor(
            reduction,
            count=partials[2].sum(dtype=wide) if need_count else input.numel(),
            positive_mass=partials[1].sum(dtype=wide) if reduction == "positives" else None,
            avg_factor=request.avg_factor,
            distributed=request.distributed,
        )
        inverse = _reduction.reciprocal(divisor, input.device)
        return (total if inverse is None else total * inverse).to(input.dtype), inverse

    def backward(x: Tensor, grad_output: Tensor, inverse: Tensor | float | None) -> Tensor:
        upstream = grad_output.to(dtype)
        if reduce:
            upstream = upstream.reshape(()) if inverse is None else upstream * inverse
        else:
            upstream = upstream.expand(input.shape).reshape(split).contiguous()
        grad: Tensor = ops.elementwise_backward(
            loss, logits(x), *operands, count_positives=count_positives, upstream=upstream
        )
        return grad.view(input.shape)

    return autograd.Call(
        input,
        autograd.Relaunched(naive_loss, forward, backward),
        constants=(
            request.target,
            request.weight,
            alpha,
            pos_weight,
            gamma,
            request.avg_factor,
            *(class_weights or ()),
        ),
    )


def per_location(
    input: Tensor,
    *,
    dim: int,
    index: Tensor | None,
    probabilities: Tensor | None,
    ignore_index: int,
    label_smoothing: float,
    gamma: float | Tensor,
    class_factor: float | Tensor | None,
    divisor: _reduction.Divisor,
    naive: Callable[[Tensor], Tensor],
    adjust: str = "",
    adjust_values: Tensor | None = None,
    adjust_params: Mapping[str, float] | None = None,
    location_weight: Tensor | None = None,
) -> autograd.Call:
    """The call of a per-location (softmax-form) loss through the softmax kernel
    (:mod:`torchfocal._triton.softmax`): forward launches it for the loss and each row's
    statistics, backward once more for the gradient (one pass over each row, scaled by
    grad_output / divisor in the kernel).

    ``index``: class indices of the input's shape without ``dim`` (``ignore_index`` marks
    locations left out), or ``probabilities`` of the input's shape; ``label_smoothing`` is
    applied by the kernel. ``gamma`` is a number or one value per location (index targets)
    or per element; ``class_factor`` a number or C per-class values lined up with ``dim``.
    ``naive(x)`` is the reduced naive loss of x (see :func:`elementwise`).

    The loss's own adjustment of the logits, which the kernel applies as it reads them
    (:mod:`torchfocal._triton.softmax_math`): ``adjust`` names it, ``adjust_values`` are its
    C per-class values and ``adjust_params`` its numbers. A float ``index`` is a continuous
    label (the two-bin target of the distribution focal loss). ``location_weight``: a
    factor of each location's loss (the input's shape without ``dim``; a constant of the
    gradient), applied to the per-location loss and to the upstream gradient (location-sized
    operations, none over the input).
    """
    split = split_shape(input.shape, dim)
    outer, num_classes, inner = split
    location_shape = input.shape[:dim] + input.shape[dim + 1 :]
    compute = torch.float64 if input.dtype == torch.float64 else torch.float32
    factor = class_factor
    if isinstance(factor, Tensor):
        factor = factor.detach().to(compute).reshape(num_classes).contiguous()
    kernel_gamma: float | Tensor = gamma
    if isinstance(gamma, Tensor):
        per_element = gamma.shape == input.shape
        gamma_split = split if per_element else (outer, inner)
        kernel_gamma = gamma.to(compute).reshape(gamma_split).contiguous()

    ops = _ops()
    operands = (
        None if index is None else index.reshape(outer, inner),
        None if probabilities is None else probabilities.detach().reshape(split),
        ignore_index,
        label_smoothing,
        kernel_gamma if isinstance(kernel_gamma, Tensor) else None,
        0.0 if isinstance(kernel_gamma, Tensor) else float(kernel_gamma),
        factor if isinstance(factor, Tensor) else None,
        None if factor is None or isinstance(factor, Tensor) else float(factor),
        adjust,
        None if adjust_values is None else adjust_values.detach().to(compute).reshape(-1),
        ",".join(adjust_params or {}),  # the names, in one string (an op takes no list of str)
        [float(value) for value in (adjust_params or {}).values()],
    )
    weight = None
    if location_weight is not None:
        weight = location_weight.detach().to(compute).expand(location_shape).reshape(outer, inner)

    def logits(x: Tensor) -> Tensor:
        return x.detach().reshape(split)

    def forward(x: Tensor) -> tuple[Tensor, tuple[Tensor, Tensor | float | None]]:
        location_loss, stats = ops.softmax_focal_forward(logits(x), *operands)
        if weight is not None:
            location_loss = location_loss * weight
        location_loss = location_loss.view(location_shape)
        if divisor is None:
            return location_loss.to(input.dtype), (stats, None)
        inverse = _reduction.reciprocal(divisor, input.device)
        return _reduction.scaled_sum(location_loss, inverse).to(input.dtype), (stats, inverse)

    def backward(
        x: Tensor, grad_output: Tensor, state: tuple[Tensor, Tensor | float | None]
    ) -> Tensor:
        stats, inverse = state
        upstream = grad_output.to(compute)
        if divisor is None:  # reduction "none": one upstream value per location
            upstream = upstream.reshape(outer, inner)
        elif inverse is not None:
            upstream = upstream * inverse
        if weight is not None:  # one upstream value per location
            upstream = (upstream.reshape(outer, inner) if divisor is None else upstream) * weight
        grad: Tensor = ops.softmax_focal_backward(
            logits(x), *operands, stats, upstream.contiguous()
        )
        return grad.view(input.shape)

    return autograd.Call(
        input,
        autograd.Relaunched(naive, forward, backward),
        constants=(
            probabilities,
            class_factor,
            gamma,
            divisor,
            adjust_values,
            location_weight,
            # a continuous label (the two-bin target) may require grad
            index if index is not None and index.is_floating_point() else None,
        ),
    )
