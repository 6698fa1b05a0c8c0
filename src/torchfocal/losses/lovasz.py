"""Lovasz-softmax and Lovasz hinge losses (Berman et al., CVPR 2018): the Lovasz extension
of the Jaccard loss, a tight convex surrogate of 1 - IoU.

For one class with errors e_i >= 0 (1 - p of a foreground location, p of a background one;
for the hinge, max(1 - x s, 0) with s = 2y - 1) sorted in decreasing order, pi the order,

    loss = sum_k e_pi(k) g_k,   g_k = J_k - J_(k-1),   J_k = 1 - |F \\ top_k| / |F u top_k|

(F the foreground, top_k the k largest errors; J is the Jaccard loss of predicting those
k as foreground), which is the Lovasz extension of the Jaccard set function evaluated at e.
It is piecewise linear in e: dloss/de_pi(k) = g_k (Berman et al., equation 9). The fused
form computes g once and scatters it back through the sort; the naive one lets autograd
differentiate through ``torch.sort``. Ignored locations are given the error -1, which
sorts them after every counted one, where they change no counted location's g, and are
multiplied out of the sum.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import torch
from torch import Tensor

from .._engine import checks as v
from .._engine import engine
from .._engine.targets import ignored_indices, per_location_classes
from ._module import LossModule, checking, init_options
from ._registry import LossInfo, Sample


def lovasz_grad(foreground: Tensor) -> Tensor:
    """g along dim 1 of a sorted 0/1 foreground (B, L, K): the Jaccard loss's increments."""
    total = foreground.sum(dim=1, keepdim=True)
    intersection = total - foreground.cumsum(dim=1)
    union = total + (1.0 - foreground).cumsum(dim=1)  # >= 1 at every position
    jaccard = 1.0 - intersection / union
    return torch.cat([jaccard[:, :1], jaccard[:, 1:] - jaccard[:, :-1]], dim=1)


def _extension(
    errors: Tensor, foreground: Tensor, valid: Tensor, need_grad: bool
) -> tuple[Tensor, Tensor | None]:
    """(per (B, K) loss, dloss/derrors or None) of errors (B, L, K) sorted along dim 1."""
    ordered, order = torch.sort(errors, dim=1, descending=True, stable=True)
    weight = lovasz_grad(foreground.gather(1, order)) * valid.gather(1, order)
    loss = (ordered * weight).sum(dim=1)
    if not need_grad:
        return loss, None
    return loss, torch.zeros_like(errors).scatter_(1, order, weight)


def _naive_extension(errors: Tensor, foreground: Tensor, valid: Tensor) -> Tensor:
    ordered, order = torch.sort(errors, dim=1, descending=True, stable=True)
    weight = lovasz_grad(foreground.gather(1, order)) * valid.gather(1, order)
    return (ordered * weight).sum(dim=1)


def _step(errors: Tensor) -> Tensor:
    """[e > 0], the derivative of max(e, 0), in the errors' dtype; NaN where e is NaN (the
    comparison alone says 0 there, and the NaN logit's gradient would be finite)."""
    return torch.where(torch.isnan(errors), errors, (errors > 0).to(errors.dtype))


def _reduce_images(per_image: Tensor, reduction: str) -> Tensor:
    if reduction == "none":
        return per_image if per_image.shape[0] != 1 else per_image.reshape(())
    if reduction == "sum":
        return per_image.sum()
    return per_image.sum() / max(per_image.shape[0], 1)


def _check_classes(classes: object, num_classes: int) -> str | list[int]:
    if classes in ("present", "all"):
        return classes  # type: ignore[return-value]
    if isinstance(classes, Sequence) and not isinstance(classes, str):
        chosen = list(classes)
        if chosen and all(
            isinstance(c, int) and not isinstance(c, bool) and 0 <= c < num_classes for c in chosen
        ):
            return chosen
    raise ValueError(
        f"classes must be 'present', 'all' or a non-empty list of class indices in "
        f"[0, {num_classes - 1}]; got {classes!r}"
    )


def lovasz_softmax_loss(
    input: Tensor,
    target: Tensor,
    *,
    classes: str | Sequence[int] = "present",
    per_image: bool = False,
    ignore_index: int = -100,
    class_dim: int = 1,
    reduction: str = "mean",
    backend: str = "auto",
) -> Tensor:
    r"""Lovasz-softmax loss (Berman et al., CVPR 2018, https://arxiv.org/abs/1705.08790).

    p = softmax(input) over ``class_dim``; per class c the errors :math:`|[y = c] - p_c|`
    of every counted location are sorted and dotted with the increments of the Jaccard
    loss (module docstring). The per-class losses are averaged over the classes chosen by
    ``classes``; with ``per_image`` per image, then over the images.

    Args:
        input: logits ``(N, C, d1, ...)`` (or ``(N, C)``), C >= 2.
        target: class indices of the input's shape without ``class_dim``; ``ignore_index``
            locations are left out.
        classes: ``"present"`` (the classes present in the target, of the image with
            ``per_image``; 0 where none is), ``"all"``, or a list of class indices.
        per_image: one loss per image, averaged (the authors' and smp's default is False,
            as here).
        reduction: ``"mean"`` (over images: there is one without ``per_image``),
            ``"sum"``, or ``"none"`` (``(N,)`` with ``per_image``, else a 0-d tensor).
        backend: ``"auto"`` / ``"fused"`` (g scattered back through the sort), ``"naive"``
            (autograd through ``torch.sort``) or ``"compiled"`` (the fused form, eagerly);
            no Triton kernel.

    An image with every location ignored contributes 0 and still counts in the mean over
    images (as the authors' code).

    Example:
        >>> import torch, torchfocal
        >>> logits = torch.tensor([[[2.0, -1.0, 0.5]], [[-1.0, 2.0, 0.0]]]).transpose(0, 1)
        >>> target = torch.tensor([[0, 1, 1]])
        >>> torchfocal.lovasz_softmax_loss(logits, target).round(decimals=4)
        tensor(0.3349)
    """
    v.refuse_transforms("the Lovasz losses", input, target)
    input, target = v.check_pair(input, target)
    reduction = v.check_reduction(reduction, v.REDUCTIONS)
    per_image = v.check_bool("per_image", per_image)
    ignore_index = v.check_ignore_index(ignore_index)
    backend = v.resolve_backend(backend, input, has_triton=False)
    if input.dim() < 2:
        raise ValueError(
            f"input must have a batch and a class dimension; got shape {v.shape_str(input.shape)}"
        )
    dim, num_classes = per_location_classes(input, class_dim)
    if dim == 0:
        raise ValueError(f"class_dim must not be the batch dimension 0; got {class_dim}")
    if num_classes < 2:
        raise ValueError(
            f"input must have at least 2 classes along class_dim={class_dim} for a softmax; "
            f"got shape {v.shape_str(input.shape)}"
        )
    index_shape = input.shape[:dim] + input.shape[dim + 1 :]
    if target.shape != index_shape:
        raise ValueError(
            f"target must be integer class indices of shape {v.shape_str(index_shape)}; "
            f"got {v.shape_str(target.shape)}"
        )
    if not v.is_integer_dtype(target.dtype):
        raise TypeError(f"target must be an integer tensor of class indices; got {target.dtype}")
    chosen = _check_classes(classes, num_classes)
    dtype = v.compute_dtype(input)
    index = target.long()
    ignored = ignored_indices(index, largest=num_classes - 1, ignore_index=ignore_index)
    valid_loc = torch.ones_like(index, dtype=torch.bool) if ignored is None else ~ignored
    index = index.masked_fill(~valid_loc, 0)
    batch = input.shape[0]
    images = batch if per_image else 1
    # (B, L, C) layout: the classes last, the locations of an image (or of all) in dim 1.
    locations = index.numel() // max(images, 1) if images else 0
    foreground = torch.nn.functional.one_hot(index, num_classes).to(dtype)
    valid = valid_loc.unsqueeze(-1).to(dtype)
    foreground = (foreground * valid).reshape(images, locations, num_classes)
    valid = valid.reshape(images, locations, 1).expand(-1, -1, num_classes)
    if chosen == "present":
        selected = (foreground.sum(dim=1) > 0).to(dtype)
    else:
        selected = torch.zeros(num_classes, dtype=dtype, device=input.device)
        indices = chosen if isinstance(chosen, list) else list(range(num_classes))
        selected[indices] = 1.0
        selected = selected.expand(images, num_classes)
    count = selected.sum(dim=1)
    class_share = selected / torch.where(count > 0, count, torch.ones_like(count)).unsqueeze(1)

    def layout(x: Tensor) -> Tensor:
        p = torch.softmax(x.to(dtype), dim=dim).movedim(dim, -1)
        return p.reshape(images, locations, num_classes)

    def errors_of(p: Tensor) -> Tensor:
        return torch.where(valid > 0, (foreground - p).abs(), -torch.ones_like(p))

    def naive(x: Tensor) -> Tensor:
        per_class = _naive_extension(errors_of(layout(x)), foreground, valid)
        return _reduce_images((per_class * class_share).sum(dim=1), reduction).to(x.dtype)

    def fused(x: Tensor, need_grad: bool) -> tuple[Tensor, Tensor | None]:
        with torch.no_grad():
            p = layout(x)
            per_class, d_errors = _extension(errors_of(p), foreground, valid, need_grad)
            loss = _reduce_images((per_class * class_share).sum(dim=1), reduction)
            if d_errors is None:
                return loss.to(x.dtype), None
            scale = 1.0 if reduction == "sum" else 1.0 / max(images if per_image else 1, 1)
            # de/dp = -1 on the foreground, +1 elsewhere (counted locations only).
            g = d_errors * class_share.unsqueeze(1) * (1.0 - 2.0 * foreground) * valid * scale
            g = g.reshape(*index.shape, num_classes).movedim(-1, dim)
            p_full = p.reshape(*index.shape, num_classes).movedim(-1, dim)
            grad = p_full * (g - (p_full * g).sum(dim=dim, keepdim=True))
            return loss.to(x.dtype), grad.to(x.dtype)

    chosen_backend = "naive" if reduction == "none" and per_image else backend
    return engine.run(engine.Closure(input, chosen_backend, naive, fused, constants=(target,)))


def lovasz_hinge_loss(
    input: Tensor,
    target: Tensor,
    *,
    per_image: bool = False,
    ignore_index: int = -100,
    reduction: str = "mean",
    backend: str = "auto",
) -> Tensor:
    r"""Lovasz hinge loss (Berman et al., CVPR 2018), binary segmentation.

    Errors :math:`1 - x s` (s = 2y - 1) sorted in decreasing order, their positive parts
    dotted with the Jaccard loss's increments (module docstring).

    Args:
        input: logits ``(N, d1, ...)`` (one per location; no class dimension).
        target: the input's shape: 0/1 labels (bool, integer or float), integer
            ``ignore_index`` locations left out.
        per_image: one loss per image, averaged over the images. The authors'
            ``lovasz_hinge`` defaults it to True; here it defaults to False, as smp's.
        reduction: ``"mean"``, ``"sum"`` or ``"none"`` (as :func:`lovasz_softmax_loss`).
        backend: as :func:`lovasz_softmax_loss`.

    Example:
        >>> import torch, torchfocal
        >>> torchfocal.lovasz_hinge_loss(torch.tensor([[2.0, -1.0, 0.5]]),
        ...                              torch.tensor([[1, 0, 0]])).round(decimals=4)
        tensor(0.7500)
    """
    v.refuse_transforms("the Lovasz losses", input, target)
    input, target = v.check_pair(input, target)
    reduction = v.check_reduction(reduction, v.REDUCTIONS)
    per_image = v.check_bool("per_image", per_image)
    ignore_index = v.check_ignore_index(ignore_index)
    backend = v.resolve_backend(backend, input, has_triton=False)
    if input.dim() < 1:
        raise ValueError("input must have a batch dimension (N, d1, ...); got a 0-d tensor")
    v.check_same_shape("target", target, input)
    dtype = v.compute_dtype(input)
    if target.is_floating_point():
        ok = (target == 0) | (target == 1)
        valid_loc = torch.ones_like(target, dtype=torch.bool)
    else:
        valid_loc = target != ignore_index
        ok = (target == 0) | (target == 1) | ~valid_loc
    v.require(
        ok,
        f"target must hold 0 or 1 (or ignore_index={ignore_index}); got {{bad}}",
        lambda: str(target[~ok][0].item()),
    )
    images = input.shape[0] if per_image else 1
    locations = input.numel() // max(images, 1) if images else 0
    labels = (target.to(dtype) * valid_loc).reshape(images, locations, 1)
    valid = valid_loc.to(dtype).reshape(images, locations, 1)
    signs = 2.0 * labels - 1.0

    def errors_of(x: Tensor) -> Tensor:
        margin = 1.0 - x.to(dtype).reshape(images, locations, 1) * signs
        return torch.where(valid > 0, margin, -torch.ones_like(margin))

    def naive(x: Tensor) -> Tensor:
        errors = errors_of(x)
        # max(e, 0) as e times its step, whose derivative is 0 wherever e is a number (a
        # where between constants; NaN at a NaN e, which takes e itself): relu's gradient
        # is 0 at a NaN error, which would leave a NaN logit's own gradient finite. (Not
        # detached: the gradient stays a function of x, for second derivatives.)
        hinged = errors * _step(errors)
        per_class = _naive_extension(hinged, labels, valid)
        return _reduce_images(per_class.squeeze(1), reduction).to(x.dtype)

    def fused(x: Tensor, need_grad: bool) -> tuple[Tensor, Tensor | None]:
        with torch.no_grad():
            errors = errors_of(x)
            step = _step(errors)
            per_class, d_errors = _extension(errors * step, labels, valid, need_grad)
            loss = _reduce_images(per_class.squeeze(1), reduction)
            if d_errors is None:
                return loss.to(x.dtype), None
            scale = 1.0 if reduction == "sum" else 1.0 / max(images if per_image else 1, 1)
            # d max(e, 0)/de = the step (NaN at a NaN error: its logit's gradient is NaN)
            grad = -d_errors * step * signs * valid * scale
            return loss.to(x.dtype), grad.reshape(input.shape).to(x.dtype)

    chosen_backend = "naive" if reduction == "none" and per_image else backend
    return engine.run(engine.Closure(input, chosen_backend, naive, fused, constants=(target,)))


class LovaszSoftmaxLoss(LossModule):
    """Module form of :func:`torchfocal.lovasz_softmax_loss`; see it for every argument.

    Example:
        >>> import torch, torchfocal
        >>> criterion = torchfocal.LovaszSoftmaxLoss(classes="all")
        >>> criterion(torch.tensor([[[2.0, -1.0]], [[-1.0, 2.0]]]).transpose(0, 1),
        ...           torch.tensor([[0, 1]])).round(decimals=4)
        tensor(0.0474)
    """

    _function = staticmethod(lovasz_softmax_loss)
    _checks = checking(per_image=functools.partial(v.check_bool, "per_image"))
    _repr_names = ("classes", "per_image")

    def __init__(
        self,
        *,
        classes: str | Sequence[int] = "present",
        per_image: bool = False,
        ignore_index: int = -100,
        class_dim: int = 1,
        reduction: str = "mean",
        backend: str = "auto",
    ) -> None:
        super().__init__(**init_options(locals()))


class LovaszHingeLoss(LossModule):
    """Module form of :func:`torchfocal.lovasz_hinge_loss`; see it for every argument.

    Example:
        >>> import torch, torchfocal
        >>> criterion = torchfocal.LovaszHingeLoss(per_image=True)
        >>> criterion(torch.tensor([[2.0, -1.0, 0.5]]), torch.tensor([[1, 0, 0]]))
        tensor(0.7500)
    """

    _function = staticmethod(lovasz_hinge_loss)
    _checks = checking(per_image=functools.partial(v.check_bool, "per_image"))
    _repr_names = ("per_image",)

    def __init__(
        self,
        *,
        per_image: bool = False,
        ignore_index: int = -100,
        reduction: str = "mean",
        backend: str = "auto",
    ) -> None:
        super().__init__(**init_options(locals()))


LOSSES = (
    LossInfo(
        function=lovasz_softmax_loss,
        module="LovaszSoftmaxLoss",
        form="region",
        samples=(Sample("index"),),
        docs="math.md#lovasz-softmax-and-lovasz-hinge-berman-et-al-2018",
        section=("region", 80),
    ),
    LossInfo(
        function=lovasz_hinge_loss,
        module="LovaszHingeLoss",
        form="region",
        samples=(Sample("mask"),),
        docs="math.md#lovasz-softmax-and-lovasz-hinge-berman-et-al-2018",
        section=("region", 90),
    ),
)
