# Generated from the loss registry by tools/stubs.py: do not edit. After adding or
# renaming a loss, regenerate with `python tools/stubs.py`.

from . import functional as functional
from . import nn as nn
from . import reference as reference
from .functional import asymmetric_loss as asymmetric_loss
from .functional import class_balanced_loss as class_balanced_loss
from .functional import dice_ce_loss as dice_ce_loss
from .functional import dice_focal_loss as dice_focal_loss
from .functional import dice_loss as dice_loss
from .functional import distribution_focal_loss as distribution_focal_loss
from .functional import equalization_loss_v2 as equalization_loss_v2
from .functional import focal_tversky_loss as focal_tversky_loss
from .functional import generalized_dice_loss as generalized_dice_loss
from .functional import ldam_loss as ldam_loss
from .functional import logit_adjust as logit_adjust
from .functional import logit_adjusted_cross_entropy as logit_adjusted_cross_entropy
from .functional import lovasz_hinge_loss as lovasz_hinge_loss
from .functional import lovasz_softmax_loss as lovasz_softmax_loss
from .functional import poly1_cross_entropy as poly1_cross_entropy
from .functional import poly1_focal_loss as poly1_focal_loss
from .functional import quality_focal_loss as quality_focal_loss
from .functional import seesaw_loss as seesaw_loss
from .functional import sigmoid_focal_loss as sigmoid_focal_loss
from .functional import sigmoid_focal_loss_star as sigmoid_focal_loss_star
from .functional import softmax_focal_loss as softmax_focal_loss
from .functional import tversky_loss as tversky_loss
from .functional import unified_focal_loss as unified_focal_loss
from .functional import varifocal_loss as varifocal_loss
from .nn import AsymmetricLoss as AsymmetricLoss
from .nn import ClassBalancedLoss as ClassBalancedLoss
from .nn import DiceCELoss as DiceCELoss
from .nn import DiceFocalLoss as DiceFocalLoss
from .nn import DiceLoss as DiceLoss
from .nn import DistributionFocalLoss as DistributionFocalLoss
from .nn import EqualizationLossV2 as EqualizationLossV2
from .nn import FocalTverskyLoss as FocalTverskyLoss
from .nn import GeneralizedDiceLoss as GeneralizedDiceLoss
from .nn import LDAMLoss as LDAMLoss
from .nn import LogitAdjustedCrossEntropyLoss as LogitAdjustedCrossEntropyLoss
from .nn import LovaszHingeLoss as LovaszHingeLoss
from .nn import LovaszSoftmaxLoss as LovaszSoftmaxLoss
from .nn import Poly1CrossEntropyLoss as Poly1CrossEntropyLoss
from .nn import Poly1FocalLoss as Poly1FocalLoss
from .nn import QualityFocalLoss as QualityFocalLoss
from .nn import SeesawLoss as SeesawLoss
from .nn import SigmoidFocalLoss as SigmoidFocalLoss
from .nn import SigmoidFocalLossStar as SigmoidFocalLossStar
from .nn import SoftmaxFocalLoss as SoftmaxFocalLoss
from .nn import TverskyLoss as TverskyLoss
from .nn import UnifiedFocalLoss as UnifiedFocalLoss
from .nn import VarifocalLoss as VarifocalLoss
from .weighting import balanced_alpha as balanced_alpha
from .weighting import class_balanced_weights as class_balanced_weights
from .weighting import deferred_reweighting as deferred_reweighting
from .weighting import ldam_margins as ldam_margins
from .weighting import prior_bias as prior_bias
from .weighting import prior_bias_ as prior_bias_

__version__: str

__all__ = [
    "AsymmetricLoss",
    "ClassBalancedLoss",
    "DiceCELoss",
    "DiceFocalLoss",
    "DiceLoss",
    "DistributionFocalLoss",
    "EqualizationLossV2",
    "FocalTverskyLoss",
    "GeneralizedDiceLoss",
    "LDAMLoss",
    "LogitAdjustedCrossEntropyLoss",
    "LovaszHingeLoss",
    "LovaszSoftmaxLoss",
    "Poly1CrossEntropyLoss",
    "Poly1FocalLoss",
    "QualityFocalLoss",
    "SeesawLoss",
    "SigmoidFocalLoss",
    "SigmoidFocalLossStar",
    "SoftmaxFocalLoss",
    "TverskyLoss",
    "UnifiedFocalLoss",
    "VarifocalLoss",
    "__version__",
    "asymmetric_loss",
    "balanced_alpha",
    "class_balanced_loss",
    "class_balanced_weights",
    "deferred_reweighting",
    "dice_ce_loss",
    "dice_focal_loss",
    "dice_loss",
    "distribution_focal_loss",
    "equalization_loss_v2",
    "focal_tversky_loss",
    "functional",
    "generalized_dice_loss",
    "ldam_loss",
    "ldam_margins",
    "logit_adjust",
    "logit_adjusted_cross_entropy",
    "lovasz_hinge_loss",
    "lovasz_softmax_loss",
    "poly1_cross_entropy",
    "poly1_focal_loss",
    "prior_bias",
    "prior_bias_",
    "quality_focal_loss",
    "reference",
    "seesaw_loss",
    "sigmoid_focal_loss",
    "sigmoid_focal_loss_star",
    "softmax_focal_loss",
    "tversky_loss",
    "unified_focal_loss",
    "varifocal_loss",
]
