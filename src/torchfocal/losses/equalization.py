"""Equalization loss v2 (Tan et al. 2021): binary cross-entropy whose positive and negative
terms are re-weighted per class from the gradients each class has received, on the
sigmoid focal loss's path at gamma 0.

With the accumulated gradient magnitudes of a class's positives and negatives, ``pos_grad``
and ``neg_grad``, r = pos_grad / (neg_grad + 1e-10) and

    f(r)  = sigmoid(gamma (r - mu))                     (the negative weight)
    w_pos = 1 + alpha (1 - f(r)) = 1 + alpha sigmoid(-gamma (r - mu))

a class whose positives have so far received little gradient against its negatives
(r << mu, a rare class) gets its negative terms suppressed and its positive ones boosted.
A class with no statistics yet (both sums 0) has both weights 1. The weights are built
from the statistics only, so they are constants of the gradient (docs/math.md,
"Equalization loss v2").
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from .._engine import checks as v
from .._engine import engine, targets
from .._engine import reduction as reducing
from .._engine.triton_fallback import falls_back_to_fused
from ._module import StatefulLossModule, init_options
from ._registry import LossInfo, Sample
from .sigmoid_focal import SIGMOID_FOCAL, sigmoid_focal_loss

#: The guard of the ratio's denominator, as in the authors' code: a class whose negatives
#: have received no gradient has ratio pos_grad * 1e10 (negative weight 1).
RATIO_GUARD = 1e-10


def check_equalization_options(
    gamma: object, mu: object, alpha: object
) -> tuple[float, float, float]:
    """gamma, mu and alpha: finite numbers >= 0."""
    return (
        v.check_scalar_in("gamma", gamma, 0.0, math.inf),
        v.check_scalar_in("mu", mu, 0.0, math.inf),
        v.check_scalar_in("alpha", alpha, 0.0, math.inf),
    )


def _one_hot(input: Tensor, target: Tensor) -> Tensor:
    """The bool (N, C) one-hot of class indices in [0, C] (C = background: a row of
    negatives), after checking both."""
    _check_index(input, target)
    classes = torch.arange(input.shape[1], device=input.device)
    return target.unsqueeze(1) == classes


def _check_index(input: Tensor, target: Tensor) -> None:
    """(N, C) logits and (N,) class indices in [0, C] (C = background)."""
    if input.dim() != 2:
        raise ValueError(f"input must be (N, C) logits; got shape {v.shape_str(input.shape)}")
    num_rows, num_classes = input.shape
    if num_classes == 0:
        raise ValueError("input must have at least one class (C >= 1); got shape (N, 0)")
    if target.shape != (num_rows,):
        raise ValueError(
            f"target must be class indices of shape ({num_rows},); "
            f"got shape {v.shape_str(target.shape)}"
        )
    if not v.is_integer_dtype(target.dtype):
        raise TypeError(f"target must be an integer tensor of class indices; got {target.dtype}")
    in_range = (target >= 0) & (target <= num_classes)
    v.require(
        in_range,
        f"target class indices must be in [0, {num_classes}] ({num_classes} = background); "
        "got {bad}",
        lambda: str(target[~in_range][0].item()),
    )


def equalization_weights(
    pos_grad: Tensor, neg_grad: Tensor, *, gamma: float, mu: float, alpha: float
) -> tuple[Tensor, Tensor]:
    """(positive weight, negative weight) per class from the gradient statistics, in their
    dtype (detached: the weights are constants of the gradient).

    1 - f(r) is taken as sigmoid(-gamma (r - mu)), accurate where f(r) is near 1.
    """
    pos_grad, neg_grad = pos_grad.detach(), neg_grad.detach()
    ratio = pos_grad / (neg_grad + RATIO_GUARD)
    # A huge pos_grad with neg_grad 0 makes the ratio inf; gamma 0 would then give 0 * inf.
    scaled = (ratio - mu) * gamma if gamma else torch.zeros_like(ratio)
    collected = (pos_grad != 0) | (neg_grad != 0)
    negative = torch.where(collected, torch.sigmoid(scaled), 1.0)
    positive = torch.where(collected, torch.sigmoid(-scaled), 0.0).mul_(alpha).add_(1.0)
    return positive, negative


def _statistic(name: str, value: Tensor | Sequence[float], input: Tensor) -> Tensor:
    """C gradient statistics: finite, >= 0, in the accumulation dtype (float64 on the CPU),
    shaped (1, C)."""
    values = v.class_values(
        name,
        value,
        num_classes=input.shape[1],
        class_dim=1,
        input=input,
        dtype=reducing.accumulation_dtype(input.device),
        low=0.0,
        high=math.inf,
    )
    finite = torch.isfinite(values)
    v.require(finite, f"{name} must be finite; got {{bad}}", lambda: v.first(values, finite))
    return values


def _prepared(
    input: Tensor,
    target: Tensor,
    pos_grad: Tensor | Sequence[float],
    neg_grad: Tensor | Sequence[float],
    gamma: float,
    mu: float,
    alpha: float,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """(input, one-hot, positive weights, negative weights), checked; weights (1, C)."""
    input, target = v.check_pair(input, target)
    gamma, mu, alpha = check_equalization_options(gamma, mu, alpha)
    one_hot = _one_hot(input, target)
    positive, negative = equalization_weights(
        _statistic("pos_grad", pos_grad, input),
        _statistic("neg_grad", neg_grad, input),
        gamma=gamma,
        mu=mu,
        alpha=alpha,
    )
    return input, one_hot, positive, negative


def equalization_statistics(
    input: Tensor,
    target: Tensor,
    *,
    pos_grad: Tensor | Sequence[float],
    neg_grad: Tensor | Sequence[float],
    gamma: float = 12.0,
    mu: float = 0.8,
    alpha: float = 4.0,
) -> tuple[Tensor, Tensor]:
    r"""The batch's gradient statistics: C sums over the rows of
    :math:`|\sigma(x) - y| \, y \, w` (positives) and of :math:`|\sigma(x) - y| (1 - y) w`
    (negatives), with :math:`w` the weights :func:`equalization_loss_v2` uses for the same
    arguments; detached, in float64 (float32 where the device has no float64).

    :math:`|\sigma(x) - y|` is the magnitude of the BCE gradient, taken as
    :math:`\sigma(-x)` for a positive and :math:`\sigma(x)` for a negative.

    Example:
        >>> import torch
        >>> from torchfocal.losses.equalization import equalization_statistics
        >>> zeros = torch.zeros(2)
        >>> logits, target = torch.tensor([[0.0, 2.0], [1.0, -1.0]]), torch.tensor([0, 2])
        >>> pos, neg = equalization_statistics(logits, target, pos_grad=zeros, neg_grad=zeros)
        >>> pos
        tensor([0.5000, 0.0000], dtype=torch.float64)
        >>> neg
        tensor([0.7311, 1.1497], dtype=torch.float64)
    """
    input, one_hot, positive, negative = _prepared(
        input, target, pos_grad, neg_grad, gamma, mu, alpha
    )
    x = input.detach().to(positive.dtype)
    magnitude = torch.sigmoid(torch.where(one_hot, -x, x))
    pos = torch.where(one_hot, magnitude * positive, 0.0).sum(dim=0)
    neg = torch.where(one_hot, 0.0, magnitude * negative).sum(dim=0)
    return pos, neg


@falls_back_to_fused
def equalization_loss_v2(
    input: Tensor,
    target: Tensor,
    *,
    pos_grad: Tensor | Sequence[float],
    neg_grad: Tensor | Sequence[float],
    gamma: float = 12.0,
    mu: float = 0.8,
    alpha: float = 4.0,
    reduction: str = "mean",
    backend: str = "auto",
) -> Tensor:
    r"""Equalization loss v2 (Tan et al., CVPR 2021) for long-tailed detection and
    classification, given the gradient statistics.

    Over ``(N, C)`` logits :math:`x` with class-index targets (``C`` = background, a row
    of negatives) and one-hot :math:`y`, per class :math:`c` with the accumulated gradient
    magnitudes of its positives and negatives (``pos_grad``, ``neg_grad``),

    .. math::

        r_c = \frac{\text{pos\_grad}_c}{\text{neg\_grad}_c + 10^{-10}}, \quad
        f(r) = \frac{1}{1 + e^{-\gamma (r - \mu)}}, \quad
        w^-_c = f(r_c), \quad w^+_c = 1 + \alpha (1 - f(r_c)),

        \ell_{nc} = \big(y_{nc} w^+_c + (1 - y_{nc}) w^-_c\big)\,
                    \mathrm{BCE}(x_{nc}, y_{nc}),

    and ``"mean"`` is :math:`\sum_{n,c} \ell_{nc} / N` (per row, as the authors' code). A
    class with both statistics 0 has not been seen yet: both its weights are 1 (the
    authors start from weights 1 too). The weights are constants of the gradient:
    :math:`\partial\ell_{nc}/\partial x_{nc} = w_{nc} (\sigma(x_{nc}) - y_{nc})`.
    *Equalization Loss v2: A New Gradient Balance Approach for Long-tailed Object
    Detection*, https://arxiv.org/abs/2012.08548. :class:`torchfocal.EqualizationLossV2`
    collects the statistics over the training batches
    (``torchfocal.losses.equalization.equalization_statistics``).

    Args:
        input: logits ``(N, C)``, float16 / bfloat16 / float32 / float64.
        target: ``(N,)`` integer class indices in ``[0, C]`` (``C`` = background).
        pos_grad: C accumulated positive gradient magnitudes, finite and >= 0 (a tensor on
            the input's device, or a sequence).
        neg_grad: C accumulated negative gradient magnitudes, likewise.
        gamma: the steepness of f, >= 0.
        mu: the ratio at which f is 1/2, >= 0.
        alpha: how much a positive weight grows as f falls, >= 0.
        reduction: ``"none"`` (the ``(N, C)`` weighted terms), ``"mean"`` (their sum / N)
            or ``"sum"``.
        backend: ``"auto"``, ``"triton"``, ``"fused"``, ``"naive"`` or ``"compiled"``: the
            backend of the weighted BCE (:func:`sigmoid_focal_loss` at gamma 0).

    Example:
        >>> import torch, torchfocal
        >>> logits = torch.tensor([[2.0, -1.0, 0.5], [-1.0, -2.0, -3.0]])
        >>> target = torch.tensor([0, 3])                    # 3 = background
        >>> pos_grad = torch.tensor([50.0, 0.5, 0.0])
        >>> neg_grad = torch.tensor([60.0, 40.0, 0.0])       # class 2: no statistics yet
        >>> torchfocal.equalization_loss_v2(
        ...     logits, target, pos_grad=pos_grad, neg_grad=neg_grad, reduction="none")
        tensor([[3.3068e-01, 2.4648e-05, 9.7408e-01],
                [1.8755e-01, 9.9871e-06, 4.8587e-02]])
    """
    reduction = v.check_reduction(reduction, v.REDUCTIONS)
    # "mean" is per row: the sum / N, divided inside the loss (in float64), 0 for N = 0.
    avg_factor = float(max(input.shape[0], 1)) if reduction == "mean" else None
    if isinstance(input, Tensor) and v.resolve_backend(backend, input) == "triton":
        return _triton(input, target, pos_grad, neg_grad, gamma, mu, alpha, reduction, avg_factor)
    input, one_hot, positive, negative = _prepared(
        input, target, pos_grad, neg_grad, gamma, mu, alpha
    )
    weight = torch.where(one_hot, positive, negative).to(v.compute_dtype(input))
    return sigmoid_focal_loss(
        input,
        one_hot,
        alpha=None,
        gamma=0.0,
        weight=weight,
        reduction=reduction,
        avg_factor=avg_factor,
        backend=backend,
    )


def _triton(
    input: Tensor,
    target: Tensor,
    pos_grad: Tensor | Sequence[float],
    neg_grad: Tensor | Sequence[float],
    gamma: float,
    mu: float,
    alpha: float,
    reduction: str,
    avg_factor: float | None,
) -> Tensor:
    """The weighted BCE on the elementwise kernel: the class-index target as it is (C is
    the background, a row of negatives) and the C positive and C negative weights, which
    the kernel picks by the target (no one-hot and no weight of the input's size)."""
    input, target = v.check_pair(input, target)
    gamma, mu, alpha = check_equalization_options(gamma, mu, alpha)
    # The values too: the engine's own class-index check below would take -100
    # (ignore_index) as an ignored target, where this loss has no ignore_index.
    _check_index(input, target)
    positive, negative = equalization_weights(
        _statistic("pos_grad", pos_grad, input),
        _statistic("neg_grad", neg_grad, input),
        gamma=gamma,
        mu=mu,
        alpha=alpha,
    )
    compute_dtype = v.compute_dtype(input)
    request = targets.check_elementwise(
        input,
        target,
        weight=None,
        ignore_index=-100,  # never a target here (they are checked to be in [0, C])
        class_dim=1,
        reduction=reduction,
        avg_factor=avg_factor,
        range_in_kernel=True,
    )

    return engine.run(
        engine.Elementwise(
            request,
            "triton",
            SIGMOID_FOCAL,
            {"alpha": None, "gamma": 0.0, "pos_weight": None},
            triton=engine.TritonKernel(
                loss="sigmoid_focal",
                gamma=0.0,
                class_weights=(negative.to(compute_dtype), positive.to(compute_dtype)),
            ),
        )
    )


class EqualizationLossV2(StatefulLossModule):
    """Equalization loss v2 with the gradient statistics of the batches trained on; the
    module form of :func:`torchfocal.equalization_loss_v2` (see it for the loss and the
    options). Its input is ``(N, num_classes)`` logits, its target ``(N,)`` class indices
    with ``num_classes`` for background.

    The statistics are the float64 buffers ``pos_grad`` and ``neg_grad`` (C values each,
    saved in the state_dict; they stay float64 under ``.to(dtype)``). Every weight is 1
    until a class has statistics. In training mode, after the batch's loss is computed with
    the statistics so far, the batch's own are added
    (``torchfocal.losses.equalization.equalization_statistics``: the BCE gradient
    magnitudes of the positives and of the negatives, times the weights the loss used,
    summed over the rows); with ``distributed=True`` they are summed over the default process
    group first, so every rank holds the statistics of the whole global batch. Eval mode
    collects nothing.

    Example:
        >>> import torch, torchfocal
        >>> criterion = torchfocal.EqualizationLossV2(2)
        >>> logits, target = torch.tensor([[0.0, 2.0], [1.0, -1.0]]), torch.tensor([0, 2])
        >>> criterion(logits, target)             # no statistics yet: BCE summed / rows
        tensor(2.2233)
        >>> criterion.pos_grad
        tensor([0.5000, 0.0000], dtype=torch.float64)
        >>> criterion.neg_grad
        tensor([0.7311, 1.1497], dtype=torch.float64)
        >>> criterion(logits, target)             # class 1, no positive so far: weights 5, 7e-5
        tensor(1.5878)
    """

    _function = staticmethod(equalization_loss_v2)
    _repr_names = ("num_classes", "gamma", "mu", "alpha")
    _statistics = _uncast = ("pos_grad", "neg_grad")
    _count_first = False
    pos_grad: Tensor
    neg_grad: Tensor
    gamma: float
    mu: float
    alpha: float

    def __init__(
        self,
        num_classes: int,
        *,
        gamma: float = 12.0,
        mu: float = 0.8,
        alpha: float = 4.0,
        reduction: str = "mean",
        backend: str = "auto",
        distributed: bool = False,
    ) -> None:
        gamma, mu, alpha = check_equalization_options(gamma, mu, alpha)
        super().__init__(**init_options(locals()))
        self.register_buffer("pos_grad", torch.zeros(self.num_classes, dtype=torch.float64))
        self.register_buffer("neg_grad", torch.zeros(self.num_classes, dtype=torch.float64))

    def _statistics_of(self, input: Tensor, target: Tensor) -> tuple[Tensor, ...]:
        return equalization_statistics(
            input,
            target,
            pos_grad=self.pos_grad,
            neg_grad=self.neg_grad,
            gamma=self.gamma,
            mu=self.mu,
            alpha=self.alpha,
        )


LOSSES = (
    LossInfo(
        function=equalization_loss_v2,
        module="EqualizationLossV2",
        form="elementwise",
        samples=(
            Sample(
                "index",
                # A fresh module has no statistics: every weight 1, as with statistics all 0.
                options={"pos_grad": torch.zeros(3), "neg_grad": torch.zeros(3)},
                module_options={"num_classes": 3},
            ),
        ),
        docs="math.md#equalization-loss-v2-tan-et-al-2021",
        section=("long-tail-state", 20),
        kernel="sigmoid_focal",
        label="eqlv2",
        state=("pos_grad", "neg_grad"),
    ),
)
