"""The modulator of Cui et al.'s class-balanced-loss code, shared by two compat modules.

Their "numerically stable" modulator is ``exp(-gamma y x - gamma log(1 + exp(-x)))``.
For y in {0, 1} it is exactly ``(1 - p_t) ** gamma``; for soft y it is
``p**gamma exp(-gamma y x)``, which is not ``(1 - p_t) ** gamma``. The compat modules route
hard targets through the core focal loss and compute soft targets with this formula,
in log space: ``log(1 + exp(-x)) = softplus(-x) = -logsigmoid(x)``, so ``exp(-x)`` never
overflows (the original's ``log1p(exp(-x))`` is ``inf`` below x = -88 in float32).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from .._engine.checks import reads_flags


def is_hard(target: Tensor) -> bool:
    """True for bool targets and float targets that hold only 0 and 1.

    Asked of the values only where that is free (a CPU tensor): elsewhere a float target
    takes the soft formula, which holds for hard labels too.
    """
    if target.dtype == torch.bool:
        return True
    if not reads_flags(target):
        return False
    return bool(((target == 0) | (target == 1)).all())


def soft_focal_bce(logits: Tensor, labels: Tensor, gamma: float) -> Tensor:
    """modulator * BCE-with-logits, per element, for any labels in [0, 1]."""
    ce = F.binary_cross_entropy_with_logits(logits, labels, reduction="none")
    if gamma == 0.0:
        return ce
    # The exponent's derivative is sigmoid(x) - (1 - y). Where that rounds to 0 (a label of 0
    # or 1 on the saturated side) the modulator is constant in x to the dtype's precision,
    # and autograd's route to that 0 would pass through gamma * ce, inf for |x| near the
    # dtype's largest value: inf - inf = NaN. There x enters the modulator as a constant.
    detached = logits.detach()
    flat = torch.sigmoid(detached) == 1.0 - labels.detach()
    x = torch.where(flat, detached, logits)
    return torch.exp(gamma * (F.logsigmoid(x) - labels * x)) * ce
