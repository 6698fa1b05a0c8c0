"""Every bad-input branch of sigmoid_focal_loss raises ValueError/TypeError with a message."""

from __future__ import annotations

from typing import Any

import pytest
import torch

import torchfocal

X = torch.randn(4, 80)
Y = torch.rand(4, 80)


def call(input: Any = X, target: Any = Y, **kwargs: Any) -> torch.Tensor:
    return torchfocal.sigmoid_focal_loss(input, target, **kwargs)


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "match"),
    [
        (
            (X, torch.rand(4, 81)),
            {},
            ValueError,
            r"target must have the shape of input \(4, 80\) or \(4,\) for class indices; "
            r"got \(4, 81\)",
        ),
        ((X, torch.rand(4)), {}, TypeError, r"target must be an integer tensor of class indices"),
        ((X, torch.full((4, 80), 1.5)), {}, ValueError, r"target must hold values in \[0, 1\]"),
        ((X, torch.full((4, 80), float("nan"))), {}, ValueError, r"target must hold values"),
        ((X, torch.full((4, 80), 2)), {}, ValueError, r"target must hold 0 or 1 .*got 2"),
        (
            (X, torch.tensor([0, 3, 81, 1])),
            {},
            ValueError,
            r"target class indices must be in \[0, 80\] .*ignore_index=-100; got 81",
        ),
        ((X, torch.tensor([0, -1, 2, 1])), {}, ValueError, r"class indices .*got -1"),
        ((X.long(), Y), {}, TypeError, r"input must be a floating-point tensor.*got torch.int64"),
        (([1.0], Y), {}, TypeError, r"input must be a torch.Tensor; got list"),
        ((X, [0, 1]), {}, TypeError, r"target must be a torch.Tensor; got list"),
        ((X, Y.to(torch.complex64)), {}, TypeError, r"target must be a float, bool or integer"),
        ((), {"gamma": -1.0}, ValueError, r"gamma must be a finite non-negative float; got -1.0"),
        ((), {"gamma": float("inf")}, ValueError, r"gamma must be a finite non-negative"),
        ((), {"gamma": "2"}, ValueError, r"gamma must be a non-negative float, 'flsd53' or a "),
        ((), {"gamma": [2.0]}, TypeError, r"gamma must be a non-negative float; got list"),
        ((), {"alpha": 1.5}, ValueError, r"alpha must be in \[0, 1\]; got 1.5"),
        ((), {"alpha": -0.1}, ValueError, r"alpha must be in \[0, 1\]; got -0.1"),
        (
            (),
            {"alpha": [0.25] * 79},
            ValueError,
            r"alpha must have one value per class \(80 along class_dim=1\); got shape \(79,\)",
        ),
        ((), {"alpha": torch.full((80,), 2.0)}, ValueError, r"alpha must hold values in \[0, 1\]"),
        ((), {"alpha": "a"}, TypeError, r"alpha must be a float or a sequence of 80 floats"),
        (
            (),
            {"reduction": "avg"},
            ValueError,
            r"reduction must be one of 'none' \| 'mean' \| 'sum' \| 'positives'; got 'avg'",
        ),
        ((), {"backend": "cuda"}, ValueError, r"backend must be one of .*got 'cuda'"),
        ((), {"label_smoothing": 1.0}, ValueError, r"label_smoothing must be in \[0, 1\); got 1.0"),
        ((), {"label_smoothing": -0.1}, ValueError, r"label_smoothing must be in \[0, 1\)"),
        ((), {"avg_factor": 0.0}, ValueError, r"avg_factor must be a finite number > 0; got 0.0"),
        ((), {"avg_factor": torch.tensor(-1.0)}, ValueError, r"avg_factor must be > 0"),
        ((), {"avg_factor": torch.ones(2)}, ValueError, r"avg_factor must be a positive number"),
        ((), {"avg_factor": "3"}, TypeError, r"avg_factor must be a positive number; got str"),
        (
            (),
            {"avg_factor": 3.0, "reduction": "sum"},
            ValueError,
            r"avg_factor must be None unless reduction='mean'",
        ),
        (
            (),
            {"weight": torch.ones(5, 80)},
            ValueError,
            r"weight must broadcast to the input's shape \(4, 80\); got shape \(5, 80\)",
        ),
        ((), {"weight": torch.ones(2, 4, 80)}, ValueError, r"weight must broadcast"),
        (
            (),
            {"pos_weight": torch.ones(3)},
            ValueError,
            r"pos_weight must broadcast to the input's shape \(4, 80\); got shape \(3,\)",
        ),
        (
            (),
            {"class_dim": 2},
            ValueError,
            r"class_dim must be a dimension of the input \(in \[-2, 1\]\); got 2",
        ),
        ((X, torch.zeros(4, dtype=torch.long)), {"class_dim": 5}, ValueError, r"class_dim must"),
        ((), {"class_dim": 1.0, "alpha": [0.5] * 80}, TypeError, r"class_dim must be an int"),
        ((), {"ignore_index": 1.5}, TypeError, r"ignore_index must be an int; got float"),
        (
            (),
            {"distributed": True},
            ValueError,
            r"distributed must be False unless reduction='positives'",
        ),
        (
            (),
            {"distributed": True, "reduction": "positives"},
            ValueError,
            r"distributed must be False unless torch.distributed is initialised",
        ),
    ],
)
def test_error(args: tuple[Any, ...], kwargs: dict[str, Any], error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        call(*args, **kwargs)


def test_device_mismatch_is_reported() -> None:
    meta_target = torch.rand(4, 80, device="meta")
    with pytest.raises(ValueError, match=r"target must be on the input's device cpu; got meta"):
        call(X, meta_target)
    with pytest.raises(ValueError, match=r"weight must be on the input's device"):
        call(weight=torch.ones(4, 80, device="meta"))


def test_module_validates_in_init() -> None:
    with pytest.raises(ValueError, match=r"gamma must be"):
        torchfocal.SigmoidFocalLoss(gamma=-2.0)
    with pytest.raises(ValueError, match=r"reduction must be one of"):
        torchfocal.SigmoidFocalLoss(reduction="batchmean")
    with pytest.raises(ValueError, match=r"alpha must be in"):
        torchfocal.SigmoidFocalLoss(alpha=2.0)
    with pytest.raises(ValueError, match=r"alpha must hold values in \[0, 1\]"):
        torchfocal.SigmoidFocalLoss(alpha=[0.5, 1.5])
    with pytest.raises(TypeError, match=r"pos_weight must be a tensor or a sequence of floats"):
        torchfocal.SigmoidFocalLoss(pos_weight="heavy")  # type: ignore[arg-type]
