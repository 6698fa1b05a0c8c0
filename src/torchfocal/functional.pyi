# Generated from the loss registry by tools/stubs.py: do not edit. After adding or
# renaming a loss, regenerate with `python tools/stubs.py`.

from ._engine.checks import eager_checks as eager_checks
from ._engine.checks import set_eager_checks as set_eager_checks
from ._engine.targets import PROBABILITY_SUM_TOLERANCE as PROBABILITY_SUM_TOLERANCE
from ._engine.targets import probability_sum_tolerance as probability_sum_tolerance
from .losses.asymmetric import asymmetric_loss as asymmetric_loss
from .losses.class_balanced import class_balanced_loss as class_balanced_loss
from .losses.dice import dice_loss as dice_loss
from .losses.dice import focal_tversky_loss as focal_tversky_loss
from .losses.dice import generalized_dice_loss as generalized_dice_loss
from .losses.dice import tversky_loss as tversky_loss
from .losses.dice_focal import dice_ce_loss as dice_ce_loss
from .losses.dice_focal import dice_focal_loss as dice_focal_loss
from .losses.distribution_focal import distribution_focal_loss as distribution_focal_loss
from .losses.equalization import equalization_loss_v2 as equalization_loss_v2
from .losses.focal_star import sigmoid_focal_loss_star as sigmoid_focal_loss_star
from .losses.ldam import ldam_loss as ldam_loss
from .losses.logit_adjustment import logit_adjust as logit_adjust
from .losses.logit_adjustment import logit_adjusted_cross_entropy as logit_adjusted_cross_entropy
from .losses.lovasz import lovasz_hinge_loss as lovasz_hinge_loss
from .losses.lovasz import lovasz_softmax_loss as lovasz_softmax_loss
from .losses.poly1 import poly1_cross_entropy as poly1_cross_entropy
from .losses.poly1 import poly1_focal_loss as poly1_focal_loss
from .losses.quality_focal import quality_focal_loss as quality_focal_loss
from .losses.seesaw import seesaw_loss as seesaw_loss
from .losses.sigmoid_focal import sigmoid_focal_loss as sigmoid_focal_loss
from .losses.softmax_focal import softmax_focal_loss as softmax_focal_loss
from .losses.unified_focal import unified_focal_loss as unified_focal_loss
from .losses.varifocal import varifocal_loss as varifocal_loss

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
