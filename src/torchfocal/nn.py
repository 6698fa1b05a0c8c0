"""nn.Module wrappers on one base class: __init__ validates and registers buffers; forward is
one call of the loss's function."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from . import functional as F
from ._engine import checks as v
from ._engine.deprecation import renamed
from .weighting import Counts, class_balanced_weights

__all__ = [
    "AsymmetricLoss",
    "ClassBalancedLoss",
    "DistributionFocalLoss",
    "LDAMLoss",
    "LogitAdjustedCrossEntropyLoss",
    "Poly1CrossEntropyLoss",
    "Poly1FocalLoss",
    "QualityFocalLoss",
    "SigmoidFocalLoss",
    "SigmoidFocalLossStar",
    "SoftmaxFocalLoss",
    "VarifocalLoss",
]


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


class _Loss(nn.Module):
    """What every loss module shares.

    ``__init__`` checks and stores the options every loss names alike (``reduction``,
    ``avg_factor``, ``distributed``, ``backend``); :meth:`_register_optional` and
    :meth:`_register_alpha` turn tensor options into buffers (they follow ``.to()`` and the
    state_dict), a number alpha being kept as the float ``scalar_alpha`` beside a ``None``
    buffer ``alpha``; ``extra_repr`` shows :attr:`_repr_names`, the reduction and the shared
    options that differ from their defaults. A subclass checks its own options and makes
    ``forward`` one call of its function.
    """

    #: The attributes ``extra_repr`` shows first, in this order.
    _repr_names: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self,
        *,
        reduction: str,
        reductions: Sequence[str],
        avg_factor: float | None = None,
        distributed: bool = False,
        backend: str = "auto",
    ) -> None:
        super().__init__()
        self.reduction = v.check_reduction(reduction, reductions)
        v.check_avg_factor(avg_factor, self.reduction)
        self.avg_factor = avg_factor
        self.distributed = v.check_distributed(distributed, self.reduction)
        self.backend = v.check_backend(backend)

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

    def _alpha_argument(self) -> float | Tensor | None:
        """The alpha to pass to the function: the buffer, else the number."""
        alpha = self._buffers["alpha"]
        return alpha if alpha is not None else self.scalar_alpha

    def _repr_value(self, name: str) -> str:
        if name == "alpha":
            return "per-class" if self._buffers["alpha"] is not None else str(self.scalar_alpha)
        value = getattr(self, name)
        if name == "gamma":
            # A schedule by its name: "flsd53" or the callable's.
            return getattr(value, "__name__", "callable") if callable(value) else str(value)
        return repr(value)

    def extra_repr(self) -> str:
        parts = [f"{name}={self._repr_value(name)}" for name in self._repr_names]
        parts.append(f"reduction={self.reduction!r}")
        if self.avg_factor is not None:
            parts.append(f"avg_factor={self.avg_factor!r}")
        if self.distributed:
            parts.append("distributed=True")
        if self.backend != "auto":
            parts.append(f"backend={self.backend!r}")
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
        super().__init__(
            reduction=reduction,
            reductions=v.SIGMOID_REDUCTIONS,
            avg_factor=avg_factor,
            distributed=distributed,
            backend=backend,
        )
        self.gamma = v.check_gamma_spec(gamma)
        self.label_smoothing = v.check_label_smoothing(label_smoothing)
        self.ignore_index = ignore_index
        self.class_dim = class_dim
        self._register_alpha(alpha, high=1.0)
        self._register_optional("weight", weight)
        self._register_optional("pos_weight", pos_weight)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.sigmoid_focal_loss(
            input,
            target,
            alpha=self._alpha_argument(),
            gamma=self.gamma,
            weight=self.weight,
            pos_weight=self.pos_weight,
            label_smoothing=self.label_smoothing,
            ignore_index=self.ignore_index,
            class_dim=self.class_dim,
            reduction=self.reduction,
            avg_factor=self.avg_factor,
            distributed=self.distributed,
            backend=self.backend,
        )


class SoftmaxFocalLoss(_Loss):
    """Module form of :func:`torchfocal.softmax_focal_loss`; see it for every argument.

    Per-class ``alpha`` and ``weight`` are buffers (they follow ``.to()`` and the state_dict).

    Example:
        >>> import torch, torchfocal
        >>> criterion = torchfocal.SoftmaxFocalLoss(gamma=2.0, weight=torch.tensor([1.0, 2.0]))
        >>> criterion(torch.tensor([[1.0, -1.0], [0.5, 0.5]]), torch.tensor([0, 1]))
        tensor(0.1161)
    """

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
        super().__init__(reduction=reduction, reductions=v.REDUCTIONS, backend=backend)
        self.gamma = v.check_gamma_spec(gamma)
        self.label_smoothing = v.check_label_smoothing(label_smoothing)
        self.ignore_index = ignore_index
        self.class_dim = class_dim
        self._register_alpha(alpha, high=float("inf"))
        self._register_optional("weight", weight)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.softmax_focal_loss(
            input,
            target,
            alpha=self._alpha_argument(),
            gamma=self.gamma,
            weight=self.weight,
            ignore_index=self.ignore_index,
            label_smoothing=self.label_smoothing,
            class_dim=self.class_dim,
            reduction=self.reduction,
            backend=self.backend,
        )


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
        super().__init__(reduction=reduction, reductions=v.REDUCTIONS, backend=backend)
        if loss not in ("focal", "sigmoid", "softmax"):
            raise ValueError(f"loss must be one of 'focal' | 'sigmoid' | 'softmax'; got {loss!r}")
        self.loss = loss
        self.gamma = None if gamma is None else v.check_gamma(gamma)
        self.ignore_index = ignore_index
        self.class_dim = class_dim
        self.beta = beta
        self.register_buffer("weight", class_balanced_weights(counts, beta))

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.class_balanced_loss(
            input,
            target,
            weight=self.weight,
            loss=self.loss,
            gamma=self.gamma,
            ignore_index=self.ignore_index,
            class_dim=self.class_dim,
            reduction=self.reduction,
            backend=self.backend,
        )

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
        super().__init__(
            reduction=reduction,
            reductions=v.SIGMOID_REDUCTIONS,
            avg_factor=avg_factor,
            distributed=distributed,
            backend=backend,
        )
        self.gamma = v.check_star_gamma(gamma)
        self.beta = v.check_scalar_in("beta", beta, float("-inf"), float("inf"))
        self.ignore_index = ignore_index
        self.class_dim = class_dim
        self._register_alpha(alpha, high=1.0)
        self._register_optional("weight", weight)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.sigmoid_focal_loss_star(
            input,
            target,
            gamma=self.gamma,
            beta=self.beta,
            alpha=self._alpha_argument(),
            weight=self.weight,
            ignore_index=self.ignore_index,
            class_dim=self.class_dim,
            reduction=self.reduction,
            avg_factor=self.avg_factor,
            distributed=self.distributed,
            backend=self.backend,
        )


class AsymmetricLoss(_Loss):
    """Module form of :func:`torchfocal.asymmetric_loss` (ASL); see it for every argument.

    Example:
        >>> import torch, torchfocal
        >>> criterion = torchfocal.AsymmetricLoss(gamma_neg=4.0, clip=0.05, reduction="sum")
        >>> criterion(torch.tensor([[2.0, -1.0, -3.0]]), torch.tensor([[1, 0, 0]]))
        tensor(0.1275)
    """

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
        super().__init__(
            reduction=reduction,
            reductions=v.SIGMOID_REDUCTIONS,
            avg_factor=avg_factor,
            distributed=distributed,
            backend=backend,
        )
        self.gamma_pos = v.check_scalar_in("gamma_pos", gamma_pos, 0.0, float("inf"))
        self.gamma_neg = v.check_scalar_in("gamma_neg", gamma_neg, 0.0, float("inf"))
        self.clip = v.check_scalar_in("clip", clip, 0.0, 1.0, high_inclusive=False)
        self.ignore_index = ignore_index
        self.class_dim = class_dim
        self._register_optional("weight", weight)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.asymmetric_loss(
            input,
            target,
            gamma_pos=self.gamma_pos,
            gamma_neg=self.gamma_neg,
            clip=self.clip,
            weight=self.weight,
            ignore_index=self.ignore_index,
            class_dim=self.class_dim,
            reduction=self.reduction,
            avg_factor=self.avg_factor,
            distributed=self.distributed,
            backend=self.backend,
        )


class Poly1FocalLoss(_Loss):
    """Module form of :func:`torchfocal.poly1_focal_loss`; see it for every argument.

    Example:
        >>> import torch, torchfocal
        >>> criterion = torchfocal.Poly1FocalLoss(epsilon=1.0, gamma=2.0, activation="softmax")
        >>> criterion(torch.tensor([[2.0, 0.5, -1.0], [0.0, 0.0, 3.0]]), torch.tensor([0, 1]))
        tensor(1.8561)
    """

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
        activation = v.check_activation(activation)
        super().__init__(
            reduction=reduction,
            reductions=v.SIGMOID_REDUCTIONS if activation == "sigmoid" else v.REDUCTIONS,
            avg_factor=avg_factor,
            distributed=distributed,
            backend=backend,
        )
        self.activation = activation
        self.epsilon = v.check_scalar_in("epsilon", epsilon, -1.0, float("inf"))
        self.gamma = v.check_gamma(gamma)
        self.label_smoothing = v.check_label_smoothing(label_smoothing)
        self.ignore_index = ignore_index
        self.class_dim = class_dim
        self._register_alpha(alpha, high=1.0 if activation == "sigmoid" else float("inf"))
        self._register_optional("weight", weight)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.poly1_focal_loss(
            input,
            target,
            epsilon=self.epsilon,
            gamma=self.gamma,
            alpha=self._alpha_argument(),
            activation=self.activation,
            weight=self.weight,
            ignore_index=self.ignore_index,
            label_smoothing=self.label_smoothing,
            class_dim=self.class_dim,
            reduction=self.reduction,
            avg_factor=self.avg_factor,
            distributed=self.distributed,
            backend=self.backend,
        )


class Poly1CrossEntropyLoss(Poly1FocalLoss):
    """Module form of :func:`torchfocal.poly1_cross_entropy` (Poly-1 with gamma 0, no alpha).

    Example:
        >>> import torch, torchfocal
        >>> criterion = torchfocal.Poly1CrossEntropyLoss(epsilon=1.0)
        >>> criterion(torch.tensor([[2.0, 0.5, -1.0], [0.0, 0.0, 3.0]]), torch.tensor([0, 1]))
        tensor(2.2527)
    """

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
        super().__init__(
            epsilon=epsilon,
            gamma=0.0,
            alpha=None,
            activation=activation,
            weight=weight,
            ignore_index=ignore_index,
            label_smoothing=label_smoothing,
            class_dim=class_dim,
            reduction=reduction,
            avg_factor=avg_factor,
            distributed=distributed,
            backend=backend,
        )


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
        super().__init__(
            reduction=reduction,
            reductions=v.SIGMOID_REDUCTIONS,
            avg_factor=avg_factor,
            distributed=distributed,
            backend=backend,
        )
        # One alpha for every class (the function takes no per-class values).
        self._register_alpha(v.check_scalar_in("alpha", alpha, 0.0, 1.0), high=1.0)
        self.gamma = v.check_gamma(gamma)
        self.iou_weighted = v.check_bool("iou_weighted", iou_weighted)
        self._register_optional("weight", weight)

    @renamed(target_score="target")
    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.varifocal_loss(
            input,
            target,
            alpha=self.scalar_alpha,
            gamma=self.gamma,
            iou_weighted=self.iou_weighted,
            weight=self.weight,
            reduction=self.reduction,
            avg_factor=self.avg_factor,
            distributed=self.distributed,
            backend=self.backend,
        )


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
        super().__init__(
            reduction=reduction,
            reductions=v.SIGMOID_REDUCTIONS,
            avg_factor=avg_factor,
            distributed=distributed,
            backend=backend,
        )
        self.beta = v.check_quality_beta(beta)
        self._register_optional("weight", weight)

    @renamed(target_score="target")
    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.quality_focal_loss(
            input,
            target,
            beta=self.beta,
            weight=self.weight,
            reduction=self.reduction,
            avg_factor=self.avg_factor,
            distributed=self.distributed,
            backend=self.backend,
        )


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
        super().__init__(
            reduction=reduction, reductions=v.REDUCTIONS, avg_factor=avg_factor, backend=backend
        )
        self.class_dim = class_dim
        self._register_optional("weight", weight)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.distribution_focal_loss(
            input,
            target,
            weight=self.weight,
            class_dim=self.class_dim,
            reduction=self.reduction,
            avg_factor=self.avg_factor,
            backend=self.backend,
        )


class LogitAdjustedCrossEntropyLoss(_Loss):
    """Logit-adjusted cross-entropy (balanced softmax at ``tau=1``); module form of
    :func:`torchfocal.logit_adjusted_cross_entropy`, see it for every argument.

    ``__init__`` checks the class counts or frequencies and registers them as the buffer
    ``prior``, as given (a sequence in the default dtype; the loss normalises them), so
    they follow ``.to()`` and the state_dict; ``weight`` is a buffer too.

    Example:
        >>> import torch, torchfocal
        >>> criterion = torchfocal.LogitAdjustedCrossEntropyLoss([100, 10, 1], tau=1.0)
        >>> criterion(torch.tensor([[2.0, 1.5, 1.0], [0.5, 2.0, 0.0]]), torch.tensor([0, 2]))
        tensor(2.7710)
    """

    _repr_names = ("tau",)
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
        super().__init__(reduction=reduction, reductions=v.REDUCTIONS, backend=backend)
        self.tau = v.check_scalar_in("tau", tau, 0.0, float("inf"))
        self.label_smoothing = v.check_label_smoothing(label_smoothing)
        self.ignore_index = ignore_index
        self.class_dim = class_dim
        v.check_positive_class_values("prior", prior)
        self._register_optional("prior", prior)
        self._register_optional("weight", weight)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.logit_adjusted_cross_entropy(
            input,
            target,
            prior=self.prior,
            tau=self.tau,
            weight=self.weight,
            ignore_index=self.ignore_index,
            label_smoothing=self.label_smoothing,
            class_dim=self.class_dim,
            reduction=self.reduction,
            backend=self.backend,
        )

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, classes={len(self.prior)}"


class LDAMLoss(_Loss):
    """Label-distribution-aware margin loss; module form of :func:`torchfocal.ldam_loss`, see
    it for every argument.

    ``__init__`` checks the class counts and registers them as the buffer ``class_counts``
    (as given; a sequence in the default dtype); ``weight`` is a buffer that may be
    reassigned, e.g. every epoch on the deferred re-weighting schedule of
    :func:`torchfocal.deferred_reweighting` (LDAM-DRW).

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

    _repr_names = ("max_margin", "scale")
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
        super().__init__(reduction=reduction, reductions=v.REDUCTIONS, backend=backend)
        self.max_margin = v.check_scalar_in("max_margin", max_margin, 0.0, float("inf"))
        self.scale = v.check_positive_scalar("scale", scale)
        self.ignore_index = ignore_index
        self.class_dim = class_dim
        v.check_positive_class_values("class_counts", class_counts)
        self._register_optional("class_counts", class_counts)
        self._register_optional("weight", weight)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.ldam_loss(
            input,
            target,
            class_counts=self.class_counts,
            max_margin=self.max_margin,
            scale=self.scale,
            weight=self.weight,
            ignore_index=self.ignore_index,
            class_dim=self.class_dim,
            reduction=self.reduction,
            backend=self.backend,
        )

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, classes={len(self.class_counts)}"
