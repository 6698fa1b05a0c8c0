"""The Triton kernels as ``torch.library`` custom ops (DESIGN.md section 4).

A user's ``torch.compile(fullgraph=True)`` of a model that calls a loss with
backend="triton" captures these ops in its graph, and ``torch.export`` records them,
instead of breaking the graph at a Triton launch it cannot trace. Each op has a fake
implementation (the shapes and dtypes of its outputs, from its inputs' alone), which is
what tracing, meta tensors and export run.

The ops are the launches of :mod:`.elementwise` and :mod:`.softmax`, unchanged: a forward
op (the loss, or partial sums) and a backward op (the gradient times an upstream value);
the autograd Function around them is the engine's
(:class:`~torchfocal._engine.autograd.Relaunched`). An op's arguments are tensors,
numbers, strings and flags only, so a number-or-tensor operand is two arguments (a tensor
or None, and a number).
"""

from __future__ import annotations

import torch
from torch import Tensor

from . import elementwise, softmax


def _number_or_tensor(tensor: Tensor | None, value: float | None) -> float | Tensor | None:
    return tensor if tensor is not None else value


def _named(names: str, values: list[float]) -> dict[str, float]:
    """Numbers by name: an op takes the names as one comma-separated string (no list of
    str in a schema)."""
    return dict(zip(names.split(",") if names else [], values, strict=True))


def _elementwise(
    loss: str,
    x: Tensor,
    target: Tensor,
    form: str,
    ignore_index: int,
    label_smoothing: float,
    alpha: Tensor | None,
    alpha_value: float | None,
    weight: Tensor | None,
    pos_weight: Tensor | None,
    gamma: Tensor | None,
    gamma_value: float,
    gamma_schedule: str,
    param_names: str,
    params: list[float],
    weight_by_target: bool,
    **launch: object,
) -> elementwise.ElementwiseResult:
    return elementwise.elementwise_loss(
        loss,
        x,
        target,
        form=form,
        ignore_index=ignore_index,
        label_smoothing=label_smoothing,
        alpha=_number_or_tensor(alpha, alpha_value),
        weight=weight,
        pos_weight=pos_weight,
        gamma=gamma if gamma is not None else (gamma_schedule or gamma_value),
        params=_named(param_names, params),
        weight_by_target=weight_by_target,
        **launch,  # type: ignore[arg-type]
    )


@torch.library.custom_op("torchfocal::elementwise_forward", mutates_args=())
def elementwise_forward(
    loss: str,
    x: Tensor,
    target: Tensor,
    form: str,
    ignore_index: int,
    label_smoothing: float,
    alpha: Tensor | None,
    alpha_value: float | None,
    weight: Tensor | None,
    pos_weight: Tensor | None,
    gamma: Tensor | None,
    gamma_value: float,
    gamma_schedule: str,
    param_names: str,
    params: list[float],
    weight_by_target: bool,
    output: str,
    need_mass: bool,
    need_count: bool,
    count_positives: bool,
    check_range: bool,
) -> tuple[Tensor, Tensor]:
    """The loss of every element (``output="elements"``) or the (3, programs) float64
    partial sums (``"partials"``), and the per-program range flags (empty unless
    ``check_range``): :func:`.elementwise.elementwise_loss` without the gradient."""
    result = _elementwise(
        loss,
        x,
        target,
        form,
        ignore_index,
        label_smoothing,
        alpha,
        alpha_value,
        weight,
        pos_weight,
        gamma,
        gamma_value,
        gamma_schedule,
        param_names,
        params,
        weight_by_target,
        output=output,
        need_mass=need_mass,
        need_count=need_count,
        count_positives=count_positives,
        check_range=check_range,
    )
    flags = result.flags
    if flags is None:
        flags = torch.empty(0, dtype=torch.int32, device=x.device)
    if result.loss is None:  # pragma: no cover - output is "elements" or "partials"
        raise ValueError(f"output must be 'elements' or 'partials'; got {output!r}")
    return result.loss, flags


def _programs(x: Tensor) -> int:
    """The elementwise kernel's number of programs (:func:`.elementwise.programs_of`)."""
    return elementwise.programs_of(x.numel(), x.dtype, x.device)  # type: ignore[no-any-return]


@elementwise_forward.register_fake
def _(
    loss: str,
    x: Tensor,
    target: Tensor,
    form: str,
    ignore_index: int,
    label_smoothing: float,
    alpha: Tensor | None,
    alpha_value: float | None,
    weight: Tensor | None,
    pos_weight: Tensor | None,
    gamma: Tensor | None,
    gamma_value: float,
    gamma_schedule: str,
    param_names: str,
    params: list[float],
    weight_by_target: bool,
    output: str,
    need_mass: bool,
    need_count: bool,
    count_positives: bool,
    check_range: bool,
) -> tuple[Tensor, Tensor]:
    programs = _programs(x)
    if output == "partials":
        out = x.new_empty((3, programs), dtype=torch.float64)
    else:
        out = torch.empty_like(x)
    flags = x.new_empty((programs if check_range else 0,), dtype=torch.int32)
    return out, flags


@torch.library.custom_op("torchfocal::elementwise_backward", mutates_args=())
def elementwise_backward(
    loss: str,
    x: Tensor,
    target: Tensor,
    form: str,
    ignore_index: int,
    label_smoothing: float,
    alpha: Tensor | None,
    alpha_value: float | None,
    weight: Tensor | None,
    pos_weight: Tensor | None,
    gamma: Tensor | None,
    gamma_value: float,
    gamma_schedule: str,
    param_names: str,
    params: list[float],
    weight_by_target: bool,
    count_positives: bool,
    upstream: Tensor,
) -> Tensor:
    """dloss/dx times ``upstream`` (a 0-d tensor, or one value per element), in x's dtype:
    :func:`.elementwise.elementwise_loss` for the gradient alone."""
    grad = _elementwise(
        loss,
        x,
        target,
        form,
        ignore_index,
        label_smoothing,
        alpha,
        alpha_value,
        weight,
        pos_weight,
        gamma,
        gamma_value,
        gamma_schedule,
        param_names,
        params,
        weight_by_target,
        output="none",
        count_positives=count_positives,
        need_grad=True,
        upstream=upstream,
    ).grad
    if grad is None:  # pragma: no cover - need_grad=True always writes it
        raise ValueError("the kernel must write the gradient; got none")
    return grad


@elementwise_backward.register_fake
def _(
    loss: str,
    x: Tensor,
    target: Tensor,
    form: str,
    ignore_index: int,
    label_smoothing: float,
    alpha: Tensor | None,
    alpha_value: float | None,
    weight: Tensor | None,
    pos_weight: Tensor | None,
    gamma: Tensor | None,
    gamma_value: float,
    gamma_schedule: str,
    param_names: str,
    params: list[float],
    weight_by_target: bool,
    count_positives: bool,
    upstream: Tensor,
) -> Tensor:
    return torch.empty_like(x)


def _softmax_call(
    x: Tensor,
    index: Tensor | None,
    probabilities: Tensor | None,
    ignore_index: int,
    label_smoothing: float,
    gamma: Tensor | None,
    gamma_value: float,
    class_factor: Tensor | None,
    class_factor_value: float | None,
    adjust: str,
    adjust_values: Tensor | None,
    adjust_param_names: str,
    adjust_params: list[float],
) -> softmax.SoftmaxLaunch:
    return softmax.prepare(
        x,
        index=index,
        probabilities=probabilities,
        ignore_index=ignore_index,
        label_smoothing=label_smoothing,
        gamma=_number_or_tensor(gamma, gamma_value),  # type: ignore[arg-type]
        class_factor=_number_or_tensor(class_factor, class_factor_value),
        adjust=adjust,
        adjust_values=adjust_values,
        adjust_params=_named(adjust_param_names, adjust_params),
    )


@torch.library.custom_op("torchfocal::softmax_focal_forward", mutates_args=())
def softmax_focal_forward(
    x: Tensor,
    index: Tensor | None,
    probabilities: Tensor | None,
    ignore_index: int,
    label_smoothing: float,
    gamma: Tensor | None,
    gamma_value: float,
    class_factor: Tensor | None,
    class_factor_value: float | None,
    adjust: str,
    adjust_values: Tensor | None,
    adjust_param_names: str,
    adjust_params: list[float],
) -> tuple[Tensor, Tensor]:
    """The loss per location (outer, inner) and the row statistics (3 or 4, outer, inner:
    :func:`.softmax.stats_rows`) of logits x (outer, C, inner): :func:`.softmax.forward`."""
    call = _softmax_call(
        x,
        index,
        probabilities,
        ignore_index,
        label_smoothing,
        gamma,
        gamma_value,
        class_factor,
        class_factor_value,
        adjust,
        adjust_values,
        adjust_param_names,
        adjust_params,
    )
    return softmax.forward(call)


def _compute_dtype(x: Tensor) -> torch.dtype:
    return torch.float64 if x.dtype == torch.float64 else torch.float32


@softmax_focal_forward.register_fake
def _(
    x: Tensor,
    index: Tensor | None,
    probabilities: Tensor | None,
    ignore_index: int,
    label_smoothing: float,
    gamma: Tensor | None,
    gamma_value: float,
    class_factor: Tensor | None,
    class_factor_value: float | None,
    adjust: str,
    adjust_values: Tensor | None,
    adjust_param_names: str,
    adjust_params: list[float],
) -> tuple[Tensor, Tensor]:
    outer, _, inner = x.shape
    dtype = _compute_dtype(x)
    rows = softmax.stats_rows(adjust, index, label_smoothing)
    return x.new_empty((outer, inner), dtype=dtype), x.new_empty((rows, outer, inner), dtype=dtype)


@torch.library.custom_op("torchfocal::softmax_focal_backward", mutates_args=())
def softmax_focal_backward(
    x: Tensor,
    index: Tensor | None,
    probabilities: Tensor | None,
    ignore_index: int,
    label_smoothing: float,
    gamma: Tensor | None,
    gamma_value: float,
    class_factor: Tensor | None,
    class_factor_value: float | None,
    adjust: str,
    adjust_values: Tensor | None,
    adjust_param_names: str,
    adjust_params: list[float],
    stats: Tensor,
    upstream: Tensor,
) -> Tensor:
    """dloss/dx times ``upstream`` (0-d, or one value per location), in x's dtype and
    shape, from forward's statistics: :func:`.softmax.backward`."""
    call = _softmax_call(
        x,
        index,
        probabilities,
        ignore_index,
        label_smoothing,
        gamma,
        gamma_value,
        class_factor,
        class_factor_value,
        adjust,
        adjust_values,
        adjust_param_names,
        adjust_params,
    )
    return softmax.backward(call, stats, upstream)


@softmax_focal_backward.register_fake
def _(
    x: Tensor,
    index: Tensor | None,
    probabilities: Tensor | None,
    ignore_index: int,
    label_smoothing: float,
    gamma: Tensor | None,
    gamma_value: float,
    class_factor: Tensor | None,
    class_factor_value: float | None,
    adjust: str,
    adjust_values: Tensor | None,
    adjust_param_names: str,
    adjust_params: list[float],
    stats: Tensor,
    upstream: Tensor,
) -> Tensor:
    return torch.empty_like(x)


#: The ops' names (``torch.ops.torchfocal.<name>``).
OPS = (
    "elementwise_forward",
    "elementwise_backward",
    "softmax_focal_forward",
    "softmax_focal_backward",
)
