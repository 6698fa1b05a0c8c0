"""One Triton kernel skeleton for the elementwise (sigmoid-form) losses.

A launch reads each logit and its target once, and writes the loss of every element, or
one partial sum per program (with, in the same pass, the positive target mass and the
number of counted elements that the "positives" and "mean" normalisers need), or dloss/dx
(in the input's dtype) times the upstream gradient. Forward is one launch (the engine sums
the partials: a tiny reduction); backward launches again and recomputes what it needs
from the logits and the target (no input-sized buffer lives between the two), and no host
synchronisation happens anywhere.

The input is viewed as ``(outer, C, inner)`` with the classes in the middle, so that:

- a class-index target ``(outer, inner)`` is read once per element and compared with the
  element's class (no one-hot is built); ``ignore_index`` leaves the element out of the
  loss, the gradient and the count;
- every optional operand (alpha per class, weight, pos_weight, a gamma per element) is a
  strided view of that shape, whose strides are 0 along the dimensions it broadcasts over:
  it is read in place, never expanded;
- bool and uint8 masks are read as bytes, float targets in their own dtype.

Each loss contributes its own elementwise math, a ``@triton.jit`` function of
:mod:`.elementwise_math` that the kernel takes as the constexpr ``LOSS_MATH``: it gets the
logit, the (smoothed) target, ``scale`` (alpha_t, for the losses with an alpha of that
form), the skeleton's gamma and the loss's own numbers, and returns the loss and dloss/dx
before the weight.

A program walks the input in steps of ``BLOCK`` elements, ``num_programs`` blocks apart
(a grid-stride loop): the code outside the loop (arguments, the partial sums' reduction
and stores) runs once per program instead of once per block, and the loop body is what an
element costs. The loss's partial sum accumulates in float64 across the loop, one value per
eight elements of a block.

Arithmetic is in float32 for float16, bfloat16 and float32 inputs, in float64 for float64.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any, NamedTuple

import torch
import triton
import triton.language as tl
from torch import Tensor

from .common import float_parts, launch, scalar
from .elementwise_math import KERNEL_MATH

#: Target forms: a mask (read as bytes), a float target, class indices.
FORMS = {"mask": 0, "float": 1, "index": 2}
#: Elements of one loop step of a program: 8 per thread at 4 warps, two 16-byte loads of
#: float32 or float64 logits...
BLOCK = 1024
#: ... and 16 per thread for float16 / bfloat16 (two 16-byte loads again): the same bytes a
#: step, and half the steps, so that a program's fixed code (its arguments, the partial
#: sums' reduction) weighs half as much per element where the arithmetic per byte is double.
HALF_BLOCK = 2048
#: The most programs of one launch (where the device's SM count is unknown: CPU and meta
#: tensors): enough blocks in flight for any GPU, few enough that each walks many blocks.
MAX_PROGRAMS = 132 * 8
#: Programs per SM on a GPU: 8 of 4 warps, 32 warps, half of an H100 SM's 64.
PROGRAMS_PER_SM = 8


@triton.jit
def _load(ptr, o, c, i, s_outer, s_class, s_inner, mask, COMPUTE: tl.constexpr):
    """An operand's value at each element (o, c, i) of the block, by its strides."""
    return tl.load(ptr + o * s_outer + c * s_class + i * s_inner, mask=mask, other=0).to(COMPUTE)


@triton.jit
def _elementwise_kernel(
    x_ptr,
    target_ptr,
    grad_ptr,
    out_ptr,
    upstream_ptr,
    flags_ptr,
    alpha_ptr,
    alpha_s0,
    alpha_s1,
    alpha_s2,
    weight_ptr,
    weight_s0,
    weight_s1,
    weight_s2,
    weight_positive_offset,
    pos_weight_ptr,
    pos_weight_s0,
    pos_weight_s1,
    pos_weight_s2,
    gamma_ptr,
    gamma_s0,
    gamma_s1,
    gamma_s2,
    n_elements,
    num_classes,
    inner,
    ignore_index,
    alpha_high,
    alpha_low,
    gamma_high,
    gamma_low,
    smoothing_high,
    smoothing_low,
    first_high,
    first_low,
    second_high,
    second_low,
    third_high,
    third_low,
    LOSS_MATH: tl.constexpr,
    FORM: tl.constexpr,
    HARD: tl.constexpr,
    SMOOTHED: tl.constexpr,
    ALPHA_PER_CLASS: tl.constexpr,
    HAS_ALPHA: tl.constexpr,
    HAS_WEIGHT: tl.constexpr,
    WEIGHT_BY_TARGET: tl.constexpr,
    HAS_POS_WEIGHT: tl.constexpr,
    GAMMA_FORM: tl.constexpr,
    GAMMA_INT: tl.constexpr,
    OUTPUT: tl.constexpr,
    NEED_MASS: tl.constexpr,
    NEED_COUNT: tl.constexpr,
    COUNT_POSITIVES: tl.constexpr,
    NEED_GRAD: tl.constexpr,
    UPSTREAM: tl.constexpr,
    FOLD_UPSTREAM: tl.constexpr,
    CHECK_RANGE: tl.constexpr,
    COORDINATES: tl.constexpr,
    WIDE_INDEX: tl.constexpr,
    COMPUTE: tl.constexpr,
    HALF: tl.constexpr,
    BLOCK: tl.constexpr,
):
    alpha = scalar(alpha_high, alpha_low, COMPUTE)
    gamma = scalar(gamma_high, gamma_low, COMPUTE)
    label_smoothing = scalar(smoothing_high, smoothing_low, COMPUTE)
    first = scalar(first_high, first_low, COMPUTE)
    second = scalar(second_high, second_low, COMPUTE)
    third = scalar(third_high, third_low, COMPUTE)
    pid = tl.program_id(0)
    num_programs = tl.num_programs(0)
    if WIDE_INDEX:
        pid = pid.to(tl.int64)
    # alpha_t for a positive and a negative target, with a single upstream gradient folded
    # in where the loss is linear in alpha_t (FOLD_UPSTREAM): scale is then a select of two
    # numbers, and the gradient needs no multiply by the upstream gradient.
    alpha_positive = alpha
    alpha_negative = 1.0 - alpha
    upstream_value = 1.0
    if UPSTREAM == 1:  # backward of a reduced loss: grad_output / divisor, one value
        upstream_value = tl.load(upstream_ptr).to(COMPUTE)
        if FOLD_UPSTREAM:
            alpha_positive = alpha_positive * upstream_value
            alpha_negative = alpha_negative * upstream_value
    loss_sum = tl.zeros((BLOCK // 8,), tl.float64)
    mass_sum = tl.zeros((BLOCK,), COMPUTE)
    count_sum = tl.zeros((BLOCK,), COMPUTE)
    lowest = tl.zeros((BLOCK,), COMPUTE)
    highest = tl.zeros((BLOCK,), COMPUTE)
    for block_start in range(pid * BLOCK, n_elements, num_programs * BLOCK):
        offsets = block_start + tl.arange(0, BLOCK)
        in_range = offsets < n_elements
        x = tl.load(x_ptr + offsets, mask=in_range, other=0).to(COMPUTE)

        if COORDINATES:
            # (o, c, i) of each element in the (outer, C, inner) view: integer divisions,
            # made only where an index target or an operand that broadcasts needs them.
            i = offsets % inner
            outer_class = offsets // inner
            c = outer_class % num_classes
            o = outer_class // num_classes

        counted = in_range
        if FORM == 2:
            index = tl.load(target_ptr + o * inner + i, mask=in_range, other=ignore_index)
            counted = in_range & (index != ignore_index)
            y_raw = (index == c).to(COMPUTE)
        elif FORM == 0:  # a mask, read as bytes
            y_raw = (tl.load(target_ptr + offsets, mask=in_range, other=0) != 0).to(COMPUTE)
        else:
            y_raw = tl.load(target_ptr + offsets, mask=in_range, other=0).to(COMPUTE)
        if CHECK_RANGE:
            # The [0, 1] check of a float target, in the pass that reads it: each lane's
            # lowest and highest value, NaN kept (two instructions an element; the masked
            # load's 0 is in range), and one flag per program after the loop, read by a
            # device-side assert after the launch.
            lowest = tl.minimum(lowest, y_raw, propagate_nan=tl.PropagateNan.ALL)
            highest = tl.maximum(highest, y_raw, propagate_nan=tl.PropagateNan.ALL)
        y = y_raw
        if SMOOTHED:
            y = y_raw * (1.0 - label_smoothing) + 0.5 * label_smoothing

        scale = 1.0
        if HAS_ALPHA:
            if ALPHA_PER_CLASS:
                alpha_value = _load(
                    alpha_ptr, o, c, i, alpha_s0, alpha_s1, alpha_s2, in_range, COMPUTE
                )
                scale = alpha_value * y + (1.0 - alpha_value) * (1.0 - y)
                if FOLD_UPSTREAM and UPSTREAM == 1:
                    scale = scale * upstream_value
            elif HARD:
                scale = tl.where(y > 0.5, alpha_positive, alpha_negative)
            else:
                scale = alpha_positive * y + alpha_negative * (1.0 - y)
        elif FOLD_UPSTREAM and UPSTREAM == 1:
            scale = upstream_value
        pos_weight = 1.0
        if HAS_POS_WEIGHT:
            pos_weight = _load(
                pos_weight_ptr,
                o,
                c,
                i,
                pos_weight_s0,
                pos_weight_s1,
                pos_weight_s2,
                in_range,
                COMPUTE,
            )
        gamma_value = gamma
        if GAMMA_FORM == 1:  # "flsd53": 5 where p_t < 0.2, else 3 (Mukhoti et al. 2020)
            p = tl.sigmoid(x)
            p_t = p * y + (1.0 - p) * (1.0 - y)
            gamma_value = tl.where(p_t < 0.2, 5.0, 3.0)
        elif GAMMA_FORM == 2:  # one value per element, evaluated by the caller
            gamma_value = _load(gamma_ptr, o, c, i, gamma_s0, gamma_s1, gamma_s2, in_range, COMPUTE)

        loss, grad = LOSS_MATH(
            x,
            y,
            scale,
            pos_weight,
            gamma_value,
            first,
            second,
            third,
            HARD,
            HAS_POS_WEIGHT,
            GAMMA_INT,
            HALF,
        )

        if HAS_WEIGHT:
            weight_at = weight_ptr
            if WEIGHT_BY_TARGET:
                # the weights of negatives, and ``weight_positive_offset`` elements on those
                # of positives (EQLv2's per-class pair): picked by the hard target
                weight_at = weight_ptr + tl.where(y_raw > 0.5, weight_positive_offset, 0)
            weight = _load(weight_at, o, c, i, weight_s0, weight_s1, weight_s2, in_range, COMPUTE)
            loss = loss * weight
            grad = grad * weight

        if NEED_GRAD:
            if UPSTREAM == 1 and not FOLD_UPSTREAM:
                grad = grad * upstream_value
            elif UPSTREAM == 2:  # backward of reduction "none": grad_output per element
                upstream = tl.load(upstream_ptr + offsets, mask=in_range, other=0)
                grad = grad * upstream.to(COMPUTE)
            if FORM == 2:  # ignored elements get 0, whatever their logit (the store
                grad = tl.where(counted, grad, 0.0)  # leaves out the rest)
            tl.store(grad_ptr + offsets, grad.to(grad_ptr.dtype.element_ty), mask=in_range)
        if OUTPUT == 1:
            loss = tl.where(counted, loss, 0.0)
            tl.store(out_ptr + offsets, loss.to(out_ptr.dtype.element_ty), mask=in_range)
        elif OUTPUT == 2:
            # The loss in float64: float32 losses near the float32 maximum sum past it.
            # Eight elements a lane summed first (in any order: the reshape may reorder, and
            # picks a layout where a thread holds its eight): an accumulator of BLOCK / 8
            # values, fewer registers and a shorter reduction after the loop.
            contribution = tl.where(counted, loss, 0.0).to(tl.float64)
            loss_sum += tl.sum(tl.reshape(contribution, (BLOCK // 8, 8), can_reorder=True), axis=1)
            if NEED_MASS:
                positives = y_raw
                if COUNT_POSITIVES:
                    positives = (y_raw > 0).to(COMPUTE)
                mass_sum += tl.where(counted, positives, 0.0)
            if NEED_COUNT:
                count_sum += counted.to(COMPUTE)
    if CHECK_RANGE:
        outside = (lowest < 0) | (highest > 1) | (lowest != lowest)
        tl.store(flags_ptr + pid, tl.max(outside.to(tl.int32), axis=0))
    if OUTPUT == 2:
        # Partial sums, one column per program: loss, and where the divisor needs them the
        # positive target mass and the counted elements.
        tl.store(out_ptr + pid, tl.sum(loss_sum, axis=0))
        if NEED_MASS:
            tl.store(out_ptr + num_programs + pid, tl.sum(mass_sum.to(tl.float64), axis=0))
        if NEED_COUNT:
            tl.store(out_ptr + 2 * num_programs + pid, tl.sum(count_sum.to(tl.float64), axis=0))


def block_of(dtype: torch.dtype) -> int:
    """Elements of a program's loop step for logits of ``dtype`` (:data:`BLOCK`)."""
    return HALF_BLOCK if dtype in (torch.float16, torch.bfloat16) else BLOCK


def programs_of(n_elements: Any, dtype: torch.dtype, device: torch.device) -> Any:
    """Programs of a launch over ``n_elements`` logits of ``dtype`` (an int, or a symbolic
    one under a fake tensor's tracing): one per block, at most :func:`_program_limit`, at
    least one."""
    block = block_of(dtype)
    blocks = (n_elements + block - 1) // block
    return torch.sym_max(torch.sym_min(blocks, _program_limit(device)), 1)


def _program_limit(device: torch.device) -> int:
    """Programs of one launch: PROGRAMS_PER_SM per SM of a CUDA device (a cached property
    read, no synchronisation), :data:`MAX_PROGRAMS` elsewhere."""
    if device.type == "cuda":
        return PROGRAMS_PER_SM * _sm_count(device.index or 0)
    return MAX_PROGRAMS


@functools.cache
def _sm_count(index: int) -> int:
    return int(torch.cuda.get_device_properties(index).multi_processor_count)


def _integer_gamma(gamma: float | str | Tensor) -> int:
    """gamma as the kernel's compile-time integer (0 to 3), or -1: its powers are
    multiplications (gamma = 2, the default, is q * q, not exp(2 log q))."""
    if isinstance(gamma, float) and gamma in (0.0, 1.0, 2.0, 3.0):
        return int(gamma)
    return -1


def _operand(value: Tensor | None) -> tuple[Tensor | None, int, int, int]:
    """Pointer and strides of an optional (outer, C, inner) operand (None and zeros when
    absent: the kernel's constexpr flags leave it unread)."""
    if value is None:
        return None, 0, 0, 0
    s_outer, s_class, s_inner = value.stride()
    return value, s_outer, s_class, s_inner


#: What a launch writes besides the gradient: nothing (a backward launch), the loss of every
#: element, or one column of partial sums per program.
OUTPUTS = {"none": 0, "elements": 1, "partials": 2}


class ElementwiseResult(NamedTuple):
    #: The loss of every element (x's shape and dtype), the partial sums (a (3, programs)
    #: float64 tensor of loss, positive target mass and counted elements), or None.
    loss: Tensor | None
    #: dloss/dx in x's dtype, times ``upstream``; None if not wanted.
    grad: Tensor | None
    #: Per program, 1 where a float target value lies outside [0, 1]; None unless checked.
    flags: Tensor | None = None


def elementwise_loss(
    loss: str,
    x: Tensor,
    target: Tensor,
    *,
    form: str,
    ignore_index: int,
    label_smoothing: float,
    alpha: float | Tensor | None,
    weight: Tensor | None,
    pos_weight: Tensor | None,
    gamma: float | str | Tensor,
    params: Mapping[str, float],
    output: str,
    need_mass: bool = False,
    need_count: bool = False,
    count_positives: bool = False,
    need_grad: bool = False,
    upstream: Tensor | None = None,
    check_range: bool = False,
    weight_by_target: bool = False,
) -> ElementwiseResult:
    """Launch the kernel of ``loss`` over ``x`` (outer, C, inner), contiguous.

    ``target``: for ``form`` "mask", a contiguous uint8 tensor of x's shape; "float", x's
    shape in any float dtype; "index", (outer, inner) integers (checked by the caller).
    alpha, weight, pos_weight and a gamma tensor are views of x's shape in the compute
    dtype, with zero strides where they broadcast; gamma may also be a number or "flsd53".
    ``params``: the loss's own numbers, by the names its kernel math declares
    (:data:`~.elementwise_math.KERNEL_MATH`). ``output``: see :data:`OUTPUTS`;
    ``need_mass`` / ``need_count``: the partials' positive mass / counted elements (rows
    1 and 2, left unwritten otherwise); ``count_positives``: the positive mass is the count
    of target values > 0 instead of their sum. ``upstream``: what the gradient is
    multiplied by, one value (a 0-d tensor) or one per element (x's shape, contiguous).
    ``check_range``: the result's ``flags`` say, per program, whether a float target value
    lies outside [0, 1] (or is NaN).
    ``weight_by_target``: ``weight`` is a view of per-class weights of negatives whose
    memory holds those of positives C elements further on (equalization loss v2's pair: the
    kernel picks one by the hard target; no input-sized weight is made).
    """
    math = KERNEL_MATH[loss]
    if set(params) != set(math.parameters):
        raise ValueError(
            f"params of {loss} must be {sorted(math.parameters)}; got {sorted(params)}"
        )
    numbers = [float(params[name]) for name in math.parameters]
    numbers += [0.0] * (3 - len(numbers))
    _, num_classes, inner = x.shape
    n_elements = x.numel()
    block = block_of(x.dtype)
    programs = int(programs_of(n_elements, x.dtype, x.device))
    grad = torch.empty_like(x) if need_grad else None
    out: Tensor | None = None
    if output == "partials":
        # float64 partials (every device Triton runs on has it); every program writes its
        # column, so nothing needs zeroing (an empty input launches no program: zeros then)
        out = torch.empty((3, programs), dtype=torch.float64, device=x.device)
        if not n_elements:
            out.zero_()
    elif output == "elements":
        out = torch.empty_like(x)
    flags = None
    if check_range:  # every program writes its flag (none runs on an empty input)
        flags = torch.empty(programs, dtype=torch.int32, device=x.device)
        if not n_elements:
            flags.zero_()
    alpha_tensor = alpha if isinstance(alpha, Tensor) else None
    gamma_tensor = gamma if isinstance(gamma, Tensor) else None
    if n_elements:
        launch(
            _elementwise_kernel,
            programs,
            x.device,
            x,
            target,
            grad,
            out,
            upstream,
            flags,
            *_operand(alpha_tensor),
            *_operand(weight),
            num_classes if weight_by_target else 0,
            *_operand(pos_weight),
            *_operand(gamma_tensor),
            n_elements,
            num_classes,
            inner,
            ignore_index,
            *float_parts(float(alpha) if isinstance(alpha, float) else 0.0),
            *float_parts(float(gamma) if isinstance(gamma, float) else 0.0),
            *float_parts(label_smoothing),
            *(part for value in numbers for part in float_parts(value)),
            LOSS_MATH=math.function,
            FORM=FORMS[form],
            HARD=form != "float" and label_smoothing == 0,
            SMOOTHED=label_smoothing != 0,
            ALPHA_PER_CLASS=alpha_tensor is not None,
            HAS_ALPHA=alpha is not None,
            HAS_WEIGHT=weight is not None,
            WEIGHT_BY_TARGET=weight_by_target,
            HAS_POS_WEIGHT=pos_weight is not None,
            GAMMA_FORM=2 if gamma_tensor is not None else int(gamma == "flsd53"),
            GAMMA_INT=_integer_gamma(gamma),
            OUTPUT=OUTPUTS[output],
            NEED_MASS=need_mass,
            NEED_COUNT=need_count,
            COUNT_POSITIVES=count_positives,
            NEED_GRAD=need_grad,
            UPSTREAM=0 if upstream is None else (1 if upstream.dim() == 0 else 2),
            FOLD_UPSTREAM=math.scale_linear and upstream is not None and upstream.dim() == 0,
            CHECK_RANGE=check_range,
            COORDINATES=form == "index"
            or any(value is not None for value in (alpha_tensor, weight, pos_weight, gamma_tensor)),
            WIDE_INDEX=n_elements + block >= 2**31,
            COMPUTE=tl.float64 if x.dtype == torch.float64 else tl.float32,
            HALF=x.dtype in (torch.float16, torch.bfloat16),
            BLOCK=block,
        )
    return ElementwiseResult(out, grad, flags)
