"""Faithful equivalents of four published focal losses, convention for convention.

Each module reproduces one system's exact convention (its meaning of alpha, its reduction,
its defaults) on top of the core functions, and its docstring names the core call that
gives the same number:

- :mod:`torchfocal.compat.ultralytics`: ``FocalLoss.forward(pred, label, gamma, alpha)``;
- :mod:`torchfocal.compat.yolov5`: ``FocalLoss(nn.BCEWithLogitsLoss(), gamma, alpha)``;
- :mod:`torchfocal.compat.class_balanced`: ``FocalBCEWithLogitLoss`` (Cui et al.'s repo);
- :mod:`torchfocal.compat.tensorflow`: ``focal_loss(labels, logits, alpha, gamma)``.

docs/migration.md maps every other peer (torchvision, fvcore, mmdet, kornia, MONAI, smp,
Keras, optax, TF Addons) to a torchfocal call.
"""

from . import class_balanced, tensorflow, ultralytics, yolov5

__all__ = ["class_balanced", "tensorflow", "ultralytics", "yolov5"]
