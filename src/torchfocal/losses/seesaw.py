"""Seesaw loss (Wang et al. 2021): cross-entropy of logits shifted by the log of the seesaw
factors, on the softmax focal loss's path at gamma 0.

For a sample of class i, every other class j's logit is shifted by log S_ij, with

    log M_ij = p * min(log N_j - log N_i, 0)                       (mitigation)
    log C_ij = q * max(log s_j - max(log s_i, log eps), 0)         (compensation)
    log S_ij = log M_ij + log C_ij

N the class counts clamped at 1 and log s the log-softmax of the detached logits. Both
terms are 0 at j = i (min(0, 0) and log s_i <= max(log s_i, log eps)), so the target's own
logit is never shifted and no mask is needed. The shift is built from counts and detached
values only: a constant of the gradient, so the loss is the plain cross-entropy of the
shifted logits and every backend of :func:`softmax_focal_loss` runs it (docs/math.md,
"Seesaw loss").
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from .._engine import checks as v
from .._engine import reduction as reducing
from .._engine import targets
from .._engine.triton_fallback import falls_back_to_fused
from ._module import StatefulLossModule, checking, init_options
from ._registry import LossInfo, Sample
from .softmax_focal import LogitAdjustment, adjusted_softmax_focal_loss


def _index_target(
    input: Tensor, target: Tensor, *, ignore_index: int, class_dim: int
) -> tuple[int, Tensor, Tensor | None]:
    """(dim, index, valid) of a class-index target: ``index`` with the class dimension of
    size 1 and ignored entries set to 0, ``valid`` the mask of counted ones (None: all)."""
    dim, num_classes = targets.index_target_classes(input, target, class_dim)
    index = target.unsqueeze(dim).long()
    ignored = targets.ignored_indices(index, largest=num_classes - 1, ignore_index=ignore_index)
    if ignored is None:
        return dim, index, None
    return dim, index.masked_fill(ignored, 0), ~ignored


def batch_class_counts(
    input: Tensor, target: Tensor, *, ignore_index: int = -100, class_dim: int = 1
) -> Tensor:
    """How many targets of each class a batch holds (``ignore_index`` left out), checked as
    :func:`seesaw_loss` checks them: C int64 counts on the input's device.

    One ``scatter_add`` over the indices: no host synchronisation (no boolean indexing, no
    ``bincount`` of a data-dependent length).

    Example:
        >>> import torch
        >>> from torchfocal.losses.seesaw import batch_class_counts
        >>> batch_class_counts(torch.zeros(5, 3), torch.tensor([0, 2, 2, -100, 2]))
        tensor([1, 0, 3])
    """
    input, target = v.check_pair(input, target)
    ignore_index = v.check_ignore_index(ignore_index)
    dim, index, valid = _index_target(input, target, ignore_index=ignore_index, class_dim=class_dim)
    counted = torch.ones_like(index) if valid is None else valid.long()
    counts = torch.zeros(input.shape[dim], dtype=torch.int64, device=input.device)
    return counts.scatter_add_(0, index.reshape(-1), counted.reshape(-1))


def check_seesaw_options(p: object, q: object, eps: object) -> tuple[float, float, float]:
    """p, q >= 0 and eps in (0, 1]."""
    p = v.check_scalar_in("p", p, 0.0, math.inf)
    q = v.check_scalar_in("q", q, 0.0, math.inf)
    if isinstance(eps, bool) or not isinstance(eps, (int, float)):
        raise TypeError(f"eps must be a float; got {type(eps).__name__}")
    # s_i is clamped at eps: at 0 a target probability of 0 would make log C infinite.
    if not 0.0 < eps <= 1.0:
        raise ValueError(f"eps must be in (0, 1]; got {eps!r}")
    return p, q, float(eps)


def seesaw_log_factors(
    x: Tensor,
    index: Tensor,
    log_counts: Tensor,
    *,
    p: float,
    q: float,
    eps: float,
    dim: int,
) -> Tensor | None:
    """log S of every location and class (the input's shape), or None where p = q = 0.

    ``x`` is the detached input in the compute dtype, ``index`` the target with the class
    dimension of size 1, ``log_counts`` log(max(N, 1)) lined up with the class dimension.
    Each factor is taken in log space: ``(N_j / N_i) ** p`` would underflow for rare
    classes against frequent ones before its log is taken.
    """
    shift: Tensor | None = None
    if p > 0:
        log_n_target = log_counts.reshape(-1)[index]
        shift = (log_counts - log_n_target).clamp_(max=0.0).mul_(p).to(x.dtype)
    if q > 0:
        log_s = torch.log_softmax(x, dim=dim)
        # max(s_i, eps) in logs; -inf log-probabilities (far logits) give a compensation of 0.
        log_s_target = log_s.gather(dim, index).clamp_(min=math.log(eps))
        compensation = (log_s - log_s_target).clamp_(min=0.0).mul_(q)
        # Out of place: under vmap one of the two may be batched where the other is not.
        shift = compensation if shift is None else shift + compensation
    return shift


@falls_back_to_fused
def seesaw_loss(
    input: Tensor,
    target: Tensor,
    *,
    class_counts: Tensor | Sequence[float],
    p: float = 0.8,
    q: float = 2.0,
    eps: float = 1e-2,
    ignore_index: int = -100,
    class_dim: int = 1,
    reduction: str = "mean",
    backend: str = "auto",
) -> Tensor:
    r"""Seesaw loss (Wang et al., CVPR 2021) for long-tailed multi-class classification.

    For a sample of class :math:`i` with logits :math:`x` over ``class_dim`` (C classes),
    class counts :math:`N` (clamped at 1) and :math:`s = \mathrm{softmax}(x)` (detached),
    every other class's logit is shifted by the log of the seesaw factor
    :math:`S_{ij} = M_{ij} C_{ij}`,

    .. math::

        M_{ij} = \begin{cases} (N_j / N_i)^p & N_j < N_i \\ 1 & \text{else} \end{cases},
        \qquad
        C_{ij} = \begin{cases} (s_j / \max(s_i, \epsilon))^q & s_j > \max(s_i, \epsilon)
        \\ 1 & \text{else} \end{cases},

        \ell = -\log \frac{e^{x_i}}{e^{x_i} + \sum_{j \ne i} S_{ij} e^{x_j}}
             = \mathrm{CE}(x + \log S_{i\cdot}, i).

    The mitigation factor :math:`M` shrinks the penalty a frequent class's sample puts on
    the logits of rarer classes; the compensation factor :math:`C` raises it again for any
    class that scores above the target. *Seesaw Loss for Long-Tailed Instance
    Segmentation*, https://arxiv.org/abs/2008.10032: the classification form of the
    authors' reference (mmdet's ``SeesawLoss`` without its objectness branch; see
    docs/migration.md). The factors are taken in log space
    (:math:`\log M_{ij} = p \min(\log N_j - \log N_i, 0)`,
    :math:`\log C_{ij} = q \max(\log s_j - \max(\log s_i, \log\epsilon), 0)`) and are
    constants of the gradient: :math:`\partial\ell/\partial x = \mathrm{softmax}(x + \log
    S_{i\cdot}) - \mathrm{onehot}(i)`. ``p = q = 0`` is ``F.cross_entropy``.
    :class:`torchfocal.SeesawLoss` keeps the counts of the batches it has trained on.

    Args:
        input: logits ``(N, C)``, ``(N, C, d1, ...)`` or ``(C,)``, float16 / bfloat16 /
            float32 / float64 (half types are shifted and computed in float32).
        target: integer class indices of the input's shape without ``class_dim``, in
            ``[0, C)`` or ``ignore_index``.
        class_counts: C counts >= 0 (a tensor, integer or float, on the input's device, or
            a sequence); a count below 1 counts as 1.
        p: the mitigation exponent, >= 0.
        q: the compensation exponent, >= 0.
        eps: the floor of the target's probability in the compensation, in (0, 1].
        ignore_index: targets equal to it are left out of the loss and of the mean.
        class_dim: the class dimension.
        reduction: ``"none"`` (one value per location, 0 where ignored), ``"mean"`` (over
            the counted targets) or ``"sum"``.
        backend: ``"auto"``, ``"triton"``, ``"fused"``, ``"naive"`` or ``"compiled"``: the
            backend of the cross-entropy of the shifted logits (:func:`softmax_focal_loss`
            at gamma 0).

    Example:
        >>> import torch, torchfocal
        >>> logits = torch.tensor([[2.0, 1.0, 0.5], [0.0, 1.5, 0.2]])
        >>> target = torch.tensor([0, 0])
        >>> counts = torch.tensor([1000, 10, 100])
        >>> torchfocal.seesaw_loss(logits, target, class_counts=counts, reduction="none")
        tensor([0.0436, 1.2669])
        >>> torch.nn.functional.cross_entropy(logits, target, reduction="none")
        tensor([0.4644, 1.9026])
    """
    input, target = v.check_pair(input, target)
    ignore_index = v.check_ignore_index(ignore_index)
    p, q, eps = check_seesaw_options(p, q, eps)
    reduction = v.check_reduction(reduction, v.REDUCTIONS)
    v.check_backend(backend)
    dim, _ = targets.index_target_classes(input, target, class_dim)
    counts = v.class_values(
        "class_counts",
        class_counts,
        num_classes=input.shape[dim],
        class_dim=dim,
        input=input,
        dtype=reducing.accumulation_dtype(input.device),
        low=0.0,
        high=math.inf,
    )
    finite = torch.isfinite(counts)
    v.require(finite, "class_counts must be finite; got {bad}", lambda: v.first(counts, finite))
    log_counts = counts.clamp(min=1.0).log_()

    def shifted(x: Tensor) -> Tensor:
        """x + log S (log S from the detached logits), in torch (every backend but Triton's
        kernel)."""
        _, index, _ = _index_target(input, target, ignore_index=ignore_index, class_dim=dim)
        shift = seesaw_log_factors(x.detach(), index, log_counts, p=p, q=q, eps=eps, dim=dim)
        return x if shift is None else x + shift

    # The Triton kernel adds log S as it reads each row: the mitigation from log N per class
    # and at the target, the compensation from the raw row's logsumexp (a first look at the
    # row) and the target's logit; log S is a constant of the gradient there too.
    return adjusted_softmax_focal_loss(
        input,
        target,
        adjustment=LogitAdjustment(
            "seesaw", log_counts.reshape(-1), {"p": p, "q": q, "log_eps": math.log(eps)}, shifted
        ),
        weight=None,
        ignore_index=ignore_index,
        label_smoothing=0.0,
        class_dim=dim,
        reduction=reduction,
        backend=backend,
    ).to(input.dtype)


class SeesawLoss(StatefulLossModule):
    """Seesaw loss with the class counts of the batches trained on; the module form of
    :func:`torchfocal.seesaw_loss` (see it for the loss and the options).

    The cumulative class counts are the int64 buffer ``class_counts`` (integers: exact to
    2**63, and never cast by ``.to(dtype)``; saved in the state_dict). In training mode each
    batch's targets (``ignore_index`` left out) are added to it before the batch's loss is
    computed, as in the authors' code, so a class's first samples already count; with
    ``distributed=True`` the batch counts are summed over the default process group first,
    so every rank holds the counts of the whole global batch. Eval mode counts nothing.

    Example:
        >>> import torch, torchfocal
        >>> criterion = torchfocal.SeesawLoss(3)
        >>> logits = torch.tensor([[2.0, 1.0, 0.5], [0.0, 1.5, 0.2], [0.3, 0.1, 2.0]])
        >>> criterion(logits, torch.tensor([0, 0, 2]))
        tensor(1.5211)
        >>> criterion.class_counts
        tensor([2, 0, 1])
    """

    _function = staticmethod(seesaw_loss)
    _checks = checking(**StatefulLossModule._checks, ignore_index=v.check_ignore_index)
    _repr_names = ("num_classes", "p", "q", "eps")
    _statistics = _uncast = ("class_counts",)
    class_counts: Tensor
    ignore_index: int
    class_dim: int

    def __init__(
        self,
        num_classes: int,
        *,
        p: float = 0.8,
        q: float = 2.0,
        eps: float = 1e-2,
        ignore_index: int = -100,
        class_dim: int = 1,
        reduction: str = "mean",
        backend: str = "auto",
        distributed: bool = False,
    ) -> None:
        p, q, eps = check_seesaw_options(p, q, eps)
        super().__init__(**init_options(locals()))
        self.register_buffer("class_counts", torch.zeros(self.num_classes, dtype=torch.int64))

    def _statistics_of(self, input: Tensor, target: Tensor) -> tuple[Tensor, ...]:
        counts = batch_class_counts(
            input, target, ignore_index=self.ignore_index, class_dim=self.class_dim
        )
        return (counts,)


LOSSES = (
    LossInfo(
        function=seesaw_loss,
        module="SeesawLoss",
        form="per_location",
        samples=(
            Sample(
                "index",
                # A fresh module's first training batch counts itself first: [0, 2, 1, 2].
                options={"class_counts": torch.tensor([1, 1, 2])},
                module_options={"num_classes": 3},
            ),
        ),
        docs="math.md#seesaw-loss-wang-et-al-2021",
        section=("long-tail-state", 10),
        kernel="softmax_focal",
        state=("class_counts",),
        inexact_gradient=(
            "the compensation factor is the softmax of the detached logits, as mmdetection's:"
            " a constant of the gradient, so the gradient is not the derivative of the loss"
        ),
    ),
)
