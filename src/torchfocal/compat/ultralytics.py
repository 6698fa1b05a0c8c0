"""The ultralytics (YOLOv8) ``FocalLoss``: per-element focal BCE, ``loss.mean(1).sum()``."""

from __future__ import annotations

from torch import Tensor, nn

from ..functional import sigmoid_focal_loss


class FocalLoss(nn.Module):
    """ultralytics' focal loss: ``forward`` is a static method with the hyperparameters.

    ``FocalLoss.forward(pred, label, gamma=1.5, alpha=0.25)`` equals
    ``torchfocal.sigmoid_focal_loss(pred, label, alpha=alpha if alpha > 0 else None,
    gamma=gamma, reduction="none").mean(1).sum()``: the loss is averaged over dimension 1
    (the classes of a ``(N, C)`` prediction) and summed over everything else, and
    ``alpha <= 0`` switches alpha weighting off.

    Numerics differ from the original only where it fails: ultralytics forms
    ``(1 - p_t) ** gamma`` from ``sigmoid(pred)``, which rounds to 0 for confident
    predictions (|logit| > ~17 in float32) and then gives a NaN gradient for gamma < 1;
    here the modulator is computed in log space and stays finite.

    Example:
        >>> import math, torch
        >>> from torchfocal.compat.ultralytics import FocalLoss
        >>> pred = torch.tensor([[math.log(4.0)], [math.log(2 / 3)]])  # p = 0.8 and 0.4
        >>> FocalLoss.forward(pred, torch.ones(2, 1), gamma=2, alpha=1).round(decimals=4)
        tensor(0.3388)
    """

    @staticmethod
    def forward(  # type: ignore[override]
        pred: Tensor, label: Tensor, gamma: float = 1.5, alpha: float = 0.25
    ) -> Tensor:
        per_element = sigmoid_focal_loss(
            pred, label, alpha=alpha if alpha > 0 else None, gamma=gamma, reduction="none"
        )
        return per_element.mean(1).sum()
