"""The TensorFlow ``focal_loss`` of seed 004 (Cui et al.), normalised by the sum of labels."""

from __future__ import annotations

import torch
from torch import Tensor

from ..functional import sigmoid_focal_loss
from ._seed004 import is_hard, soft_focal_bce


def focal_loss(labels: Tensor, logits: Tensor, alpha: float | Tensor, gamma: float) -> Tensor:
    """``sum(alpha * modulator * BCE(logits, labels)) / sum(labels)``, as in seed 004.

    Args:
        labels: ``[batch, num_classes]`` (any shape equal to ``logits``), values in [0, 1].
        logits: the same shape.
        alpha: a number, one value per example (shape ``[batch]``), or one per element.
            There is no ``1 - alpha`` for negatives: alpha is a plain weight here.
        gamma: the focusing parameter; the modulator is
            ``exp(-gamma y x - gamma log(1 + exp(-x)))`` (``(1 - p_t) ** gamma`` for 0/1
            labels), evaluated in log space.

    Like the original, the logits are cast to float32 and the result is float32. Where the
    labels sum to 0 the original divides by zero (inf or NaN); this returns the plain sum.
    For 0/1 labels and a sum of labels >= 1 it equals
    ``torchfocal.sigmoid_focal_loss(logits, labels, alpha=None, gamma=gamma, weight=alpha,
    reduction="positives")`` and is computed by it.

    Example:
        >>> import torch
        >>> from torchfocal.compat.tensorflow import focal_loss
        >>> labels = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
        >>> focal_loss(labels, torch.tensor([[2.0, -1.0], [0.5, 0.5]]), 0.25, 2.0)
        tensor(0.0587)
    """
    logits = logits.to(torch.float32)
    labels = labels.to(torch.float32)
    weight = torch.as_tensor(alpha, dtype=torch.float32, device=logits.device)
    if weight.dim() == 1 and logits.dim() >= 2 and weight.numel() == logits.shape[0]:
        weight = weight.reshape([-1] + [1] * (logits.dim() - 1))  # one value per example
    if is_hard(labels):
        total = sigmoid_focal_loss(
            logits,
            labels,
            alpha=None,
            gamma=gamma,
            weight=weight.expand(logits.shape),
            reduction="sum",
        )
    else:
        total = (weight * soft_focal_bce(logits, labels, gamma)).sum()
    normaliser = labels.sum()
    return total / torch.where(normaliser != 0, normaliser, torch.ones_like(normaliser))
