"""Quality focal loss (Li et al. 2020, Generalized Focal Loss): function, naive and fused
forms."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from .._engine import checks as v
from .._engine import compiled, engine, targets
from .._engine.deprecation import renamed
from .._engine.numerics import SATURATED_LOGIT, equals, scaled, soft_bce
from .._engine.triton_fallback import falls_back_to_fused
from ._module import LossModule, checking, init_options
from ._registry import SIGMOID_REDUCTIONS, LossInfo, Sample

# Quality focal loss (Li et al. 2020). With d = p - q:
#   loss = |d|^beta bce(x, q)
#   dloss/dx = beta |d|^(beta-1) sign(d) p (1 - p) bce + |d|^beta d
# For beta >= 1 the first factor is bounded (the functional layer rejects 0 < beta < 1, whose
# derivative is unbounded at p = q); at d = 0 the first term is 0.


def _difference(log_p: Tensor, log_1mp: Tensor, q: Tensor) -> Tensor:
    """p - q as (1 - q) p - q (1 - p): exact to rounding for q in {0, 1}."""
    return (1.0 - q) * log_p.exp() - q * log_1mp.exp()


def _abspower(d: Tensor, beta: float) -> Tensor:
    """|d|^beta with finite derivatives of the first and second order under autograd.

    An even integer beta is the polynomial d^beta (exact derivatives everywhere). Otherwise
    d = 0 takes the constant 0, with derivatives 0: the first derivative's value for
    beta > 1 (and the convention of the fused kernel for beta = 1), the second's for
    beta > 2; for 1 < beta < 2 the true second derivative there is infinite. d is replaced
    by 1 in the branch not taken, so pow's derivative 0^(beta - 1) never meets it.
    """
    if float(beta).is_integer() and int(beta) % 2 == 0:
        return d.pow(beta)
    nonzero = d != 0  # True for NaN, which propagates
    safe = torch.where(nonzero, d, 1.0)
    return torch.where(nonzero, safe.abs().pow(beta), 0.0)


def quality_naive(x: Tensor, q: Tensor, *, beta: float, weight: Tensor | None) -> Tensor:
    log_p, log_1mp = F.logsigmoid(x), F.logsigmoid(-x)
    loss = soft_bce(log_p, log_1mp, q)
    if beta != 0.0:
        # p and 1 - p from the saturated logit: exactly 0 or 1 past SATURATED_LOGIT either
        # way, with derivative exactly 0 where bce (about |x|) could overflow dloss/dd.
        x_s = x.clamp(min=-SATURATED_LOGIT, max=SATURATED_LOGIT)
        d = _difference(F.logsigmoid(x_s), F.logsigmoid(-x_s), q)
        loss = _abspower(d, beta) * loss
    return loss if weight is None else loss * weight


def quality_fused(
    x: Tensor, q: Tensor, *, beta: float, weight: Tensor | None, need_grad: bool
) -> tuple[Tensor, Tensor | None]:
    log_p, log_1mp = F.logsigmoid(x), F.logsigmoid(-x)
    bce = soft_bce(log_p, log_1mp, q)
    difference = _difference(log_p, log_1mp, q)
    if equals(beta, 0.0):
        return scaled(bce, difference if need_grad else None, weight)
    magnitude = difference.abs()
    modulator = magnitude.pow(beta)
    loss = modulator * bce
    if not need_grad:
        return scaled(loss, None, weight)
    # beta |d|^(beta - 1) sign(d) = beta |d|^beta / d, taken as 0 at d = 0.
    slope = torch.where(magnitude > 0, beta * magnitude.pow(beta - 1.0) * difference.sign(), 0.0)
    grad = slope * torch.exp(log_p + log_1mp) * bce + modulator * difference
    return scaled(loss, grad, weight)


@compiled.program
def quality_compiled(
    x: Tensor,
    target: Tensor,
    inverse: compiled.Inverse,
    need_grad: bool,
    operands: compiled.Operands,
) -> compiled.Result:
    """:func:`quality_fused` and its reduction through torch.compile (backend="compiled")."""
    return compiled.elementwise(quality_fused, x, target, inverse, need_grad, operands)


QUALITY = engine.Math(quality_naive, quality_fused, quality_compiled)


@renamed(target_score="target")
@falls_back_to_fused
def quality_focal_loss(
    input: Tensor,
    target: Tensor,
    *,
    beta: float = 2.0,
    weight: Tensor | None = None,
    reduction: str = "mean",
    avg_factor: float | Tensor | None = None,
    distributed: bool = False,
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
        target: the quality target score: float, the input's shape, in [0, 1]. (Called
            ``target_score`` before; that name still works for one release, with a
            DeprecationWarning.)
        beta: 0 or >= 1.
        weight: as in :func:`varifocal_loss`.
        reduction: as in :func:`varifocal_loss`; ``"positives"`` divides by max(number of
            target scores > 0, 1), the ``num_total_pos`` of mmdet's GFL head.
        avg_factor: as in :func:`varifocal_loss`.
        distributed: as in :func:`varifocal_loss`.
        backend: as in :func:`varifocal_loss` (``"triton"`` included).

    Example:
        >>> import torch, torchfocal
        >>> logits = torch.tensor([[1.0, -2.0], [0.5, 0.0]])
        >>> score = torch.tensor([[0.8, 0.0], [0.0, 0.3]])
        >>> torchfocal.quality_focal_loss(logits, score, reduction="none")
        tensor([[0.0024, 0.0018],
                [0.3774, 0.0277]])
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
    beta = v.check_quality_beta(beta)
    params = {"beta": beta}
    return engine.run(
        engine.Elementwise(
            request,
            backend,
            QUALITY,
            operands=params,
            triton=engine.TritonKernel("quality_focal", params=params),
        )
    )


class QualityFocalLoss(LossModule):
    """Module form of :func:`torchfocal.quality_focal_loss`; see it for every argument.

    ``forward(input, target)`` takes the quality target score as ``target`` (the keyword
    ``target_score`` still works for one release, with a DeprecationWarning).

    Example:
        >>> import torch, torchfocal
        >>> criterion = torchfocal.QualityFocalLoss(beta=2.0, reduction="sum")
        >>> criterion(torch.tensor([[1.0, -2.0]]), torch.tensor([[0.8, 0.0]]))
        tensor(0.0042)
    """

    _function = staticmethod(quality_focal_loss)
    _reductions = v.SIGMOID_REDUCTIONS
    _checks = checking(beta=v.check_quality_beta)
    _repr_names = ("beta",)
    weight: Tensor | None

    def __init__(
        self,
        *,
        beta: float = 2.0,
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


LOSSES = (
    LossInfo(
        function=quality_focal_loss,
        module="QualityFocalLoss",
        form="elementwise",
        samples=(
            Sample(
                "score",
                reductions=SIGMOID_REDUCTIONS,
                grad_arguments={"weight": "element", "avg_factor": "scalar"},
            ),
        ),
        docs="math.md#quality-focal-loss-li-et-al-2020",
        section=("focal-family", 60),
        focusing=("beta",),
        focusing_values=(0.0, 1.0, 2.0, 10.0),
        kernel="quality_focal",
        variants=({"beta": 1.0}, {"beta": 0.0}, {"beta": 2.0}, {"beta": 3.5}),
        extreme_variants=({"beta": 2.5},),
        label="quality",
        gradient_variants=({"beta": 0.0}, {"beta": 1.0}, {"beta": 2.0}, {"beta": 3.5}),
    ),
)
