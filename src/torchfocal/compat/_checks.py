"""Argument checks shared by the compat modules, built on :mod:`torchfocal._engine.checks`.

The compat entry points keep their peers' argument names (``pred``/``label``,
``pred``/``true``, ``input``/``target``, ``labels``/``logits``). These checks run before
the core is called and name those arguments, so that no message speaks of an argument the
caller never passed, and so that the code paths the core does not cover (soft targets of
Cui et al.'s code, TensorFlow's alpha) are held to the same rules as the core.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .._engine import checks as v


def compute_dtype(input: Tensor) -> torch.dtype:
    """float16 and bfloat16 are computed in float32 (sums and means too), like the core."""
    return torch.float32 if input.dtype in (torch.float16, torch.bfloat16) else input.dtype


def check_binary_target(name: str, target: object, *, input_name: str, input: Tensor) -> Tensor:
    """A target of the input's exact shape: float in [0, 1], bool, or integer 0/1.

    The peers all feed their target to ``binary_cross_entropy_with_logits`` (or TensorFlow's
    ``sigmoid_cross_entropy_with_logits``), which needs the input's shape; the core's
    class-index reading of a smaller integer target is not theirs, so it is refused here
    rather than silently reinterpreted.
    """
    checked = v.check_tensor(name, target)
    v.check_same_device(name, checked, input)
    v.check_same_shape(name, checked, input, input_name)
    if checked.dtype == torch.bool:
        return checked
    if v.is_integer_dtype(checked.dtype):
        ok = (checked == 0) | (checked == 1)
        v.require(
            ok,
            f"{name} must hold 0 or 1 when it is an integer tensor; got {{bad}}",
            lambda: str(checked[~ok][0].item()),
        )
        return checked
    if not checked.is_floating_point():
        raise TypeError(f"{name} must be a float, bool or integer tensor; got {checked.dtype}")
    # NaN fails both comparisons, so it is reported too (it would give a NaN loss).
    inside = (checked >= 0) & (checked <= 1)
    v.require(
        inside, f"{name} must hold values in [0, 1]; got {{bad}}", lambda: v.first(checked, inside)
    )
    return checked


def check_optional_tensor(name: str, value: object) -> Tensor | None:
    """``None`` or a real (floating-point or integer) tensor."""
    if value is None:
        return None
    tensor = v.check_tensor(name, value)
    if not (tensor.is_floating_point() or v.is_integer_dtype(tensor.dtype)):
        raise TypeError(f"{name} must be a floating-point or integer tensor; got {tensor.dtype}")
    return tensor


def check_number(name: str, value: object, expectation: str) -> float:
    """A finite real number (not a bool); ``expectation`` completes the TypeError message."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be {expectation}; got {type(value).__name__}")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{name} must be {expectation}; got {value!r}")
    return number
