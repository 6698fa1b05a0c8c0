"""The registry of public losses: one :class:`LossInfo` per loss, declared in the loss's own
module (its ``LOSSES`` tuple, found by :mod:`torchfocal.losses`) and collected here.

Tests, exports, command-line labels and the API pages iterate over :data:`LOSSES` (or are
checked against it by one test, where type checkers need a static name), in the spirit of
PyTorch's OpInfo: docs/contributing.md, "How to add a loss".
"""

from __future__ import annotations

from .losses import (
    API_SECTIONS,
    BACKENDS,
    FLOAT_FORMS,
    FORM_KINDS,
    GRAD_SHAPES,
    LOSSES,
    SIGMOID_FORMS,
    SIGMOID_REDUCTIONS,
    SOFTMAX_FORMS,
    TARGET_KINDS,
    VARIANT_CLASSES,
    LossInfo,
    Sample,
)

__all__ = [
    "API_SECTIONS",
    "BACKENDS",
    "FLOAT_FORMS",
    "FORM_KINDS",
    "GRAD_SHAPES",
    "LOSSES",
    "SIGMOID_FORMS",
    "SIGMOID_REDUCTIONS",
    "SOFTMAX_FORMS",
    "TARGET_KINDS",
    "VARIANT_CLASSES",
    "LossInfo",
    "Sample",
    "by_name",
]


def by_name(name: str) -> LossInfo:
    """The entry of the loss whose function is ``name``."""
    for info in LOSSES:
        if info.name == name:
            return info
    raise ValueError(f"name must be the name of a registered loss function; got {name!r}")
