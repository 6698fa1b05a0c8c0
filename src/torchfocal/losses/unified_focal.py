"""The unified focal loss (Yeung et al. 2022): a modified focal term and a modified focal
Tversky term, weighted, multi-class with class 0 the background.

Both terms are built from exact pieces with fused backends: the focal term from
:func:`~torchfocal.losses.softmax_focal.softmax_focal_loss` with per-class alpha, the
Tversky term from the region engine with one exponent per class.
"""

from __future__ import annotations

import functools

import torch
from torch import Tensor

from .._engine import checks as v
from .._engine import engine, regions
from .._engine import reduction as reducing
from ._module import RegionLossModule, checking, init_options
from ._registry import LossInfo, Sample
from .dice import tversky_math
from .softmax_focal import softmax_focal_loss


def _focal_of_probabilities(
    p: Tensor, t: Tensor, valid: Tensor | None, dim: int, factors: Tensor, gammas: Tensor
) -> Tensor:
    """Per location: -sum_c factor_c (1 - p_c)^gamma_c t_c log p_c on probabilities, which
    are clamped to [1e-7, 1 - 1e-7] as MONAI does (activation="none")."""
    q = p.clamp(1e-7, 1.0 - 1e-7)
    terms = factors * torch.pow(1.0 - q, gammas) * torch.xlogy(t, q)
    loss = -terms.sum(dim=dim)
    return loss if valid is None else loss * valid.squeeze(dim)


def unified_focal_loss(
    input: Tensor,
    target: Tensor,
    *,
    weight: float = 0.5,
    delta: float = 0.6,
    gamma: float = 0.5,
    asymmetric: bool = True,
    activation: str = "softmax",
    ignore_index: int = -100,
    class_dim: int = 1,
    smooth_nr: float = 1e-5,
    smooth_dr: float = 1e-5,
    batch: bool = False,
    reduction: str = "mean",
    distributed: bool = False,
    backend: str = "auto",
) -> Tensor:
    r"""Unified focal loss (Yeung et al., Comput. Med. Imaging Graph. 2022,
    https://arxiv.org/abs/2102.04525), multi-class, class 0 the background.

    ``weight`` :math:`\lambda` mixes the modified focal term and the modified focal Tversky
    term, as the paper's equations 19 (symmetric) and 22 (asymmetric) write it and MONAI's
    ``AsymmetricUnifiedFocalLoss`` does:

    .. math::

        \mathcal{L} = \lambda \mathcal{L}_{F} + (1 - \lambda) \mathcal{L}_{FT}.

    Per location (mean over the counted locations), p the softmax over ``class_dim``, t the
    target, the asymmetric form (equation 20) suppresses only the background's easy
    examples, the symmetric one (equation 17) every class's:

    .. math::

        \mathcal{L}_{aF} = -(1 - \delta)(1 - p_0)^\gamma t_0 \log p_0
                           - \delta \sum_{c \ge 1} t_c \log p_c, \qquad
        \mathcal{L}_{sF} = -(1 - \delta)(1 - p_0)^\gamma t_0 \log p_0
                           - \delta \sum_{c \ge 1} (1 - p_c)^\gamma t_c \log p_c .

    Per sample (mean over the samples; once over the whole batch with ``batch=True``), the
    Tversky index with delta weighing false negatives, :math:`mTI_c = (I_c + s_{nr}) / (I_c +
    \delta FN_c + (1 - \delta) FP_c + s_{dr})`, summed over the classes (equation 21;
    equation 18 for the symmetric form):

    .. math::

        \mathcal{L}_{aFT} = (1 - mTI_0) + \sum_{c \ge 1} (1 - mTI_c)^{1 - \gamma}, \qquad
        \mathcal{L}_{sFT} = \sum_c (1 - mTI_c)^{1 - \gamma}.

    The authors' code differs from these equations (it weighs the other term with
    ``weight`` and averages the Tversky terms over the classes); this follows the equations.
    MONAI's form is binary only (its issue 8603) and averages the Tversky terms over its two
    classes: for two classes its value is :math:`\lambda \mathcal{L}_{aF} + (1 - \lambda)
    \mathcal{L}_{aFT} / 2` of probabilities (``activation="none"``).

    Args:
        input: logits ``(N, C, d1, ...)``, C >= 2; with ``activation="none"``,
            probabilities (clamped to [1e-7, 1 - 1e-7] in the focal term, as MONAI does).
        target: class indices (``ignore_index`` left out) or a mask / probabilities of the
            input's shape, as :func:`~torchfocal.dice_loss` takes them.
        weight: :math:`\lambda` in [0, 1].
        delta: in [0, 1]: the weight of the foreground in the focal term and of the false
            negatives in the Tversky index.
        gamma: in [0, 1): the focal exponent, and 1 - gamma the Tversky one.
        asymmetric: the asymmetric forms (background suppressed) or the symmetric ones.
        activation: ``"softmax"`` (logits) or ``"none"`` (probabilities, MONAI's input).
        batch: the Tversky sums of each class over the whole batch (one Tversky term), not
            per sample, as :func:`~torchfocal.dice_loss`'s ``batch``.
        reduction: ``"mean"`` (each term as above) or ``"sum"`` (over locations and samples).
        distributed: with ``batch=True``, both terms are the whole batch's over the default
            process group: the Tversky term's per-class sums are all-reduced (as in
            :func:`~torchfocal.dice_loss`), and so are the focal term's sum and its
            ``"mean"`` divisor (the counted locations). Every rank gets the global value and
            the exact gradient of its own shard.
        backend: ``"auto"``, ``"fused"``, ``"naive"`` or ``"compiled"``; no Triton kernel.

    Example:
        >>> import torch, torchfocal
        >>> logits = torch.tensor([[[2.0, -1.0, 0.5]], [[-1.0, 2.0, 0.0]]]).transpose(0, 1)
        >>> target = torch.tensor([[0, 1, 1]])
        >>> torchfocal.unified_focal_loss(logits, target).round(decimals=4)
        tensor(0.4668)
    """
    input, target = v.check_pair(input, target)
    lam = v.check_scalar_in("weight", weight, 0.0, 1.0)
    delta = v.check_scalar_in("delta", delta, 0.0, 1.0)
    gamma = v.check_scalar_in("gamma", gamma, 0.0, 1.0, high_inclusive=False)
    asymmetric = v.check_bool("asymmetric", asymmetric)
    reduction = v.check_reduction(reduction, ("mean", "sum"))
    distributed = v.check_bool("distributed", distributed)
    if activation not in ("softmax", "none"):
        raise ValueError(f"activation must be 'softmax' | 'none'; got {activation!r}")
    backend = v.resolve_backend(backend, input, has_triton=False)
    nr = regions.check_smooth("smooth_nr", smooth_nr)
    dr = regions.check_smooth("smooth_dr", smooth_dr)
    region = regions.prepare(
        input,
        target,
        activation=activation,
        ignore_index=ignore_index,
        class_dim=class_dim,
        batch=v.check_bool("batch", batch),
        distributed=distributed,
    )
    if region.num_classes < 2:
        raise ValueError(
            f"input must have at least 2 classes along class_dim={class_dim} (class 0 is the "
            f"background); got shape {v.shape_str(input.shape)}"
        )
    classes, dtype = region.num_classes, region.compute_dtype
    # Tversky: alpha weighs FP (1 - delta), beta FN (delta); exponent 1 - gamma per class,
    # 1 for the background in the asymmetric form.
    exponents = torch.full((classes,), 1.0 - gamma, dtype=dtype, device=input.device)
    if asymmetric:
        exponents[0] = 1.0
    math = tversky_math(nr, dr, alpha=1.0 - delta, beta=delta, gamma=exponents, log=False)
    tversky = engine.run(
        engine.Region(
            region,
            math,
            class_weight=None,
            include_background=True,
            reduction=reduction,
            backend=backend,
        )
    )
    if reduction == "mean":  # the mean over (sample, class) entries, times C: sum over classes
        tversky = tversky * classes
    # Distributed: the focal term's local sum, made global below with its divisor.
    focal_reduction = "sum" if distributed else reduction
    # Focal: class factors (1 - delta, delta, ...), exponents (gamma, gamma or 0, ...).
    background = torch.zeros(classes, dtype=dtype, device=input.device)
    background[0] = 1.0 - delta
    foreground = torch.full((classes,), delta, dtype=dtype, device=input.device)
    foreground[0] = 0.0
    if activation == "softmax":
        focal_target = target
        if target.shape == input.shape and not target.is_floating_point():
            focal_target = target.to(dtype)

        def focal(alpha: Tensor, g: float) -> Tensor:
            return softmax_focal_loss(
                input,
                focal_target,
                alpha=alpha,
                gamma=g,
                ignore_index=ignore_index,
                class_dim=class_dim,
                reduction=focal_reduction,
                backend=backend,
            )

        if asymmetric:
            focal_value = focal(background, gamma) + focal(foreground, 0.0)
        else:
            focal_value = focal(background + foreground, gamma)
    else:
        shape = v.class_shape(input.dim(), region.dim, classes)
        gammas = torch.full((classes,), gamma, dtype=dtype, device=input.device)
        if asymmetric:
            gammas[1:] = 0.0
        per_location = _focal_of_probabilities(
            input.to(dtype),
            regions.dense_target(region),
            region.valid,
            region.dim,
            (background + foreground).reshape(shape),
            gammas.reshape(shape),
        )
        total = per_location.sum()
        if focal_reduction == "mean":
            count = regions.location_count(region).sum()
            total = total / torch.where(count > 0, count, torch.ones_like(count))
        focal_value = total.to(input.dtype)
    if distributed:
        # The value all-reduced, its gradient the local one: each rank differentiates its
        # own shard's share of the global sum (as dice_focal_loss's focal term).
        focal_value = focal_value + (
            reducing.sum_over_process_group(focal_value.detach()) - focal_value.detach()
        )
        if reduction == "mean":
            count = reducing.sum_over_process_group(regions.location_count(region).sum())
            focal_value = focal_value / torch.where(count > 0, count, torch.ones_like(count)).to(
                focal_value.dtype
            )
    return lam * focal_value + (1.0 - lam) * tversky


class UnifiedFocalLoss(RegionLossModule):
    """Module form of :func:`torchfocal.unified_focal_loss`; see it for every argument.

    Example:
        >>> import torch, torchfocal
        >>> criterion = torchfocal.UnifiedFocalLoss(asymmetric=False)
        >>> criterion(torch.tensor([[[2.0, -1.0]], [[-1.0, 2.0]]]).transpose(0, 1),
        ...           torch.tensor([[0, 1]])).round(decimals=4)
        tensor(0.2204)
    """

    _function = staticmethod(unified_focal_loss)
    _reductions = ("mean", "sum")
    # ``weight`` is the paper's lambda (a number), not class weights: no buffer.
    _buffer_options = ()
    _checks = checking(weight=functools.partial(v.check_scalar_in, "weight", low=0.0, high=1.0))
    _repr_names = ("weight", "delta", "gamma", "asymmetric")

    def __init__(
        self,
        *,
        weight: float = 0.5,
        delta: float = 0.6,
        gamma: float = 0.5,
        asymmetric: bool = True,
        activation: str = "softmax",
        ignore_index: int = -100,
        class_dim: int = 1,
        smooth_nr: float = 1e-5,
        smooth_dr: float = 1e-5,
        batch: bool = False,
        reduction: str = "mean",
        distributed: bool = False,
        backend: str = "auto",
    ) -> None:
        super().__init__(**init_options(locals()))


LOSSES = (
    LossInfo(
        function=unified_focal_loss,
        module="UnifiedFocalLoss",
        form="region",
        samples=(Sample("index", reductions=("mean", "sum")),),
        docs="math.md#unified-focal-loss-yeung-et-al-2022",
        section=("region", 70),
    ),
)
