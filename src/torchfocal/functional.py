"""Public loss functions.

This is the only layer that validates input and picks a backend; the math lives in
:mod:`torchfocal._kernels`, the normalisers in :mod:`torchfocal._reduction`.
"""

from __future__ import annotations

import torch
from torch import Tensor

from . import _reduction
from . import _validation as v
from ._kernels import sigmoid as _sigmoid
from ._kernels import softmax as _softmax

__all__ = ["class_balanced_loss", "sigmoid_focal_loss", "softmax_focal_loss"]

_SIGMOID_REDUCTIONS = ("none", "mean", "sum", "positives")


def _compute_dtype(input: Tensor) -> torch.dtype:
    """float16 and bfloat16 are computed in float32 and returned in their own dtype."""
    return torch.float32 if input.dtype in (torch.float16, torch.bfloat16) else input.dtype


def _resolve_backend(backend: str) -> str:
    """ "auto" is the eager fused backend: it never adds compile latency."""
    return "fused" if backend == "auto" else backend


def _check_common(
    input: object, target: object, gamma: object, label_smoothing: object, ignore_index: object
) -> tuple[Tensor, Tensor, float, float]:
    """The checks every focal loss starts with."""
    checked_input = v.check_float_input("input", input)
    checked_target = v.check_tensor("target", target)
    v.check_same_device("target", checked_target, checked_input)
    if isinstance(ignore_index, bool) or not isinstance(ignore_index, int):
        raise TypeError(f"ignore_index must be an int; got {type(ignore_index).__name__}")
    return (
        checked_input,
        checked_target,
        v.check_gamma(gamma),
        v.check_scalar_in("label_smoothing", label_smoothing, 0.0, 1.0, high_inclusive=False),
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


def sigmoid_focal_loss(
    input: Tensor,
    target: Tensor,
    *,
    alpha: v.ClassValues | None = 0.25,
    gamma: float = 2.0,
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
        alpha: ``None`` (no weighting), a float in [0, 1] weighting positives (negatives get
            ``1 - alpha``), or C per-class values lined up with ``class_dim``.
        gamma: focusing parameter, >= 0. ``gamma = 0`` gives (alpha-weighted) BCE.
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
            pass), ``"naive"`` (plain torch ops under autograd).

    Returns:
        The loss: a scalar, or the input's shape for ``reduction="none"``, in the input's
        dtype. No gradient flows to ``target``, ``weight``, ``pos_weight`` or ``alpha``.

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
    reduction = v.check_reduction(reduction, _SIGMOID_REDUCTIONS)
    avg_factor = v.check_avg_factor(avg_factor, reduction)
    backend = _resolve_backend(v.check_backend(backend))
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

    alpha_arg: float | Tensor | None = None
    if alpha is not None:
        if isinstance(alpha, (int, float)) and not isinstance(alpha, bool):
            alpha_arg = v.check_scalar_in("alpha", alpha, 0.0, 1.0)
        else:
            dim = v.normalize_dim("class_dim", class_dim, input.dim())
            alpha_arg = v.class_values(
                "alpha",
                alpha,
                num_classes=input.shape[dim],
                class_dim=dim,
                input=input,
                dtype=compute_dtype,
                low=0.0,
                high=1.0,
            )

    element_weight = None
    if weight is not None:
        weight = v.check_tensor("weight", weight)
        v.check_same_device("weight", weight, input)
        element_weight = v.broadcast_to_input("weight", weight, input.shape).to(compute_dtype)
    if valid is not None:
        element_weight = (
            valid.to(compute_dtype) if element_weight is None else (element_weight * valid)
        )

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

    if backend == "naive":
        loss = _sigmoid.naive_elementwise(
            input.to(compute_dtype),
            y.to(compute_dtype),
            alpha=alpha_arg,
            gamma=gamma,
            weight=element_weight,
            pos_weight=pos_weight_arg,
        )
        return _reduction.reduce(loss, divisor).to(input.dtype)
    result: Tensor = _sigmoid.SigmoidFocalFunction.apply(
        input,
        y,
        alpha_arg,
        gamma,
        element_weight,
        pos_weight_arg,
        divisor,
        compute_dtype,
        backend == "compiled",
    )
    return result


_SOFTMAX_REDUCTIONS = ("none", "mean", "sum")
#: How far a probability target's sum over the classes may stray from 1.
PROBABILITY_SUM_TOLERANCE = 1e-3


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


def softmax_focal_loss(
    input: Tensor,
    target: Tensor,
    *,
    alpha: v.ClassValues | None = None,
    gamma: float = 2.0,
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
        input: logits, ``(N, C)``, ``(N, C, d1, ...)`` or ``(C,)``, float16 / bfloat16 /
            float32 / float64 (half types are computed in float32).
        target: integer class indices of the input's shape without ``class_dim``
            (values in ``[0, C)`` or ``ignore_index``), or class probabilities of the input's
            shape (float, each location summing to 1 within 1e-3).
        alpha: ``None``, a float >= 0 for every class, or C per-class values >= 0.
        gamma: focusing parameter, >= 0.
        weight: C class weights (as ``F.cross_entropy``'s ``weight``).
        ignore_index: index targets equal to it are left out of the loss and of the mean.
        label_smoothing: eps in [0, 1).
        class_dim: the class dimension (``-1`` for ``(B, anchors, C)`` inputs).
        reduction: ``"none"`` (one value per location), ``"mean"`` (for index targets,
            divided by the summed ``weight`` of the counted targets; for probability targets,
            by the number of locations) or ``"sum"``.
        backend: ``"auto"`` (fused), ``"fused"`` or ``"naive"``.

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
    reduction = v.check_reduction(reduction, _SOFTMAX_REDUCTIONS)
    backend = _resolve_backend(v.check_backend(backend))
    if input.dim() == 0:
        raise ValueError("input must have a class dimension (at least 1-D); got a 0-d tensor")
    dim = v.normalize_dim("class_dim", class_dim, input.dim())
    num_classes = input.shape[dim]
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
    if target.shape == input.shape and target.is_floating_point():
        dense = True
        t = target.to(compute_dtype)
        if not v._is_compiling() and t.numel():
            in_range = (t >= 0) & (t <= 1)
            if not bool(in_range.all()):
                bad = t[~in_range][0].item()
                raise ValueError(f"target probabilities must be in [0, 1]; got {bad!r}")
            sums = t.sum(dim=dim)
            off = (sums - 1).abs() > PROBABILITY_SUM_TOLERANCE
            if bool(off.any()):
                raise ValueError(
                    f"target probabilities must sum to 1 over class_dim={class_dim} "
                    f"(within {PROBABILITY_SUM_TOLERANCE:g}); got a sum of "
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
        dense = label_smoothing > 0
        if dense:
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

    divisor = _reduction.divisor(reduction, count=count)
    if backend == "naive":
        if not dense:
            t = torch.zeros(input.shape, dtype=compute_dtype, device=input.device).scatter_(
                dim, index, 1.0
            )
            if valid is not None:
                t = t * valid
        loss = _softmax.naive_per_location(
            input.to(compute_dtype), t, class_factor=class_factor, gamma=gamma, dim=dim
        )
        return _reduction.reduce(loss, divisor).to(input.dtype)
    result: Tensor = _softmax.SoftmaxFocalFunction.apply(
        input,
        t,
        valid,
        class_factor,
        gamma,
        dim,
        dense,
        divisor,
        compute_dtype,
        backend == "compiled",
    )
    return result


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
    reduction = v.check_reduction(reduction, ("none", "mean", "sum"))
    input = v.check_float_input("input", input)
    target = v.check_tensor("target", target)
    weights = v.check_tensor("weights", weights)
    if input.dim() < 1:
        raise ValueError("input must have a class dimension (at least 1-D); got a 0-d tensor")
    dim = v.normalize_dim("class_dim", class_dim, input.dim())
    index_shape = input.shape[:dim] + input.shape[dim + 1 :]
    if target.shape != index_shape or not v.is_integer_dtype(target.dtype):
        raise ValueError(
            f"target must be integer class indices of shape {v.shape_str(index_shape)}; "
            f"got {target.dtype} of shape {v.shape_str(target.shape)}"
        )
    num_classes = input.shape[dim]
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
    )
    inner_reduction = "none" if reduction == "none" else "sum"
    if loss == "softmax":
        result = softmax_focal_loss(
            input,
            target,
            gamma=gamma,
            weight=class_weight.reshape(-1),
            ignore_index=ignore_index,
            class_dim=dim,
            reduction=inner_reduction,
            backend=backend,
        )
    else:
        sample_weight = class_weight.reshape(-1)[target.masked_fill(ignored, 0)]
        result = sigmoid_focal_loss(
            input,
            target,
            alpha=None,
            gamma=gamma,
            weight=sample_weight.unsqueeze(dim),
            ignore_index=ignore_index,
            class_dim=dim,
            reduction=inner_reduction,
            backend=backend,
        )
    if reduction != "mean":
        return result
    counted = (~ignored).sum()
    return result / torch.where(counted > 0, counted, torch.ones_like(counted))
