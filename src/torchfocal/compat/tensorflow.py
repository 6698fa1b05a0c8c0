"""The TensorFlow ``focal_loss`` of Cui et al.'s class-balanced-loss code, normalised by the sum
of labels."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from .._engine import checks as v
from ..functional import sigmoid_focal_loss
from ._checks import check_binary_target
from ._seed004 import is_hard, soft_focal_bce


def focal_loss(
    labels: Tensor, logits: Tensor, alpha: float | Sequence[float] | Tensor, gamma: float
) -> Tensor:
    """``sum(alpha * modulator * BCE(logits, labels)) / sum(labels)``, as in Cui et al.'s code.

    Args:
        labels: the shape of ``logits``; float in [0, 1], bool or integer 0/1.
        logits: ``[batch, num_classes]`` (any shape), a floating-point tensor.
        alpha: finite weights >= 0: a number, one value per example (shape ``[batch]``),
            or a tensor that broadcasts to the logits' shape. There is no ``1 - alpha``
            for negatives: alpha is a plain weight here.
        gamma: the focusing parameter, a float >= 0; the modulator is
            ``exp(-gamma y x - gamma log(1 + exp(-x)))`` (``(1 - p_t) ** gamma`` for 0/1
            labels), evaluated in log space.

    Like the original, the logits are cast to float32 (so float16 / bfloat16 are computed in
    float32) and the result is float32, whatever the input dtype. Where the labels sum to 0
    the original divides by zero (inf or NaN); this returns the plain sum.
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
    logits = v.check_float_input("logits", logits)
    labels = check_binary_target("labels", labels, input_name="logits", input=logits)
    gamma = v.check_gamma(gamma)
    weight = _alpha_weight(alpha, logits)
    logits = logits.to(torch.float32)
    labels = labels.to(torch.float32)
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


def _alpha_weight(alpha: object, logits: Tensor) -> Tensor:
    """alpha as a float32 tensor that broadcasts to the logits' shape (never grows it)."""
    expected = "a float, a sequence of floats or a real tensor"
    if isinstance(alpha, bool):
        raise TypeError(f"alpha must be {expected}; got bool")
    if isinstance(alpha, Tensor):
        if not (alpha.is_floating_point() or v.is_integer_dtype(alpha.dtype)):
            raise TypeError(f"alpha must be {expected}; got {alpha.dtype}")
        v.check_same_device("alpha", alpha, logits)
        weight = alpha.to(torch.float32)
    else:
        try:
            weight = torch.as_tensor(alpha, dtype=torch.float32, device=logits.device)
        except (TypeError, ValueError, RuntimeError):
            raise TypeError(f"alpha must be {expected}; got {type(alpha).__name__}") from None
    if weight.dim() == 1 and logits.dim() >= 2 and weight.numel() == logits.shape[0]:
        weight = weight.reshape([-1] + [1] * (logits.dim() - 1))  # one value per example
    try:
        grows = torch.broadcast_shapes(weight.shape, logits.shape) != logits.shape
    except RuntimeError:
        grows = True
    if grows:
        per_example = f"{logits.shape[0]} values (one per example), " if logits.dim() >= 2 else ""
        raise ValueError(
            f"alpha must be a number, {per_example}or a tensor that broadcasts to the logits' "
            f"shape {v.shape_str(logits.shape)}; got shape {v.shape_str(weight.shape)}"
        )
    ok = torch.isfinite(weight) & (weight >= 0)
    v.require(ok, "alpha must hold finite values >= 0; got {bad}", lambda: v.first(weight, ok))
    return weight
