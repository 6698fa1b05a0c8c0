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

import functools
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import mpmath
import numpy as np
import pytest
import torch

import torchfocal
from conftest import tolerance
from torchfocal import reference

# At float64's largest logits the oracle's exponents and products overflow to their correct
# limits (gamma log q = -inf, so q^gamma = 0; a loss beyond the range is inf): NumPy's
# overflow warnings are expected there. Invalid operations (NaN) still warn.
pytestmark = pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")

DTYPES = [torch.float16, torch.bfloat16, torch.float32, torch.float64]
BACKENDS = ["naive", "fused"]
#: The losses that also have backend="compiled".
COMPILED = ("sigmoid_focal_loss", "softmax_focal_loss", "class_balanced_loss")
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


def _backends(name: str) -> list[str]:
    return [*BACKENDS, "compiled"] if CASES[name].function in COMPILED else BACKENDS


def _parameters() -> list[Any]:
    params = []
    for name, case in CASES.items():
        for kind in case.targets:
            for gamma in case.gammas if case.gamma_name else (None,):
                for backend in _backends(name):
                    params.append(
                        pytest.param(
                            name, kind, gamma, backend, id=f"{name}-{kind}-{gamma}-{backend}"
                        )
                    )
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
        kwargs["weight"] = torch.tensor(CLASS_WEIGHTS)
    loss = getattr(torchfocal, case.function)(x, target, backend=backend, **kwargs)
    loss.backward(torch.ones_like(loss))
    assert x.grad is not None
    return loss.detach(), x.grad


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize(("name", "kind", "gamma", "backend"), _parameters())
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
    tol = tolerance(dtype)  # the suite's tolerances hold at the extremes too
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


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
@pytest.mark.parametrize(
    ("name", "backend"),
    [
        (name, backend)
        for name in ("sigmoid_focal", "softmax_focal", "asymmetric_no_clip")
        for backend in _backends(name)
    ],
)
def test_mean_of_losses_near_the_largest_value_is_finite(
    name: str, dtype: torch.dtype, backend: str
) -> None:
    """Four losses of about finfo.max each: their mean is finite, so "mean" must not pass
    through an infinite sum (the naive reduction, both block runners and the compiled one;
    float64 has nothing wider to sum in)."""
    case = CASES[name]
    half = torch.finfo(dtype).max / 2
    if case.layout == "rows":  # -log p_0 = half + half for the row [-half, half, 0]
        x = torch.tensor([[-half, half, 0.0]] * 4, dtype=dtype)
        target: torch.Tensor = torch.zeros(4, dtype=torch.long)
        kwargs: dict[str, Any] = {"gamma": 2.0}
    else:  # -log p = 2 half at x = -2 half, y = 1
        x = torch.full((4,), -2 * half, dtype=dtype)
        target = torch.ones(4, dtype=dtype)
        kwargs = {"alpha": None, "gamma": 2.0} if name == "sigmoid_focal" else {**case.kwargs}
    elements, element_grad = _call(case, backend, x, target, reduction="none", **kwargs)
    assert torch.isfinite(elements).all()
    mean, grad = _call(case, backend, x, target, reduction="mean", **kwargs)
    expected = (elements.double() / 4).sum().to(dtype)
    assert torch.isfinite(mean) and torch.isfinite(expected)
    torch.testing.assert_close(mean, expected, **tolerance(dtype))
    torch.testing.assert_close(grad, element_grad / 4, **tolerance(dtype))


# -- NaN propagation ---------------------------------------------------------------------


def _nan_parameters() -> list[Any]:
    params = []
    for name, case in CASES.items():
        for kind in case.targets:
            for backend in _backends(name):
                params.append(pytest.param(name, kind, backend, id=f"{name}-{kind}-{backend}"))
    return params


@pytest.mark.parametrize(("name", "kind", "backend"), _nan_parameters())
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


# -- the oracle at extremes, against the textbook formulas in 340-digit arithmetic ------------

MP = mpmath.mp.clone()
MP.dps = 340  # every float64 logit to 1e-31 (x +- 1e-10 is exact), exp(+-finfo.max) too

F64_MAX = float(np.finfo(np.float64).max)
F32_MAX = float(np.finfo(np.float32).max)
POINTS = [F64_MAX, -F64_MAX, F64_MAX / 2, -F64_MAX / 2, F32_MAX, -F32_MAX, 1e4, -1e4, 5.0, 0.0]
SCORES = [0.0, 1.0, 0.3, 0.8]


@functools.cache
def _mp_parts(x: Any) -> tuple[Any, Any, Any, Any]:
    """p, 1 - p, log p, log(1 - p), each without cancellation (cached: every gamma and
    target of a test meets the same points)."""
    one = MP.mpf(1)
    return (
        one / (1 + MP.exp(-x)),
        one / (1 + MP.exp(x)),
        -MP.log1p(MP.exp(-x)),
        -MP.log1p(MP.exp(x)),
    )


def _mp_elementwise(name: str, gamma: float) -> Callable[[Any, float], Any]:
    g = MP.mpf(gamma)

    def loss(x: Any, y: float) -> Any:
        p, one_minus_p, log_p, log_1mp = _mp_parts(x)
        bce = -(y * log_p + (1 - y) * log_1mp)
        q = y * one_minus_p + (1 - y) * p
        if name == "sigmoid_focal":
            return (0.25 * y + 0.75 * (1 - y)) * q**g * bce
        if name == "poly1_sigmoid":
            return q**g * bce + q ** (g + 1)
        if name == "sigmoid_focal_star":
            return MP.log1p(MP.exp(-(g * (2 * y - 1) * x + 1))) / g
        if name == "asymmetric_clip":
            p_m = max(p - MP.mpf("0.05"), MP.mpf(0))
            negative = p_m**g * -MP.log1p(-p_m) if p_m > 0 else MP.mpf(0)
            return y * one_minus_p**g * -log_p + (1 - y) * negative
        if name == "varifocal":
            return y * bce if y > 0 else 0.75 * p**g * -log_1mp
        assert name == "quality"
        return abs(p - y) ** g * bce if gamma else bce

    return loss


@functools.cache
def _mp_softmax(x: tuple[Any, ...]) -> tuple[list[Any], list[Any], list[Any]]:
    """log p_c, p_c and 1 - p_c = sum_{k != c} p_k of a row (cached, as _mp_parts)."""
    log_z = MP.log(MP.fsum(MP.exp(v) for v in x))
    log_p = [v - log_z for v in x]
    p = [MP.exp(v) for v in log_p]
    rest = [MP.fsum(p[k] for k in range(len(x)) if k != c) for c in range(len(x))]
    return log_p, p, rest


def _mp_row(name: str, gamma: float) -> Callable[[list[Any], list[float]], Any]:
    g = MP.mpf(gamma)

    def loss(x: list[Any], t: list[float]) -> Any:
        log_p, p, rest = _mp_softmax(tuple(x))
        focal = -MP.fsum(t[c] * rest[c] ** g * log_p[c] for c in range(len(x)))
        if name == "poly1_softmax":
            return focal + MP.fsum(p[c] * (1 - t[c]) for c in range(len(x))) ** (g + 1)
        return focal

    return loss


def _along(
    exact: Callable[[list[Any], list[float]], Any], row: list[float], t: list[float], j: int
) -> Callable[[Any], Any]:
    """The row's loss as a function of its j-th logit alone."""
    return lambda v: exact([v if k == j else MP.mpf(row[k]) for k in range(len(row))], t)


def _mp_derivative(f: Callable[[Any], Any], x: float) -> float:
    # An absolute step: a softmax row's loss varies on the scale 1 of the logit differences
    # even at |x| = 1e308. The central difference's error is ~1e-20 relative.
    return float(MP.diff(f, MP.mpf(x), h=MP.mpf("1e-10")))


def _close(actual: float, expected: Any) -> None:
    expected = float(expected)  # inf where the true value exceeds float64's range
    assert actual == pytest.approx(expected, rel=1e-12, abs=1e-300), (actual, expected)


ORACLE_ELEMENTWISE = {
    "sigmoid_focal": ({}, GAMMAS),
    "poly1_sigmoid": ({"activation": "sigmoid", "alpha": None}, GAMMAS),
    "sigmoid_focal_star": ({"beta": 1.0}, [0.5, 2.0, 10.0]),
    "asymmetric_clip": ({"clip": 0.05}, GAMMAS),
    "varifocal": ({"alpha": 0.75}, GAMMAS),
    "quality": ({}, [0.0, 1.0, 2.0, 10.0]),
}


@pytest.mark.parametrize("name", ORACLE_ELEMENTWISE)
def test_oracle_elementwise_losses_at_extremes(name: str) -> None:
    """reference.py against the loss written plainly and evaluated with 400 digits (its
    derivative by a central difference of step 1e-10)."""
    kwargs, gammas = ORACLE_ELEMENTWISE[name]
    case = CASES[name]
    x = np.array([POINTS] * len(SCORES))
    y = np.array([[score] * len(POINTS) for score in SCORES])
    for gamma in gammas:
        call = {**case.kwargs, **kwargs, **_gamma_kwargs(case, gamma)}
        loss, grad = case.reference()(x, y, reduction="none", **call)
        exact = _mp_elementwise(name, gamma)
        for (i, j), value in np.ndenumerate(x):
            _close(loss[i, j], exact(MP.mpf(value), y[i, j]))
            _close(grad[i, j], _mp_derivative(functools.partial(exact, y=y[i, j]), value))


ROWS = [
    [F64_MAX, -F64_MAX, 0.0],
    [-F64_MAX, F64_MAX / 2, 1e4],
    [F64_MAX / 2, -F64_MAX / 2, -F64_MAX],
    [F32_MAX, -F32_MAX, 0.0],
    [1e4, -1e4, 5.0],
    [F64_MAX, F64_MAX, 0.0],
]
ROW_TARGETS = [[0.0, 1.0, 0.0], [0.25, 0.75, 0.0], [0.2, 0.5, 0.3], [1.0, 0.0, 0.0]]


@pytest.mark.parametrize("name", ["softmax_focal", "poly1_softmax", "distribution"])
def test_oracle_softmax_losses_at_extremes(name: str) -> None:
    """As above, for rows that differ by up to twice the float64 range."""
    for gamma in [0.0] if name == "distribution" else GAMMAS:
        exact = _mp_row(name, gamma)
        for row, t in itertools.product(ROWS, ROW_TARGETS):
            x = np.array([row])
            if name == "distribution":
                label = t[1] + 2 * t[2]  # a label in [0, 2], and its two-bin target
                left = min(int(label), 1)
                t = [0.0, 0.0, 0.0]
                t[left], t[left + 1] = left + 1 - label, label - left
                loss, grad = reference.distribution_focal_loss(x, [label], reduction="none")
            else:
                call = {"activation": "softmax"} if name == "poly1_softmax" else {}
                function = getattr(reference, CASES[name].function)
                loss, grad = function(x, np.array([t]), gamma=gamma, reduction="none", **call)
            _close(loss[0], exact([MP.mpf(v) for v in row], t))
            for j in range(3):
                _close(grad[0, j], _mp_derivative(_along(exact, row, t, j), row[j]))
