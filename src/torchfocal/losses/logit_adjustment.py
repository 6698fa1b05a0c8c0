"""Logit adjustment (Menon et al. 2021) and the balanced softmax (Ren et al. 2020).

The loss is the cross-entropy of the logits shifted by ``tau * log(prior)``, run on the
softmax focal loss at gamma 0: the shift is a constant, so the gradient with respect to the
logits is the one with respect to the shifted logits, and every backend of
:func:`~torchfocal.losses.softmax_focal.softmax_focal_loss` serves it. :func:`logit_adjust`
is the post-hoc correction of a model trained without the shift.
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
from ._registry import SOFTMAX_FORMS, LossInfo, Sample
from .softmax_focal import LogitAdjustment, adjusted_softmax_focal_loss

#: Class counts or frequencies: a tensor or a sequence of numbers.
Prior = Tensor | Sequence[float]


def _log_prior(prior: Prior, input: Tensor, class_dim: int, dtype: torch.dtype) -> Tensor:
    """log(prior / sum(prior)) in ``dtype`` on the input's device, lined up with
    ``class_dim`` (normalised)."""
    num_classes = input.shape[class_dim]
    values = v.positive_class_values(
        "prior", prior, num_classes=num_classes, class_dim=class_dim, input=input
    )
    # Normalised in logs and in the wider of the two dtypes (float64 for a sequence): the sum
    # of large float32 counts cannot overflow, and a small frequency keeps its digits.
    logs = torch.log(values.to(torch.promote_types(values.dtype, dtype)))
    log_prior = logs - torch.logsumexp(logs, dim=0)
    shape = v.class_shape(input.dim(), class_dim, num_classes)
    return log_prior.to(device=input.device, dtype=dtype).reshape(shape)


def logit_adjust(input: Tensor, prior: Prior, *, tau: float = 1.0, class_dim: int = 1) -> Tensor:
    r"""The post-hoc logit adjustment of Menon et al.: ``input - tau * log(prior)``.

    A classifier trained with plain cross-entropy on long-tailed data estimates
    :math:`P(y \mid x)`, which carries the training prior :math:`\pi`; subtracting
    :math:`\tau \log \pi_y` from each logit turns its arg-max into (for :math:`\tau = 1`) the
    Bayes-optimal prediction for the balanced error, where every class counts alike:

    .. math::

        \hat y = \arg\max_y \; f_y(x) - \tau \log \pi_y .

    ``prior`` is normalised to sum 1 (class counts work as well as frequencies); the
    difference between the two is a constant per row, which changes no arg-max and no
    softmax. Use it at inference on a model trained with
    :func:`torch.nn.functional.cross_entropy`; a model trained with
    :func:`logit_adjusted_cross_entropy` needs no correction (its raw logits are already the
    balanced ones). "Long-tail learning via logit adjustment", ICLR 2021,
    https://arxiv.org/abs/2007.07314.

    Args:
        input: logits ``(N, C)``, ``(N, C, d1, ...)`` or ``(C,)``, a floating dtype.
        prior: C positive class counts or frequencies (a tensor on the input's device, or
            a sequence).
        tau: the strength of the correction, >= 0 (0 returns the input unchanged).
        class_dim: the class dimension.

    Returns:
        The adjusted logits, of the input's shape and dtype (float16 and bfloat16 are
        computed in float32); differentiable with respect to ``input``.

    Example:
        >>> import torch, torchfocal
        >>> logits = torch.tensor([[2.0, 1.5, 1.0]])
        >>> torchfocal.logit_adjust(logits, [100, 10, 1])
        tensor([[2.1044, 3.9069, 5.7095]])
    """
    input = v.check_float_input("input", input)
    tau = v.check_scalar_in("tau", tau, 0.0, math.inf)
    dim, _ = targets.per_location_classes(input, class_dim)
    dtype = v.compute_dtype(input)
    return (input.to(dtype) - tau * _log_prior(prior, input, dim, dtype)).to(input.dtype)


@falls_back_to_fused
def logit_adjusted_cross_entropy(
    input: Tensor,
    target: Tensor,
    *,
    prior: Prior,
    tau: float = 1.0,
    weight: Tensor | None = None,
    ignore_index: int = -100,
    label_smoothing: float = 0.0,
    class_dim: int = 1,
    reduction: str = "mean",
    backend: str = "auto",
) -> Tensor:
    r"""Logit-adjusted cross-entropy (Menon et al., ICLR 2021); balanced softmax at tau = 1.

    Per location, with logits :math:`x` over ``class_dim``, the class prior
    :math:`\pi` (``prior`` normalised to sum 1) and target distribution :math:`t` (the
    one-hot of an index target, smoothed to :math:`t (1 - \epsilon) + \epsilon / C`, or
    the given probabilities):

    .. math::

        z_c = x_c + \tau \log \pi_c, \qquad
        \ell = -\sum_c w_c \, t_c \log \mathrm{softmax}(z)_c,
        \qquad \frac{\partial \ell}{\partial x_j}
        = \mathrm{softmax}(z)_j \sum_c w_c t_c - w_j t_j .

    Adding :math:`\tau \log \pi_c` in training asks the rare classes for larger raw
    logits than the frequent ones (a label-dependent margin), so that the raw logits
    :math:`x` of the trained model rank the classes as the balanced error wants: predict
    with ``input.argmax(class_dim)``, unadjusted. ``tau = 1`` is the Fisher-consistent choice
    for the balanced error and is exactly the balanced softmax of Ren et al. (NeurIPS
    2020, "Balanced Meta-Softmax", https://arxiv.org/abs/2007.10740), whose class
    probability :math:`n_y e^{x_y} / \sum_c n_c e^{x_c}` is this softmax of :math:`z`
    (the total count cancels). ``tau = 0`` is :func:`torch.nn.functional.cross_entropy`.
    "Long-tail learning via logit adjustment", https://arxiv.org/abs/2007.07314.

    ``weight``, ``ignore_index``, ``label_smoothing`` and ``reduction`` follow
    :func:`torch.nn.functional.cross_entropy` exactly (as in :func:`softmax_focal_loss` at
    ``gamma=0``, whose every backend this runs on, with the same one difference: when every
    target is ignored, ``"mean"`` returns 0 where torch returns NaN).

    Args:
        input: logits ``(N, C)``, ``(N, C, d1, ...)`` or ``(C,)``, float16 / bfloat16 /
            float32 / float64 (half types are computed in float32).
        target: class indices of the input's shape without ``class_dim`` (values in
            ``[0, C)`` or ``ignore_index``), or class probabilities of the input's shape,
            as in :func:`softmax_focal_loss`.
        prior: C positive class counts or frequencies of the training set (a tensor on the
            input's device, or a sequence); normalised to sum 1.
        tau: the adjustment's strength, >= 0 (1: balanced softmax; 0: cross-entropy).
        weight: C class weights (as ``F.cross_entropy``'s ``weight``).
        ignore_index: index targets equal to it are left out of the loss and of the mean.
        label_smoothing: eps in [0, 1).
        class_dim: the class dimension.
        reduction: ``"none"`` (one value per location), ``"mean"`` (as ``F.cross_entropy``)
            or ``"sum"``.
        backend: ``"auto"``, ``"triton"``, ``"fused"``, ``"naive"`` or ``"compiled"``, as
            in :func:`softmax_focal_loss`.

    Example:
        >>> import torch, torchfocal
        >>> logits = torch.tensor([[2.0, 1.5, 1.0], [0.5, 2.0, 0.0]])
        >>> target = torch.tensor([0, 2])
        >>> prior = [100, 10, 1]
        >>> torchfocal.logit_adjusted_cross_entropy(logits, target, prior=prior, reduction="none")
        tensor([0.0623, 5.4796])
        >>> torch.nn.functional.cross_entropy(logits, target, reduction="none")  # tau = 0
        tensor([0.6803, 2.3064])
    """
    input = v.check_float_input("input", input)
    tau = v.check_scalar_in("tau", tau, 0.0, math.inf)
    dim, _ = targets.per_location_classes(input, class_dim)
    dtype = v.compute_dtype(input)
    bias = tau * _log_prior(prior, input, dim, dtype)

    def adjusted(x: Tensor) -> Tensor:
        """(x - S) + b, S the row's largest logit where that shift keeps every logit of the
        row finite (else 0), in torch (every backend but Triton's kernel, which forms the
        same in the same order)."""
        # The cross-entropy of a row is the same after any shift of it, so the row's largest
        # logit M (detached: a constant of every derivative) is taken off before the bias:
        # x + b rounds b to x's ulp (5e-4 at x = 1e4 in float32, a relative error of the
        # loss of 8e-4 at [1e4, 1e4, 0]; all of b at finfo.max), while x - M is exact for
        # every x within a factor 2 of M (Sterbenz) and 0 at the maximum, so (x - M) + b
        # keeps b's digits wherever the class's probability is not negligible.
        # A row that spans more than the float range (M - min x > finfo.max, as [max, -max,
        # 0]) is not shifted: x - M would be -inf at its far end, and a far class that
        # carries target weight (probabilities, label smoothing) has the finite loss term
        # t (x - M + b - log Z), which the cross-entropy forms from the unshifted x as
        # t x - t max(x + b) - ... (softmax_focal's far classes); such a row's top keeps
        # the rounding of x + b, which matters only where two of its logits above
        # finfo.max * eps / 4 (about 1e31 in float32) nearly tie.
        # A NaN logit makes M, and so its whole row, NaN.
        bottom, top = torch.aminmax(x.detach(), dim=dim, keepdim=True)  # one pass
        shift = torch.where(torch.isinf(top - bottom), 0.0, top)
        return (x - shift) + bias

    # d(adjusted)/d(input) is the identity, so the gradient of cross-entropy at the adjusted
    # logits is the gradient with respect to the input, whichever backend computes it; the
    # Triton kernel adjusts each row as it reads it (no adjusted copy of the input).
    loss = adjusted_softmax_focal_loss(
        input,
        target,
        adjustment=LogitAdjustment("class_bias", bias.reshape(-1), {}, adjusted),
        weight=weight,
        ignore_index=ignore_index,
        label_smoothing=label_smoothing,
        class_dim=dim,
        reduction=reduction,
        backend=backend,
    )
    return loss.to(input.dtype)


class LogitAdjustedCrossEntropyLoss(LossModule):
    """Logit-adjusted cross-entropy (balanced softmax at ``tau=1``); module form of
    :func:`torchfocal.logit_adjusted_cross_entropy`, see it for every argument.

    ``__init__`` checks the class counts or frequencies and registers them as the buffer
    ``prior``, as given (a sequence in the default dtype; the loss normalises them), so
    they follow ``.to(device)`` and the state_dict but keep their dtype under ``.half()``
    and other casts (counts above 65504 would be inf in float16); ``weight`` is a buffer
    too.

    Example:
        >>> import torch, torchfocal
        >>> criterion = torchfocal.LogitAdjustedCrossEntropyLoss([100, 10, 1], tau=1.0)
        >>> criterion(torch.tensor([[2.0, 1.5, 1.0], [0.5, 2.0, 0.0]]), torch.tensor([0, 2]))
        tensor(2.7710)
    """

    _function = staticmethod(logit_adjusted_cross_entropy)
    _checks = checking(
        tau=functools.partial(v.check_scalar_in, "tau", low=0.0, high=math.inf),
        label_smoothing=v.check_label_smoothing,
        prior=positive_class_values("prior"),
    )
    _buffer_options = ("prior", "weight")
    _repr_names = ("tau",)
    _uncast = ("prior",)
    prior: Tensor
    weight: Tensor | None

    def __init__(
        self,
        prior: Tensor | Sequence[float],
        tau: float = 1.0,
        *,
        weight: Tensor | Sequence[float] | None = None,
        ignore_index: int = -100,
        label_smoothing: float = 0.0,
        class_dim: int = 1,
        reduction: str = "mean",
        backend: str = "auto",
    ) -> None:
        super().__init__(**init_options(locals()))

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, classes={len(self.prior)}"


LOSSES = (
    LossInfo(
        function=logit_adjusted_cross_entropy,
        module="LogitAdjustedCrossEntropyLoss",
        form="per_location",
        samples=(
            Sample(
                "index",
                options={"prior": [40.0, 8.0, 2.0]},
                module_options={"prior": [40.0, 8.0, 2.0]},
                forms=SOFTMAX_FORMS,
                grad_arguments={"weight": "class"},
            ),
        ),
        docs="math.md#logit-adjustment-and-the-balanced-softmax-menon-et-al-2021-ren-et-al-2020",
        section=("long-tail", 10),
        kernel="softmax_focal",
        label="logit_adjusted",
    ),
)
