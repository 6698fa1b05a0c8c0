"""What a loss module declares about each of its public losses (:class:`LossInfo`).

Each module of :mod:`torchfocal.losses` ends with ``LOSSES``, a tuple of these entries;
:mod:`torchfocal.registry` collects them. The cross-cutting tests (every backend against
the naive one and the oracle, meta tensors, autograd, modules against functions, errors,
state_dict), the exports and the API pages iterate over the collected tuple, in the spirit
of PyTorch's OpInfo: a loss is described once, here, and never listed again.

This module imports nothing heavier than the standard library, so that a loss module can
declare its entry without an import cycle.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

#: The target forms a sample may name; the tests build a tensor of each for the (4, 3)
#: float64 sample input:
#: "mask" a bool (4, 3) mask, "index" (4,) class indices in 0..2, "score" IoU-like scores
#: (0 on negatives), "label" (4,) continuous labels in [0, C - 1] (distribution focal loss).
TARGET_KINDS = ("mask", "index", "score", "label")

#: The target forms the tests make beyond the sample's own (``Sample.forms``): "int_mask"
#: an integer 0/1 mask, "soft" float targets in [0, 1] of the input's shape,
#: "probabilities" rows of class probabilities.
FORM_KINDS = (*TARGET_KINDS, "int_mask", "soft", "probabilities")
#: The target forms of the sigmoid (elementwise) losses and of the softmax ones.
SIGMOID_FORMS = ("mask", "int_mask", "soft", "index")
SOFTMAX_FORMS = ("index", "probabilities")

#: The target forms whose values are floats (the loss may take a gradient in them).
FLOAT_FORMS = ("soft", "score", "probabilities", "label")

#: The shapes a tensor argument of :attr:`Sample.grad_arguments` takes on the (N, C) sample
#: input: "element" (N, C), one value per logit; "class" (C,), one per class; "location"
#: (N,), one per location; "scalar" (), a 0-d tensor.
GRAD_SHAPES = ("element", "class", "location", "scalar")

#: The reductions of the sigmoid (elementwise) forms.
SIGMOID_REDUCTIONS = ("none", "mean", "sum", "positives")

#: Every backend a loss may support.
BACKENDS = ("naive", "fused", "compiled", "triton")

#: The sections of the API pages (docs/api/functional.md, nn.md and reference.md), in page
#: order: each entry's :attr:`LossInfo.section` names one by its key; the value is the
#: section's heading (docs/_ext/registry_pages.py writes the pages' loss entries from these).
API_SECTIONS: Mapping[str, str] = MappingProxyType(
    {
        "focal": "Focal losses",
        "focal-family": "The focal family",
        "class-balancing": "Class balancing",
        "long-tail": "Long-tail softmax losses",
        "long-tail-state": "Long-tail losses with training state",
        "region": "Segmentation (region) losses",
    }
)
#: The focusing values the extreme-logit tests sweep (DESIGN.md 2: every gamma in [0, 10],
#: gamma < 1 included): :attr:`LossInfo.focusing_values`' default.
FOCUSING_VALUES = (0.0, 0.5, 2.0, 10.0)

#: The number of classes that per-class values in :attr:`LossInfo.variants` are given for
#: (the tests that sweep the variants lay their logits out with this many classes).
VARIANT_CLASSES = 4


def _frozen(options: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(options or {}))


@dataclass(frozen=True)
class Sample:
    """One call of a loss as the registry-driven tests make it.

    The call is ``function(x, target, **options)`` with ``x`` the (4, 3) float64 sample
    input and ``target`` of the kind :attr:`target`; ``module(**module_options)`` builds
    the module that makes the same call. The values are shared between tests: never
    mutate them.
    """

    target: str
    options: Mapping[str, Any] = field(default_factory=dict)
    module_options: Mapping[str, Any] = field(default_factory=dict)
    #: This form of the loss has a Triton kernel (Poly-1's softmax form, say, has none).
    triton: bool = True
    #: The reductions this form takes ("positives": Lin et al.'s normaliser, sigmoid forms).
    reductions: tuple[str, ...] = ("none", "mean", "sum")
    #: Every target form this call takes (of :data:`FORM_KINDS`; empty: :attr:`target`).
    forms: tuple[str, ...] = ()
    #: The tensor arguments of this call that take a gradient, by name, with the shape each
    #: takes (of :data:`GRAD_SHAPES`), as PyTorch's OpInfo declares its sample inputs: the
    #: autograd tests (tests/registry_cases.py) make each, check its gradient and that it
    #: alone may require grad. A value of :attr:`options` of that name is replaced by theirs.
    grad_arguments: Mapping[str, str] = field(default_factory=dict)
    #: The loss is differentiable in its float targets (the forms of :data:`FLOAT_FORMS`
    #: among :attr:`forms`) at values inside their range.
    target_grad: bool = True
    #: A score of 0 marks a negative, another branch of the loss that is constant in the
    #: score: the loss jumps at a score of 0, and its derivative there is 0 (varifocal).
    negative_at_zero: bool = False

    def __post_init__(self) -> None:
        if self.target not in TARGET_KINDS:
            raise ValueError(f"target must be one of {TARGET_KINDS}; got {self.target!r}")
        if not set(self.forms) <= set(FORM_KINDS):
            raise ValueError(f"forms must be of {FORM_KINDS}; got {self.forms!r}")
        if not set(self.grad_arguments.values()) <= set(GRAD_SHAPES):
            raise ValueError(
                f"grad_arguments' shapes must be of {GRAD_SHAPES}; got {self.grad_arguments!r}"
            )
        object.__setattr__(self, "forms", self.forms or (self.target,))
        object.__setattr__(self, "options", _frozen(self.options))
        object.__setattr__(self, "module_options", _frozen(self.module_options))
        object.__setattr__(self, "grad_arguments", _frozen(self.grad_arguments))

    @property
    def grad_targets(self) -> tuple[str, ...]:
        """The target forms in which the loss takes a gradient (:attr:`target_grad`)."""
        return tuple(form for form in self.forms if form in FLOAT_FORMS) if self.target_grad else ()


@dataclass(frozen=True)
class LossInfo:
    """One public loss: everything the tests, exports, CLI and docs need to know of it."""

    #: The public function (``torchfocal.<name>`` and ``torchfocal.functional.<name>``).
    function: Callable[..., Any]
    #: The module class's name: the class is defined in the loss's own module (the
    #: function's), and :mod:`torchfocal.nn` takes it from there.
    module: str
    #: How the loss computes: "elementwise" (one value per logit: the sigmoid forms),
    #: "per_location" (one value per location over the classes: the softmax forms) or
    #: "region" (sums over regions: the Dice-like losses).
    form: str
    #: The calls the cross-cutting tests make; the first is the loss's plain form.
    samples: tuple[Sample, ...]
    #: The anchor of the loss's section in docs/math.md (``math.md#...``).
    docs: str
    #: Where the API pages list the loss: the key of its section (of :data:`API_SECTIONS`)
    #: and its place there (the pages list a section's losses by place, ascending; the
    #: places go in tens, so that a new loss fits between two without renumbering).
    section: tuple[str, int]
    #: Its Triton math's name (None where no form of it has a Triton kernel).
    kernel: str | None = None
    #: The oracle's function of the same loss in :mod:`torchfocal.reference` ("": the
    #: function's own name; a private name: a composition of the public oracles; None: no
    #: oracle).
    reference: str | None = ""
    #: A short name for command-line labels (``torchfocal bench --losses``).
    label: str = ""
    #: The function's options that the module keeps as training state in buffers of the
    #: same names (counted or collected in training mode) instead of taking them.
    state: tuple[str, ...] = ()
    #: Option sets that span the loss's regimes (each focusing parameter at 0, below 1 and
    #: above 1; alpha None, a float and per-class values, for :data:`VARIANT_CLASSES`
    #: classes; its other options at their ends), for the tests that sweep a loss's
    #: options (the Triton kernels against the oracle and the naive backend). The first is
    #: the case those tests use where one per loss is enough. Empty: the defaults only.
    variants: tuple[Mapping[str, Any], ...] = ()
    #: Option sets where the loss's math is pushed furthest (an overflowing product, the
    #: largest focusing), which the extreme-logit tests run beside the first variant.
    extreme_variants: tuple[Mapping[str, Any], ...] = ()
    #: Option sets at which the autograd tests check the loss's derivatives (each focusing
    #: parameter at 0, below 1, at 1 and above 1, where a power q^gamma's derivatives change
    #: form; per-class values for the samples' classes). Empty: the samples' options only.
    gradient_variants: tuple[Mapping[str, Any], ...] = ()
    #: Why the loss's gradient in the logits is not the derivative of its value, by design
    #: (a factor of the logits held constant, as mmdetection's Seesaw holds its compensation
    #: factor): the autograd tests then check it against no finite differences in the
    #: logits, of the first or the second derivative. "": it is the derivative.
    inexact_gradient: str = ""
    #: The focusing parameters: the exponents that DESIGN.md 2 bounds to [0, 10] (gamma;
    #: both of the asymmetric loss's; the quality focal loss's beta). The extreme-logit
    #: tests set them all to each of :attr:`focusing_values` in turn, in the first variant
    #: and in each extreme variant that does not set them.
    focusing: tuple[str, ...] = ()
    #: The values those tests give the focusing parameters.
    focusing_values: tuple[float, ...] = FOCUSING_VALUES
    #: Why the extreme-logit tests do not hold this loss against its oracle at logits up to
    #: the dtype's largest value ("": they do).
    extremes: str = ""
    #: Why the tests do not hold this loss to DESIGN.md 2's NaN propagation (a NaN logit
    #: makes its loss elements and their gradients NaN, and nothing else; "": they do).
    nan_logits: str = ""

    def __post_init__(self) -> None:
        if self.form not in ("elementwise", "per_location", "region"):
            raise ValueError(
                f"form must be 'elementwise', 'per_location' or 'region'; got {self.form!r}"
            )
        if not (
            isinstance(self.section, tuple)
            and len(self.section) == 2
            and self.section[0] in API_SECTIONS
            and isinstance(self.section[1], int)
            and self.section[1] >= 1
        ):
            raise ValueError(
                f"section must be (one of {tuple(API_SECTIONS)}, a place >= 1); "
                f"got {self.section!r}"
            )
        if not self.samples:
            raise ValueError(f"samples must hold at least one call; got none for {self.name}")
        if self.reference == "":
            object.__setattr__(self, "reference", self.name)
        if not self.label:
            object.__setattr__(self, "label", self.name.removesuffix("_loss"))
        for name in ("variants", "extreme_variants", "gradient_variants"):
            object.__setattr__(self, name, tuple(_frozen(v) for v in getattr(self, name)))

    @property
    def name(self) -> str:
        """The function's public name."""
        return str(self.function.__name__)

    @property
    def parameters(self) -> Mapping[str, inspect.Parameter]:
        """The function's parameters, by name."""
        return inspect.signature(self.function).parameters

    def takes(self, option: str) -> bool:
        """Whether the function has the keyword ``option``."""
        return option in self.parameters

    @property
    def backends(self) -> tuple[str, ...]:
        """The backends some form of the loss runs on ("triton" only with a kernel)."""
        return BACKENDS if self.kernel is not None else BACKENDS[:3]

    def has_triton(self, sample: Sample) -> bool:
        """Whether ``sample``'s form of the loss runs on the Triton backend."""
        return self.kernel is not None and sample.triton

    @property
    def module_class(self) -> type[Any]:
        """The module class, from the loss's own module (the function's)."""
        module: type[Any] = getattr(importlib.import_module(self.function.__module__), self.module)
        return module

    @property
    def reference_function(self) -> Callable[..., Any] | None:
        """The oracle's function, from :mod:`torchfocal.reference` (NumPy, loaded on use)."""
        if self.reference is None:
            return None
        oracle: Callable[..., Any] = getattr(
            importlib.import_module("torchfocal.reference"), self.reference
        )
        return oracle
