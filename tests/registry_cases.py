"""The calls the autograd tests make of every registered loss (tests/test_autograd.py,
tests/test_naive_derivatives.py), built from the registry alone.

A case is an entry, one of its samples and a target form, with the option set of one of
the entry's ``gradient_variants`` (its samples' options where it declares none). From it
come the logits, the target, the tensor arguments the sample declares differentiable
(``Sample.grad_arguments``, made fresh in the shape it names) and the options: a new loss
needs no line here.
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
        activation = self.sample.options.get("activation")
        parts = [self.info.name, activation, self.form]
        parts += [f"{k}={v}" for k, v in self.variant.items()]
        return "-".join(str(part) for part in parts if part is not None)

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
        return make_target(self.info, self.sample, self.form, kind)

    def __call__(self, x: torch.Tensor, target: torch.Tensor, backend: str, **kwargs: Any) -> Any:
        return self.info.function(x, target, backend=backend, **{**self.options, **kwargs})


def make_target(info: LossInfo, sample: Sample, form: str, kind: str = "soft") -> torch.Tensor:
    """A target of ``form`` for the (N, C) logits (see :meth:`Case.target`)."""
    hard = kind == "hard"
    if form == "mask":
        return torch.rand(N, C) < 0.5
    if form == "int_mask":
        return (torch.rand(N, C) < 0.5).long()
    if form == "index":
        index = torch.randint(0, C, (N,))
        if "mask" in sample.forms:  # a sigmoid form: the background class C
            index[0] = C
        if info.takes("ignore_index") and info.parameters["ignore_index"].default == -100:
            index[1] = -100  # an ignored location
        return index
    if form in ("soft", "score"):
        if hard:
            return (torch.rand(N, C) < 0.5).to(F64)
        # away from 0, 1/2 and 1 (a finite-difference step stays inside [0, 1])
        return 0.05 + 0.4 * torch.rand(N, C, dtype=F64) + 0.5 * (torch.rand(N, C) < 0.5)
    if form == "probabilities":
        if hard:
            return torch.eye(C, dtype=F64)[torch.randint(0, C, (N,))]
        return torch.softmax(torch.randn(N, C, dtype=F64), dim=1)
    if form == "label":
        whole = torch.randint(0, C - 1, (N,)).to(F64)
        return whole if hard else whole + 0.05 + 0.9 * torch.rand(N, dtype=F64)
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
