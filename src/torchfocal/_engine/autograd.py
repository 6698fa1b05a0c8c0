"""The one autograd Function of the engine, and the choice between it and autograd.

Every loss has two forms of the same math (see each loss module): a naive form, plain
torch ops that autograd differentiates, and a fused form that computes the loss and what
its gradient needs without autograd. A runner (:mod:`.runners`, :mod:`.triton_runner`,
:mod:`.regions`) gives one call of a loss as a :class:`Form`:

- :class:`SavedGradient` (backends "fused" and "compiled"): forward computes the loss and
  dloss/dinput in one pass and saves the gradient; backward multiplies it by grad_output;
- :class:`Relaunched` (backend "triton"): forward launches the kernel for the loss alone,
  and backward launches it again for the gradient, which the kernel multiplies by
  grad_output / divisor as it writes it. A kernel that wrote the gradient in forward would
  write it once there and then read and write it again in backward to scale it by
  grad_output (unknown in forward): reading the operands a second time costs less (a bool
  target is 1 byte, the logits' gradient 4 in float32), and nothing of the input's size is
  held between forward and backward. A second backward through a retained graph launches
  it again.

:class:`FusedLoss` runs either. The fused form is only valid where what it saves is all
that backward needs. Three cases are not that:

- another argument requires grad (soft targets in distillation, learned class weights,
  alpha, pos_weight, a tensor avg_factor): the fused form computes no gradient for them,
  so :func:`apply` runs the naive form, whose autograd gradients are exact for every
  argument;
- backward is itself differentiated (``create_graph=True``: gradient penalties,
  Hessian-vector products, meta-learning): a saved constant has no derivative, so
  :meth:`FusedLoss.backward` then differentiates the naive form of the same call with
  autograd, which gives the exact first derivative *as a differentiable function of the
  input*, and so exact second and higher derivatives;
- ``backend="naive"`` (and the runs a runner keeps on the naive form), which asks for the
  naive form outright.

The fast path (only the input requires grad, a plain backward) keeps its cost: forward
saves the gradient (or the kernel's small state) and a reference to the input, and
backward multiplies one by grad_output (or launches the kernel).

torch.func (grad, vmap, jacrev): :class:`FusedLoss` has a separate ``setup_context`` and a
generated vmap rule, so the transforms take it; its operands are closed over, so where one
of them is itself a transform's tensor (a vmap over the targets too) the naive form runs
(:func:`apply`). The Triton forms are refused under transforms
(:func:`~torchfocal._engine.checks.check_triton`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

import torch
from torch import Tensor

from .numerics import is_transformed, reads_values

#: The naive form of one call: the reduced loss of an input, differentiable by autograd.
NaiveLoss = Callable[[Tensor], Tensor]
#: The fused form of the same call: (reduced loss, dloss/dinput or None) of an input, the
#: gradient already divided by the reduction's divisor and in the input's dtype; the bool
#: says whether the gradient is wanted.
FusedLossKernel = Callable[[Tensor, bool], tuple[Tensor, Tensor | None]]


class Form(ABC):
    """One call of a loss (its operands closed over) in the forms :class:`FusedLoss` runs."""

    @abstractmethod
    def naive(self, x: Tensor) -> Tensor:
        """The reduced loss of ``x`` by plain torch ops, differentiable by autograd."""

    @abstractmethod
    def forward(self, x: Tensor, need_grad: bool) -> tuple[Tensor, Tensor | None, Any]:
        """(the reduced loss, dloss/dx to save or None, what else backward needs)."""

    @abstractmethod
    def backward(self, x: Tensor, grad_output: Tensor, saved: Tensor | None, state: Any) -> Tensor:
        """dloss/dx times grad_output, from what :meth:`forward` returned."""


class SavedGradient(Form):
    """The fused backends' form: the gradient made in forward, scaled in backward.

    ``location_dim`` is given for a loss with one value per location under
    ``reduction="none"``: grad_output then has no class dimension, and is broadcast over it.
    """

    def __init__(
        self, naive: NaiveLoss, fused: FusedLossKernel, location_dim: int | None = None
    ) -> None:
        self._naive, self._fused, self.location_dim = naive, fused, location_dim

    def naive(self, x: Tensor) -> Tensor:
        return self._naive(x)

    def forward(self, x: Tensor, need_grad: bool) -> tuple[Tensor, Tensor | None, Any]:
        loss, grad = self._fused(x, need_grad)
        return loss, grad, None

    def backward(self, x: Tensor, grad_output: Tensor, saved: Tensor | None, state: Any) -> Tensor:
        if saved is None:  # pragma: no cover - forward saves it whenever a gradient is wanted
            raise RuntimeError("the fused form saved no gradient")
        return upstream_gradient(saved, grad_output, self.location_dim)


#: The Triton form of one call, in two launches: ``launch(x)`` is (the reduced loss, what
#: backward needs of it: 1 / divisor, per-location statistics, ...), and
#: ``relaunch(x, grad_output, state)`` is dloss/dx times grad_output.
Launch = Callable[[Tensor], tuple[Tensor, Any]]
Relaunch = Callable[[Tensor, Tensor, Any], Tensor]


class Relaunched(Form):
    """The Triton runner's form: the kernel launched in forward and again in backward (see
    the module docstring)."""

    def __init__(self, naive: NaiveLoss, launch: Launch, relaunch: Relaunch) -> None:
        self._naive, self._launch, self._relaunch = naive, launch, relaunch

    def naive(self, x: Tensor) -> Tensor:
        return self._naive(x)

    def forward(self, x: Tensor, need_grad: bool) -> tuple[Tensor, Tensor | None, Any]:
        loss, state = self._launch(x)
        return loss, None, state

    def backward(self, x: Tensor, grad_output: Tensor, saved: Tensor | None, state: Any) -> Tensor:
        return self._relaunch(x, grad_output, state)


class FusedLoss(torch.autograd.Function):
    """The one autograd Function: forward runs the form's fused computation and returns,
    beside the loss, what backward needs (not differentiable; :func:`apply` hands on the
    loss alone); backward turns that into the input's gradient, or differentiates the
    naive form where backward is itself differentiated.

    Forward and ``setup_context`` are separate, and the vmap rule is generated (forward and
    backward run on vmap's batched tensors: neither reads a value on the host there), so
    torch.func's grad, vmap, jacrev and their compositions take this Function.
    """

    generate_vmap_rule = True

    @staticmethod
    def forward(input: Tensor, form: Form) -> tuple[Tensor, Tensor | None, Any]:
        return form.forward(input, True)

    @staticmethod
    def setup_context(
        ctx: Any, inputs: tuple[Any, ...], output: tuple[Tensor, Tensor | None, Any]
    ) -> None:
        input, form = inputs
        _, saved, state = output
        if saved is not None:
            ctx.mark_non_differentiable(saved)
        # The saved output is never differentiated: without this, autograd would hand
        # backward a zero tensor of the input's size for it (an allocation and a fill as
        # large as the gradient itself, in every backward).
        ctx.set_materialize_grads(False)
        ctx.save_for_backward(input, saved)
        ctx.form, ctx.state = form, state

    @staticmethod
    def backward(ctx: Any, grad_output: Tensor | None, *_: Any) -> tuple[Tensor | None, None]:
        if grad_output is None:  # only the saved output was used: nothing flows back
            return None, None
        input, saved = ctx.saved_tensors
        if torch.is_grad_enabled():
            # create_graph=True: the saved gradient is a constant, so rebuild it as a function
            # of the input through the naive form, whose graph autograd can differentiate.
            loss = ctx.form.naive(input)
            (input_grad,) = torch.autograd.grad(loss, input, grad_output, create_graph=True)
            return input_grad, None
        return ctx.form.backward(input, grad_output, saved, ctx.state), None


class Call(NamedTuple):
    """One call of a loss, as a runner gives it to :func:`apply`."""

    input: Tensor
    form: Form
    #: The prepared operands the fused form treats as constants (targets, weights, alpha,
    #: pos_weight, the divisor): where any of them requires grad, the naive form runs.
    constants: tuple[object, ...] = ()
    #: Run the naive form whatever else holds (backend="naive", or a case a runner keeps on
    #: the naive form).
    naive: bool = False


def apply(call: Call) -> Tensor:
    """The loss of ``call.input`` through its form (see the module docstring).

    The naive form runs where asked, where a constant requires grad (so that its gradient
    reaches it), and where a constant is a torch.func transform's tensor (a vmap over the
    targets too): the form closes over its operands, and torch.func runs an autograd
    Function's forward at a level below the transform, where a tensor of the transform's
    level cannot be used.
    """
    input, form, constants = call.input, call.form, call.constants
    if (
        call.naive
        or (torch.is_grad_enabled() and _any_requires_grad(constants))
        or _any_transformed(constants)
    ):
        return form.naive(input)
    if not (torch.is_grad_enabled() and input.requires_grad):
        loss, _, _ = form.forward(input, False)
        return loss
    result: tuple[Tensor, Tensor | None, Any] = FusedLoss.apply(input, form)
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
