"""The public loss functions, as one namespace (``torch.nn.functional`` style).

Each loss lives in its own module of ``torchfocal.losses``, with its docstring.
"""

# The imports below are what type checkers see (they cannot read the registry); a loss
# missing here fails tests/test_registry.py, which names it.

from ._engine.checks import eager_checks, set_eager_checks
from ._engine.targets import PROBABILITY_SUM_TOLERANCE, probability_sum_tolerance
from .losses.asymmetric import asymmetric_loss
from .losses.class_balanced import class_balanced_loss
from .losses.dice import dice_loss, focal_tversky_loss, generalized_dice_loss, tversky_loss
from .losses.dice_focal import dice_ce_loss, dice_focal_loss
from .losses.distribution_focal import distribution_focal_loss
from .losses.equalization import equalization_loss_v2
from .losses.focal_star import sigmoid_focal_loss_star
from .losses.ldam import ldam_loss
from .losses.logit_adjustment import logit_adjust, logit_adjusted_cross_entropy
from .losses.lovasz import lovasz_hinge_loss, lovasz_softmax_loss
from .losses.poly1 import poly1_cross_entropy, poly1_focal_loss
from .losses.quality_focal import quality_focal_loss
from .losses.seesaw import seesaw_loss
from .losses.sigmoid_focal import sigmoid_focal_loss
from .losses.softmax_focal import softmax_focal_loss
from .losses.unified_focal import unified_focal_loss
from .losses.varifocal import varifocal_loss

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
