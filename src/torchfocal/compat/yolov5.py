"""The YOLOv5 ``FocalLoss``: wraps an ``nn.BCEWithLogitsLoss`` and takes over its reduction."""

from __future__ import annotations

from torch import Tensor, nn

from ..functional import sigmoid_focal_loss


class FocalLoss(nn.Module):
    """YOLOv5's focal loss around an existing ``nn.BCEWithLogitsLoss``.

    ``FocalLoss(nn.BCEWithLogitsLoss(weight=w, pos_weight=pw, reduction=r), gamma, alpha)``
    computes the wrapped loss per element (its ``weight`` and ``pos_weight`` included),
    multiplies by ``alpha_t (1 - p_t) ** gamma`` and applies the wrapped loss's reduction
    itself (the wrapped module's ``reduction`` is set to ``"none"``, as YOLOv5 does). It
    equals ``torchfocal.sigmoid_focal_loss(pred, true, alpha=alpha, gamma=gamma,
    weight=w, pos_weight=pw, class_dim=-1, reduction=r)``; ``class_dim=-1`` lines a 1-D
    ``pos_weight`` up with the last dimension, as ``BCEWithLogitsLoss`` broadcasts it.

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
        self.loss_fcn = loss_fcn
        self.gamma = gamma
        self.alpha = alpha
        self.reduction = loss_fcn.reduction
        self.loss_fcn.reduction = "none"  # the focal term is applied to each element

    def forward(self, pred: Tensor, true: Tensor) -> Tensor:
        return sigmoid_focal_loss(
            pred,
            true,
            alpha=self.alpha,
            gamma=self.gamma,
            weight=self.loss_fcn.weight,
            pos_weight=self.loss_fcn.pos_weight,
            class_dim=-1,
            reduction=self.reduction,
        )
