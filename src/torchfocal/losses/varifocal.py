"""Varifocal loss (Zhang et al. 2021, VarifocalNet): function, naive and fused forms."""

from __future__ import annotations

import functools
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from .._engine import checks as v
from .._engine import compiled, engine, targets
from .._engine.deprecation import renamed
from .._engine.numerics import power, saturated_logsigmoid, scaled, soft_bce
from .._engine.triton_fallback import falls_back_to_fused
from ._module import LossModule, checking, init_options
from ._registry import SIGMOID_REDUCTIONS, LossInfo, Sample

# Varifocal loss (Zhang et al. 2021). With q the IoU-aware target score:
#   q > 0:  loss = s bce(x, q),        s = q (iou_weighted) or 1,  dloss/dx = s (p - q)
#   q = 0:  loss = alpha p^gamma softplus(x),
#           dloss/dx = alpha p^gamma (gamma (1 - p) softplus(x) + p)
# p - q is written (1 - q) p - q (1 - p), exact to rounding at q = 1 as p -> 1.


def varifocal_naive(
    x: Tensor,
    q: Tensor,
    *,
    alpha: float,
    gamma: float,
    iou_weighted: bool,
    weight: Tensor | None,
) -> Tensor:
    log_p, log_1mp = F.logsigmoid(x), F.logsigmoid(-x)
    positive = soft_bce(log_p, log_1mp, q)
    if iou_weighted:
        positive = q * positive
    # p^gamma's logarithm saturates (SATURATED_LOGIT) where softplus(x) grows like x.
    negative = alpha * power(saturated_logsigmoid(x), gamma) * -log_1mp
    loss = torch.where(q > 0, positive, negative)
    return loss if weight is None else loss * weight


def varifocal_fused(
    x: Tensor,
    q: Tensor,
    *,
    alpha: float,
    gamma: float,
    iou_weighted: bool,
    weight: Tensor | None,
    need_grad: bool,
) -> tuple[Tensor, Tensor | None]:
    log_p, log_1mp = F.logsigmoid(x), F.logsigmoid(-x)
    positive = q > 0
    scale: Tensor | float = q if iou_weighted else 1.0
    modulator = power(log_p, gamma)
    softplus_x = -log_1mp
    loss = torch.where(
        positive, scale * soft_bce(log_p, log_1mp, q), alpha * modulator * softplus_x
    )
    if not need_grad:
        return scaled(loss, None, weight)
    p, one_minus_p = log_p.exp(), log_1mp.exp()
    grad_pos = scale * ((1.0 - q) * p - q * one_minus_p)
    grad_neg = alpha * modulator * (gamma * one_minus_p * softplus_x + p)
    return scaled(loss, torch.where(positive, grad_pos, grad_neg), weight)


@compiled.program
def varifocal_compiled(
    x: Tensor,
    target: Tensor,
    inverse: compiled.Inverse,
    need_grad: bool,
    operands: compiled.Operands,
) -> compiled.Result:
    """:func:`varifocal_fused` and its reduction through torch.compile (backend="compiled")."""
    return compiled.elementwise(varifocal_fused, x, target, inverse, need_grad, operands)


VARIFOCAL = engine.Math(varifocal_naive, varifocal_fused, varifocal_compiled)


@renamed(target_score="target")
@falls_back_to_fused
def varifocal_loss(
    input: Tensor,
    target: Tensor,
    *,
    alpha: float = 0.75,
    gamma: float = 2.0,
    iou_weighted: bool = True,
    weight: Tensor | None = None,
    reduction: str = "mean",
    avg_factor: float | Tensor | None = None,
    distributed: bool = False,
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
        target: the IoU-aware target score: float, the input's shape, in [0, 1]: 0 for
            negatives, the score at the positive class of a positive location. (Called
            ``target_score`` before; that name still works for one release, with a
            DeprecationWarning.)
        alpha: weight of negatives, in [0, 1].
        gamma: focusing of negatives, >= 0.
        iou_weighted: weight positives by their target score.
        weight: elementwise rescaling that broadcasts to the input's shape.
        reduction: ``"none"``, ``"mean"`` (over elements, or / ``avg_factor``), ``"sum"``
            or ``"positives"``: sum / max(number of positives, 1), a positive being an
            element with a target score > 0 (one per positive location of a detector's
            dense target). That is VarifocalNet's normaliser, the ``num_pos`` mmdet passes
            as ``avg_factor``.
        avg_factor: with ``reduction="mean"``, the divisor to use instead of the count.
        distributed: with ``reduction="positives"``, average the number of positives over
            the default ``torch.distributed`` process group first (mmdet's
            ``reduce_mean(num_pos)``).
        backend: ``"auto"``, ``"fused"``, ``"naive"``, ``"compiled"`` or ``"triton"`` (the
            Triton kernel: loss and gradient in one launch; CUDA tensors, or CPU tensors
            under ``TRITON_INTERPRET=1``), as in :func:`sigmoid_focal_loss`. ``"auto"`` is
            ``"triton"`` for CUDA tensors when Triton is installed, else ``"fused"``.

    Example:
        >>> import torch, torchfocal
        >>> logits = torch.tensor([[1.0, -2.0], [0.5, 0.0]])
        >>> score = torch.tensor([[0.8, 0.0], [0.0, 0.3]])
        >>> torchfocal.varifocal_loss(logits, score, reduction="none")
        tensor([[0.4106, 0.0014],
                [0.2831, 0.2079]])
    """
    input = v.check_float_input("input", input)
    backend = v.resolve_backend(backend, input)
    request = targets.check_score_request(
        input,
        target,
        weight=weight,
        reduction=reduction,
        avg_factor=avg_factor,
        distributed=distributed,
        range_in_kernel=backend == "triton",
    )
    alpha = v.check_scalar_in("alpha", alpha, 0.0, 1.0)
    gamma = v.check_gamma(gamma)
    iou_weighted = v.check_bool("iou_weighted", iou_weighted)
    return engine.run(
        engine.Elementwise(
            request,
            backend,
            VARIFOCAL,
            operands={"alpha": alpha, "gamma": gamma, "iou_weighted": iou_weighted},
            # alpha weighs the negatives (no alpha_t): one of the kernel's numbers.
            triton=engine.TritonKernel(
                "varifocal",
                params={"alpha": alpha, "gamma": gamma, "iou_weighted": float(iou_weighted)},
            ),
        )
    )


class VarifocalLoss(LossModule):
    """Module form of :func:`torchfocal.varifocal_loss`; see it for every argument.

    ``forward(input, target)`` takes the IoU-aware target score as ``target`` (the keyword
    ``target_score`` still works for one release, with a DeprecationWarning).

    Example:
        >>> import torch, torchfocal
        >>> criterion = torchfocal.VarifocalLoss(alpha=0.75, gamma=2.0, reduction="sum")
        >>> criterion(torch.tensor([[1.0, -2.0]]), torch.tensor([[0.8, 0.0]]))
        tensor(0.4120)
    """

    _function = staticmethod(varifocal_loss)
    _reductions = v.SIGMOID_REDUCTIONS
    # One alpha for every class (the function takes no per-class values).
    _checks = checking(
        alpha=functools.partial(v.check_scalar_in, "alpha", low=0.0, high=1.0),
        gamma=v.check_gamma,
        iou_weighted=functools.partial(v.check_bool, "iou_weighted"),
    )
    _alpha_high = 1.0
    _repr_names = ("alpha", "gamma", "iou_weighted")
    alpha: Tensor | None
    scalar_alpha: float
    weight: Tensor | None

    def __init__(
        self,
        *,
        alpha: float = 0.75,
        gamma: float = 2.0,
        iou_weighted: bool = True,
        weight: Tensor | None = None,
        reduction: str = "mean",
        avg_factor: float | None = None,
        distributed: bool = False,
        backend: str = "auto",
    ) -> None:
        super().__init__(**init_options(locals()))

    @renamed(target_score="target")
    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return super().forward(input, target)

    def _arguments(self) -> dict[str, Any]:
        # The function takes one number: a buffer ``alpha`` (None unless assigned) is not read.
        return {**super()._arguments(), "alpha": self.scalar_alpha}


LOSSES = (
    LossInfo(
        function=varifocal_loss,
        module="VarifocalLoss",
        form="elementwise",
        samples=(
            Sample(
                "score",
                reductions=SIGMOID_REDUCTIONS,
                grad_arguments={"weight": "element", "avg_factor": "scalar"},
                negative_at_zero=True,
            ),
        ),
        docs="math.md#varifocal-loss-zhang-et-al-2021",
        section=("focal-family", 50),
        focusing=("gamma",),
        kernel="varifocal",
        variants=(
            {"gamma": 0.5},
            {},
            {"alpha": 0.25, "gamma": 0.5, "iou_weighted": False},
            {"alpha": 1.0, "gamma": 0.0},
        ),
        gradient_variants=(
            {"gamma": 0.5, "iou_weighted": True},
            {"gamma": 2.0, "iou_weighted": False},
        ),
    ),
)
