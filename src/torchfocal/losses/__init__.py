"""One module per loss family: its public function, naive form and fused form, and its
registry entries (``LOSSES``, see :mod:`torchfocal.losses._registry`).

Each module builds on :mod:`torchfocal._engine` (checks, target preparation, reductions,
and :func:`torchfocal._engine.engine.run`, the one entry point that runs a loss's
request) and on the shared numerics there; the public names
are re-exported by :mod:`torchfocal.functional`. The modules are found, not listed: every
module here whose name has no leading underscore is a loss module and declares ``LOSSES``.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

# The registry's types, for torchfocal.registry (which re-exports them).
from ._registry import API_SECTIONS as API_SECTIONS
from ._registry import BACKENDS as BACKENDS
from ._registry import FLOAT_FORMS as FLOAT_FORMS
from ._registry import FORM_KINDS as FORM_KINDS
from ._registry import GRAD_SHAPES as GRAD_SHAPES
from ._registry import SIGMOID_FORMS as SIGMOID_FORMS
from ._registry import SIGMOID_REDUCTIONS as SIGMOID_REDUCTIONS
from ._registry import SOFTMAX_FORMS as SOFTMAX_FORMS
from ._registry import TARGET_KINDS as TARGET_KINDS
from ._registry import VARIANT_CLASSES as VARIANT_CLASSES
from ._registry import LossInfo as LossInfo
from ._registry import Sample as Sample
from .logit_adjustment import logit_adjust as logit_adjust  # a public function, not a loss


def _collect() -> tuple[LossInfo, ...]:
    """Every module's ``LOSSES``, in the order of the modules' names."""
    found: list[LossInfo] = []
    for module in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if not module.name.startswith("_"):
            found.extend(importlib.import_module(f"{__name__}.{module.name}").LOSSES)
    return tuple(found)


#: Every public loss (:class:`~torchfocal.losses._registry.LossInfo`), by module name.
LOSSES: tuple[LossInfo, ...] = _collect()

# The public functions as attributes of this package, as its explicit imports made them
# before the registry.
_functions: dict[str, Any] = {info.name: info.function for info in LOSSES}
globals().update(_functions)

__all__ = sorted([*_functions, "logit_adjust"])
