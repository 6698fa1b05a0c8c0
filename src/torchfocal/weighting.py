"""Class weights and initialisation for imbalanced data.

- :func:`~torchfocal.class_balanced_weights`: Cui et al. 2019, weights from the effective
  number of samples.
- :func:`~torchfocal.balanced_alpha`: the alpha of alpha-balanced cross-entropy that evens
  out the positives and negatives of each class.
- :func:`~torchfocal.deferred_reweighting`: Cao et al. 2019's DRW schedule, no class weights
  until an epoch and the class-balanced ones from it on.
- :func:`~torchfocal.ldam_margins`: Cao et al. 2019's class margins for
  :func:`torchfocal.ldam_loss`.
- :func:`~torchfocal.prior_bias` / :func:`~torchfocal.prior_bias_`: Lin et al. 2017's
  initialisation of the last classification layer, so that every logit starts at
  probability ``pi``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import SupportsFloat, TypeGuard

import torch
from torch import Tensor, nn

from ._engine.checks import Counts as Counts  # defined beside ClassValues: the losses use it
from .losses.ldam import class_margins

__all__ = [
    "balanced_alpha",
    "class_balanced_weights",
    "deferred_reweighting",
    "ldam_margins",
    "prior_bias",
    "prior_bias_",
]


def _is_real_number(value: object) -> TypeGuard[SupportsFloat]:
    """A Python int or float, or a NumPy integer or floating scalar (never a bool)."""
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, float)):
        return True
    # NumPy registers its integer and floating scalars (and timedelta64, hence the kind) as
    # numbers.Real; its bool_ and its arrays are not.
    kind = getattr(getattr(value, "dtype", None), "kind", None)
    return isinstance(value, numbers.Real) and kind in ("i", "u", "f")


def _nested(name: str, value: object) -> tuple[tuple[int, ...], list[object]]:
    """The shape and the row-major leaves of a nesting of sequences, tensors and arrays."""
    if not _is_real_number(value):
        if isinstance(value, Tensor) or (hasattr(value, "__array__") and hasattr(value, "tolist")):
            # nested lists of Python scalars; a 0-d array lists as its scalar, a leaf
            value = value.tolist()
        if isinstance(value, Sequence) and not isinstance(value, (str, bytes, bytearray)):
            parts = [_nested(name, item) for item in value]
            shapes = {shape for shape, _ in parts}
            if len(shapes) > 1:
                raise ValueError(f"{name} must be a non-empty 1-D sequence; got a ragged one")
            inner = shapes.pop() if shapes else ()
            return (len(parts), *inner), [leaf for _, leaves in parts for leaf in leaves]
    return (), [value]


def _as_counts(name: str, value: object) -> Tensor:
    """A non-empty 1-D float64 CPU tensor of finite real numbers (ranges are the caller's)."""
    expected = f"{name} must be a sequence of numbers"
    if isinstance(value, Tensor):
        if value.is_complex() or value.dtype == torch.bool:
            raise TypeError(f"{expected}; got a tensor of {value.dtype}")
        array = value.detach().to(device="cpu", dtype=torch.float64)
    else:
        try:
            array = _from_python(name, value)
        except OverflowError:  # a Python int beyond float64 (NumPy's long doubles become inf)
            raise ValueError(
                f"{name} must be finite; got a number beyond the float64 range"
            ) from None
    if array.dim() != 1 or array.numel() == 0:
        raise ValueError(f"{name} must be a non-empty 1-D sequence; got shape {tuple(array.shape)}")
    finite = torch.isfinite(array)
    if not bool(finite.all()):
        bad = _first(~finite)
        raise ValueError(f"{name} must be finite; got {float(array[bad])} for class {bad}")
    return array


def _from_python(name: str, value: object) -> Tensor:
    """A float64 CPU tensor of the numbers nested in ``value``, each rounded as float() does."""
    if isinstance(value, (list, tuple)) and all(type(x) in (int, float) for x in value):
        return torch.tensor(value, dtype=torch.float64, device="cpu")  # the common case, fast
    # A NumPy array of another kind (bool, complex, str, ...) is named by its dtype; an object
    # array holds Python objects and is judged element by element like a list.
    expected = f"{name} must be a sequence of numbers"
    dtype = getattr(value, "dtype", None)
    if getattr(dtype, "kind", "O") not in ("i", "u", "f", "O"):
        raise TypeError(f"{expected}; got {type(value).__name__} of {dtype}")
    shape, leaves = _nested(name, [value] if _is_real_number(value) else value)
    numbers_only: list[float] = []
    for leaf in leaves:
        if not _is_real_number(leaf):
            of = "" if leaf is value else f" of {type(leaf).__name__}"
            raise TypeError(f"{expected}; got {type(value).__name__}{of}")
        numbers_only.append(float(leaf))
    return torch.tensor(numbers_only, dtype=torch.float64, device="cpu").reshape(shape)


def _first(mask: Tensor) -> int:
    """The index of the first True of a 1-D boolean tensor that has one."""
    return int(mask.nonzero()[0, 0])


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
    _check_beta(beta)
    return _class_balanced(_positive("counts", array), beta)


def _check_beta(beta: object) -> None:
    if isinstance(beta, bool) or not isinstance(beta, (int, float)):
        raise TypeError(f"beta must be a float in [0, 1); got {type(beta).__name__}")
    if not (0.0 <= beta < 1.0):
        raise ValueError(f"beta must be in [0, 1); got {beta!r}")


def _positive(name: str, array: Tensor) -> Tensor:
    """``array`` (of :func:`_as_counts`), checked to hold no count <= 0."""
    if bool((array <= 0).any()):
        bad = _first(array <= 0)
        raise ValueError(
            f"{name} must be positive for every class; got {float(array[bad]):g} for class {bad}"
        )
    return array


def _class_balanced(array: Tensor, beta: float) -> Tensor:
    """The weights of :func:`class_balanced_weights` of checked counts and beta."""
    if beta == 0.0:
        return torch.ones(array.numel(), dtype=torch.float32)
    # w_c = (1 - beta) / (1 - beta**n_c), normalised to sum C: the factor (1 - beta) cancels,
    # so w_c = C softmax(-log(1 - beta**n_c)). Working with logs keeps every count finite:
    # 1 / (1 - beta**n) overflows once 1 - beta**n drops below 1/DBL_MAX (subnormal n), and
    # the plain ratio of two such infinities is NaN.
    log_weights = -_log_one_minus_power(array, math.log(beta))
    weights = torch.exp(log_weights - log_weights.max())
    # computed on the CPU; the result lands where torch's factories put tensors (the default
    # device), as torch.ones above
    return torch.as_tensor(weights / weights.sum() * array.numel(), dtype=torch.float32)


def _log_one_minus_power(n: Tensor, log_beta: float) -> Tensor:
    r"""log(1 - beta**n) for n > 0 and log(beta) < 0, accurate for every finite n.

    With t = n log(beta) < 0, 1 - beta**n = -expm1(t). Where |t| >= 1/2, -expm1(t) lies in
    [0.39, 1] and its log is direct (t = -inf for huge n gives log 1 = 0). Where |t| < 1/2,
    t itself may be subnormal or 0 (tiny n times a small |log beta|), so it is split as
    -expm1(t) = n |log beta| * expm1(t) / t and taken in logs:
    log n + log|log beta| + log(expm1(t) / t), where expm1(t) / t lies in (0.78, 1] and is 1
    (to double precision) when t is too small to matter, 0 included.
    """
    t = n * log_beta  # -inf for huge n: 1 - beta**n is then 1
    small = t.abs() < 0.5
    # each branch is evaluated on harmless stand-ins where the other one is chosen
    safe_t = torch.where(small & (t != 0), t, -0.25)
    ratio = torch.where(t != 0, torch.expm1(safe_t) / safe_t, 1.0)
    split = torch.log(n) + math.log(-log_beta) + torch.log(ratio)
    direct = torch.log(-torch.expm1(torch.where(small, -1.0, t)))
    return torch.where(small, split, direct)


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
    if total.numel() not in (1, positives.numel()):
        raise ValueError(
            f"num_total must be one number or one per class ({positives.numel()}); "
            f"got {total.numel()} values"
        )
    total = total.expand(positives.shape)
    outside = (positives <= 0) | (positives >= total)
    if bool(outside.any()):
        bad = _first(outside)
        raise ValueError(
            f"num_positive must be in (0, num_total) for every class; got "
            f"{float(positives[bad]):g} of {float(total[bad]):g} for class {bad}"
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


def deferred_reweighting(
    class_counts: Counts, epoch: int, *, start_epoch: int, beta: float = 0.9999
) -> Tensor:
    r"""Class weights on the deferred re-weighting (DRW) schedule of Cao et al. (NeurIPS 2019).

    Before ``start_epoch`` every class weighs 1 (plain training learns the features);
    from ``start_epoch`` on the weights are :func:`class_balanced_weights` of the counts
    (``beta``), which then re-balance the decision boundaries:

    .. math::

        w(\text{epoch}) = \begin{cases} 1 & \text{epoch} < \text{start\_epoch} \\
        \text{class\_balanced\_weights}(n, \beta) & \text{otherwise.} \end{cases}

    Pass the result as ``weight`` to :func:`torchfocal.ldam_loss` (LDAM-DRW; the authors
    start at epoch 160 of 200 on CIFAR, with beta 0.9999) or to any loss that takes class
    weights, once per epoch (a module's ``weight`` buffer can be assigned:
    ``criterion.weight = deferred_reweighting(...).to(device)``).
    "Learning Imbalanced Datasets with Label-Distribution-Aware Margin Loss",
    https://arxiv.org/abs/1906.07413.

    Args:
        class_counts: C positive sample counts (sequence, NumPy array or tensor).
        epoch: the current epoch, counted from 0.
        start_epoch: the first epoch with class-balanced weights, >= 0.
        beta: Cui et al.'s beta, in [0, 1).

    Returns:
        A float32 CPU tensor of C weights summing to C.

    Example:
        >>> import torchfocal
        >>> torchfocal.deferred_reweighting([1000, 100, 10], 159, start_epoch=160)
        tensor([1., 1., 1.])
        >>> torchfocal.deferred_reweighting([1000, 100, 10], 160, start_epoch=160)
        tensor([0.0284, 0.2713, 2.7004])
    """
    array = _positive("class_counts", _as_counts("class_counts", class_counts))
    _check_beta(beta)
    epoch = _epoch("epoch", epoch)
    start_epoch = _epoch("start_epoch", start_epoch)
    if epoch < start_epoch:
        return torch.ones(array.numel(), dtype=torch.float32)
    return _class_balanced(array, beta)


def _epoch(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int; got {type(value).__name__}")
    if value < 0:
        raise ValueError(f"{name} must be >= 0; got {value}")
    return value


def ldam_margins(class_counts: Counts, max_margin: float = 0.5) -> Tensor:
    r"""The class margins of LDAM (Cao et al., NeurIPS 2019): :math:`m_c \propto n_c^{-1/4}`.

    .. math::

        m_c = m_{\max} \Big(\frac{\min_j n_j}{n_c}\Big)^{1/4}

    The rarest class gets ``max_margin``, a class a hundred times as frequent a margin
    :math:`100^{-1/4} \approx 0.32` times as wide. These are the margins
    :func:`torchfocal.ldam_loss` subtracts from the target class's logit (it computes them
    from its ``class_counts`` itself).

    Args:
        class_counts: C positive sample counts (sequence, NumPy array or tensor).
        max_margin: the largest margin, >= 0.

    Returns:
        A float32 CPU tensor of C margins in [0, max_margin] (computed in float64).

    Example:
        >>> import torchfocal
        >>> torchfocal.ldam_margins([1000, 100, 10])
        tensor([0.1581, 0.2812, 0.5000])
    """
    array = _positive("class_counts", _as_counts("class_counts", class_counts))
    if isinstance(max_margin, bool) or not isinstance(max_margin, (int, float)):
        raise TypeError(f"max_margin must be a float >= 0; got {type(max_margin).__name__}")
    if not (math.isfinite(max_margin) and max_margin >= 0):
        raise ValueError(f"max_margin must be a finite number >= 0; got {max_margin!r}")
    return class_margins(array, float(max_margin)).to(torch.float32)
