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
        # The gradient output is never differentiated: without this, autograd would hand
        # backward a zero tensor of the input's size for it (an allocation and a fill as
        # large as the gradient itself, in every backward).
        ctx.set_materialize_grads(False)
        ctx.save_for_backward(input, grad)
        ctx.naive = naive
        ctx.location_dim = location_dim

    @staticmethod
    def backward(
        ctx: Any, grad_output: Tensor | None, _: Tensor | None
    ) -> tuple[Tensor | None, ...]:
        if grad_output is None:  # only the gradient output was used: nothing flows back
            return None, None, None, None
        input, grad = ctx.saved_tensors
        if torch.is_grad_enabled():
            # create_graph=True: the saved gradient is a constant, so rebuild it as a function
            # of the input through the naive form, whose graph autograd can differentiate.
            loss = ctx.naive(input)
            (input_grad,) = torch.autograd.grad(loss, input, grad_output, create_graph=True)
        else:
            input_grad = upstream_gradient(grad, grad_output, ctx.location_dim)
        return input_grad, None, None, None


#: The Triton form of one call, in two launches: ``forward(input)`` is (the reduced loss,
#: what backward needs of it: 1 / divisor, per-location statistics, ...), and
#: ``backward(input, grad_output, state)`` is dloss/dinput times grad_output.
RecomputeForward = Callable[[Tensor], tuple[Tensor, Any]]
RecomputeBackward = Callable[[Tensor, Tensor, Any], Tensor]


class RecomputedLoss(torch.autograd.Function):
    """The Triton runner's Function: forward launches the kernel for the loss alone, and
    backward launches it again for the gradient, which the kernel multiplies by
    grad_output / divisor as it writes it.

    A kernel that wrote the gradient in forward would write it once there and then read and
    write it again in backward to scale it by grad_output (unknown in forward): reading the
    operands a second time costs less (a bool target is 1 byte, the logits' gradient 4 in
    float32), and nothing of the input's size is held between forward and backward. A
    second backward through a retained graph launches it again; a differentiated backward
    (``create_graph=True``) differentiates the naive form, as :class:`FusedLoss` does.
    """

    @staticmethod
    def forward(
        ctx: Any,
        input: Tensor,
        forward: RecomputeForward,
        backward: RecomputeBackward,
        naive: NaiveLoss,
    ) -> Tensor:
        loss, state = forward(input)
        if ctx.needs_input_grad[0]:
            ctx.save_for_backward(input)
            ctx.state, ctx.backward, ctx.naive = state, backward, naive
        return loss

    @staticmethod
    def backward(ctx: Any, grad_output: Tensor) -> tuple[Tensor | None, ...]:
        (input,) = ctx.saved_tensors
        if torch.is_grad_enabled():  # create_graph=True: see FusedLoss.backward
            loss = ctx.naive(input)
            (input_grad,) = torch.autograd.grad(loss, input, grad_output, create_graph=True)
            return input_grad, None, None, None
        return ctx.backward(input, grad_output, ctx.state), None, None, None


def apply_recomputed(
    input: Tensor,
    *,
    naive: NaiveLoss,
    forward: RecomputeForward,
    backward: RecomputeBackward,
    constants: Iterable[object],
) -> Tensor:
    """:func:`apply` for the Triton runner's :class:`RecomputedLoss`."""
    if torch.is_grad_enabled() and _any_requires_grad(constants):
        return naive(input)
    result: Tensor = RecomputedLoss.apply(input, forward, backward, naive)
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
