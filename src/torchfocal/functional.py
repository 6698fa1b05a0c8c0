"""The public loss functions, as one namespace (``torch.nn.functional`` style).

Each loss lives in its own module of ``torchfocal.losses``, with its docstring. The losses
here are the registry's (``torchfocal.registry.LOSSES``): a new loss module is found,
not listed. Type checkers, which cannot run that, read ``functional.pyi``, generated from
the registry by ``tools/stubs.py``.
"""

# The public names that are not losses (``X as X``: re-exported).
from ._engine.checks import eager_checks as eager_checks
from ._engine.checks import set_eager_checks as set_eager_checks
from ._engine.targets import PROBABILITY_SUM_TOLERANCE as PROBABILITY_SUM_TOLERANCE
from ._engine.targets import probability_sum_tolerance as probability_sum_tolerance
from .losses import LOSSES as _LOSSES
from .losses.logit_adjustment import logit_adjust as logit_adjust  # a function, not a loss

globals().update({info.name: info.function for info in _LOSSES})

__all__ = sorted(
    [
        *(info.name for info in _LOSSES),
        "PROBABILITY_SUM_TOLERANCE",
        "eager_checks",
        "logit_adjust",
        "probability_sum_tolerance",
        "set_eager_checks",
    ]
)
