"""torchfocal: focal loss and the class-imbalance losses around it, for PyTorch.

``import torchfocal`` needs torch alone: :mod:`torchfocal.reference` (the NumPy oracle) is
loaded on first use.
"""

from typing import Any

from . import functional
from .functional import (
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
from .nn import (
    AsymmetricLoss,
    ClassBalancedLoss,
    DiceCELoss,
    DiceFocalLoss,
    DiceLoss,
    DistributionFocalLoss,
    EqualizationLossV2,
    FocalTverskyLoss,
    GeneralizedDiceLoss,
    LDAMLoss,
    LogitAdjustedCrossEntropyLoss,
    LovaszHingeLoss,
    LovaszSoftmaxLoss,
    Poly1CrossEntropyLoss,
    Poly1FocalLoss,
    QualityFocalLoss,
    SeesawLoss,
    SigmoidFocalLoss,
    SigmoidFocalLossStar,
    SoftmaxFocalLoss,
    TverskyLoss,
    UnifiedFocalLoss,
    VarifocalLoss,
)
from .weighting import (
    balanced_alpha,
    class_balanced_weights,
    deferred_reweighting,
    ldam_margins,
    prior_bias,
    prior_bias_,
)

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    """``torchfocal.reference`` (NumPy) is imported on first use."""
    if name == "reference":
        import importlib

        return importlib.import_module(".reference", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
