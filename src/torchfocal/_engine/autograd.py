"""The one autograd Function of the fused backends, and the choice between it and autograd.

Every loss has two forms of the same math (see each kernel module): a naive form, plain
torch ops that autograd differentiates, and a fused form that computes the loss and
dloss/dinput in one pass. The fused form is the fast path; it is only valid where its
single saved gradient is all that backward needs. Three cases are not that:

- another argument requires grad (soft targets in distillation, learned class weights,
  alpha, pos_weight, a tensor avg_factor): the fused form computes no gradient for them,
  so :func:`apply` runs the naive form, whose autograd gradients are exact for every
  argument;
- backward is itself differentiated (``create_graph=True``: gradient penalties,
  Hessian-vector products, meta-learning): a saved constant has no derivative, so
  :meth:`FusedLoss.backward` then differentiates the naive form of the same call with
  autograd, which gives the exact first derivative *as a differentiable function of the
  input*, and so exact second and higher derivatives;
- ``backend="naive"``, which asks for the naive form outright.

The fast path (only the input requires grad, a plain backward) keeps its cost: forward
saves the gradient and a reference to the input, and backward multiplies one by
grad_output.

torch.func (grad, vmap, jacrev): :class:`FusedLoss` has a separate ``setup_context`` and a
generated vmap rule, so the transforms take it; its operands are closed over, so where one
of them is itself a transform's tensor (a vmap over the targets too) the naive form runs
(:func:`apply`). The Triton runner's Function is refused under transforms
(:func:`~torchfocal._engine.checks.check_triton`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor

from .numerics import is_transformed, reads_values

#: The naive form of one call: the reduced loss of an input, differentiable by autograd.
NaiveLoss = Callable[[Tensor], Tensor]
#: The fused form of the same call: (reduced loss, dloss/dinput or None) of an input, the
#: gradient already divided by the reduction's divisor and in the input's dtype; the bool
#: says whether the gradient is wanted.
FusedLossKernel = Callable[[Tensor, bool], tuple[Tensor, Tensor | None]]


class FusedLoss(torch.autograd.Function):
    """Forward runs the fused kernel and returns dloss/dinput beside the loss (not
    differentiable; :func:`apply` hands on the loss alone) for backward, which scales it.

    ``location_dim`` is given for a loss with one value per location under
    ``reduction="none"``: grad_output then has no class dimension, and is broadcast over it.

    Forward and ``setup_context`` are separate, and the vmap rule is generated (forward and
    backward run on vmap's batched tensors: neither reads a value on the host there), so
    torch.func's grad, vmap, jacrev and their compositions take this Function.
    """

    generate_vmap_rule = True

    @staticmethod
    def forward(
        input: Tensor, fused: FusedLossKernel, naive: NaiveLoss, location_dim: int | None
    ) -> tuple[Tensor, Tensor | None]:
        return fused(input, True)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: tuple[Tensor, Tensor]) -> None:
        input, _, naive, location_dim = inputs
        grad = output[1]
        ctx.mark_non_differentiable(grad)
        ctx.save_for_backward(input, grad)
        ctx.naive = naive
        ctx.location_dim = location_dim

    @staticmethod
    def backward(ctx: Any, grad_output: Tensor, _: Tensor | None) -> tuple[Tensor | None, ...]:
        input, grad = ctx.saved_tensors
        if torch.is_grad_enabled():
            # create_graph=True: the saved gradient is a constant, so rebuild it as a function
            # of the input through the naive form, whose graph autograd can differentiate.
            loss = ctx.naive(input)
            (input_grad,) = torch.autograd.grad(loss, input, grad_output, create_graph=True)
        else:
            input_grad = upstream_gradient(grad, grad_output, ctx.location_dim)
        return input_grad, None, None, None


#: The Triton form of one call: (reduced loss, dloss/dinput not yet divided by the
#: reduction's divisor or None, the factor backward multiplies it by: 1 / divisor, or None)
#: of an input; the bool says whether the gradient is wanted.
ScaledLossKernel = Callable[[Tensor, bool], tuple[Tensor, Tensor | None, Tensor | float | None]]


class ScaledGradientLoss(torch.autograd.Function):
    """The Triton runner's Function: forward saves dloss/dinput undivided, backward scales
    it in place by grad_output / divisor and returns it.

    The divisor may be known only after the kernel's pass (the positive mass, the count of
    counted elements), and backward multiplies by grad_output anyway: folding 1 / divisor
    into that one multiplication costs no pass of its own. In place, so that the gradient
    costs one buffer of the input's size (written by forward), not two. That consumes the
    saved gradient: a second backward through the same graph (``retain_graph=True``) and a
    differentiated backward (``create_graph=True``) differentiate the naive form of the
    same call instead, as :class:`FusedLoss` does, which is exact.
    """

    @staticmethod
    def forward(
        ctx: Any,
        input: Tensor,
        fused: ScaledLossKernel,
        naive: NaiveLoss,
        location_dim: int | None,
    ) -> Tensor:
        need_grad = bool(ctx.needs_input_grad[0])
        loss, grad, factor = fused(input, need_grad)
        if need_grad:
            ctx.save_for_backward(input)
            ctx.grad, ctx.factor = grad, factor
            ctx.naive = naive
            ctx.location_dim = location_dim
        return loss

    @staticmethod
    def backward(ctx: Any, grad_output: Tensor) -> tuple[Tensor | None, ...]:
        (input,) = ctx.saved_tensors
        grad, ctx.grad = ctx.grad, None
        if torch.is_grad_enabled():  # create_graph=True: see FusedLoss.backward
            loss = ctx.naive(input)
            (input_grad,) = torch.autograd.grad(loss, input, grad_output, create_graph=True)
            return input_grad, None, None, None
        if grad is None:  # consumed by an earlier backward through a retained graph
            with torch.enable_grad():
                leaf = input.detach().requires_grad_()
                (input_grad,) = torch.autograd.grad(ctx.naive(leaf), leaf, grad_output)
            return input_grad, None, None, None
        upstream = grad_output if ctx.factor is None else grad_output * ctx.factor
        if ctx.location_dim is not None:
            upstream = upstream.unsqueeze(ctx.location_dim)
        return grad.mul_(upstream), None, None, None


def apply_scaled(
    input: Tensor,
    *,
    naive: NaiveLoss,
    fused: ScaledLossKernel,
    constants: Iterable[object],
    location_dim: int | None = None,
) -> Tensor:
    """:func:`apply` for the Triton runner's :class:`ScaledGradientLoss`."""
    if torch.is_grad_enabled() and _any_requires_grad(constants):
        return naive(input)
    result: Tensor = ScaledGradientLoss.apply(input, fused, naive, location_dim)
    return result


def apply(
    input: Tensor,
    *,
    backend: str,
    naive: NaiveLoss,
    fused: FusedLossKernel,
    constants: Iterable[object],
    location_dim: int | None = None,
) -> Tensor:
    """The loss of ``input`` through the backend's form (see the module docstring).

    ``constants`` are the prepared operands the fused kernel treats as constants (targets,
    weights, alpha, pos_weight, the divisor): if any of them requires grad, the naive form
    runs, so that its gradient reaches them. So it does where one of them is a torch.func
    transform's tensor (a vmap over the targets too): the kernel closes over its operands,
    and torch.func runs an autograd Function's forward at a level below the transform,
    where a tensor of the transform's level cannot be used.
    """
    if (
        backend == "naive"
        or (torch.is_grad_enabled() and _any_requires_grad(constants))
        or _any_transformed(constants)
    ):
        return naive(input)
    if not (torch.is_grad_enabled() and input.requires_grad):
        loss, _ = fused(input, False)
        return loss
    result: tuple[Tensor, Tensor] = FusedLoss.apply(input, fused, naive, location_dim)
    return result[0]


def upstream_gradient(grad: Tensor, grad_output: Tensor, class_dim: int | None) -> Tensor:
    """The saved dloss/dx times grad_output, for backward.

    ``class_dim`` is given for a loss with one value per location under ``reduction="none"``:
    one upstream value per location, broadcast over the classes. Otherwise grad_output has
    the loss's shape. The multiplication is skipped for a scalar 1 where looking is free (a
    CPU tensor): on a GPU the look would synchronise with the device, which costs more than
    the multiplication.
    """
    if class_dim is not None:
        return grad * grad_output.unsqueeze(class_dim)
    if grad_output.numel() == 1 and reads_values(grad_output) and grad_output.item() == 1.0:
        return grad
    return grad * grad_output


def _any_requires_grad(values: Iterable[object]) -> bool:
    return any(isinstance(value, Tensor) and value.requires_grad for value in values)


def _any_transformed(values: Iterable[object]) -> bool:
    return any(isinstance(value, Tensor) and is_transformed(value) for value in values)
