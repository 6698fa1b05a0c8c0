"""compat.ultralytics.FocalLoss against a re-derivation of ultralytics' code path."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from torchfocal.compat.ultralytics import FocalLoss


def seed_formula(
    pred: torch.Tensor, label: torch.Tensor, gamma: float, alpha: float
) -> torch.Tensor:
    loss = F.binary_cross_entropy_with_logits(pred, label, reduction="none")
    p = pred.sigmoid()
    p_t = label * p + (1 - label) * (1 - p)
    loss = loss * (1.0 - p_t) ** gamma
    if alpha > 0:
        loss = loss * (label * alpha + (1 - label) * (1 - alpha))
    return loss.mean(1).sum()


@pytest.mark.parametrize("gamma", [0.0, 1.5, 2.0])
@pytest.mark.parametrize("alpha", [0.25, 1.0, 0.0, -1.0])
@pytest.mark.parametrize("shape", [(6, 4), (3, 5, 2)])
def test_matches_seed_formula(gamma: float, alpha: float, shape: tuple[int, ...]) -> None:
    pred = (torch.randn(shape, dtype=torch.float64) * 3).requires_grad_(True)
    label = torch.rand(shape, dtype=torch.float64)
    ours = FocalLoss.forward(pred, label, gamma=gamma, alpha=alpha)
    (ours_grad,) = torch.autograd.grad(ours, pred)
    theirs = seed_formula(pred, label, gamma, alpha)
    (theirs_grad,) = torch.autograd.grad(theirs, pred)
    torch.testing.assert_close(ours, theirs)
    torch.testing.assert_close(ours_grad, theirs_grad)


def test_seed_000_numbers_and_defaults() -> None:
    pred = torch.tensor([[math.log(4.0)], [math.log(2 / 3)]])
    label = torch.ones(2, 1)
    per_row = [
        float(FocalLoss.forward(pred[i : i + 1], label[:1], gamma=2, alpha=1)) for i in range(2)
    ]
    assert [round(v, 4) for v in per_row] == [0.0089, 0.3299]
    module = FocalLoss()
    torch.testing.assert_close(module(pred, label), seed_formula(pred, label, 1.5, 0.25))


def test_confident_predictions_keep_a_finite_gradient() -> None:
    pred = torch.tensor([[30.0, -30.0]], requires_grad=True)
    label = torch.tensor([[1.0, 0.0]])
    FocalLoss.forward(pred, label, gamma=0.5).backward()
    assert pred.grad is not None and bool(torch.isfinite(pred.grad).all())
    # the seed's own formula gives NaN here (0 ** (gamma - 1) * 0)
    pred2 = pred.detach().clone().requires_grad_(True)
    seed_formula(pred2, label, 0.5, 0.25).backward()
    assert pred2.grad is not None and bool(torch.isnan(pred2.grad).any())


_PRED = torch.randn(4, 3)
_LABEL = (torch.rand(4, 3) < 0.5).float()


@pytest.mark.parametrize(
    ("pred", "label", "options", "error", "match"),
    [
        (torch.randn(4), torch.ones(4), {}, ValueError, r"pred must have at least 2 dim.*\(4,\)"),
        (torch.randn(()), torch.ones(()), {}, ValueError, r"pred must have at least 2 .*got shape"),
        ([[0.5]], [[1.0]], {}, TypeError, r"pred must be a torch.Tensor; got list"),
        (_PRED.long(), _LABEL, {}, TypeError, r"pred must be a floating-point tensor"),
        (_PRED, [[1.0]], {}, TypeError, r"label must be a torch.Tensor; got list"),
        (
            _PRED,
            torch.tensor([0, 1, 2, 0]),
            {},
            ValueError,
            r"label must have the shape of pred \(4, 3\); got \(4,\)",
        ),
        (_PRED, _LABEL * 1.5, {}, ValueError, r"label must hold values in \[0, 1\]; got 1.5"),
        (_PRED, _LABEL - 0.5, {}, ValueError, r"label must hold values in \[0, 1\]; got -0.5"),
        (_PRED, _LABEL * float("nan"), {}, ValueError, r"label must hold values .*; got nan"),
        (_PRED, _LABEL.long() * 2, {}, ValueError, r"label must hold 0 or 1 .*; got 2"),
        (_PRED, _LABEL.cfloat(), {}, TypeError, r"label must be a float, bool or integer"),
        (_PRED, _LABEL, {"alpha": "x"}, TypeError, r"alpha must be a float <= 1 .*; got str"),
        (_PRED, _LABEL, {"alpha": None}, TypeError, r"alpha must be a float <= 1 .*NoneType"),
        (_PRED, _LABEL, {"alpha": True}, TypeError, r"alpha must be a float <= 1 .*; got bool"),
        (_PRED, _LABEL, {"alpha": 1.5}, ValueError, r"alpha must be a float <= 1 .*; got 1.5"),
        (_PRED, _LABEL, {"alpha": float("nan")}, ValueError, r"alpha must be .*; got nan"),
        (_PRED, _LABEL, {"gamma": "2"}, TypeError, r"gamma must be a non-negative float; got str"),
    ],
)
def test_bad_arguments_name_the_argument(
    pred: object, label: object, options: dict[str, object], error: type, match: str
) -> None:
    with pytest.raises(error, match=match):
        FocalLoss.forward(pred, label, **options)  # type: ignore[arg-type]


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_is_computed_in_float32(dtype: torch.dtype) -> None:
    """The per-class mean and the sum run in float32; only the result is rounded."""
    pred = (torch.randn(512, 7) * 3).to(dtype).requires_grad_(True)
    label = (torch.rand(512, 7) < 0.3).to(dtype)
    ours = FocalLoss.forward(pred, label, gamma=1.5, alpha=0.25)
    assert ours.dtype == dtype
    wide = pred.detach().float().requires_grad_(True)
    expected = FocalLoss.forward(wide, label.float(), gamma=1.5, alpha=0.25)
    assert ours.item() == expected.to(dtype).item()
    (grad,) = torch.autograd.grad(ours, pred)
    (expected_grad,) = torch.autograd.grad(expected, wide)
    assert torch.equal(grad, expected_grad.to(dtype))


def test_no_classes_gives_zero_not_nan() -> None:
    pred = torch.randn(4, 0, requires_grad=True)
    loss = FocalLoss.forward(pred, torch.zeros(4, 0))
    assert loss.item() == 0.0
    loss.backward()
    assert pred.grad is not None and pred.grad.shape == (4, 0)
