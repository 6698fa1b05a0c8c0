"""The reduction and normaliser logic shared by every loss.

A loss is reduced as ``sum(loss) / divisor``. The divisor is chosen here, once, for every
loss and every backend, so that the naive and the fused paths cannot disagree on it:

- ``"none"``: no reduction (divisor ``None``);
- ``"sum"``: divisor 1;
- ``"mean"``: ``avg_factor`` when given, else the number of counted elements
  (elements at ignored locations are not counted), or for the softmax loss with index
  targets the summed class weights of the counted targets, as F.cross_entropy;
- ``"positives"``: ``max(positive target mass, 1)``, Lin et al.'s normaliser; with
  ``distributed=True`` the mass is first averaged over the default process group.

Sums and divisions are taken in float64 where the device has it (see
:func:`accumulation_dtype`); the result is cast to the input's dtype only at the end, by
the caller.

A count of zero becomes 1 (and the positive mass is clamped to at least 1), so that an
empty input or an input whose every element is ignored reduces to 0 instead of 0/0.
"""

from __future__ import annotations

import torch
from torch import Tensor

Divisor = float | Tensor | None


def divisor(
    reduction: str,
    *,
    count: int | Tensor,
    positive_mass: Tensor | None = None,
    avg_factor: float | Tensor | None = None,
    distributed: bool = False,
) -> Divisor:
    if reduction == "none":
        return None
    if reduction == "sum":
        return 1.0
    if reduction == "mean":
        if avg_factor is not None:
            return avg_factor
        if isinstance(count, Tensor):
            # A (possibly fractional) sum of class weights; only an empty count becomes 1.
            return torch.where(count > 0, count, torch.ones_like(count))
        return float(max(count, 1))
    if reduction == "positives":
        if positive_mass is None:  # pragma: no cover - callers always pass it
            raise ValueError("positive_mass must be given for reduction='positives'; got None")
        mass = positive_mass.detach()
        if distributed:
            mass = _average_over_process_group(mass)
        return mass.clamp(min=1)
    raise ValueError(f"reduction must be a known reduction; got {reduction!r}")


def accumulation_dtype(device: torch.device) -> torch.dtype:
    """The dtype a loss is summed in: float64, as the fused kernels do, where the device
    has it (MPS has not: float32 there).

    float16 overflows at 65504: the sum of 40000 x 3 losses of about 5 is already inf,
    so "mean" would be inf where the loss is finite. bfloat16 has float32's range but 8
    bits of mantissa, so a long sum stalls once the total is 256 times the summand. And
    float32 losses near 3e38 sum to inf where their mean is finite.
    """
    return torch.float32 if device.type == "mps" else torch.float64


def reciprocal(divisor: Divisor, device: torch.device) -> float | Tensor | None:
    """1 / divisor, in :func:`accumulation_dtype` for a tensor (an integer count must not
    become a float32 1/n)."""
    if isinstance(divisor, Tensor):
        return 1.0 / divisor.to(accumulation_dtype(device))
    return None if divisor is None else 1.0 / divisor


def scaled_sum(loss: Tensor, inverse: float | Tensor | None) -> Tensor:
    """``sum(loss) * inverse`` in :func:`accumulation_dtype` (``inverse`` None: the sum).

    Float32 losses are summed in float64, where no sum of them can overflow. Float64 losses
    have nothing wider: each is scaled first, so that the mean of values near float64's
    largest, itself finite, does not pass through an infinite sum.
    """
    wide = accumulation_dtype(loss.device)
    if inverse is None:
        return loss.sum(dtype=wide)
    if loss.dtype == wide:
        return (loss * inverse).sum()
    return loss.sum(dtype=wide) * inverse


def reduce(loss: Tensor, by: Divisor) -> Tensor:
    """Apply a divisor from :func:`divisor` to an elementwise loss.

    ``"none"`` returns the loss as it is. Otherwise the sum and the division are taken in
    :func:`accumulation_dtype` and the result stays in it: the caller casts to the input's
    dtype once, at the end. Where that dtype is no wider than the loss's (float64 losses),
    each value is divided before the sum, so that the mean of values near the dtype's
    largest, itself finite, does not pass through an infinite sum (as
    :func:`scaled_sum`; here ``by`` may require grad).
    """
    if by is None:
        return loss
    wide = loss.to(accumulation_dtype(loss.device))
    if isinstance(by, float) and by == 1.0:
        return wide.sum()
    if wide.dtype == loss.dtype:
        return (wide / by).sum()
    return wide.sum() / by


def scaled_result(
    loss: Tensor, grad: Tensor | None, inverse: float | Tensor | None
) -> tuple[Tensor, Tensor | None]:
    """A fused kernel's (loss, grad) reduced: the sum times ``inverse`` (:func:`scaled_sum`,
    left in the accumulation dtype for the caller's one cast to the input's dtype) and the
    gradient times ``inverse``, in place (a kernel's gradient is its own tensor: a copy of
    it would cost a fresh allocation per call); unchanged for ``inverse`` None
    (``reduction="none"``)."""
    if inverse is None:
        return loss, grad
    return scaled_sum(loss, inverse), None if grad is None else grad.mul_(inverse)


def _require_process_group() -> None:
    distributed = torch.distributed
    if not (distributed.is_available() and distributed.is_initialized()):
        raise ValueError(
            "distributed must be False unless torch.distributed is initialised "
            "(call torch.distributed.init_process_group first); got distributed=True "
            "with no default process group"
        )


def _average_over_process_group(value: Tensor) -> Tensor:
    _require_process_group()
    distributed = torch.distributed
    total = value.to(torch.float64 if value.device.type == "cpu" else torch.float32).clone()
    distributed.all_reduce(total, op=distributed.ReduceOp.SUM)
    return (total / distributed.get_world_size()).to(value.dtype)


def sum_over_process_group(value: Tensor) -> Tensor:
    """``value`` summed over the default process group, as a new tensor of its dtype (the
    statistics of the stateful losses: int64 counts and float64 sums stay exact)."""
    _require_process_group()
    total = value.clone()
    torch.distributed.all_reduce(total, op=torch.distributed.ReduceOp.SUM)
    return total
