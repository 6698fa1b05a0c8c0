"""The fused kernels work block by block: results must not depend on the block size."""

from __future__ import annotations

from typing import Any

import pytest
import torch

import torchfocal
from torchfocal._engine import runners


@pytest.mark.parametrize("shape", [(2, 4, 7, 9), (50, 6), (600,), (3, 5, 2)])
@pytest.mark.parametrize("block", [1, 7, 97, 10_000])
def test_blocks_cover_every_element_once(shape: tuple[int, ...], block: int) -> None:
    counts = torch.zeros(shape)
    for index in runners.blocks(torch.Size(shape), block):
        counts[index] += 1
    assert bool((counts == 1).all())


@pytest.mark.parametrize("block", [5, 97, 1000])
@pytest.mark.parametrize(
    "case",
    ["soft", "binary_float", "bool_weights", "index_ignore", "mixed_blocks", "one_dim"],
)
@pytest.mark.parametrize("reduction", ["none", "mean", "positives"])
def test_fused_blocks_equal_naive(
    block: int, case: str, reduction: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runners, "BLOCK_ELEMENTS", block)
    monkeypatch.setattr(runners, "BLOCK_THRESHOLD", 0)
    monkeypatch.setattr(runners, "LARGE_ABOVE", 1 << 30)
    shape: tuple[int, ...] = (4, 6, 5, 7) if case != "one_dim" else (3000,)
    x = torch.randn(shape, dtype=torch.float64) * 4
    options: dict[str, Any] = {"gamma": 1.5, "reduction": reduction}
    if case == "soft":
        target: torch.Tensor = torch.rand(shape, dtype=torch.float64)
    elif case in ("binary_float", "one_dim"):
        target = (torch.rand(shape) < 0.3).double()
    elif case == "bool_weights":
        target = torch.rand(shape) < 0.3
        options.update(
            alpha=torch.rand(6, dtype=torch.float64),
            pos_weight=torch.rand(6, dtype=torch.float64) + 0.5,
            weight=torch.rand(4, 1, 5, 1, dtype=torch.float64),
        )
    elif case == "index_ignore":
        target = torch.randint(0, 7, (4, 5, 7))
        target[0, 0] = -100
        options.update(weight=torch.rand(7, dtype=torch.float64))
    else:  # some blocks binary, some soft
        target = (torch.rand(shape) < 0.3).double()
        target[2:] = torch.rand(2, *shape[1:], dtype=torch.float64)
    results = []
    upstream = torch.randn(shape if reduction == "none" else (), dtype=torch.float64)
    for backend in ("naive", "fused"):
        xx = x.clone().requires_grad_(True)
        loss = torchfocal.sigmoid_focal_loss(xx, target, backend=backend, **options)
        (grad,) = torch.autograd.grad(loss, xx, upstream)
        results.append((loss, grad))
    torch.testing.assert_close(results[1][0], results[0][0], rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(results[1][1], results[0][1], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("block", [3, 40, 100_000])
@pytest.mark.parametrize("class_dim", [1, -1])
@pytest.mark.parametrize("form", ["index_ignore", "probs", "smoothed"])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_softmax_fused_blocks_equal_naive(
    block: int, class_dim: int, form: str, reduction: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runners, "BLOCK_ELEMENTS", block)
    monkeypatch.setattr(runners, "PER_LOCATION_THRESHOLD", 0)
    monkeypatch.setattr(runners, "LARGE_ABOVE", 1 << 30)
    x = torch.randn(3, 6, 4, 5, dtype=torch.float64) * 4
    dim = class_dim % 4
    index_shape = [s for d, s in enumerate(x.shape) if d != dim]
    options: dict[str, Any] = {
        "gamma": 0.7,
        "reduction": reduction,
        "class_dim": class_dim,
        "alpha": torch.rand(x.shape[dim], dtype=torch.float64),
        "weight": torch.rand(x.shape[dim], dtype=torch.float64) + 0.2,
    }
    if form == "probs":
        target: torch.Tensor = torch.softmax(torch.randn_like(x), dim=dim)
    else:
        target = torch.randint(0, x.shape[dim], index_shape)
        target.view(-1)[::7] = -100
        if form == "smoothed":
            options["label_smoothing"] = 0.1
    upstream = torch.randn(index_shape if reduction == "none" else (), dtype=torch.float64)
    results = []
    for backend in ("naive", "fused"):
        xx = x.clone().requires_grad_(True)
        loss = torchfocal.softmax_focal_loss(xx, target, backend=backend, **options)
        (grad,) = torch.autograd.grad(loss, xx, upstream)
        results.append((loss, grad))
    torch.testing.assert_close(results[1][0], results[0][0], rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(results[1][1], results[0][1], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("rows", [900, 30_000])
def test_default_blocks_equal_one_pass(rows: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Above the threshold the production block sizes (small, and large past LARGE_ABOVE)
    give what one pass gives."""
    x = torch.randn(rows, 80, dtype=torch.float64) * 4
    target = torch.rand(rows, 80) < 0.05
    assert runners.uses_blocks(x)
    assert (x.numel() > runners.LARGE_ABOVE) == (rows == 30_000)
    results = []
    for threshold in (runners.BLOCK_THRESHOLD, 1 << 40):
        monkeypatch.setattr(runners, "BLOCK_THRESHOLD", threshold)
        xx = x.clone().requires_grad_(True)
        loss = torchfocal.sigmoid_focal_loss(xx, target, reduction="sum")
        (grad,) = torch.autograd.grad(loss, xx)
        results.append((loss, grad))
    torch.testing.assert_close(results[0][0], results[1][0], rtol=1e-12, atol=0)
    assert torch.equal(results[0][1], results[1][1])
