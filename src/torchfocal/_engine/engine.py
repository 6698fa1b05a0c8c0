"""The one entry point of the engine: a loss builds a request and hands it to :func:`run`.

A loss checks its arguments (:mod:`.checks`, :mod:`.targets`), prepares its operands where
the request takes them prepared, and states its math (its naive form, its fused kernel,
its compiled program, its Triton kernel). :func:`run` picks the runner from the backend
and the device, and runs it through the one autograd Function
(:class:`~torchfocal._engine.autograd.FusedLoss`, or the naive form where that is what
the gradient needs). The engine knows no loss by name: a loss is its math and operands.

The requests, one per form of loss:

- :class:`Elementwise` (sigmoid-form losses): checked arguments
  (:func:`~.targets.check_elementwise`), which the Triton kernel reads as they are and the
  engine prepares (:func:`~.targets.prepare_elementwise`) for the other backends;
- :class:`PerLocation` (softmax-form losses, one value per location): prepared operands;
- :class:`Region` (Dice-like losses, :mod:`.regions`): a prepared batch and the loss's
  math on its sums;
- :class:`Closure` (a loss whose two forms close over operands of its own, such as the
  Lovasz losses' sorted errors): the forms themselves.

The runners, by backend: "naive", the naive form under autograd; "fused", the fused
kernel on the runner of the input's device (:mod:`.runners`: CPU blocks, or one pass);
"compiled", the loss's compiled program (:mod:`.compiled`), or the fused runner where it
does not compile; "triton", the Triton kernels (:mod:`.triton_runner`, :mod:`.regions`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import torch
from torch import Tensor

from . import autograd, regions, triton_runner
from .compiled import CompiledProgram
from .numerics import Kernel
from .reduction import Divisor, reciprocal, reduce
from .runners import run_eager
from .targets import ElementwiseBatch, ElementwiseRequest, prepare_elementwise


class Math(NamedTuple):
    """An elementwise loss's math, each form taking the input ``x`` (in the compute dtype)
    and the target as its first two arguments, then keyword operands:
    ``naive(x, y, *, weight, **operands)`` (the unreduced loss; ``y`` a float target) and
    ``fused(x, target, *, weight, need_grad, **operands)`` (the unreduced loss and dloss/dx;
    the target a bool mask where it holds only 0 and 1, else the float target); ``compiled``
    the fused form through ``torch.compile`` (:func:`~.compiled.program`)."""

    naive: Callable[..., Tensor]
    fused: Kernel
    compiled: CompiledProgram


class TritonKernel(NamedTuple):
    """What an elementwise loss passes to its Triton kernel (see
    :func:`~.triton_runner.elementwise`)."""

    #: The kernel's loss (the kernel math it is given).
    loss: str
    #: The loss's numbers, by the names its kernel math declares.
    params: Mapping[str, float] = {}
    alpha: float | Tensor | None = None
    pos_weight: Tensor | None = None
    #: A number, "flsd53" (evaluated by the kernel) or a tensor of the input's shape.
    gamma: float | str | Tensor = 0.0
    #: Class-index targets only: C weights of each class's negatives and C of its positives,
    #: in place of a weight; the kernel picks one by the target (no input-sized weight).
    class_weights: tuple[Tensor, Tensor] | None = None


class Prepared(NamedTuple):
    """An elementwise loss's operands that the loss prepared itself, from
    :func:`~.targets.prepare_elementwise` of its checked arguments (a loss whose operands
    depend on the prepared target, e.g. a gamma schedule of p_t)."""

    batch: ElementwiseBatch
    #: The target as the fused form takes it.
    target: Tensor
    #: Operands of the fused form (and the compiled program) alone.
    fused_operands: Mapping[str, Any] = {}


class Elementwise(NamedTuple):
    """One call of an elementwise (sigmoid-form) loss."""

    #: The checked arguments (:func:`~.targets.check_elementwise`,
    #: :func:`~.targets.check_score_request`).
    checked: ElementwiseRequest
    #: A resolved backend (:func:`~.checks.resolve_backend`): never "auto".
    backend: str
    math: Math
    #: The math's own keyword operands (its numbers, alpha, ...), for both forms.
    operands: Mapping[str, Any] = {}
    #: The Triton kernel, for a loss that has one.
    triton: TritonKernel | None = None
    #: The prepared operands where the loss made them itself; else the engine prepares the
    #: checked arguments for every backend but "triton", and the fused form takes the mask.
    prepared: Prepared | None = None


class TritonPerLocation(NamedTuple):
    """What a per-location loss passes to the softmax kernel (see
    :func:`~.triton_runner.per_location`): the target as given, the kernel smooths it."""

    #: Class indices (the input's shape without the class dimension), or None.
    indices: Tensor | None
    #: Probabilities of the input's shape, or None.
    probabilities: Tensor | None
    ignore_index: int
    label_smoothing: float
    gamma: float | Tensor
    class_factor: float | Tensor | None
    #: The loss's adjustment of the logits, applied by the kernel as it loads them
    #: (:data:`~torchfocal._triton.softmax_math.ADJUSTMENTS`; "" for none), its per-class
    #: values and its numbers by name.
    adjust: str = ""
    adjust_values: Tensor | None = None
    adjust_params: Mapping[str, float] | None = None
    #: One weight per location multiplying its loss and gradient, or None.
    location_weight: Tensor | None = None


class PerLocation(NamedTuple):
    """One call of a loss with one value per location (softmax form): prepared operands."""

    input: Tensor
    #: A resolved backend (never "auto").
    backend: str
    #: The unreduced naive form of x (the input in ``compute_dtype``), differentiable.
    naive: Callable[[Tensor], Tensor]
    divisor: Divisor
    #: The class dimension (normalised).
    dim: int
    compute_dtype: torch.dtype
    #: ``fused(x, target, *, dim, need_grad, grad_scale, **operands)``, the per-location
    #: kernel (it scales its own gradient by ``grad_scale``), and its compiled program.
    fused: Kernel | None = None
    compiled: CompiledProgram | None = None
    #: The fused kernel's target and keyword operands.
    target: Tensor | None = None
    operands: Mapping[str, Any] = {}
    #: The softmax kernel's operands, for backend="triton".
    triton: TritonPerLocation | None = None


class Region(NamedTuple):
    """One call of a region (Dice-like) loss (see :mod:`.regions`)."""

    batch: regions.RegionBatch
    math: regions.RegionMath
    class_weight: Tensor | None
    include_background: bool
    reduction: str
    #: A resolved backend (never "auto").
    backend: str


class Closure(NamedTuple):
    """One call of a loss whose forms close over its own prepared operands."""

    input: Tensor
    #: A resolved backend (never "auto"); "compiled" and "triton" run the fused form.
    backend: str
    #: The reduced loss of x by plain torch ops, differentiable.
    naive: autograd.NaiveLoss
    #: (reduced loss, dloss/dx or None) of x, the bool saying whether the gradient is wanted.
    fused: autograd.FusedLossKernel
    #: The operands the fused form treats as constants (see :class:`~.autograd.Call`).
    constants: tuple[object, ...] = ()


Request = Elementwise | PerLocation | Region | Closure


def run(request: Request) -> Tensor:
    """The loss of one request through its backend's runner: the engine's one entry point."""
    if isinstance(request, Elementwise):
        call = _elementwise(request)
    elif isinstance(request, PerLocation):
        call = _per_location(request)
    elif isinstance(request, Region):
        call = regions.call(
            request.batch,
            request.math,
            class_weight=request.class_weight,
            include_background=request.include_background,
            reduction=request.reduction,
            backend=request.backend,
        )
    else:
        call = autograd.Call(
            request.input,
            autograd.SavedGradient(request.naive, request.fused),
            request.constants,
            naive=request.backend == "naive",
        )
    return autograd.apply(call)


def _elementwise(request: Elementwise) -> autograd.Call:
    math, operands = request.math, request.operands

    def naive_reduced(batch: ElementwiseBatch, x: Tensor) -> Tensor:
        dtype = batch.compute_dtype
        weight = batch.weight
        if request.triton is not None and request.triton.class_weights is not None:
            # The kernel's choice of weight by the target, as torch ops.
            negative, positive = request.triton.class_weights
            shape = [1] * x.dim()
            shape[request.checked.form.dim] = -1
            weight = torch.where(batch.y > 0.5, positive.reshape(shape), negative.reshape(shape))
        loss = math.naive(x.to(dtype), batch.y.to(dtype), weight=weight, **operands)
        return reduce(loss, batch.divisor).to(x.dtype)

    if request.backend == "triton":
        if request.triton is None:  # pragma: no cover - resolve_backend refuses it first
            raise ValueError("backend must not be 'triton' for a loss without a Triton kernel")
        return triton_runner.elementwise(
            request.checked, naive=naive_reduced, **request.triton._asdict()
        )
    if request.prepared is None:
        batch = prepare_elementwise(request.checked)
        prepared = Prepared(batch, batch.mask())
    else:
        prepared = request.prepared
    batch = prepared.batch
    return _fused_call(
        batch.input,
        backend=request.backend,
        # the target in the compute dtype only where the naive form runs: a bool mask's
        # float copy cost the fused and compiled calls a pass over the input's size
        naive=lambda x: math.naive(
            x, batch.y.to(batch.compute_dtype), weight=batch.weight, **operands
        ),
        kernel=math.fused,
        compiled_program=math.compiled,
        target=prepared.target,
        operands={"weight": batch.weight, **operands, **prepared.fused_operands},
        divisor=batch.divisor,
        compute_dtype=batch.compute_dtype,
    )


def _per_location(request: PerLocation) -> autograd.Call:
    compute_dtype, divisor = request.compute_dtype, request.divisor

    def naive_reduced(x: Tensor) -> Tensor:
        return reduce(request.naive(x.to(compute_dtype)), divisor).to(x.dtype)

    if request.backend == "triton":
        if request.triton is None:  # pragma: no cover - resolve_backend refuses it first
            raise ValueError("backend must not be 'triton' for a loss without a Triton kernel")
        triton = request.triton
        return triton_runner.per_location(
            request.input,
            dim=request.dim,
            index=triton.indices,
            probabilities=triton.probabilities,
            ignore_index=triton.ignore_index,
            label_smoothing=triton.label_smoothing,
            gamma=triton.gamma,
            class_factor=triton.class_factor,
            divisor=divisor,
            naive=naive_reduced,
            adjust=triton.adjust,
            adjust_values=triton.adjust_values,
            adjust_params=triton.adjust_params,
            location_weight=triton.location_weight,
        )
    if request.fused is None or request.compiled is None or request.target is None:
        raise ValueError(  # pragma: no cover - a loss gives them for every backend it runs
            f"backend must be 'triton' for a request without a fused kernel; "
            f"got {request.backend!r}"
        )
    return _fused_call(
        request.input,
        backend=request.backend,
        naive=request.naive,
        kernel=request.fused,
        compiled_program=request.compiled,
        target=request.target,
        operands=request.operands,
        divisor=divisor,
        compute_dtype=compute_dtype,
        dim=request.dim,
    )


def _fused_call(
    input: Tensor,
    *,
    backend: str,
    naive: Callable[[Tensor], Tensor],
    kernel: Kernel,
    compiled_program: CompiledProgram,
    target: Tensor,
    operands: Mapping[str, Any],
    divisor: Divisor,
    compute_dtype: torch.dtype,
    dim: int | None = None,
) -> autograd.Call:
    """Backends "naive", "fused" and "compiled" of prepared operands.

    ``naive(x)`` is the unreduced naive form of ``x`` (the input in ``compute_dtype``);
    ``kernel`` the fused form, run with ``target`` and ``operands`` by the runner of the
    input's device (:func:`~.runners.run_eager`), or as ``compiled_program``. ``dim`` is
    the class dimension of a loss with one value per location (None: elementwise).
    """

    def naive_loss(x: Tensor) -> Tensor:
        return reduce(naive(x.to(compute_dtype)), divisor).to(x.dtype)

    def fused(x: Tensor, need_grad: bool) -> tuple[Tensor, Tensor | None]:
        if backend == "compiled":
            inverse = reciprocal(divisor, x.device)
            program_operands = operands if dim is None else {**operands, "dim": dim}
            result = compiled_program(
                x.to(compute_dtype), target, inverse, need_grad, program_operands
            )
            if result is not None:
                loss, grad = result
                return loss.to(x.dtype), None if grad is None else grad.to(x.dtype)
        return run_eager(
            kernel,
            x,
            need_grad,
            target=target,
            operands=operands,
            divisor=divisor,
            compute_dtype=compute_dtype,
            dim=dim,
        )

    return autograd.Call(
        input,
        autograd.SavedGradient(naive_loss, fused, dim if divisor is None else None),
        constants=(target, *operands.values(), divisor),
        naive=backend == "naive",
    )
