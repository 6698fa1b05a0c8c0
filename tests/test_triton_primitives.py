"""The accuracy that src/torchfocal/_triton/common.py claims for its short primitives, by a
scan under Triton's interpreter against NumPy's float64 functions.

The interpreter evaluates the same formulas as a GPU (exp2 and rsqrt correctly rounded,
where a GPU's MUFU instructions are within 2 ulp), so this holds each formula's own error
to its stated bound; the hardware's part is the ahead-of-time compile's business.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("triton")

import triton
import triton.language as tl

from torchfocal._engine import checks
from torchfocal._triton.common import log1p_unit

pytestmark = pytest.mark.skipif(
    not checks.triton_interpreted(), reason="the kernels run on CPU tensors only when interpreted"
)


@triton.jit
def _log1p_unit_kernel(e_ptr, out_ptr, n, HALF: tl.constexpr, BLOCK: tl.constexpr):
    offsets = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    in_range = offsets < n
    e = tl.load(e_ptr + offsets, mask=in_range, other=0.0)
    tl.store(out_ptr + offsets, log1p_unit(e, HALF), mask=in_range)


def _scan() -> np.ndarray:
    """e over (0, 1]: an even grid and a geometric one down to float32's smallest normal."""
    even = np.linspace(0.0, 1.0, 60001)[1:]
    geometric = np.geomspace(np.finfo(np.float32).tiny, 1.0, 4000)
    return np.concatenate([even, geometric]).astype(np.float32)


def _log1p_unit(e: torch.Tensor, half: bool) -> np.ndarray:
    out = torch.empty_like(e)
    block = 4096
    _log1p_unit_kernel[(triton.cdiv(e.numel(), block),)](e, out, e.numel(), HALF=half, BLOCK=block)
    return out.numpy().astype(np.float64)


def test_log1p_unit_float32_within_6_ulp() -> None:
    """5.2 ulp at worst by a scan of 420,000 points: the interpreter rounds every multiply
    and add (a GPU fuses them into multiply-adds, which round once)."""
    e = torch.from_numpy(_scan())
    exact = np.log1p(e.numpy().astype(np.float64))
    ulps = np.abs(_log1p_unit(e, False) - exact) / np.spacing(exact.astype(np.float32))
    assert ulps.max() <= 6.0, f"worst error {ulps.max():.2f} ulp at e={e[ulps.argmax()]}"


def test_log1p_unit_half_relative_error() -> None:
    """For float16 / bfloat16 results: the degree-4 polynomial's 5.7e-5 (float16's
    half-ulp is 4.9e-4)."""
    e = torch.from_numpy(_scan())
    exact = np.log1p(e.numpy().astype(np.float64))
    relative = np.abs(_log1p_unit(e, True) / exact - 1.0)
    assert relative.max() <= 5.7e-5, f"worst {relative.max():.3g} at e={e[relative.argmax()]}"


def test_log1p_unit_zero_and_nan() -> None:
    e = torch.tensor([0.0, float("nan")], dtype=torch.float32)
    for half in (False, True):
        out = torch.empty_like(e)
        _log1p_unit_kernel[(1,)](e, out, 2, HALF=half, BLOCK=2)
        assert out[0] == 0.0 and torch.isnan(out[1])
