"""Public loss functions.

This is the only layer that validates input and picks a backend; the math lives in
:mod:`torchfocal._kernels`, the normalisers in :mod:`torchfocal._reduction`.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import Tensor

from . import _reduction
from . import _validation as v
from ._kernels import _blocks
from ._kernels import autograd as _autograd
from ._kernels import family as _family
from ._kernels import sigmoid as _sigmoid
from ._kernels import softmax as _softmax

__all__ = [
    "asymmetric_loss",
    "class_balanced_loss",
    "distribution_focal_loss",
    "poly1_cross_entropy",
    "poly1_focal_loss",
    "quality_focal_loss",
    "sigmoid_focal_loss",
    "sigmoid_focal_loss_star",
    "softmax_focal_loss",
    "varifocal_loss",
]


def _compute_dtype(input: Tensor) -> torch.dtype:
    """float16 and bfloat16 are computed in float32 and returned in their own dtype."""
    return torch.float32 if input.dtype in (torch.float16, torch.bfloat16) else input.dtype


def _resolve_backend(backend: str) -> str:
    """ "auto" is the eager fused backend: it never adds compile latency."""
    return "fused" if backend == "auto" else backend


def _check_pair(input: object, target: object) -> tuple[Tensor, Tensor]:
    """A float input and a target tensor on its device."""
    checked_input = v.check_float_input("input", input)
    checked_target = v.check_tensor("target", target)
    v.check_same_device("target", checked_target, checked_input)
    return checked_input, checked_target


def _check_ignore_index(ignore_index: object) -> None:
    if isinstance(ignore_index, bool) or not isinstance(ignore_index, int):
        raise TypeError(f"ignore_index must be an int; got {type(ignore_index).__name__}")


def _check_common(
    input: object, target: object, gamma: object, label_smoothing: object, ignore_index: object
) -> tuple[Tensor, Tensor, v.GammaSpec, float]:
    """The checks every focal loss starts with."""
    checked_input, checked_target = _check_pair(input, target)
    _check_ignore_index(ignore_index)
    return (
        checked_input,
        checked_target,
        v.check_gamma_spec(gamma),
        v.check_scalar_in("label_smoothing", label_smoothing, 0.0, 1.0, high_inclusive=False),
    )


def _reject_single_class_index_target(input: Tensor, target: Tensor, dim: int) -> None:
    """With one class, a target without the class dimension is never guessed at.

    A binary classifier's ``(N, 1)`` logits with ``(N,)`` 0/1 labels read as class indices
    would make label 1 the background, a negative: confident correct predictions would
    cost ~3.7 instead of ~1e-7. As binary labels the same tensor means the opposite. Both
    readings have an unambiguous spelling of the input's shape, which the message shows;
    the class-index one needs no form of its own, as with C = 1 it is that mask.
    """
    shape, got = v.shape_str(input.shape), v.shape_str(target.shape)
    expected = f"target must have the input's shape {shape} when input has one class along "
    expected += f"class_dim={dim}"
    if v.is_integer_dtype(target.dtype):
        raise ValueError(
            f"{expected}: integer targets of shape {got} read as binary labels "
            f"(1 = positive) and as class indices (1 = background) disagree. For binary labels "
            f"pass target.unsqueeze({dim}); for class indices (0 = the class, 1 = background) "
            f"pass (target == 0).unsqueeze({dim}); got a {target.dtype} target of shape {got}"
        )
    raise ValueError(
        f"{expected} (for binary labels pass target.unsqueeze({dim})); "
        f"got a {target.dtype} target of shape {got}"
    )


def _resolve_sigmoid_target(
    input: Tensor, target: Tensor, class_dim: int, ignore_index: int
) -> tuple[Tensor, Tensor | None]:
    """Turn any accepted target form into (y, valid).

    y is a bool mask of the input's shape for hard targets, or the float target itself;
    valid is None or a bool tensor (class_dim of size 1) marking the counted locations.
    """
    if target.shape == input.shape:
        if target.dtype == torch.bool:
            return target, None
        if v.is_integer_dtype(target.dtype):
            if not v._is_compiling() and bool(((target != 0) & (target != 1)).any()):
                bad = target[(target != 0) & (target != 1)][0].item()
                raise ValueError(
                    f"target must hold 0 or 1 when it is an integer mask of the input's shape; "
                    f"got {bad}"
                )
            return target != 0, None
        if not target.is_floating_point():
            raise TypeError(f"target must be a float, bool or integer tensor; got {target.dtype}")
        if not v._is_compiling() and not bool(((target >= 0) & (target <= 1)).all()):
            bad = target[~((target >= 0) & (target <= 1))][0].item()
            raise ValueError(f"target must hold values in [0, 1]; got {bad!r}")
        return target, None

    index_shape = None
    if input.dim() >= 1:
        dim = v.normalize_dim("class_dim", class_dim, input.dim())
        index_shape = input.shape[:dim] + input.shape[dim + 1 :]
    if index_shape is None or target.shape != index_shape:
        expected = f"the shape of input {v.shape_str(input.shape)}"
        if index_shape is not None:
            expected += f" or {v.shape_str(index_shape)} for class indices"
        raise ValueError(f"target must have {expected}; got {v.shape_str(target.shape)}")
    if input.shape[dim] == 1:
        _reject_single_class_index_target(input, target, dim)
    if not v.is_integer_dtype(target.dtype):
        raise TypeError(
            f"target must be an integer tensor of class indices when its shape is "
            f"{v.shape_str(index_shape)}; got {target.dtype}"
        )
    num_classes = input.shape[dim]
    index = target.unsqueeze(dim)
    ignored = index == ignore_index
    v.check_class_indices(
        index, ignored, largest=num_classes, ignore_index=ignore_index, background=True
    )
    classes = torch.arange(num_classes, device=input.device)
    y = index == classes.reshape(v.class_shape(input.dim(), dim, num_classes))
    valid = ~ignored if v._is_compiling() or bool(ignored.any()) else None
    if valid is not None:
        y = y & valid
    return y, valid


class _SigmoidBatch(NamedTuple):
    """A checked input and target of a sigmoid-form loss, ready for the kernels."""

    input: Tensor
    #: A bool mask (hard targets) or the float target in the compute dtype (smoothed).
    y: Tensor
    #: The elementwise weight times the mask of counted elements, or None.
    weight: Tensor | None
    divisor: _reduction.Divisor
    compute_dtype: torch.dtype
    #: class_dim, normalised where the input has one (else as given).
    class_dim: int


def _prepare_sigmoid(
    input: Tensor,
    target: Tensor,
    *,
    weight: Tensor | None,
    ignore_index: int,
    class_dim: int,
    reduction: str,
    avg_factor: float | Tensor | None,
    label_smoothing: float = 0.0,
    distributed: bool = False,
) -> _SigmoidBatch:
    """Target forms, weight, ignored elements and the divisor of every sigmoid-form loss.

    ``input`` and ``target`` have passed :func:`_check_common` (or the same checks).
    """
    reduction = v.check_reduction(reduction, v.SIGMOID_REDUCTIONS)
    avg_factor = v.check_avg_factor(avg_factor, reduction)
    if distributed and reduction != "positives":
        raise ValueError(
            f"distributed must be False unless reduction='positives'; got distributed=True "
            f"with reduction={reduction!r}"
        )
    # An input of two or more dimensions must name a real class dimension; a 0-d or 1-D
    # input of independent binary logits is checked only where class_dim is used.
    if input.dim() >= 2:
        class_dim = v.normalize_dim("class_dim", class_dim, input.dim())
    compute_dtype = _compute_dtype(input)
    y, valid = _resolve_sigmoid_target(input, target, class_dim, ignore_index)

    element_weight = None
    if weight is not None:
        weight = v.check_tensor("weight", weight)
        v.check_same_device("weight", weight, input)
        element_weight = v.broadcast_to_input("weight", weight, input.shape).to(compute_dtype)
    if valid is not None:
        element_weight = (
            valid.to(compute_dtype) if element_weight is None else (element_weight * valid)
        )

    count: int | Tensor = input.numel()
    if valid is not None:
        count = valid.sum() * (input.numel() // max(valid.numel(), 1))
    # Ignored locations are already negatives in y, so y's sum is the counted positive mass.
    positive_mass = y.sum(dtype=compute_dtype) if reduction == "positives" else None
    divisor = _reduction.divisor(
        reduction,
        count=count,
        positive_mass=positive_mass,
        avg_factor=avg_factor,
        distributed=distributed,
    )
    if label_smoothing > 0:
        y = y.to(compute_dtype) * (1.0 - label_smoothing) + label_smoothing / 2
    elif y.dtype != torch.bool:
        y = y.to(compute_dtype)
    return _SigmoidBatch(input, y, element_weight, divisor, compute_dtype, class_dim)


def _sigmoid_alpha(
    alpha: v.ClassValues | None, input: Tensor, class_dim: int, dtype: torch.dtype
) -> float | Tensor | None:
    """A float alpha in [0, 1], or C per-class values lined up with class_dim."""
    if alpha is None:
        return None
    if isinstance(alpha, (int, float)) and not isinstance(alpha, bool):
        return v.check_scalar_in("alpha", alpha, 0.0, 1.0)
    dim = v.normalize_dim("class_dim", class_dim, input.dim())
    return v.class_values(
        "alpha",
        alpha,
        num_classes=input.shape[dim],
        class_dim=dim,
        input=input,
        dtype=dtype,
        low=0.0,
        high=1.0,
    )


def _flsd53(probability: Tensor) -> Tensor:
    """Mukhoti et al.'s FLSD-53: gamma 5 where the probability is below 0.2, else 3."""
    return torch.where(probability < 0.2, 5.0, 3.0)


def _gamma_from(gamma: v.GammaSpec, probability: Tensor) -> Tensor:
    """The per-element gamma of a schedule, from the (detached) probabilities."""
    schedule = _flsd53 if gamma == "flsd53" else gamma
    return v.check_gamma_values(schedule(probability), probability)  # type: ignore[operator]


def _sigmoid_gamma(
    gamma: v.GammaSpec,
    input: Tensor,
    y: Tensor,
    dtype: torch.dtype,
) -> float | Tensor:
    """A float gamma as is; a schedule evaluated at p_t (a constant of the graph)."""
    if isinstance(gamma, float):
        return gamma
    with torch.no_grad():
        p = torch.sigmoid(input.detach().to(dtype))
        p_t = torch.where(y, p, 1.0 - p) if y.dtype == torch.bool else p * y + (1 - p) * (1 - y)
        return _gamma_from(gamma, p_t)


def _softmax_gamma(
    gamma: v.GammaSpec,
    input: Tensor,
    target: Tensor,
    dim: int,
    dtype: torch.dtype,
) -> float | Tensor:
    """A float gamma as is; a schedule evaluated at each class probability p_c (or at p_y
    alone for an index target, the only class whose modulator counts)."""
    if isinstance(gamma, float):
        return gamma
    with torch.no_grad():
        p = torch.softmax(input.detach().to(dtype), dim=dim)
        if not target.is_floating_point():
            p = p.gather(dim, target)
        return _gamma_from(gamma, p)


def sigmoid_focal_loss(
    input: Tensor,
    target: Tensor,
    *,
    alpha: v.ClassValues | None = 0.25,
    gamma: v.GammaSpec = 2.0,
    weight: Tensor | None = None,
    pos_weight: Tensor | None = None,
    label_smoothing: float = 0.0,
    ignore_index: int = -100,
    class_dim: int = 1,
    reduction: str = "mean",
    avg_factor: float | Tensor | None = None,
    distributed: bool = False,
    backend: str = "auto",
) -> Tensor:
    r"""Sigmoid focal loss (Lin et al., 2017) for binary and multi-label classification.

    Each logit is an independent binary problem. Per element, with :math:`p = \sigma(x)`,

    .. math::

        p_t = p y + (1 - p)(1 - y), \quad \alpha_t = \alpha y + (1 - \alpha)(1 - y),

        \ell = \alpha_t \, (1 - p_t)^\gamma \, \mathrm{BCE}(x, y) \cdot w,

    where BCE is the :class:`torch.nn.BCEWithLogitsLoss` term (``pos_weight`` scales its
    positive part). For binary targets this is equation 5 of
    *Focal Loss for Dense Object Detection* (Lin et al., ICCV 2017,
    https://arxiv.org/abs/1708.02002); it is the form of torchvision, ultralytics and yolov5.
    With ``gamma=0`` and ``alpha=None`` it equals
    :func:`torch.nn.functional.binary_cross_entropy_with_logits` with the same options.

    Args:
        input: logits of any shape, e.g. ``(N, C)`` or ``(N, C, d1, ...)``; float16,
            bfloat16, float32 or float64 (half types are computed in float32).
        target: one of
            - the input's shape, float in [0, 1] (soft targets allowed), or bool / integer
              0-1 (a mask);
            - the input's shape without ``class_dim``, integer class indices: ``0..C-1``
              marks the positive class, ``C`` background (every class negative),
              ``ignore_index`` an element left out of the loss and of the count.

            With one class (C = 1, e.g. a binary classifier's ``(N, 1)`` logits) a target
            without ``class_dim`` is a ValueError, never a guess: ``(N,)`` 0/1 labels read
            as binary labels make 1 the positive, read as class indices make 1 the
            background. Say which you mean with the input's shape: binary labels as
            ``target.unsqueeze(class_dim)`` (float for soft labels); class indices
            (0 = the class, 1 = background) as the mask ``(target == 0).unsqueeze(class_dim)``.
            With C = 1 that mask is all the class-index reading says, so it has no other
            spelling; elements to leave out get weight 0 (``weight=keep.unsqueeze(class_dim)``,
            with ``avg_factor=keep.sum()`` for ``"mean"``).
        alpha: ``None`` (no weighting), a float in [0, 1] weighting positives (negatives get
            ``1 - alpha``), or C per-class values lined up with ``class_dim``.
        gamma: focusing parameter, >= 0 (``gamma = 0`` gives alpha-weighted BCE); or a
            sample-dependent gamma (Mukhoti et al. 2020, https://arxiv.org/abs/2002.09437):
            ``"flsd53"`` (5 where p_t < 0.2, else 3) or a callable from the tensor of p_t to
            a tensor of gammas (or a float). The schedule is evaluated on the detached
            probabilities and is a constant of the gradient (exact almost everywhere for a
            piecewise-constant schedule; a smooth callable's own derivative is left out).
        weight: elementwise rescaling that broadcasts to the input's shape.
        pos_weight: weight of the positive part of BCE: C values (lined up with
            ``class_dim``) or a tensor that broadcasts to the input's shape.
        label_smoothing: eps in [0, 1); targets become ``y (1 - eps) + eps / 2``.
        ignore_index: the class index that marks ignored elements (index targets only).
        class_dim: the dimension of the classes.
        reduction: ``"none"``, ``"mean"`` (sum / number of counted elements, or / avg_factor),
            ``"sum"``, or ``"positives"`` (sum / max(positive target mass, 1), Lin et al.'s
            normaliser; the mass is taken before label smoothing).
        avg_factor: with ``reduction="mean"``, the divisor to use instead of the count.
        distributed: with ``reduction="positives"``, average the positive mass over the
            default ``torch.distributed`` process group first.
        backend: ``"auto"`` (fused), ``"fused"`` (analytic gradient computed in the forward
            pass), ``"naive"`` (plain torch ops under autograd) or ``"compiled"`` (the fused
            math through ``torch.compile``, compiled once per case: gradient wanted or not,
            dtype, device, input rank, target form, which optional tensors are given and
            how they broadcast, ``reduction="none"`` or not, gamma 0, 1, 2 or another. Batch
            sizes and the values of alpha, the divisor and other gammas never recompile; a
            dimension of size 1, dimensions equal in the first call that later differ, a
            change of ``torch.get_num_threads()`` or a new memory layout add a program. If
            torch's recompile limit is reached, one RuntimeWarning is raised and that case
            runs on ``"fused"``).

    Returns:
        The loss: a scalar, or the input's shape for ``reduction="none"``, in the input's
        dtype. Every backend gives exact gradients to every tensor argument that requires
        grad (``input``, a soft ``target``, ``weight``, ``pos_weight``, ``alpha``) and exact
        second derivatives (``create_graph=True``): where more than the input's gradient is
        needed, the fused backends differentiate the naive form of the same call.

    Example:
        >>> import torch, torchfocal
        >>> logits = torch.tensor([[1.3863, -0.4055]])   # p = 0.8 and 0.4
        >>> target = torch.tensor([[1.0, 1.0]])
        >>> torchfocal.sigmoid_focal_loss(logits, target, alpha=None, reduction="none")
        tensor([[0.0089, 0.3299]])
    """
    input, target, gamma, label_smoothing = _check_common(
        input, target, gamma, label_smoothing, ignore_index
    )
    backend = _resolve_backend(v.check_backend(backend))
    batch = _prepare_sigmoid(
        input,
        target,
        weight=weight,
        ignore_index=ignore_index,
        class_dim=class_dim,
        reduction=reduction,
        avg_factor=avg_factor,
        label_smoothing=label_smoothing,
        distributed=distributed,
    )
    input, y, compute_dtype = batch.input, batch.y, batch.compute_dtype
    alpha_arg = _sigmoid_alpha(alpha, input, batch.class_dim, compute_dtype)

    pos_weight_arg = None
    if pos_weight is not None:
        pos_weight = v.check_tensor("pos_weight", pos_weight)
        v.check_same_device("pos_weight", pos_weight, input)
        if input.dim() >= 1 and pos_weight.dim() == 1:
            dim = v.normalize_dim("class_dim", class_dim, input.dim())
            if pos_weight.numel() == input.shape[dim]:
                pos_weight = pos_weight.reshape(v.class_shape(input.dim(), dim, input.shape[dim]))
        pos_weight_arg = v.broadcast_to_input("pos_weight", pos_weight, input.shape).to(
            compute_dtype
        )

    gamma_arg = _sigmoid_gamma(gamma, input, y, compute_dtype)

    def naive(x: Tensor) -> Tensor:
        loss = _sigmoid.naive_elementwise(
            x.to(compute_dtype),
            y.to(compute_dtype),
            alpha=alpha_arg,
            gamma=gamma_arg,
            weight=batch.weight,
            pos_weight=pos_weight_arg,
        )
        return _reduction.reduce(loss, batch.divisor).to(x.dtype)

    return _autograd.apply(
        input,
        backend=backend,
        naive=naive,
        fused=functools.partial(
            _sigmoid.run_fused,
            y=y,
            alpha=alpha_arg,
            gamma=gamma_arg,
            weight=batch.weight,
            pos_weight=pos_weight_arg,
            divisor=batch.divisor,
            compute_dtype=compute_dtype,
            compiled=backend == "compiled",
        ),
        constants=(y, alpha_arg, batch.weight, pos_weight_arg, batch.divisor),
    )


#: How far a probability target's sum over the classes may stray from 1, at the least; a
#: coarser dtype widens it (see :func:`probability_sum_tolerance`).
PROBABILITY_SUM_TOLERANCE = 1e-3


def probability_sum_tolerance(dtype: torch.dtype, num_classes: int) -> float:
    """How far a row of probabilities of ``dtype`` may sum from 1 and still be accepted.

    A row of probabilities stored in ``dtype`` carries the rounding of each value: a value
    in the normal range is off by at most u |p_c| (u = eps / 2, the unit roundoff), one
    that underflowed by at most the smallest subnormal s. Summed over the row,

        |sum_c p_c - 1| <= u sum_c p_c + C s = u + C s

    plus the same again for every rounding step that made the values (the softmax's own
    output rounding, a label-smoothing or mixup step, a renormalisation). The relative
    errors add up to a bound of the row's mass, not of C, so the number of classes enters
    only through the underflow term. ``4 eps = 8 u`` leaves room for a few such steps:
    0.031 for bfloat16 (``torch.softmax`` on bfloat16 rows is off by up to u = 0.0039),
    0.0039 for float16, still far from a row summing to 1.1. float32 and float64 keep
    :data:`PROBABILITY_SUM_TOLERANCE`, whose 1e-3 admits hand-written rows such as
    ``[0.333, 0.333, 0.334]``.
    """
    info = torch.finfo(dtype)
    smallest_subnormal = info.smallest_normal * info.eps
    return max(PROBABILITY_SUM_TOLERANCE, 4 * info.eps + num_classes * smallest_subnormal)


def _check_class_weight_tensor(
    name: str,
    value: object,
    *,
    num_classes: int,
    class_dim: int,
    input: Tensor,
    dtype: torch.dtype,
    high: float,
) -> Tensor:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        raise TypeError(f"{name} must be a sequence or tensor of {num_classes} values; got float")
    return v.class_values(
        name,
        value,  # type: ignore[arg-type]
        num_classes=num_classes,
        class_dim=class_dim,
        input=input,
        dtype=dtype,
        low=0.0,
        high=high,
    )


class _SoftmaxBatch(NamedTuple):
    """A checked input and target of a softmax-form loss, ready for the kernels."""

    #: Index target (class dim of size 1, ignored entries set to 0) or dense float target.
    target: Tensor
    #: Bool mask of counted locations (class dim of size 1), or None when all count.
    valid: Tensor | None
    class_factor: Tensor | float | None
    #: The divisor of "mean": counted locations, or their summed class weights.
    counted: int | Tensor
    dim: int
    compute_dtype: torch.dtype
    input_shape: torch.Size

    def dense_target(self) -> Tensor:
        """The target as a dense distribution of the input's shape (for the naive path)."""
        if self.target.is_floating_point():
            return self.target
        one_hot = torch.zeros(
            self.input_shape, dtype=self.compute_dtype, device=self.target.device
        ).scatter_(self.dim, self.target, 1.0)
        return one_hot if self.valid is None else one_hot * self.valid


def _argmax_spelling(target: Tensor, dim: int) -> str:
    """How to turn a one-hot target into class indices (argmax takes no bool tensor)."""
    return f"target{'.long()' if target.dtype == torch.bool else ''}.argmax(dim={dim})"


def _softmax_classes(input: Tensor, class_dim: int) -> tuple[int, int]:
    """The normalised class dimension of a softmax-form input and its number of classes.

    A softmax over zero classes is no distribution: no class index is in range and no row
    of probabilities sums to 1, so F.cross_entropy gives NaN or an index error (or an
    empty result for an empty batch). An empty class dimension is a shape error here,
    whatever the batch size.
    """
    if input.dim() == 0:
        raise ValueError("input must have a class dimension (at least 1-D); got a 0-d tensor")
    dim = v.normalize_dim("class_dim", class_dim, input.dim())
    num_classes = input.shape[dim]
    if num_classes == 0:
        raise ValueError(
            f"input must have at least one class along class_dim={class_dim}; "
            f"got shape {v.shape_str(input.shape)}"
        )
    return dim, num_classes


def _prepare_softmax(
    input: Tensor,
    target: Tensor,
    *,
    alpha: v.ClassValues | None,
    weight: Tensor | None,
    ignore_index: int,
    label_smoothing: float,
    class_dim: int,
) -> _SoftmaxBatch:
    """Target forms, ignored locations, alpha and class weights of the softmax-form losses."""
    dim, num_classes = _softmax_classes(input, class_dim)
    compute_dtype = _compute_dtype(input)

    class_factor: Tensor | float | None = None
    if alpha is not None:
        if isinstance(alpha, (int, float)) and not isinstance(alpha, bool):
            class_factor = v.check_scalar_in("alpha", alpha, 0.0, float("inf"))
        else:
            class_factor = _check_class_weight_tensor(
                "alpha",
                alpha,
                num_classes=num_classes,
                class_dim=dim,
                input=input,
                dtype=compute_dtype,
                high=float("inf"),
            )
    class_weight = None
    if weight is not None:
        v.check_tensor("weight", weight)
        class_weight = _check_class_weight_tensor(
            "weight",
            weight,
            num_classes=num_classes,
            class_dim=dim,
            input=input,
            dtype=compute_dtype,
            high=float("inf"),
        )
        class_factor = class_weight if class_factor is None else class_factor * class_weight

    index_shape = input.shape[:dim] + input.shape[dim + 1 :]
    valid: Tensor | None = None
    if target.shape == input.shape and not target.is_floating_point():
        raise TypeError(
            f"target must be a float tensor of class probabilities when it has the input's "
            f"shape {v.shape_str(input.shape)} (for a one-hot target pass "
            f"{_argmax_spelling(target, dim)} as class indices, or target.float() as "
            f"probabilities); got {target.dtype}"
        )
    if target.shape == input.shape:
        t = target.to(compute_dtype)
        if not v._is_compiling() and t.numel():
            in_range = (t >= 0) & (t <= 1)
            if not bool(in_range.all()):
                bad = t[~in_range][0].item()
                raise ValueError(f"target probabilities must be in [0, 1]; got {bad!r}")
            # Summed in the compute dtype (float32 at least): the tolerance is the target's.
            tolerance = probability_sum_tolerance(target.dtype, num_classes)
            sums = t.sum(dim=dim)
            off = (sums - 1).abs() > tolerance
            if bool(off.any()):
                raise ValueError(
                    f"target probabilities must sum to 1 over class_dim={class_dim} "
                    f"(within {tolerance:.2g} for {target.dtype}); got a sum of "
                    f"{sums[off][0].item():.6g}"
                )
        if label_smoothing > 0:
            t = t * (1.0 - label_smoothing) + label_smoothing / num_classes
        count: int | Tensor = t.numel() // max(num_classes, 1)
    elif target.shape == index_shape:
        if not v.is_integer_dtype(target.dtype):
            raise TypeError(
                f"target must be an integer tensor of class indices when its shape is "
                f"{v.shape_str(index_shape)}; got {target.dtype}"
            )
        index = target.unsqueeze(dim).long()
        ignored = index == ignore_index
        v.check_class_indices(index, ignored, largest=num_classes - 1, ignore_index=ignore_index)
        has_ignored = bool(ignored.any()) if not v._is_compiling() else True
        if has_ignored:
            valid = ~ignored
            index = index.masked_fill(ignored, 0)
        # F.cross_entropy's mean divides by the class weights of the counted targets.
        if class_weight is not None:
            target_weight = class_weight.reshape(-1)[index]
            count = (target_weight if valid is None else target_weight * valid).sum()
        else:
            count = int(index.numel()) if valid is None else valid.sum()
        if label_smoothing > 0:
            t = torch.full(
                input.shape, label_smoothing / num_classes, dtype=compute_dtype, device=input.device
            )
            t.scatter_add_(
                dim,
                index,
                torch.full(
                    index.shape, 1.0 - label_smoothing, dtype=compute_dtype, device=input.device
                ),
            )
            if valid is not None:
                t = t * valid
        else:
            t = index
    else:
        raise ValueError(
            f"target must have the shape of input {v.shape_str(input.shape)} (probabilities) "
            f"or {v.shape_str(index_shape)} (class indices); got {v.shape_str(target.shape)}"
        )
    return _SoftmaxBatch(t, valid, class_factor, count, dim, compute_dtype, input.shape)


def softmax_focal_loss(
    input: Tensor,
    target: Tensor,
    *,
    alpha: v.ClassValues | None = None,
    gamma: v.GammaSpec = 2.0,
    weight: Tensor | None = None,
    ignore_index: int = -100,
    label_smoothing: float = 0.0,
    class_dim: int = 1,
    reduction: str = "mean",
    backend: str = "auto",
) -> Tensor:
    r"""Softmax focal loss for multi-class, single-label classification.

    Per location, with :math:`p = \mathrm{softmax}(x)` over ``class_dim`` and target
    distribution :math:`t` (the one-hot of an index target, smoothed to
    :math:`t (1 - \epsilon) + \epsilon / C`, or the given probabilities),

    .. math::

        \ell = -\sum_c \alpha_c \, w_c \, t_c \, (1 - p_c)^\gamma \log p_c .

    This is the multi-class focal loss of Lin et al. (ICCV 2017,
    https://arxiv.org/abs/1708.02002, section 3 and its softmax variant). ``weight``,
    ``ignore_index``, ``label_smoothing`` and ``reduction`` follow
    :func:`torch.nn.functional.cross_entropy` exactly, so ``gamma=0`` with ``alpha=None`` is
    ``F.cross_entropy`` for every combination of those options. The one deliberate
    difference: when every target is ignored, ``"mean"`` returns 0 where torch returns NaN.

    Args:
        input: logits, ``(N, C)``, ``(N, C, d1, ...)`` or ``(C,)`` with C >= 1, float16 /
            bfloat16 / float32 / float64 (half types are computed in float32, sums and
            means too).
        target: integer class indices of the input's shape without ``class_dim``
            (values in ``[0, C)`` or ``ignore_index``), or class probabilities of the input's
            shape: float, each location summing to 1 within a tolerance of the target's
            dtype (1e-3 for float32 and float64, about 4 eps for float16 and bfloat16, so
            ``torch.softmax`` rows of those dtypes pass; see
            ``torchfocal.functional.probability_sum_tolerance``). A one-hot target of an
            integer or bool dtype is a TypeError: pass ``target.long().argmax(dim=class_dim)``
            (class indices) or ``target.float()`` (probabilities).
        alpha: ``None``, a float >= 0 for every class, or C per-class values >= 0.
        gamma: focusing parameter, >= 0; or ``"flsd53"`` or a callable, as in
            :func:`sigmoid_focal_loss`, evaluated at every class probability p_c (for index
            targets, at the target class's probability only).
        weight: C class weights (as ``F.cross_entropy``'s ``weight``).
        ignore_index: index targets equal to it are left out of the loss and of the mean.
        label_smoothing: eps in [0, 1).
        class_dim: the class dimension (``-1`` for ``(B, anchors, C)`` inputs).
        reduction: ``"none"`` (one value per location), ``"mean"`` (for index targets,
            divided by the summed ``weight`` of the counted targets; for probability targets,
            by the number of locations) or ``"sum"``.
        backend: ``"auto"`` (fused), ``"fused"``, ``"naive"`` or ``"compiled"``, as in
            :func:`sigmoid_focal_loss` (here the class dim is part of what makes a compiled
            case).

    Example:
        >>> import torch, torchfocal
        >>> logits = torch.tensor([[2.0, 0.5, -1.0], [0.0, 0.0, 3.0]])
        >>> target = torch.tensor([0, 1])
        >>> torchfocal.softmax_focal_loss(logits, target, gamma=2.0, reduction="none")
        tensor([0.0111, 2.8210])
    """
    input, target, gamma, label_smoothing = _check_common(
        input, target, gamma, label_smoothing, ignore_index
    )
    reduction = v.check_reduction(reduction, v.REDUCTIONS)
    backend = _resolve_backend(v.check_backend(backend))
    batch = _prepare_softmax(
        input,
        target,
        alpha=alpha,
        weight=weight,
        ignore_index=ignore_index,
        label_smoothing=label_smoothing,
        class_dim=class_dim,
    )
    return _run_softmax(
        input,
        backend=backend,
        target=batch.target,
        dense_target=batch.dense_target,
        valid=batch.valid,
        class_factor=batch.class_factor,
        gamma=_softmax_gamma(gamma, input, batch.target, batch.dim, batch.compute_dtype),
        dim=batch.dim,
        divisor=_reduction.divisor(reduction, count=batch.counted),
        compute_dtype=batch.compute_dtype,
    )


def _run_softmax(
    input: Tensor,
    *,
    backend: str,
    target: Tensor,
    dense_target: Callable[[], Tensor],
    valid: Tensor | None,
    class_factor: Tensor | float | None,
    gamma: float | Tensor,
    dim: int,
    divisor: _reduction.Divisor,
    compute_dtype: torch.dtype,
) -> Tensor:
    """A softmax-form loss (one value per location) through the chosen backend, reduced.

    ``target`` is what the fused kernel takes (class indices, or a dense float target);
    ``dense_target`` makes the dense one the naive form takes.
    """

    def naive(x: Tensor) -> Tensor:
        loss = _softmax.naive_per_location(
            x.to(compute_dtype), dense_target(), class_factor=class_factor, gamma=gamma, dim=dim
        )
        return _reduction.reduce(loss, divisor).to(x.dtype)

    return _autograd.apply(
        input,
        backend=backend,
        naive=naive,
        fused=functools.partial(
            _softmax.run_fused,
            target=target,
            valid=valid,
            class_factor=class_factor,
            gamma=gamma,
            dim=dim,
            divisor=divisor,
            compute_dtype=compute_dtype,
            compiled=backend == "compiled",
        ),
        constants=(target, class_factor, divisor),
        location_dim=dim if divisor is None else None,
    )


_CLASS_BALANCED_FORMS = ("focal", "sigmoid", "softmax")


def class_balanced_loss(
    input: Tensor,
    target: Tensor,
    *,
    weights: Tensor,
    loss: str = "focal",
    gamma: float | None = None,
    ignore_index: int = -100,
    class_dim: int = 1,
    reduction: str = "mean",
    backend: str = "auto",
) -> Tensor:
    r"""Class-balanced loss (Cui et al., CVPR 2019): each sample's loss times its class weight.

    With class weights :math:`w` (e.g. :func:`torchfocal.class_balanced_weights`) and a
    sample of class :math:`y`, the sample's whole loss is multiplied by :math:`w_y`; the
    class weight takes the place of alpha (no alpha is applied):

    - ``loss="focal"``: sigmoid focal loss on the one-hot target, all C logits of the sample
      scaled by :math:`w_y` (``gamma`` defaults to 2);
    - ``loss="sigmoid"``: the same with ``gamma = 0`` (binary cross-entropy);
    - ``loss="softmax"``: softmax cross-entropy (``gamma`` defaults to 0; a positive
      ``gamma`` gives the softmax focal loss).

    ``"mean"`` divides the weighted sum by the number of counted samples, as in Cui et al.'s
    reference implementation (so it is not ``F.cross_entropy(weight=w)``, which divides by
    the summed weights). https://arxiv.org/abs/1901.05555

    Args:
        input: logits ``(N, C)`` or ``(N, C, d1, ...)``.
        target: class indices in ``[0, C)`` of the input's shape without ``class_dim``, or
            ``ignore_index``.
        weights: C class weights.
        loss: ``"focal"``, ``"sigmoid"`` or ``"softmax"``.
        gamma: focusing parameter; ``None`` for the form's default.
        reduction: ``"none"`` (the sigmoid forms: the input's shape; softmax: one value per
            sample), ``"mean"`` or ``"sum"``.

    Example:
        >>> import torch, torchfocal
        >>> weights = torchfocal.class_balanced_weights([500, 50, 5], beta=0.999)
        >>> logits = torch.tensor([[2.0, -1.0, -2.0], [-1.0, -1.0, 1.0]])
        >>> torchfocal.class_balanced_loss(logits, torch.tensor([0, 2]), weights=weights)
        tensor(0.0919)
    """
    if not isinstance(loss, str) or loss not in _CLASS_BALANCED_FORMS:
        options = " | ".join(repr(f) for f in _CLASS_BALANCED_FORMS)
        raise ValueError(f"loss must be one of {options}; got {loss!r}")
    if gamma is None:
        gamma = 2.0 if loss == "focal" else 0.0
    gamma = v.check_gamma(gamma)
    if loss == "sigmoid" and gamma != 0.0:
        raise ValueError(
            f"gamma must be 0 for loss='sigmoid' (use loss='focal' for gamma > 0); got {gamma!r}"
        )
    reduction = v.check_reduction(reduction, v.REDUCTIONS)
    input, target = _check_pair(input, target)
    _check_ignore_index(ignore_index)
    weights = v.check_tensor("weights", weights)
    dim, num_classes = _softmax_classes(input, class_dim)
    index_shape = input.shape[:dim] + input.shape[dim + 1 :]
    if target.shape != index_shape:
        hint = ""
        if target.shape == input.shape:
            hint = f" (for a one-hot or probability target pass {_argmax_spelling(target, dim)})"
        raise ValueError(
            f"target must be integer class indices of shape {v.shape_str(index_shape)}; "
            f"got {target.dtype} of shape {v.shape_str(target.shape)}{hint}"
        )
    if not v.is_integer_dtype(target.dtype):
        raise TypeError(
            f"target must be an integer tensor of class indices (for labels held as floats "
            f"pass target.long()); got {target.dtype}"
        )
    ignored = target == ignore_index
    v.check_class_indices(target, ignored, largest=num_classes - 1, ignore_index=ignore_index)
    class_weight = v.class_values(
        "weights",
        weights,
        num_classes=num_classes,
        class_dim=dim,
        input=input,
        dtype=_compute_dtype(input),
        low=0.0,
        high=float("inf"),
    ).reshape(-1)
    # Every form reduces inside the loss it calls, where sums and the division are taken in
    # float32 or wider: a sum returned in float16 and divided afterwards would overflow.
    if loss == "softmax":
        # As softmax_focal_loss's alpha the class weight scales each sample's loss by w_y
        # and "mean" divides by the counted samples (its weight would divide by their
        # summed weights, as F.cross_entropy).
        return softmax_focal_loss(
            input,
            target,
            alpha=class_weight,
            gamma=gamma,
            ignore_index=ignore_index,
            class_dim=dim,
            reduction=reduction,
            backend=backend,
        )
    # The one-hot mask of the input's shape (not the index target): there is no background
    # index here, and with C = 1 an index target would be ambiguous to sigmoid_focal_loss.
    keep = ~ignored
    classes = torch.arange(num_classes, device=input.device)
    one_hot = target.unsqueeze(dim) == classes.reshape(v.class_shape(input.dim(), dim, num_classes))
    sample_weight = class_weight[target.masked_fill(ignored, 0)] * keep
    counted = keep.sum()
    return sigmoid_focal_loss(
        input,
        one_hot,
        alpha=None,
        gamma=gamma,
        weight=sample_weight.unsqueeze(dim),
        class_dim=dim,
        reduction=reduction,
        avg_factor=counted.clamp(min=1) if reduction == "mean" else None,
        backend=backend,
    )


# The focal family ------------------------------------------------------------------------


def _family_backend(backend: object) -> str:
    """The family's losses have a naive and a fused backend ("auto" is fused)."""
    return _resolve_backend(v.check_backend(backend, v.FAMILY_BACKENDS))


def _run_elementwise(
    batch: _SigmoidBatch,
    *,
    backend: str,
    naive: Callable[..., Tensor],
    fused: Callable[..., tuple[Tensor, Tensor | None]],
    target_name: str = "y",
    **operands: object,
) -> Tensor:
    """One elementwise loss of the family through the chosen backend, reduced."""
    dtype = batch.compute_dtype

    def naive_loss(x: Tensor) -> Tensor:
        loss = naive(x.to(dtype), batch.y.to(dtype), weight=batch.weight, **operands)
        return _reduction.reduce(loss, batch.divisor).to(x.dtype)

    return _autograd.apply(
        batch.input,
        backend=backend,
        naive=naive_loss,
        fused=functools.partial(
            _blocks.run_elementwise,
            fused,
            operands={target_name: batch.y, "weight": batch.weight, **operands},
            divisor=batch.divisor,
            compute_dtype=dtype,
        ),
        constants=(batch.y, batch.weight, batch.divisor, *operands.values()),
    )


def sigmoid_focal_loss_star(
    input: Tensor,
    target: Tensor,
    *,
    gamma: float = 2.0,
    beta: float = 1.0,
    alpha: v.ClassValues | None = None,
    weight: Tensor | None = None,
    ignore_index: int = -100,
    class_dim: int = 1,
    reduction: str = "mean",
    avg_factor: float | Tensor | None = None,
    backend: str = "auto",
) -> Tensor:
    r"""FL*, the focal loss variant of Lin et al. (2017), appendix A.

    Per element, with :math:`x_t = (2y - 1)\,x` (the logit signed by the target),

    .. math::

        \ell = \alpha_t \, w \, \frac{-\log \sigma(\gamma x_t + \beta)}{\gamma},
        \qquad \frac{\partial \ell}{\partial x} = -\alpha_t \, w \, (2y - 1)\,
        \sigma(-(\gamma x_t + \beta)).

    Like the focal loss it down-weights well-classified examples, by sharpening and
    shifting the logit instead of multiplying by a modulator. With ``gamma=1``, ``beta=0``
    and hard targets it is binary cross-entropy. fvcore's ``sigmoid_focal_loss_star`` is
    this loss with ``beta=0`` and ``reduction="none"``.
    *Focal Loss for Dense Object Detection*, https://arxiv.org/abs/1708.02002.

    Args:
        input: logits of any shape.
        target: every target form of :func:`sigmoid_focal_loss` (soft targets enter
            through :math:`2y - 1`); with one class, only the input's shape (as there).
        gamma: sharpening, > 0. beta: shift, any finite float.
        alpha: ``None``, a float in [0, 1] or C per-class values (as in
            :func:`sigmoid_focal_loss`).
        weight, ignore_index, class_dim, reduction, avg_factor: as in
            :func:`sigmoid_focal_loss` (reductions ``"none" | "mean" | "sum" | "positives"``).
        backend: ``"auto"`` (fused), ``"fused"`` or ``"naive"``.

    Example:
        >>> import torch, torchfocal
        >>> logits = torch.tensor([[2.0, -1.0, 0.0]])
        >>> target = torch.tensor([[1.0, 0.0, 1.0]])
        >>> torchfocal.sigmoid_focal_loss_star(logits, target, beta=1.0, reduction="none")
        tensor([[0.0034, 0.0243, 0.1566]])
    """
    input, target = _check_pair(input, target)
    _check_ignore_index(ignore_index)
    gamma = v.check_star_gamma(gamma)
    beta = v.check_scalar_in("beta", beta, -math.inf, math.inf)
    backend = _family_backend(backend)
    batch = _prepare_sigmoid(
        input,
        target,
        weight=weight,
        ignore_index=ignore_index,
        class_dim=class_dim,
        reduction=reduction,
        avg_factor=avg_factor,
    )
    return _run_elementwise(
        batch,
        backend=backend,
        naive=_family.star_naive,
        fused=_family.star_fused,
        gamma=gamma,
        beta=beta,
        alpha=_sigmoid_alpha(alpha, batch.input, batch.class_dim, batch.compute_dtype),
    )


def asymmetric_loss(
    input: Tensor,
    target: Tensor,
    *,
    gamma_pos: float = 0.0,
    gamma_neg: float = 4.0,
    clip: float = 0.05,
    weight: Tensor | None = None,
    ignore_index: int = -100,
    class_dim: int = 1,
    reduction: str = "mean",
    avg_factor: float | Tensor | None = None,
    backend: str = "auto",
) -> Tensor:
    r"""Asymmetric loss (ASL, Ridnik et al., ICCV 2021) for multi-label classification.

    Positives and negatives get their own focusing parameter, and negatives see a shifted
    probability :math:`p_m = \max(p - m, 0)` with :math:`m` = ``clip``, which discards the
    easiest negatives entirely (and with them many mislabelled ones):

    .. math::

        \ell = w \left[ y \, (1 - p)^{\gamma_+} (-\log p)
               + (1 - y) \, p_m^{\gamma_-} (-\log(1 - p_m)) \right].

    The paper writes the shift as a margin on the probability, :math:`p_m = \max(p - m, 0)`;
    the authors' code implements it as a clip of :math:`1 - p`,
    ``xs_neg = (1 - p + clip).clamp(max=1)``, which is the same number
    (:math:`1 - p_m = \min(1 - p + m, 1)`). Two differences from that code: no
    ``eps=1e-8`` clamp inside the logarithms (this loss stays in logit space and is
    accurate for every logit), and the focusing weight is differentiated (the code's
    ``disable_torch_grad_focal_loss=True`` option treats it as a constant). Below the
    clip (:math:`p \le m`) a negative's loss and gradient are exactly 0. The reference
    code sums (``reduction="sum"``); the default here is ``"mean"``.
    With ``gamma_pos = gamma_neg = 0`` and ``clip = 0`` it is binary cross-entropy.
    *Asymmetric Loss For Multi-Label Classification*, https://arxiv.org/abs/2009.14119.

    Args:
        input: logits, e.g. ``(N, C)``.
        target: every target form of :func:`sigmoid_focal_loss`; a soft target mixes the
            two sides linearly, :math:`y L_+ + (1 - y) L_-`. With one class, only the
            input's shape (binary labels as ``target.unsqueeze(class_dim)``, as there).
        gamma_pos, gamma_neg: focusing parameters of positives and negatives, >= 0.
        clip: the probability margin m of negatives, in [0, 1).
        weight, ignore_index, class_dim, reduction, avg_factor: as in
            :func:`sigmoid_focal_loss`.
        backend: ``"auto"`` (fused), ``"fused"`` or ``"naive"``.

    Example:
        >>> import torch, torchfocal
        >>> logits = torch.tensor([[2.0, -1.0, -3.0]])     # p = 0.881, 0.269, 0.047
        >>> target = torch.tensor([[1, 0, 0]])
        >>> torchfocal.asymmetric_loss(logits, target, reduction="none")
        tensor([[0.1269, 0.0006, 0.0000]])
    """
    input, target = _check_pair(input, target)
    _check_ignore_index(ignore_index)
    gamma_pos = v.check_scalar_in("gamma_pos", gamma_pos, 0.0, math.inf)
    gamma_neg = v.check_scalar_in("gamma_neg", gamma_neg, 0.0, math.inf)
    clip = v.check_scalar_in("clip", clip, 0.0, 1.0, high_inclusive=False)
    backend = _family_backend(backend)
    batch = _prepare_sigmoid(
        input,
        target,
        weight=weight,
        ignore_index=ignore_index,
        class_dim=class_dim,
        reduction=reduction,
        avg_factor=avg_factor,
    )
    return _run_elementwise(
        batch,
        backend=backend,
        naive=_family.asymmetric_naive,
        fused=_family.asymmetric_fused,
        gamma_pos=gamma_pos,
        gamma_neg=gamma_neg,
        clip=clip,
    )


def poly1_focal_loss(
    input: Tensor,
    target: Tensor,
    *,
    epsilon: float = 1.0,
    gamma: float = 2.0,
    alpha: v.ClassValues | None = None,
    activation: str = "sigmoid",
    weight: Tensor | None = None,
    ignore_index: int = -100,
    label_smoothing: float = 0.0,
    class_dim: int = 1,
    reduction: str = "mean",
    avg_factor: float | Tensor | None = None,
    backend: str = "auto",
) -> Tensor:
    r"""Poly-1 focal loss (Leng et al., ICLR 2022): the focal loss plus
    :math:`\epsilon (1 - P_t)^{\gamma + 1}`.

    PolyLoss writes a loss as a polynomial in :math:`1 - P_t`; Poly-1 perturbs only the
    leading coefficient, by ``epsilon``:

    - ``activation="sigmoid"`` (per element, the paper's detection form):
      :math:`\ell = w [\alpha_t (1 - p_t)^\gamma \mathrm{BCE}(x, y)
      + \epsilon (1 - p_t)^{\gamma+1}]`,
      the focal part being :func:`sigmoid_focal_loss` (the epsilon term is not
      alpha-weighted, as in the paper's code);
    - ``activation="softmax"`` (per location):
      :math:`\ell = -\sum_c \alpha_c w_c t_c (1 - p_c)^\gamma \log p_c
      + \epsilon (1 - P_t)^{\gamma+1}`
      with :math:`P_t = \sum_c t_c p_c`, the focal part being :func:`softmax_focal_loss`
      (class weights :math:`w` included, as ``F.cross_entropy``'s ``weight``).

    The epsilon term is weighted by neither alpha nor the class weights. The paper defines
    Poly-1 per sample, :math:`-\log P_t + \epsilon (1 - P_t)`, with no weights; the PyTorch
    implementations that take a class weight (e.g. polyloss-pytorch) pass it to the
    cross-entropy alone and add :math:`\epsilon (1 - P_t)` unweighted, which is what
    ``reduction="none"`` gives here. ``"mean"`` divides the whole sum by the summed
    class weights of the counted targets (``F.cross_entropy``'s mean, so that
    ``epsilon=0`` is ``F.cross_entropy(weight=w)`` for every option): the epsilon term's
    share of the mean therefore scales with one over the mean weight, and weights
    normalised to a mean of 1 keep ``epsilon`` on the paper's scale.

    ``epsilon=0`` gives the focal loss; ``gamma=0`` gives :func:`poly1_cross_entropy`.
    *PolyLoss: A Polynomial Expansion Perspective of Classification Loss Functions*,
    https://arxiv.org/abs/2204.12511.

    Args:
        input: logits.
        target: sigmoid: every target form of :func:`sigmoid_focal_loss` (with one class,
            only the input's shape, as there); softmax: class indices or probabilities,
            as :func:`softmax_focal_loss`.
        epsilon: the coefficient of the first polynomial term, >= -1 (the paper searches
            [-1, 8]; -1 removes the term's first-order part).
        gamma: focusing parameter, >= 0.
        alpha: as in the focal loss of the chosen activation.
        activation: ``"sigmoid"`` or ``"softmax"``.
        weight: sigmoid: elementwise rescaling (as :func:`sigmoid_focal_loss`); softmax:
            C class weights (as ``F.cross_entropy``'s ``weight`` and
            :func:`softmax_focal_loss`'s).
        ignore_index, label_smoothing, class_dim: as in the focal loss of the activation.
        reduction: sigmoid: ``"none" | "mean" | "sum" | "positives"``; softmax: ``"none"``
            (one value per location), ``"mean"`` (over counted locations, or their summed
            class weights for index targets with ``weight``) or ``"sum"``.
        avg_factor: sigmoid only, with ``reduction="mean"``.
        backend: ``"auto"`` (fused), ``"fused"`` or ``"naive"``.

    Example:
        >>> import torch, torchfocal
        >>> logits = torch.tensor([[2.0, 0.5, -1.0], [0.0, 0.0, 3.0]])
        >>> target = torch.tensor([0, 1])
        >>> torchfocal.poly1_focal_loss(logits, target, activation="softmax", reduction="none")
        tensor([0.0209, 3.6912])
    """
    activation = v.check_activation(activation)
    input, target = _check_pair(input, target)
    _check_ignore_index(ignore_index)
    epsilon = v.check_scalar_in("epsilon", epsilon, -1.0, math.inf)
    gamma = v.check_gamma(gamma)
    label_smoothing = v.check_scalar_in(
        "label_smoothing", label_smoothing, 0.0, 1.0, high_inclusive=False
    )
    backend = _family_backend(backend)
    if activation == "softmax":
        if avg_factor is not None:
            raise ValueError(
                f"avg_factor must be None for activation='softmax' (its mean divides by the "
                f"counted locations, or their summed class weights, as F.cross_entropy); "
                f"got {type(avg_factor).__name__}"
            )
        return _poly1_softmax(
            input,
            target,
            epsilon=epsilon,
            gamma=gamma,
            alpha=alpha,
            weight=weight,
            ignore_index=ignore_index,
            label_smoothing=label_smoothing,
            class_dim=class_dim,
            reduction=reduction,
            backend=backend,
        )
    batch = _prepare_sigmoid(
        input,
        target,
        weight=weight,
        ignore_index=ignore_index,
        class_dim=class_dim,
        reduction=reduction,
        avg_factor=avg_factor,
        label_smoothing=label_smoothing,
    )
    return _run_elementwise(
        batch,
        backend=backend,
        naive=_family.poly1_sigmoid_naive,
        fused=_family.poly1_sigmoid_fused,
        epsilon=epsilon,
        gamma=gamma,
        alpha=_sigmoid_alpha(alpha, batch.input, batch.class_dim, batch.compute_dtype),
    )


def _poly1_softmax(
    input: Tensor,
    target: Tensor,
    *,
    epsilon: float,
    gamma: float,
    alpha: v.ClassValues | None,
    weight: Tensor | None,
    ignore_index: int,
    label_smoothing: float,
    class_dim: int,
    reduction: str,
    backend: str,
) -> Tensor:
    """The softmax form: the softmax focal loss's target handling plus the Poly-1 term.

    ``weight`` (C class weights) enters the class factor of the focal / cross-entropy part
    and the divisor of "mean", exactly as in :func:`softmax_focal_loss`; the epsilon term
    is not weighted (see :func:`poly1_focal_loss`).
    """
    reduction = v.check_reduction(reduction, v.REDUCTIONS)
    batch = _prepare_softmax(
        input,
        target,
        alpha=alpha,
        weight=weight,
        ignore_index=ignore_index,
        label_smoothing=label_smoothing,
        class_dim=class_dim,
    )
    divisor = _reduction.divisor(reduction, count=batch.counted)

    def naive(logits: Tensor) -> Tensor:
        x = logits.to(batch.compute_dtype)
        t = batch.dense_target()
        loss = _softmax.naive_per_location(
            x, t, class_factor=batch.class_factor, gamma=gamma, dim=batch.dim
        )
        term = _family.poly1_softmax_term(x, t, power=gamma + 1.0, dim=batch.dim)
        if batch.valid is not None:
            term = term * batch.valid.squeeze(batch.dim)
        return _reduction.reduce(loss + epsilon * term, divisor).to(logits.dtype)

    return _autograd.apply(
        input,
        backend=backend,
        naive=naive,
        fused=functools.partial(
            _blocks.run_per_location,
            _family.poly1_softmax_fused,
            operands={
                "target": batch.target,
                "valid": batch.valid,
                "class_factor": batch.class_factor,
                "gamma": gamma,
                "epsilon": epsilon,
            },
            dim=batch.dim,
            divisor=divisor,
            compute_dtype=batch.compute_dtype,
        ),
        constants=(batch.target, batch.class_factor, divisor),
        location_dim=batch.dim if divisor is None else None,
    )


def poly1_cross_entropy(
    input: Tensor,
    target: Tensor,
    *,
    epsilon: float = 1.0,
    activation: str = "softmax",
    weight: Tensor | None = None,
    ignore_index: int = -100,
    label_smoothing: float = 0.0,
    class_dim: int = 1,
    reduction: str = "mean",
    avg_factor: float | Tensor | None = None,
    backend: str = "auto",
) -> Tensor:
    r"""Poly-1 cross-entropy (Leng et al., ICLR 2022): :math:`\mathrm{CE} + \epsilon (1 - P_t)`.

    The paper's classification loss: softmax cross-entropy plus ``epsilon`` times one minus
    the target's probability (:math:`P_t = \sum_c t_c p_c` for smoothed or probability
    targets). ``activation="sigmoid"`` gives the per-element binary form,
    :math:`\mathrm{BCE}(x, y) + \epsilon (1 - p_t)`. This is :func:`poly1_focal_loss` with
    ``gamma=0`` and no alpha; every argument means what it means there. ``epsilon=0`` gives
    ``F.cross_entropy`` (softmax) or ``F.binary_cross_entropy_with_logits`` (sigmoid)
    with the same options, ``weight`` included: for the softmax, C class weights that scale
    the cross-entropy (not the epsilon term) and make ``"mean"`` divide by the summed
    weights of the counted targets, exactly as ``F.cross_entropy``'s ``weight``; for the
    sigmoid, an elementwise weight. The sigmoid form takes every target form of
    :func:`sigmoid_focal_loss` (with one class, only the input's shape).
    https://arxiv.org/abs/2204.12511

    Example:
        >>> import torch, torchfocal
        >>> logits = torch.tensor([[2.0, 0.5, -1.0], [0.0, 0.0, 3.0]])
        >>> target = torch.tensor([0, 1])
        >>> torchfocal.poly1_cross_entropy(logits, target, epsilon=1.0, reduction="none")
        tensor([0.4557, 4.0496])
    """
    return poly1_focal_loss(
        input,
        target,
        epsilon=epsilon,
        gamma=0.0,
        alpha=None,
        activation=activation,
        weight=weight,
        ignore_index=ignore_index,
        label_smoothing=label_smoothing,
        class_dim=class_dim,
        reduction=reduction,
        avg_factor=avg_factor,
        backend=backend,
    )


def _check_score_target(input: Tensor, target: object, name: str) -> Tensor:
    """A float target score of the input's shape, in [0, 1]."""
    score = v.check_tensor(name, target)
    v.check_same_device(name, score, input)
    v.check_same_shape(name, score, input)
    if not score.is_floating_point():
        raise TypeError(f"{name} must be a float tensor of scores in [0, 1]; got {score.dtype}")
    if not v._is_compiling() and score.numel():
        inside = (score >= 0) & (score <= 1)
        if not bool(inside.all()):
            raise ValueError(f"{name} must hold values in [0, 1]; got {score[~inside][0].item()!r}")
    return score


def _score_batch(
    input: object,
    target_score: object,
    weight: Tensor | None,
    reduction: str,
    avg_factor: float | Tensor | None,
) -> _SigmoidBatch:
    """Checks shared by the losses on IoU-aware scores: input, score, weight, divisor."""
    input = v.check_float_input("input", input)
    score = _check_score_target(input, target_score, "target_score")
    reduction = v.check_reduction(reduction, v.REDUCTIONS)
    avg_factor = v.check_avg_factor(avg_factor, reduction)
    compute_dtype = _compute_dtype(input)
    element_weight = None
    if weight is not None:
        weight = v.check_tensor("weight", weight)
        v.check_same_device("weight", weight, input)
        element_weight = v.broadcast_to_input("weight", weight, input.shape).to(compute_dtype)
    divisor = _reduction.divisor(reduction, count=input.numel(), avg_factor=avg_factor)
    # No class dimension: the score is elementwise (class_dim is unused by these losses).
    return _SigmoidBatch(input, score.to(compute_dtype), element_weight, divisor, compute_dtype, 1)


def varifocal_loss(
    input: Tensor,
    target_score: Tensor,
    *,
    alpha: float = 0.75,
    gamma: float = 2.0,
    iou_weighted: bool = True,
    weight: Tensor | None = None,
    reduction: str = "mean",
    avg_factor: float | Tensor | None = None,
    backend: str = "auto",
) -> Tensor:
    r"""Varifocal loss (Zhang et al., CVPR 2021, VarifocalNet) on IoU-aware target scores.

    A positive (target score :math:`q > 0`, e.g. the IoU of the predicted box with its
    ground truth) keeps binary cross-entropy against the soft target :math:`q`, weighted
    by :math:`q` itself; a negative (:math:`q = 0`) is down-weighted focal-style:

    .. math::

        \ell = w \cdot \begin{cases}
            q \, \mathrm{BCE}(x, q) & q > 0 \\
            \alpha \, p^\gamma \, (-\log(1 - p)) & q = 0
        \end{cases}

    So, unlike the focal loss, only negatives are focused. ``iou_weighted=False`` drops
    the :math:`q` factor of positives. This is mmdet's ``varifocal_loss``; a negative's
    loss equals :func:`sigmoid_focal_loss` with target 0 and ``alpha = 1 - alpha``.
    *VarifocalNet: An IoU-aware Dense Object Detector*, https://arxiv.org/abs/2008.13367.

    Args:
        input: logits of any shape, e.g. ``(N, C)``.
        target_score: float, the input's shape, in [0, 1]: 0 for negatives, the IoU-aware
            score at the positive class of a positive location.
        alpha: weight of negatives, in [0, 1]. gamma: focusing of negatives, >= 0.
        iou_weighted: weight positives by their target score.
        weight: elementwise rescaling that broadcasts to the input's shape.
        reduction: ``"none"``, ``"mean"`` (over elements, or / ``avg_factor``: the
            detector's number of positives) or ``"sum"``.
        backend: ``"auto"`` (fused), ``"fused"`` or ``"naive"``.

    Example:
        >>> import torch, torchfocal
        >>> logits = torch.tensor([[1.0, -2.0], [0.5, 0.0]])
        >>> score = torch.tensor([[0.8, 0.0], [0.0, 0.3]])
        >>> torchfocal.varifocal_loss(logits, score, reduction="none")
        tensor([[0.4106, 0.0014],
                [0.2831, 0.2079]])
    """
    batch = _score_batch(input, target_score, weight, reduction, avg_factor)
    alpha = v.check_scalar_in("alpha", alpha, 0.0, 1.0)
    gamma = v.check_gamma(gamma)
    iou_weighted = v.check_bool("iou_weighted", iou_weighted)
    return _run_elementwise(
        batch,
        backend=_family_backend(backend),
        naive=_family.varifocal_naive,
        fused=_family.varifocal_fused,
        target_name="q",
        alpha=alpha,
        gamma=gamma,
        iou_weighted=iou_weighted,
    )


def quality_focal_loss(
    input: Tensor,
    target_score: Tensor,
    *,
    beta: float = 2.0,
    weight: Tensor | None = None,
    reduction: str = "mean",
    avg_factor: float | Tensor | None = None,
    backend: str = "auto",
) -> Tensor:
    r"""Quality focal loss (Li et al., NeurIPS 2020, Generalized Focal Loss).

    Classification and localisation quality in one soft target :math:`q \in [0, 1]` (0 for
    negatives, the IoU at the positive class); the modulator is the distance to it:

    .. math::

        \ell = w \, |q - \sigma(x)|^\beta \, \mathrm{BCE}(x, q).

    ``beta=0`` is binary cross-entropy with soft targets. mmdet's ``quality_focal_loss``
    takes ``(label, score)`` with background label C; the same loss here is a dense
    target: ``target = torch.zeros_like(logits); pos = label < C;
    target[pos, label[pos]] = score[pos]``.
    For ``0 < beta < 1`` the derivative of :math:`|q - p|^\beta` is unbounded at
    :math:`p = q`, so beta must be 0 or >= 1 (at :math:`p = q` exactly, the modulator's
    derivative is taken as 0). *Generalized Focal Loss*, https://arxiv.org/abs/2006.04388.

    Args:
        input: logits of any shape, e.g. ``(N, C)``.
        target_score: float, the input's shape, in [0, 1].
        beta: 0 or >= 1. weight, reduction, avg_factor, backend: as :func:`varifocal_loss`.

    Example:
        >>> import torch, torchfocal
        >>> logits = torch.tensor([[1.0, -2.0], [0.5, 0.0]])
        >>> score = torch.tensor([[0.8, 0.0], [0.0, 0.3]])
        >>> torchfocal.quality_focal_loss(logits, score, reduction="none")
        tensor([[0.0024, 0.0018],
                [0.3774, 0.0277]])
    """
    batch = _score_batch(input, target_score, weight, reduction, avg_factor)
    beta = v.check_quality_beta(beta)
    return _run_elementwise(
        batch,
        backend=_family_backend(backend),
        naive=_family.quality_naive,
        fused=_family.quality_fused,
        target_name="q",
        beta=beta,
    )


def distribution_focal_loss(
    input: Tensor,
    target: Tensor,
    *,
    weight: Tensor | None = None,
    bin_dim: int = -1,
    reduction: str = "mean",
    avg_factor: float | Tensor | None = None,
    backend: str = "auto",
) -> Tensor:
    r"""Distribution focal loss (Li et al., NeurIPS 2020, Generalized Focal Loss).

    A box edge is predicted as a distribution :math:`S = \mathrm{softmax}(x)` over the
    integral bins :math:`0, 1, \dots, n`; a continuous label :math:`y \in [0, n]` puts
    probability mass on the two bins around it, :math:`y_l = \lfloor y \rfloor` and
    :math:`y_r = y_l + 1`, in proportion to closeness:

    .. math::

        \ell = -\big( (y_r - y) \log S_{y_l} + (y - y_l) \log S_{y_r} \big) \cdot w,

    which is cross-entropy against that two-bin target (``y = n`` uses bins n-1 and n).
    Its gradient is :math:`S - t` for the two-bin target :math:`t`. This is mmdet's
    ``distribution_focal_loss`` (which needs ``y < n``).
    *Generalized Focal Loss*, https://arxiv.org/abs/2006.04388.

    Args:
        input: logits with the n+1 >= 2 bins along ``bin_dim``, e.g. ``(N, n + 1)``.
        target: float labels of the input's shape without ``bin_dim``, in [0, n].
        weight: per-location weights, broadcasting to the target's shape.
        bin_dim: the dimension of the bins (default the last).
        reduction: ``"none"`` (one value per location), ``"mean"`` (over locations, or /
            ``avg_factor``) or ``"sum"``.
        backend: ``"auto"`` (fused), ``"fused"`` or ``"naive"``.

    Example:
        >>> import torch, torchfocal
        >>> logits = torch.tensor([[0.0, 2.0, 1.0, -1.0], [1.0, 1.0, 1.0, 1.0]])
        >>> torchfocal.distribution_focal_loss(logits, torch.tensor([1.3, 3.0]), reduction="none")
        tensor([0.7402, 1.3863])
    """
    input, target = _check_pair(input, target)
    backend = _family_backend(backend)
    reduction = v.check_reduction(reduction, v.REDUCTIONS)
    avg_factor = v.check_avg_factor(avg_factor, reduction)
    if input.dim() == 0:
        raise ValueError("input must have a bin dimension (at least 1-D); got a 0-d tensor")
    dim = v.normalize_dim("bin_dim", bin_dim, input.dim())
    num_bins = input.shape[dim]
    if num_bins < 2:
        raise ValueError(f"input must have at least 2 bins along bin_dim={bin_dim}; got {num_bins}")
    location_shape = input.shape[:dim] + input.shape[dim + 1 :]
    if target.shape != location_shape:
        raise ValueError(
            f"target must have the input's shape without bin_dim {v.shape_str(location_shape)}; "
            f"got {v.shape_str(target.shape)}"
        )
    if not target.is_floating_point():
        raise TypeError(f"target must be a float tensor of continuous labels; got {target.dtype}")
    largest = num_bins - 1
    if not v._is_compiling() and target.numel():
        inside = (target >= 0) & (target <= largest)
        if not bool(inside.all()):
            raise ValueError(
                f"target must hold values in [0, {largest}]; got {target[~inside][0].item()!r}"
            )
    compute_dtype = _compute_dtype(input)
    label = target.to(compute_dtype).unsqueeze(dim)
    left = label.floor().clamp(max=largest - 1)
    two_bin = torch.zeros(input.shape, dtype=compute_dtype, device=input.device)
    two_bin.scatter_(dim, left.long(), left + 1.0 - label)
    two_bin.scatter_(dim, left.long() + 1, label - left)
    location_weight = None
    if weight is not None:
        weight = v.check_tensor("weight", weight)
        v.check_same_device("weight", weight, input)
        location_weight = v.broadcast_to_input("weight", weight, location_shape)
        location_weight = location_weight.to(compute_dtype).unsqueeze(dim)
    # Cross-entropy against the two-bin target: the softmax focal loss's math at gamma 0.
    return _run_softmax(
        input,
        backend=backend,
        target=two_bin,
        dense_target=lambda: two_bin,
        valid=None,
        class_factor=location_weight,
        gamma=0.0,
        dim=dim,
        divisor=_reduction.divisor(
            reduction, count=math.prod(location_shape), avg_factor=avg_factor
        ),
        compute_dtype=compute_dtype,
    )
