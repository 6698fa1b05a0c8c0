"""Every bad-input branch of the focal family raises ValueError/TypeError with a message."""

from __future__ import annotations

from typing import Any

import pytest
import torch

import torchfocal
from torchfocal.registry import LOSSES as REGISTERED
from torchfocal.registry import LossInfo

X = torch.randn(4, 5)
MASK = torch.rand(4, 5) < 0.5
SCORE = torch.rand(4, 5)
INDEX = torch.tensor([0, 2, 4, 1])
BINS = torch.randn(4, 6)
LABEL = torch.tensor([0.0, 1.5, 4.9, 5.0])

CASES: list[tuple[str, tuple[Any, ...], dict[str, Any], type[Exception], str]] = [
    # FL*
    ("sigmoid_focal_loss_star", (X, MASK), {"gamma": 0.0}, ValueError, r"gamma must be > 0"),
    ("sigmoid_focal_loss_star", (X, MASK), {"gamma": -1.0}, ValueError, r"gamma must be a finite"),
    ("sigmoid_focal_loss_star", (X, MASK), {"beta": float("nan")}, ValueError, r"beta must be in"),
    ("sigmoid_focal_loss_star", (X, MASK), {"beta": "1"}, TypeError, r"beta must be a float"),
    (
        "sigmoid_focal_loss_star",
        (X, MASK),
        {"alpha": 1.5},
        ValueError,
        r"alpha must be in \[0, 1\]",
    ),
    (
        "sigmoid_focal_loss_star",
        (X, MASK),
        {"alpha": [0.5] * 4},
        ValueError,
        r"alpha must have one",
    ),
    ("sigmoid_focal_loss_star", (X, MASK), {"reduction": "avg"}, ValueError, r"reduction must be"),
    (
        "sigmoid_focal_loss_star",
        (X, MASK),
        {"backend": "jit"},
        ValueError,
        r"backend must be one of 'auto' \| 'naive' \| 'fused' \| 'compiled' \| 'triton'; got 'jit'",
    ),
    (
        "sigmoid_focal_loss_star",
        (X, torch.rand(4, 6)),
        {},
        ValueError,
        r"target must have the shape",
    ),
    (
        "sigmoid_focal_loss_star",
        (X, MASK),
        {"ignore_index": 1.0},
        TypeError,
        r"ignore_index must be an int",
    ),
    (
        "sigmoid_focal_loss_star",
        (X, MASK),
        {"avg_factor": 2.0, "reduction": "sum"},
        ValueError,
        r"avg_factor must be None unless reduction='mean'",
    ),
    (
        "sigmoid_focal_loss_star",
        (X, MASK),
        {"weight": torch.ones(3)},
        ValueError,
        r"weight must broadcast",
    ),
    ("sigmoid_focal_loss_star", (X.int(), MASK), {}, TypeError, r"input must be"),
    # asymmetric
    ("asymmetric_loss", (X, MASK), {"clip": 1.0}, ValueError, r"clip must be in \[0, 1\)"),
    ("asymmetric_loss", (X, MASK), {"clip": -0.1}, ValueError, r"clip must be in"),
    ("asymmetric_loss", (X, MASK), {"gamma_neg": -1.0}, ValueError, r"gamma_neg must be in"),
    (
        "asymmetric_loss",
        (X, MASK),
        {"gamma_pos": float("inf")},
        ValueError,
        r"gamma_pos must be in",
    ),
    (
        "asymmetric_loss",
        (X, torch.full((4, 5), 1.5)),
        {},
        ValueError,
        r"target must hold values in",
    ),
    (
        "asymmetric_loss",
        (X, torch.tensor([0, 9, 1, 1])),
        {},
        ValueError,
        r"target class indices must be in \[0, 5\]",
    ),
    # Poly-1
    (
        "poly1_focal_loss",
        (X, MASK),
        {"activation": "tanh"},
        ValueError,
        r"activation must be 'sigmoid' \| 'softmax'; got 'tanh'",
    ),
    (
        "poly1_focal_loss",
        (X, MASK),
        {"epsilon": -1.5},
        ValueError,
        r"epsilon must be in \[-1, inf\]",
    ),
    (
        "poly1_focal_loss",
        (X, MASK),
        {"label_smoothing": 1.0},
        ValueError,
        r"label_smoothing must be",
    ),
    (
        "poly1_focal_loss",
        (X, INDEX),
        {"activation": "softmax", "weight": torch.ones(4)},
        ValueError,
        r"weight must have one value per class \(5 along class_dim=1\); got shape \(4,\)",
    ),
    (
        "poly1_focal_loss",
        (X, INDEX),
        {"activation": "softmax", "avg_factor": 2.0},
        ValueError,
        r"avg_factor must be None for activation='softmax'",
    ),
    (
        "poly1_focal_loss",
        (X, INDEX),
        {"activation": "softmax", "reduction": "positives"},
        ValueError,
        r"reduction must be one of 'none' \| 'mean' \| 'sum'",
    ),
    (
        "poly1_focal_loss",
        (X, torch.tensor([0, 5, 1, 1])),
        {"activation": "softmax"},
        ValueError,
        r"target class indices must be in \[0, 4\]",
    ),
    (
        "poly1_cross_entropy",
        (X, torch.rand(4, 5)),
        {},
        ValueError,
        r"target probabilities must sum",
    ),
    # varifocal / quality
    (
        "varifocal_loss",
        (X, SCORE[:, :4]),
        {},
        ValueError,
        r"target must have the shape of input \(4, 5\); got \(4, 4\)",
    ),
    ("varifocal_loss", (X, MASK), {}, TypeError, r"target must be a float tensor"),
    (
        "varifocal_loss",
        (X, SCORE + 1),
        {},
        ValueError,
        r"target must hold values in \[0, 1\]",
    ),
    ("varifocal_loss", (X, SCORE), {"alpha": 2.0}, ValueError, r"alpha must be in \[0, 1\]"),
    ("varifocal_loss", (X, SCORE), {"gamma": -0.5}, ValueError, r"gamma must be a finite"),
    ("varifocal_loss", (X, SCORE), {"iou_weighted": 1}, TypeError, r"iou_weighted must be a bool"),
    ("varifocal_loss", (X, SCORE), {"reduction": "avg"}, ValueError, r"reduction must be"),
    ("varifocal_loss", (X, SCORE), {"avg_factor": 0.0}, ValueError, r"avg_factor must be a finite"),
    ("quality_focal_loss", (X, SCORE), {"beta": 0.5}, ValueError, r"beta must be 0 or >= 1"),
    ("quality_focal_loss", (X, SCORE), {"beta": -1.0}, ValueError, r"beta must be in"),
    (
        "quality_focal_loss",
        (X, SCORE),
        {"weight": torch.ones(5, 1)},
        ValueError,
        r"weight must broadcast",
    ),
    (
        "quality_focal_loss",
        (X, SCORE),
        {"backend": "jit"},
        ValueError,
        r"backend must be one of",
    ),
    # distribution
    (
        "distribution_focal_loss",
        (BINS, LABEL + 0.5),
        {},
        ValueError,
        r"target must hold values in \[0, 5\]; got 5.4",
    ),
    (
        "distribution_focal_loss",
        (BINS, -LABEL - 1),
        {},
        ValueError,
        r"target must hold values in \[0, 5\]",
    ),
    (
        "distribution_focal_loss",
        (BINS, LABEL.long()),
        {},
        TypeError,
        r"target must be a float tensor",
    ),
    (
        "distribution_focal_loss",
        (BINS, LABEL[:3]),
        {},
        ValueError,
        r"target must have the input's shape without class_dim \(4,\); got \(3,\)",
    ),
    ("distribution_focal_loss", (torch.randn(4, 1), LABEL * 0), {}, ValueError, r"at least 2 bins"),
    (
        "distribution_focal_loss",
        (torch.tensor(1.0), LABEL),
        {},
        ValueError,
        r"input must have a bin",
    ),
    (
        "distribution_focal_loss",
        (BINS, LABEL),
        {"class_dim": 2},
        ValueError,
        r"class_dim must be a dimension",
    ),
    (
        "distribution_focal_loss",
        (BINS, LABEL),
        {"weight": torch.ones(4, 6)},
        ValueError,
        r"weight must broadcast",
    ),
    # sample-dependent gamma
    (
        "sigmoid_focal_loss",
        (X, MASK),
        {"gamma": "flsd"},
        ValueError,
        r"gamma must be a non-negative float, 'flsd53' or a callable; got 'flsd'",
    ),
    (
        "sigmoid_focal_loss",
        (X, MASK),
        {"gamma": lambda p: -p},
        ValueError,
        r"gamma\(p\) must return finite values >= 0",
    ),
    (
        "sigmoid_focal_loss",
        (X, MASK),
        {"gamma": lambda p: p * float("nan")},
        ValueError,
        r"gamma\(p\) must return finite values",
    ),
    (
        "sigmoid_focal_loss",
        (X, MASK),
        {"gamma": lambda p: "2"},
        TypeError,
        r"gamma\(p\) must return a float tensor or a float; got str",
    ),
    (
        "sigmoid_focal_loss",
        (X, MASK),
        {"gamma": lambda p: (p > 0.5).long()},
        TypeError,
        r"gamma\(p\) must return a float tensor or a float; got torch.int64",
    ),
    (
        "softmax_focal_loss",
        (X, INDEX),
        {"gamma": lambda p: torch.ones(3)},
        ValueError,
        r"gamma\(p\) must broadcast to the input's shape \(4, 1\); got shape \(3,\)",
    ),
    (
        "softmax_focal_loss",
        (X, INDEX),
        {"gamma": lambda p: -1.0},
        ValueError,
        r"gamma must be a finite",
    ),
]


@pytest.mark.parametrize(
    ("name", "args", "kwargs", "error", "match"),
    CASES,
    ids=[f"{case[0]}-{index}" for index, case in enumerate(CASES)],
)
def test_error(
    name: str, args: tuple[Any, ...], kwargs: dict[str, Any], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        getattr(torchfocal, name)(*args, **kwargs)


MODULE_CASES: list[tuple[str, dict[str, Any], type[Exception], str]] = [
    ("SigmoidFocalLossStar", {"gamma": 0.0}, ValueError, r"gamma must be > 0"),
    ("SigmoidFocalLossStar", {"alpha": [0.5, 2.0]}, ValueError, r"alpha must hold values in"),
    ("SigmoidFocalLossStar", {"backend": "jit"}, ValueError, r"backend must be one of"),
    ("AsymmetricLoss", {"clip": 1.0}, ValueError, r"clip must be in"),
    ("AsymmetricLoss", {"reduction": "avg"}, ValueError, r"reduction must be"),
    ("Poly1FocalLoss", {"activation": "relu"}, ValueError, r"activation must be"),
    ("Poly1FocalLoss", {"epsilon": -2.0}, ValueError, r"epsilon must be in"),
    (
        "Poly1FocalLoss",
        {"activation": "softmax", "reduction": "positives"},
        ValueError,
        r"reduction must be",
    ),
    ("Poly1CrossEntropyLoss", {"label_smoothing": -0.1}, ValueError, r"label_smoothing must be"),
    ("VarifocalLoss", {"iou_weighted": "yes"}, TypeError, r"iou_weighted must be a bool"),
    ("VarifocalLoss", {"reduction": "sum", "avg_factor": 2.0}, ValueError, r"avg_factor must be"),
    ("QualityFocalLoss", {"beta": 0.5}, ValueError, r"beta must be 0 or >= 1"),
    ("DistributionFocalLoss", {"reduction": "positives"}, ValueError, r"reduction must be"),
    ("SigmoidFocalLoss", {"gamma": "flsd35"}, ValueError, r"gamma must be a non-negative float"),
    ("SoftmaxFocalLoss", {"gamma": -1.0}, ValueError, r"gamma must be a finite"),
]


@pytest.mark.parametrize(("name", "kwargs", "error", "match"), MODULE_CASES)
def test_module_error(
    name: str, kwargs: dict[str, Any], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        getattr(torchfocal, name)(**kwargs)


# -- the shared arguments, for every loss of the registry ---------------------------------


def _sample_inputs(kind: str) -> tuple[torch.Tensor, torch.Tensor]:
    """A (4, 3) float64 input and a target of the registry's ``kind`` (TARGET_KINDS)."""
    generator = torch.Generator().manual_seed(5)
    x = torch.randn(4, 3, dtype=torch.float64, generator=generator)
    mask = torch.tensor([[1, 0, 0], [0, 1, 0], [0, 0, 0], [1, 0, 1]], dtype=torch.bool)
    targets = {
        "mask": mask,
        "index": torch.tensor([0, 2, 1, 2]),
        "score": torch.rand(4, 3, dtype=torch.float64, generator=generator) * mask,
        "label": torch.tensor([0.0, 1.25, 2.0, 0.5], dtype=torch.float64),
    }
    return x, targets[kind]


#: Bad values of the arguments every loss shares: (id, how to break the call, error, match).
SHARED_CASES: list[tuple[str, Any, type[Exception], str]] = [
    ("reduction", lambda x, t: (x, t, {"reduction": "avg"}), ValueError, r"reduction must be"),
    ("backend", lambda x, t: (x, t, {"backend": "jit"}), ValueError, r"backend must be one of"),
    ("input-dtype", lambda x, t: (x.int(), t, {}), TypeError, r"input must be"),
    ("target-rows", lambda x, t: (x, torch.cat([t, t]), {}), ValueError, r"target must"),
]


@pytest.mark.parametrize(
    ("info", "break_call", "error", "match"),
    [
        pytest.param(info, *case[1:], id=f"{info.name}-{case[0]}")
        for info in REGISTERED
        for case in SHARED_CASES
    ],
)
def test_every_loss_refuses_bad_shared_arguments(
    info: LossInfo, break_call: Any, error: type[Exception], match: str
) -> None:
    sample = info.samples[0]
    x, target, options = break_call(*_sample_inputs(sample.target))
    with pytest.raises(error, match=match):
        info.function(x, target, **{**sample.options, **options})
