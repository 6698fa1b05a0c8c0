"""Shared fixtures: every test starts from fixed RNG states; Triton kernels run through
Triton's interpreter (on CPU tensors), set before anything imports triton."""

from __future__ import annotations

import os

os.environ.setdefault("TRITON_INTERPRET", "1")

import random
from typing import Any

import numpy as np
import pytest
import torch

import torchfocal
from torchfocal import reference


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


def function_name(loss: str) -> str:
    return f"{loss}_focal_loss" if loss in ("sigmoid", "softmax") else loss


def run_loss(
    loss: str,
    backend: str,
    x: torch.Tensor,
    target: torch.Tensor,
    grad_output: torch.Tensor | None = None,
    **kwargs: Any,
) -> tuple[torch.Tensor, torch.Tensor]:
    """A torchfocal loss and its input gradient (upstream ``grad_output``).

    ``loss`` is a public function's name, or "sigmoid" / "softmax" for their focal losses.
    """
    x = x.detach().clone().requires_grad_(True)
    value = getattr(torchfocal, function_name(loss))(x, target, backend=backend, **kwargs)
    value.backward(torch.ones_like(value) if grad_output is None else grad_output)
    assert x.grad is not None
    return value.detach(), x.grad


def check_against_reference(
    loss: str,
    backend: str,
    x: torch.Tensor,
    target: torch.Tensor,
    grad_output: torch.Tensor | None = None,
    **kwargs: Any,
) -> None:
    """The torch loss and gradient equal the NumPy reference within the dtype's tolerance."""
    value, grad = run_loss(loss, backend, x, target, grad_output, **kwargs)
    ref_kwargs = {
        k: (val.numpy() if isinstance(val, torch.Tensor) else val) for k, val in kwargs.items()
    }
    upstream = None if grad_output is None else grad_output.numpy()
    ref_value, ref_grad = getattr(reference, function_name(loss))(
        x.detach().double().numpy(), target.numpy(), grad_output=upstream, **ref_kwargs
    )
    tol = tolerance(x.dtype)
    torch.testing.assert_close(value, torch.as_tensor(ref_value, dtype=x.dtype), **tol)
    torch.testing.assert_close(grad, torch.as_tensor(ref_grad, dtype=x.dtype), **tol)


@pytest.fixture
def no_host_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run the test as torchfocal runs on a GPU, where reading a tensor's value on the host
    is a synchronisation with the device: the checks and the engine take their device-side
    forms (as for any non-CPU tensor), and every way Python reads a value out of a tensor
    raises. A call that passes under this fixture makes no host synchronisation of its own
    (what runs on a GPU is the same code, minus the interpreter)."""
    from torchfocal._engine import autograd, checks, numerics

    monkeypatch.setattr(checks, "_reads_eagerly", lambda device: False)
    for module in (checks, numerics, autograd):
        monkeypatch.setattr(module, "reads_values", lambda tensor: False)

    def host_read(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a tensor's value was read on the host (a synchronisation)")

    for name in ("item", "tolist", "__bool__", "__float__", "__int__", "__index__"):
        monkeypatch.setattr(torch.Tensor, name, host_read)
