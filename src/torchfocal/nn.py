"""nn.Module wrappers: __init__ validates and registers buffers; forward is one call."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from . import functional as F
from ._engine import checks as v
from .weighting import Counts, class_balanced_weights

__all__ = [
    "AsymmetricLoss",
    "ClassBalancedLoss",
    "DistributionFocalLoss",
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


def _register_alpha(
    module: nn.Module, alpha: float | Sequence[float] | Tensor | None, *, high: float
) -> float | None:
    """A number is kept as a float (returned); per-class values become the buffer ``alpha``."""
    if alpha is None or isinstance(alpha, (int, float)):
        module.register_buffer("alpha", None)
        return None if alpha is None else v.check_scalar_in("alpha", alpha, 0.0, high)
    values = _optional_buffer("alpha", alpha)
    if values is not None and not bool(((values >= 0) & (values <= high)).all()):
        raise ValueError(f"alpha must hold values in [0, {high:g}]; got {values.tolist()}")
    module.register_buffer("alpha", values)
    return None


def _alpha_repr(module: nn.Module) -> str:
    alpha = module.scalar_alpha if module.alpha is None else "per-class"
    gamma = (
        module.gamma
        if not callable(module.gamma)
        else getattr(module.gamma, "__name__", "callable")
    )
    return f"alpha={alpha}, gamma={gamma}, reduction={module.reduction!r}"


def _reduction_options(
    reduction: str, allowed: Sequence[str], avg_factor: float | None
) -> tuple[str, float | None]:
    """A checked (reduction, avg_factor) pair."""
    reduction = v.check_reduction(reduction, allowed)
    v.check_avg_factor(avg_factor, reduction)
    return reduction, avg_factor


class SigmoidFocalLoss(nn.Module):
    """Module form of :func:`torchfocal.sigmoid_focal_loss`; see it for every argument.

    Per-class ``alpha``, ``weight`` and ``pos_weight`` are registered as buffers, so they
    follow ``.to()`` / ``.cuda()`` and are saved in the ``state_dict``.

    Example:
        >>> import torch, torchfocal
        >>> criterion = torchfocal.SigmoidFocalLoss(alpha=0.25, gamma=2.0, reduction="sum")
        >>> criterion(torch.tensor([[2.0, -1.0]]), torch.tensor([[1.0, 0.0]])).round(decimals=4)
        tensor(0.0174)
    """

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
        super().__init__()
        self.gamma = v.check_gamma_spec(gamma)
        self.label_smoothing = v.check_scalar_in(
            "label_smoothing", label_smoothing, 0.0, 1.0, high_inclusive=False
        )
        self.reduction = v.check_reduction(reduction, v.SIGMOID_REDUCTIONS)
        v.check_avg_factor(avg_factor, self.reduction)
        self.avg_factor = avg_factor
        self.backend = v.check_backend(backend)
        self.ignore_index = ignore_index
        self.class_dim = class_dim
        self.distributed = distributed
        self.scalar_alpha = _register_alpha(self, alpha, high=1.0)
        self.register_buffer("weight", _optional_buffer("weight", weight))
        self.register_buffer("pos_weight", _optional_buffer("pos_weight", pos_weight))

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.sigmoid_focal_loss(
            input,
            target,
            alpha=self.alpha if self.alpha is not None else self.scalar_alpha,
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

    def extra_repr(self) -> str:
        return _alpha_repr(self)


class SoftmaxFocalLoss(nn.Module):
    """Module form of :func:`torchfocal.softmax_focal_loss`; see it for every argument.

    Per-class ``alpha`` and ``weight`` are buffers (they follow ``.to()`` and the state_dict).

    Example:
        >>> import torch, torchfocal
        >>> criterion = torchfocal.SoftmaxFocalLoss(gamma=2.0, weight=torch.tensor([1.0, 2.0]))
        >>> criterion(torch.tensor([[1.0, -1.0], [0.5, 0.5]]), torch.tensor([0, 1]))
        tensor(0.1161)
    """

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
        super().__init__()
        self.gamma = v.check_gamma_spec(gamma)
        self.label_smoothing = v.check_scalar_in(
            "label_smoothing", label_smoothing, 0.0, 1.0, high_inclusive=False
        )
        self.reduction = v.check_reduction(reduction, v.REDUCTIONS)
        self.backend = v.check_backend(backend)
        self.ignore_index = ignore_index
        self.class_dim = class_dim
        self.scalar_alpha = _register_alpha(self, alpha, high=float("inf"))
        self.register_buffer("weight", _optional_buffer("weight", weight))

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.softmax_focal_loss(
            input,
            target,
            alpha=self.alpha if self.alpha is not None else self.scalar_alpha,
            gamma=self.gamma,
            weight=self.weight,
            ignore_index=self.ignore_index,
            label_smoothing=self.label_smoothing,
            class_dim=self.class_dim,
            reduction=self.reduction,
            backend=self.backend,
        )

    def extra_repr(self) -> str:
        return _alpha_repr(self)


class ClassBalancedLoss(nn.Module):
    """Cui et al.'s class-balanced loss; module form of :func:`torchfocal.class_balanced_loss`.

    ``__init__`` turns the class counts into :func:`torchfocal.class_balanced_weights`
    (``beta``) and registers them as the buffer ``weights``.

    Example:
        >>> import torch, torchfocal
        >>> criterion = torchfocal.ClassBalancedLoss([500, 50, 5], beta=0.999, loss="softmax")
        >>> criterion(torch.tensor([[2.0, -1.0, -2.0], [-1.0, -1.0, 1.0]]), torch.tensor([0, 2]))
        tensor(0.3234)
    """

    weights: Tensor

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
        super().__init__()
        if loss not in ("focal", "sigmoid", "softmax"):
            raise ValueError(f"loss must be one of 'focal' | 'sigmoid' | 'softmax'; got {loss!r}")
        self.loss = loss
        self.gamma = None if gamma is None else v.check_gamma(gamma)
        self.reduction = v.check_reduction(reduction, v.REDUCTIONS)
        self.backend = v.check_backend(backend)
        self.ignore_index = ignore_index
        self.class_dim = class_dim
        self.beta = beta
        self.register_buffer("weights", class_balanced_weights(counts, beta))

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.class_balanced_loss(
            input,
            target,
            weights=self.weights,
            loss=self.loss,
            gamma=self.gamma,
            ignore_index=self.ignore_index,
            class_dim=self.class_dim,
            reduction=self.reduction,
            backend=self.backend,
        )

    def extra_repr(self) -> str:
        return (
            f"loss={self.loss!r}, beta={self.beta}, gamma={self.gamma}, classes={len(self.weights)}"
        )


class SigmoidFocalLossStar(nn.Module):
    """Module form of :func:`torchfocal.sigmoid_focal_loss_star` (FL*); see it for every argument.

    Example:
        >>> import torch, torchfocal
        >>> criterion = torchfocal.SigmoidFocalLossStar(gamma=2.0, beta=1.0)
        >>> criterion(torch.tensor([[2.0, -1.0]]), torch.tensor([[1.0, 0.0]]))
        tensor(0.0138)
    """

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
        backend: str = "auto",
    ) -> None:
        super().__init__()
        self.gamma = v.check_star_gamma(gamma)
        self.beta = v.check_scalar_in("beta", beta, float("-inf"), float("inf"))
        self.reduction, self.avg_factor = _reduction_options(
            reduction, v.SIGMOID_REDUCTIONS, avg_factor
        )
        self.backend = v.check_backend(backend)
        self.ignore_index = ignore_index
        self.class_dim = class_dim
        self.scalar_alpha = _register_alpha(self, alpha, high=1.0)
        self.register_buffer("weight", _optional_buffer("weight", weight))

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.sigmoid_focal_loss_star(
            input,
            target,
            gamma=self.gamma,
            beta=self.beta,
            alpha=self.alpha if self.alpha is not None else self.scalar_alpha,
            weight=self.weight,
            ignore_index=self.ignore_index,
            class_dim=self.class_dim,
            reduction=self.reduction,
            avg_factor=self.avg_factor,
            backend=self.backend,
        )

    def extra_repr(self) -> str:
        return f"beta={self.beta}, " + _alpha_repr(self)


class AsymmetricLoss(nn.Module):
    """Module form of :func:`torchfocal.asymmetric_loss` (ASL); see it for every argument.

    Example:
        >>> import torch, torchfocal
        >>> criterion = torchfocal.AsymmetricLoss(gamma_neg=4.0, clip=0.05, reduction="sum")
        >>> criterion(torch.tensor([[2.0, -1.0, -3.0]]), torch.tensor([[1, 0, 0]]))
        tensor(0.1275)
    """

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
        backend: str = "auto",
    ) -> None:
        super().__init__()
        self.gamma_pos = v.check_scalar_in("gamma_pos", gamma_pos, 0.0, float("inf"))
        self.gamma_neg = v.check_scalar_in("gamma_neg", gamma_neg, 0.0, float("inf"))
        self.clip = v.check_scalar_in("clip", clip, 0.0, 1.0, high_inclusive=False)
        self.reduction, self.avg_factor = _reduction_options(
            reduction, v.SIGMOID_REDUCTIONS, avg_factor
        )
        self.backend = v.check_backend(backend)
        self.ignore_index = ignore_index
        self.class_dim = class_dim
        self.register_buffer("weight", _optional_buffer("weight", weight))

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
            backend=self.backend,
        )

    def extra_repr(self) -> str:
        return (
            f"gamma_pos={self.gamma_pos}, gamma_neg={self.gamma_neg}, clip={self.clip}, "
            f"reduction={self.reduction!r}"
        )


class Poly1FocalLoss(nn.Module):
    """Module form of :func:`torchfocal.poly1_focal_loss`; see it for every argument.

    Example:
        >>> import torch, torchfocal
        >>> criterion = torchfocal.Poly1FocalLoss(epsilon=1.0, gamma=2.0, activation="softmax")
        >>> criterion(torch.tensor([[2.0, 0.5, -1.0], [0.0, 0.0, 3.0]]), torch.tensor([0, 1]))
        tensor(1.8561)
    """

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
        backend: str = "auto",
    ) -> None:
        super().__init__()
        self.activation = v.check_activation(activation)
        self.epsilon = v.check_scalar_in("epsilon", epsilon, -1.0, float("inf"))
        self.gamma = v.check_gamma(gamma)
        self.label_smoothing = v.check_scalar_in(
            "label_smoothing", label_smoothing, 0.0, 1.0, high_inclusive=False
        )
        allowed = v.SIGMOID_REDUCTIONS if activation == "sigmoid" else v.REDUCTIONS
        self.reduction, self.avg_factor = _reduction_options(reduction, allowed, avg_factor)
        self.backend = v.check_backend(backend)
        self.ignore_index = ignore_index
        self.class_dim = class_dim
        high = 1.0 if activation == "sigmoid" else float("inf")
        self.scalar_alpha = _register_alpha(self, alpha, high=high)
        self.register_buffer("weight", _optional_buffer("weight", weight))

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.poly1_focal_loss(
            input,
            target,
            epsilon=self.epsilon,
            gamma=self.gamma,
            alpha=self.alpha if self.alpha is not None else self.scalar_alpha,
            activation=self.activation,
            weight=self.weight,
            ignore_index=self.ignore_index,
            label_smoothing=self.label_smoothing,
            class_dim=self.class_dim,
            reduction=self.reduction,
            avg_factor=self.avg_factor,
            backend=self.backend,
        )

    def extra_repr(self) -> str:
        return f"epsilon={self.epsilon}, activation={self.activation!r}, " + _alpha_repr(self)


class Poly1CrossEntropyLoss(Poly1FocalLoss):
    """Module form of :func:`torchfocal.poly1_cross_entropy` (Poly-1 with gamma 0, no alpha).

    Example:
        >>> import torch, torchfocal
        >>> criterion = torchfocal.Poly1CrossEntropyLoss(epsilon=1.0)
        >>> criterion(torch.tensor([[2.0, 0.5, -1.0], [0.0, 0.0, 3.0]]), torch.tensor([0, 1]))
        tensor(2.2527)
    """

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
            backend=backend,
        )

    def extra_repr(self) -> str:
        return (
            f"epsilon={self.epsilon}, activation={self.activation!r}, reduction={self.reduction!r}"
        )


class VarifocalLoss(nn.Module):
    """Module form of :func:`torchfocal.varifocal_loss`; see it for every argument.

    Example:
        >>> import torch, torchfocal
        >>> criterion = torchfocal.VarifocalLoss(alpha=0.75, gamma=2.0, reduction="sum")
        >>> criterion(torch.tensor([[1.0, -2.0]]), torch.tensor([[0.8, 0.0]]))
        tensor(0.4120)
    """

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
        backend: str = "auto",
    ) -> None:
        super().__init__()
        self.alpha = v.check_scalar_in("alpha", alpha, 0.0, 1.0)
        self.gamma = v.check_gamma(gamma)
        self.iou_weighted = v.check_bool("iou_weighted", iou_weighted)
        self.reduction, self.avg_factor = _reduction_options(reduction, v.REDUCTIONS, avg_factor)
        self.backend = v.check_backend(backend)
        self.register_buffer("weight", _optional_buffer("weight", weight))

    def forward(self, input: Tensor, target_score: Tensor) -> Tensor:
        return F.varifocal_loss(
            input,
            target_score,
            alpha=self.alpha,
            gamma=self.gamma,
            iou_weighted=self.iou_weighted,
            weight=self.weight,
            reduction=self.reduction,
            avg_factor=self.avg_factor,
            backend=self.backend,
        )

    def extra_repr(self) -> str:
        return (
            f"alpha={self.alpha}, gamma={self.gamma}, iou_weighted={self.iou_weighted}, "
            f"reduction={self.reduction!r}"
        )


class QualityFocalLoss(nn.Module):
    """Module form of :func:`torchfocal.quality_focal_loss`; see it for every argument.

    Example:
        >>> import torch, torchfocal
        >>> criterion = torchfocal.QualityFocalLoss(beta=2.0, reduction="sum")
        >>> criterion(torch.tensor([[1.0, -2.0]]), torch.tensor([[0.8, 0.0]]))
        tensor(0.0042)
    """

    weight: Tensor | None

    def __init__(
        self,
        *,
        beta: float = 2.0,
        weight: Tensor | None = None,
        reduction: str = "mean",
        avg_factor: float | None = None,
        backend: str = "auto",
    ) -> None:
        super().__init__()
        self.beta = v.check_quality_beta(beta)
        self.reduction, self.avg_factor = _reduction_options(reduction, v.REDUCTIONS, avg_factor)
        self.backend = v.check_backend(backend)
        self.register_buffer("weight", _optional_buffer("weight", weight))

    def forward(self, input: Tensor, target_score: Tensor) -> Tensor:
        return F.quality_focal_loss(
            input,
            target_score,
            beta=self.beta,
            weight=self.weight,
            reduction=self.reduction,
            avg_factor=self.avg_factor,
            backend=self.backend,
        )

    def extra_repr(self) -> str:
        return f"beta={self.beta}, reduction={self.reduction!r}"


class DistributionFocalLoss(nn.Module):
    """Module form of :func:`torchfocal.distribution_focal_loss`; see it for every argument.

    Example:
        >>> import torch, torchfocal
        >>> criterion = torchfocal.DistributionFocalLoss()
        >>> criterion(torch.tensor([[0.0, 2.0, 1.0, -1.0]]), torch.tensor([1.3]))
        tensor(0.7402)
    """

    weight: Tensor | None

    def __init__(
        self,
        *,
        weight: Tensor | None = None,
        bin_dim: int = -1,
        reduction: str = "mean",
        avg_factor: float | None = None,
        backend: str = "auto",
    ) -> None:
        super().__init__()
        self.reduction, self.avg_factor = _reduction_options(reduction, v.REDUCTIONS, avg_factor)
        self.backend = v.check_backend(backend)
        self.bin_dim = bin_dim
        self.register_buffer("weight", _optional_buffer("weight", weight))

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.distribution_focal_loss(
            input,
            target,
            weight=self.weight,
            bin_dim=self.bin_dim,
            reduction=self.reduction,
            avg_factor=self.avg_factor,
            backend=self.backend,
        )

    def extra_repr(self) -> str:
        return f"bin_dim={self.bin_dim}, reduction={self.reduction!r}"
