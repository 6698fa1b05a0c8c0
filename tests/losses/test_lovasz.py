"""The Lovasz-softmax and Lovasz hinge losses (Berman et al.): every backend against the
NumPy oracle, a hinge case by hand, perfect and wrong predictions, gradcheck, meta tensors,
dtypes, all-ignored inputs and the argument errors."""

from __future__ import annotations

import pytest
import torch

import torchfocal
from conftest import tolerance
from losses.regions import BACKENDS, check_against_oracle, region_inputs


@pytest.mark.parametrize("backend", BACKENDS)
def test_lovasz_softmax_matches_reference(backend: str) -> None:
    x, target = region_inputs("softmax", "index", (3, 4, 5, 6))
    target[1] = -100  # an image with nothing counted
    for options in (
        {},
        {"per_image": True},
        {"classes": "all", "reduction": "sum"},
        {"classes": [1, 3], "per_image": True, "reduction": "sum"},
        {"per_image": True, "reduction": "none"},
        {"reduction": "none"},
    ):
        check_against_oracle("lovasz_softmax_loss", backend, x, target, **options)
    last, index = region_inputs("softmax", "index", (2, 5, 6, 4), class_dim=-1)
    check_against_oracle("lovasz_softmax_loss", backend, last, index, class_dim=-1)


@pytest.mark.parametrize("backend", BACKENDS)
def test_lovasz_hinge_matches_reference(backend: str) -> None:
    x = torch.randn(3, 5, 6, dtype=torch.float64)
    labels = torch.randint(0, 2, (3, 5, 6))
    labels[0, 0] = -100
    for options in (
        {},
        {"per_image": True},
        {"reduction": "sum", "per_image": True},
        {"reduction": "none", "per_image": True},
    ):
        check_against_oracle("lovasz_hinge_loss", backend, x, labels, **options)
    check_against_oracle("lovasz_hinge_loss", backend, x, labels.clamp(min=0).bool())


def test_lovasz_hinge_by_hand() -> None:
    """Errors [-1, 0, 1.5] sorted [1.5, 0, -1] with labels [0, 0, 1]: J = [1/2, 2/3, 1],
    g = [1/2, 1/6, 1/3], loss = 1.5 / 2."""
    value = torchfocal.lovasz_hinge_loss(
        torch.tensor([[2.0, -1.0, 0.5]]), torch.tensor([[1, 0, 0]])
    )
    assert value.item() == pytest.approx(0.75)


def test_lovasz_softmax_perfect_prediction_is_near_zero_and_wrong_is_large() -> None:
    target = torch.randint(0, 3, (2, 8))
    perfect = torch.nn.functional.one_hot(target, 3).movedim(-1, 1).double() * 30
    assert torchfocal.lovasz_softmax_loss(perfect, target).item() < 1e-10
    assert torchfocal.lovasz_softmax_loss(-perfect, target).item() > 0.9


@pytest.mark.parametrize("name", ["lovasz_softmax_loss", "lovasz_hinge_loss"])
def test_lovasz_gradcheck_meta_dtypes_and_all_ignored(name: str) -> None:
    softmax = name == "lovasz_softmax_loss"
    shape = (2, 3, 4, 5) if softmax else (2, 4, 5)
    x = torch.randn(shape, dtype=torch.float64)
    target = torch.randint(0, 3 if softmax else 2, (2, 4, 5))
    function = getattr(torchfocal, name)
    for backend in BACKENDS:
        leaf = x.clone().requires_grad_(True)
        assert torch.autograd.gradcheck(
            lambda z, b=backend: function(z, target, backend=b), (leaf,)
        )
        meta = torch.empty(shape, device="meta", requires_grad=True)
        index = torch.empty(2, 4, 5, dtype=torch.long, device="meta")
        (grad,) = torch.autograd.grad(function(meta, index, backend=backend), meta)
        assert grad.shape == meta.shape
        leaf = x.clone().requires_grad_(True)
        value = function(leaf, torch.full_like(target, -100), backend=backend)
        (grad,) = torch.autograd.grad(value, leaf)
        assert value.item() == 0.0 and torch.equal(grad, torch.zeros_like(grad))
    for dtype in (torch.float16, torch.bfloat16, torch.float32):
        value = function(x.to(dtype), target)
        assert value.dtype == dtype
        torch.testing.assert_close(value.double(), function(x, target), **tolerance(dtype))


def test_lovasz_errors() -> None:
    x, target = region_inputs("softmax", "index")
    with pytest.raises(ValueError, match=r"classes must be 'present', 'all' or a non-empty list"):
        torchfocal.lovasz_softmax_loss(x, target, classes=[7])
    with pytest.raises(ValueError, match=r"target must be integer class indices of shape"):
        torchfocal.lovasz_softmax_loss(x, x)
    with pytest.raises(ValueError, match=r"at least 2 classes"):
        torchfocal.lovasz_softmax_loss(x[:, :1], target.clamp(0, 0))
    with pytest.raises(ValueError, match=r"target must hold 0 or 1 \(or ignore_index=-100\)"):
        torchfocal.lovasz_hinge_loss(x, torch.full(x.shape, 2))
    with pytest.raises(ValueError, match=r"target must have the shape of input"):
        torchfocal.lovasz_hinge_loss(x, target)
    with pytest.raises(ValueError, match=r"has no Triton kernel"):
        torchfocal.lovasz_hinge_loss(x, x > 0, backend="triton")
