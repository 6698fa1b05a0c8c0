"""The loss modules (``torch.nn`` style), as one namespace.

Each loss's ``nn.Module`` class lives in its loss's module of ``torchfocal.losses``, beside
its function, on one small declarative base (``torchfocal.losses._module.LossModule``:
__init__ validates and registers buffers; forward is one call of the function). The
classes here are the registry's (``torchfocal.registry.LOSSES``): a new loss's class is
found, not listed. They are public as ``torchfocal.nn.<Name>`` (their ``__module__``), so
pickles and reprs name them here. Type checkers, which cannot run that, read ``nn.pyi``,
generated from the registry by ``tools/stubs.py``.
"""

from .losses import LOSSES as _LOSSES

globals().update({info.module: info.module_class for info in _LOSSES})

# The module classes of the registered losses.
__all__ = sorted(info.module for info in _LOSSES)
