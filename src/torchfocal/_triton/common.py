"""What the Triton kernels share: float arguments at float64 precision, and log1p.

Triton passes a Python float to a kernel as a float32 (on the GPU and in the interpreter),
which would round alpha, gamma or a smoothing of a float64 loss to 7 digits. Each float goes
in as float32 high and low parts instead, whose sum keeps about 48 bits.

libdevice's log1p does not run in the interpreter, so the kernels write it from tl.log.
"""

from __future__ import annotations

import struct

import triton
import triton.language as tl


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
