"""Argument and tensor checks shared by every public function.

Every check raises ``ValueError`` (bad value or shape) or ``TypeError`` (bad type or dtype)
with a message of the form ``<argument> must be <expectation>; got <what came>``.
Nothing here computes a loss; nothing here is called from the kernels.

Checks of values (a target in [0, 1], class indices in range) read tensor values. On a CPU
tensor that is free and they raise at once, with the offending value in the message. On any
other device a read would synchronise the host with the device on every call, so there they
are device-side asserts (``torch._assert_async``: the error surfaces at the next
synchronisation, without the value) unless eager checks are switched on
(:func:`set_eager_checks`, or the environment variable ``TORCHFOCAL_EAGER_CHECKS=1``) for
debugging. Meta tensors have no values and are not checked; under torch.compile value checks
are left out (a data-dependent branch would break the graph), and so are checks of a tensor
that a torch.func transform wraps (vmap refuses every read of a value, and
``torch._assert_async`` has no batching rule): check the values outside the transform.
"""

from __future__ import annotations

import functools
import importlib.metadata
import importlib.util
import math
import os
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, TypeAlias

import torch
from torch import Tensor

from .numerics import is_compiling, is_transformed, reads_values

_eager_checks = os.environ.get("TORCHFOCAL_EAGER_CHECKS", "0") not in ("", "0")


def set_eager_checks(enabled: bool) -> None:
    """Check values eagerly on every device (a host-device synchronisation per check).

    Off by default: on CPU tensors value checks are always eager; on other devices they are
    device-side asserts, whose error names no value and arrives at the next synchronisation.
    Turn this on (or set ``TORCHFOCAL_EAGER_CHECKS=1``) to get the CPU's messages on a GPU.
    """
    global _eager_checks
    _eager_checks = check_bool("enabled", enabled)


def eager_checks() -> bool:
    """Whether value checks are eager on every device (see :func:`set_eager_checks`)."""
    return _eager_checks


def require(ok: Tensor, message: str, bad: Callable[[], str] | None = None) -> None:
    """Raise ``ValueError(message)`` unless every element of ``ok`` is True.

    ``message`` may hold ``{bad}``, filled by ``bad()`` (the first offending value, read only
    once the check has failed). Where values cannot be read for free (see the module
    docstring) the check is a device-side assert, or nothing for meta tensors, tracing and
    transformed tensors.
    """
    if is_compiling() or ok.device.type == "meta" or is_transformed(ok):
        return
    if _reads_eagerly(ok.device):
        if not (ok.item() if ok.dim() == 0 else bool(ok.all())):
            raise ValueError(message.format(bad=bad() if bad is not None else "?"))
        return
    torch._assert_async(ok.all(), message.format(bad="a value out of range"))


def checks_in_kernel(device: torch.device) -> bool:
    """Whether a Triton kernel on ``device`` checks its own operands' values (as a flag that
    a device-side assert reads) instead of a pass of torch ops before it: wherever value
    checks do not read eagerly."""
    return not _reads_eagerly(device)


def _reads_eagerly(device: torch.device) -> bool:
    """Value checks read values on CPU tensors, and everywhere with eager checks on."""
    return device.type == "cpu" or _eager_checks


def reads_flags(tensor: Tensor) -> bool:
    """Whether a Python decision may read ``tensor``'s values (e.g. "is anything ignored?"):
    only where that is free, CPU tensors outside tracing. Elsewhere the caller takes the form
    that holds either way."""
    return reads_values(tensor)


#: What users may pass where C per-class values are accepted.
ClassValues = float | Sequence[float] | Tensor

# Class counts or frequencies, one per class, in any container (torchfocal.weighting's and
# the class-balanced module's). NumPy is optional: its arrays and scalars are accepted
# without importing it. Type checkers see them in Counts; at runtime the alias names only
# what is always there, so that typing.get_type_hints (LightningCLI, jsonargparse) resolves
# it without NumPy.
if TYPE_CHECKING:
    import numpy

    Counts: TypeAlias = Sequence[float] | Tensor | numpy.ndarray
else:
    Counts = Sequence[float] | Tensor

BACKENDS = ("auto", "naive", "fused", "compiled", "triton")
#: Reductions of the elementwise (sigmoid-form) losses, and of the others.
SIGMOID_REDUCTIONS = ("none", "mean", "sum", "positives")
REDUCTIONS = ("none", "mean", "sum")


def shape_str(shape: Sequence[int]) -> str:
    """Render a shape as ``(4, 80)``; a 1-tuple keeps its trailing comma, like Python."""
    return str(tuple(int(s) for s in shape))


def check_tensor(name: str, value: object) -> Tensor:
    if not isinstance(value, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor; got {type(value).__name__}")
    return value


def check_same_shape(name: str, tensor: Tensor, input: Tensor, input_name: str = "input") -> None:
    if tensor.shape != input.shape:
        raise ValueError(
            f"{name} must have the shape of {input_name} {shape_str(input.shape)}; "
            f"got {shape_str(tensor.shape)}"
        )


def check_float_input(name: str, value: object) -> Tensor:
    tensor = check_tensor(name, value)
    if not tensor.is_floating_point():
        raise TypeError(
            f"{name} must be a floating-point tensor (float16, bfloat16, float32 or float64); "
            f"got {tensor.dtype}"
        )
    return tensor


def check_same_device(name: str, tensor: Tensor, reference: Tensor) -> None:
    if tensor.device != reference.device:
        raise ValueError(
            f"{name} must be on the input's device {reference.device}; got {tensor.device}"
        )


def check_gamma(gamma: object) -> float:
    if isinstance(gamma, bool) or not isinstance(gamma, (int, float)):
        raise TypeError(f"gamma must be a non-negative float; got {type(gamma).__name__}")
    value = float(gamma)
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"gamma must be a finite non-negative float; got {gamma!r}")
    return value


#: A focusing parameter: a number, a named schedule, or a function of the probability.
GammaSpec = float | str | Callable[[Tensor], Tensor | float]

#: Named sample-dependent gammas.
GAMMA_SCHEDULES = ("flsd53",)


def check_gamma_spec(gamma: object) -> GammaSpec:
    """A float gamma, ``"flsd53"``, or a callable p -> gamma (sample-dependent gamma)."""
    if isinstance(gamma, str):
        if gamma not in GAMMA_SCHEDULES:
            options = " | ".join(repr(name) for name in GAMMA_SCHEDULES)
            raise ValueError(
                f"gamma must be a non-negative float, {options} or a callable; got {gamma!r}"
            )
        return gamma
    if callable(gamma) and not isinstance(gamma, (int, float)):
        return gamma  # type: ignore[return-value]
    return check_gamma(gamma)


def check_gamma_values(values: object, probabilities: Tensor) -> Tensor:
    """The result of a callable gamma: finite, >= 0, broadcasting to the probabilities."""
    if isinstance(values, (int, float)) and not isinstance(values, bool):
        values = torch.tensor(check_gamma(values), device=probabilities.device)
    if not isinstance(values, Tensor) or not values.is_floating_point():
        got = values.dtype if isinstance(values, Tensor) else type(values).__name__
        raise TypeError(f"gamma(p) must return a float tensor or a float; got {got}")
    check_same_device("gamma(p)", values, probabilities)
    broadcast_to_input("gamma(p)", values, probabilities.shape)
    ok = torch.isfinite(values) & (values >= 0)
    require(ok, "gamma(p) must return finite values >= 0; got {bad}", lambda: first(values, ok))
    return values.to(probabilities.dtype)


def flsd53(probability: Tensor) -> Tensor:
    """Mukhoti et al.'s FLSD-53: gamma 5 where the probability is below 0.2, else 3."""
    return torch.where(probability < 0.2, 5.0, 3.0)


def gamma_schedule(gamma: GammaSpec, probability: Tensor) -> Tensor:
    """The per-element gamma of a schedule, from the (detached) probabilities."""
    schedule = flsd53 if gamma == "flsd53" else gamma
    return check_gamma_values(schedule(probability), probability)  # type: ignore[operator]


def check_star_gamma(gamma: object) -> float:
    """FL*'s gamma: > 0, since the loss divides by it."""
    value = check_gamma(gamma)
    if value == 0.0:
        raise ValueError("gamma must be > 0 for FL* (the loss divides by gamma); got 0.0")
    return value


def check_quality_beta(beta: object) -> float:
    """QFL's beta: 0 or >= 1 (for 0 < beta < 1 the gradient is unbounded at p = q)."""
    value = check_scalar_in("beta", beta, 0.0, math.inf)
    if 0.0 < value < 1.0:
        raise ValueError(
            f"beta must be 0 or >= 1 (for 0 < beta < 1 the gradient of |q - p|^beta is "
            f"unbounded at p = q); got {beta!r}"
        )
    return value


def check_bool(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool; got {type(value).__name__}")
    return value


ACTIVATIONS = ("sigmoid", "softmax")


def check_activation(activation: object) -> str:
    if not isinstance(activation, str) or activation not in ACTIVATIONS:
        raise ValueError(f"activation must be 'sigmoid' | 'softmax'; got {activation!r}")
    return activation


def check_scalar_in(
    name: str, value: object, low: float, high: float, *, high_inclusive: bool = True
) -> float:
    """A real number in [low, high] (or [low, high) when ``high_inclusive`` is False)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a float; got {type(value).__name__}")
    number = float(value)
    upper_ok = number <= high if high_inclusive else number < high
    if not (math.isfinite(number) and number >= low and upper_ok):
        bracket = "]" if high_inclusive else ")"
        raise ValueError(f"{name} must be in [{low:g}, {high:g}{bracket}; got {value!r}")
    return number


def check_reduction(reduction: object, allowed: Sequence[str]) -> str:
    if not isinstance(reduction, str) or reduction not in allowed:
        options = " | ".join(repr(a) for a in allowed)
        raise ValueError(f"reduction must be one of {options}; got {reduction!r}")
    return reduction


def check_backend(backend: object, allowed: Sequence[str] = BACKENDS) -> str:
    if not isinstance(backend, str) or backend not in allowed:
        options = " | ".join(repr(b) for b in allowed)
        raise ValueError(f"backend must be one of {options}; got {backend!r}")
    return backend


def check_avg_factor(avg_factor: object, reduction: str) -> float | Tensor | None:
    if avg_factor is None:
        return None
    if reduction != "mean":
        raise ValueError(
            f"avg_factor must be None unless reduction='mean'; got avg_factor={avg_factor!r} "
            f"with reduction={reduction!r}"
        )
    if isinstance(avg_factor, Tensor):
        if avg_factor.numel() != 1:
            raise ValueError(
                f"avg_factor must be a positive number or a one-element tensor; "
                f"got a tensor of shape {shape_str(avg_factor.shape)}"
            )
        require(
            avg_factor.detach() > 0,
            "avg_factor must be > 0; got {bad}",
            lambda: f"{float(avg_factor):g}",  # type: ignore[arg-type]
        )
        return avg_factor.reshape(())
    if isinstance(avg_factor, bool) or not isinstance(avg_factor, (int, float)):
        raise TypeError(f"avg_factor must be a positive number; got {type(avg_factor).__name__}")
    # Two comparisons, not math.isfinite: under torch.compile with a dynamic batch size a
    # count such as float(N) is symbolic, and a comparison of it is a guard where
    # math.isfinite breaks the graph. NaN, -inf, 0 and inf all fail one of them.
    if not (0 < avg_factor < math.inf):
        raise ValueError(f"avg_factor must be a finite number > 0; got {avg_factor!r}")
    return float(avg_factor)


def check_distributed(distributed: object, reduction: str) -> bool:
    """``distributed`` is a bool, and True only with ``reduction="positives"`` (the one
    normaliser that is averaged over the process group)."""
    if check_bool("distributed", distributed) and reduction != "positives":
        raise ValueError(
            f"distributed must be False unless reduction='positives'; got distributed=True "
            f"with reduction={reduction!r}"
        )
    return bool(distributed)


def normalize_dim(name: str, dim: object, ndim: int) -> int:
    if isinstance(dim, bool) or not isinstance(dim, int):
        raise TypeError(f"{name} must be an int; got {type(dim).__name__}")
    if ndim == 0 or not -ndim <= dim < ndim:
        raise ValueError(
            f"{name} must be a dimension of the input (in [{-ndim}, {ndim - 1}]); "
            f"got {dim} for an input with {ndim} dimensions"
        )
    return dim % ndim


def class_shape(ndim: int, class_dim: int, num_classes: int) -> list[int]:
    """The shape that lines a length-C vector up with ``class_dim`` of an ``ndim`` input."""
    shape = [1] * ndim
    shape[class_dim] = num_classes
    return shape


def class_values(
    name: str,
    value: ClassValues,
    *,
    num_classes: int,
    class_dim: int,
    input: Tensor,
    dtype: torch.dtype,
    low: float,
    high: float,
) -> Tensor:
    """Per-class values (a sequence or a 1-D tensor of length C) lined up with ``class_dim``.

    Returns a ``dtype`` tensor on the input's device, shaped to broadcast against the input.
    """
    if isinstance(value, Tensor):
        tensor = value
        if not (tensor.is_floating_point() or tensor.dtype in _INTEGER_DTYPES):
            raise TypeError(f"{name} must be a real tensor; got {tensor.dtype}")
        check_same_device(name, tensor, input)
    else:
        try:
            tensor = torch.as_tensor(value, dtype=torch.float64)
        except (TypeError, ValueError, RuntimeError):
            raise TypeError(
                f"{name} must be a float or a sequence of {num_classes} floats; "
                f"got {type(value).__name__}"
            ) from None
    if tensor.dim() != 1 or tensor.numel() != num_classes:
        raise ValueError(
            f"{name} must have one value per class ({num_classes} along class_dim={class_dim}); "
            f"got shape {shape_str(tensor.shape)}"
        )
    tensor = tensor.to(device=input.device, dtype=dtype)
    inside = (tensor >= low) & (tensor <= high)
    require(
        inside,
        f"{name} must hold values in [{low:g}, {high:g}]; got {{bad}}",
        lambda: f"{tensor[~inside][0].item():g}",
    )
    return tensor.reshape(class_shape(input.dim(), class_dim, num_classes))


def broadcast_to_input(name: str, value: Tensor, input_shape: torch.Size) -> Tensor:
    """Check that ``value`` broadcasts to the input's shape without growing it."""
    try:
        result = torch.broadcast_shapes(value.shape, input_shape)
    except RuntimeError:
        result = None
    if result != input_shape:
        raise ValueError(
            f"{name} must broadcast to the input's shape {shape_str(input_shape)}; "
            f"got shape {shape_str(value.shape)}"
        )
    return value


_INTEGER_DTYPES = (torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64)


def is_integer_dtype(dtype: torch.dtype) -> bool:
    return dtype in _INTEGER_DTYPES


def check_class_indices(
    index: Tensor, ignored: Tensor, *, largest: int, ignore_index: int, background: bool = False
) -> None:
    """Every index not ignored lies in [0, largest]; ``background`` names the last one."""
    ok = ((index >= 0) & (index <= largest)) | ignored
    note = f" ({largest} = background)" if background else ""
    require(
        ok,
        f"target class indices must be in [0, {largest}]{note} or "
        f"ignore_index={ignore_index}; got {{bad}}",
        lambda: str(index[~ok][0].item()),
    )


def first(values: Tensor, ok: Tensor) -> str:
    """The first value where ``ok`` is False, as ``repr`` shows it (for messages)."""
    return repr(values[~ok.expand_as(values)][0].item())


def compute_dtype(input: Tensor) -> torch.dtype:
    """float16 and bfloat16 are computed in float32 and returned in their own dtype."""
    return torch.float32 if input.dtype in (torch.float16, torch.bfloat16) else input.dtype


def resolve_backend(backend: object, input: Tensor, *, has_triton: bool = True) -> str:
    """A checked backend for ``input``: "auto" is triton for CUDA tensors where Triton is
    installed (and the loss has a Triton kernel), else the eager fused backend; it never
    compiles (no compile latency), and under torch.func transforms it is the fused backend.
    "triton" is checked by :func:`check_triton`."""
    checked = check_backend(backend)
    if checked == "auto":
        return "triton" if has_triton and auto_picks_triton(input) else "fused"
    if checked == "triton":
        check_triton(input, has_triton)
    return checked


def refuse_transforms(loss: str, *tensors: object) -> None:
    """A ValueError for a loss that has no torch.func support (yet), under a transform."""
    if any(isinstance(t, Tensor) and is_transformed(t) for t in tensors):
        raise ValueError(
            f"{loss} does not support torch.func transforms (grad, vmap, jacrev) yet: call it "
            "outside the transform; got a transformed input or target"
        )


def auto_picks_triton(input: Tensor) -> bool:
    """Whether backend="auto" runs ``input`` on the Triton kernels: a CUDA tensor, Triton
    installed, not while torch.compile traces nor under a torch.func transform. (A kernel
    that then fails to compile falls back to "fused": :mod:`torchfocal._engine.triton_fallback`.)"""
    return (
        input.device.type == "cuda"
        and triton_installed()
        and not is_compiling()
        and not is_transformed(input)
    )


@functools.cache
def triton_installed() -> bool:
    """Whether a Triton the kernels support, 3.0 or later (the triton extra's floor), can be
    imported (it is not imported here). torch 2.2's CUDA wheels pin triton 2.2, whose
    language the kernels do not use: there, "auto" keeps to the fused backend."""
    if importlib.util.find_spec("triton") is None:
        return False
    try:
        version = importlib.metadata.version("triton")
    except importlib.metadata.PackageNotFoundError:  # a triton of another distribution
        return True
    return int(version.split(".")[0]) >= 3


def triton_interpreted() -> bool:
    """Whether Triton kernels run through its interpreter (TRITON_INTERPRET=1), which runs
    them on CPU tensors: how the tests run every kernel without a GPU."""
    return os.environ.get("TRITON_INTERPRET", "0") not in ("", "0")


def check_triton(input: Tensor, has_triton: bool = True) -> None:
    """backend="triton": a loss with a Triton kernel, Triton installed, and a CUDA tensor (or
    a CPU tensor under the interpreter)."""
    if not has_triton:
        raise ValueError(
            "backend must be 'auto', 'naive', 'fused' or 'compiled' for this loss (this form "
            "of it has no Triton kernel); got 'triton'"
        )
    if not triton_installed():
        raise ValueError(
            "backend='triton' needs the triton package, 3.0 or later (pip install triton, or "
            "pip install -e '.[triton]' in torchfocal's checkout); "
            "got backend='triton' without triton installed"
        )
    if is_transformed(input):
        raise ValueError(
            "backend must be 'auto', 'naive', 'fused' or 'compiled' under torch.func transforms "
            "(vmap, grad, jacrev: Triton kernels have no batching rule and no forward-mode "
            "form); got 'triton'"
        )
    device = input.device.type
    if device == "cuda" or (device == "cpu" and triton_interpreted()):
        return
    where = " (CPU tensors run only under TRITON_INTERPRET=1, Triton's interpreter)"
    raise ValueError(
        f"input must be a CUDA tensor for backend='triton'{where if device == 'cpu' else ''}; "
        f"got a {device} tensor"
    )


def check_pair(input: object, target: object) -> tuple[Tensor, Tensor]:
    """A float input and a target tensor on its device."""
    checked_input = check_float_input("input", input)
    checked_target = check_tensor("target", target)
    check_same_device("target", checked_target, checked_input)
    return checked_input, checked_target


def check_ignore_index(ignore_index: object) -> int:
    if isinstance(ignore_index, bool) or not isinstance(ignore_index, int):
        raise TypeError(f"ignore_index must be an int; got {type(ignore_index).__name__}")
    return ignore_index


def check_label_smoothing(label_smoothing: object) -> float:
    return check_scalar_in("label_smoothing", label_smoothing, 0.0, 1.0, high_inclusive=False)


def check_class_weight_tensor(
    name: str,
    value: object,
    *,
    num_classes: int,
    class_dim: int,
    input: Tensor,
    dtype: torch.dtype,
    high: float,
) -> Tensor:
    """C per-class values (no single number: a number is no class weight)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        raise TypeError(f"{name} must be a sequence or tensor of {num_classes} values; got float")
    return class_values(
        name,
        value,  # type: ignore[arg-type]
        num_classes=num_classes,
        class_dim=class_dim,
        input=input,
        dtype=dtype,
        low=0.0,
        high=high,
    )


def check_positive_scalar(name: str, value: object) -> float:
    """A finite real number > 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a float; got {type(value).__name__}")
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a finite number > 0; got {value!r}")
    return float(value)


def check_positive_class_values(name: str, value: object) -> Tensor:
    """Finite positive numbers, one per class (class counts or frequencies): a non-empty 1-D
    real tensor, kept as it is, or a sequence of numbers, made a float64 CPU tensor.

    The values are checked as :func:`require` checks them (eagerly on CPU tensors, a
    device-side assert elsewhere); :func:`positive_class_values` also checks them against
    an input.
    """
    expected = f"{name} must be a tensor or a sequence of positive numbers"
    if isinstance(value, Tensor):
        if not (value.is_floating_point() or value.dtype in _INTEGER_DTYPES):
            raise TypeError(f"{expected}; got a tensor of {value.dtype}")
        tensor = value
    else:
        try:
            tensor = torch.as_tensor(value, dtype=torch.float64, device="cpu")
        except (TypeError, ValueError, RuntimeError):
            raise TypeError(f"{expected}; got {type(value).__name__}") from None
    if tensor.dim() != 1 or tensor.numel() == 0:
        raise ValueError(
            f"{name} must hold one value per class (a non-empty 1-D sequence); "
            f"got shape {shape_str(tensor.shape)}"
        )
    ok = torch.isfinite(tensor) & (tensor > 0)

    def bad() -> str:
        index = int((~ok).nonzero()[0, 0])
        return f"{tensor[index].item()!r} for class {index}"

    require(ok, f"{name} must be finite and > 0 for every class; got {{bad}}", bad)
    return tensor


def positive_class_values(
    name: str, value: object, *, num_classes: int, class_dim: int, input: Tensor
) -> Tensor:
    """:func:`check_positive_class_values`, a tensor on the input's device, and C of them."""
    tensor = check_positive_class_values(name, value)
    if isinstance(value, Tensor):
        check_same_device(name, tensor, input)
    if tensor.numel() != num_classes:
        raise ValueError(
            f"{name} must have one value per class ({num_classes} along class_dim={class_dim}); "
            f"got {tensor.numel()} values"
        )
    return tensor
