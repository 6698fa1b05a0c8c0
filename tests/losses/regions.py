"""Inputs and checks that the region (segmentation) losses' test modules share: Dice and
its relatives (test_dice.py), Dice + focal / CE (test_dice_focal.py), the unified focal
loss (test_unified_focal.py) and the Lovasz losses (test_lovasz.py).
"""

from __future__ import annotations

from typing import Any

import torch

import torchfocal
from conftest import tolerance
from torchfocal import reference

BACKENDS = ("naive", "fused")
TIGHT = tolerance(torch.float64)


def region_inputs(
    activation: str,
    form: str,
    shape: tuple[int, ...] = (3, 4, 5, 6),
    class_dim: int = 1,
    dtype: torch.dtype = torch.float64,
) -> tuple[torch.Tensor, torch.Tensor]:
    """An input of ``shape`` (classes along ``class_dim``) and a target of ``form``:
    "index" (some ignored), "dense" (soft masks), "mask" (bool)."""
    x = torch.randn(shape, dtype=torch.float64) * 2
    if activation == "none":
        x = torch.rand(shape, dtype=torch.float64)
    dim = class_dim % len(shape)
    classes = shape[dim]
    index_shape = shape[:dim] + shape[dim + 1 :]
    if form == "index":
        high = classes + (1 if activation == "sigmoid" else 0)
        target = torch.randint(0, high, index_shape)
        flat = target.view(-1)
        flat[:: max(len(flat) // 3, 1)] = -100
    elif form == "dense":
        target = torch.rand(shape, dtype=torch.float64)
    else:
        target = torch.rand(shape) > 0.6
    return x.to(dtype), target


def check_against_oracle(
    name: str, backend: str, x: torch.Tensor, target: torch.Tensor, **kwargs: Any
) -> None:
    leaf = x.detach().clone().requires_grad_(True)
    value = getattr(torchfocal, name)(leaf, target, backend=backend, **kwargs)
    upstream = torch.rand_like(value) + 0.5 if value.dim() else torch.tensor(1.7, dtype=x.dtype)
    value.backward(upstream)
    ref_kwargs = {k: (a.numpy() if isinstance(a, torch.Tensor) else a) for k, a in kwargs.items()}
    ref_value, ref_grad = getattr(reference, name)(
        x.detach().double().numpy(),
        target.numpy(),
        grad_output=upstream.double().numpy(),
        **ref_kwargs,
    )
    tol = tolerance(x.dtype)
    assert leaf.grad is not None
    torch.testing.assert_close(value, torch.as_tensor(ref_value, dtype=x.dtype), **tol)
    torch.testing.assert_close(leaf.grad, torch.as_tensor(ref_grad, dtype=x.dtype), **tol)


# -- checks that the combined losses' modules run on their own loss -------------------------


def check_combined_gradcheck_gradgradcheck_and_meta(name: str) -> None:
    x, target = region_inputs("softmax", "index", (2, 3, 4))
    for backend in BACKENDS:
        leaf = x.clone().requires_grad_(True)

        def f(z: torch.Tensor, b: str = backend) -> torch.Tensor:
            return getattr(torchfocal, name)(z, target, backend=b)

        assert torch.autograd.gradcheck(f, (leaf,), fast_mode=True)
        assert torch.autograd.gradgradcheck(f, (leaf,), fast_mode=True)
        meta = torch.empty(2, 3, 4, 5, device="meta", requires_grad=True)
        index = torch.empty(2, 4, 5, dtype=torch.long, device="meta")
        (grad,) = torch.autograd.grad(getattr(torchfocal, name)(meta, index, backend=backend), meta)
        assert grad.shape == meta.shape


def check_combined_all_ignored_and_dtypes(name: str) -> None:
    x = torch.randn(2, 3, 4, dtype=torch.float64, requires_grad=True)
    value = getattr(torchfocal, name)(x, torch.full((2, 4), -100))
    (grad,) = torch.autograd.grad(value, x)
    assert value.item() == 0.0 and torch.equal(grad, torch.zeros_like(grad))
    for dtype in (torch.float16, torch.bfloat16, torch.float32):
        x, target = region_inputs("softmax", "index", (2, 3, 4, 5), dtype=dtype)
        leaf = x.clone().requires_grad_(True)
        value = getattr(torchfocal, name)(leaf, target)
        value.backward()
        assert value.dtype == dtype and leaf.grad is not None and leaf.grad.dtype == dtype
        expected = getattr(torchfocal, name)(x.double(), target)
        torch.testing.assert_close(value.double(), expected, **tolerance(dtype))
