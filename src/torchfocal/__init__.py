"""torchfocal: focal loss and the class-imbalance losses around it, for PyTorch.

The top level is lazy (PEP 562): ``import torchfocal`` imports nothing, and each public name
loads its module (and torch) on first use, so ``import torchfocal.boosting`` (NumPy only)
never loads torch. ``from torchfocal import X`` and ``torchfocal.X`` work as before;
:mod:`torchfocal.reference` (the NumPy oracle) is loaded on first use as well.
"""

# No ``from __future__ import annotations`` and only underscored imports: every public name of
# this module is a part of the API (``dir(torchfocal)`` is checked in tests/test_registry.py).
import importlib as _importlib
import typing as _typing

# What type checkers and documentation tools see; at run time, __getattr__.
if _typing.TYPE_CHECKING:
    from . import functional, reference
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

# public name -> the submodule that defines it (static: ``import torchfocal`` imports nothing,
# so the registry cannot be read here; tests/test_registry.py names a loss missing here)
_FROM: dict[str, str] = {
    **{
        name: "functional"
        for name in (
            "asymmetric_loss", "class_balanced_loss", "distribution_focal_loss",
            "equalization_loss_v2", "ldam_loss", "logit_adjust", "logit_adjusted_cross_entropy",
            "poly1_cross_entropy", "poly1_focal_loss", "quality_focal_loss", "seesaw_loss",
            "sigmoid_focal_loss", "sigmoid_focal_loss_star", "softmax_focal_loss",
            "varifocal_loss", "dice_loss", "dice_ce_loss", "dice_focal_loss",
            "focal_tversky_loss", "generalized_dice_loss", "lovasz_hinge_loss",
            "lovasz_softmax_loss", "tversky_loss", "unified_focal_loss",
        )
    },
    **{
        name: "nn"
        for name in (
            "AsymmetricLoss", "ClassBalancedLoss", "DistributionFocalLoss", "EqualizationLossV2",
            "LDAMLoss", "LogitAdjustedCrossEntropyLoss", "Poly1CrossEntropyLoss",
            "Poly1FocalLoss", "QualityFocalLoss", "SeesawLoss", "SigmoidFocalLoss",
            "SigmoidFocalLossStar", "SoftmaxFocalLoss", "VarifocalLoss", "DiceLoss",
            "DiceCELoss", "DiceFocalLoss", "FocalTverskyLoss", "GeneralizedDiceLoss",
            "LovaszHingeLoss", "LovaszSoftmaxLoss", "TverskyLoss", "UnifiedFocalLoss",
        )
    },
    **{
        name: "weighting"
        for name in (
            "balanced_alpha", "class_balanced_weights", "deferred_reweighting", "ldam_margins",
            "prior_bias", "prior_bias_",
        )
    },
}  # fmt: skip
# Submodules reachable as attributes (an eager top level made them so as a side effect).
_SUBMODULES = frozenset(
    {
        "functional",
        "nn",
        "weighting",
        "reference",
        "boosting",
        "compat",
        "losses",
        "cli",
        "registry",
    }
)


def __getattr__(name: str) -> _typing.Any:
    """Load a public name's module on first use (PEP 562) and keep the name here."""
    if name in _FROM:
        value = getattr(_importlib.import_module(f".{_FROM[name]}", __name__), name)
    elif name in _SUBMODULES:
        value = _importlib.import_module(f".{name}", __name__)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


# The public names (tests/test_registry.py holds them to the registry).
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
