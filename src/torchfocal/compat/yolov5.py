"""The YOLOv5 ``FocalLoss``: wraps an ``nn.BCEWithLogitsLoss`` and takes over its reduction."""

from __future__ import annotations

from torch import Tensor, nn

from .._engine import checks as v
from ..functional import sigmoid_focal_loss
from ._checks import check_binary_target


class FocalLoss(nn.Module):
    """YOLOv5's focal loss around an existing ``nn.BCEWithLogitsLoss``.

    ``FocalLoss(nn.BCEWithLogitsLoss(weight=w, pos_weight=pw, reduction=r), gamma, alpha)``
    computes the wrapped loss per element (its ``weight`` and ``pos_weight`` included),
    multiplies by ``alpha_t (1 - p_t) ** gamma`` and applies the wrapped loss's reduction
    itself (the wrapped module's ``reduction`` is set to ``"none"``, as YOLOv5 does). It
    equals ``torchfocal.sigmoid_focal_loss(pred, true, alpha=alpha, gamma=gamma,
    weight=w, pos_weight=pw, class_dim=-1, reduction=r)``; ``class_dim=-1`` lines a 1-D
    ``pos_weight`` up with the last dimension, as ``BCEWithLogitsLoss`` broadcasts it.

    ``gamma`` is a float >= 0 and ``alpha`` a float in [0, 1]; ``true`` has ``pred``'s exact
    shape (float in [0, 1], bool or integer 0/1), as ``BCEWithLogitsLoss`` requires; the
    wrapped loss's ``weight`` and ``pos_weight`` must broadcast to ``pred``'s shape.
    float16 / bfloat16 are computed in float32 and returned in ``pred``'s dtype.

    Example:
        >>> import torch
        >>> from torchfocal.compat.yolov5 import FocalLoss
        >>> criterion = FocalLoss(torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor([2.0])))
        >>> criterion(torch.tensor([[0.5, -1.0]]), torch.tensor([[1.0, 0.0]])).round(decimals=4)
        tensor(0.0439)
    """

    def __init__(self, loss_fcn: nn.BCEWithLogitsLoss, gamma: float = 1.5, alpha: float = 0.25):
        super().__init__()
        if not isinstance(loss_fcn, nn.BCEWithLogitsLoss):
            raise TypeError(
                f"loss_fcn must be an nn.BCEWithLogitsLoss; got {type(loss_fcn).__name__}"
            )
        reduction = loss_fcn.reduction
        if not isinstance(reduction, str) or reduction not in v.REDUCTIONS:
            options = " | ".join(repr(r) for r in v.REDUCTIONS)
            raise ValueError(f"loss_fcn.reduction must be one of {options}; got {reduction!r}")
        self.loss_fcn = loss_fcn
        self.gamma = v.check_gamma(gamma)
        self.alpha = v.check_scalar_in("alpha", alpha, 0.0, 1.0)
        self.reduction = reduction
        self.loss_fcn.reduction = "none"  # the focal term is applied to each element

    def forward(self, pred: Tensor, true: Tensor) -> Tensor:
        pred = v.check_float_input("pred", pred)
        true = check_binary_target("true", true, input_name="pred", input=pred)
        factors = {"weight": self.loss_fcn.weight, "pos_weight": self.loss_fcn.pos_weight}
        for name, factor in factors.items():
            if factor is not None:
                # checked here so that the message names the wrapped loss's attribute
                v.check_same_device(f"loss_fcn.{name}", factor, pred)
                v.broadcast_to_input(f"loss_fcn.{name}", factor, pred.shape)
        return sigmoid_focal_loss(
            pred,
            true,
            alpha=self.alpha,
            gamma=self.gamma,
            weight=factors["weight"],
            pos_weight=factors["pos_weight"],
            class_dim=-1,
            reduction=self.reduction,
        )
