"""Asymmetric loss (ASL, Ridnik et al. 2021): function, naive and fused forms."""

from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F
from torch import Tensor

from .._engine import checks as v
from .._engine import compiled, engine, targets
from .._engine.numerics import equals, power, saturated_logsigmoid, scaled
from .._engine.triton_fallback import falls_back_to_fused
from ._module import LossModule, checking, init_options
from ._registry import SIGMOID_FORMS, SIGMOID_REDUCTIONS, LossInfo, Sample

# Asymmetric loss (Ridnik et al. 2021). Positives: L+ = (1-p)^g+ softplus(-x). Negatives
# see the shifted probability p_m = max(p - clip, 0), with u = 1 - p_m = min(1 - p + clip, 1):
#   L- = p_m^g- (-log u)
#   dL-/dx = p (1 - p) p_m^g- (g- r + 1/u),  r = -log(u) / p_m   where p > clip, else 0.
# r = -log1p(-p_m)/p_m lies in [1, 1/u], so the gradient never forms p_m^(g- - 1), which is
# unbounded as p_m -> 0 for g- < 1. Without a clip, u = 1 - p and -log u = softplus(x).
# -log u is -log1p(-p_m) while p_m < 1/2 (accurate for small p_m) and -log(1 - p + clip)
# beyond (accurate as p -> 1). "Below the clip" is p_m <= 0, which is False for NaN, so a
# NaN logit stays NaN instead of taking the constant 0 of that side.


def _clipped_negative(
    p: Tensor, one_minus_p: Tensor, clip: float
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """(active, p_m, log p_m, u, -log u) of the clipped negative side.

    active is 1 above the clip and 0 below, as a float mask that multiplies the side's loss
    and gradient (a NaN p counts as active, so it propagates). Below the clip p_m is
    clamped at finfo.tiny: log p_m and every derivative stay finite there (a multiplied
    mask needs finite values), and the clamp's derivative is 0. -log u is -log1p(-p_m) while
    p_m < 1/2 and -log(1 - p + clip) beyond, blended by a 0/1 mask (both sides finite).
    """
    shifted = p - clip
    active = (~(shifted <= 0)).to(p.dtype)
    p_m = shifted.clamp(min=torch.finfo(p.dtype).tiny)
    small = (p_m < 0.5).to(p.dtype)
    u = one_minus_p + clip
    neg_log_u = small * -torch.log1p(-p_m) + (1.0 - small) * -torch.log(u)
    return active, p_m, torch.log(p_m), u, neg_log_u


def asymmetric_naive(
    x: Tensor,
    y: Tensor,
    *,
    gamma_pos: float,
    gamma_neg: float,
    clip: float,
    weight: Tensor | None,
) -> Tensor:
    log_p, log_1mp = F.logsigmoid(x), F.logsigmoid(-x)
    # The modulators' logarithms saturate (SATURATED_LOGIT) where the loss grows like |x|.
    positive = power(saturated_logsigmoid(-x), gamma_pos) * -log_p
    if equals(clip, 0.0):
        negative = power(saturated_logsigmoid(x), gamma_neg) * -log_1mp
    else:
        # p and 1 - p as exponentials of logsigmoids: their derivative p (1 - p) keeps its
        # relative precision where sigmoid's y (1 - y) rounds 1 - y to 0.
        active, _, log_p_m, _, neg_log_u = _clipped_negative(
            torch.exp(log_p), torch.exp(log_1mp), clip
        )
        negative = active * power(log_p_m, gamma_neg) * neg_log_u
    y_float = y.to(x.dtype)
    loss = y_float * positive + (1.0 - y_float) * negative
    return loss if weight is None else loss * weight


def asymmetric_fused(
    x: Tensor,
    y: Tensor,
    *,
    gamma_pos: float,
    gamma_neg: float,
    clip: float,
    weight: Tensor | None,
    need_grad: bool,
) -> tuple[Tensor, Tensor | None]:
    log_p, log_1mp = F.logsigmoid(x), F.logsigmoid(-x)
    p, one_minus_p = log_p.exp(), log_1mp.exp()
    modulator_pos = power(log_1mp, gamma_pos)
    loss_pos = -log_p * modulator_pos
    if equals(clip, 0.0):
        modulator_neg = power(log_p, gamma_neg)
        loss_neg = -log_1mp * modulator_neg
    else:
        active, p_m, log_p_m, u, neg_log_u = _clipped_negative(p, one_minus_p, clip)
        # 0 below the clip; exp(0 * log p_m) = 1 above it for gamma_neg = 0.
        modulator_neg = torch.exp(gamma_neg * log_p_m).mul_(active)
        loss_neg = neg_log_u * modulator_neg  # +0 below: neg_log_u > 0 there
    if y.dtype == torch.bool:
        loss = torch.where(y, loss_pos, loss_neg)
    else:
        loss = y * loss_pos + (1.0 - y) * loss_neg
    if not need_grad:
        return scaled(loss, None, weight)
    grad_pos = -modulator_pos * (gamma_pos * p * -log_p + one_minus_p)
    if equals(clip, 0.0):
        grad_neg = modulator_neg * (gamma_neg * one_minus_p * -log_1mp + p)
    else:
        # Below the clip modulator_neg is 0 and ratio is 1 (p_m = finfo.tiny).
        ratio = neg_log_u / p_m
        grad_neg = (p * one_minus_p) * modulator_neg * (gamma_neg * ratio + 1.0 / u)
    if y.dtype == torch.bool:
        grad = torch.where(y, grad_pos, grad_neg)
    else:
        grad = y * grad_pos + (1.0 - y) * grad_neg
    return scaled(loss, grad, weight)


@compiled.program
def asymmetric_compiled(
    x: Tensor,
    target: Tensor,
    inverse: compiled.Inverse,
    need_grad: bool,
    operands: compiled.Operands,
) -> compiled.Result:
    """:func:`asymmetric_fused` and its reduction through torch.compile (backend="compiled")."""
    return compiled.elementwise(asymmetric_fused, x, target, inverse, need_grad, operands)


ASYMMETRIC = engine.Math(asymmetric_naive, asymmetric_fused, asymmetric_compiled)


@falls_back_to_fused
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
    distributed: bool = False,
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
        gamma_pos: focusing parameter of positives, >= 0.
        gamma_neg: focusing parameter of negatives, >= 0.
        clip: the probability margin m of negatives, in [0, 1).
        weight: as in :func:`sigmoid_focal_loss`.
        ignore_index: as in :func:`sigmoid_focal_loss`.
        class_dim: as in :func:`sigmoid_focal_loss`.
        reduction: ``"none" | "mean" | "sum" | "positives"``, as in :func:`sigmoid_focal_loss`.
        avg_factor: as in :func:`sigmoid_focal_loss`.
        distributed: as in :func:`sigmoid_focal_loss`.
        backend: ``"auto"``, ``"fused"``, ``"naive"``, ``"compiled"`` or ``"triton"`` (the
            Triton kernel: loss and gradient in one launch; CUDA tensors, or CPU tensors
            under ``TRITON_INTERPRET=1``), as in :func:`sigmoid_focal_loss`. ``"auto"`` is
            ``"triton"`` for CUDA tensors when Triton is installed, else ``"fused"``.

    Example:
        >>> import torch, torchfocal
        >>> logits = torch.tensor([[2.0, -1.0, -3.0]])     # p = 0.881, 0.269, 0.047
        >>> target = torch.tensor([[1, 0, 0]])
        >>> torchfocal.asymmetric_loss(logits, target, reduction="none")
        tensor([[0.1269, 0.0006, 0.0000]])
    """
    input, target = v.check_pair(input, target)
    ignore_index = v.check_ignore_index(ignore_index)
    gamma_pos = v.check_scalar_in("gamma_pos", gamma_pos, 0.0, math.inf)
    gamma_neg = v.check_scalar_in("gamma_neg", gamma_neg, 0.0, math.inf)
    clip = v.check_scalar_in("clip", clip, 0.0, 1.0, high_inclusive=False)
    backend = v.resolve_backend(backend, input)
    request = targets.check_elementwise(
        input,
        target,
        weight=weight,
        ignore_index=ignore_index,
        class_dim=class_dim,
        reduction=reduction,
        avg_factor=avg_factor,
        distributed=distributed,
        range_in_kernel=backend == "triton",
    )
    params = {"gamma_pos": gamma_pos, "gamma_neg": gamma_neg, "clip": clip}
    return engine.run(
        engine.Elementwise(
            request,
            backend,
            ASYMMETRIC,
            operands=params,
            triton=engine.TritonKernel("asymmetric", params=params),
        )
    )


class AsymmetricLoss(LossModule):
    """Module form of :func:`torchfocal.asymmetric_loss` (ASL); see it for every argument.

    Example:
        >>> import torch, torchfocal
        >>> criterion = torchfocal.AsymmetricLoss(gamma_neg=4.0, clip=0.05, reduction="sum")
        >>> criterion(torch.tensor([[2.0, -1.0, -3.0]]), torch.tensor([[1, 0, 0]]))
        tensor(0.1275)
    """

    _function = staticmethod(asymmetric_loss)
    _reductions = v.SIGMOID_REDUCTIONS
    _checks = checking(
        gamma_pos=functools.partial(v.check_scalar_in, "gamma_pos", low=0.0, high=math.inf),
        gamma_neg=functools.partial(v.check_scalar_in, "gamma_neg", low=0.0, high=math.inf),
        clip=functools.partial(v.check_scalar_in, "clip", low=0.0, high=1.0, high_inclusive=False),
    )
    _repr_names = ("gamma_pos", "gamma_neg", "clip")
    weight: Tensor | None

    def __init__(
        self,
        *,
        gamma_pos: float = 0.0,
        gamma_neg: float = 4.0,
        clip: float = 0.05,
        weight: Tensor | None = None,
        ignore_index: int = -100,
        class_dim: int = 1,
        reduction: str = "mean",
        avg_factor: float | None = None,
        distributed: bool = False,
        backend: str = "auto",
    ) -> None:
        super().__init__(**init_options(locals()))


LOSSES = (
    LossInfo(
        function=asymmetric_loss,
        module="AsymmetricLoss",
        form="elementwise",
        samples=(
            Sample(
                "mask",
                reductions=SIGMOID_REDUCTIONS,
                forms=SIGMOID_FORMS,
                grad_arguments={"weight": "element", "avg_factor": "scalar"},
            ),
        ),
        docs="math.md#asymmetric-loss-ridnik-et-al-2021",
        section=("focal-family", 20),
        focusing=("gamma_pos", "gamma_neg"),
        kernel="asymmetric",
        variants=(
            {"gamma_pos": 0.5, "gamma_neg": 0.3, "clip": 0.05},
            {},
            {"gamma_pos": 1.0, "gamma_neg": 0.5, "clip": 0.3},
            {"gamma_pos": 0.5, "gamma_neg": 2.0, "clip": 0.0},
            {"gamma_pos": 0.0, "gamma_neg": 0.0, "clip": 0.0},
        ),
        extreme_variants=(
            {"gamma_pos": 2.0, "gamma_neg": 0.5, "clip": 0.0},
            {"gamma_pos": 0.0, "gamma_neg": 4.0, "clip": 0.7},
        ),
        gradient_variants=(
            {"gamma_pos": 0.0, "gamma_neg": 4.0, "clip": 0.05},
            {"gamma_pos": 0.5, "gamma_neg": 0.3, "clip": 0.0},
            {"gamma_pos": 1.0, "gamma_neg": 0.5, "clip": 0.2},
        ),
    ),
)
