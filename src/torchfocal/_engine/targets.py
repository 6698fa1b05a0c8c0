"""Target preparation for every target form, shared by the losses.

Two shapes of loss: elementwise ones (sigmoid-form: one value per logit) and per-location
ones (softmax-form: one value per location, the classes along ``class_dim``). Each
``prepare_*`` function takes checked tensors and returns a batch of prepared operands:
the target in the form the kernels take, per-element or per-class weights, and the divisor
of the reduction. The elementwise losses check first (:func:`check_elementwise`,
:func:`check_score_request`: the arguments the Triton kernel reads as they are) and
prepare only for the other backends (:func:`prepare_elementwise`).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from . import checks as v
from . import reduction as _reduction


def reject_single_class_index_target(input: Tensor, target: Tensor, dim: int) -> None:
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


class TargetForm(NamedTuple):
    """A checked target of a sigmoid-form loss, in the form it was given."""

    #: "mask" (bool or integer 0/1 of the input's shape), "float" (the input's shape, in
    #: [0, 1]) or "index" (class indices, the class dimension of size 1).
    form: str
    target: Tensor
    #: index form: the mask of ignored locations, or None where none is (or it is unknown
    #: without a read, see :func:`ignored_indices`).
    ignored: Tensor | None
    #: The target holds only 0 and 1 (masks and indices; a float target checked to).
    hard: bool
    #: index form: the class dimension.
    dim: int


def target_form(
    input: Tensor,
    target: Tensor,
    class_dim: int,
    ignore_index: int,
    *,
    range_in_kernel: bool = False,
) -> TargetForm:
    """Check any accepted target form of a sigmoid-form loss and say which it is.

    ``range_in_kernel``: a float target's [0, 1] check is left to the Triton kernel that
    reads it anyway (:func:`~torchfocal._engine.checks.checks_in_kernel`).

    Whether a float target is hard is asked once per call, and only where reading the
    answer is free (a CPU tensor, :func:`~torchfocal._engine.checks.reads_flags`): elsewhere
    the soft form, exact for hard targets too, runs without it. A target that requires
    grad is never hard (the naive form differentiates it).
    """
    if target.shape == input.shape:
        if target.dtype == torch.bool:
            return TargetForm("mask", target, None, True, class_dim)
        if v.is_integer_dtype(target.dtype):
            ok = (target == 0) | (target == 1)
            v.require(
                ok,
                "target must hold 0 or 1 when it is an integer mask of the input's shape; "
                "got {bad}",
                lambda: str(target[~ok][0].item()),
            )
            return TargetForm("mask", target, None, True, class_dim)
        if not target.is_floating_point():
            raise TypeError(f"target must be a float, bool or integer tensor; got {target.dtype}")
        if range_in_kernel:
            return TargetForm("float", target, None, False, class_dim)
        spread = check_unit_interval(UNIT_INTERVAL_MESSAGE.format(name="target"), target)
        hard = (
            spread is not None
            and not target.requires_grad
            and v.reads_flags(spread)
            and spread.item() == 0
        )
        return TargetForm("float", target, None, hard, class_dim)

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
        reject_single_class_index_target(input, target, dim)
    if not v.is_integer_dtype(target.dtype):
        raise TypeError(
            f"target must be an integer tensor of class indices when its shape is "
            f"{v.shape_str(index_shape)}; got {target.dtype}"
        )
    index = target.unsqueeze(dim)
    ignored = ignored_indices(
        index, largest=input.shape[dim], ignore_index=ignore_index, background=True
    )
    return TargetForm("index", index, ignored, True, dim)


def elementwise_target(input: Tensor, form: TargetForm) -> tuple[Tensor, Tensor | None, bool]:
    """Turn a checked target form into (y, valid, hard).

    y is a bool mask of the input's shape for hard targets, or the float target itself;
    valid is None or a bool tensor (class_dim of size 1) marking the counted locations; hard
    says that y holds only 0 and 1 (a mask, or a float target known to: the kernels' cheaper
    hard form; see :func:`target_form`).
    """
    target = form.target
    if form.form == "mask":
        return (target if target.dtype == torch.bool else target != 0), None, True
    if form.form == "float":
        return target, None, form.hard
    # The float one-hot, scattered: a comparison of every element with its class would be a
    # bool op over the whole input (several times an arithmetic one on the CPU), and the
    # kernels take hard targets as floats. Background and ignored locations write a 0.
    index, dim = form.target, form.dim
    num_classes = input.shape[dim]
    positive = index < num_classes
    valid = None if form.ignored is None else ~form.ignored
    if valid is not None:
        positive = positive & valid
    dtype = v.compute_dtype(input)
    y = torch.zeros(input.shape, dtype=dtype, device=input.device)
    if num_classes:  # no class, nothing to scatter (every index is background)
        # Out of place: under vmap the target is batched where the zeros are not, and
        # vmap has a batching rule for scatter, none for scatter_.
        y = y.scatter(dim, index.clamp(0, num_classes - 1).long(), positive.to(dtype))
    return y, valid, True


def ignored_indices(
    index: Tensor, *, largest: int, ignore_index: int, background: bool = False
) -> Tensor | None:
    """Check class indices (each in [0, largest] or ``ignore_index``); the mask of ignored
    ones, or None where there is none.

    On a CPU tensor the common case (every index a class, none ignored) is one pass for the
    extremes; the mask and the check of each index are built only when the extremes do not
    settle it. Elsewhere the mask is always built (whether anything is ignored would be a
    read of a value) and the check is a device-side assert.
    """
    if v.reads_flags(index) and index.numel():
        low, high = (int(value) for value in torch.aminmax(index))
        if low >= 0 and high <= largest and not low <= ignore_index <= high:
            return None
    ignored = index == ignore_index
    v.check_class_indices(
        index, ignored, largest=largest, ignore_index=ignore_index, background=background
    )
    if v.reads_flags(ignored) and not bool(ignored.any()):
        return None
    return ignored


class ElementwiseRequest(NamedTuple):
    """The checked arguments of a sigmoid-form loss (:func:`check_elementwise`,
    :func:`check_scores`), before anything is made of them: what the Triton kernel reads
    as it is, and what :func:`prepare_elementwise` turns into the other backends' operands.
    """

    input: Tensor
    #: The target as given (``form.target`` is the form the kernel reads).
    target: Tensor
    form: TargetForm
    #: The weight as given (checked to broadcast to the input), or None.
    weight: Tensor | None
    ignore_index: int
    #: class_dim, normalised where the input has one (else as given).
    class_dim: int
    reduction: str
    avg_factor: float | Tensor | None
    label_smoothing: float
    distributed: bool
    compute_dtype: torch.dtype
    #: The argument whose [0, 1] range the kernel checks (a float target not checked
    #: before it), or None.
    range_checked_in_kernel: str | None = None
    #: A target of scores: "positives" divides by the number of target values > 0, not by
    #: their sum.
    count_positives: bool = False


class ElementwiseBatch(NamedTuple):
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
    #: y holds only 0 and 1: a bool mask, or a float target checked to
    #: (see :func:`elementwise_target`).
    hard: bool = False

    def mask(self) -> Tensor:
        """The target as a bool mask where it is hard, else the float target."""
        if self.hard and self.y.dtype != torch.bool:
            return self.y == 1
        return self.y


def _check_weight(weight: Tensor | None, input: Tensor) -> Tensor | None:
    if weight is None:
        return None
    weight = v.check_tensor("weight", weight)
    v.check_same_device("weight", weight, input)
    v.broadcast_to_input("weight", weight, input.shape)
    return weight


def check_elementwise(
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
    range_in_kernel: bool = False,
) -> ElementwiseRequest:
    """Check the target form, weight and reduction options of a sigmoid-form loss.

    ``input`` and ``target`` have passed :func:`~torchfocal._engine.checks.check_pair`.
    ``range_in_kernel`` (backend="triton"): a float target's [0, 1] check is left to the
    kernel where it checks values itself (:func:`~torchfocal._engine.checks.checks_in_kernel`).
    """
    reduction = v.check_reduction(reduction, v.SIGMOID_REDUCTIONS)
    avg_factor = v.check_avg_factor(avg_factor, reduction)
    v.check_distributed(distributed, reduction)
    # An input of two or more dimensions must name a real class dimension; a 0-d or 1-D
    # input of independent binary logits is checked only where class_dim is used.
    if input.dim() >= 2:
        class_dim = v.normalize_dim("class_dim", class_dim, input.dim())
    weight = _check_weight(weight, input)
    in_kernel = range_in_kernel and v.checks_in_kernel(input.device) and not target.requires_grad
    form = target_form(input, target, class_dim, ignore_index, range_in_kernel=in_kernel)
    return ElementwiseRequest(
        input,
        target,
        form,
        weight,
        ignore_index,
        class_dim,
        reduction,
        avg_factor,
        label_smoothing,
        distributed,
        v.compute_dtype(input),
        "target" if in_kernel and form.form == "float" else None,
    )


def prepare_elementwise(request: ElementwiseRequest) -> ElementwiseBatch:
    """The operands of the fused and naive forms: the target as a mask or a float (one-hot
    of class indices, smoothed), the weight times the mask of counted elements, and the
    divisor of the reduction."""
    input, compute_dtype = request.input, request.compute_dtype
    if request.count_positives:
        return _prepare_scores(request)
    form = request.form
    if request.range_checked_in_kernel is not None:
        # Checked for the Triton kernel, which was to check the range itself, and run on the
        # naive form after all: the eager check here.
        form = target_form(input, request.target, request.class_dim, request.ignore_index)
    y, valid, hard = elementwise_target(input, form)
    element_weight = None
    if request.weight is not None:
        element_weight = request.weight.to(compute_dtype)
    if valid is not None:
        element_weight = (
            valid.to(compute_dtype) if element_weight is None else (element_weight * valid)
        )

    count: int | Tensor = input.numel()
    if valid is not None:
        count = valid.sum() * (input.numel() // max(valid.numel(), 1))
    # Ignored locations are already negatives in y, so y's sum is the counted positive mass.
    positive_mass = y.sum(dtype=compute_dtype) if request.reduction == "positives" else None
    divisor = _reduction.divisor(
        request.reduction,
        count=count,
        positive_mass=positive_mass,
        avg_factor=request.avg_factor,
        distributed=request.distributed,
    )
    label_smoothing = request.label_smoothing
    if label_smoothing > 0:
        y = y.to(compute_dtype) * (1.0 - label_smoothing) + label_smoothing / 2
    elif y.dtype != torch.bool:
        y = y.to(compute_dtype)
    hard = hard and label_smoothing == 0
    return ElementwiseBatch(
        input, y, element_weight, divisor, compute_dtype, request.class_dim, hard
    )


def class_alpha(
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


#: How far a probability target's sum over the classes may stray from 1, at the least; a
#: coarser dtype widens it (see :func:`probability_sum_tolerance`).
PROBABILITY_SUM_TOLERANCE = 1e-3


def probability_sum_tolerance(dtype: torch.dtype, num_classes: int) -> float:
    r"""How far a row of probabilities of ``dtype`` may sum from 1 and still be accepted.

    A row of probabilities stored in ``dtype`` carries the rounding of each value: a value
    in the normal range is off by at most :math:`u |p_c|` (u = eps / 2, the unit roundoff), one
    that underflowed by at most the smallest subnormal s. Summed over the row,

    .. math::

        \Big|\sum_c p_c - 1\Big| \le u \sum_c p_c + C s = u + C s

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


class PerLocationBatch(NamedTuple):
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
        # Out of place: under vmap the target may be batched where the zeros are not.
        one_hot = torch.zeros(
            self.input_shape, dtype=self.compute_dtype, device=self.target.device
        ).scatter(self.dim, self.target, 1.0)
        return one_hot if self.valid is None else one_hot * self.valid


def argmax_spelling(target: Tensor, dim: int) -> str:
    """How to turn a one-hot target into class indices (argmax takes no bool tensor)."""
    return f"target{'.long()' if target.dtype == torch.bool else ''}.argmax(dim={dim})"


def index_target_classes(
    input: Tensor, target: Tensor, class_dim: int, *, dense_form: str = "a one-hot target"
) -> tuple[int, int]:
    """(dim, C) of a loss that takes class indices only: ``target`` must have the input's
    shape without the class dimension and an integer dtype. A target of the input's shape
    gets the spelling that turns ``dense_form`` into indices."""
    dim, num_classes = per_location_classes(input, class_dim)
    index_shape = input.shape[:dim] + input.shape[dim + 1 :]
    if target.shape != index_shape:
        hint = ""
        if target.shape == input.shape:
            hint = f" (for {dense_form} pass {argmax_spelling(target, dim)})"
        raise ValueError(
            f"target must be integer class indices of shape {v.shape_str(index_shape)}; "
            f"got {target.dtype} of shape {v.shape_str(target.shape)}{hint}"
        )
    if not v.is_integer_dtype(target.dtype):
        raise TypeError(
            f"target must be an integer tensor of class indices (for labels held as floats "
            f"pass target.long()); got {target.dtype}"
        )
    return dim, num_classes


def per_location_classes(input: Tensor, class_dim: int) -> tuple[int, int]:
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


def prepare_per_location(
    input: Tensor,
    target: Tensor,
    *,
    alpha: v.ClassValues | None,
    weight: Tensor | None,
    ignore_index: int,
    label_smoothing: float,
    class_dim: int,
) -> PerLocationBatch:
    """Target forms, ignored locations, alpha and class weights of the softmax-form losses."""
    dim, num_classes = per_location_classes(input, class_dim)
    compute_dtype = v.compute_dtype(input)

    class_factor: Tensor | float | None = None
    if alpha is not None:
        if isinstance(alpha, (int, float)) and not isinstance(alpha, bool):
            class_factor = v.check_scalar_in("alpha", alpha, 0.0, float("inf"))
        else:
            class_factor = v.check_class_weight_tensor(
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
        class_weight = v.check_class_weight_tensor(
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
            f"{argmax_spelling(target, dim)} as class indices, or target.float() as "
            f"probabilities); got {target.dtype}"
        )
    if target.shape == input.shape:
        t = target.to(compute_dtype)
        check_unit_interval("target probabilities must be in [0, 1]", t)
        # Summed in the compute dtype (float32 at least): the tolerance is the target's.
        tolerance = probability_sum_tolerance(target.dtype, num_classes)
        sums = t.sum(dim=dim)
        near_one = (sums - 1).abs() <= tolerance
        v.require(
            near_one,
            f"target probabilities must sum to 1 over class_dim={class_dim} "
            f"(within {tolerance:.2g} for {target.dtype}); got a sum of {{bad}}",
            lambda: f"{sums[~near_one][0].item():.6g}",
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
        ignored = ignored_indices(index, largest=num_classes - 1, ignore_index=ignore_index)
        if ignored is not None:
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
    return PerLocationBatch(t, valid, class_factor, count, dim, compute_dtype, input.shape)


#: The message of a float target outside [0, 1] ({name}: the argument).
UNIT_INTERVAL_MESSAGE = "{name} must hold values in [0, 1]"


def check_scores(
    input: Tensor, target: object, name: str, *, range_in_kernel: bool = False
) -> Tensor:
    """A float target score of the input's shape, in [0, 1] (``range_in_kernel``: see
    :func:`target_form`)."""
    score = v.check_tensor(name, target)
    v.check_same_device(name, score, input)
    v.check_same_shape(name, score, input)
    if not score.is_floating_point():
        raise TypeError(f"{name} must be a float tensor of scores in [0, 1]; got {score.dtype}")
    if not range_in_kernel:
        check_unit_interval(UNIT_INTERVAL_MESSAGE.format(name=name), score)
    return score


def check_unit_interval(expectation: str, values: Tensor) -> Tensor | None:
    """Every value in [0, 1] (NaN is not), else ``ValueError("<expectation>; got <value>")``.

    Checked on y - y^2 = y (1 - y): negative (or NaN) exactly outside [0, 1], as y^2 rounds
    below y inside it and above it outside. Two ops and a read, where two comparisons, an
    ``&`` and an ``all`` would be five ops; the mask is built only for the message. Returns
    the largest y (1 - y), which is 0 exactly when every value is 0 or 1 (None when empty).
    """
    if values.numel() == 0:
        return None
    detached = values.detach()
    low, high = torch.aminmax(torch.addcmul(detached, detached, detached, value=-1.0))
    v.require(
        low >= 0,
        f"{expectation}; got {{bad}}",
        lambda: v.first(values, (values >= 0) & (values <= 1)),
    )
    return high


def check_score_request(
    input: object,
    target: object,
    *,
    weight: Tensor | None,
    reduction: str,
    avg_factor: float | Tensor | None,
    distributed: bool,
    range_in_kernel: bool = False,
) -> ElementwiseRequest:
    """Input, IoU-aware target score, weight and reduction options of the losses on scores.

    ``"positives"`` divides by the number of positives, max(count of target scores > 0, 1)
    (the detectors' num_pos: a dense score target holds one positive element per positive
    location); ``distributed=True`` first averages that count over the process group.
    ``range_in_kernel``: as in :func:`check_elementwise`.
    """
    input = v.check_float_input("input", input)
    in_kernel = (
        range_in_kernel
        and v.checks_in_kernel(input.device)
        and not (isinstance(target, Tensor) and target.requires_grad)
    )
    score = check_scores(input, target, "target", range_in_kernel=in_kernel)
    reduction = v.check_reduction(reduction, v.SIGMOID_REDUCTIONS)
    avg_factor = v.check_avg_factor(avg_factor, reduction)
    v.check_distributed(distributed, reduction)
    weight = _check_weight(weight, input)
    return ElementwiseRequest(
        input,
        score,
        # No class dimension: the score is elementwise (class_dim is unused by these losses).
        TargetForm("float", score, None, False, 1),
        weight,
        # Read only for class indices, which a score never is.
        -100,
        1,
        reduction,
        avg_factor,
        0.0,
        distributed,
        v.compute_dtype(input),
        "target" if in_kernel else None,
        count_positives=True,
    )


def _prepare_scores(request: ElementwiseRequest) -> ElementwiseBatch:
    input, score, compute_dtype = request.input, request.target, request.compute_dtype
    if request.range_checked_in_kernel is not None:  # the naive form after all: check here
        check_scores(input, score, "target")
    element_weight = None if request.weight is None else request.weight.to(compute_dtype)
    positives = (score > 0).sum(dtype=compute_dtype) if request.reduction == "positives" else None
    divisor = _reduction.divisor(
        request.reduction,
        count=input.numel(),
        positive_mass=positives,
        avg_factor=request.avg_factor,
        distributed=request.distributed,
    )
    return ElementwiseBatch(
        input, score.to(compute_dtype), element_weight, divisor, compute_dtype, 1
    )
