"""compat.tensorflow.focal_loss against a re-derivation of Cui et al.'s TensorFlow function."""

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


_LOGITS = torch.randn(4, 3)
_LABELS = (torch.rand(4, 3) < 0.5).float()
_SOFT = torch.rand(4, 3)


@pytest.mark.parametrize(
    ("labels", "logits", "alpha", "gamma", "error", "match"),
    [
        (
            _LABELS * 2,
            _LOGITS,
            0.25,
            2.0,
            ValueError,
            r"labels must hold values in \[0, 1\]; got 2.0",
        ),
        (_SOFT - 0.5, _LOGITS, 0.25, 2.0, ValueError, r"labels must hold values in \[0, 1\]"),
        (_LABELS * float("nan"), _LOGITS, 0.25, 2.0, ValueError, r"labels must hold .*; got nan"),
        (_LABELS.long() * 2, _LOGITS, 0.25, 2.0, ValueError, r"labels must hold 0 or 1 .*; got 2"),
        (_SOFT, _LOGITS, 0.25, -1.0, ValueError, r"gamma must be a finite non-negative float"),
        (_SOFT, _LOGITS, 0.25, "2", TypeError, r"gamma must be a non-negative float; got str"),
        (_LABELS, _LOGITS, "x", 2.0, TypeError, r"alpha must be a float, a sequence .*; got str"),
        (_LABELS, _LOGITS, True, 2.0, TypeError, r"alpha must be a float, a sequence .*; got bool"),
        (_LABELS, _LOGITS, -1.0, 2.0, ValueError, r"alpha must hold finite values >= 0; got -1.0"),
        (_SOFT, _LOGITS, float("nan"), 2.0, ValueError, r"alpha must hold finite values >= 0"),
        (
            _LABELS,
            _LOGITS,
            torch.rand(5),
            2.0,
            ValueError,
            r"alpha must be a number, 4 values \(one per example\), or a tensor that "
            r"broadcasts to the logits' shape \(4, 3\); got shape \(5,\)",
        ),
        (_SOFT, _LOGITS, torch.rand(2, 4, 3), 2.0, ValueError, r"alpha must be a number"),
        ([[1.0]], _LOGITS, 0.25, 2.0, TypeError, r"labels must be a torch.Tensor; got list"),
        (_LABELS, [[0.5]], 0.25, 2.0, TypeError, r"logits must be a torch.Tensor; got list"),
        (_LABELS, _LOGITS.long(), 0.25, 2.0, TypeError, r"logits must be a floating-point tensor"),
        (
            torch.rand(4),
            _LOGITS,
            0.25,
            2.0,
            ValueError,
            r"labels must have the shape of logits \(4, 3\); got \(4,\)",
        ),
    ],
)
def test_bad_arguments_name_the_argument(
    labels: Any, logits: Any, alpha: Any, gamma: Any, error: type, match: str
) -> None:
    with pytest.raises(error, match=match):
        focal_loss(labels, logits, alpha, gamma)
