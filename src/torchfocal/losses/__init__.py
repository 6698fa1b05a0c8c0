"""One module per loss family: its public function, naive form and fused form.

Each module builds on :mod:`torchfocal._engine` (checks, target preparation, reductions,
the autograd Function and the runners) and on the shared numerics there; the public names
are re-exported by :mod:`torchfocal.functional`.
"""

from .asymmetric import asymmetric_loss
from .class_balanced import class_balanced_loss
from .dice import dice_loss, focal_tversky_loss, generalized_dice_loss, tversky_loss
from .dice_focal import dice_ce_loss, dice_focal_loss
from .distribution_focal import distribution_focal_loss
from .equalization import equalization_loss_v2
from .focal_star import sigmoid_focal_loss_star
from .ldam import ldam_loss
from .logit_adjustment import logit_adjust, logit_adjusted_cross_entropy
from .lovasz import lovasz_hinge_loss, lovasz_softmax_loss
from .poly1 import poly1_cross_entropy, poly1_focal_loss
from .quality_focal import quality_focal_loss
from .seesaw import seesaw_loss
from .sigmoid_focal import sigmoid_focal_loss
from .softmax_focal import softmax_focal_loss
from .unified_focal import unified_focal_loss
from .varifocal import varifocal_loss

__all__ = [
    "asymmetric_loss",
    "class_balanced_loss",
    "dice_ce_loss",
    "dice_focal_loss",
    "dice_loss",
    "distribution_focal_loss",
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
    "quality_focal_loss",
    "seesaw_loss",
    "sigmoid_focal_loss",
    "sigmoid_focal_loss_star",
    "softmax_focal_loss",
    "tversky_loss",
    "unified_focal_loss",
    "varifocal_loss",
]
