"""FL*, the focal loss variant of Lin et al. (2017), appendix A: function, naive and fused forms."""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from .._engine import checks as v
from .._engine import compiled, engine, targets
from .._engine.numerics import AlphaArg, alpha_t, has_neg_inf, scaled, sign, times
from .._engine.triton_fallback import falls_back_to_fused
from ._module import LossModule, checking, init_options
from ._registry import SIGMOID_FORMS, SIGMOID_REDUCTIONS, LossInfo, Sample

# FL* (Lin et al. 2017, appendix A). With s = 2y - 1 and z = gamma s x + beta:
#   loss = -log sigmoid(z) / gamma = softplus(-z) / gamma,
#   dloss/dx = -sigmoid(-z) * gamma s / gamma = -s sigmoid(-z)        (bounded by 1).
# gamma s x overflows for |x| near finfo.max and gamma > 1, while the loss itself (about |x|)
# does not. Where z = -inf (the loss side; z = +inf gives logsigmoid = 0, the right value),
# softplus(-z) / gamma = -z / gamma = -(s x + beta / gamma) exactly (softplus(-z) = -z once
# exp(z) rounds to 0), a form without the overflowing product; its derivative -s is that of
# the loss there, sigmoid(-z) = 1.


def _star_loss(x_t: Tensor, gamma: float, beta: float) -> Tensor:
    """softplus(-(gamma x_t + beta)) / gamma, finite wherever the true value is."""
    z = gamma * x_t + beta
    return torch.where(torch.isneginf(z), -(x_t + beta / gamma), -F.logsigmoid(z) / gamma)


def star_naive(
    x: Tensor, y: Tensor, *, gamma: float, beta: float, alpha: AlphaArg, weight: Tensor | None
) -> Tensor:
    loss = _star_loss(sign(y) * x, gamma, beta)
    scale = times(alpha_t(alpha, y, x), weight)
    return loss if scale is None else loss * scale


def star_fused(
    x: Tensor,
    y: Tensor,
    *,
    gamma: float,
    beta: float,
    alpha: AlphaArg,
    weight: Tensor | None,
    need_grad: bool,
) -> tuple[Tensor, Tensor | None]:
    s = sign(y)
    x_t = x.mul(s)
    z = x_t.mul(gamma).add_(beta)
    loss = F.logsigmoid(z).div_(-gamma)
    if has_neg_inf(z):
        # gamma x_t overflowed on the loss side (see _star_loss).
        loss = torch.where(torch.isneginf(z), x_t.add_(beta / gamma).neg_(), loss)
    # sigmoid(-z) is exact for z = +-inf too (0 or 1).
    grad = torch.sigmoid(z.neg_()).mul_(s).neg_() if need_grad else None
    return scaled(loss, grad, times(alpha_t(alpha, y, x), weight))


@compiled.program
def star_compiled(
    x: Tensor,
    target: Tensor,
    inverse: compiled.Inverse,
    need_grad: bool,
    operands: compiled.Operands,
) -> compiled.Result:
    """:func:`star_fused` and its reduction through torch.compile (backend="compiled")."""
    return compiled.elementwise(star_fused, x, target, inverse, need_grad, operands)


STAR = engine.Math(star_naive, star_fused, star_compiled)


@falls_back_to_fused
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
    distributed: bool = False,
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
        gamma: sharpening, > 0.
        beta: shift, any finite float.
        alpha: ``None``, a float in [0, 1] or C per-class values (as in
            :func:`sigmoid_focal_loss`).
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
        >>> logits = torch.tensor([[2.0, -1.0, 0.0]])
        >>> target = torch.tensor([[1.0, 0.0, 1.0]])
        >>> torchfocal.sigmoid_focal_loss_star(logits, target, beta=1.0, reduction="none")
        tensor([[0.0034, 0.0243, 0.1566]])
    """
    input, target = v.check_pair(input, target)
    ignore_index = v.check_ignore_index(ignore_index)
    gamma = v.check_star_gamma(gamma)
    beta = v.check_scalar_in("beta", beta, -math.inf, math.inf)
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
    alpha_arg = targets.class_alpha(alpha, request.input, request.class_dim, request.compute_dtype)
    params = {"gamma": gamma, "beta": beta}
    return engine.run(
        engine.Elementwise(
            request,
            backend,
            STAR,
            operands={**params, "alpha": alpha_arg},
            triton=engine.TritonKernel("focal_star", params=params, alpha=alpha_arg),
        )
    )


class SigmoidFocalLossStar(LossModule):
    """Module form of :func:`torchfocal.sigmoid_focal_loss_star` (FL*); see it for every argument.

    Example:
        >>> import torch, torchfocal
        >>> criterion = torchfocal.SigmoidFocalLossStar(gamma=2.0, beta=1.0)
        >>> criterion(torch.tensor([[2.0, -1.0]]), torch.tensor([[1.0, 0.0]]))
        tensor(0.0138)
    """

    _function = staticmethod(sigmoid_focal_loss_star)
    _reductions = v.SIGMOID_REDUCTIONS
    _checks = checking(
        gamma=v.check_star_gamma,
        beta=functools.partial(v.check_scalar_in, "beta", low=-math.inf, high=math.inf),
    )
    _alpha_high = 1.0
    _repr_names = ("beta", "alpha", "gamma")
    alpha: Tensor | None
    weight: Tensor | None

    def __init__(
        self,
        *,
        gamma: float = 2.0,
        beta: float = 1.0,
        alpha: float | Sequence[float] | Tensor | None = None,
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
        function=sigmoid_focal_loss_star,
        module="SigmoidFocalLossStar",
        form="elementwise",
        samples=(
            Sample(
                "mask",
                reductions=SIGMOID_REDUCTIONS,
                forms=SIGMOID_FORMS,
                grad_arguments={"weight": "element", "alpha": "class", "avg_factor": "scalar"},
            ),
        ),
        docs="math.md#fl-lin-et-al-2017-appendix-a",
        section=("focal-family", 10),
        focusing=("gamma",),
        focusing_values=(0.5, 2.0, 10.0),  # gamma > 0: the loss divides by it
        kernel="focal_star",
        variants=(
            {"gamma": 0.5, "beta": -0.5, "alpha": 0.25},
            {"gamma": 2.0, "beta": 1.0},
            {"gamma": 4.0, "beta": 2.0, "alpha": [0.1, 0.5, 0.9, 0.3]},
        ),
        extreme_variants=({"gamma": 4.0, "beta": 1.0},),  # gamma x overflows
        label="star",
        gradient_variants=({"gamma": 0.3, "beta": 1.0}, {"gamma": 2.0, "beta": 1.0}),
    ),
)
