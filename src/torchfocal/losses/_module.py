"""The base of every loss's ``nn.Module`` class (:class:`LossModule`) and the helpers the
classes share.

Each loss's module class is written in its loss's own module of :mod:`torchfocal.losses`,
beside its function, on :class:`LossModule`: the class states its function and its options
(its ``__init__`` signature) once, and the base checks, stores, calls and prints them. The
classes are public as :mod:`torchfocal.nn`'s, which takes them from the registry; this
module knows no loss by name.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from .._engine import checks as v
from .._engine import reduction as reducing
from .._engine.numerics import is_transformed

#: Where the loss modules' classes are public (see :meth:`LossModule.__init_subclass__`).
PUBLIC_MODULE = "torchfocal.nn"


def optional_buffer(name: str, value: Tensor | Sequence[float] | None) -> Tensor | None:
    """``value`` (None, a tensor or a sequence of floats) as a tensor, or None."""
    if value is None:
        return None
    if isinstance(value, Tensor):
        return value
    try:
        return torch.as_tensor(value, dtype=torch.get_default_dtype())
    except (TypeError, ValueError, RuntimeError):
        raise TypeError(
            f"{name} must be a tensor or a sequence of floats; got {type(value).__name__}"
        ) from None


def checking(**checks: Callable[[Any], Any]) -> Mapping[str, Callable[[Any], Any]]:
    """A module's checks, option name -> the engine's check of its value (read-only)."""
    return MappingProxyType(checks)


def positive_class_values(name: str) -> Callable[[Any], Any]:
    """The check of class counts or priors; the module keeps the values as given (a
    sequence in the default dtype), the loss normalises them."""

    def check(value: Any) -> Any:
        v.check_positive_class_values(name, value)
        return value

    return check


def check_num_classes(num_classes: object) -> int:
    """The check of a stateful module's ``num_classes`` (a positive int)."""
    if isinstance(num_classes, bool) or not isinstance(num_classes, int):
        raise TypeError(f"num_classes must be an int; got {type(num_classes).__name__}")
    if num_classes < 1:
        raise ValueError(f"num_classes must be >= 1; got {num_classes}")
    return num_classes


#: What :meth:`LossModule._option_value` gives for an option the module does not keep as given.
_NOT_KEPT = object()


def init_options(arguments: dict[str, Any]) -> dict[str, Any]:
    """An ``__init__``'s arguments, from its ``locals()`` (``self`` and the ``__class__`` cell
    of ``super()`` left out): a module names each option once, in its signature."""
    return {name: value for name, value in arguments.items() if name not in ("self", "__class__")}


@functools.cache
def _keywords(function: Callable[..., Tensor]) -> tuple[str, ...]:
    """The keyword-only parameters of a loss function: what a module's forward passes."""
    parameters = inspect.signature(function).parameters.values()
    return tuple(p.name for p in parameters if p.kind is inspect.Parameter.KEYWORD_ONLY)


def _shown(value: Any) -> str:
    """An option's value in a repr: a tensor by its shape, a schedule by its name."""
    if isinstance(value, Tensor):
        return f"<tensor {tuple(value.shape)}>"
    if callable(value):
        return str(getattr(value, "__name__", "callable"))
    return repr(value)


def _differs(value: Any, default: Any) -> bool:
    if isinstance(value, Tensor) or isinstance(default, Tensor):
        return value is not default
    try:
        return bool(value != default)
    except (TypeError, ValueError, RuntimeError):  # values that cannot say (arrays and the like)
        return True


class LossModule(nn.Module):
    """What every loss module shares: a module states its function (:attr:`_function`) and
    its options (its ``__init__`` signature) once, and the base does the rest.

    ``__init__`` checks the options every loss names alike (``reduction``, ``avg_factor``,
    ``distributed``, ``backend``) and stores the others: each through its check in
    :attr:`_checks` (the engine's own, the one the function runs on the same option), the
    names in :attr:`_buffer_options` as buffers (they follow ``.to()`` and the state_dict),
    a number alpha as the float ``scalar_alpha`` beside a ``None`` buffer ``alpha``, and
    the rest as attributes. ``forward`` is one call of the function with every keyword it
    takes, read from the attributes and buffers of the same names (:meth:`_arguments`).
    ``extra_repr`` shows :attr:`_repr_names`, the reduction and every other option that
    differs from its default (tensors as their shape).

    An optional buffer left ``None`` at construction loads from a state_dict that holds it
    (:meth:`_load_from_state_dict`), and the buffers named in :attr:`_uncast` keep their
    dtype under ``.to(dtype)``, ``.half()`` and the like (:meth:`_apply`).
    """

    #: The loss function that ``forward`` calls.
    _function: ClassVar[Callable[..., Tensor]]
    #: The reductions the loss takes.
    _reductions: ClassVar[Sequence[str]] = v.REDUCTIONS
    #: Option name -> the check (and normalisation) of its value.
    _checks: ClassVar[Mapping[str, Callable[[Any], Any]]] = {}
    #: The options kept as (optional) buffers.
    _buffer_options: ClassVar[tuple[str, ...]] = ("weight", "pos_weight")
    #: The largest alpha value the loss takes, where alpha is the class weighting of the
    #: focal forms (a number or per-class values); None: alpha, if any, is a plain option.
    _alpha_high: ClassVar[float | None] = None
    #: The attributes ``extra_repr`` shows first, in this order, whatever their values.
    _repr_names: ClassVar[tuple[str, ...]] = ()
    #: Buffers that no cast changes the dtype of, only the device: class counts, priors and
    #: running statistics, which float16 would round (from 2048 on) or make inf (above
    #: 65504), where the loss reads only ratios and logs of them.
    _uncast: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # A loss's class is written in its loss's module (torchfocal.losses.<loss>) and is
        # public as torchfocal.nn.<Name>, where nn.py held every class before: pickles
        # (which store __module__ and __qualname__), reprs of the class and the docs name
        # it there, as before. Private bases and a user's own subclasses keep their module.
        module = cls.__module__
        if (
            module.startswith(f"{__package__}.")
            and not module.rpartition(".")[2].startswith("_")
            and not cls.__name__.startswith("_")
        ):
            cls.__module__ = PUBLIC_MODULE

    def __init__(
        self,
        *,
        reduction: str,
        avg_factor: float | None = None,
        distributed: bool = False,
        backend: str = "auto",
        reductions: Sequence[str] | None = None,
        alpha_high: float | None = None,
        **options: Any,
    ) -> None:
        """``reductions`` and ``alpha_high``: this instance's, where they depend on an option
        (Poly-1's activation), instead of :attr:`_reductions` and :attr:`_alpha_high`."""
        super().__init__()
        alpha_high = self._alpha_high if alpha_high is None else alpha_high
        self.reduction = v.check_reduction(reduction, reductions or self._reductions)
        v.check_avg_factor(avg_factor, self.reduction)
        self.avg_factor = avg_factor
        self.distributed = self._check_distributed(distributed)
        self.backend = v.check_backend(backend)
        for name, value in options.items():
            check = self._checks.get(name)
            checked = value if check is None else check(value)
            if name == "alpha" and alpha_high is not None:
                self._register_alpha(checked, high=alpha_high)
            elif name in self._buffer_options:
                self._register_optional(name, checked)
            else:
                setattr(self, name, checked)

    def _check_distributed(self, distributed: object) -> bool:
        """The sigmoid forms' meaning: the ``"positives"`` normaliser is averaged over the
        process group, so only that reduction takes it."""
        return v.check_distributed(distributed, self.reduction)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return type(self)._function(input, target, **self._arguments())

    def _arguments(self) -> dict[str, Any]:
        """Every keyword of the function, from the attribute or buffer of the same name."""
        arguments: dict[str, Any] = {}
        for name in _keywords(type(self)._function):
            if name == "alpha" and "alpha" in self._buffers:
                arguments[name] = self._alpha_argument()
            elif name in self._buffers:
                arguments[name] = self._buffers[name]
            else:
                arguments[name] = getattr(self, name)
        return arguments

    def _register_optional(self, name: str, value: Tensor | Sequence[float] | None) -> None:
        """``value`` (None, a tensor or a sequence of floats) as the buffer ``name``."""
        self.register_buffer(name, optional_buffer(name, value))

    def _register_alpha(
        self, alpha: float | Sequence[float] | Tensor | None, *, high: float
    ) -> None:
        """A number becomes ``scalar_alpha`` (buffer ``alpha`` None); per-class values the
        buffer ``alpha`` (``scalar_alpha`` None)."""
        self.scalar_alpha: float | None = None
        if alpha is None or isinstance(alpha, (int, float)):
            self.register_buffer("alpha", None)
            if alpha is not None:
                self.scalar_alpha = v.check_scalar_in("alpha", alpha, 0.0, high)
            return
        values = optional_buffer("alpha", alpha)
        if values is not None and not bool(((values >= 0) & (values <= high)).all()):
            raise ValueError(f"alpha must hold values in [0, {high:g}]; got {values.tolist()}")
        self.register_buffer("alpha", values)

    def _apply(self, fn: Callable[[Tensor], Tensor], recurse: bool = True) -> LossModule:
        originals = {name: self._buffers[name] for name in self._uncast}
        super()._apply(fn, recurse)
        for name, original in originals.items():
            moved = self._buffers[name]
            if original is not None and moved is not None and moved.dtype != original.dtype:
                # A cast: the original values in their own dtype, on the new device.
                self._buffers[name] = original.to(device=moved.device)
        return self

    def _load_from_state_dict(
        self,
        state_dict: dict[str, Any],
        prefix: str,
        local_metadata: dict[str, Any],
        strict: bool,
        missing_keys: list[str],
        unexpected_keys: list[str],
        error_msgs: list[str],
    ) -> None:
        # A state_dict leaves out a None buffer, so a module built without a class weight
        # (or alpha, pos_weight) that was given one later (LDAM-DRW's weight, assigned every
        # epoch) saves a key that a fresh module has no tensor for: torch's load would reject
        # it (strict) or drop it (non-strict). Such a buffer takes the saved tensor's shape
        # and dtype here, on the module's device where it has one, and the load below copies
        # the values into it.
        devices = [buffer.device for buffer in self._buffers.values() if buffer is not None]
        for name, buffer in self._buffers.items():
            key = prefix + name
            if buffer is None and key in state_dict:
                saved = state_dict[key]
                self._buffers[name] = torch.empty_like(
                    saved, device=devices[0] if devices else saved.device
                )
        super()._load_from_state_dict(
            state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs
        )

    def _alpha_argument(self) -> float | Tensor | None:
        """The alpha to pass to the function: the buffer, else the number."""
        alpha = self._buffers["alpha"]
        return alpha if alpha is not None else self.scalar_alpha

    def _option_value(self, name: str) -> Any:
        """The stored value of the option ``name`` (``_NOT_KEPT`` for an option that is
        turned into something else, such as the class counts of the class-balanced loss)."""
        if name == "alpha" and "alpha" in self._buffers:
            return self._alpha_argument()
        if name in self._buffers:
            return self._buffers[name]
        return getattr(self, name, _NOT_KEPT)

    def _repr_value(self, name: str) -> str:
        value = self._option_value(name)
        if name == "gamma" and isinstance(value, str):
            return value  # a schedule by its name, as a callable one is
        return _shown(value)

    def extra_repr(self) -> str:
        first = (*self._repr_names, "reduction")
        parts = [f"{name}={self._repr_value(name)}" for name in first]
        for name, parameter in inspect.signature(type(self).__init__).parameters.items():
            if name in first or parameter.default is inspect.Parameter.empty:
                continue
            value = self._option_value(name)
            if value is not _NOT_KEPT and _differs(value, parameter.default):
                parts.append(f"{name}={self._repr_value(name)}")
        return ", ".join(parts)


class StatefulLossModule(LossModule):
    """What the losses with training state share (Seesaw's class counts, EQLv2's gradient
    statistics): ``num_classes`` buffers named in :attr:`_statistics`, added to by
    :meth:`_accumulate` in training mode only.

    ``LossModule`` alone does not fit: its ``distributed`` averages the ``"positives"`` normaliser
    over the process group and is refused with every other reduction, while here it sums
    each training batch's statistics over the group, with every reduction: so
    :meth:`_check_distributed` takes any bool here, and the function (which has no
    ``distributed``) never sees it.

    The statistics are :attr:`_uncast`: they keep their dtype under ``.to(dtype)``,
    ``.half()`` and the like, which cast every floating buffer, since they are sums over a
    whole training run, which float16 would round (from 2048 on, adding 1 changes nothing).
    Only their device follows (so EQLv2's float64 sums cannot move to a device without
    float64, such as MPS).
    """

    #: The buffers that hold the state, in the order :meth:`_accumulate` takes them.
    _statistics: ClassVar[tuple[str, ...]] = ()
    num_classes: int
    _checks = checking(num_classes=check_num_classes)

    def _check_distributed(self, distributed: object) -> bool:
        """Here: each training batch's statistics are summed over the process group, with
        every reduction."""
        return v.check_bool("distributed", distributed)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        """The loss with the state so far; in training mode the batch's statistics are
        added (:meth:`_statistics_of`) before the loss (``_count_first``) or after it."""
        self._check_step(input, target)
        self._check_classes(input, getattr(self, "class_dim", 1))
        if self.training and self._count_first:
            self._accumulate(*self._statistics_of(input, target))
        loss = super().forward(input, target)
        if self.training and not self._count_first:
            self._accumulate(*self._statistics_of(input, target))
        return loss

    #: Whether a training batch's statistics are added before its loss is computed.
    _count_first: ClassVar[bool] = True

    def _statistics_of(self, input: Tensor, target: Tensor) -> tuple[Tensor, ...]:
        """One training batch's statistics, one tensor per buffer of :attr:`_statistics`."""
        raise NotImplementedError

    def _check_step(self, input: Tensor, target: Tensor) -> None:
        """A training step outside torch.func transforms: under one, the batch's statistics
        are the transform's tensors, which cannot be added to a buffer in place (vmap
        refuses it, and the buffer would keep a value of the transform). Eval mode, which
        adds nothing, works under every transform."""
        if self.training and (is_transformed(input) or is_transformed(target)):
            raise ValueError(
                f"{type(self).__name__} must be in eval mode under torch.func transforms "
                "(vmap, grad, jacrev: a training step adds to its state in place); got "
                "training mode"
            )

    def _check_classes(self, input: Tensor, class_dim: int) -> None:
        """The input has ``num_classes`` classes along ``class_dim`` (a batch of another
        width would be added to the wrong classes, or broadcast onto all of them for width
        1). An input without that dimension is left to the loss's own checks, which name
        the shape it needs."""
        input = v.check_float_input("input", input)
        if isinstance(class_dim, bool) or not isinstance(class_dim, int):
            return
        if -input.dim() <= class_dim < input.dim() and input.shape[class_dim] != self.num_classes:
            raise ValueError(
                f"input must have num_classes={self.num_classes} classes along dimension "
                f"{class_dim}; got {input.shape[class_dim]} (shape {v.shape_str(input.shape)})"
            )

    def _accumulate(self, *batch: Tensor) -> None:
        """Add one training batch's statistics (one tensor per buffer of
        :attr:`_statistics`), summed over the process group first with ``distributed``."""
        if self.distributed:
            # One all-reduce for every statistic (they share a dtype).
            batch = tuple(reducing.sum_over_process_group(torch.stack(batch)).unbind())
        for name, value in zip(self._statistics, batch, strict=True):
            buffer: Tensor = getattr(self, name)
            buffer.add_(value.to(buffer.dtype))


class RegionLossModule(LossModule):
    """What the region (Dice-like) modules share: ``distributed`` means the batch sums are
    all-reduced (with ``batch=True``), not the positives normaliser of the sigmoid forms;
    a ``weight`` (where the loss takes one) is a buffer."""

    _buffer_options: ClassVar[tuple[str, ...]] = ("weight",)
    weight: Tensor | None

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        if self.distributed and not options.get("batch", False):
            raise ValueError(
                "distributed must be False unless batch=True (only the batch's per-class sums "
                "are global); got distributed=True with batch=False"
            )

    def _check_distributed(self, distributed: object) -> bool:
        """Here: the batch's per-class sums are all-reduced (with ``batch=True``)."""
        return v.check_bool("distributed", distributed)
