"""``FocalBCEWithLogitLoss`` of Cui et al.'s class-balanced-loss code (its PyTorch focal loss)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .._engine import checks as v
from ..functional import sigmoid_focal_loss
from ..weighting import Counts
from ._checks import check_binary_target, check_optional_tensor, compute_dtype
from ._seed004 import is_hard, soft_focal_bce


def _align_to_dim1(value: Tensor, input: Tensor) -> Tensor:
    """A 1-D tensor of C values lines up with dimension 1 of an (N, C, ...) input."""
    if value.dim() == 1 and input.dim() >= 2 and value.numel() == input.shape[1]:
        return value.reshape([1, -1] + [1] * (input.dim() - 2))
    return value


class FocalBCEWithLogitLoss(nn.Module):
    """Focal loss on BCE with logits, with Cui et al.'s alpha and pos_weight conventions.

    ``loss = pos_weight * alpha_t * modulator * BCE(x, y)``, reduced by ``reduction``:

    - ``alpha``: ``None``, a number for every class, or one value per class (a list, array
      or tensor lined up with dimension 1); ``alpha_t = alpha y + (1 - alpha)(1 - y)``.
    - ``pos_weight`` multiplies the *whole* focal term of every element, positive or
      negative. This is not ``BCEWithLogitsLoss``'s ``pos_weight``, which scales only the
      positive part ``-y log p`` (torchfocal's ``sigmoid_focal_loss`` follows torch there).
    - ``modulator = exp(-gamma y x - gamma log(1 + exp(-x)))``, which is
      ``(1 - p_t) ** gamma`` for y in {0, 1}; for soft y it is ``p**gamma exp(-gamma y x)``
      (kept here as the seed has it). It is evaluated in log space (softplus), finite for
      every finite logit.
    - ``weight``: the seed registers it but never applies it; here it multiplies each
      element, as ``BCEWithLogitsLoss``'s ``weight`` does (leave it ``None`` for the seed's
      numbers).
    - Any input rank: the seed's ``alpha.repeat(N, 1)`` only works for ``(N, C)``. The
      classes are dimension 1, or dimension 0 of a 1-D input; a 0-d input takes only a
      scalar alpha.
    - ``target`` has the input's exact shape: float in [0, 1], bool or integer 0/1.
    - float16 / bfloat16 are computed in float32 (the soft-target formula, alpha, the
      weights and the reduction) and returned in the input's dtype, as in the core.

    For 0/1 targets this equals ``torchfocal.sigmoid_focal_loss(input, target, alpha=alpha,
    gamma=gamma, weight=pos_weight * weight, reduction=reduction)`` and is computed by it.

    Example:
        >>> import torch
        >>> from torchfocal.compat.class_balanced import FocalBCEWithLogitLoss
        >>> criterion = FocalBCEWithLogitLoss(gamma=2, alpha=[0.25, 0.75])
        >>> criterion(torch.tensor([[2.0, -1.0]]), torch.tensor([[1.0, 0.0]])).round(decimals=4)
        tensor(0.0031)
    """

    alpha_buffer: Tensor | None
    weight: Tensor | None
    pos_weight: Tensor | None

    def __init__(
        self,
        gamma: float = 2,
        alpha: float | Counts | None = None,  # Counts: one value per class, any container
        weight: Tensor | None = None,
        reduction: str = "mean",
        pos_weight: Tensor | None = None,
    ) -> None:
        super().__init__()
        self.gamma = v.check_gamma(gamma)
        self.reduction = v.check_reduction(reduction, v.REDUCTIONS)
        self.scalar_alpha: float | None = None
        alpha_tensor = None
        # alpha is checked here for every target kind: 0/1 targets go through the core,
        # which would reject alpha outside [0, 1], and soft targets must not accept it silently.
        if isinstance(alpha, (int, float)) and not isinstance(alpha, bool):
            self.scalar_alpha = v.check_scalar_in("alpha", alpha, 0.0, 1.0)
        elif alpha is not None:
            alpha_tensor = _per_class_alpha(alpha)
        self.register_buffer("alpha_buffer", alpha_tensor)
        self.register_buffer("weight", check_optional_tensor("weight", weight))
        self.register_buffer("pos_weight", check_optional_tensor("pos_weight", pos_weight))

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        input = v.check_float_input("input", input)
        target = check_binary_target("target", target, input_name="input", input=input)
        # Half precision is computed in float32 (soft targets, alpha, weights and the
        # reduction alike) and returned in the input's dtype, as the core does.
        dtype = compute_dtype(input)
        alpha: float | Tensor | None = self.scalar_alpha
        if self.alpha_buffer is not None:
            if input.dim() == 0:
                raise ValueError(
                    f"alpha must be a single float for a 0-d input (per-class values need a "
                    f"class dimension); got {self.alpha_buffer.numel()} values"
                )
            class_dim = 1 if input.dim() >= 2 else 0
            classes = input.shape[class_dim]
            if self.alpha_buffer.numel() != classes:
                raise ValueError(
                    f"alpha must have one value per class ({classes} along dimension "
                    f"{class_dim}); got {self.alpha_buffer.numel()} values"
                )
            v.check_same_device("alpha", self.alpha_buffer, input)
            alpha = _align_to_dim1(self.alpha_buffer.to(dtype), input)
        scale = None
        for name, factor in (("pos_weight", self.pos_weight), ("weight", self.weight)):
            if factor is not None:
                v.check_same_device(name, factor, input)
                factor = _align_to_dim1(factor.to(dtype), input)
                v.broadcast_to_input(name, factor, input.shape)
                scale = factor if scale is None else scale * factor
        if is_hard(target):
            per_class_alpha = alpha if isinstance(alpha, Tensor) else None
            return sigmoid_focal_loss(
                input,
                target,
                alpha=alpha if per_class_alpha is None else per_class_alpha.reshape(-1),
                gamma=self.gamma,
                weight=scale,
                class_dim=1 if input.dim() >= 2 else 0,
                reduction=self.reduction,
            )
        soft = target.to(dtype)
        loss = soft_focal_bce(input.to(dtype), soft, self.gamma)
        if alpha is not None:
            loss = (alpha * soft + (1 - alpha) * (1 - soft)) * loss
        if scale is not None:
            loss = scale * loss
        if self.reduction == "mean":
            loss = loss.mean()
        elif self.reduction == "sum":
            loss = loss.sum()
        return loss.to(input.dtype)


def _per_class_alpha(alpha: object) -> Tensor:
    """A non-empty 1-D sequence, array or tensor of values in [0, 1], as float32 (the seed
    stores a list alpha as ``torch.Tensor(alpha)``)."""
    expected = "None, a float or a sequence of per-class floats"
    if isinstance(alpha, bool):
        raise TypeError(f"alpha must be {expected}; got bool")
    if isinstance(alpha, Tensor):
        if not (alpha.is_floating_point() or v.is_integer_dtype(alpha.dtype)):
            raise TypeError(f"alpha must be a real tensor; got {alpha.dtype}")
        values = alpha.detach().to(device="cpu", dtype=torch.float64)
    else:
        try:
            # lists, tuples and NumPy arrays alike; torch says RuntimeError for some objects
            values = torch.as_tensor(alpha, dtype=torch.float64)
        except (TypeError, ValueError, RuntimeError):
            raise TypeError(f"alpha must be {expected}; got {type(alpha).__name__}") from None
    if values.dim() != 1 or values.numel() == 0:
        raise ValueError(
            f"alpha must be a float or a non-empty 1-D sequence of per-class values; "
            f"got shape {v.shape_str(values.shape)}"
        )
    inside = (values >= 0) & (values <= 1)
    if not bool(inside.all()):
        raise ValueError(f"alpha must hold values in [0, 1]; got {values[~inside][0].item():g}")
    return values.float()
