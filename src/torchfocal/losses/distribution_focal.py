"""Distribution focal loss (Li et al. 2020, Generalized Focal Loss): cross-entropy against
the two bins around a continuous label, on the softmax focal loss's math at gamma 0."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .._engine import checks as v
from .._engine import engine
from .._engine import reduction as reducing
from .._engine.deprecation import renamed
from .._engine.triton_fallback import falls_back_to_fused
from ._module import LossModule, init_options
from ._registry import LossInfo, Sample
from .softmax_focal import naive_per_location, per_location_request


@renamed(bin_dim="class_dim")
@falls_back_to_fused
def distribution_focal_loss(
    input: Tensor,
    target: Tensor,
    *,
    weight: Tensor | None = None,
    class_dim: int = -1,
    reduction: str = "mean",
    avg_factor: float | Tensor | None = None,
    backend: str = "auto",
) -> Tensor:
    r"""Distribution focal loss (Li et al., NeurIPS 2020, Generalized Focal Loss).

    A box edge is predicted as a distribution :math:`S = \mathrm{softmax}(x)` over the
    integral bins :math:`0, 1, \dots, n`; a continuous label :math:`y \in [0, n]` puts
    probability mass on the two bins around it, :math:`y_l = \lfloor y \rfloor` and
    :math:`y_r = y_l + 1`, in proportion to closeness:

    .. math::

        \ell = -\big( (y_r - y) \log S_{y_l} + (y - y_l) \log S_{y_r} \big) \cdot w,

    which is cross-entropy against that two-bin target (``y = n`` uses bins n-1 and n).
    Its gradient is :math:`S - t` for the two-bin target :math:`t`. This is mmdet's
    ``distribution_focal_loss`` (which needs ``y < n``).
    *Generalized Focal Loss*, https://arxiv.org/abs/2006.04388.

    Args:
        input: logits with the n+1 >= 2 bins along ``class_dim``, e.g. ``(N, n + 1)``.
        target: float labels of the input's shape without ``class_dim``, in [0, n].
        weight: per-location weights, broadcasting to the target's shape.
        class_dim: the dimension of the bins, the classes of this softmax (default the
            last, where a box head puts each edge's bins). (Called ``bin_dim`` before;
            that name still works for one release, with a DeprecationWarning.)
        reduction: ``"none"`` (one value per location), ``"mean"`` (over locations, or /
            ``avg_factor``) or ``"sum"``.
        avg_factor: with ``reduction="mean"``, the divisor to use instead of the number of
            locations.
        backend: ``"auto"``, ``"triton"`` (the softmax focal kernel against the two-bin
            target), ``"fused"``, ``"naive"`` or ``"compiled"``, as in
            :func:`softmax_focal_loss`.

    Example:
        >>> import torch, torchfocal
        >>> logits = torch.tensor([[0.0, 2.0, 1.0, -1.0], [1.0, 1.0, 1.0, 1.0]])
        >>> torchfocal.distribution_focal_loss(logits, torch.tensor([1.3, 3.0]), reduction="none")
        tensor([0.7402, 1.3863])
    """
    input, target = v.check_pair(input, target)
    backend = v.resolve_backend(backend, input)
    reduction = v.check_reduction(reduction, v.REDUCTIONS)
    avg_factor = v.check_avg_factor(avg_factor, reduction)
    if input.dim() == 0:
        raise ValueError("input must have a bin dimension (at least 1-D); got a 0-d tensor")
    dim = v.normalize_dim("class_dim", class_dim, input.dim())
    num_bins = input.shape[dim]
    if num_bins < 2:
        raise ValueError(
            f"input must have at least 2 bins along class_dim={class_dim}; got {num_bins}"
        )
    location_shape = input.shape[:dim] + input.shape[dim + 1 :]
    if target.shape != location_shape:
        raise ValueError(
            f"target must have the input's shape without class_dim "
            f"{v.shape_str(location_shape)}; "
            f"got {v.shape_str(target.shape)}"
        )
    if not target.is_floating_point():
        raise TypeError(f"target must be a float tensor of continuous labels; got {target.dtype}")
    largest = num_bins - 1
    inside = (target >= 0) & (target <= largest)
    v.require(
        inside,
        f"target must hold values in [0, {largest}]; got {{bad}}",
        lambda: v.first(target, inside),
    )
    compute_dtype = v.compute_dtype(input)

    def two_bin_target() -> Tensor:
        """The dense two-bin target (the input's shape): every backend but Triton's."""
        label = target.to(compute_dtype).unsqueeze(dim)
        left = label.floor().clamp(max=largest - 1)
        # Out of place: under vmap the label is batched where the zeros are not, and vmap has
        # a batching rule for scatter, none for scatter_.
        return (
            torch.zeros(input.shape, dtype=compute_dtype, device=input.device)
            .scatter(dim, left.long(), left + 1.0 - label)
            .scatter(dim, left.long() + 1, label - left)
        )

    location_weight = None
    if weight is not None:
        weight = v.check_tensor("weight", weight)
        v.check_same_device("weight", weight, input)
        location_weight = v.broadcast_to_input("weight", weight, location_shape)
        location_weight = location_weight.to(compute_dtype).unsqueeze(dim)
    divisor = reducing.divisor(reduction, count=math.prod(location_shape), avg_factor=avg_factor)
    if backend == "triton":
        # The softmax focal kernel at gamma 0, which builds the two-bin target from the
        # continuous label as it reads each row; the weight multiplies each location's loss
        # and upstream gradient (the loss and its gradient are linear in the target).
        return engine.run(
            engine.PerLocation(
                input,
                backend,
                lambda x: naive_per_location(
                    x, two_bin_target(), class_factor=location_weight, gamma=0.0, dim=dim
                ),
                divisor,
                dim,
                compute_dtype,
                triton=engine.TritonPerLocation(
                    indices=target,
                    probabilities=None,
                    ignore_index=-100,
                    label_smoothing=0.0,
                    gamma=0.0,
                    class_factor=None,
                    location_weight=None
                    if location_weight is None
                    else location_weight.squeeze(dim),
                ),
            )
        )
    two_bin = two_bin_target()
    # Cross-entropy against the two-bin target: the softmax focal loss's math at gamma 0.
    request = per_location_request(
        input,
        backend=backend,
        target=two_bin,
        dense_target=lambda: two_bin,
        valid=None,
        class_factor=location_weight,
        gamma=0.0,
        dim=dim,
        divisor=divisor,
        compute_dtype=compute_dtype,
    )
    return engine.run(request)


class DistributionFocalLoss(LossModule):
    """Module form of :func:`torchfocal.distribution_focal_loss`; see it for every argument.

    ``class_dim`` is the dimension of the bins (named ``bin_dim`` before: that keyword still
    works for one release, with a DeprecationWarning).

    Example:
        >>> import torch, torchfocal
        >>> criterion = torchfocal.DistributionFocalLoss()
        >>> criterion(torch.tensor([[0.0, 2.0, 1.0, -1.0]]), torch.tensor([1.3]))
        tensor(0.7402)
    """

    _function = staticmethod(distribution_focal_loss)
    _repr_names = ("class_dim",)
    weight: Tensor | None

    @renamed(bin_dim="class_dim")
    def __init__(
        self,
        *,
        weight: Tensor | None = None,
        class_dim: int = -1,
        reduction: str = "mean",
        avg_factor: float | None = None,
        backend: str = "auto",
    ) -> None:
        super().__init__(**init_options(locals()))


LOSSES = (
    LossInfo(
        function=distribution_focal_loss,
        module="DistributionFocalLoss",
        form="per_location",
        samples=(Sample("label", grad_arguments={"weight": "location", "avg_factor": "scalar"}),),
        docs="math.md#distribution-focal-loss-li-et-al-2020",
        section=("focal-family", 70),
        # the softmax focal kernel against the two-bin target
        kernel="softmax_focal",
        label="distribution",
    ),
)
