"""torchfocal: focal loss and the class-imbalance losses around it, for PyTorch."""

from . import functional, reference
from .functional import sigmoid_focal_loss, softmax_focal_loss
from .nn import SigmoidFocalLoss, SoftmaxFocalLoss

__version__ = "0.1.0"

__all__ = [
    "SigmoidFocalLoss",
    "SoftmaxFocalLoss",
    "__version__",
    "functional",
    "reference",
    "sigmoid_focal_loss",
    "softmax_focal_loss",
]
