"""torchfocal: focal loss and the class-imbalance losses around it, for PyTorch."""

from . import functional, reference
from .functional import class_balanced_loss, sigmoid_focal_loss, softmax_focal_loss
from .nn import ClassBalancedLoss, SigmoidFocalLoss, SoftmaxFocalLoss
from .weighting import balanced_alpha, class_balanced_weights, prior_bias, prior_bias_

__version__ = "0.1.0"

__all__ = [
    "ClassBalancedLoss",
    "SigmoidFocalLoss",
    "SoftmaxFocalLoss",
    "__version__",
    "balanced_alpha",
    "class_balanced_loss",
    "class_balanced_weights",
    "functional",
    "prior_bias",
    "prior_bias_",
    "reference",
    "sigmoid_focal_loss",
    "softmax_focal_loss",
]
