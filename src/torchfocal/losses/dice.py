"""Dice, Tversky, focal Tversky and generalized Dice losses: region losses of one ratio.

Each loss here is its math on the per-(sample, class) sums I = sum p t, P = sum p and
T = sum t (:mod:`torchfocal._engine.regions` makes the sums, runs the naive and the fused
forms and reduces): the value of each entry and its vector-Jacobian product (dI, dP)
with an upstream weight u per entry. The fused form assembles dloss/dx from (dI, dP)
without a one-hot; the naive form differentiates the same values with autograd.

With a numerator n = 2I + s_nr (Dice) and a denominator d = S + s_dr, S = P + T:

    1 - dice:    dI = -2u / d,          dP = u dice / d
    -log dice:   dI = -2u / n,          dP = u / d

Tversky, with E = I + alpha (P - I) + beta (T - I), d = E + s_dr, TI = (I + s_nr) / d:

    1 - TI = (alpha (P - I) + beta (T - I) + s_dr - s_nr) / d    (no cancellation)
    dTI/dI = (1 - TI (1 - alpha - beta)) / d,     dTI/dP = -alpha TI / d

and the focal Tversky loss (1 - TI)^gamma multiplies -dTI by gamma (1 - TI)^(gamma - 1).
Derivations in docs/math.md, "Region losses".

Where a denominator is 0 (s_dr = 0 and the prediction and the target of a class both
empty) the ratio is taken as 1, a perfect match of two empty masks: loss 0, gradient 0
(never 0/0).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from .._engine import checks as v
from .._engine import engine, regions
from .._engine.triton_fallback import falls_back_to_fused
from ._module import RegionLossModule, checking, init_options
from ._registry import LossInfo, Sample


def _ratio(numerator: Tensor, denominator: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """(numerator / denominator with 1 where the denominator is 0, the safe denominator,
    the mask of defined entries: a NaN denominator is defined, so that a NaN logit gives a
    NaN loss, never the 1 of an empty region)."""
    defined = ~(denominator <= 0)
    safe = torch.where(defined, denominator, torch.ones_like(denominator))
    return torch.where(defined, numerator / safe, torch.ones_like(numerator)), safe, defined


def dice_math(
    smooth_nr: float, smooth_dr: float, *, squared: bool, log: bool
) -> regions.RegionMath:
    """Dice per (sample, class): 1 - (2I + s_nr) / (P + T + s_dr), or -log of the ratio."""

    def value(i: Tensor, p: Tensor, t: Tensor) -> Tensor:
        dice, _, _ = _ratio(2.0 * i + smooth_nr, p + t + smooth_dr)
        return -torch.log(dice) if log else 1.0 - dice

    def vjp(i: Tensor, p: Tensor, t: Tensor, u: Tensor) -> tuple[Tensor, Tensor]:
        numerator = 2.0 * i + smooth_nr
        dice, denominator, defined = _ratio(numerator, p + t + smooth_dr)
        scale = torch.where(defined, u / denominator, torch.zeros_like(u))
        if log:
            # -log dice = log d - log n: dI = -2u/n, dP = u/d (n > 0: smooth_nr > 0 is required).
            return -2.0 * u / numerator * defined, scale
        return -2.0 * scale, scale * dice

    return regions.RegionMath(value, vjp, per_class=True, squared=squared)


def tversky_math(
    smooth_nr: float,
    smooth_dr: float,
    *,
    alpha: float,
    beta: float,
    gamma: float | Tensor | None,
    log: bool,
) -> regions.RegionMath:
    """Tversky per (sample, class): 1 - TI, -log TI, or (1 - TI)^gamma (focal Tversky;
    gamma one number, or one per counted class)."""
    shared = 1.0 - alpha - beta

    def parts(i: Tensor, p: Tensor, t: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """(TI, 1 - TI, the safe denominator, the mask of defined entries)."""
        denominator = shared * i + alpha * p + beta * t + smooth_dr
        ti, safe, defined = _ratio(i + smooth_nr, denominator)
        # 1 - TI from its own numerator (FP and FN), not as a difference near 1; clamped at 0
        # where rounding makes P - I or T - I a hair negative, or smooth_nr > smooth_dr.
        rest = (alpha * (p - i) + beta * (t - i) + (smooth_dr - smooth_nr)) / safe
        rest = torch.where(defined, rest.clamp(min=0.0), torch.zeros_like(rest))
        return ti, rest, safe, defined

    def value(i: Tensor, p: Tensor, t: Tensor) -> Tensor:
        ti, rest, _, _ = parts(i, p, t)
        if log:
            return -torch.log(ti)
        if gamma is None:
            return rest
        # rest^gamma where rest > 0, so that its derivative stays finite (0^gamma is the
        # constant 0, or 1 at gamma = 0).
        g = torch.as_tensor(gamma, dtype=rest.dtype, device=rest.device)
        positive = ~(rest <= 0)  # NaN too: a NaN logit's loss is NaN
        safe_rest = torch.where(positive, rest, torch.ones_like(rest))
        return torch.where(positive, safe_rest**g, (g == 0).to(rest.dtype).expand_as(rest))

    def vjp(i: Tensor, p: Tensor, t: Tensor, u: Tensor) -> tuple[Tensor, Tensor]:
        ti, rest, denominator, defined = parts(i, p, t)
        scale = torch.where(defined, u / denominator, torch.zeros_like(u))
        if log:
            # -log TI = log d - log(I + s_nr): dI = -u/(I + s_nr) + u shared/d, dP = u alpha/d.
            return -u / (i + smooth_nr) * defined + shared * scale, alpha * scale
        if gamma is not None:
            # d rest^gamma = gamma rest^(gamma - 1) d rest; at rest = 0 that factor is taken
            # as its limit for gamma >= 1 (1 at gamma = 1, else 0) and as 0 for gamma < 1,
            # where the one-sided derivative is infinite (the loss's minimum).
            g = torch.as_tensor(gamma, dtype=rest.dtype, device=rest.device)
            positive = ~(rest <= 0)  # NaN too, as in value
            safe_rest = torch.where(positive, rest, torch.ones_like(rest))
            at_zero = (g == 1).to(rest.dtype).expand_as(rest)
            slope = torch.where(positive, g * safe_rest ** (g - 1.0), at_zero)
            scale = scale * slope
        # d(1 - TI)/dI = -(1 - TI shared)/d, d(1 - TI)/dP = TI alpha / d.
        return -scale * (1.0 - ti * shared), scale * ti * alpha

    return regions.RegionMath(value, vjp, per_class=True)


WEIGHT_TYPES = ("square", "simple", "uniform")


def generalized_weights(t: Tensor, weight_type: str) -> Tensor:
    """Sudre et al.'s class weights from the target sums T (Nb, K), constants of the
    gradient: 1 / T^2, 1 / T or 1; a class absent from the target (T = 0) takes the
    largest finite weight of its row (MONAI's rule), 0 where every class is absent."""
    t = t.detach()
    if weight_type == "uniform":
        return torch.ones_like(t)
    present = t > 0
    safe = torch.where(present, t, torch.ones_like(t))
    weight = 1.0 / (safe * safe if weight_type == "square" else safe)
    weight = torch.where(present, weight, torch.zeros_like(weight))
    largest = weight.amax(dim=1, keepdim=True) if weight.shape[1] else weight
    return torch.where(present, weight, largest.expand_as(weight))


def generalized_dice_math(
    smooth_nr: float, smooth_dr: float, *, weight_type: str
) -> regions.RegionMath:
    """Generalized Dice per sample: 1 - (2 sum_c w_c I_c + s_nr) / (sum_c w_c S_c + s_dr)."""

    def parts(i: Tensor, p: Tensor, t: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        w = generalized_weights(t, weight_type)
        ratio, safe, defined = _ratio(
            2.0 * (w * i).sum(dim=1) + smooth_nr, (w * (p + t)).sum(dim=1) + smooth_dr
        )
        return w, ratio, safe, defined

    def value(i: Tensor, p: Tensor, t: Tensor) -> Tensor:
        return 1.0 - parts(i, p, t)[1]

    def vjp(i: Tensor, p: Tensor, t: Tensor, u: Tensor) -> tuple[Tensor, Tensor]:
        w, ratio, denominator, defined = parts(i, p, t)
        scale = torch.where(defined, u / denominator, torch.zeros_like(u)).unsqueeze(1)
        return -2.0 * scale * w, scale * w * ratio.unsqueeze(1)

    return regions.RegionMath(value, vjp, per_class=False)


def _class_weight(
    weight: Tensor | None, input: Tensor, batch: regions.RegionBatch
) -> Tensor | None:
    if weight is None:
        return None
    v.check_tensor("weight", weight)
    return v.check_class_weight_tensor(
        "weight",
        weight,
        num_classes=batch.num_classes,
        class_dim=batch.dim,
        input=input,
        dtype=batch.compute_dtype,
        high=float("inf"),
    ).reshape(-1)


def _region_loss(
    input: Tensor,
    target: Tensor,
    make_math: regions.RegionMath,
    *,
    activation: str,
    weight: Tensor | None,
    include_background: bool,
    ignore_index: int,
    class_dim: int,
    batch: bool,
    reduction: str,
    distributed: bool,
    backend: str,
) -> Tensor:
    input, target = v.check_pair(input, target)
    reduction = v.check_reduction(reduction, v.REDUCTIONS)
    include_background = v.check_bool("include_background", include_background)
    requested = backend
    backend = v.resolve_backend(backend, input, has_triton=True)
    prepared = regions.prepare(
        input,
        target,
        activation=activation,
        ignore_index=ignore_index,
        class_dim=class_dim,
        batch=batch,
        distributed=distributed,
        # the kernels read class indices as given and check their range themselves
        raw_index=backend == "triton",
    )
    if not include_background and prepared.num_classes < 2:
        raise ValueError(
            f"include_background must be True when the input has one class along "
            f"class_dim={class_dim} (nothing would be left); got include_background=False"
        )
    if backend == "triton" and prepared.num_classes > regions.TRITON_MAX_CLASSES:
        if requested != "triton":  # "auto"
            backend = "fused"
        else:
            raise ValueError(
                f"backend must not be 'triton' for more than {regions.TRITON_MAX_CLASSES} "
                f"classes (its kernel holds every class of a location in one tile; use "
                f"backend='fused'); got {prepared.num_classes} classes"
            )
    return engine.run(
        engine.Region(
            prepared,
            make_math,
            class_weight=_class_weight(weight, input, prepared),
            include_background=include_background,
            reduction=reduction,
            backend=backend,
        )
    )


def _check_smooths(smooth_nr: object, smooth_dr: object, log: object) -> tuple[float, float, bool]:
    nr = regions.check_smooth("smooth_nr", smooth_nr)
    dr = regions.check_smooth("smooth_dr", smooth_dr)
    as_log = v.check_bool("log", log)
    if as_log and nr == 0:
        raise ValueError(
            "smooth_nr must be > 0 when log=True (-log of a ratio of 0, a class with no "
            "overlap, is infinite); got smooth_nr=0.0"
        )
    return nr, dr, as_log


@falls_back_to_fused
def dice_loss(
    input: Tensor,
    target: Tensor,
    *,
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
    r"""Dice loss of a segmentation, per sample and class (Milletari et al. 2016).

    With :math:`p` the activation of the logits and :math:`t` the target, per sample and
    class (per class over the whole batch with ``batch=True``), over the counted locations,

    .. math::

        I = \sum p t, \quad S = \sum p + \sum t \;(\textstyle\sum p^2 + \sum t^2
        \text{ if squared}), \quad
        \ell = 1 - \frac{2 I + s_{nr}}{S + s_{dr}}
        \;\left(\text{or } -\log \frac{2 I + s_{nr}}{S + s_{dr}} \text{ if log}\right).

    Args:
        input: logits ``(N, C, d1, ...)`` with any number of spatial dims (also none),
            float16 / bfloat16 / float32 / float64 (half types computed in float32); with
            ``activation="none"``, probabilities in [0, 1].
        target: class indices of the input's shape without ``class_dim`` (never made a
            one-hot by the fused backend; ``ignore_index`` locations are left out of every
            sum; with ``activation="sigmoid"`` the index C marks a location of no class), or
            the input's shape: float probabilities / soft masks in [0, 1], or a bool or
            integer 0-1 mask.
        activation: ``"softmax"`` over ``class_dim`` (C >= 2), ``"sigmoid"`` per element
            (multi-label), or ``"none"`` (the input is already probabilities).
        weight: C class weights >= 0 (background included, whatever
            ``include_background``).
        include_background: False leaves class 0 out of the loss (it stays in the softmax).
        ignore_index: index targets equal to it are left out. A sample whose locations are
            all ignored counts for nothing (neither in the sum nor in the divisor); an input
            where everything is ignored gives 0 with a zero gradient.
        class_dim: the class dimension (``-1`` for channels-last); not the batch dim 0.
        smooth_nr: >= 0, added to the numerator.
        smooth_dr: >= 0, added to the denominator. With ``smooth_dr=0`` a class whose
            prediction and target are both empty has a Dice of 1 (loss 0, gradient 0)
            rather than 0/0.
        squared: sums of squares in the denominator (Milletari's V-Net form).
        log: -log of the ratio (needs ``smooth_nr > 0``).
        batch: one ratio per class over the whole batch (the sums taken over the batch).
        reduction: ``"mean"``: sum(w * loss) / sum(w) over the counted (sample, class)
            entries; ``"sum"``: sum(w * loss); ``"none"``: w * loss per entry, ``(N, C)``
            (``(N, C - 1)`` without background; ``(C,)`` / ``(C - 1,)`` with
            ``batch=True``), 0 for a sample that counts for nothing. ``"none"``
            differentiates the naive form (its upstream gradient is only known in
            backward); ``"mean"`` and ``"sum"`` take the fused one.
        distributed: with ``batch=True``, the per-class sums are all-reduced over the
            default process group before the ratio: every rank gets the Dice of the whole
            batch and the exact gradient of its own shard.
        backend: ``"auto"`` (``"triton"`` for CUDA tensors where Triton is installed and
            C <= 1024, else ``"fused"``), ``"fused"``, ``"naive"``, ``"compiled"`` (the
            fused form, run eagerly for this family) or ``"triton"`` (two launches: the
            per-(sample, class) sums, then the gradient from them; no one-hot;
            ``reduction="none"`` takes the naive form).

    Example:
        >>> import torch, torchfocal
        >>> logits = torch.tensor([[[2.0, -1.0, 0.5]], [[-1.0, 2.0, 0.0]]]).transpose(0, 1)
        >>> target = torch.tensor([[0, 1, 1]])
        >>> torchfocal.dice_loss(logits, target, reduction="none")
        tensor([[0.2735, 0.2124]])
    """
    nr, dr, as_log = _check_smooths(smooth_nr, smooth_dr, log)
    math = dice_math(nr, dr, squared=v.check_bool("squared", squared), log=as_log)
    return _region_loss(
        input,
        target,
        math,
        activation=activation,
        weight=weight,
        include_background=include_background,
        ignore_index=ignore_index,
        class_dim=class_dim,
        batch=batch,
        reduction=reduction,
        distributed=distributed,
        backend=backend,
    )


def check_tversky(alpha: object, beta: object) -> tuple[float, float]:
    a = v.check_scalar_in("alpha", alpha, 0.0, float("inf"))
    b = v.check_scalar_in("beta", beta, 0.0, float("inf"))
    if a + b <= 0:
        raise ValueError(
            f"alpha + beta must be > 0 (else the ratio ignores every error); "
            f"got alpha={alpha!r}, beta={beta!r}"
        )
    return a, b


@falls_back_to_fused
def tversky_loss(
    input: Tensor,
    target: Tensor,
    *,
    alpha: float = 0.5,
    beta: float = 0.5,
    activation: str = "softmax",
    weight: Tensor | None = None,
    include_background: bool = True,
    ignore_index: int = -100,
    class_dim: int = 1,
    smooth_nr: float = 1e-5,
    smooth_dr: float = 1e-5,
    log: bool = False,
    batch: bool = False,
    reduction: str = "mean",
    distributed: bool = False,
    backend: str = "auto",
) -> Tensor:
    r"""Tversky loss (Salehi et al. 2017), per sample and class.

    .. math::

        TI = \frac{I + s_{nr}}{I + \alpha FP + \beta FN + s_{dr}}, \quad
        FP = \sum p (1 - t), \quad FN = \sum (1 - p) t, \quad \ell = 1 - TI
        \;(\text{or } -\log TI \text{ if log}).

    ``alpha`` weighs false positives and ``beta`` false negatives; ``alpha = beta = 0.5`` is
    the Dice loss with each smoothing term doubled. Every other argument is
    :func:`dice_loss`'s (there is no ``squared`` form: FP and FN are sums of p itself).

    Args:
        alpha: >= 0, the weight of the false positives (alpha + beta > 0).
        beta: >= 0, the weight of the false negatives.

    Example:
        >>> import torch, torchfocal
        >>> logits = torch.tensor([[[2.0, -1.0, 0.5]], [[-1.0, 2.0, 0.0]]]).transpose(0, 1)
        >>> target = torch.tensor([[0, 1, 1]])
        >>> torchfocal.tversky_loss(logits, target, alpha=0.3, beta=0.7, reduction="none")
        tensor([[0.1973, 0.2665]])
    """
    nr, dr, as_log = _check_smooths(smooth_nr, smooth_dr, log)
    a, b = check_tversky(alpha, beta)
    math = tversky_math(nr, dr, alpha=a, beta=b, gamma=None, log=as_log)
    return _region_loss(
        input,
        target,
        math,
        activation=activation,
        weight=weight,
        include_background=include_background,
        ignore_index=ignore_index,
        class_dim=class_dim,
        batch=batch,
        reduction=reduction,
        distributed=distributed,
        backend=backend,
    )


@falls_back_to_fused
def focal_tversky_loss(
    input: Tensor,
    target: Tensor,
    *,
    alpha: float = 0.3,
    beta: float = 0.7,
    gamma: float = 0.75,
    activation: str = "softmax",
    weight: Tensor | None = None,
    include_background: bool = True,
    ignore_index: int = -100,
    class_dim: int = 1,
    smooth_nr: float = 1e-5,
    smooth_dr: float = 1e-5,
    batch: bool = False,
    reduction: str = "mean",
    distributed: bool = False,
    backend: str = "auto",
) -> Tensor:
    r"""Focal Tversky loss (Abraham and Khan 2019): :math:`(1 - TI)^\gamma` per (sample,
    class), TI as in :func:`tversky_loss`.

    Abraham and Khan write the exponent as :math:`1/\gamma'` with :math:`\gamma' = 4/3`:
    that is ``gamma=0.75`` here. For gamma < 1 the derivative of :math:`(1 - TI)^\gamma` is
    infinite where TI = 1; it is taken as 0 there (the loss's minimum), never inf or NaN.
    ``1 - TI`` is computed from its own numerator (alpha FP + beta FN), not as a difference
    near 1. Every other argument is :func:`tversky_loss`'s.

    Args:
        gamma: >= 0 (1 is the Tversky loss).

    Example:
        >>> import torch, torchfocal
        >>> logits = torch.tensor([[[2.0, -1.0, 0.5]], [[-1.0, 2.0, 0.0]]]).transpose(0, 1)
        >>> target = torch.tensor([[0, 1, 1]])
        >>> torchfocal.focal_tversky_loss(logits, target, reduction="none")
        tensor([[0.2961, 0.3709]])
    """
    nr, dr, _ = _check_smooths(smooth_nr, smooth_dr, False)
    a, b = check_tversky(alpha, beta)
    math = tversky_math(nr, dr, alpha=a, beta=b, gamma=v.check_gamma(gamma), log=False)
    return _region_loss(
        input,
        target,
        math,
        activation=activation,
        weight=weight,
        include_background=include_background,
        ignore_index=ignore_index,
        class_dim=class_dim,
        batch=batch,
        reduction=reduction,
        distributed=distributed,
        backend=backend,
    )


@falls_back_to_fused
def generalized_dice_loss(
    input: Tensor,
    target: Tensor,
    *,
    weight_type: str = "square",
    activation: str = "softmax",
    include_background: bool = True,
    ignore_index: int = -100,
    class_dim: int = 1,
    smooth_nr: float = 1e-5,
    smooth_dr: float = 1e-5,
    batch: bool = False,
    reduction: str = "mean",
    distributed: bool = False,
    backend: str = "auto",
) -> Tensor:
    r"""Generalized Dice loss (Sudre et al. 2017), one value per sample (or per batch).

    .. math::

        \ell = 1 - \frac{2 \sum_c w_c I_c + s_{nr}}{\sum_c w_c S_c + s_{dr}}, \quad
        w_c = 1 / T_c^2 \;(\text{"square"}),\; 1 / T_c \;(\text{"simple"}),\;
        1 \;(\text{"uniform"}),

    with :math:`T_c = \sum t_c` and :math:`S_c = \sum p_c + T_c` over the counted
    locations of the sample (of the batch with ``batch=True``). The weights are constants of
    the gradient. A class absent from the target gets the largest finite weight of the
    others (MONAI's rule), never inf or NaN; where every class is absent every weight is 0
    and the loss is :math:`1 - s_{nr}/s_{dr}` (0 at the default smoothing, as MONAI).
    ``reduction="none"`` gives ``(N,)`` (a 0-d tensor with ``batch=True``); ``"mean"``
    averages over the counted samples. The other arguments are :func:`dice_loss`'s; the
    class weights are w_c, so there is no ``weight``.

    Args:
        weight_type: ``"square"``, ``"simple"`` or ``"uniform"``.

    Example:
        >>> import torch, torchfocal
        >>> logits = torch.tensor([[[2.0, -1.0, 0.5]], [[-1.0, 2.0, 0.0]]]).transpose(0, 1)
        >>> target = torch.tensor([[0, 1, 1]])
        >>> torchfocal.generalized_dice_loss(logits, target, reduction="none")
        tensor([0.2586])
    """
    nr, dr, _ = _check_smooths(smooth_nr, smooth_dr, False)
    if not isinstance(weight_type, str) or weight_type not in WEIGHT_TYPES:
        options = " | ".join(repr(w) for w in WEIGHT_TYPES)
        raise ValueError(f"weight_type must be one of {options}; got {weight_type!r}")
    math = generalized_dice_math(nr, dr, weight_type=weight_type)
    return _region_loss(
        input,
        target,
        math,
        activation=activation,
        weight=None,
        include_background=include_background,
        ignore_index=ignore_index,
        class_dim=class_dim,
        batch=batch,
        reduction=reduction,
        distributed=distributed,
        backend=backend,
    )


class DiceLoss(RegionLossModule):
    """Module form of :func:`torchfocal.dice_loss`; see it for every argument.

    Example:
        >>> import torch, torchfocal
        >>> criterion = torchfocal.DiceLoss(include_background=False)
        >>> criterion(torch.tensor([[[2.0, -1.0]], [[-1.0, 2.0]]]).transpose(0, 1),
        ...           torch.tensor([[0, 1]])).round(decimals=4)
        tensor(0.0474)
    """

    _function = staticmethod(dice_loss)
    _repr_names = ("activation", "include_background")

    def __init__(
        self,
        *,
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


class TverskyLoss(RegionLossModule):
    """Module form of :func:`torchfocal.tversky_loss`; see it for every argument.

    Example:
        >>> import torch, torchfocal
        >>> criterion = torchfocal.TverskyLoss(alpha=0.3, beta=0.7, include_background=False)
        >>> criterion(torch.tensor([[[2.0, -1.0]], [[-1.0, 2.0]]]).transpose(0, 1),
        ...           torch.tensor([[0, 1]])).round(decimals=4)
        tensor(0.0474)
    """

    _function = staticmethod(tversky_loss)
    _repr_names = ("alpha", "beta", "activation")

    def __init__(
        self,
        *,
        alpha: float = 0.5,
        beta: float = 0.5,
        activation: str = "softmax",
        weight: Tensor | Sequence[float] | None = None,
        include_background: bool = True,
        ignore_index: int = -100,
        class_dim: int = 1,
        smooth_nr: float = 1e-5,
        smooth_dr: float = 1e-5,
        log: bool = False,
        batch: bool = False,
        reduction: str = "mean",
        distributed: bool = False,
        backend: str = "auto",
    ) -> None:
        check_tversky(alpha, beta)
        super().__init__(**init_options(locals()))


class FocalTverskyLoss(RegionLossModule):
    """Module form of :func:`torchfocal.focal_tversky_loss`; see it for every argument.

    Example:
        >>> import torch, torchfocal
        >>> criterion = torchfocal.FocalTverskyLoss(include_background=False)
        >>> criterion(torch.tensor([[[2.0, -1.0]], [[-1.0, 2.0]]]).transpose(0, 1),
        ...           torch.tensor([[0, 1]])).round(decimals=4)
        tensor(0.1016)
    """

    _function = staticmethod(focal_tversky_loss)
    _checks = checking(gamma=v.check_gamma)
    _repr_names = ("alpha", "beta", "gamma", "activation")

    def __init__(
        self,
        *,
        alpha: float = 0.3,
        beta: float = 0.7,
        gamma: float = 0.75,
        activation: str = "softmax",
        weight: Tensor | Sequence[float] | None = None,
        include_background: bool = True,
        ignore_index: int = -100,
        class_dim: int = 1,
        smooth_nr: float = 1e-5,
        smooth_dr: float = 1e-5,
        batch: bool = False,
        reduction: str = "mean",
        distributed: bool = False,
        backend: str = "auto",
    ) -> None:
        check_tversky(alpha, beta)
        super().__init__(**init_options(locals()))


class GeneralizedDiceLoss(RegionLossModule):
    """Module form of :func:`torchfocal.generalized_dice_loss`; see it for every argument.

    Example:
        >>> import torch, torchfocal
        >>> criterion = torchfocal.GeneralizedDiceLoss(weight_type="simple")
        >>> criterion(torch.tensor([[[2.0, -1.0]], [[-1.0, 2.0]]]).transpose(0, 1),
        ...           torch.tensor([[0, 1]])).round(decimals=4)
        tensor(0.0474)
    """

    _function = staticmethod(generalized_dice_loss)
    _repr_names = ("weight_type", "activation")

    def __init__(
        self,
        *,
        weight_type: str = "square",
        activation: str = "softmax",
        include_background: bool = True,
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
        function=dice_loss,
        module="DiceLoss",
        form="region",
        samples=(Sample("index", grad_arguments={"weight": "class"}),),
        docs="math.md#dice",
        section=("region", 10),
        kernel="regions",
    ),
    LossInfo(
        function=tversky_loss,
        module="TverskyLoss",
        form="region",
        samples=(Sample("index", grad_arguments={"weight": "class"}),),
        docs="math.md#tversky-and-focal-tversky",
        section=("region", 30),
        kernel="regions",
    ),
    LossInfo(
        function=focal_tversky_loss,
        module="FocalTverskyLoss",
        form="region",
        samples=(Sample("index", grad_arguments={"weight": "class"}),),
        docs="math.md#tversky-and-focal-tversky",
        section=("region", 40),
        kernel="regions",
    ),
    LossInfo(
        function=generalized_dice_loss,
        module="GeneralizedDiceLoss",
        form="region",
        samples=(Sample("index"),),
        docs="math.md#generalized-dice-sudre-et-al-2017",
        section=("region", 20),
        kernel="regions",
    ),
)
