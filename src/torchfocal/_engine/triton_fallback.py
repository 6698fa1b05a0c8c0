"""What happens when a Triton kernel cannot be compiled on the user's device.

backend="auto" picks the Triton kernels for every CUDA tensor where Triton is importable,
and torch's CUDA wheels bring a Triton with them: a kernel that this Triton or this GPU
cannot compile must not crash a training run that never asked for Triton. So (DESIGN.md
section 4):

- the launch (:func:`torchfocal._triton.common.launch`) turns a compile error into a
  :class:`KernelCompileError` that carries the compiler's whole message, and remembers the
  kernel as failed on that device, so that a later launch fails at once instead of
  compiling again;
- every public loss function is wrapped by :func:`falls_back_to_fused`: with
  backend="auto" the error gives one warning (the kernel, the device and the first lines of
  the compiler's message) and the same call runs again on backend="fused", as does every
  later call that would launch that kernel on that device; with backend="triton" it
  propagates.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

import torch

from .numerics import is_compiling

#: Lines of the compiler's message that the warning quotes (the first ones and the last).
WARNING_LINES = 6

F = TypeVar("F", bound=Callable[..., Any])


class KernelCompileError(RuntimeError):
    """A Triton kernel could not be compiled for a device (the compiler's whole message)."""

    def __init__(self, kernel: str, device: torch.device | str, error: BaseException | str):
        self.kernel = kernel
        self.device = str(device)
        self.compiler_message = (
            error if isinstance(error, str) else f"{type(error).__name__}: {error}"
        )
        super().__init__(
            f"Triton could not compile the kernel {kernel} for device {self.device}:\n"
            f"{self.compiler_message}"
        )


#: (kernel, device) -> the compiler's message, for every kernel that failed to compile; and
#: the pairs already warned about.
_failed: dict[tuple[str, str], str] = {}
_warned: set[tuple[str, str]] = set()


def failed_kernel(kernel: str, device: torch.device | str) -> None:
    """Raise the :class:`KernelCompileError` of ``kernel`` on ``device`` again if it failed
    to compile there before (no second compile)."""
    message = _failed.get((kernel, str(device)))
    if message is not None:
        raise KernelCompileError(kernel, device, message)


def record_failure(error: KernelCompileError) -> None:
    _failed[(error.kernel, error.device)] = error.compiler_message


def _warn_once(error: KernelCompileError) -> None:
    key = (error.kernel, error.device)
    if key in _warned:
        return
    _warned.add(key)
    lines = error.compiler_message.strip().splitlines()
    # The first lines say where; a Triton front-end error says why on its last line.
    if len(lines) > WARNING_LINES:
        lines = [*lines[: WARNING_LINES - 1], "...", lines[-1]]
    head = "\n".join(lines)
    warnings.warn(
        f"torchfocal: the Triton kernel {error.kernel} does not compile on {error.device} "
        f"with this Triton; backend='auto' runs the fused backend instead for this and "
        f"every later call that needs it (backend='triton' shows the whole error). "
        f"The compiler said:\n{head}",
        RuntimeWarning,
        stacklevel=3,
    )


def falls_back_to_fused(function: F) -> F:
    """Wrap a public loss function: a :class:`KernelCompileError` under backend="auto"
    warns once and runs the same call on backend="fused"."""

    @functools.wraps(function)
    def call(*args: Any, **kwargs: Any) -> Any:
        if is_compiling():  # "auto" never picks Triton while tracing
            return function(*args, **kwargs)
        try:
            return function(*args, **kwargs)
        except KernelCompileError as error:
            if kwargs.get("backend", "auto") != "auto":
                raise
            _warn_once(error)
            return function(*args, **{**kwargs, "backend": "fused"})

    return call  # type: ignore[return-value]
