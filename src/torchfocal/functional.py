"""The public loss functions, as one namespace (``torch.nn.functional`` style).

Each loss lives in its own module of ``torchfocal.losses``, with its docstring.
"""

from ._engine.checks import eager_checks, set_eager_checks
from ._engine.targets import PROBABILITY_SUM_TOLERANCE, probability_sum_tolerance
from .losses import (
    asymmetric_loss,
    class_balanced_loss,
    dice_ce_loss,
    dice_focal_loss,
    dice_loss,
    distribution_focal_loss,
    equalization_loss_v2,
    focal_tversky_loss,
    generalized_dice_loss,
    ldam_loss,
    logit_adjust,
    logit_adjusted_cross_entropy,
    lovasz_hinge_loss,
    lovasz_softmax_loss,
    poly1_cross_entropy,
    poly1_focal_loss,
    quality_focal_loss,
    seesaw_loss,
    sigmoid_focal_loss,
    sigmoid_focal_loss_star,
    softmax_focal_loss,
    tversky_loss,
    unified_focal_loss,
    varifocal_loss,
)

__all__ = [
    "PROBABILITY_SUM_TOLERANCE",
    "asymmetric_loss",
    "class_balanced_loss",
    "dice_ce_loss",
    "dice_focal_loss",
    "dice_loss",
    "distribution_focal_loss",
    "eager_checks",
    "equalization_loss_v2",
    "focal_tversky_loss",
    "generalized_dice_loss",
    "ldam_loss",
    "logit_adjust",
    "logit_adjusted_cross_entropy",
    "lovasz_hinge_loss",
    "lovasz_softmax_loss",
    "poly1_cross_entropy",
    "poly1_focal_loss",
    "probability_sum_tolerance",
    "quality_focal_loss",
    "seesaw_loss",
    "set_eager_checks",
    "sigmoid_focal_loss",
    "sigmoid_focal_loss_star",
    "softmax_focal_loss",
    "tversky_loss",
    "unified_focal_loss",
    "varifocal_loss",
]
