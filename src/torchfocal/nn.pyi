# Generated from the loss registry by tools/stubs.py: do not edit. After adding or
# renaming a loss, regenerate with `python tools/stubs.py`.

from .losses.asymmetric import AsymmetricLoss as AsymmetricLoss
from .losses.class_balanced import ClassBalancedLoss as ClassBalancedLoss
from .losses.dice import DiceLoss as DiceLoss
from .losses.dice import FocalTverskyLoss as FocalTverskyLoss
from .losses.dice import GeneralizedDiceLoss as GeneralizedDiceLoss
from .losses.dice import TverskyLoss as TverskyLoss
from .losses.dice_focal import DiceCELoss as DiceCELoss
from .losses.dice_focal import DiceFocalLoss as DiceFocalLoss
from .losses.distribution_focal import DistributionFocalLoss as DistributionFocalLoss
from .losses.equalization import EqualizationLossV2 as EqualizationLossV2
from .losses.focal_star import SigmoidFocalLossStar as SigmoidFocalLossStar
from .losses.ldam import LDAMLoss as LDAMLoss
from .losses.logit_adjustment import LogitAdjustedCrossEntropyLoss as LogitAdjustedCrossEntropyLoss
from .losses.lovasz import LovaszHingeLoss as LovaszHingeLoss
from .losses.lovasz import LovaszSoftmaxLoss as LovaszSoftmaxLoss
from .losses.poly1 import Poly1CrossEntropyLoss as Poly1CrossEntropyLoss
from .losses.poly1 import Poly1FocalLoss as Poly1FocalLoss
from .losses.quality_focal import QualityFocalLoss as QualityFocalLoss
from .losses.seesaw import SeesawLoss as SeesawLoss
from .losses.sigmoid_focal import SigmoidFocalLoss as SigmoidFocalLoss
from .losses.softmax_focal import SoftmaxFocalLoss as SoftmaxFocalLoss
from .losses.unified_focal import UnifiedFocalLoss as UnifiedFocalLoss
from .losses.varifocal import VarifocalLoss as VarifocalLoss

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
]
