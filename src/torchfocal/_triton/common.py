"""What the Triton kernels share: the launch, float arguments at float64 precision, and the
cheap exact-enough primitives their math is built from.

Every kernel is launched through :func:`launch`. It passes the compiler options explicitly
(Triton 3.9 warns, and 3.10 changes the default, when fp fusion is left unset), and it tells
a kernel that could not be compiled for the user's device or Triton version apart from every
other error: that one becomes a :class:`KernelCompileError` with the compiler's whole
message, which backend="auto" answers by running the fused backend instead
(:mod:`torchfocal._engine.triton_fallback`).

Triton passes a Python float to a kernel as a float32 (on the GPU and in the interpreter),
which would round alpha, gamma or a smoothing of a float64 loss to 7 digits. Each float goes
in as float32 high and low parts instead, whose sum keeps about 48 bits.

The primitives. A float32 kernel is bound by the instructions it issues per element as much
as by its bytes (benchmarks/gpu_model.py counts both from the compiled code), and Triton's
general functions are long: on sm_90, tl.log is 26 SASS instructions (libdevice's logf, its
full range and denormal handling), ``1.0 / v`` 8 (div.full.f32 with range fix-ups), tl.exp 5,
where tl.exp2 and tl.math.rsqrt are one MUFU instruction each. The kernels' arguments have
known ranges, so each primitive below takes the short road that its range allows, in float32
and float16/bfloat16 (computed in float32); float64 keeps Triton's exact functions. libdevice
does not run in the interpreter, so nothing here uses it: the interpreter runs the same
formulas with NumPy's correctly rounded exp2 and rsqrt.
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


#: log2(e), for exp(-a) = exp2(-a log2(e)).
LOG2E: tl.constexpr = tl.constexpr(1.4426950408889634)
# log1p(e) = 2 atanh(s) = s (2 + w R(w)), s = e / (2 + e) in [0, 1/3], w = s^2 in [0, 1/9]:
# R a degree-3 fit of 2 (atanh(s) - s) / (s w) = 2/3 + 2w/5 + 2w^2/7 + ... (least squares in
# relative error at Chebyshev nodes: 4.1e-7 relative on R, which w <= 1/9 shrinks to 5e-8 on
# log1p; evaluated in float32 the whole log1p is within 5.2 ulp of the exact value for every
# normal e in (0, 1], by a scan of 420,000 points against NumPy's float64 log1p under the
# interpreter, which rounds each multiply and add: tests/test_triton_primitives.py).
_LOG1P_R0: tl.constexpr = tl.constexpr(2 * 0.3333332031249587)
_LOG1P_R1: tl.constexpr = tl.constexpr(2 * 0.2000375761661048)
_LOG1P_R2: tl.constexpr = tl.constexpr(2 * 0.1411885350341005)
_LOG1P_R3: tl.constexpr = tl.constexpr(2 * 0.13422492597956348)
# For float16 / bfloat16 inputs, whose results are rounded to 2^-11 / 2^-8, no reciprocal:
# log1p(e) = e P(e), P a degree-4 fit of log1p(e) / e on [0, 1] (iteratively reweighted least
# squares in relative error at Chebyshev nodes): 5.7e-5 relative on log1p, evaluated in
# float32, by the same scan (8.6 times under
# float16's half-ulp 4.9e-4); five multiply-adds and a multiply, where the atanh series takes
# a MUFU.RSQ, its fix-ups and the series (eight instructions).
_LOG1P_HALF_P0: tl.constexpr = tl.constexpr(0.9999432739466574)
_LOG1P_HALF_P1: tl.constexpr = tl.constexpr(-0.4969776803418614)
_LOG1P_HALF_P2: tl.constexpr = tl.constexpr(0.3063003111364694)
_LOG1P_HALF_P3: tl.constexpr = tl.constexpr(-0.15742622475814036)
_LOG1P_HALF_P4: tl.constexpr = tl.constexpr(0.04134681365034121)


@triton.jit
def exp_neg(a):
    """exp(-a) for a >= 0 (+inf gives 0, NaN stays NaN). float32: exp2(-a log2(e)), one
    multiply and one MUFU.EX2 (no overflow fix-up is needed for a >= 0; a result below
    2^-126 flushes to 0 on the GPU)."""
    if a.dtype == tl.float64:
        return tl.exp(-a)
    else:
        return tl.exp2(a * -LOG2E)


@triton.jit
def exp_neg_product(a, k):
    """exp(-k a) for k a >= 0; float32: exp2(a (k (-log2(e)))), where k (-log2(e)) is one
    multiply per launch for a scalar k (exp_neg(k * a) would be two per element)."""
    if a.dtype == tl.float64:
        return tl.exp(-(k * a))
    else:
        return tl.exp2(a * (k * -LOG2E))


@triton.jit
def reciprocal(v):
    """1 / v for a positive, finite, normal v. float32: rsqrt(v)^2, one MUFU.RSQ and a
    multiply (about 2 ulp; div.full.f32, also 2 ulp, is 8 instructions of fix-ups for
    ranges these arguments never reach)."""
    if v.dtype == tl.float64:
        return 1.0 / v
    else:
        root = tl.math.rsqrt(v)
        return root * root


@triton.jit
def log1p_unit(e, HALF: tl.constexpr):
    """log(1 + e) for e in [0, 1], accurate to a few ulp relative for every e (float32:
    the atanh series above, no log at all; ``HALF``, for float16 / bfloat16 results: a
    polynomial, to 5.7e-5; float64: :func:`log1p` from tl.log)."""
    if e.dtype == tl.float64:
        return log1p(e)
    else:
        if HALF:
            poly = ((_LOG1P_HALF_P4 * e + _LOG1P_HALF_P3) * e + _LOG1P_HALF_P2) * e
            return e * ((poly + _LOG1P_HALF_P1) * e + _LOG1P_HALF_P0)
        else:
            s = e * reciprocal(2.0 + e)
            w = s * s
            series = ((_LOG1P_R3 * w + _LOG1P_R2) * w + _LOG1P_R1) * w + _LOG1P_R0
            return s * (series * w + 2.0)


@triton.jit
def sigmoid_parts(x, HALF: tl.constexpr):
    """(softplus(-x), softplus(x), p, 1 - p) of p = sigmoid(x): -log p, -log(1 - p) and
    the two probabilities, from one e = exp(-|x|) and t = log1p(e):
    softplus(+-x) = t + relu(+-x), and p, 1 - p = 1 / (1 + e), e / (1 + e) (which is
    which by the sign of x). All four are finite for every finite x, +-inf included where
    the limit is finite (softplus(-inf) = 0, sigmoid(+-inf) = 1 or 0), and NaN for a NaN
    x. About 20 instructions in float32. ``HALF``: for float16 / bfloat16 results
    (:func:`log1p_unit`; the probabilities from the softplus values, no reciprocal)."""
    positive = x >= 0
    e = exp_neg(tl.abs(x))
    t = log1p_unit(e, HALF)
    softplus_neg = tl.where(positive, t, t - x)
    softplus_pos = tl.where(positive, t + x, t)
    if HALF:
        # p = exp(-softplus(-x)), 1 - p = exp(-softplus(x)): two multiplies and two MUFU.EX2
        # for the reciprocal's six instructions. A softplus off by delta gives p off by
        # delta relative: t's 5.7e-5 relative (t <= log 2) plus the rounding of t + |x|,
        # under 4e-5 + 6e-8 |x|: 4.6e-5 where the smaller probability is a normal float32
        # (|x| < 87), 10 times under float16's half-ulp.
        p = exp_neg(softplus_neg)
        one_minus_p = exp_neg(softplus_pos)
    else:
        r = reciprocal(1.0 + e)
        e_r = e * r
        p = tl.where(positive, r, e_r)
        one_minus_p = tl.where(positive, e_r, r)
    return softplus_neg, softplus_pos, p, one_minus_p
