"""compat.tensorflow.focal_loss against a re-derivation of seed 004's TensorFlow function."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from torchfocal.compat.tensorflow import focal_loss


def seed_formula(labels: np.ndarray, logits: np.ndarray, alpha: Any, gamma: float) -> float:
    """NumPy float64 transcription of the TensorFlow code path."""
    ce = np.maximum(logits, 0) - logits * labels + np.log1p(np.exp(-np.abs(logits)))
    modulator = (
        1.0 if gamma == 0 else np.exp(-gamma * labels * logits - gamma * np.log1p(np.exp(-logits)))
    )
    return float((alpha * modulator * ce).sum() / labels.sum())


@pytest.mark.parametrize("alpha_kind", ["scalar", "per_example", "per_element"])
@pytest.mark.parametrize("soft", [False, True])
@pytest.mark.parametrize("gamma", [0.0, 0.5, 2.0])
def test_matches_seed_formula(alpha_kind: str, soft: bool, gamma: float) -> None:
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(6, 5)) * 3
    labels = rng.random((6, 5)) if soft else (rng.random((6, 5)) < 0.3).astype(float)
    labels[0, 0] = 1.0
    alpha: Any = {"scalar": 0.25, "per_example": rng.random(6), "per_element": rng.random((6, 5))}[
        alpha_kind
    ]
    expected_alpha = alpha[:, None] if alpha_kind == "per_example" else alpha
    expected = seed_formula(labels, logits, expected_alpha, gamma)
    ours = focal_loss(
        torch.from_numpy(labels),
        torch.from_numpy(logits),
        torch.from_numpy(alpha) if isinstance(alpha, np.ndarray) else alpha,
        gamma,
    )
    assert ours.dtype == torch.float32  # the original casts to float32
    assert float(ours) == pytest.approx(expected, rel=1e-5)


def test_gradient_and_extremes() -> None:
    logits = torch.tensor([[1e4, -1e4, 95.0, -95.0]], requires_grad=True)
    labels = torch.tensor([[1.0, 0.0, 0.0, 1.0]])
    loss = focal_loss(labels, logits, 0.25, 0.5)
    loss.backward()
    assert torch.isfinite(loss) and logits.grad is not None
    assert bool(torch.isfinite(logits.grad).all())


def test_no_labels_returns_the_plain_sum() -> None:
    logits = torch.tensor([[0.5, -0.5]])
    labels = torch.zeros(1, 2)
    loss = focal_loss(labels, logits, 1.0, 0.0)
    expected = torch.nn.functional.binary_cross_entropy_with_logits(logits, labels, reduction="sum")
    torch.testing.assert_close(loss, expected)


def test_documented_core_call() -> None:
    """docs/migration.md: for 0/1 labels it is sigmoid_focal_loss(..., reduction="positives")."""
    import torchfocal

    logits = torch.randn(6, 5, dtype=torch.float64) * 3
    labels = (torch.rand(6, 5) < 0.3).double()
    labels[0, 0] = 1.0
    alpha = torch.rand(6, dtype=torch.float64)
    core = torchfocal.sigmoid_focal_loss(
        logits.float(), labels, alpha=None, gamma=2.0, weight=alpha[:, None], reduction="positives"
    )
    torch.testing.assert_close(focal_loss(labels, logits, alpha, 2.0), core.float())
