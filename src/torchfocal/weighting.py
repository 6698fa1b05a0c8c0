"""Class weights and initialisation for imbalanced data.

- :func:`class_balanced_weights`: Cui et al. 2019, weights from the effective number of
  samples.
- :func:`balanced_alpha`: the alpha of alpha-balanced cross-entropy that evens out the
  positives and negatives of each class.
- :func:`prior_bias` / :func:`prior_bias_`: Lin et al. 2017's initialisation of the last
  classification layer, so that every logit starts at probability ``pi``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor, nn

__all__ = ["balanced_alpha", "class_balanced_weights", "prior_bias", "prior_bias_"]

Counts = Sequence[float] | np.ndarray | Tensor


def _as_counts(name: str, value: object) -> np.ndarray:
    """A non-empty 1-D float64 array of finite real numbers (ranges are the caller's)."""
    expected = f"{name} must be a sequence of numbers"
    if isinstance(value, Tensor):
        if value.is_complex() or value.dtype == torch.bool:
            raise TypeError(f"{expected}; got a tensor of {value.dtype}")
        # through float64 on the host: NumPy has no bfloat16
        array = value.detach().to(device="cpu", dtype=torch.float64).numpy()
    else:
        if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
            value, (bool, np.bool_)
        ):
            value = [value]
        try:
            raw = np.asarray(value)
        except ValueError:  # a ragged nesting
            raise ValueError(f"{name} must be a non-empty 1-D sequence; got a ragged one") from None
        if raw.dtype.kind not in "iufO" or (
            raw.dtype.kind == "O"
            and not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in raw.flat)
        ):
            raise TypeError(f"{expected}; got {type(value).__name__} of {raw.dtype}")
        try:
            # Python ints beyond int64 arrive as objects; beyond float64 they overflow.
            array = raw.astype(np.float64)
        except OverflowError:
            raise ValueError(
                f"{name} must be finite; got a number beyond the float64 range"
            ) from None
        except (TypeError, ValueError):
            raise TypeError(f"{expected}; got {type(value).__name__}") from None
    if array.ndim != 1 or array.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D sequence; got shape {array.shape}")
    if not np.isfinite(array).all():
        bad = int(np.flatnonzero(~np.isfinite(array))[0])
        raise ValueError(f"{name} must be finite; got {array[bad]} for class {bad}")
    return array


def class_balanced_weights(counts: Counts, beta: float = 0.9999) -> Tensor:
    r"""Class-balanced weights from the effective number of samples (Cui et al., CVPR 2019).

    With :math:`n_c` samples of class c, the effective number is
    :math:`E_c = (1 - \beta^{n_c}) / (1 - \beta)` and the weight is
    :math:`w_c \propto 1 / E_c = (1 - \beta) / (1 - \beta^{n_c})`, normalised so that the
    weights sum to the number of classes C. ``beta = 0`` gives equal weights;
    ``beta -> 1`` approaches inverse-frequency weights. "Class-Balanced Loss Based on
    Effective Number of Samples", https://arxiv.org/abs/1901.05555.

    Args:
        counts: C positive sample counts (sequence, NumPy array or tensor); any finite
            positive float64, subnormal and huge ones included.
        beta: in [0, 1); the paper uses 0.9, 0.99, 0.999 or 0.9999.

    Returns:
        A float32 tensor of C finite weights summing to C (computed in float64, in log
        space, and rounded once).

    Example:
        >>> import torchfocal
        >>> torchfocal.class_balanced_weights([1000, 100, 10], beta=0.99)
        tensor([0.2301, 0.3630, 2.4068])
    """
    array = _as_counts("counts", counts)
    if isinstance(beta, bool) or not isinstance(beta, (int, float)):
        raise TypeError(f"beta must be a float in [0, 1); got {type(beta).__name__}")
    if not (0.0 <= beta < 1.0):
        raise ValueError(f"beta must be in [0, 1); got {beta!r}")
    if (array <= 0).any():
        bad = int(np.flatnonzero(array <= 0)[0])
        raise ValueError(
            f"counts must be positive for every class; got {array[bad]:g} for class {bad}"
        )
    if beta == 0.0:
        return torch.ones(array.size, dtype=torch.float32)
    # w_c = (1 - beta) / (1 - beta**n_c), normalised to sum C: the factor (1 - beta) cancels,
    # so w_c = C softmax(-log(1 - beta**n_c)). Working with logs keeps every count finite:
    # 1 / (1 - beta**n) overflows once 1 - beta**n drops below 1/DBL_MAX (subnormal n), and
    # the plain ratio of two such infinities is NaN.
    log_weights = -_log_one_minus_power(array, math.log(beta))
    weights = np.exp(log_weights - log_weights.max())
    return torch.as_tensor(weights / weights.sum() * array.size, dtype=torch.float32)


def _log_one_minus_power(n: np.ndarray, log_beta: float) -> np.ndarray:
    r"""log(1 - beta**n) for n > 0 and log(beta) < 0, accurate for every finite n.

    With t = n log(beta) < 0, 1 - beta**n = -expm1(t). Where |t| >= 1/2, -expm1(t) lies in
    [0.39, 1] and its log is direct (t = -inf for huge n gives log 1 = 0). Where |t| < 1/2,
    t itself may be subnormal or 0 (tiny n times a small |log beta|), so it is split as
    -expm1(t) = n |log beta| * expm1(t) / t and taken in logs:
    log n + log|log beta| + log(expm1(t) / t), where expm1(t) / t lies in (0.78, 1] and is 1
    (to double precision) when t is too small to matter, 0 included.
    """
    with np.errstate(over="ignore"):
        t = n * log_beta  # -inf for huge n: 1 - beta**n is then 1
    small = np.abs(t) < 0.5
    # each branch is evaluated on harmless stand-ins where the other one is chosen
    safe_t = np.where(small & (t != 0), t, -0.25)
    ratio = np.where(t != 0, np.expm1(safe_t) / safe_t, 1.0)
    split = np.log(n) + math.log(-log_beta) + np.log(ratio)
    direct = np.log(-np.expm1(np.where(small, -1.0, t)))
    result: np.ndarray = np.where(small, split, direct)
    return result


def balanced_alpha(num_positive: Counts | float, num_total: Counts | float) -> Tensor:
    r"""Per-class alpha with :math:`\alpha / (1 - \alpha) = \text{negatives} / \text{positives}`.

    For a class with m positives among N examples, alpha-balanced cross-entropy weights
    positives by alpha and negatives by 1 - alpha; the two sides carry equal total weight
    when :math:`\alpha m = (1 - \alpha)(N - m)`, i.e. :math:`\alpha = (N - m) / N`, the
    fraction of negatives. The rare side gets the large weight. This is the balanced
    cross-entropy of Lin et al. 2017 (section 3.1) with alpha set by inverse frequency.

    Args:
        num_positive: positives per class (a number, a sequence, an array or a tensor).
        num_total: the number of examples, one for all classes or one per class.

    Returns:
        A float32 tensor of alphas, one per class: in (0, 1) before the rounding to float32,
        which gives 1.0 where positives / total is below 2**-25.

    Example:
        >>> import torchfocal
        >>> torchfocal.balanced_alpha([10, 250, 500], 1000)
        tensor([0.9900, 0.7500, 0.5000])
    """
    positives = _as_counts("num_positive", num_positive)
    total = _as_counts("num_total", num_total)
    if total.size not in (1, positives.size):
        raise ValueError(
            f"num_total must be one number or one per class ({positives.size}); "
            f"got {total.size} values"
        )
    total = np.broadcast_to(total, positives.shape)
    outside = (positives <= 0) | (positives >= total)
    if outside.any():
        bad = int(np.flatnonzero(outside)[0])
        raise ValueError(
            f"num_positive must be in (0, num_total) for every class; got {positives[bad]:g} "
            f"of {total[bad]:g} for class {bad}"
        )
    return torch.as_tensor((total - positives) / total, dtype=torch.float32)


def prior_bias(pi: float = 0.01) -> float:
    r"""The bias b with :math:`\sigma(b) = \pi`: :math:`b = -\log((1 - \pi) / \pi)`.

    Lin et al. 2017 (section 4.1) initialise the last layer of the classification subnet
    with this bias so that at the start every anchor predicts foreground with probability
    ``pi`` (0.01), instead of 0.5: with a thousand background anchors per object, the
    background's loss would otherwise swamp the first iterations.

    Finite and within one ulp of the exact value for every float64 ``pi`` in (0, 1): from
    -744.44 at the smallest subnormal to 36.74 at the largest float below 1.

    Example:
        >>> import torchfocal
        >>> round(torchfocal.prior_bias(0.01), 4)
        -4.5951
    """
    if isinstance(pi, bool) or not isinstance(pi, (int, float)):
        raise TypeError(f"pi must be a float in (0, 1); got {type(pi).__name__}")
    if not (0.0 < pi < 1.0):
        raise ValueError(f"pi must be in (0, 1); got {pi!r}")
    # b = log(pi) - log(1 - pi), in three regions so that no step overflows (the quotient
    # (1 - pi) / pi does for pi below 1/DBL_MAX) and no subtraction cancels:
    # - pi < 1/4: log(pi) <= -1.39 dominates -log1p(-pi) in [0, 0.29], so |b| > 1.1 and the
    #   difference is accurate; both logs are finite down to the smallest subnormal.
    # - pi > 3/4: q = 1 - pi is exact (Sterbenz) and b = -b(q), the same form mirrored.
    # - in between, b is near 0 and the two logs would cancel; instead
    #   pi / (1 - pi) = 1 + (2 pi - 1) / (1 - pi), where 2 pi - 1 is exact, so
    #   b = log1p((2 pi - 1) / (1 - pi)) to a few ulps, b(1/2) = 0 exactly.
    if pi < 0.25:
        return math.log(pi) - math.log1p(-pi)
    if pi > 0.75:
        q = 1.0 - pi
        return math.log1p(-q) - math.log(q)
    return math.log1p((2.0 * pi - 1.0) / (1.0 - pi))


def prior_bias_(module: nn.Module, pi: float = 0.01) -> nn.Module:
    """Set ``module.bias`` in place to :func:`prior_bias` (``pi``); returns the module.

    Works for any module with a ``bias`` parameter (``nn.Linear``, ``nn.Conv2d``, ...).

    Example:
        >>> import torch, torchfocal
        >>> head = torchfocal.prior_bias_(torch.nn.Linear(16, 3), pi=0.01)
        >>> torch.sigmoid(head.bias)
        tensor([0.0100, 0.0100, 0.0100], grad_fn=<SigmoidBackward0>)
    """
    value = prior_bias(pi)
    bias = getattr(module, "bias", None)
    if not isinstance(bias, Tensor):
        raise TypeError(
            f"module must have a bias parameter (e.g. nn.Linear or nn.Conv2d with bias=True); "
            f"got {type(module).__name__} with bias={bias!r}"
        )
    with torch.no_grad():
        bias.fill_(value)
    return module
