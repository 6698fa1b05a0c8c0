"""Inputs and calls for the registry-driven tests, built from the registry alone: a target
of each registry target form (:data:`torchfocal.registry.FORM_KINDS`) for an input of any
shape, a sample's options fitted to the input's number of classes, test ids, and the calls
the autograd tests make of every registered loss (tests/test_autograd.py,
tests/test_naive_derivatives.py).

The registry's samples are calls on a (4, 3) input; the tests that use other shapes (a
thousand classes, none, the extreme-logit grid) take their targets and per-class options
from here too, so that a new loss needs no row in any of their tables.

A :class:`Case` is an entry, one of its samples and a target form, with the option set of
one of the entry's ``gradient_variants`` (its samples' options where it declares none).
From it come the logits, the target, the tensor arguments the sample declares
differentiable (``Sample.grad_arguments``, made fresh in the shape it names) and the
options: a new loss needs no line here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch

from torchfocal.registry import LOSSES, LossInfo, Sample

F64 = torch.float64
#: The registry's sample input: (N, C) logits (its samples' per-class options have C values).
N, C = 4, 3
SHAPE = (N, C)


@dataclass(frozen=True)
class Case:
    """One loss call: ``info.function(x, target, **options, **tensors)``."""

    info: LossInfo
    sample: Sample
    #: The target form (of the sample's forms).
    form: str
    #: The options beyond the sample's (one of the entry's gradient_variants).
    variant: Mapping[str, Any]

    @property
    def id(self) -> str:
        options = [f"{k}={v}" for k, v in self.variant.items()]
        return case_id(self.info, self.sample, self.form, *options)

    @property
    def options(self) -> dict[str, Any]:
        """The sample's options with the variant's (float tensors in float64), without the
        tensor arguments the tests make."""
        options = {**self.sample.options, **self.variant}
        return {
            name: value.to(F64)
            if isinstance(value, torch.Tensor) and value.is_floating_point()
            # class counts and state statistics stay in their dtype
            else value
            for name, value in options.items()
        }

    @property
    def arguments(self) -> list[str]:
        """The tensor arguments that take a gradient (``avg_factor`` with "mean" only)."""
        return list(self.sample.grad_arguments)

    @property
    def target_grad(self) -> bool:
        """The loss takes a gradient in this case's target."""
        return self.form in self.sample.grad_targets

    def tensor(self, name: str) -> torch.Tensor:
        """A fresh value of the tensor argument ``name``, in (0.1, 0.9): a valid alpha,
        weight, pos_weight or divisor, away from every end a finite difference could cross."""
        shape = {"element": (N, C), "class": (C,), "location": (N,), "scalar": ()}
        return torch.rand(shape[self.sample.grad_arguments[name]], dtype=F64) * 0.8 + 0.1

    def tensors(self) -> dict[str, torch.Tensor]:
        """Every tensor argument but ``avg_factor`` (which takes "mean" only)."""
        return {name: self.tensor(name) for name in self.arguments if name != "avg_factor"}

    def target(self, kind: str = "soft") -> torch.Tensor:
        """A target of the case's form: "soft" (float forms: values inside their range, as
        a gradient in the target needs), or "hard" (float forms: the exact ends, 0 and 1,
        one-hot rows, whole labels)."""
        target = make_target(self.form, SHAPE, kind=kind)
        if self.form == "index":
            if "mask" in self.sample.forms:  # a sigmoid form: the background class C
                target[0] = C
            ignore = self.info.parameters.get("ignore_index")
            if ignore is not None and ignore.default == -100:
                target[1] = -100  # an ignored location
        return target

    def __call__(self, x: torch.Tensor, target: torch.Tensor, backend: str, **kwargs: Any) -> Any:
        return self.info.function(x, target, backend=backend, **{**self.options, **kwargs})


def make_target(
    form: str,
    shape: tuple[int, ...],
    *,
    class_dim: int = 1,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = F64,
    kind: str = "any",
) -> torch.Tensor:
    """A target of ``form`` for an input of ``shape`` with its classes along ``class_dim``:
    "mask" about half True, "int_mask" its 0/1 integers, "index" class indices in [0, C),
    and, with float values (``dtype``) whose place in their range ``kind`` says:

    - "soft": ``kind`` "any" floats in [0, 1]; "soft" inside (0, 1), away from 0, 1/2 and 1
      (a finite-difference step stays inside [0, 1]); "hard" the ends, 0 and 1;
    - "score": "any" floats in [0, 1], 0 on about half (the negatives); "soft" and "hard"
      as "soft" targets;
    - "label": continuous labels in [0, C - 1] (distribution focal loss): "any" anywhere,
      "soft" away from whole numbers, "hard" whole numbers below C - 1;
    - "probabilities": rows of a softmax ("any" and "soft"), one-hot rows ("hard").
    """
    if kind not in ("any", "soft", "hard"):
        raise ValueError(f"kind must be 'any', 'soft' or 'hard'; got {kind!r}")
    dim = class_dim % len(shape) if shape else 0
    num_classes = shape[dim] if shape else 1
    location = shape[:dim] + shape[dim + 1 :]
    if form in ("mask", "int_mask"):
        mask = torch.rand(shape, generator=generator) < 0.5
        return mask if form == "mask" else mask.long()
    if form == "index":
        return torch.randint(0, max(num_classes, 1), location, generator=generator)
    if form in ("soft", "score") and kind == "hard":
        return (torch.rand(shape, generator=generator) < 0.5).to(dtype)
    if form in ("soft", "score") and kind == "soft":
        inside = 0.05 + 0.4 * torch.rand(shape, generator=generator, dtype=dtype)
        return inside + 0.5 * (torch.rand(shape, generator=generator) < 0.5)
    if form == "soft":
        return torch.rand(shape, generator=generator, dtype=dtype)
    if form == "score":
        score = torch.rand(shape, generator=generator, dtype=dtype)
        return score * (torch.rand(shape, generator=generator) < 0.5)
    if form == "label" and kind != "any":
        whole = torch.randint(0, max(num_classes - 1, 1), location, generator=generator)
        whole = whole.to(dtype)
        if kind == "hard":
            return whole
        return whole + 0.05 + 0.9 * torch.rand(location, generator=generator, dtype=dtype)
    if form == "label":
        return torch.rand(location, generator=generator, dtype=dtype) * (num_classes - 1)
    if form == "probabilities" and kind == "hard":
        index = torch.randint(0, max(num_classes, 1), location, generator=generator)
        return torch.eye(num_classes, dtype=dtype)[index].movedim(-1, dim)
    if form == "probabilities":
        logits = torch.randn(shape, generator=generator, dtype=dtype)
        return torch.softmax(logits, dim=dim)
    raise ValueError(f"form must be a registry target form; got {form!r}")


def logits(scale: float = 3.0) -> torch.Tensor:
    """(N, C) float64 logits, most of them where the losses bend (|x| < 2 scale)."""
    return torch.randn(N, C, dtype=F64) * scale


def variants(info: LossInfo) -> list[Mapping[str, Any]]:
    return list(info.gradient_variants) or [{}]


def cases() -> list[Case]:
    """Every entry, sample and target form, each form with one of the entry's gradient
    variants in turn, in as many calls as it takes to run every form and every variant
    (not their product: the forms are read before the options act)."""
    found = []
    for info in LOSSES:
        for sample in info.samples:
            options = variants(info)
            for i in range(max(len(sample.forms), len(options))):
                form = sample.forms[i % len(sample.forms)]
                found.append(Case(info, sample, form, options[i % len(options)]))
    return found


def float_cases() -> list[Case]:
    """Every entry and sample with every gradient variant, in the float forms the loss
    differentiates (in its plain target form where it has none)."""
    found = []
    for info in LOSSES:
        for sample in info.samples:
            for variant in variants(info):
                forms = sample.grad_targets or (sample.target,)
                found += [Case(info, sample, form, variant) for form in forms]
    return found


def reductions(case: Case) -> list[str]:
    """The sample's reductions, "none" and "sum" first."""
    order = ("none", "sum", "mean", "positives")
    return sorted(case.sample.reductions, key=order.index)


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
