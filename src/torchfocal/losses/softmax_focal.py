"""Softmax focal loss: the public function, its naive form (autograd) and its fused form.

Per location, with logits x over the class dimension,
l_c = log p_c = log_softmax(x)_c, class factor a_c = t_c * alpha_c * w_c (t the one-hot or
probability target, alpha and w the per-class alpha and weight):

    loss = -sum_c a_c m_c l_c,        m_c = (1 - p_c) ** gamma = exp(gamma * log(1 - p_c))

Gradient (derivation in docs/math.md). With dl_c/dx_j = delta_cj - p_j,

    d(m_c l_c)/dx_j = g_c (delta_cj - p_j),   g_c = m_c (1 + gamma p_c rho_c),
    rho_c = -l_c / (1 - p_c) = l_c / expm1(l_c)        (in [1, inf); -> 1 as p_c -> 1)
    dloss/dx_j = -a_j g_j (1 - p_j) + p_j sum_{c != j} a_c g_c

g_c replaces gamma (1 - p_c)^(gamma - 1) p_c l_c, whose first factor is infinite at p_c = 1
for gamma < 1, by the bounded product m_c p_c rho_c. The last line is written so that the
target class's term is a product with (1 - p_j), not the difference of two nearly equal
numbers when p_j -> 1.

log(1 - p_c) itself is :func:`~torchfocal._engine.numerics.log1m_softmax`, accurate for
every class.

Rows whose logits differ by more than the float range (e.g. [max, -max, 0]): log p_c of
the far class is below -finfo.max and log_softmax rounds it to -inf. The loss terms
a_c log p_c are then formed by :func:`~torchfocal._engine.numerics.weighted_log_p` (never
0 * -inf, and finite wherever the product is), and p_c rho_c takes its limit 0 (l_c is
clamped at -SATURATED_LOGIT, where p_c is already 0 in every dtype).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import NamedTuple, cast

import torch
from torch import Tensor

from .._engine import checks as v
from .._engine import compiled, engine, targets
from .._engine import reduction as reducing
from .._engine.numerics import (
    SATURATED_LOGIT,
    Gamma,
    equals,
    log1m_softmax,
    log_normaliser,
    p_rho,
    weighted_log_p,
    weighted_log_p_value,
)
from .._engine.triton_fallback import falls_back_to_fused
from ._module import LossModule, checking, init_options
from ._registry import SOFTMAX_FORMS, LossInfo, Sample


def naive_per_location(
    x: Tensor, t: Tensor, *, class_factor: Tensor | float | None, gamma: Gamma, dim: int
) -> Tensor:
    """The readable version: plain torch ops under autograd; ``t`` is the dense target.

    Autograd differentiates this to every order and to t and the class factor, so: the
    modulator is exp(gamma log(1 - p_c)) (finite derivatives for gamma < 1), and where
    log p_c < -SATURATED_LOGIT it is the constant 1 (its exact value: p_c is 0 in every
    dtype), which keeps an overflowing dloss/dm_c = -a_c log p_c (up to 2 finfo.max) times
    gamma away from dlog(1 - p_c)/dx = 0 (inf * 0 = NaN).
    """
    log_p = torch.log_softmax(x, dim=dim)
    weight = t if class_factor is None else t * class_factor
    if not equals(gamma, 0.0):
        modulator = torch.exp(gamma * log1m_softmax(x, log_p, dim))
        weight = weight * torch.where(log_p < -SATURATED_LOGIT, 1.0, modulator)
    log_z = log_normaliser(x, log_p, dim)
    return -weighted_log_p(weight, x, log_p, log_z).sum(dim=dim)


def _modulator_and_g(
    log_p: Tensor, log_1mp: Tensor, gamma: Gamma, need_grad: bool
) -> tuple[Tensor | float, Tensor | float | None]:
    if equals(gamma, 0.0):
        return 1.0, (1.0 if need_grad else None)
    modulator = torch.exp(gamma * log_1mp)
    if not need_grad:
        return modulator, None
    return modulator, modulator * (1.0 + gamma * p_rho(log_p))


def fused_index(
    x: Tensor,
    index: Tensor,
    valid: Tensor | None,
    *,
    class_factor: Tensor | float | None,
    gamma: Gamma,
    dim: int,
    need_grad: bool,
    grad_scale: float | Tensor | None = None,
) -> tuple[Tensor, Tensor | None]:
    """Hard index targets: ``index`` has the class dim of size 1 (ignored entries set to 0).

    Only the target class carries a_c, so its quantities are gathered and no one-hot is
    built.
    """
    # log p_y = (x_y - x_M) + log p_M at the arg-max M: p_M >= 1/C, so its log is exact to
    # rounding, and x_y - x_M is the shift log_softmax makes too (x - logsumexp(x) would lose
    # ~1e-3 at |x| ~ 1e4 in float32). One softmax and two maxima cost less than
    # log_softmax and an exp of every entry.
    p = torch.softmax(x, dim=dim)
    top = x.amax(dim=dim, keepdim=True)
    log_p_y = (x.gather(dim, index) - top).add_(p.amax(dim=dim, keepdim=True).log_())
    # 1 - p_y: directly while p_y <= 1/2, else as the other classes' mass (no cancellation
    # as p_y -> 1). The target's entry of p is zeroed in place for that sum: the gradient
    # overwrites it below, so no copy of p is made.
    p_y = log_p_y.exp()
    others = p.scatter_(dim, index, 0.0).sum(dim=dim, keepdim=True)
    rest = torch.where(p_y <= 0.5, 1.0 - p_y, others)
    a_y: Tensor | float = 1.0
    if isinstance(class_factor, Tensor) and class_factor.dim() > 0:
        a_y = class_factor.reshape(-1)[index]
    elif class_factor is not None:
        a_y = class_factor
    if valid is not None:
        a_y = valid.to(x.dtype) * a_y
    if equals(gamma, 0.0):
        modulator: Tensor | float = 1.0
    elif equals(gamma, 2.0):
        modulator = rest * rest
    else:
        modulator = torch.log(rest).mul_(gamma).exp_()
    loss = (-weighted_log_p_value(a_y * modulator, x, log_p_y, dim, index)).squeeze(dim)
    if not need_grad:
        return loss, None
    # g_y = m_y (1 + gamma p_y rho_y), rho = l / expm1(l) (-> 1 where l rounds to 0).
    g_y: Tensor | float = 1.0
    if not equals(gamma, 0.0):
        g_y = modulator * (1.0 + gamma * p_rho(log_p_y))
    coefficient = a_y * g_y
    if grad_scale is not None:  # one value per location: cheaper here than on the gradient
        coefficient = coefficient * grad_scale
    grad = p.mul_(coefficient)
    # The target class: -a_y g_y (1 - p_y).
    grad.scatter_(dim, index, -(coefficient * rest).expand_as(log_p_y))
    return loss, grad


def fused_dense(
    x: Tensor,
    t: Tensor,
    *,
    class_factor: Tensor | float | None,
    gamma: Gamma,
    dim: int,
    need_grad: bool,
    grad_scale: float | Tensor | None = None,
) -> tuple[Tensor, Tensor | None]:
    """Dense targets (probabilities, or smoothed one-hot): every class may carry weight."""
    log_p = torch.log_softmax(x, dim=dim)
    log_1mp = log1m_softmax(x, log_p, dim) if not equals(gamma, 0.0) or need_grad else log_p
    modulator, g = _modulator_and_g(log_p, log_1mp, gamma, need_grad)
    a = t if class_factor is None else t * class_factor
    loss = -weighted_log_p_value(a * modulator, x, log_p, dim).sum(dim=dim)
    if not need_grad:
        return loss, None
    a_g = a * cast(Tensor | float, g)
    total = a_g.sum(dim=dim, keepdim=True)
    grad = torch.exp(log_p) * (total - a_g) - a_g * torch.exp(log_1mp)
    return loss, grad if grad_scale is None else grad.mul_(grad_scale)


def fused(
    x: Tensor,
    target: Tensor,
    valid: Tensor | None,
    *,
    class_factor: Tensor | float | None,
    gamma: Gamma,
    dim: int,
    need_grad: bool,
    grad_scale: float | Tensor | None = None,
) -> tuple[Tensor, Tensor | None]:
    """The fused kernel for either target form: an index target has a class dim of size 1.
    The gradient comes multiplied by ``grad_scale`` (1 / the reduction's divisor)."""
    if target.is_floating_point():  # only a dense target is a float (indices are integers)
        return fused_dense(
            x,
            target,
            class_factor=class_factor,
            gamma=gamma,
            dim=dim,
            need_grad=need_grad,
            grad_scale=grad_scale,
        )
    return fused_index(
        x,
        target,
        valid,
        class_factor=class_factor,
        gamma=gamma,
        dim=dim,
        need_grad=need_grad,
        grad_scale=grad_scale,
    )


@compiled.program
def softmax_focal_compiled(
    x: Tensor,
    target: Tensor,
    inverse: compiled.Inverse,
    need_grad: bool,
    operands: compiled.Operands,
) -> compiled.Result:
    """:func:`fused` and its reduction through torch.compile (backend="compiled")."""
    return compiled.per_location(fused, x, target, inverse, need_grad, operands)


def _softmax_gamma(
    gamma: v.GammaSpec,
    input: Tensor,
    target: Tensor,
    dim: int,
    dtype: torch.dtype,
) -> float | Tensor:
    """A float gamma as is; a schedule evaluated at each class probability p_c (or at p_y
    alone for an index target, the only class whose modulator counts)."""
    if isinstance(gamma, float):
        return gamma
    with torch.no_grad():
        p = torch.softmax(input.detach().to(dtype), dim=dim)
        if not target.is_floating_point():
            p = p.gather(dim, target)
        return v.gamma_schedule(gamma, p)


@falls_back_to_fused
def softmax_focal_loss(
    input: Tensor,
    target: Tensor,
    *,
    alpha: v.ClassValues | None = None,
    gamma: v.GammaSpec = 2.0,
    weight: Tensor | None = None,
    ignore_index: int = -100,
    label_smoothing: float = 0.0,
    class_dim: int = 1,
    reduction: str = "mean",
    backend: str = "auto",
) -> Tensor:
    r"""Softmax focal loss for multi-class, single-label classification.

    Per location, with :math:`p = \mathrm{softmax}(x)` over ``class_dim`` and target
    distribution :math:`t` (the one-hot of an index target, smoothed to
    :math:`t (1 - \epsilon) + \epsilon / C`, or the given probabilities),

    .. math::

        \ell = -\sum_c \alpha_c \, w_c \, t_c \, (1 - p_c)^\gamma \log p_c .

    This is the multi-class focal loss of Lin et al. (ICCV 2017,
    https://arxiv.org/abs/1708.02002, section 3 and its softmax variant). ``weight``,
    ``ignore_index``, ``label_smoothing`` and ``reduction`` follow
    :func:`torch.nn.functional.cross_entropy` exactly, so ``gamma=0`` with ``alpha=None`` is
    ``F.cross_entropy`` for every combination of those options. The one deliberate
    difference: when every target is ignored, ``"mean"`` returns 0 where torch returns NaN.

    Args:
        input: logits, ``(N, C)``, ``(N, C, d1, ...)`` or ``(C,)`` with C >= 1, float16 /
            bfloat16 / float32 / float64 (half types are computed in float32, sums and
            means too).
        target: integer class indices of the input's shape without ``class_dim``
            (values in ``[0, C)`` or ``ignore_index``), or class probabilities of the input's
            shape: float, each location summing to 1 within a tolerance of the target's
            dtype (1e-3 for float32 and float64, about 4 eps for float16 and bfloat16, so
            ``torch.softmax`` rows of those dtypes pass; see
            ``torchfocal.functional.probability_sum_tolerance``). A one-hot target of an
            integer or bool dtype is a TypeError: pass ``target.long().argmax(dim=class_dim)``
            (class indices) or ``target.float()`` (probabilities).
        alpha: ``None``, a float >= 0 for every class, or C per-class values >= 0.
        gamma: focusing parameter, >= 0; or ``"flsd53"`` or a callable, as in
            :func:`sigmoid_focal_loss`, evaluated at every class probability p_c (for index
            targets, at the target class's probability only).
        weight: C class weights (as ``F.cross_entropy``'s ``weight``).
        ignore_index: index targets equal to it are left out of the loss and of the mean.
        label_smoothing: eps in [0, 1).
        class_dim: the class dimension (``-1`` for ``(B, anchors, C)`` inputs).
        reduction: ``"none"`` (one value per location), ``"mean"`` (for index targets,
            divided by the summed ``weight`` of the counted targets; for probability targets,
            by the number of locations) or ``"sum"``.
        backend: ``"auto"``, ``"triton"``, ``"fused"``, ``"naive"`` or ``"compiled"``, as
            in :func:`sigmoid_focal_loss`. The Triton kernel runs an online softmax over
            the classes in blocks, so any number of classes works without holding a row at
            once.

    Example:
        >>> import torch, torchfocal
        >>> logits = torch.tensor([[2.0, 0.5, -1.0], [0.0, 0.0, 3.0]])
        >>> target = torch.tensor([0, 1])
        >>> torchfocal.softmax_focal_loss(logits, target, gamma=2.0, reduction="none")
        tensor([0.0111, 2.8210])
    """
    input, target = v.check_pair(input, target)
    ignore_index = v.check_ignore_index(ignore_index)
    gamma = v.check_gamma_spec(gamma)
    label_smoothing = v.check_label_smoothing(label_smoothing)
    reduction = v.check_reduction(reduction, v.REDUCTIONS)
    backend = v.resolve_backend(backend, input)
    return _softmax_focal(
        input,
        target,
        alpha=alpha,
        gamma=gamma,
        weight=weight,
        ignore_index=ignore_index,
        label_smoothing=label_smoothing,
        class_dim=class_dim,
        reduction=reduction,
        backend=backend,
        adjustment=None,
    )


class LogitAdjustment(NamedTuple):
    """A softmax-form loss's logits as the cross-entropy (or softmax focal loss) sees them:
    z = f(x), which the Triton kernel computes as it reads x
    (:data:`torchfocal._triton.softmax_math.ADJUSTMENTS`)."""

    #: The kernel's adjustment (a key of ADJUSTMENTS).
    name: str
    #: Its C per-class values (None where it takes none).
    values: Tensor | None
    #: Its numbers, by name.
    params: Mapping[str, float]
    #: f in torch under autograd (the logits in the compute dtype to the adjusted ones):
    #: every other backend, and the Triton path's naive fallback, run on f(x).
    apply: Callable[[Tensor], Tensor]


def adjusted_softmax_focal_loss(
    input: Tensor,
    target: Tensor,
    *,
    adjustment: LogitAdjustment,
    weight: Tensor | None,
    ignore_index: int,
    label_smoothing: float,
    class_dim: int,
    reduction: str,
    backend: str,
) -> Tensor:
    """The cross-entropy (gamma 0) of adjusted logits ``adjustment.apply(input)``, in the
    compute dtype: on backend="triton" the kernel adjusts the logits as it reads them (no
    adjusted copy of the input is made); every other backend runs
    :func:`softmax_focal_loss` on the adjusted logits."""
    input, target = v.check_pair(input, target)
    resolved = v.resolve_backend(backend, input)
    if resolved != "triton":
        return softmax_focal_loss(
            adjustment.apply(input.to(v.compute_dtype(input))),
            target,
            gamma=0.0,
            weight=weight,
            ignore_index=ignore_index,
            label_smoothing=label_smoothing,
            class_dim=class_dim,
            reduction=reduction,
            backend=backend,
        )
    return _softmax_focal(
        input,
        target,
        alpha=None,
        gamma=0.0,
        weight=weight,
        ignore_index=v.check_ignore_index(ignore_index),
        label_smoothing=v.check_label_smoothing(label_smoothing),
        class_dim=class_dim,
        reduction=v.check_reduction(reduction, v.REDUCTIONS),
        backend=resolved,
        adjustment=adjustment,
    )


def _softmax_focal(
    input: Tensor,
    target: Tensor,
    *,
    alpha: v.ClassValues | None,
    gamma: v.GammaSpec,
    weight: Tensor | None,
    ignore_index: int,
    label_smoothing: float,
    class_dim: int,
    reduction: str,
    backend: str,
    adjustment: LogitAdjustment | None,
) -> Tensor:
    """:func:`softmax_focal_loss` of checked arguments and a resolved backend; on Triton,
    of the logits as ``adjustment`` makes them (None: as they are)."""
    triton = backend == "triton"

    def prepare(smoothing: float) -> targets.PerLocationBatch:
        return targets.prepare_per_location(
            input,
            target,
            alpha=alpha,
            weight=weight,
            ignore_index=ignore_index,
            label_smoothing=smoothing,
            class_dim=class_dim,
        )

    # The Triton kernel smooths the target itself: its batch keeps the target as given.
    batch = prepare(0.0 if triton else label_smoothing)
    divisor = reducing.divisor(reduction, count=batch.counted)
    if not triton:
        return engine.run(
            per_location_request(
                input,
                backend=backend,
                target=batch.target,
                dense_target=batch.dense_target,
                valid=batch.valid,
                class_factor=batch.class_factor,
                gamma=_softmax_gamma(gamma, input, batch.target, batch.dim, batch.compute_dtype),
                dim=batch.dim,
                divisor=divisor,
                compute_dtype=batch.compute_dtype,
            )
        )
    eager = batch if label_smoothing == 0 else None

    def smoothed() -> targets.PerLocationBatch:
        return eager if eager is not None else prepare(label_smoothing)

    def naive(x: Tensor) -> Tensor:
        ready = smoothed()
        return naive_per_location(
            x if adjustment is None else adjustment.apply(x),
            ready.dense_target(),
            class_factor=ready.class_factor,
            gamma=_softmax_gamma(gamma, input, ready.target, ready.dim, ready.compute_dtype),
            dim=ready.dim,
        )

    dense = target.shape == input.shape
    kernel_gamma: float | Tensor = (
        gamma
        if isinstance(gamma, float)
        # A schedule of p_y (index targets), or of every p_c where every class counts.
        else (_softmax_gamma(gamma, input, smoothed().target, batch.dim, batch.compute_dtype))
    )
    return engine.run(
        engine.PerLocation(
            input,
            backend,
            naive,
            divisor,
            batch.dim,
            batch.compute_dtype,
            triton=engine.TritonPerLocation(
                indices=None if dense else target,
                probabilities=target if dense else None,
                ignore_index=ignore_index,
                label_smoothing=label_smoothing,
                gamma=kernel_gamma,
                class_factor=batch.class_factor,
                adjust="" if adjustment is None else adjustment.name,
                adjust_values=None if adjustment is None else adjustment.values,
                adjust_params=None if adjustment is None else adjustment.params,
            ),
        )
    )


def per_location_request(
    input: Tensor,
    *,
    backend: str,
    target: Tensor,
    dense_target: Callable[[], Tensor],
    valid: Tensor | None,
    class_factor: Tensor | float | None,
    gamma: Gamma,
    dim: int,
    divisor: reducing.Divisor,
    compute_dtype: torch.dtype,
) -> engine.PerLocation:
    """The engine's request for the softmax focal loss of prepared operands on a backend
    other than "triton" (also the cross-entropy of the losses built on it, at gamma 0).

    ``target`` is what the fused kernel takes (class indices, or a dense float target);
    ``dense_target`` makes the dense one the naive form takes.
    """
    return engine.PerLocation(
        input,
        backend,
        lambda x: naive_per_location(
            x, dense_target(), class_factor=class_factor, gamma=gamma, dim=dim
        ),
        divisor,
        dim,
        compute_dtype,
        fused=fused,
        compiled=softmax_focal_compiled,
        target=target,
        operands={"valid": valid, "class_factor": class_factor, "gamma": gamma},
    )


class SoftmaxFocalLoss(LossModule):
    """Module form of :func:`torchfocal.softmax_focal_loss`; see it for every argument.

    Per-class ``alpha`` and ``weight`` are buffers (they follow ``.to()`` and the state_dict).

    Example:
        >>> import torch, torchfocal
        >>> criterion = torchfocal.SoftmaxFocalLoss(gamma=2.0, weight=torch.tensor([1.0, 2.0]))
        >>> criterion(torch.tensor([[1.0, -1.0], [0.5, 0.5]]), torch.tensor([0, 1]))
        tensor(0.1161)
    """

    _function = staticmethod(softmax_focal_loss)
    _checks = checking(gamma=v.check_gamma_spec, label_smoothing=v.check_label_smoothing)
    _alpha_high = float("inf")
    _repr_names = ("alpha", "gamma")
    alpha: Tensor | None
    weight: Tensor | None

    def __init__(
        self,
        *,
        alpha: float | Sequence[float] | Tensor | None = None,
        gamma: v.GammaSpec = 2.0,
        weight: Tensor | Sequence[float] | None = None,
        ignore_index: int = -100,
        label_smoothing: float = 0.0,
        class_dim: int = 1,
        reduction: str = "mean",
        backend: str = "auto",
    ) -> None:
        super().__init__(**init_options(locals()))


LOSSES = (
    LossInfo(
        function=softmax_focal_loss,
        module="SoftmaxFocalLoss",
        form="per_location",
        samples=(
            Sample(
                "index",
                forms=SOFTMAX_FORMS,
                grad_arguments={"weight": "class", "alpha": "class"},
            ),
        ),
        docs="math.md#softmax-focal-loss",
        section=("focal", 20),
        focusing=("gamma",),
        kernel="softmax_focal",
        label="softmax",
        gradient_variants=(
            {"gamma": 0.0},
            {"gamma": 0.3},
            {"gamma": 1.0},
            {"gamma": 2.5},
            {"gamma": 0.5, "label_smoothing": 0.2},
        ),
    ),
)
