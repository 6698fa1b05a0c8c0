"""What the Triton kernels share: the launch, float arguments at float64 precision, and log1p.

Every kernel is launched through :func:`launch`. It passes the compiler options explicitly
(Triton 3.9 warns, and 3.10 changes the default, when fp fusion is left unset), and it tells
a kernel that could not be compiled for the user's device or Triton version apart from every
other error: that one becomes a :class:`KernelCompileError` with the compiler's whole
message, which backend="auto" answers by running the fused backend instead
(:mod:`torchfocal._engine.triton_fallback`).

Triton passes a Python float to a kernel as a float32 (on the GPU and in the interpreter),
which would round alpha, gamma or a smoothing of a float64 loss to 7 digits. Each float goes
in as float32 high and low parts instead, whose sum keeps about 48 bits.

libdevice's log1p does not run in the interpreter, so the kernels write it from tl.log.
"""

from __future__ import annotations

import re
import struct
import types
from typing import Any

import torch
import triton
import triton.language as tl

from .._engine.triton_fallback import KernelCompileError, failed_kernel, record_failure

#: Files of Triton's compiler: an error raised from code in them is a compile error (MLIR
#: pass failures come as plain RuntimeErrors; ptxas failures as PTXASError). Not the rest
#: of a backend: its driver.py launches kernels, and a launch error is not a compile error.
_COMPILER_FILES = re.compile(r"/triton/(compiler/[^/]+|backends/[^/]+/compiler)\.py$")


def _is_compile_error(error: BaseException) -> bool:
    """Whether ``error`` came from compiling a kernel (front end, MLIR passes, ptxas, or a
    kernel too large for the device), not from running it."""
    # by name: the classes' modules differ between Triton versions (subclasses of
    # CompilationError, such as CompileTimeAssertionFailure, come from the compiler's frames)
    name = type(error).__name__
    if name in ("CompilationError", "PTXASError", "OutOfResources"):
        return True
    if name == "InterpreterError":
        return False
    frame: types.TracebackType | None = error.__traceback__
    while frame is not None:
        if _COMPILER_FILES.search(frame.tb_frame.f_code.co_filename.replace("\\", "/")):
            return True
        frame = frame.tb_next
    return False


def launch(kernel: Any, programs: int, device: torch.device, *args: Any, **options: Any) -> None:
    """``kernel[(programs,)](*args, **options)``, with fp fusion on (the compiled code's
    multiply-adds are what the kernels were written and measured with).

    A kernel that failed to compile on ``device`` before fails again at once, without
    another compile; a compile error becomes a :class:`KernelCompileError`.
    """
    name = kernel.fn.__name__
    failed_kernel(name, device)
    try:
        kernel[(programs,)](*args, enable_fp_fusion=True, **options)
    except Exception as error:
        if _is_compile_error(error):
            failure = KernelCompileError(name, device, error)
            record_failure(failure)
            raise failure from error
        raise


def float_parts(value: float) -> tuple[float, float]:
    """``value`` as float32 high and low parts (see :func:`scalar`)."""
    high: float = struct.unpack("f", struct.pack("f", value))[0]
    return high, value - high


@triton.jit
def scalar(high, low, COMPUTE: tl.constexpr):
    """A float passed as :func:`float_parts`, in the compute dtype."""
    return tl.cast(high, COMPUTE) + tl.cast(low, COMPUTE)


@triton.jit
def log1p(z):
    """log(1 + z) for z > -1, accurate for small z (Goldberg): with u = 1 + z rounded,
    log(u) * z / (u - 1) cancels the rounding of u; where u rounds to 1, log1p(z) = z."""
    u = 1.0 + z
    exact_one = u == 1.0
    return tl.where(
        exact_one, z, tl.log(tl.where(exact_one, 2.0, u)) * (z / tl.where(exact_one, 1.0, u - 1.0))
    )
