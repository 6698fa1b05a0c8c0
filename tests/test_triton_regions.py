"""backend="triton" for the region losses (Dice, Tversky, focal Tversky, generalized Dice,
and the Dice term of dice_ce / dice_focal), run on CPU tensors through Triton's
interpreter, held against the NumPy oracle (loss and gradient) and the naive backend.

Inputs are tiny: the interpreter runs every tile operation in NumPy.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import torchfocal
from conftest import tolerance
from torchfocal import reference

pytest.importorskip("triton")
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning:triton.runtime.interpreter")

C = 3
CASES: list[tuple[str, dict[str, Any]]] = [
    ("dice_loss", {}),
    ("dice_loss", {"squared": True, "log": True, "include_background": False}),
    ("dice_loss", {"batch": True, "weight": torch.tensor([0.2, 1.0, 3.0])}),
    ("tversky_loss", {"alpha": 0.3, "beta": 0.7}),
    ("focal_tversky_loss", {"gamma": 0.75}),
    ("generalized_dice_loss", {"weight_type": "square"}),
    ("generalized_dice_loss", {"weight_type": "simple", "batch": True}),
]
TARGETS = ["index", "ignored", "soft"]


def _target(form: str, activation: str, shape: tuple[int, ...], seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    locations = (shape[0], *shape[2:])
    # sigmoid index targets: C marks a location of no class
    index = torch.randint(0, C + (activation == "sigmoid"), locations, generator=generator)
    if form == "index":
        return index
    if form == "ignored":
        index[0, :2] = -100
        return index
    return torch.rand(shape, generator=generator, dtype=torch.float64)


def _options(kwargs: dict[str, Any]) -> dict[str, Any]:
    return {k: v.numpy() if isinstance(v, torch.Tensor) else v for k, v in kwargs.items()}


@pytest.mark.parametrize("activation", ["softmax", "sigmoid"])
@pytest.mark.parametrize("form", TARGETS)
@pytest.mark.parametrize(("loss", "kwargs"), CASES)
def test_matches_the_reference(
    loss: str, kwargs: dict[str, Any], form: str, activation: str
) -> None:
    shape = (2, C, 5, 3)
    x = torch.randn(shape, dtype=torch.float64, generator=torch.Generator().manual_seed(1)) * 2
    target = _target(form, activation, shape)
    xx = x.clone().requires_grad_(True)
    value = getattr(torchfocal, loss)(xx, target, activation=activation, backend="triton", **kwargs)
    (grad,) = torch.autograd.grad(value, xx, torch.tensor(1.5, dtype=torch.float64))
    expected, expected_grad = getattr(reference, loss)(
        x.numpy(), target.numpy(), activation=activation, grad_output=1.5, **_options(kwargs)
    )
    np.testing.assert_allclose(value.detach().numpy(), expected, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(grad.numpy(), expected_grad, rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32])
def test_half_and_single_precision(dtype: torch.dtype) -> None:
    """Computed in float32 and returned in the input's dtype."""
    shape = (2, C, 4, 4)
    x = torch.randn(shape, generator=torch.Generator().manual_seed(2)).to(dtype)
    target = _target("ignored", "softmax", shape)
    xx = x.clone().requires_grad_(True)
    value = torchfocal.dice_loss(xx, target, backend="triton")
    (grad,) = torch.autograd.grad(value, xx)
    assert value.dtype == grad.dtype == dtype
    expected, expected_grad = reference.dice_loss(x.double().numpy(), target.numpy())
    tol = tolerance(dtype)
    torch.testing.assert_close(value.double(), torch.tensor(expected), **tol)
    torch.testing.assert_close(grad.double(), torch.from_numpy(expected_grad), **tol)


@pytest.mark.parametrize(
    ("shape", "class_dim"), [((2, C, 3, 2, 2), 1), ((2, 4, 3, C), -1), ((3, C), 1)]
)
def test_layouts(shape: tuple[int, ...], class_dim: int) -> None:
    """3-D volumes, channels-last (several outer rows per sample) and no spatial dims."""
    x = torch.randn(shape, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    dim = class_dim % len(shape)
    locations = shape[:dim] + shape[dim + 1 :]
    target = torch.randint(0, C, locations, generator=torch.Generator().manual_seed(4))
    results = []
    for backend in ("naive", "triton"):
        xx = x.clone().requires_grad_(True)
        value = torchfocal.tversky_loss(xx, target, class_dim=class_dim, backend=backend)
        results.append((value.detach(), *torch.autograd.grad(value, xx)))
    for ours, naive in zip(results[1], results[0], strict=True):
        torch.testing.assert_close(ours, naive, rtol=1e-12, atol=1e-14)


def test_everything_ignored_gives_zero_and_a_zero_gradient() -> None:
    x = torch.randn(2, C, 3, dtype=torch.float64, requires_grad=True)
    target = torch.full((2, 3), -100)
    value = torchfocal.dice_loss(x, target, backend="triton")
    (grad,) = torch.autograd.grad(value, x)
    assert float(value.detach()) == 0.0 and not grad.any()


def test_empty_input() -> None:
    x = torch.randn(0, C, 4, dtype=torch.float64, requires_grad=True)
    value = torchfocal.dice_loss(x, torch.zeros(0, 4, dtype=torch.long), backend="triton")
    (grad,) = torch.autograd.grad(value, x)
    assert float(value.detach()) == 0.0 and grad.shape == x.shape


@pytest.mark.parametrize("loss", ["dice_ce_loss", "dice_focal_loss"])
def test_combined_losses_take_the_kernel_for_their_dice_term(loss: str) -> None:
    x = torch.randn(2, C, 4, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    target = _target("ignored", "softmax", tuple(x.shape))
    results = []
    for backend in ("naive", "triton"):
        xx = x.clone().requires_grad_(True)
        value = getattr(torchfocal, loss)(xx, target, backend=backend)
        results.append((value.detach(), *torch.autograd.grad(value, xx)))
    for ours, naive in zip(results[1], results[0], strict=True):
        torch.testing.assert_close(ours, naive, rtol=1e-12, atol=1e-14)


@pytest.mark.usefixtures("no_host_reads")
def test_no_host_reads() -> None:
    """Forward and backward read no value on the host (no device synchronisation)."""
    x = torch.randn(2, C, 4, 3, requires_grad=True)
    target = _target("ignored", "softmax", tuple(x.shape))
    value = torchfocal.dice_loss(x, target, backend="triton", batch=True)
    value.backward()
    assert x.grad is not None and x.grad.shape == x.shape


def test_second_derivatives_and_target_gradients_take_the_naive_form() -> None:
    x = torch.randn(2, C, 4, dtype=torch.float64, requires_grad=True)
    soft = torch.rand(2, C, 4, dtype=torch.float64, requires_grad=True)
    value = torchfocal.dice_loss(x, soft, backend="triton")
    grads = torch.autograd.grad(value, (x, soft), create_graph=True)
    (second,) = torch.autograd.grad(grads[0].sum(), x)
    naive = torchfocal.dice_loss(x, soft, backend="naive")
    naive_grads = torch.autograd.grad(naive, (x, soft), create_graph=True)
    (naive_second,) = torch.autograd.grad(naive_grads[0].sum(), x)
    torch.testing.assert_close(second, naive_second)
    torch.testing.assert_close(grads[1], naive_grads[1])


def test_too_many_classes_for_a_tile() -> None:
    x = torch.randn(1, 1025, 2)
    target = torch.zeros(1, 2, dtype=torch.long)
    with pytest.raises(ValueError, match=r"backend must not be 'triton' for more than 1024"):
        torchfocal.dice_loss(x, target, backend="triton")


def test_sums_kernel_never_builds_a_one_hot(monkeypatch: pytest.MonkeyPatch) -> None:
    """Index targets reach the kernels as indices: F.one_hot and scatter are never called."""

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a one-hot of the target was built")

    monkeypatch.setattr(F, "one_hot", refuse)
    monkeypatch.setattr(torch.Tensor, "scatter_", refuse)
    x = torch.randn(2, C, 4, requires_grad=True)
    target = torch.randint(0, C, (2, 4))
    torchfocal.dice_loss(x, target, backend="triton").backward()
