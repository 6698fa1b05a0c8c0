"""The ultralytics (YOLOv8) ``FocalLoss``: per-element focal BCE, ``loss.mean(1).sum()``."""

from __future__ import annotations

from torch import Tensor, nn

from .._engine import checks as v
from ..functional import sigmoid_focal_loss
from ._checks import check_binary_target, check_number, compute_dtype


class FocalLoss(nn.Module):
    """ultralytics' focal loss: ``forward`` is a static method with the hyperparameters.

    ``FocalLoss.forward(pred, label, gamma=1.5, alpha=0.25)`` equals
    ``torchfocal.sigmoid_focal_loss(pred, label, alpha=alpha if alpha > 0 else None,
    gamma=gamma, reduction="none").mean(1).sum()``: the loss is averaged over dimension 1
    (the classes of a ``(N, C)`` prediction) and summed over everything else, and
    ``alpha <= 0`` switches alpha weighting off.

    ``pred`` must have at least two dimensions (the average runs over dimension 1) and
    ``label`` its exact shape (float in [0, 1], bool or integer 0/1); ``gamma`` is a float
    >= 0 and ``alpha`` a float <= 1. float16 / bfloat16 are computed in float32, the average
    and the sum included, and returned in ``pred``'s dtype. With no classes (dimension 1 of
    size 0) the loss is 0, as the core's mean of nothing is, not the original's NaN.

    Numerics differ from the original only where it fails: ultralytics forms
    ``(1 - p_t) ** gamma`` from ``sigmoid(pred)``, which rounds to 0 for confident
    predictions (``|logit|`` > ~17 in float32) and then gives a NaN gradient for gamma < 1;
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
        pred = v.check_float_input("pred", pred)
        if pred.dim() < 2:
            raise ValueError(
                f"pred must have at least 2 dimensions, (N, C, ...), since the loss is averaged "
                f"over dimension 1; got shape {v.shape_str(pred.shape)}"
            )
        label = check_binary_target("label", label, input_name="pred", input=pred)
        gamma = v.check_gamma(gamma)
        # ultralytics' alpha: any value <= 0 switches alpha weighting off, so only the upper
        # end of [0, 1] is a constraint.
        expected = "a float <= 1 (alpha <= 0 switches alpha weighting off)"
        alpha = check_number("alpha", alpha, expected)
        if alpha > 1:
            raise ValueError(f"alpha must be {expected}; got {alpha!r}")
        dtype = compute_dtype(pred)
        per_element = sigmoid_focal_loss(
            pred.to(dtype),
            label,
            alpha=alpha if alpha > 0 else None,
            gamma=gamma,
            reduction="none",
        )
        total = per_element.mean(1).sum() if pred.shape[1] else per_element.sum()
        return total.to(pred.dtype)
