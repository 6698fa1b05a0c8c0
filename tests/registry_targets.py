"""Inputs for the registry-driven tests: a target of each registry target form
(:data:`torchfocal.registry.FORM_KINDS`) for an input of any shape, and a sample's options
fitted to the input's number of classes.

The registry's samples are calls on a (4, 3) input; the tests that use other shapes (a
thousand classes, none, the extreme-logit grid) take their targets and per-class options
from here, so that a new loss needs no row in any of their tables.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from torchfocal.registry import LossInfo, Sample


def make_target(
    form: str,
    shape: tuple[int, ...],
    *,
    class_dim: int = 1,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float64,
) -> torch.Tensor:
    """A target of ``form`` for an input of ``shape`` with its classes along ``class_dim``:
    "mask" about half True, "int_mask" its 0/1 integers, "soft" / "score" floats in [0, 1]
    (scores 0 on about half, the negatives), "index" class indices in [0, C), "label"
    continuous labels in [0, C - 1] (distribution focal loss), "probabilities" rows of a
    softmax. Float targets are ``dtype``."""
    dim = class_dim % len(shape) if shape else 0
    num_classes = shape[dim] if shape else 1
    location = shape[:dim] + shape[dim + 1 :]
    if form in ("mask", "int_mask"):
        mask = torch.rand(shape, generator=generator) < 0.5
        return mask if form == "mask" else mask.long()
    if form == "soft":
        return torch.rand(shape, generator=generator, dtype=dtype)
    if form == "score":
        score = torch.rand(shape, generator=generator, dtype=dtype)
        return score * (torch.rand(shape, generator=generator) < 0.5)
    if form == "index":
        return torch.randint(0, max(num_classes, 1), location, generator=generator)
    if form == "label":
        return torch.rand(location, generator=generator, dtype=dtype) * (num_classes - 1)
    if form == "probabilities":
        logits = torch.randn(shape, generator=generator, dtype=dtype)
        return torch.softmax(logits, dim=dim)
    raise ValueError(f"form must be a registry target form; got {form!r}")


def for_classes(options: Mapping[str, Any], num_classes: int) -> dict[str, Any]:
    """``options`` with each per-class value (a 1-D list or tensor, as the samples and
    variants give for 3 or 4 classes) cycled or cut to ``num_classes`` values."""
    fitted: dict[str, Any] = {}
    for name, value in options.items():
        if isinstance(value, list) and len(value) != num_classes:
            value = [value[i % len(value)] for i in range(num_classes)]
        elif isinstance(value, torch.Tensor) and value.dim() == 1 and len(value) != num_classes:
            value = value[torch.arange(num_classes) % len(value)]
        fitted[name] = value
    return fitted


def takes_a_schedule(info: LossInfo) -> bool:
    """The loss's gamma takes a sample-dependent schedule ("flsd53" or a callable)."""
    return info.takes("gamma") and "GammaSpec" in str(info.parameters["gamma"].annotation)


def takes_sigmoid_masks(sample: Sample) -> bool:
    """The sample is a sigmoid (elementwise) form that takes masks of the input's shape,
    integer masks included (the forms that read a one-class integer target as a mask)."""
    return "int_mask" in sample.forms


def softmax_reading(info: LossInfo, sample: Sample) -> bool:
    """The sample reads class indices through a softmax over class_dim (one loss value per
    location): a per-location loss's index sample that is not a sigmoid form, or a sample
    that also takes probability rows."""
    if info.form == "region" or takes_sigmoid_masks(sample):
        return False
    return "probabilities" in sample.forms or (
        info.form == "per_location" and sample.target == "index"
    )


def case_id(info: LossInfo, sample: Sample, *rest: Any) -> str:
    """A test id: the loss's name, its activation where a sample sets one, then ``rest``."""
    activation = sample.options.get("activation")
    return "-".join([info.name, *([activation] if activation else []), *map(str, rest)])
