"""Poly-1 focal loss and Poly-1 cross-entropy (Leng et al. 2022): function, naive and fused
forms of the sigmoid and the softmax form."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor

from .._engine import checks as v
from .._engine import compiled, engine, targets
from .._engine import reduction as reducing
from .._engine.numerics import (
    SATURATED_LOGIT,
    AlphaArg,
    log1m_softmax,
    log_one_minus_pt,
    power,
    saturated_logsigmoid,
    scaled,
    sign,
)
from .._engine.triton_fallback import falls_back_to_fused
from ._module import LossModule, checking, init_options
from ._registry import SIGMOID_FORMS, SIGMOID_REDUCTIONS, SOFTMAX_FORMS, LossInfo, Sample
from .sigmoid_focal import fused_elementwise, naive_elementwise
from .softmax_focal import fused, naive_per_location

# Poly-1 (Leng et al. 2022), sigmoid form: the focal loss plus epsilon q^(gamma + 1), q = 1 - p_t.
# With dq/dx = (1 - 2y) p (1 - p):  d/dx q^k = k q^(k-1) (1 - 2y) p (1 - p), k = gamma + 1 >= 1,
# one exponential of logs, finite for every x.


def _log_q(x: Tensor, y: Tensor) -> Tensor:
    """log(1 - p_t) = log(y (1 - p) + (1 - y) p) in log space (smooth in x and a float y)."""
    if y.dtype == torch.bool:
        return saturated_logsigmoid(torch.where(y, -x, x))
    return log_one_minus_pt(x, y)


def poly1_sigmoid_naive(
    x: Tensor,
    y: Tensor,
    *,
    epsilon: float,
    gamma: float,
    alpha: AlphaArg,
    weight: Tensor | None,
) -> Tensor:
    focal = naive_elementwise(x, y, alpha=alpha, gamma=gamma, weight=None, pos_weight=None)
    loss = focal + epsilon * torch.exp((gamma + 1.0) * _log_q(x, y))
    return loss if weight is None else loss * weight


def poly1_sigmoid_fused(
    x: Tensor,
    y: Tensor,
    *,
    epsilon: float,
    gamma: float,
    alpha: AlphaArg,
    weight: Tensor | None,
    need_grad: bool,
) -> tuple[Tensor, Tensor | None]:
    loss, grad = fused_elementwise(
        x,
        y,
        alpha=alpha,
        gamma=gamma,
        weight=None,
        pos_weight=None,
        need_grad=need_grad,
    )
    # Values only: the fused kernel differentiates by hand, so the plain log-space form
    # serves (the naive form's _log_q keeps its derivatives finite too, at more cost).
    if y.dtype == torch.bool:
        log_q = F.logsigmoid(torch.where(y, -x, x))
    else:
        log_q = torch.logaddexp(torch.log(y) + F.logsigmoid(-x), torch.log1p(-y) + F.logsigmoid(x))
    loss = loss + epsilon * torch.exp((gamma + 1.0) * log_q)
    if grad is not None:
        log_pq = F.logsigmoid(x) + F.logsigmoid(-x)  # log p (1 - p)
        d_term = (gamma + 1.0) * torch.exp(gamma * log_q + log_pq) * -sign(y)
        grad = grad + epsilon * d_term
    return scaled(loss, grad, weight)


@compiled.program
def poly1_sigmoid_compiled(
    x: Tensor,
    target: Tensor,
    inverse: compiled.Inverse,
    need_grad: bool,
    operands: compiled.Operands,
) -> compiled.Result:
    """:func:`poly1_sigmoid_fused` and its reduction through torch.compile (backend="compiled")."""
    return compiled.elementwise(poly1_sigmoid_fused, x, target, inverse, need_grad, operands)


POLY1_SIGMOID = engine.Math(poly1_sigmoid_naive, poly1_sigmoid_fused, poly1_sigmoid_compiled)


# Poly-1, softmax form: the softmax focal loss plus epsilon (1 - P_t)^k, k = gamma + 1, with
# P_t = sum_c t_c p_c and dP_t/dx_j = p_j (t_j - P_t):
#   d/dx_j (1 - P_t)^k = -k (1 - P_t)^(k-1) p_j (t_j - P_t).
# For an index target 1 - P_t is 1 - p_y, taken as the sum of the other classes when p_y > 1/2;
# for a dense target it is sum_c t_c (1 - p_c) + (1 - sum_c t_c), each 1 - p_c accurate.


def poly1_softmax_term(x: Tensor, t: Tensor, *, power: float, dim: int) -> Tensor:
    """(1 - P_t)^power per location, the naive way: ``t`` is the dense target.

    Autograd differentiates this to every order and to t, so it is built to be smooth:

    - 1 - P_t = sum_c p_c (1 - t_c) (since sum_c p_c = 1): terms >= 0, no cancellation as
      P_t -> 1, and no clamp;
    - the power is exp(power log(1 - P_t)), finite second derivatives for power < 2 as
      1 - P_t -> 0;
    - log(1 - P_t) = log A + log1p(sum_{t_c = 1} (1 - t_c) p_c / A), A the sum over the
      classes with t_c < 1 taken as logsumexp(log p_c + log(1 - t_c)). The second term is 0
      but keeps the derivative in t_c at t_c = 1 (-p_c / A), which log(1 - t_c) cannot give
      (log 0, sanitised by a double where). p_c / A is capped at exp(log(finfo.max) / 2 - 1)
      so that its square stays finite (past it every such derivative is below the dtype's
      normal range).
    - log p_c is clamped at -SATURATED_LOGIT: p_c is 0 below it in every dtype, and the clamp
      keeps every logarithm finite for rows that differ by up to twice the float range.
    """
    if x.shape[dim] == 1:
        # A single class has p = 1: 1 - P_t = 1 - t, whatever the logit.
        return (1.0 - t).clamp(min=0.0).pow(power).squeeze(dim)
    log_p = torch.log_softmax(x, dim=dim).clamp(min=-SATURATED_LOGIT)
    u = 1.0 - t
    open_ = u > 0
    log_terms = torch.where(open_, log_p + torch.log(torch.where(open_, u, 1.0)), float("-inf"))
    log_a = torch.logsumexp(log_terms, dim=dim, keepdim=True)
    cap = 0.5 * math.log(torch.finfo(x.dtype).max) - 1.0
    ratio = torch.exp((log_p - log_a).clamp(max=cap))
    closed = torch.where(open_, 0.0, u) * ratio
    log_rest = log_a + torch.log1p(closed.sum(dim=dim, keepdim=True))
    return torch.exp(power * log_rest).squeeze(dim)


def poly1_softmax_fused(
    x: Tensor,
    target: Tensor,
    valid: Tensor | None,
    *,
    class_factor: Tensor | float | None,
    gamma: float,
    epsilon: float,
    dim: int,
    need_grad: bool,
    grad_scale: float | Tensor | None = None,
) -> tuple[Tensor, Tensor | None]:
    loss, grad = fused(
        x, target, valid, class_factor=class_factor, gamma=gamma, dim=dim, need_grad=need_grad
    )
    log_p = torch.log_softmax(x, dim=dim)
    p = log_p.exp()
    dense = target.is_floating_point() and target.shape[dim] == x.shape[dim]
    if dense:
        log_1mp = log1m_softmax(x, log_p, dim)
        rest = (target * log_1mp.exp()).sum(dim=dim, keepdim=True) + (
            1.0 - target.sum(dim=dim, keepdim=True)
        )
    else:
        p_y = p.gather(dim, target)
        others = p.scatter(dim, target, 0.0).sum(dim=dim, keepdim=True)
        rest = torch.where(p_y <= 0.5, 1.0 - p_y, others)
    rest = rest.clamp(min=0.0)
    valid_factor = 1.0 if valid is None else valid.to(x.dtype)
    term = rest.pow(gamma + 1.0) * valid_factor
    loss = loss + epsilon * term.squeeze(dim)
    if grad is None:
        return loss, None
    coefficient = epsilon * (gamma + 1.0) * power(torch.log(rest), gamma) * valid_factor
    if dense:
        # t_j - P_t = t_j - 1 + (1 - P_t)
        grad = grad - coefficient * p * (target - 1.0 + rest)
    else:
        # j != y: +k rest^(k-1) p_y p_j;  j = y: -k rest^(k-1) p_y (1 - p_y) = ... * rest
        extra = (coefficient * p_y) * p
        extra.scatter_(dim, target, -(coefficient * p_y * rest))
        grad = grad + extra
    return loss, grad if grad_scale is None else grad.mul_(grad_scale)


@compiled.program
def poly1_softmax_compiled(
    x: Tensor,
    target: Tensor,
    inverse: compiled.Inverse,
    need_grad: bool,
    operands: compiled.Operands,
) -> compiled.Result:
    """:func:`poly1_softmax_fused` and its reduction through torch.compile (backend="compiled")."""
    return compiled.per_location(poly1_softmax_fused, x, target, inverse, need_grad, operands)


@falls_back_to_fused
def poly1_focal_loss(
    input: Tensor,
    target: Tensor,
    *,
    epsilon: float = 1.0,
    gamma: float = 2.0,
    alpha: v.ClassValues | None = None,
    activation: str = "sigmoid",
    weight: Tensor | None = None,
    ignore_index: int = -100,
    label_smoothing: float = 0.0,
    class_dim: int = 1,
    reduction: str = "mean",
    avg_factor: float | Tensor | None = None,
    distributed: bool = False,
    backend: str = "auto",
) -> Tensor:
    r"""Poly-1 focal loss (Leng et al., ICLR 2022): the focal loss plus
    :math:`\epsilon (1 - P_t)^{\gamma + 1}`.

    PolyLoss writes a loss as a polynomial in :math:`1 - P_t`; Poly-1 perturbs only the
    leading coefficient, by ``epsilon``:

    - ``activation="sigmoid"`` (per element, the paper's detection form):
      :math:`\ell = w [\alpha_t (1 - p_t)^\gamma \mathrm{BCE}(x, y)
      + \epsilon (1 - p_t)^{\gamma+1}]`,
      the focal part being :func:`sigmoid_focal_loss` (the epsilon term is not
      alpha-weighted, as in the paper's code);
    - ``activation="softmax"`` (per location):
      :math:`\ell = -\sum_c \alpha_c w_c t_c (1 - p_c)^\gamma \log p_c
      + \epsilon (1 - P_t)^{\gamma+1}`
      with :math:`P_t = \sum_c t_c p_c`, the focal part being :func:`softmax_focal_loss`
      (class weights :math:`w` included, as ``F.cross_entropy``'s ``weight``).

    The epsilon term is weighted by neither alpha nor the class weights. The paper defines
    Poly-1 per sample, :math:`-\log P_t + \epsilon (1 - P_t)`, with no weights; the PyTorch
    implementations that take a class weight (e.g. polyloss-pytorch) pass it to the
    cross-entropy alone and add :math:`\epsilon (1 - P_t)` unweighted, which is what
    ``reduction="none"`` gives here. ``"mean"`` divides the whole sum by the summed
    class weights of the counted targets (``F.cross_entropy``'s mean, so that
    ``epsilon=0`` is ``F.cross_entropy(weight=w)`` for every option): the epsilon term's
    share of the mean therefore scales with one over the mean weight, and weights
    normalised to a mean of 1 keep ``epsilon`` on the paper's scale.

    ``epsilon=0`` gives the focal loss; ``gamma=0`` gives :func:`poly1_cross_entropy`.
    *PolyLoss: A Polynomial Expansion Perspective of Classification Loss Functions*,
    https://arxiv.org/abs/2204.12511.

    Args:
        input: logits.
        target: sigmoid: every target form of :func:`sigmoid_focal_loss` (with one class,
            only the input's shape, as there); softmax: class indices or probabilities,
            as :func:`softmax_focal_loss`.
        epsilon: the coefficient of the first polynomial term, >= -1 (the paper searches
            [-1, 8]; -1 removes the term's first-order part).
        gamma: focusing parameter, >= 0.
        alpha: as in the focal loss of the chosen activation.
        activation: ``"sigmoid"`` or ``"softmax"``.
        weight: sigmoid: elementwise rescaling (as :func:`sigmoid_focal_loss`); softmax:
            C class weights (as ``F.cross_entropy``'s ``weight`` and
            :func:`softmax_focal_loss`'s).
        ignore_index: as in the focal loss of the activation.
        label_smoothing: as in the focal loss of the activation.
        class_dim: as in the focal loss of the activation.
        reduction: sigmoid: ``"none" | "mean" | "sum" | "positives"``; softmax: ``"none"``
            (one value per location), ``"mean"`` (over counted locations, or their summed
            class weights for index targets with ``weight``) or ``"sum"``.
        avg_factor: sigmoid only, with ``reduction="mean"``.
        distributed: sigmoid only, with ``reduction="positives"``: average the positive
            mass over the default ``torch.distributed`` process group first.
        backend: ``"auto"``, ``"fused"``, ``"naive"`` or ``"compiled"``, as in the focal
            loss of the activation, and for ``activation="sigmoid"`` ``"triton"`` (the
            Triton kernel: loss and gradient in one launch; CUDA tensors, or CPU tensors
            under ``TRITON_INTERPRET=1``). ``"auto"`` is ``"triton"`` for the sigmoid form
            of CUDA tensors when Triton is installed, else ``"fused"``; the softmax form
            has no Triton kernel.

    Example:
        >>> import torch, torchfocal
        >>> logits = torch.tensor([[2.0, 0.5, -1.0], [0.0, 0.0, 3.0]])
        >>> target = torch.tensor([0, 1])
        >>> torchfocal.poly1_focal_loss(logits, target, activation="softmax", reduction="none")
        tensor([0.0209, 3.6912])
    """
    activation = v.check_activation(activation)
    input, target = v.check_pair(input, target)
    ignore_index = v.check_ignore_index(ignore_index)
    epsilon = v.check_scalar_in("epsilon", epsilon, -1.0, math.inf)
    gamma = v.check_gamma(gamma)
    label_smoothing = v.check_scalar_in(
        "label_smoothing", label_smoothing, 0.0, 1.0, high_inclusive=False
    )
    backend = v.resolve_backend(backend, input, has_triton=activation == "sigmoid")
    if activation == "softmax":
        if avg_factor is not None:
            raise ValueError(
                f"avg_factor must be None for activation='softmax' (its mean divides by the "
                f"counted locations, or their summed class weights, as F.cross_entropy); "
                f"got {type(avg_factor).__name__}"
            )
        if distributed:
            raise ValueError(
                f"distributed must be False for activation='softmax' (it has no "
                f"reduction='positives' whose positive mass could be averaged); "
                f"got {distributed!r}"
            )
        return _poly1_softmax(
            input,
            target,
            epsilon=epsilon,
            gamma=gamma,
            alpha=alpha,
            weight=weight,
            ignore_index=ignore_index,
            label_smoothing=label_smoothing,
            class_dim=class_dim,
            reduction=reduction,
            backend=backend,
        )
    request = targets.check_elementwise(
        input,
        target,
        weight=weight,
        ignore_index=ignore_index,
        class_dim=class_dim,
        reduction=reduction,
        avg_factor=avg_factor,
        label_smoothing=label_smoothing,
        distributed=distributed,
        range_in_kernel=backend == "triton",
    )
    alpha_arg = targets.class_alpha(alpha, request.input, request.class_dim, request.compute_dtype)
    params = {"epsilon": epsilon, "gamma": gamma}
    return engine.run(
        engine.Elementwise(
            request,
            backend,
            POLY1_SIGMOID,
            operands={**params, "alpha": alpha_arg},
            triton=engine.TritonKernel("poly1", params=params, alpha=alpha_arg),
        )
    )


def _poly1_softmax(
    input: Tensor,
    target: Tensor,
    *,
    epsilon: float,
    gamma: float,
    alpha: v.ClassValues | None,
    weight: Tensor | None,
    ignore_index: int,
    label_smoothing: float,
    class_dim: int,
    reduction: str,
    backend: str,
) -> Tensor:
    """The softmax form: the softmax focal loss's target handling plus the Poly-1 term.

    ``weight`` (C class weights) enters the class factor of the focal / cross-entropy part
    and the divisor of "mean", exactly as in :func:`softmax_focal_loss`; the epsilon term
    is not weighted (see :func:`poly1_focal_loss`).
    """
    reduction = v.check_reduction(reduction, v.REDUCTIONS)
    batch = targets.prepare_per_location(
        input,
        target,
        alpha=alpha,
        weight=weight,
        ignore_index=ignore_index,
        label_smoothing=label_smoothing,
        class_dim=class_dim,
    )
    divisor = reducing.divisor(reduction, count=batch.counted)

    def naive(x: Tensor) -> Tensor:
        t = batch.dense_target()
        loss = naive_per_location(x, t, class_factor=batch.class_factor, gamma=gamma, dim=batch.dim)
        term = poly1_softmax_term(x, t, power=gamma + 1.0, dim=batch.dim)
        if batch.valid is not None:
            term = term * batch.valid.squeeze(batch.dim)
        return loss + epsilon * term

    return engine.run(
        engine.PerLocation(
            input,
            backend,
            naive,
            divisor,
            batch.dim,
            batch.compute_dtype,
            fused=poly1_softmax_fused,
            compiled=poly1_softmax_compiled,
            target=batch.target,
            operands={
                "valid": batch.valid,
                "class_factor": batch.class_factor,
                "gamma": gamma,
                "epsilon": epsilon,
            },
        )
    )


@falls_back_to_fused
def poly1_cross_entropy(
    input: Tensor,
    target: Tensor,
    *,
    epsilon: float = 1.0,
    activation: str = "softmax",
    weight: Tensor | None = None,
    ignore_index: int = -100,
    label_smoothing: float = 0.0,
    class_dim: int = 1,
    reduction: str = "mean",
    avg_factor: float | Tensor | None = None,
    distributed: bool = False,
    backend: str = "auto",
) -> Tensor:
    r"""Poly-1 cross-entropy (Leng et al., ICLR 2022): :math:`\mathrm{CE} + \epsilon (1 - P_t)`.

    The paper's classification loss: softmax cross-entropy plus ``epsilon`` times one minus
    the target's probability (:math:`P_t = \sum_c t_c p_c` for smoothed or probability
    targets). ``activation="sigmoid"`` gives the per-element binary form,
    :math:`\mathrm{BCE}(x, y) + \epsilon (1 - p_t)`. This is :func:`poly1_focal_loss` with
    ``gamma=0`` and no alpha; every argument means what it means there. ``epsilon=0`` gives
    ``F.cross_entropy`` (softmax) or ``F.binary_cross_entropy_with_logits`` (sigmoid)
    with the same options, ``weight`` included: for the softmax, C class weights that scale
    the cross-entropy (not the epsilon term) and make ``"mean"`` divide by the summed
    weights of the counted targets, exactly as ``F.cross_entropy``'s ``weight``; for the
    sigmoid, an elementwise weight. The sigmoid form takes every target form of
    :func:`sigmoid_focal_loss` (with one class, only the input's shape) and, as there,
    ``reduction="positives"`` with ``distributed``.
    https://arxiv.org/abs/2204.12511

    Args:
        input: logits, ``(N, C)`` or ``(N, C, d1, ...)`` (the classes along ``class_dim``).
        target: class indices or class probabilities (softmax); every target form of
            :func:`sigmoid_focal_loss` (sigmoid).
        epsilon: the weight of the :math:`1 - P_t` term; 0 gives plain cross-entropy.
        activation: ``"softmax"`` (default) or ``"sigmoid"``.
        weight: C class weights (softmax, as ``F.cross_entropy``'s) or an elementwise
            weight (sigmoid).
        ignore_index: the class index of targets left out of the loss and of the count.
        label_smoothing: eps in [0, 1), as ``F.cross_entropy`` (softmax) or
            :func:`sigmoid_focal_loss` (sigmoid).
        class_dim: the dimension of the classes.
        reduction: ``"none"``, ``"mean"`` or ``"sum"``; also ``"positives"`` for the sigmoid.
        avg_factor: with ``reduction="mean"``, the divisor to use instead of the count.
        distributed: with ``reduction="positives"`` (sigmoid), average the positive mass
            over the default process group first.
        backend: ``"auto"``, ``"fused"``, ``"naive"`` or ``"compiled"``; ``"triton"`` for the
            sigmoid form (the softmax form has no Triton kernel), as in
            :func:`sigmoid_focal_loss`.

    Example:
        >>> import torch, torchfocal
        >>> logits = torch.tensor([[2.0, 0.5, -1.0], [0.0, 0.0, 3.0]])
        >>> target = torch.tensor([0, 1])
        >>> torchfocal.poly1_cross_entropy(logits, target, epsilon=1.0, reduction="none")
        tensor([0.4557, 4.0496])
    """
    return poly1_focal_loss(
        input,
        target,
        epsilon=epsilon,
        gamma=0.0,
        alpha=None,
        activation=activation,
        weight=weight,
        ignore_index=ignore_index,
        label_smoothing=label_smoothing,
        class_dim=class_dim,
        reduction=reduction,
        avg_factor=avg_factor,
        distributed=distributed,
        backend=backend,
    )


def _poly1_limits(activation: object) -> dict[str, Any]:
    """Poly-1's activation decides its reductions and alpha's range: checked first."""
    sigmoid = v.check_activation(activation) == "sigmoid"
    return {
        "reductions": v.SIGMOID_REDUCTIONS if sigmoid else v.REDUCTIONS,
        "alpha_high": 1.0 if sigmoid else math.inf,
    }


class Poly1FocalLoss(LossModule):
    """Module form of :func:`torchfocal.poly1_focal_loss`; see it for every argument.

    Example:
        >>> import torch, torchfocal
        >>> criterion = torchfocal.Poly1FocalLoss(epsilon=1.0, gamma=2.0, activation="softmax")
        >>> criterion(torch.tensor([[2.0, 0.5, -1.0], [0.0, 0.0, 3.0]]), torch.tensor([0, 1]))
        tensor(1.8561)
    """

    _function: ClassVar[Callable[..., Tensor]] = staticmethod(poly1_focal_loss)
    _checks = checking(
        epsilon=functools.partial(v.check_scalar_in, "epsilon", low=-1.0, high=math.inf),
        gamma=v.check_gamma,
        label_smoothing=v.check_label_smoothing,
    )
    _repr_names: ClassVar[tuple[str, ...]] = ("epsilon", "activation", "alpha", "gamma")
    alpha: Tensor | None
    weight: Tensor | None

    def __init__(
        self,
        *,
        epsilon: float = 1.0,
        gamma: float = 2.0,
        alpha: float | Sequence[float] | Tensor | None = None,
        activation: str = "sigmoid",
        weight: Tensor | None = None,
        ignore_index: int = -100,
        label_smoothing: float = 0.0,
        class_dim: int = 1,
        reduction: str = "mean",
        avg_factor: float | None = None,
        distributed: bool = False,
        backend: str = "auto",
    ) -> None:
        super().__init__(**init_options(locals()), **_poly1_limits(activation))


class Poly1CrossEntropyLoss(Poly1FocalLoss):
    """Module form of :func:`torchfocal.poly1_cross_entropy` (Poly-1 with gamma 0, no alpha).

    Example:
        >>> import torch, torchfocal
        >>> criterion = torchfocal.Poly1CrossEntropyLoss(epsilon=1.0)
        >>> criterion(torch.tensor([[2.0, 0.5, -1.0], [0.0, 0.0, 3.0]]), torch.tensor([0, 1]))
        tensor(2.2527)
    """

    _function = staticmethod(poly1_cross_entropy)
    _repr_names = ("epsilon", "activation")

    def __init__(
        self,
        *,
        epsilon: float = 1.0,
        activation: str = "softmax",
        weight: Tensor | None = None,
        ignore_index: int = -100,
        label_smoothing: float = 0.0,
        class_dim: int = 1,
        reduction: str = "mean",
        avg_factor: float | None = None,
        distributed: bool = False,
        backend: str = "auto",
    ) -> None:
        LossModule.__init__(self, **init_options(locals()), **_poly1_limits(activation))


LOSSES = (
    LossInfo(
        function=poly1_focal_loss,
        module="Poly1FocalLoss",
        form="elementwise",
        samples=(
            Sample(
                "mask",
                reductions=SIGMOID_REDUCTIONS,
                forms=SIGMOID_FORMS,
                grad_arguments={"weight": "element", "alpha": "class", "avg_factor": "scalar"},
            ),
            Sample(
                "index",
                options={"activation": "softmax"},
                module_options={"activation": "softmax"},
                triton=False,
                forms=SOFTMAX_FORMS,
                grad_arguments={"weight": "class", "alpha": "class"},
            ),
        ),
        docs="math.md#poly-1-leng-et-al-2022",
        section=("focal-family", 40),
        focusing=("gamma",),
        kernel="poly1",
        label="poly1",
        variants=(
            {"gamma": 0.5, "alpha": 0.25, "label_smoothing": 0.1},
            {"epsilon": 1.0, "gamma": 2.0},
            {"epsilon": -1.0, "gamma": 0.0, "alpha": 0.25, "label_smoothing": 0.1},
            {"epsilon": 2.5, "gamma": 0.5, "alpha": [0.2, 0.4, 0.6, 0.8]},
        ),
        extreme_variants=({"gamma": 0.0, "epsilon": -1.0},),
        gradient_variants=(
            {"gamma": 0.0, "epsilon": 1.5},
            {"gamma": 0.3, "epsilon": 1.5},
            {"gamma": 1.0, "epsilon": 1.5},
            {"gamma": 2.5, "epsilon": 1.5},
        ),
    ),
    LossInfo(
        function=poly1_cross_entropy,
        module="Poly1CrossEntropyLoss",
        form="per_location",
        samples=(
            Sample(
                "index",
                triton=False,
                forms=SOFTMAX_FORMS,
                grad_arguments={"weight": "class"},
            ),
            Sample(
                "mask",
                options={"activation": "sigmoid"},
                module_options={"activation": "sigmoid"},
                reductions=SIGMOID_REDUCTIONS,
                forms=SIGMOID_FORMS,
                grad_arguments={"weight": "element", "avg_factor": "scalar"},
            ),
        ),
        docs="math.md#poly-1-leng-et-al-2022",
        section=("focal-family", 30),
        kernel="poly1",
        label="poly1_ce",
    ),
)
