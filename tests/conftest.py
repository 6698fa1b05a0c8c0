"""Shared fixtures: every test starts from fixed RNG states."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch


@pytest.fixture(autouse=True)
def _seed_rngs() -> None:
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)


def tolerance(dtype: torch.dtype) -> dict[str, float]:
    """assert_close tolerances by dtype (kornia-style)."""
    return {
        torch.float64: {"rtol": 1e-10, "atol": 1e-12},
        torch.float32: {"rtol": 1e-5, "atol": 1e-6},
        torch.float16: {"rtol": 1e-2, "atol": 1e-3},
        torch.bfloat16: {"rtol": 2e-2, "atol": 1e-2},
    }[dtype]
