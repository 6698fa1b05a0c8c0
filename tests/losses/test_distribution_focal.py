"""distribution_focal_loss (DFL, Li et al.'s generalized focal loss): the NumPy reference
on every backend, the bins along class_dim, cross-entropy on the two bins around the
label, and its argument errors."""

from __future__ import annotations

from typing import Any

import pytest
import torch
import torch.nn.functional as F

import torchfocal
from conftest import check_against_reference, run_loss, tolerance
from losses.focal_family import BACKENDS, assert_same, loss_and_grad, random_logits, upstream_for
from torchfocal import reference


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("bins", [2, 5, 17])
@pytest.mark.parametrize(
    ("reduction", "avg_factor"), [("none", None), ("mean", None), ("mean", 4.0), ("sum", None)]
)
def test_distribution_matches_reference(
    backend: str, bins: int, reduction: str, avg_factor: float | None
) -> None:
    x = random_logits((8, bins))
    label = torch.rand(8, dtype=torch.float64) * (bins - 1)
    label[:3] = torch.tensor([0.0, float(bins - 1), 1.0])  # both ends and an integer
    check_against_reference(
        "distribution_focal_loss",
        backend,
        x,
        label,
        upstream_for(reduction, label),
        weight=torch.rand(8, dtype=torch.float64),
        reduction=reduction,
        avg_factor=avg_factor,
    )


@pytest.mark.parametrize("backend", BACKENDS)
def test_distribution_class_dim(backend: str) -> None:
    """Bins along dim 1 of a (N, bins, L) input: the same as moving them last."""
    x = random_logits((3, 6, 5))
    label = torch.rand(3, 5, dtype=torch.float64) * 5
    value, grad = run_loss("distribution_focal_loss", backend, x, label, class_dim=1)
    ref_value, ref_grad = reference.distribution_focal_loss(x.numpy(), label.numpy(), class_dim=1)
    torch.testing.assert_close(value, torch.as_tensor(ref_value), **tolerance(torch.float64))
    torch.testing.assert_close(grad, torch.as_tensor(ref_grad), **tolerance(torch.float64))
    moved = run_loss("distribution_focal_loss", backend, x.movedim(1, -1), label)
    torch.testing.assert_close(value, moved[0])
    torch.testing.assert_close(grad, moved[1].movedim(-1, 1))


@pytest.mark.parametrize("backend", BACKENDS)
def test_distribution_is_cross_entropy_on_two_bins(backend: str) -> None:
    x = random_logits((5, 8))
    label = torch.tensor([0.0, 2.5, 3.25, 6.9, 7.0], dtype=torch.float64)
    left = label.floor().clamp(max=6).long()
    t = torch.zeros(5, 8, dtype=torch.float64)
    t[torch.arange(5), left] = left + 1 - label
    t[torch.arange(5), left + 1] = label - left
    dfl = loss_and_grad(torchfocal.distribution_focal_loss, x, label, backend=backend)
    assert_same(dfl, loss_and_grad(F.cross_entropy, x, t))
    # An integer label below n is plain cross-entropy on that bin.
    whole = torch.tensor([0.0, 3.0, 6.0], dtype=torch.float64)
    assert_same(
        loss_and_grad(torchfocal.distribution_focal_loss, x[:3], whole, backend=backend),
        loss_and_grad(F.cross_entropy, x[:3], whole.long()),
    )


# -- errors ----------------------------------------------------------------------------------

BINS = torch.randn(4, 6)
LABEL = torch.tensor([0.0, 1.5, 4.9, 5.0])

ERRORS: list[tuple[tuple[Any, ...], dict[str, Any], type[Exception], str]] = [
    ((BINS, LABEL + 0.5), {}, ValueError, r"target must hold values in \[0, 5\]; got 5.4"),
    ((BINS, -LABEL - 1), {}, ValueError, r"target must hold values in \[0, 5\]"),
    ((BINS, LABEL.long()), {}, TypeError, r"target must be a float tensor"),
    (
        (BINS, LABEL[:3]),
        {},
        ValueError,
        r"target must have the input's shape without class_dim \(4,\); got \(3,\)",
    ),
    ((torch.randn(4, 1), LABEL * 0), {}, ValueError, r"at least 2 bins"),
    ((torch.tensor(1.0), LABEL), {}, ValueError, r"input must have a bin"),
    ((BINS, LABEL), {"class_dim": 2}, ValueError, r"class_dim must be a dimension"),
    ((BINS, LABEL), {"weight": torch.ones(4, 6)}, ValueError, r"weight must broadcast"),
]


@pytest.mark.parametrize(("args", "kwargs", "error", "match"), ERRORS)
def test_error(args: tuple[Any, ...], kwargs: dict[str, Any], error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        torchfocal.distribution_focal_loss(*args, **kwargs)


MODULE_ERRORS: list[tuple[dict[str, Any], type[Exception], str]] = [
    ({"reduction": "positives"}, ValueError, r"reduction must be"),
]


@pytest.mark.parametrize(("kwargs", "error", "match"), MODULE_ERRORS)
def test_module_error(kwargs: dict[str, Any], error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        torchfocal.DistributionFocalLoss(**kwargs)
