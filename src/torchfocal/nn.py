"""nn.Module wrappers on one base class: __init__ validates and registers buffers; forward is
one call of the loss's function."""

from __future__ import annotations

import functools
import inspect
import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from . import functional as F
from ._engine import checks as v
from ._engine import reduction as reducing
from ._engine.deprecation import renamed
from ._engine.numerics import is_transformed
from .losses import LOSSES as _LOSSES
from .losses.class_balanced import check_class_balanced_form
from .losses.dice import check_tversky
from .losses.equalization import check_equalization_options, equalization_statistics
from .losses.seesaw import batch_class_counts, check_seesaw_options
from .weighting import Counts, class_balanced_weights

# The module classes of the registered losses (each registry entry names its class here).
__all__ = sorted(info.module for info in _LOSSES)


def _optional_buffer(name: str, value: Tensor | Sequence[float] | None) -> Tensor | None:
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


def _checking(**checks: Callable[[Any], Any]) -> Mapping[str, Callable[[Any], Any]]:
    """A module's checks, option name -> the engine's check of its value (read-only)."""
    return MappingProxyType(checks)


def _positive_class_values(name: str) -> Callable[[Any], Any]:
    """The check of class counts or priors; the module keeps the values as given (a
    sequence in the default dtype), the loss normalises them."""

    def check(value: Any) -> Any:
        v.check_positive_class_values(name, value)
        return value

    return check


def _check_num_classes(num_classes: object) -> int:
    if isinstance(num_classes, bool) or not isinstance(num_classes, int):
        raise TypeError(f"num_classes must be an int; got {type(num_classes).__name__}")
    if num_classes < 1:
        raise ValueError(f"num_classes must be >= 1; got {num_classes}")
    return num_classes


def _poly1_limits(activation: object) -> dict[str, Any]:
    """Poly-1's activation decides its reductions and alpha's range: checked first."""
    sigmoid = v.check_activation(activation) == "sigmoid"
    return {
        "reductions": v.SIGMOID_REDUCTIONS if sigmoid else v.REDUCTIONS,
        "alpha_high": 1.0 if sigmoid else math.inf,
    }


#: What :meth:`_Loss._option_value` gives for an option the module does not keep as given.
_NOT_KEPT = object()


def _options(arguments: dict[str, Any]) -> dict[str, Any]:
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


class _Loss(nn.Module):
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
        self.register_buffer(name, _optional_buffer(name, value))

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
        values = _optional_buffer("alpha", alpha)
        if values is not None and not bool(((values >= 0) & (values <= high)).all()):
            raise ValueError(f"alpha must hold values in [0, {high:g}]; got {values.tolist()}")
        self.register_buffer("alpha", values)

    def _apply(self, fn: Callable[[Tensor], Tensor], recurse: bool = True) -> _Loss:
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


class SigmoidFocalLoss(_Loss):
    """Module form of :func:`torchfocal.sigmoid_focal_loss`; see it for every argument.

    Per-class ``alpha``, ``weight`` and ``pos_weight`` are registered as buffers, so they
    follow ``.to()`` / ``.cuda()`` and are saved in the ``state_dict``.

    Example:
        >>> import torch, torchfocal
        >>> criterion = torchfocal.SigmoidFocalLoss(alpha=0.25, gamma=2.0, reduction="sum")
        >>> criterion(torch.tensor([[2.0, -1.0]]), torch.tensor([[1.0, 0.0]])).round(decimals=4)
        tensor(0.0174)
    """

    _function = staticmethod(F.sigmoid_focal_loss)
    _reductions = v.SIGMOID_REDUCTIONS
    _checks = _checking(gamma=v.check_gamma_spec, label_smoothing=v.check_label_smoothing)
    _alpha_high = 1.0
    _repr_names = ("alpha", "gamma")
    alpha: Tensor | None
    weight: Tensor | None
    pos_weight: Tensor | None

    def __init__(
        self,
        *,
        alpha: float | Sequence[float] | Tensor | None = 0.25,
        gamma: v.GammaSpec = 2.0,
        weight: Tensor | None = None,
        pos_weight: Tensor | Sequence[float] | None = None,
        label_smoothing: float = 0.0,
        ignore_index: int = -100,
        class_dim: int = 1,
        reduction: str = "mean",
        avg_factor: float | None = None,
        distributed: bool = False,
        backend: str = "auto",
    ) -> None:
        super().__init__(**_options(locals()))


class SoftmaxFocalLoss(_Loss):
    """Module form of :func:`torchfocal.softmax_focal_loss`; see it for every argument.

    Per-class ``alpha`` and ``weight`` are buffers (they follow ``.to()`` and the state_dict).

    Example:
        >>> import torch, torchfocal
        >>> criterion = torchfocal.SoftmaxFocalLoss(gamma=2.0, weight=torch.tensor([1.0, 2.0]))
        >>> criterion(torch.tensor([[1.0, -1.0], [0.5, 0.5]]), torch.tensor([0, 1]))
        tensor(0.1161)
    """

    _function = staticmethod(F.softmax_focal_loss)
    _checks = _checking(gamma=v.check_gamma_spec, label_smoothing=v.check_label_smoothing)
    _alpha_high = float("inf")
    _repr_names = ("alpha", "gamma")
    alpha: Tensor | None
    weight: Tensor | None

    def __init__(
        self,
        *,
        alpha: float | Sequence[float] | Tensor | None = None,
        gamma: v.GammaSpec = 2.0,
        weight: Tensor | Sequence[float] | None = None,
        ignore_index: int = -100,
        label_smoothing: float = 0.0,
        class_dim: int = 1,
        reduction: str = "mean",
        backend: str = "auto",
    ) -> None:
        super().__init__(**_options(locals()))


class ClassBalancedLoss(_Loss):
    """Cui et al.'s class-balanced loss; module form of :func:`torchfocal.class_balanced_loss`.

    ``__init__`` turns the class counts into :func:`torchfocal.class_balanced_weights`
    (``beta``) and registers them as the buffer ``weight`` (named ``weights`` before: a
    state_dict saved with that key still loads, with a DeprecationWarning).

    Example:
        >>> import torch, torchfocal
        >>> criterion = torchfocal.ClassBalancedLoss([500, 50, 5], beta=0.999, loss="softmax")
        >>> criterion(torch.tensor([[2.0, -1.0, -2.0], [-1.0, -1.0, 1.0]]), torch.tensor([0, 2]))
        tensor(0.3234)
    """

    _function = staticmethod(F.class_balanced_loss)
    _checks = _checking(
        loss=check_class_balanced_form,
        gamma=lambda gamma: None if gamma is None else v.check_gamma(gamma),
    )
    _repr_names = ("loss", "beta", "gamma")
    weight: Tensor

    def __init__(
        self,
        counts: Counts,
        beta: float = 0.9999,
        *,
        loss: str = "focal",
        gamma: float | None = None,
        ignore_index: int = -100,
        class_dim: int = 1,
        reduction: str = "mean",
        backend: str = "auto",
    ) -> None:
        options = _options(locals())
        del options["counts"]  # kept as the weights they give
        super().__init__(**options)
        self.register_buffer("weight", class_balanced_weights(counts, beta))

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, classes={len(self.weight)}"

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
        # A state_dict saved before the buffer was renamed holds it under "weights".
        old, new = prefix + "weights", prefix + "weight"
        if old in state_dict and new not in state_dict:
            warnings.warn(
                "weights is deprecated; use weight (ClassBalancedLoss's class-weight buffer "
                "is named weight; a state_dict with the old key loads for one more release)",
                DeprecationWarning,
                stacklevel=2,
            )
            state_dict[new] = state_dict.pop(old)
        super()._load_from_state_dict(
            state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs
        )


class SigmoidFocalLossStar(_Loss):
    """Module form of :func:`torchfocal.sigmoid_focal_loss_star` (FL*); see it for every argument.

    Example:
        >>> import torch, torchfocal
        >>> criterion = torchfocal.SigmoidFocalLossStar(gamma=2.0, beta=1.0)
        >>> criterion(torch.tensor([[2.0, -1.0]]), torch.tensor([[1.0, 0.0]]))
        tensor(0.0138)
    """

    _function = staticmethod(F.sigmoid_focal_loss_star)
    _reductions = v.SIGMOID_REDUCTIONS
    _checks = _checking(
        gamma=v.check_star_gamma,
        beta=functools.partial(v.check_scalar_in, "beta", low=-math.inf, high=math.inf),
    )
    _alpha_high = 1.0
    _repr_names = ("beta", "alpha", "gamma")
    alpha: Tensor | None
    weight: Tensor | None

    def __init__(
        self,
        *,
        gamma: float = 2.0,
        beta: float = 1.0,
        alpha: float | Sequence[float] | Tensor | None = None,
        weight: Tensor | None = None,
        ignore_index: int = -100,
        class_dim: int = 1,
        reduction: str = "mean",
        avg_factor: float | None = None,
        distributed: bool = False,
        backend: str = "auto",
    ) -> None:
        super().__init__(**_options(locals()))


class AsymmetricLoss(_Loss):
    """Module form of :func:`torchfocal.asymmetric_loss` (ASL); see it for every argument.

    Example:
        >>> import torch, torchfocal
        >>> criterion = torchfocal.AsymmetricLoss(gamma_neg=4.0, clip=0.05, reduction="sum")
        >>> criterion(torch.tensor([[2.0, -1.0, -3.0]]), torch.tensor([[1, 0, 0]]))
        tensor(0.1275)
    """

    _function = staticmethod(F.asymmetric_loss)
    _reductions = v.SIGMOID_REDUCTIONS
    _checks = _checking(
        gamma_pos=functools.partial(v.check_scalar_in, "gamma_pos", low=0.0, high=math.inf),
        gamma_neg=functools.partial(v.check_scalar_in, "gamma_neg", low=0.0, high=math.inf),
        clip=functools.partial(v.check_scalar_in, "clip", low=0.0, high=1.0, high_inclusive=False),
    )
    _repr_names = ("gamma_pos", "gamma_neg", "clip")
    weight: Tensor | None

    def __init__(
        self,
        *,
        gamma_pos: float = 0.0,
        gamma_neg: float = 4.0,
        clip: float = 0.05,
        weight: Tensor | None = None,
        ignore_index: int = -100,
        class_dim: int = 1,
        reduction: str = "mean",
        avg_factor: float | None = None,
        distributed: bool = False,
        backend: str = "auto",
    ) -> None:
        super().__init__(**_options(locals()))


class Poly1FocalLoss(_Loss):
    """Module form of :func:`torchfocal.poly1_focal_loss`; see it for every argument.

    Example:
        >>> import torch, torchfocal
        >>> criterion = torchfocal.Poly1FocalLoss(epsilon=1.0, gamma=2.0, activation="softmax")
        >>> criterion(torch.tensor([[2.0, 0.5, -1.0], [0.0, 0.0, 3.0]]), torch.tensor([0, 1]))
        tensor(1.8561)
    """

    _function: ClassVar[Callable[..., Tensor]] = staticmethod(F.poly1_focal_loss)
    _checks = _checking(
        epsilon=functools.partial(v.check_scalar_in, "epsilon", low=-1.0, high=math.inf),
        gamma=v.check_gamma,
        label_smoothing=v.check_label_smoothing,
    )
    _repr_names: ClassVar[tuple[str, ...]] = ("epsilon", "activation", "alpha", "gamma")
    alpha: Tensor | None
    weight: Tensor | None

    def __init__(
        self,
        *,
        epsilon: float = 1.0,
        gamma: float = 2.0,
        alpha: float | Sequence[float] | Tensor | None = None,
        activation: str = "sigmoid",
        weight: Tensor | None = None,
        ignore_index: int = -100,
        label_smoothing: float = 0.0,
        class_dim: int = 1,
        reduction: str = "mean",
        avg_factor: float | None = None,
        distributed: bool = False,
        backend: str = "auto",
    ) -> None:
        super().__init__(**_options(locals()), **_poly1_limits(activation))


class Poly1CrossEntropyLoss(Poly1FocalLoss):
    """Module form of :func:`torchfocal.poly1_cross_entropy` (Poly-1 with gamma 0, no alpha).

    Example:
        >>> import torch, torchfocal
        >>> criterion = torchfocal.Poly1CrossEntropyLoss(epsilon=1.0)
        >>> criterion(torch.tensor([[2.0, 0.5, -1.0], [0.0, 0.0, 3.0]]), torch.tensor([0, 1]))
        tensor(2.2527)
    """

    _function = staticmethod(F.poly1_cross_entropy)
    _repr_names = ("epsilon", "activation")

    def __init__(
        self,
        *,
        epsilon: float = 1.0,
        activation: str = "softmax",
        weight: Tensor | None = None,
        ignore_index: int = -100,
        label_smoothing: float = 0.0,
        class_dim: int = 1,
        reduction: str = "mean",
        avg_factor: float | None = None,
        distributed: bool = False,
        backend: str = "auto",
    ) -> None:
        _Loss.__init__(self, **_options(locals()), **_poly1_limits(activation))


class VarifocalLoss(_Loss):
    """Module form of :func:`torchfocal.varifocal_loss`; see it for every argument.

    ``forward(input, target)`` takes the IoU-aware target score as ``target`` (the keyword
    ``target_score`` still works for one release, with a DeprecationWarning).

    Example:
        >>> import torch, torchfocal
        >>> criterion = torchfocal.VarifocalLoss(alpha=0.75, gamma=2.0, reduction="sum")
        >>> criterion(torch.tensor([[1.0, -2.0]]), torch.tensor([[0.8, 0.0]]))
        tensor(0.4120)
    """

    _function = staticmethod(F.varifocal_loss)
    _reductions = v.SIGMOID_REDUCTIONS
    # One alpha for every class (the function takes no per-class values).
    _checks = _checking(
        alpha=functools.partial(v.check_scalar_in, "alpha", low=0.0, high=1.0),
        gamma=v.check_gamma,
        iou_weighted=functools.partial(v.check_bool, "iou_weighted"),
    )
    _alpha_high = 1.0
    _repr_names = ("alpha", "gamma", "iou_weighted")
    alpha: Tensor | None
    scalar_alpha: float
    weight: Tensor | None

    def __init__(
        self,
        *,
        alpha: float = 0.75,
        gamma: float = 2.0,
        iou_weighted: bool = True,
        weight: Tensor | None = None,
        reduction: str = "mean",
        avg_factor: float | None = None,
        distributed: bool = False,
        backend: str = "auto",
    ) -> None:
        super().__init__(**_options(locals()))

    @renamed(target_score="target")
    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return super().forward(input, target)

    def _arguments(self) -> dict[str, Any]:
        # The function takes one number: a buffer ``alpha`` (None unless assigned) is not read.
        return {**super()._arguments(), "alpha": self.scalar_alpha}


class QualityFocalLoss(_Loss):
    """Module form of :func:`torchfocal.quality_focal_loss`; see it for every argument.

    ``forward(input, target)`` takes the quality target score as ``target`` (the keyword
    ``target_score`` still works for one release, with a DeprecationWarning).

    Example:
        >>> import torch, torchfocal
        >>> criterion = torchfocal.QualityFocalLoss(beta=2.0, reduction="sum")
        >>> criterion(torch.tensor([[1.0, -2.0]]), torch.tensor([[0.8, 0.0]]))
        tensor(0.0042)
    """

    _function = staticmethod(F.quality_focal_loss)
    _reductions = v.SIGMOID_REDUCTIONS
    _checks = _checking(beta=v.check_quality_beta)
    _repr_names = ("beta",)
    weight: Tensor | None

    def __init__(
        self,
        *,
        beta: float = 2.0,
        weight: Tensor | None = None,
        reduction: str = "mean",
        avg_factor: float | None = None,
        distributed: bool = False,
        backend: str = "auto",
    ) -> None:
        super().__init__(**_options(locals()))

    @renamed(target_score="target")
    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return super().forward(input, target)


class DistributionFocalLoss(_Loss):
    """Module form of :func:`torchfocal.distribution_focal_loss`; see it for every argument.

    ``class_dim`` is the dimension of the bins (named ``bin_dim`` before: that keyword still
    works for one release, with a DeprecationWarning).

    Example:
        >>> import torch, torchfocal
        >>> criterion = torchfocal.DistributionFocalLoss()
        >>> criterion(torch.tensor([[0.0, 2.0, 1.0, -1.0]]), torch.tensor([1.3]))
        tensor(0.7402)
    """

    _function = staticmethod(F.distribution_focal_loss)
    _repr_names = ("class_dim",)
    weight: Tensor | None

    @renamed(bin_dim="class_dim")
    def __init__(
        self,
        *,
        weight: Tensor | None = None,
        class_dim: int = -1,
        reduction: str = "mean",
        avg_factor: float | None = None,
        backend: str = "auto",
    ) -> None:
        super().__init__(**_options(locals()))


class LogitAdjustedCrossEntropyLoss(_Loss):
    """Logit-adjusted cross-entropy (balanced softmax at ``tau=1``); module form of
    :func:`torchfocal.logit_adjusted_cross_entropy`, see it for every argument.

    ``__init__`` checks the class counts or frequencies and registers them as the buffer
    ``prior``, as given (a sequence in the default dtype; the loss normalises them), so
    they follow ``.to(device)`` and the state_dict but keep their dtype under ``.half()``
    and other casts (counts above 65504 would be inf in float16); ``weight`` is a buffer
    too.

    Example:
        >>> import torch, torchfocal
        >>> criterion = torchfocal.LogitAdjustedCrossEntropyLoss([100, 10, 1], tau=1.0)
        >>> criterion(torch.tensor([[2.0, 1.5, 1.0], [0.5, 2.0, 0.0]]), torch.tensor([0, 2]))
        tensor(2.7710)
    """

    _function = staticmethod(F.logit_adjusted_cross_entropy)
    _checks = _checking(
        tau=functools.partial(v.check_scalar_in, "tau", low=0.0, high=math.inf),
        label_smoothing=v.check_label_smoothing,
        prior=_positive_class_values("prior"),
    )
    _buffer_options = ("prior", "weight")
    _repr_names = ("tau",)
    _uncast = ("prior",)
    prior: Tensor
    weight: Tensor | None

    def __init__(
        self,
        prior: Tensor | Sequence[float],
        tau: float = 1.0,
        *,
        weight: Tensor | Sequence[float] | None = None,
        ignore_index: int = -100,
        label_smoothing: float = 0.0,
        class_dim: int = 1,
        reduction: str = "mean",
        backend: str = "auto",
    ) -> None:
        super().__init__(**_options(locals()))

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, classes={len(self.prior)}"


class LDAMLoss(_Loss):
    """Label-distribution-aware margin loss; module form of :func:`torchfocal.ldam_loss`, see
    it for every argument.

    ``__init__`` checks the class counts and registers them as the buffer ``class_counts``
    (as given; a sequence in the default dtype; it keeps that dtype under ``.half()`` and
    other casts, which would make counts above 65504 inf); ``weight`` is a buffer that may
    be reassigned, e.g. every epoch on the deferred re-weighting schedule of
    :func:`torchfocal.deferred_reweighting` (LDAM-DRW), and a fresh module loads the
    state_dict saved after that.

    Example:
        >>> import torch, torchfocal
        >>> counts = [1000, 100, 10]
        >>> criterion = torchfocal.LDAMLoss(counts, max_margin=0.5, scale=30.0)
        >>> logits = torch.tensor([[0.5, 0.2, -0.3], [0.1, 0.3, 0.2]])
        >>> criterion(logits, torch.tensor([0, 1]))
        tensor(2.7510)
        >>> criterion.weight = torchfocal.deferred_reweighting(counts, 160, start_epoch=160)
        >>> criterion(logits, torch.tensor([0, 1]))
        tensor(4.9697)
    """

    _function = staticmethod(F.ldam_loss)
    _checks = _checking(
        max_margin=functools.partial(v.check_scalar_in, "max_margin", low=0.0, high=math.inf),
        scale=functools.partial(v.check_positive_scalar, "scale"),
        class_counts=_positive_class_values("class_counts"),
    )
    _buffer_options = ("class_counts", "weight")
    _repr_names = ("max_margin", "scale")
    _uncast = ("class_counts",)
    class_counts: Tensor
    weight: Tensor | None

    def __init__(
        self,
        class_counts: Tensor | Sequence[float],
        max_margin: float = 0.5,
        scale: float = 30.0,
        *,
        weight: Tensor | Sequence[float] | None = None,
        ignore_index: int = -100,
        class_dim: int = 1,
        reduction: str = "mean",
        backend: str = "auto",
    ) -> None:
        super().__init__(**_options(locals()))

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, classes={len(self.class_counts)}"


class _StatefulLoss(_Loss):
    """What the losses with training state share (Seesaw's class counts, EQLv2's gradient
    statistics): ``num_classes`` buffers named in :attr:`_statistics`, added to by
    :meth:`_accumulate` in training mode only.

    ``_Loss`` alone does not fit: its ``distributed`` averages the ``"positives"`` normaliser
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
    _checks = _checking(num_classes=_check_num_classes)

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


class SeesawLoss(_StatefulLoss):
    """Seesaw loss with the class counts of the batches trained on; the module form of
    :func:`torchfocal.seesaw_loss` (see it for the loss and the options).

    The cumulative class counts are the int64 buffer ``class_counts`` (integers: exact to
    2**63, and never cast by ``.to(dtype)``; saved in the state_dict). In training mode each
    batch's targets (``ignore_index`` left out) are added to it before the batch's loss is
    computed, as in the authors' code, so a class's first samples already count; with
    ``distributed=True`` the batch counts are summed over the default process group first,
    so every rank holds the counts of the whole global batch. Eval mode counts nothing.

    Example:
        >>> import torch, torchfocal
        >>> criterion = torchfocal.SeesawLoss(3)
        >>> logits = torch.tensor([[2.0, 1.0, 0.5], [0.0, 1.5, 0.2], [0.3, 0.1, 2.0]])
        >>> criterion(logits, torch.tensor([0, 0, 2]))
        tensor(1.5211)
        >>> criterion.class_counts
        tensor([2, 0, 1])
    """

    _function = staticmethod(F.seesaw_loss)
    _checks = _checking(**_StatefulLoss._checks, ignore_index=v.check_ignore_index)
    _repr_names = ("num_classes", "p", "q", "eps")
    _statistics = _uncast = ("class_counts",)
    class_counts: Tensor
    ignore_index: int
    class_dim: int

    def __init__(
        self,
        num_classes: int,
        *,
        p: float = 0.8,
        q: float = 2.0,
        eps: float = 1e-2,
        ignore_index: int = -100,
        class_dim: int = 1,
        reduction: str = "mean",
        backend: str = "auto",
        distributed: bool = False,
    ) -> None:
        p, q, eps = check_seesaw_options(p, q, eps)
        super().__init__(**_options(locals()))
        self.register_buffer("class_counts", torch.zeros(self.num_classes, dtype=torch.int64))

    def _statistics_of(self, input: Tensor, target: Tensor) -> tuple[Tensor, ...]:
        counts = batch_class_counts(
            input, target, ignore_index=self.ignore_index, class_dim=self.class_dim
        )
        return (counts,)


class EqualizationLossV2(_StatefulLoss):
    """Equalization loss v2 with the gradient statistics of the batches trained on; the
    module form of :func:`torchfocal.equalization_loss_v2` (see it for the loss and the
    options). Its input is ``(N, num_classes)`` logits, its target ``(N,)`` class indices
    with ``num_classes`` for background.

    The statistics are the float64 buffers ``pos_grad`` and ``neg_grad`` (C values each,
    saved in the state_dict; they stay float64 under ``.to(dtype)``). Every weight is 1
    until a class has statistics. In training mode, after the batch's loss is computed with
    the statistics so far, the batch's own are added
    (``torchfocal.losses.equalization.equalization_statistics``: the BCE gradient
    magnitudes of the positives and of the negatives, times the weights the loss used,
    summed over the rows); with ``distributed=True`` they are summed over the default process
    group first, so every rank holds the statistics of the whole global batch. Eval mode
    collects nothing.

    Example:
        >>> import torch, torchfocal
        >>> criterion = torchfocal.EqualizationLossV2(2)
        >>> logits, target = torch.tensor([[0.0, 2.0], [1.0, -1.0]]), torch.tensor([0, 2])
        >>> criterion(logits, target)             # no statistics yet: BCE summed / rows
        tensor(2.2233)
        >>> criterion.pos_grad
        tensor([0.5000, 0.0000], dtype=torch.float64)
        >>> criterion.neg_grad
        tensor([0.7311, 1.1497], dtype=torch.float64)
        >>> criterion(logits, target)             # class 1, no positive so far: weights 5, 7e-5
        tensor(1.5878)
    """

    _function = staticmethod(F.equalization_loss_v2)
    _repr_names = ("num_classes", "gamma", "mu", "alpha")
    _statistics = _uncast = ("pos_grad", "neg_grad")
    _count_first = False
    pos_grad: Tensor
    neg_grad: Tensor
    gamma: float
    mu: float
    alpha: float

    def __init__(
        self,
        num_classes: int,
        *,
        gamma: float = 12.0,
        mu: float = 0.8,
        alpha: float = 4.0,
        reduction: str = "mean",
        backend: str = "auto",
        distributed: bool = False,
    ) -> None:
        gamma, mu, alpha = check_equalization_options(gamma, mu, alpha)
        super().__init__(**_options(locals()))
        self.register_buffer("pos_grad", torch.zeros(self.num_classes, dtype=torch.float64))
        self.register_buffer("neg_grad", torch.zeros(self.num_classes, dtype=torch.float64))

    def _statistics_of(self, input: Tensor, target: Tensor) -> tuple[Tensor, ...]:
        return equalization_statistics(
            input,
            target,
            pos_grad=self.pos_grad,
            neg_grad=self.neg_grad,
            gamma=self.gamma,
            mu=self.mu,
            alpha=self.alpha,
        )


class _RegionLoss(_Loss):
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


class DiceLoss(_RegionLoss):
    """Module form of :func:`torchfocal.dice_loss`; see it for every argument.

    Example:
        >>> import torch, torchfocal
        >>> criterion = torchfocal.DiceLoss(include_background=False)
        >>> criterion(torch.tensor([[[2.0, -1.0]], [[-1.0, 2.0]]]).transpose(0, 1),
        ...           torch.tensor([[0, 1]])).round(decimals=4)
        tensor(0.0474)
    """

    _function = staticmethod(F.dice_loss)
    _repr_names = ("activation", "include_background")

    def __init__(
        self,
        *,
        activation: str = "softmax",
        weight: Tensor | Sequence[float] | None = None,
        include_background: bool = True,
        ignore_index: int = -100,
        class_dim: int = 1,
        smooth_nr: float = 1e-5,
        smooth_dr: float = 1e-5,
        squared: bool = False,
        log: bool = False,
        batch: bool = False,
        reduction: str = "mean",
        distributed: bool = False,
        backend: str = "auto",
    ) -> None:
        super().__init__(**_options(locals()))


class TverskyLoss(_RegionLoss):
    """Module form of :func:`torchfocal.tversky_loss`; see it for every argument.

    Example:
        >>> import torch, torchfocal
        >>> criterion = torchfocal.TverskyLoss(alpha=0.3, beta=0.7, include_background=False)
        >>> criterion(torch.tensor([[[2.0, -1.0]], [[-1.0, 2.0]]]).transpose(0, 1),
        ...           torch.tensor([[0, 1]])).round(decimals=4)
        tensor(0.0474)
    """

    _function = staticmethod(F.tversky_loss)
    _repr_names = ("alpha", "beta", "activation")

    def __init__(
        self,
        *,
        alpha: float = 0.5,
        beta: float = 0.5,
        activation: str = "softmax",
        weight: Tensor | Sequence[float] | None = None,
        include_background: bool = True,
        ignore_index: int = -100,
        class_dim: int = 1,
        smooth_nr: float = 1e-5,
        smooth_dr: float = 1e-5,
        log: bool = False,
        batch: bool = False,
        reduction: str = "mean",
        distributed: bool = False,
        backend: str = "auto",
    ) -> None:
        check_tversky(alpha, beta)
        super().__init__(**_options(locals()))


class FocalTverskyLoss(_RegionLoss):
    """Module form of :func:`torchfocal.focal_tversky_loss`; see it for every argument.

    Example:
        >>> import torch, torchfocal
        >>> criterion = torchfocal.FocalTverskyLoss(include_background=False)
        >>> criterion(torch.tensor([[[2.0, -1.0]], [[-1.0, 2.0]]]).transpose(0, 1),
        ...           torch.tensor([[0, 1]])).round(decimals=4)
        tensor(0.1016)
    """

    _function = staticmethod(F.focal_tversky_loss)
    _checks = _checking(gamma=v.check_gamma)
    _repr_names = ("alpha", "beta", "gamma", "activation")

    def __init__(
        self,
        *,
        alpha: float = 0.3,
        beta: float = 0.7,
        gamma: float = 0.75,
        activation: str = "softmax",
        weight: Tensor | Sequence[float] | None = None,
        include_background: bool = True,
        ignore_index: int = -100,
        class_dim: int = 1,
        smooth_nr: float = 1e-5,
        smooth_dr: float = 1e-5,
        batch: bool = False,
        reduction: str = "mean",
        distributed: bool = False,
        backend: str = "auto",
    ) -> None:
        check_tversky(alpha, beta)
        super().__init__(**_options(locals()))


class GeneralizedDiceLoss(_RegionLoss):
    """Module form of :func:`torchfocal.generalized_dice_loss`; see it for every argument.

    Example:
        >>> import torch, torchfocal
        >>> criterion = torchfocal.GeneralizedDiceLoss(weight_type="simple")
        >>> criterion(torch.tensor([[[2.0, -1.0]], [[-1.0, 2.0]]]).transpose(0, 1),
        ...           torch.tensor([[0, 1]])).round(decimals=4)
        tensor(0.0474)
    """

    _function = staticmethod(F.generalized_dice_loss)
    _repr_names = ("weight_type", "activation")

    def __init__(
        self,
        *,
        weight_type: str = "square",
        activation: str = "softmax",
        include_background: bool = True,
        ignore_index: int = -100,
        class_dim: int = 1,
        smooth_nr: float = 1e-5,
        smooth_dr: float = 1e-5,
        batch: bool = False,
        reduction: str = "mean",
        distributed: bool = False,
        backend: str = "auto",
    ) -> None:
        super().__init__(**_options(locals()))


class DiceFocalLoss(_RegionLoss):
    """Module form of :func:`torchfocal.dice_focal_loss`; see it for every argument.

    Example:
        >>> import torch, torchfocal
        >>> criterion = torchfocal.DiceFocalLoss(lambda_focal=2.0)
        >>> criterion(torch.tensor([[[2.0, -1.0]], [[-1.0, 2.0]]]).transpose(0, 1),
        ...           torch.tensor([[0, 1]])).round(decimals=4)
        tensor(0.0476)
    """

    _function = staticmethod(F.dice_focal_loss)
    _reductions = ("mean", "sum")
    _checks = _checking(gamma=v.check_gamma)
    _repr_names = ("lambda_dice", "lambda_focal", "gamma", "activation")

    def __init__(
        self,
        *,
        lambda_dice: float = 1.0,
        lambda_focal: float = 1.0,
        gamma: float = 2.0,
        alpha: float | Sequence[float] | Tensor | None = None,
        activation: str = "softmax",
        weight: Tensor | Sequence[float] | None = None,
        include_background: bool = True,
        ignore_index: int = -100,
        class_dim: int = 1,
        smooth_nr: float = 1e-5,
        smooth_dr: float = 1e-5,
        squared: bool = False,
        log: bool = False,
        batch: bool = False,
        reduction: str = "mean",
        distributed: bool = False,
        backend: str = "auto",
    ) -> None:
        super().__init__(**_options(locals()))


class DiceCELoss(_RegionLoss):
    """Module form of :func:`torchfocal.dice_ce_loss`; see it for every argument.

    Example:
        >>> import torch, torchfocal
        >>> criterion = torchfocal.DiceCELoss()
        >>> criterion(torch.tensor([[[2.0, -1.0]], [[-1.0, 2.0]]]).transpose(0, 1),
        ...           torch.tensor([[0, 1]])).round(decimals=4)
        tensor(0.0960)
    """

    _function = staticmethod(F.dice_ce_loss)
    _reductions = ("mean", "sum")
    _repr_names = ("lambda_dice", "lambda_ce", "activation")

    def __init__(
        self,
        *,
        lambda_dice: float = 1.0,
        lambda_ce: float = 1.0,
        activation: str = "softmax",
        weight: Tensor | Sequence[float] | None = None,
        include_background: bool = True,
        ignore_index: int = -100,
        class_dim: int = 1,
        smooth_nr: float = 1e-5,
        smooth_dr: float = 1e-5,
        squared: bool = False,
        log: bool = False,
        batch: bool = False,
        reduction: str = "mean",
        distributed: bool = False,
        backend: str = "auto",
    ) -> None:
        super().__init__(**_options(locals()))


class UnifiedFocalLoss(_RegionLoss):
    """Module form of :func:`torchfocal.unified_focal_loss`; see it for every argument.

    Example:
        >>> import torch, torchfocal
        >>> criterion = torchfocal.UnifiedFocalLoss(asymmetric=False)
        >>> criterion(torch.tensor([[[2.0, -1.0]], [[-1.0, 2.0]]]).transpose(0, 1),
        ...           torch.tensor([[0, 1]])).round(decimals=4)
        tensor(0.2204)
    """

    _function = staticmethod(F.unified_focal_loss)
    _reductions = ("mean", "sum")
    # ``weight`` is the paper's lambda (a number), not class weights: no buffer.
    _buffer_options = ()
    _checks = _checking(weight=functools.partial(v.check_scalar_in, "weight", low=0.0, high=1.0))
    _repr_names = ("weight", "delta", "gamma", "asymmetric")

    def __init__(
        self,
        *,
        weight: float = 0.5,
        delta: float = 0.6,
        gamma: float = 0.5,
        asymmetric: bool = True,
        activation: str = "softmax",
        ignore_index: int = -100,
        class_dim: int = 1,
        smooth_nr: float = 1e-5,
        smooth_dr: float = 1e-5,
        batch: bool = False,
        reduction: str = "mean",
        distributed: bool = False,
        backend: str = "auto",
    ) -> None:
        super().__init__(**_options(locals()))


class LovaszSoftmaxLoss(_Loss):
    """Module form of :func:`torchfocal.lovasz_softmax_loss`; see it for every argument.

    Example:
        >>> import torch, torchfocal
        >>> criterion = torchfocal.LovaszSoftmaxLoss(classes="all")
        >>> criterion(torch.tensor([[[2.0, -1.0]], [[-1.0, 2.0]]]).transpose(0, 1),
        ...           torch.tensor([[0, 1]])).round(decimals=4)
        tensor(0.0474)
    """

    _function = staticmethod(F.lovasz_softmax_loss)
    _checks = _checking(per_image=functools.partial(v.check_bool, "per_image"))
    _repr_names = ("classes", "per_image")

    def __init__(
        self,
        *,
        classes: str | Sequence[int] = "present",
        per_image: bool = False,
        ignore_index: int = -100,
        class_dim: int = 1,
        reduction: str = "mean",
        backend: str = "auto",
    ) -> None:
        super().__init__(**_options(locals()))


class LovaszHingeLoss(_Loss):
    """Module form of :func:`torchfocal.lovasz_hinge_loss`; see it for every argument.

    Example:
        >>> import torch, torchfocal
        >>> criterion = torchfocal.LovaszHingeLoss(per_image=True)
        >>> criterion(torch.tensor([[2.0, -1.0, 0.5]]), torch.tensor([[1, 0, 0]]))
        tensor(0.7500)
    """

    _function = staticmethod(F.lovasz_hinge_loss)
    _checks = _checking(per_image=functools.partial(v.check_bool, "per_image"))
    _repr_names = ("per_image",)

    def __init__(
        self,
        *,
        per_image: bool = False,
        ignore_index: int = -100,
        reduction: str = "mean",
        backend: str = "auto",
    ) -> None:
        super().__init__(**_options(locals()))
