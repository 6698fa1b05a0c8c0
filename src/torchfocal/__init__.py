"""torchfocal: focal loss and the class-imbalance losses around it, for PyTorch.

The top level is lazy (PEP 562): ``import torchfocal`` imports nothing, and each public name
loads its module (and torch) on first use, so ``import torchfocal.boosting`` (NumPy only)
never loads torch. ``from torchfocal import X`` and ``torchfocal.X`` work as before;
:mod:`torchfocal.reference` (the NumPy oracle) is loaded on first use as well.

The losses and their module classes are not listed here: they are the registry's
(:data:`torchfocal.registry.LOSSES`), read on the first use of one of them (or of
``__all__``). Type checkers, which cannot run that, read ``__init__.pyi``, generated from
the registry by ``tools/stubs.py``.
"""

# No ``from __future__ import annotations`` and only underscored imports: every public name of
# this module is a part of the API (``dir(torchfocal)`` is checked in tests/test_registry.py).
import importlib as _importlib
import typing as _typing

__version__ = "0.1.0"

# The public names that are not losses -> the submodule that defines each.
_FROM: dict[str, str] = {
    "logit_adjust": "functional",
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
# The submodules that are in __all__.
_ALL_SUBMODULES = ("functional", "reference")


def _losses() -> dict[str, str]:
    """Every registered loss's function (from :mod:`torchfocal.functional`) and module
    class (from :mod:`torchfocal.nn`), name -> submodule: read from the registry, which
    imports the losses (and torch)."""
    registry = _importlib.import_module(".registry", __name__)
    found = {info.name: "functional" for info in registry.LOSSES}
    found.update({info.module: "nn" for info in registry.LOSSES})
    return found


def __getattr__(name: str) -> _typing.Any:
    """Load a public name's module on first use (PEP 562) and keep the name here."""
    if name == "__all__":
        value: _typing.Any = sorted({*_FROM, *_losses(), *_ALL_SUBMODULES, "__version__"})
    elif name in _FROM:
        value = getattr(_importlib.import_module(f".{_FROM[name]}", __name__), name)
    elif name in _SUBMODULES:
        value = _importlib.import_module(f".{name}", __name__)
    elif not name.startswith("_") and name in (losses := _losses()):
        # Underscored names (probes such as ``__wrapped__``) never load the registry.
        value = getattr(_importlib.import_module(f".{losses[name]}", __name__), name)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__getattr__("__all__")))
