"""Dice + focal and Dice + cross-entropy: a region term and a per-location term, summed.

Each term is its own loss's exact form (:func:`~torchfocal.losses.dice.dice_loss` and the
softmax or sigmoid focal loss), so each keeps its fused backend and its gradient; the
sum's gradient is the weighted sum of theirs.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from .._engine import checks as v
from .._engine import reduction as reducing
from .._engine import regions
from ._module import RegionLossModule, checking, init_options
from ._registry import LossInfo, Sample
from .dice import dice_loss
from .sigmoid_focal import sigmoid_focal_loss
from .softmax_focal import softmax_focal_loss


def _focal_term(
    input: Tensor,
    target: Tensor,
    *,
    activation: str,
    alpha: v.ClassValues | None,
    gamma: float,
    weight: Tensor | None,
    ignore_index: int,
    class_dim: int,
    reduction: str,
    backend: str,
) -> Tensor:
    if activation == "softmax":
        if target.shape == input.shape and not target.is_floating_point():
            target = target.to(v.compute_dtype(input))  # a one-hot mask, as probabilities
        return softmax_focal_loss(
            input,
            target,
            alpha=alpha,
            gamma=gamma,
            weight=weight,
            ignore_index=ignore_index,
            class_dim=class_dim,
            reduction=reduction,
            backend=backend,
        )
    element_weight = None
    if weight is not None:
        # C class weights, lined up with class_dim so that they broadcast over the elements.
        dim = v.normalize_dim("class_dim", class_dim, input.dim())
        element_weight = v.check_class_weight_tensor(
            "weight",
            weight,
            num_classes=input.shape[dim],
            class_dim=dim,
            input=input,
            dtype=weight.dtype if weight.is_floating_point() else v.compute_dtype(input),
            high=float("inf"),
        )
    return sigmoid_focal_loss(
        input,
        target,
        alpha=alpha,
        gamma=gamma,
        weight=element_weight,
        ignore_index=ignore_index,
        class_dim=class_dim,
        reduction=reduction,
        backend=backend,
    )


def dice_focal_loss(
    input: Tensor,
    target: Tensor,
    *,
    lambda_dice: float = 1.0,
    lambda_focal: float = 1.0,
    gamma: float = 2.0,
    alpha: v.ClassValues | None = None,
    activation: str = "softmax",
    weight: Tensor | None = None,
    include_background: bool = True,
    ignore_index: int = -100,
    class_dim: int = 1,
    smooth_nr: float = 1e-5,
    smooth_dr: float = 1e-5,
    squared: bool = False,
    log: bool = False,
    batch: bool = False,
    reduction: str = "mean",
    distributed: bool = False,
    backend: str = "auto",
) -> Tensor:
    r"""Dice plus focal loss: ``lambda_dice * dice_loss + lambda_focal * focal``.

    The focal term is :func:`~torchfocal.softmax_focal_loss` (``activation="softmax"``) or
    :func:`~torchfocal.sigmoid_focal_loss` (``"sigmoid"``) with the same ``reduction``.
    ``weight`` (C class weights), ``ignore_index``, ``class_dim`` and ``activation`` are
    shared by both terms (``weight`` weighs the focal term as ``F.cross_entropy``'s does,
    and the Dice entries as in :func:`~torchfocal.dice_loss`); ``alpha`` and ``gamma`` are
    the focal term's own (for the sigmoid form, ``alpha`` None is no alpha, unlike
    sigmoid_focal_loss's default 0.25). The other arguments are :func:`~torchfocal.dice_loss`'s.
    A bool or integer one-hot mask of the input's shape is passed to the softmax focal term
    as probabilities.

    Args:
        lambda_dice: >= 0, the Dice term's weight.
        lambda_focal: >= 0, the focal term's weight.
        reduction: ``"mean"`` or ``"sum"`` (each term reduced so, then added).
        distributed: with ``batch=True``, both terms are the whole batch's over the default
            process group: the Dice term's per-class sums are all-reduced (as in
            :func:`~torchfocal.dice_loss`), and the focal term's sum and its ``"mean"``
            divisor (the counted locations, or their class weights, as
            ``F.cross_entropy``'s) are too. Every rank gets the global value and the exact
            gradient of its own shard.

    Example:
        >>> import torch, torchfocal
        >>> logits = torch.tensor([[[2.0, -1.0, 0.5]], [[-1.0, 2.0, 0.0]]]).transpose(0, 1)
        >>> target = torch.tensor([[0, 1, 1]])
        >>> torchfocal.dice_focal_loss(logits, target).round(decimals=4)
        tensor(0.3688)
    """
    lambda_dice = v.check_scalar_in("lambda_dice", lambda_dice, 0.0, float("inf"))
    lambda_focal = v.check_scalar_in("lambda_focal", lambda_focal, 0.0, float("inf"))
    gamma = v.check_gamma(gamma)
    reduction = v.check_reduction(reduction, ("mean", "sum"))
    activation = regions.check_activation(activation)
    if activation == "none":
        raise ValueError(
            "activation must be 'softmax' or 'sigmoid' for a loss with a focal term (it "
            "takes logits); got 'none'"
        )
    distributed = v.check_bool("distributed", distributed)
    dice = dice_loss(
        input,
        target,
        activation=activation,
        weight=weight,
        include_background=include_background,
        ignore_index=ignore_index,
        class_dim=class_dim,
        smooth_nr=smooth_nr,
        smooth_dr=smooth_dr,
        squared=squared,
        log=log,
        batch=batch,
        reduction=reduction,
        distributed=distributed,
        backend=backend,
    )
    focal = _focal_term(
        input,
        target,
        activation=activation,
        alpha=alpha,
        gamma=gamma,
        weight=weight,
        ignore_index=ignore_index,
        class_dim=class_dim,
        reduction="sum" if distributed else reduction,
        backend=backend,
    )
    if distributed:
        # The value all-reduced, its gradient the local one: each rank differentiates its
        # own shard's share of the global sum.
        focal = focal + (reducing.sum_over_process_group(focal.detach()) - focal.detach())
        if reduction == "mean":
            divisor = reducing.sum_over_process_group(
                _focal_divisor(input, target, activation, weight, ignore_index, class_dim)
            )
            focal = focal / torch.where(divisor > 0, divisor, torch.ones_like(divisor))
    return lambda_dice * dice + lambda_focal * focal


def _focal_divisor(
    input: Tensor,
    target: Tensor,
    activation: str,
    weight: Tensor | None,
    ignore_index: int,
    class_dim: int,
) -> Tensor:
    """The local divisor of the focal term's "mean": for the sigmoid form the counted
    elements; for the softmax form the counted locations (index targets: their class
    weights' sum where ``weight`` is given, as ``F.cross_entropy``)."""
    dtype = v.compute_dtype(input)
    dim = v.normalize_dim("class_dim", class_dim, input.dim())
    classes = input.shape[dim]
    if target.shape == input.shape:
        count = input.numel() if activation == "sigmoid" else input.numel() // max(classes, 1)
        return torch.tensor(float(count), dtype=dtype, device=input.device)
    counted = target != ignore_index
    if activation == "sigmoid":
        return counted.sum().to(dtype) * classes
    if weight is None:
        return counted.sum().to(dtype)
    index = target.masked_fill(~counted, 0).long()
    return (weight.detach().to(dtype)[index] * counted).sum()


def dice_ce_loss(
    input: Tensor,
    target: Tensor,
    *,
    lambda_dice: float = 1.0,
    lambda_ce: float = 1.0,
    activation: str = "softmax",
    weight: Tensor | None = None,
    include_background: bool = True,
    ignore_index: int = -100,
    class_dim: int = 1,
    smooth_nr: float = 1e-5,
    smooth_dr: float = 1e-5,
    squared: bool = False,
    log: bool = False,
    batch: bool = False,
    reduction: str = "mean",
    distributed: bool = False,
    backend: str = "auto",
) -> Tensor:
    r"""Dice plus cross-entropy: :func:`dice_focal_loss` at ``gamma=0`` with no ``alpha``.

    With ``activation="softmax"`` the second term is ``F.cross_entropy`` (same ``weight``,
    ``ignore_index`` and reduction) exactly; with ``"sigmoid"`` it is
    ``F.binary_cross_entropy_with_logits`` of the mask (class weights per channel).

    Args:
        lambda_dice: >= 0, the Dice term's weight.
        lambda_ce: >= 0, the cross-entropy term's weight.
        distributed: as :func:`dice_focal_loss`'s (with ``batch=True``).

    Example:
        >>> import torch, torchfocal
        >>> logits = torch.tensor([[[2.0, -1.0, 0.5]], [[-1.0, 2.0, 0.0]]]).transpose(0, 1)
        >>> target = torch.tensor([[0, 1, 1]])
        >>> torchfocal.dice_ce_loss(logits, target).round(decimals=4)
        tensor(0.6000)
    """
    return dice_focal_loss(
        input,
        target,
        lambda_dice=lambda_dice,
        lambda_focal=v.check_scalar_in("lambda_ce", lambda_ce, 0.0, float("inf")),
        gamma=0.0,
        alpha=None,
        activation=activation,
        weight=weight,
        include_background=include_background,
        ignore_index=ignore_index,
        class_dim=class_dim,
        smooth_nr=smooth_nr,
        smooth_dr=smooth_dr,
        squared=squared,
        log=log,
        batch=batch,
        reduction=reduction,
        distributed=distributed,
        backend=backend,
    )


class DiceFocalLoss(RegionLossModule):
    """Module form of :func:`torchfocal.dice_focal_loss`; see it for every argument.

    Example:
        >>> import torch, torchfocal
        >>> criterion = torchfocal.DiceFocalLoss(lambda_focal=2.0)
        >>> criterion(torch.tensor([[[2.0, -1.0]], [[-1.0, 2.0]]]).transpose(0, 1),
        ...           torch.tensor([[0, 1]])).round(decimals=4)
        tensor(0.0476)
    """

    _function = staticmethod(dice_focal_loss)
    _reductions = ("mean", "sum")
    _checks = checking(gamma=v.check_gamma)
    _repr_names = ("lambda_dice", "lambda_focal", "gamma", "activation")

    def __init__(
        self,
        *,
        lambda_dice: float = 1.0,
        lambda_focal: float = 1.0,
        gamma: float = 2.0,
        alpha: float | Sequence[float] | Tensor | None = None,
        activation: str = "softmax",
        weight: Tensor | Sequence[float] | None = None,
        include_background: bool = True,
        ignore_index: int = -100,
        class_dim: int = 1,
        smooth_nr: float = 1e-5,
        smooth_dr: float = 1e-5,
        squared: bool = False,
        log: bool = False,
        batch: bool = False,
        reduction: str = "mean",
        distributed: bool = False,
        backend: str = "auto",
    ) -> None:
        super().__init__(**init_options(locals()))


class DiceCELoss(RegionLossModule):
    """Module form of :func:`torchfocal.dice_ce_loss`; see it for every argument.

    Example:
        >>> import torch, torchfocal
        >>> criterion = torchfocal.DiceCELoss()
        >>> criterion(torch.tensor([[[2.0, -1.0]], [[-1.0, 2.0]]]).transpose(0, 1),
        ...           torch.tensor([[0, 1]])).round(decimals=4)
        tensor(0.0960)
    """

    _function = staticmethod(dice_ce_loss)
    _reductions = ("mean", "sum")
    _repr_names = ("lambda_dice", "lambda_ce", "activation")

    def __init__(
        self,
        *,
        lambda_dice: float = 1.0,
        lambda_ce: float = 1.0,
        activation: str = "softmax",
        weight: Tensor | Sequence[float] | None = None,
        include_background: bool = True,
        ignore_index: int = -100,
        class_dim: int = 1,
        smooth_nr: float = 1e-5,
        smooth_dr: float = 1e-5,
        squared: bool = False,
        log: bool = False,
        batch: bool = False,
        reduction: str = "mean",
        distributed: bool = False,
        backend: str = "auto",
    ) -> None:
        super().__init__(**init_options(locals()))


LOSSES = (
    LossInfo(
        function=dice_focal_loss,
        module="DiceFocalLoss",
        form="region",
        samples=(
            Sample(
                "index",
                reductions=("mean", "sum"),
                grad_arguments={"weight": "class", "alpha": "class"},
            ),
        ),
        docs="math.md#dice-focal-ce",
        section=("region", 50),
        focusing=("gamma",),
        kernel="regions",
    ),
    LossInfo(
        function=dice_ce_loss,
        module="DiceCELoss",
        form="region",
        samples=(Sample("index", reductions=("mean", "sum"), grad_arguments={"weight": "class"}),),
        docs="math.md#dice-focal-ce",
        section=("region", 60),
        kernel="regions",
    ),
)
