"""backend="compiled", losses inside a user's torch.compile(fullgraph=True), autocast."""

from __future__ import annotations

import warnings
from typing import Any

import pytest
import torch

import torchfocal
from torchfocal import reference
from torchfocal._kernels import compiled


def _check(loss_name: str, x: torch.Tensor, target: torch.Tensor, **kwargs: Any) -> None:
    fn = getattr(torchfocal, f"{loss_name}_focal_loss")
    ref_fn = getattr(reference, f"{loss_name}_focal_loss")
    xx = x.clone().requires_grad_(True)
    loss = fn(xx, target, backend="compiled", **kwargs)
    (grad,) = torch.autograd.grad(loss, xx, torch.ones_like(loss))
    options = {k: (v.numpy() if isinstance(v, torch.Tensor) else v) for k, v in kwargs.items()}
    ref_loss, ref_grad = ref_fn(x.double().numpy(), target.numpy(), **options)
    tol = (
        {"rtol": 1e-9, "atol": 1e-12} if x.dtype == torch.float64 else {"rtol": 1e-4, "atol": 1e-6}
    )
    torch.testing.assert_close(loss.double(), torch.as_tensor(ref_loss), **tol)
    torch.testing.assert_close(grad.double(), torch.from_numpy(ref_grad), **tol)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_compiled_sigmoid_against_reference(dtype: torch.dtype) -> None:
    x = torch.randn(9, 6, 3, dtype=dtype) * 4
    _check("sigmoid", x, torch.rand(9, 6, 3) < 0.3, alpha=0.25, gamma=2.0)
    _check("sigmoid", x[:5], (torch.rand(5, 6, 3) < 0.3), alpha=0.25, gamma=2.0)  # new shape
    index = torch.randint(0, 7, (9, 3))
    index[0] = -100
    _check("sigmoid", x, index, alpha=0.25, gamma=2.0, reduction="positives")
    if dtype == torch.float64:
        _check("sigmoid", x, torch.rand(9, 6, 3, dtype=dtype), alpha=None, gamma=0.5)


def test_compiled_softmax_against_reference() -> None:
    x = torch.randn(7, 5, 2, dtype=torch.float64) * 4
    index = torch.randint(0, 5, (7, 2))
    index[1, 1] = -100
    _check("softmax", x, index, gamma=2.0, alpha=torch.rand(5, dtype=torch.float64))
    probs = torch.softmax(torch.randn(7, 5, 2, dtype=torch.float64), dim=1)
    _check("softmax", x, probs, gamma=1.5, reduction="none")


def test_compile_failure_falls_back_to_fused_with_one_warning(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(*args: Any) -> Any:
        raise RuntimeError("no C++ compiler")

    monkeypatch.setitem(compiled._cache, "sigmoid", broken)
    monkeypatch.setattr(compiled, "_unavailable", [])
    x = torch.randn(4, 3)
    y = torch.rand(4, 3) < 0.5
    with pytest.warns(
        RuntimeWarning,
        match=r"backend='compiled' is unavailable here "
        r"\(RuntimeError: no C\+\+ compiler\); using backend='fused'",
    ):
        first = torchfocal.sigmoid_focal_loss(x, y, backend="compiled")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        second = torchfocal.sigmoid_focal_loss(x, y, backend="compiled")
    expected = torchfocal.sigmoid_focal_loss(x, y, backend="fused")
    torch.testing.assert_close(first, expected)
    torch.testing.assert_close(second, expected)


@pytest.mark.parametrize("loss_name", ["sigmoid", "softmax"])
def test_losses_inside_fullgraph_compile(loss_name: str) -> None:
    torch._dynamo.reset()
    model = torch.nn.Linear(8, 5)
    x = torch.randn(16, 8)
    target = torch.randint(0, 5, (16,))
    target[3] = -100
    fn = getattr(torchfocal, f"{loss_name}_focal_loss")

    def step(inputs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return fn(model(inputs), labels, gamma=2.0)

    compiled_step = torch.compile(step, fullgraph=True)
    loss = compiled_step(x, target)
    loss.backward()
    grads = [p.grad.clone() for p in model.parameters() if p.grad is not None]
    model.zero_grad()
    eager = step(x, target)
    eager.backward()
    torch.testing.assert_close(loss, eager)
    for compiled_grad, p in zip(grads, model.parameters(), strict=True):
        torch.testing.assert_close(compiled_grad, p.grad)


@pytest.mark.parametrize("loss_name", ["sigmoid", "softmax"])
def test_losses_under_cpu_autocast(loss_name: str) -> None:
    model = torch.nn.Linear(8, 5)
    x = torch.randn(32, 8)
    target = torch.randint(0, 5, (32,))
    fn = getattr(torchfocal, f"{loss_name}_focal_loss")
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits = model(x)
        assert logits.dtype == torch.bfloat16
        loss = fn(logits, target)
    assert loss.dtype == torch.bfloat16
    loss.backward()
    assert model.weight.grad is not None and bool(torch.isfinite(model.weight.grad).all())
    full = fn(model(x).float(), target)
    torch.testing.assert_close(loss.float(), full, rtol=3e-2, atol=1e-2)
