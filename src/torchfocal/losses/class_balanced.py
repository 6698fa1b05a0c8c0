"""Class-balanced loss (Cui et al. 2019): a sample's loss times its class weight, on the
sigmoid and softmax focal losses."""

from __future__ import annotations

import warnings
from typing import Any

import torch
from torch import Tensor

from .._engine import checks as v
from .._engine import targets
from .._engine.checks import Counts
from .._engine.deprecation import renamed
from .._engine.triton_fallback import falls_back_to_fused
from ._module import LossModule, checking, init_options
from ._registry import LossInfo, Sample
from .sigmoid_focal import sigmoid_focal_loss
from .softmax_focal import softmax_focal_loss

_CLASS_BALANCED_FORMS = ("focal", "sigmoid", "softmax")


def check_class_balanced_form(loss: object) -> str:
    """``loss``: one of the forms (the function and the module both check it here)."""
    if not isinstance(loss, str) or loss not in _CLASS_BALANCED_FORMS:
        options = " | ".join(repr(f) for f in _CLASS_BALANCED_FORMS)
        raise ValueError(f"loss must be one of {options}; got {loss!r}")
    return loss


@renamed(weights="weight")
@falls_back_to_fused
def class_balanced_loss(
    input: Tensor,
    target: Tensor,
    *,
    weight: Tensor,
    loss: str = "focal",
    gamma: float | None = None,
    ignore_index: int = -100,
    class_dim: int = 1,
    reduction: str = "mean",
    backend: str = "auto",
) -> Tensor:
    r"""Class-balanced loss (Cui et al., CVPR 2019): each sample's loss times its class weight.

    With class weights :math:`w` (e.g. :func:`torchfocal.class_balanced_weights`) and a
    sample of class :math:`y`, the sample's whole loss is multiplied by :math:`w_y`; the
    class weight takes the place of alpha (no alpha is applied):

    - ``loss="focal"``: sigmoid focal loss on the one-hot target, all C logits of the sample
      scaled by :math:`w_y` (``gamma`` defaults to 2);
    - ``loss="sigmoid"``: the same with ``gamma = 0`` (binary cross-entropy);
    - ``loss="softmax"``: softmax cross-entropy (``gamma`` defaults to 0; a positive
      ``gamma`` gives the softmax focal loss).

    ``"mean"`` divides the weighted sum by the number of counted samples, as in Cui et al.'s
    reference implementation (so it is not ``F.cross_entropy(weight=w)``, which divides by
    the summed weights). https://arxiv.org/abs/1901.05555

    Args:
        input: logits ``(N, C)`` or ``(N, C, d1, ...)``.
        target: class indices in ``[0, C)`` of the input's shape without ``class_dim``, or
            ``ignore_index``.
        weight: C class weights. (Called ``weights`` before; that name still works for one
            release, with a DeprecationWarning.)
        loss: ``"focal"``, ``"sigmoid"`` or ``"softmax"``.
        gamma: focusing parameter; ``None`` for the form's default.
        ignore_index: as in :func:`softmax_focal_loss`.
        class_dim: as in :func:`softmax_focal_loss`.
        reduction: ``"none"`` (the sigmoid forms: the input's shape; softmax: one value per
            sample), ``"mean"`` or ``"sum"``.
        backend: ``"auto"`` (fused), ``"fused"``, ``"naive"`` or ``"compiled"``, passed to
            the focal loss of the form.

    Example:
        >>> import torch, torchfocal
        >>> weight = torchfocal.class_balanced_weights([500, 50, 5], beta=0.999)
        >>> logits = torch.tensor([[2.0, -1.0, -2.0], [-1.0, -1.0, 1.0]])
        >>> torchfocal.class_balanced_loss(logits, torch.tensor([0, 2]), weight=weight)
        tensor(0.0919)
    """
    loss = check_class_balanced_form(loss)
    if gamma is None:
        gamma = 2.0 if loss == "focal" else 0.0
    gamma = v.check_gamma(gamma)
    if loss == "sigmoid" and gamma != 0.0:
        raise ValueError(
            f"gamma must be 0 for loss='sigmoid' (use loss='focal' for gamma > 0); got {gamma!r}"
        )
    reduction = v.check_reduction(reduction, v.REDUCTIONS)
    input, target = v.check_pair(input, target)
    ignore_index = v.check_ignore_index(ignore_index)
    weight = v.check_tensor("weight", weight)
    dim, num_classes = targets.index_target_classes(
        input, target, class_dim, dense_form="a one-hot or probability target"
    )
    ignored = target == ignore_index
    v.check_class_indices(target, ignored, largest=num_classes - 1, ignore_index=ignore_index)
    class_weight = v.class_values(
        "weight",
        weight,
        num_classes=num_classes,
        class_dim=dim,
        input=input,
        dtype=v.compute_dtype(input),
        low=0.0,
        high=float("inf"),
    ).reshape(-1)
    # Every form reduces inside the loss it calls, where sums and the division are taken in
    # float32 or wider: a sum returned in float16 and divided afterwards would overflow.
    if loss == "softmax":
        # As softmax_focal_loss's alpha the class weight scales each sample's loss by w_y
        # and "mean" divides by the counted samples (its weight would divide by their
        # summed weights, as F.cross_entropy).
        return softmax_focal_loss(
            input,
            target,
            alpha=class_weight,
            gamma=gamma,
            ignore_index=ignore_index,
            class_dim=dim,
            reduction=reduction,
            backend=backend,
        )
    keep = ~ignored
    sample_weight = class_weight[target.masked_fill(ignored, 0)] * keep
    counted = keep.sum()
    if num_classes > 1:
        # The index target as it is (ignored samples left out by ignore_index): no one-hot
        # of the input's shape is built.
        sigmoid_target, sigmoid_ignore = target, ignore_index
    else:
        # With C = 1 an index target would be ambiguous to sigmoid_focal_loss (class 0 or a
        # 0/1 mask): the one-hot mask then, which is the target's size.
        sigmoid_target, sigmoid_ignore = (target == 0).unsqueeze(dim), -100
    return sigmoid_focal_loss(
        input,
        sigmoid_target,
        alpha=None,
        gamma=gamma,
        weight=sample_weight.unsqueeze(dim),
        ignore_index=sigmoid_ignore,
        class_dim=dim,
        reduction=reduction,
        avg_factor=counted.clamp(min=1) if reduction == "mean" else None,
        backend=backend,
    )


class ClassBalancedLoss(LossModule):
    """Cui et al.'s class-balanced loss; module form of :func:`torchfocal.class_balanced_loss`.

    ``__init__`` turns the class counts into :func:`torchfocal.class_balanced_weights`
    (``beta``) and registers them as the buffer ``weight`` (named ``weights`` before: a
    state_dict saved with that key still loads, with a DeprecationWarning).

    Example:
        >>> import torch, torchfocal
        >>> criterion = torchfocal.ClassBalancedLoss([500, 50, 5], beta=0.999, loss="softmax")
        >>> criterion(torch.tensor([[2.0, -1.0, -2.0], [-1.0, -1.0, 1.0]]), torch.tensor([0, 2]))
        tensor(0.3234)
    """

    _function = staticmethod(class_balanced_loss)
    _checks = checking(
        loss=check_class_balanced_form,
        gamma=lambda gamma: None if gamma is None else v.check_gamma(gamma),
    )
    _repr_names = ("loss", "beta", "gamma")
    weight: Tensor

    def __init__(
        self,
        counts: Counts,
        beta: float = 0.9999,
        *,
        loss: str = "focal",
        gamma: float | None = None,
        ignore_index: int = -100,
        class_dim: int = 1,
        reduction: str = "mean",
        backend: str = "auto",
    ) -> None:
        options = init_options(locals())
        del options["counts"]  # kept as the weights they give
        super().__init__(**options)
        # Imported here: torchfocal.weighting imports the losses (LDAM's margins).
        from ..weighting import class_balanced_weights

        self.register_buffer("weight", class_balanced_weights(counts, beta))

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, classes={len(self.weight)}"

    def _load_from_state_dict(
        self,
        state_dict: dict[str, Any],
        prefix: str,
        local_metadata: dict[str, Any],
        strict: bool,
        missing_keys: list[str],
        unexpected_keys: list[str],
        error_msgs: list[str],
    ) -> None:
        # A state_dict saved before the buffer was renamed holds it under "weights".
        old, new = prefix + "weights", prefix + "weight"
        if old in state_dict and new not in state_dict:
            warnings.warn(
                "weights is deprecated; use weight (ClassBalancedLoss's class-weight buffer "
                "is named weight; a state_dict with the old key loads for one more release)",
                DeprecationWarning,
                stacklevel=2,
            )
            state_dict[new] = state_dict.pop(old)
        super()._load_from_state_dict(
            state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs
        )


#: The sample's class counts; its function call takes the weights that
#: ``class_balanced_weights(_SAMPLE_COUNTS, 0.99)`` gives (float32 values, written out: the
#: weighting module imports the losses, so it cannot be imported here).
_SAMPLE_COUNTS = [40.0, 8.0, 2.0]
_SAMPLE_WEIGHT = [0.1368647664785385, 0.5864465236663818, 2.276688814163208]

LOSSES = (
    LossInfo(
        function=class_balanced_loss,
        module="ClassBalancedLoss",
        form="per_location",
        samples=(
            Sample(
                "index",
                options={"weight": torch.tensor(_SAMPLE_WEIGHT, dtype=torch.float64)},
                module_options={"counts": _SAMPLE_COUNTS, "beta": 0.99},
                grad_arguments={"weight": "class"},
            ),
        ),
        docs="math.md#class-balanced-weights-cui-et-al-cvpr-2019",
        section=("class-balancing", 10),
        kernel="sigmoid_focal",
        # the focal or cross-entropy oracle with the class weights (not a public oracle)
        reference="_class_balanced_loss",
        focusing=("gamma",),
        # its other forms (the first, loss="focal", is the default; gamma is 0 in "sigmoid")
        extreme_variants=({"loss": "sigmoid", "gamma": 0.0}, {"loss": "softmax"}),
        gradient_variants=(
            *({"loss": "focal", "gamma": gamma} for gamma in (0.0, 0.3, 1.0, 2.5)),
            *({"loss": "softmax", "gamma": gamma} for gamma in (0.0, 0.3, 1.0, 2.5)),
            {"loss": "sigmoid"},
        ),
    ),
)
