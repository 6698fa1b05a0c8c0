"""LDAM, the label-distribution-aware margin loss (Cao et al. 2019).

The target class's logit less its class margin, all logits times ``scale``, then
cross-entropy: the softmax focal loss at gamma 0 on those logits (shifted by the row's
largest first, so that the scale cannot overflow). The margin is a constant
and the scale a linear map, so autograd takes the gradient through them to whichever
backend computes the cross-entropy's.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import torch
from torch import Tensor

from .._engine import checks as v
from .._engine import targets
from .._engine.triton_fallback import falls_back_to_fused
from ._module import LossModule, checking, init_options, positive_class_values
from ._registry import LossInfo, Sample
from .softmax_focal import LogitAdjustment, adjusted_softmax_focal_loss

#: Class counts: a tensor or a sequence of numbers.
ClassCounts = Tensor | Sequence[float]


def class_margins(class_counts: Tensor, max_margin: float) -> Tensor:
    """m_c = max_margin (min_j n_j / n_c)^(1/4) of positive counts, in their floating dtype.

    In logs: the ratio of a tiny count to a huge one would underflow or overflow; the rarest
    class gets exactly ``max_margin``.
    """
    log_counts = torch.log(class_counts)
    return max_margin * torch.exp(0.25 * (log_counts.min() - log_counts))


@falls_back_to_fused
def ldam_loss(
    input: Tensor,
    target: Tensor,
    *,
    class_counts: ClassCounts,
    max_margin: float = 0.5,
    scale: float = 30.0,
    weight: Tensor | None = None,
    ignore_index: int = -100,
    class_dim: int = 1,
    reduction: str = "mean",
    backend: str = "auto",
) -> Tensor:
    r"""Label-distribution-aware margin loss (Cao et al., NeurIPS 2019).

    Each class gets a margin :math:`m_c \propto n_c^{-1/4}` from its training count
    :math:`n_c`, scaled so that the largest (the rarest class's) is ``max_margin``. Per
    location with logits :math:`x` over ``class_dim``, index target :math:`y` and scale
    :math:`s`:

    .. math::

        m_c = m_{\max} \Big(\frac{\min_j n_j}{n_c}\Big)^{1/4}, \qquad
        z_c = s \, (x_c - m_y [c = y]), \qquad
        \ell = -w_y \log \mathrm{softmax}(z)_y,

    .. math::

        \frac{\partial \ell}{\partial x_j} = s \, w_y \big(\mathrm{softmax}(z)_j - [j = y]\big).

    The target class must beat every other class by :math:`m_y` before its loss fades, and
    rare classes, whose few samples generalise worst, get the widest margin (the paper's
    :math:`n^{-1/4}` trade-off between the classes' generalisation bounds). The logits are
    meant to be cosine-like (normalised features and weights), hence ``scale``;
    ``max_margin=0, scale=1`` is :func:`torch.nn.functional.cross_entropy`. With
    :func:`torchfocal.deferred_reweighting` as ``weight`` this is LDAM-DRW.
    "Learning Imbalanced Datasets with Label-Distribution-Aware Margin Loss",
    https://arxiv.org/abs/1906.07413; the defaults are the authors' (0.5 and 30).

    ``weight``, ``ignore_index`` and ``reduction`` follow
    :func:`torch.nn.functional.cross_entropy` (``"mean"`` divides by the summed weights of
    the counted targets; when every target is ignored it returns 0 where torch returns
    NaN). Ignored locations have no loss and no gradient.

    Args:
        input: logits ``(N, C)``, ``(N, C, d1, ...)`` or ``(C,)``, float16 / bfloat16 /
            float32 / float64 (half types are computed in float32).
        target: integer class indices of the input's shape without ``class_dim``, in
            ``[0, C)`` or ``ignore_index``.
        class_counts: C positive training counts per class (a tensor on the input's device,
            or a sequence); only their ratios matter.
        max_margin: the rarest class's margin, >= 0.
        scale: the factor :math:`s` of every logit, > 0.
        weight: C class weights (as ``F.cross_entropy``'s ``weight``).
        ignore_index: index targets equal to it are left out of the loss and of the mean.
        class_dim: the class dimension.
        reduction: ``"none"`` (one value per location), ``"mean"`` or ``"sum"``.
        backend: ``"auto"``, ``"triton"``, ``"fused"``, ``"naive"`` or ``"compiled"``, as
            in :func:`softmax_focal_loss`.

    Example:
        >>> import torch, torchfocal
        >>> logits = torch.tensor([[0.5, 0.2, -0.3], [0.1, 0.3, 0.2]])
        >>> target = torch.tensor([0, 1])
        >>> counts = [1000, 100, 10]
        >>> torchfocal.ldam_loss(logits, target, class_counts=counts, reduction="none")
        tensor([0.0141, 5.4879])
    """
    input, target = v.check_pair(input, target)
    ignore_index = v.check_ignore_index(ignore_index)
    max_margin = v.check_scalar_in("max_margin", max_margin, 0.0, math.inf)
    scale = v.check_positive_scalar("scale", scale)
    dim, num_classes = targets.index_target_classes(input, target, class_dim)
    dtype = v.compute_dtype(input)
    counts = v.positive_class_values(
        "class_counts", class_counts, num_classes=num_classes, class_dim=dim, input=input
    )
    margins = class_margins(counts.to(torch.promote_types(counts.dtype, dtype)), max_margin)
    margins = margins.to(device=input.device, dtype=dtype)

    def adjusted(x: Tensor) -> Tensor:
        """s (x - M - m_y e_y), M the raw row's largest logit, in torch (every backend but
        Triton's kernel, which forms the same in the same order)."""
        index = target.unsqueeze(dim).long()
        ignored = targets.ignored_indices(index, largest=num_classes - 1, ignore_index=ignore_index)
        if ignored is not None:
            # Class 0 stands in at ignored locations: the loss gives them weight 0, so the
            # margin it gets there changes neither the loss nor any derivative.
            index = index.masked_fill(ignored, 0)
        # The cross-entropy of a row is the same after any shift of it, so the raw row's
        # largest entry M (detached: a constant of every derivative) is taken off first,
        # before the margin and the scale:
        # - s x itself overflows from |x| ~ finfo.max / s (1e37 in float32), and inf - inf
        #   in the softmax is NaN where the true loss is finite;
        # - x - m_y rounds to x where m_y is below half an ulp of x (at x = 1e4 in float32 the
        #   margin 0.24 keeps 3 digits; at finfo.max it vanishes: [max, max, 0] of class 0
        #   gave log 2 instead of about s m_0 = 7.09), while x - M is exact for every x
        #   within a factor 2 of M (Sterbenz) and 0 at the maximum, so (x - M) - m_y keeps
        #   the margin's digits wherever the entry's probability is not negligible.
        # A NaN logit makes M, and so its whole row, NaN: the softmax couples the row.
        shifted = x - x.detach().amax(dim=dim, keepdim=True)  # <= 0; -inf past the range
        # (x - M) - m_y e_y: the margin taken off the target class alone; then the scale.
        scaled = shifted.scatter_add(dim, index, -margins[index]) * scale
        # A non-target entry further below the top than the float range has probability 0
        # and gradient 0 either way; held at -finfo.max instead of -inf, no inf - inf forms
        # in the softmax's derivatives. The target's entry stays as it is: its loss and
        # gradient depend on it. (A where on "below the range", not clamp: clamp's gradient
        # is 0 at NaN, which would hide a NaN logit from its row's gradient.)
        is_target = torch.zeros_like(scaled, dtype=torch.bool).scatter(dim, index, True)
        lowest = torch.finfo(dtype).min
        return torch.where(is_target | ~(scaled < lowest), scaled, lowest)

    # The Triton kernel forms s (x - M - m_y [c = y]) as it reads each row (M the row's
    # maximum, from a first look at the row), and multiplies the gradient by s.
    loss = adjusted_softmax_focal_loss(
        input,
        target,
        adjustment=LogitAdjustment("ldam", margins.reshape(-1), {"scale": scale}, adjusted),
        weight=weight,
        ignore_index=ignore_index,
        label_smoothing=0.0,
        class_dim=dim,
        reduction=reduction,
        backend=backend,
    )
    return loss.to(input.dtype)


class LDAMLoss(LossModule):
    """Label-distribution-aware margin loss; module form of :func:`torchfocal.ldam_loss`, see
    it for every argument.

    ``__init__`` checks the class counts and registers them as the buffer ``class_counts``
    (as given; a sequence in the default dtype; it keeps that dtype under ``.half()`` and
    other casts, which would make counts above 65504 inf); ``weight`` is a buffer that may
    be reassigned, e.g. every epoch on the deferred re-weighting schedule of
    :func:`torchfocal.deferred_reweighting` (LDAM-DRW), and a fresh module loads the
    state_dict saved after that.

    Example:
        >>> import torch, torchfocal
        >>> counts = [1000, 100, 10]
        >>> criterion = torchfocal.LDAMLoss(counts, max_margin=0.5, scale=30.0)
        >>> logits = torch.tensor([[0.5, 0.2, -0.3], [0.1, 0.3, 0.2]])
        >>> criterion(logits, torch.tensor([0, 1]))
        tensor(2.7510)
        >>> criterion.weight = torchfocal.deferred_reweighting(counts, 160, start_epoch=160)
        >>> criterion(logits, torch.tensor([0, 1]))
        tensor(4.9697)
    """

    _function = staticmethod(ldam_loss)
    _checks = checking(
        max_margin=functools.partial(v.check_scalar_in, "max_margin", low=0.0, high=math.inf),
        scale=functools.partial(v.check_positive_scalar, "scale"),
        class_counts=positive_class_values("class_counts"),
    )
    _buffer_options = ("class_counts", "weight")
    _repr_names = ("max_margin", "scale")
    _uncast = ("class_counts",)
    class_counts: Tensor
    weight: Tensor | None

    def __init__(
        self,
        class_counts: Tensor | Sequence[float],
        max_margin: float = 0.5,
        scale: float = 30.0,
        *,
        weight: Tensor | Sequence[float] | None = None,
        ignore_index: int = -100,
        class_dim: int = 1,
        reduction: str = "mean",
        backend: str = "auto",
    ) -> None:
        super().__init__(**init_options(locals()))

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, classes={len(self.class_counts)}"


LOSSES = (
    LossInfo(
        function=ldam_loss,
        module="LDAMLoss",
        form="per_location",
        samples=(
            Sample(
                "index",
                options={"class_counts": [40.0, 8.0, 2.0]},
                module_options={"class_counts": [40.0, 8.0, 2.0]},
                grad_arguments={"weight": "class"},
            ),
        ),
        docs="math.md#ldam-and-deferred-re-weighting-cao-et-al-2019",
        section=("long-tail", 20),
        kernel="softmax_focal",
    ),
)
