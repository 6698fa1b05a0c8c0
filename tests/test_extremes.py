"""Extreme logits and NaN propagation, for every public loss and backend.

DESIGN.md 2: loss and gradient are finite for every finite logit up to the dtype's largest
value, every gamma in [0, 10] and every target in [0, 1], and a NaN logit gives a NaN loss.
Each case runs logits at +-finfo.max, +-finfo.max / 2, +-1e4 and 0 (and softmax rows that
mix them, e.g. [max, -max, 0]) with hard and soft targets, and holds the loss and the input
gradient against the float64 oracle (reference.py) evaluated at the same, rounded, logits.
A loss whose true value exceeds the dtype's largest value (e.g. -log p at p = e^(-2 max))
must be inf, the correctly rounded value; the oracle's float64 value cast to the dtype says
which those are. The gradient is always finite.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
import torch

import torchfocal
from conftest import tolerance
from torchfocal import reference

DTYPES = [torch.float16, torch.bfloat16, torch.float32, torch.float64]
BACKENDS = ["naive", "fused"]
GAMMAS = [0.0, 0.5, 2.0, 10.0]
CLASS_WEIGHTS = [0.5, 1.5, 1.0]

Reference = Callable[..., tuple[np.ndarray, np.ndarray]]


def extreme_values(dtype: torch.dtype) -> list[float]:
    big = torch.finfo(dtype).max
    return [big, -big, big / 2, -big / 2, 1e4, -1e4, 0.0]


def elementwise_logits(dtype: torch.dtype) -> torch.Tensor:
    """(2, 7): every extreme value once per target row."""
    return torch.tensor([extreme_values(dtype)] * 2, dtype=torch.float64).to(dtype)


def row_logits(dtype: torch.dtype) -> torch.Tensor:
    """(147, 3): every ordered pair of extreme values beside a 0, three times (one per
    target class), so softmax rows differ by up to twice the dtype's range."""
    pairs = [(a, b, 0.0) for a, b in itertools.product(extreme_values(dtype), repeat=2)]
    return torch.tensor(pairs * 3, dtype=torch.float64).to(dtype)


def elementwise_target(kind: str, x: torch.Tensor) -> torch.Tensor:
    """Row 0 negatives, row 1 positives: float 0 / 1 ("hard"), a bool mask ("mask"), or
    soft targets 0.3 / 0.8."""
    low, high = (0.3, 0.8) if kind == "soft" else (0.0, 1.0)
    target = torch.tensor([[low] * x.shape[1], [high] * x.shape[1]], dtype=torch.float64)
    return target > 0.5 if kind == "mask" else target


def index_target(x: torch.Tensor) -> torch.Tensor:
    return torch.arange(3).repeat_interleave(x.shape[0] // 3)


def probability_target(x: torch.Tensor) -> torch.Tensor:
    rows = torch.tensor([[0.7, 0.0, 0.3], [0.0, 0.6, 0.4], [0.2, 0.5, 0.3]], dtype=torch.float64)
    return rows.repeat_interleave(x.shape[0] // 3, dim=0)


def bin_label(kind: str, x: torch.Tensor) -> torch.Tensor:
    labels = [0.0, 1.0, 2.0] if kind == "hard" else [0.25, 1.5, 1.75]
    return torch.tensor(labels, dtype=torch.float64).repeat_interleave(x.shape[0] // 3)


def _class_balanced_reference(form: str) -> Reference:
    """The class-balanced loss is the focal loss of its form with weight w_y per sample."""
    weights = np.array(CLASS_WEIGHTS)

    def evaluate(x: np.ndarray, target: np.ndarray, **kwargs: Any) -> Any:
        kwargs.pop("loss")
        gamma = kwargs.pop("gamma", 0.0)
        if form == "softmax":
            return reference.softmax_focal_loss(x, target, gamma=gamma, weight=weights, **kwargs)
        return reference.sigmoid_focal_loss(
            x, target, alpha=None, gamma=gamma, weight=weights[target][:, None], **kwargs
        )

    return evaluate


@dataclass
class Case:
    """A public loss at extreme logits: how to build its input, targets and oracle."""

    function: str
    layout: str  # "elementwise" or "rows"
    targets: tuple[str, ...]
    kwargs: dict[str, Any] = field(default_factory=dict)
    oracle: Reference | None = None
    #: the keyword of the focusing parameter, where the loss has one
    gamma_name: str | None = "gamma"
    gammas: tuple[float, ...] = tuple(GAMMAS)

    def inputs(self, kind: str, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        if self.layout == "elementwise":
            x = elementwise_logits(dtype)
            return x, elementwise_target(kind, x)
        x = row_logits(dtype)
        if self.function == "distribution_focal_loss":
            return x, bin_label(kind, x)
        return x, index_target(x) if kind == "hard" else probability_target(x)

    def reference(self) -> Reference:
        return self.oracle or getattr(reference, self.function)


SIGMOID_TARGETS = ("hard", "mask", "soft")


CASES: dict[str, Case] = {
    "sigmoid_focal": Case("sigmoid_focal_loss", "elementwise", SIGMOID_TARGETS),
    "sigmoid_focal_star": Case(
        "sigmoid_focal_loss_star",
        "elementwise",
        SIGMOID_TARGETS,
        {"beta": 1.0},
        gammas=(0.5, 2.0, 10.0),
    ),
    "asymmetric_clip": Case(
        "asymmetric_loss", "elementwise", SIGMOID_TARGETS, {"clip": 0.05}, gamma_name="gamma_*"
    ),
    "asymmetric_no_clip": Case(
        "asymmetric_loss", "elementwise", SIGMOID_TARGETS, {"clip": 0.0}, gamma_name="gamma_*"
    ),
    "poly1_sigmoid": Case(
        "poly1_focal_loss", "elementwise", SIGMOID_TARGETS, {"activation": "sigmoid"}
    ),
    "poly1_softmax": Case("poly1_focal_loss", "rows", ("hard", "soft"), {"activation": "softmax"}),
    "poly1_ce_sigmoid": Case(
        "poly1_cross_entropy",
        "elementwise",
        SIGMOID_TARGETS,
        {"activation": "sigmoid", "epsilon": 2.0},
        gamma_name=None,
    ),
    "poly1_ce_softmax": Case(
        "poly1_cross_entropy", "rows", ("hard", "soft"), {"epsilon": 2.0}, gamma_name=None
    ),
    "softmax_focal": Case("softmax_focal_loss", "rows", ("hard", "soft")),
    "varifocal": Case("varifocal_loss", "elementwise", ("hard", "soft")),
    "quality": Case(
        "quality_focal_loss",
        "elementwise",
        ("hard", "soft"),
        gamma_name="beta",
        gammas=(0.0, 1.0, 2.0, 10.0),
    ),
    "distribution": Case("distribution_focal_loss", "rows", ("hard", "soft"), gamma_name=None),
    "class_balanced_focal": Case(
        "class_balanced_loss",
        "rows",
        ("hard",),
        {"loss": "focal"},
        _class_balanced_reference("focal"),
    ),
    "class_balanced_sigmoid": Case(
        "class_balanced_loss",
        "rows",
        ("hard",),
        {"loss": "sigmoid"},
        _class_balanced_reference("sigmoid"),
        gamma_name=None,
    ),
    "class_balanced_softmax": Case(
        "class_balanced_loss",
        "rows",
        ("hard",),
        {"loss": "softmax"},
        _class_balanced_reference("softmax"),
    ),
}


def _parameters() -> list[Any]:
    params = []
    for name, case in CASES.items():
        for kind in case.targets:
            for gamma in case.gammas if case.gamma_name else (None,):
                params.append(pytest.param(name, kind, gamma, id=f"{name}-{kind}-{gamma}"))
    return params


def _gamma_kwargs(case: Case, gamma: float | None) -> dict[str, Any]:
    if gamma is None or case.gamma_name is None:
        return {}
    if case.gamma_name == "gamma_*":
        return {"gamma_pos": gamma, "gamma_neg": gamma}
    return {case.gamma_name: gamma}


def _call(
    case: Case, backend: str, x: torch.Tensor, target: torch.Tensor, **kwargs: Any
) -> tuple[torch.Tensor, torch.Tensor]:
    x = x.detach().clone().requires_grad_(True)
    if case.function == "class_balanced_loss":
        kwargs["weights"] = torch.tensor(CLASS_WEIGHTS)
    loss = getattr(torchfocal, case.function)(x, target, backend=backend, **kwargs)
    loss.backward(torch.ones_like(loss))
    assert x.grad is not None
    return loss.detach(), x.grad


def _extreme_tolerance(dtype: torch.dtype) -> dict[str, float]:
    # float32 results are rounded once more when the loss is returned; float64 is the
    # conftest tolerance.
    return {"rtol": 2e-5, "atol": 1e-6} if dtype == torch.float32 else tolerance(dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(("name", "kind", "gamma"), _parameters())
def test_extreme_logits_match_the_oracle(
    name: str, kind: str, gamma: float | None, backend: str, dtype: torch.dtype
) -> None:
    case = CASES[name]
    x, target = case.inputs(kind, dtype)
    kwargs = {**case.kwargs, **_gamma_kwargs(case, gamma)}
    loss, grad = _call(case, backend, x, target, reduction="none", **kwargs)
    ref_loss, ref_grad = case.reference()(
        x.double().numpy(), target.numpy(), reduction="none", **kwargs
    )
    expected_loss = torch.from_numpy(np.asarray(ref_loss)).to(dtype)
    expected_grad = torch.from_numpy(np.asarray(ref_grad)).to(dtype)
    # The oracle is never NaN and its gradient is finite; its loss is inf only where the true
    # value exceeds float64's range (as it does for a class at -max beside one at +max).
    assert not np.isnan(ref_loss).any() and np.isfinite(ref_grad).all()
    assert not torch.isnan(loss).any(), loss
    assert torch.isfinite(grad).all(), grad
    assert torch.equal(torch.isinf(loss), torch.isinf(expected_loss))
    tol = _extreme_tolerance(dtype)
    torch.testing.assert_close(loss, expected_loss, **tol)
    torch.testing.assert_close(grad, expected_grad, **tol)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_sum_past_the_largest_value_is_inf(backend: str, dtype: torch.dtype) -> None:
    """Four losses of finfo.max each: every element is finite, but the true sum exceeds the
    dtype's range, so inf is its correctly rounded value; the gradient stays finite."""
    big = torch.finfo(dtype).max
    x = torch.full((4,), -big, dtype=dtype)
    y = torch.ones(4, dtype=dtype)
    kwargs = {"alpha": None, "gamma": 2.0}
    elements, _ = _call(CASES["sigmoid_focal"], backend, x, y, reduction="none", **kwargs)
    torch.testing.assert_close(elements, torch.full_like(x, big))
    total, grad = _call(CASES["sigmoid_focal"], backend, x, y, reduction="sum", **kwargs)
    assert total == float("inf")
    torch.testing.assert_close(grad, torch.full_like(x, -1.0))


# -- NaN propagation ---------------------------------------------------------------------


def _nan_parameters() -> list[Any]:
    params = []
    for name, case in CASES.items():
        for kind in case.targets:
            params.append(pytest.param(name, kind, id=f"{name}-{kind}"))
    return params


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(("name", "kind"), _nan_parameters())
def test_nan_logit_gives_nan_loss_and_gradient(name: str, kind: str, backend: str) -> None:
    """A NaN logit makes its own loss element, its gradient and the reduced loss NaN; every
    other element is what it is without the NaN."""
    case = CASES[name]
    x, target = case.inputs(kind, torch.float64)
    x = torch.randn(x.shape, dtype=torch.float64) * 3
    kwargs = {**case.kwargs, **_gamma_kwargs(case, case.gammas[-1] if case.gamma_name else None)}
    bad = (x.shape[0] - 1, 1)  # a negative of the elementwise losses (y = 0 row: hard: 1)
    if case.layout == "elementwise":
        bad = (0, 1)
    poisoned = x.clone()
    poisoned[bad] = float("nan")
    loss, grad = _call(case, backend, poisoned, target, reduction="none", **kwargs)
    clean_loss, clean_grad = _call(case, backend, x, target, reduction="none", **kwargs)

    if loss.dim() == x.dim():  # one loss per element
        hit = torch.zeros(x.shape, dtype=torch.bool)
        hit[bad] = True
        grad_hit = hit
    else:  # one loss per row: the whole row's gradient depends on the NaN
        hit = torch.zeros(x.shape[0], dtype=torch.bool)
        hit[bad[0]] = True
        grad_hit = hit[:, None].expand_as(x)
    assert torch.isnan(loss[hit]).all()
    assert torch.isnan(grad[grad_hit]).all()
    torch.testing.assert_close(loss[~hit], clean_loss[~hit], rtol=0, atol=0)
    torch.testing.assert_close(grad[~grad_hit], clean_grad[~grad_hit], rtol=0, atol=0)

    for reduction in ("mean", "sum"):
        reduced, _ = _call(case, backend, poisoned, target, reduction=reduction, **kwargs)
        assert torch.isnan(reduced), reduction
