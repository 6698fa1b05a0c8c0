"""torchfocal.weighting: class-balanced weights, balanced alpha, prior initialisation, LDAM's
margins and the deferred re-weighting schedule.

The class-balanced loss is tests/losses/test_class_balanced.py's.
"""

from __future__ import annotations

import decimal
import math
from decimal import Decimal
from typing import Any

import numpy as np
import pytest
import torch

import torchfocal
from losses.long_tail import COUNTS, C


@pytest.mark.parametrize("beta", [0.0, 0.9, 0.99, 0.999, 0.9999])
def test_class_balanced_weights_follow_cui_formula(beta: float) -> None:
    counts = [5000, 1200, 300, 40, 7]
    raw = [(1 - beta) / (1 - beta**n) for n in counts]
    expected = [w / sum(raw) * len(counts) for w in raw]
    weights = torchfocal.class_balanced_weights(counts, beta=beta)
    assert weights.dtype == torch.float32
    torch.testing.assert_close(weights, torch.tensor(expected, dtype=torch.float32))
    assert weights.sum().item() == pytest.approx(len(counts), rel=1e-6)


def test_class_balanced_weights_limits() -> None:
    counts = torch.tensor([1000, 100, 10])
    assert torchfocal.class_balanced_weights(counts, beta=0.0).tolist() == [1.0, 1.0, 1.0]
    # beta -> 1: weights -> inverse frequency (normalised); float64 expm1 keeps this exact.
    near_one = torchfocal.class_balanced_weights(counts, beta=1 - 1e-12)
    inverse = 1 / counts.double()
    torch.testing.assert_close(near_one.double(), inverse / inverse.sum() * 3, rtol=1e-6, atol=0)
    # rarer classes never get less weight
    weights = torchfocal.class_balanced_weights(np.array([7, 3000, 50]), beta=0.999)
    assert weights[0] > weights[2] > weights[1]


@pytest.mark.parametrize(
    ("counts", "beta", "error", "match"),
    [
        (
            [10, 0, 5],
            0.9,
            ValueError,
            r"counts must be positive for every class; got 0 for class 1",
        ),
        ([10, 5, -3], 0.9, ValueError, r"got -3 for class 2"),
        ([10, 5], 1.0, ValueError, r"beta must be in \[0, 1\); got 1.0"),
        ([10, 5], -0.1, ValueError, r"beta must be in \[0, 1\)"),
        ([10, 5], "0.9", TypeError, r"beta must be a float in \[0, 1\); got str"),
        ([], 0.9, ValueError, r"counts must be a non-empty 1-D sequence"),
        ([[1, 2]], 0.9, ValueError, r"counts must be a non-empty 1-D sequence"),
        (["a", "b"], 0.9, TypeError, r"counts must be a sequence of numbers"),
        ([1.0, float("inf")], 0.9, ValueError, r"counts must be finite; got inf for class 1"),
    ],
)
def test_class_balanced_weights_errors(counts: Any, beta: Any, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        torchfocal.class_balanced_weights(counts, beta=beta)


def test_balanced_alpha_balances_the_two_sides() -> None:
    positives = torch.tensor([10, 250, 500, 990])
    alpha = torchfocal.balanced_alpha(positives, 1000)
    negatives = 1000 - positives
    torch.testing.assert_close(alpha / (1 - alpha), negatives / positives.float())
    per_class_total = torchfocal.balanced_alpha([1, 3], [4, 4])
    torch.testing.assert_close(per_class_total, torch.tensor([0.75, 0.25]))


@pytest.mark.parametrize(
    ("positives", "total", "match"),
    [
        (
            [0, 5],
            10,
            r"num_positive must be in \(0, num_total\) for every class; got 0 of 10 "
            r"for class 0",
        ),
        ([5, 10], 10, r"got 10 of 10 for class 1"),
        ([1, 2, 3], [10, 10], r"num_total must be one number or one per class \(3\); got 2"),
    ],
)
def test_balanced_alpha_errors(positives: Any, total: Any, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        torchfocal.balanced_alpha(positives, total)


@pytest.mark.parametrize("pi", [0.001, 0.01, 0.5, 0.9])
def test_prior_bias_gives_probability_pi(pi: float) -> None:
    bias = torchfocal.prior_bias(pi)
    assert 1 / (1 + math.exp(-bias)) == pytest.approx(pi, rel=1e-12)
    conv = torchfocal.prior_bias_(torch.nn.Conv2d(4, 9, 3), pi)
    assert isinstance(conv, torch.nn.Conv2d)
    torch.testing.assert_close(torch.sigmoid(conv.bias.detach()), torch.full((9,), pi))


def test_prior_bias_errors() -> None:
    with pytest.raises(ValueError, match=r"pi must be in \(0, 1\); got 0.0"):
        torchfocal.prior_bias(0.0)
    with pytest.raises(ValueError, match=r"pi must be in \(0, 1\); got 1"):
        torchfocal.prior_bias(1)
    with pytest.raises(TypeError, match=r"pi must be a float"):
        torchfocal.prior_bias("0.01")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"module must have a bias parameter .* got Linear"):
        torchfocal.prior_bias_(torch.nn.Linear(3, 2, bias=False))


# --------------------------------------------------------------------------------------
# LDAM's margins and the deferred re-weighting schedule (LDAM-DRW)


def test_ldam_margins_formula() -> None:
    margins = torchfocal.ldam_margins(COUNTS, max_margin=0.4)
    assert margins.dtype == torch.float32 and margins.shape == (C,)
    expected = [0.4 * (min(COUNTS) / n) ** 0.25 for n in COUNTS]
    torch.testing.assert_close(margins, torch.tensor(expected), rtol=1e-7, atol=0)
    assert margins[3] == torch.tensor(0.4)  # the rarest class gets max_margin exactly
    assert torch.equal(torchfocal.ldam_margins(COUNTS, max_margin=0.0), torch.zeros(C))


def test_deferred_reweighting_schedule() -> None:
    balanced = torchfocal.class_balanced_weights(COUNTS, beta=0.99)
    for epoch in range(6):
        weight = torchfocal.deferred_reweighting(COUNTS, epoch, start_epoch=3, beta=0.99)
        assert weight.dtype == torch.float32 and weight.shape == (C,)
        expected = balanced if epoch >= 3 else torch.ones(C)
        assert torch.equal(weight, expected), epoch
    # start_epoch 0: re-weighted from the start; the default beta is 0.9999
    assert torch.equal(
        torchfocal.deferred_reweighting(COUNTS, 0, start_epoch=0),
        torchfocal.class_balanced_weights(COUNTS, beta=0.9999),
    )


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (
            lambda: torchfocal.ldam_margins([10, 0, 5]),
            ValueError,
            r"^class_counts must be positive for every class; got 0 for class 1",
        ),
        (
            lambda: torchfocal.ldam_margins([10, 5], max_margin=-1.0),
            ValueError,
            r"^max_margin must be a finite number >= 0; got -1.0",
        ),
        (
            lambda: torchfocal.ldam_margins([10, 5], max_margin=math.inf),
            ValueError,
            r"^max_margin must be a finite number >= 0; got inf",
        ),
        (
            lambda: torchfocal.ldam_margins([10, 5], max_margin="1"),
            TypeError,
            r"^max_margin must be a float >= 0; got str",
        ),
        (
            lambda: torchfocal.ldam_margins([[10, 5]]),
            ValueError,
            r"^class_counts must be a non-empty 1-D sequence",
        ),
        (
            lambda: torchfocal.deferred_reweighting([10, 5], 3, start_epoch=-1),
            ValueError,
            r"^start_epoch must be >= 0; got -1",
        ),
        (
            lambda: torchfocal.deferred_reweighting([10, 5], -2, start_epoch=0),
            ValueError,
            r"^epoch must be >= 0; got -2",
        ),
        (
            lambda: torchfocal.deferred_reweighting([10, 5], 1.0, start_epoch=0),
            TypeError,
            r"^epoch must be an int; got float",
        ),
        (
            lambda: torchfocal.deferred_reweighting([10, 5], 1, start_epoch=True),
            TypeError,
            r"^start_epoch must be an int; got bool",
        ),
        (
            lambda: torchfocal.deferred_reweighting([10, -5], 0, start_epoch=1),
            ValueError,
            r"^class_counts must be positive for every class; got -5 for class 1",
        ),
        (
            lambda: torchfocal.deferred_reweighting([10, 5], 0, start_epoch=1, beta=1.0),
            ValueError,
            r"^beta must be in \[0, 1\); got 1.0",
        ),
        (
            lambda: torchfocal.deferred_reweighting("ab", 0, start_epoch=1),
            TypeError,
            r"^class_counts must be a sequence of numbers",
        ),
    ],
)
def test_weighting_errors(call: Any, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        call()


# --------------------------------------------------------------------------------------
# Tiny, subnormal and huge counts and priors, against exact decimal arithmetic


_EXACT = decimal.Context(prec=80, Emin=-(10**6), Emax=10**6)


def _exact_prior_bias(pi: float) -> float:
    """log(pi) - log(1 - pi) in 80-digit decimal arithmetic, rounded once to float64."""
    p = Decimal(pi)  # the float's exact value
    return float(_EXACT.subtract(_EXACT.ln(p), _EXACT.ln(_EXACT.subtract(1, p))))


def _exact_class_balanced(counts: list[float], beta: float) -> list[float]:
    """(1 - beta) / (1 - beta**n), normalised to sum C, in 80-digit decimal arithmetic."""
    log_beta = _EXACT.ln(Decimal(beta))
    inverse = []
    for n in counts:
        t = _EXACT.multiply(Decimal(n), log_beta)
        if abs(t) < Decimal("1e-40"):
            # 1 - e^t = -t (1 + t/2 + t^2/6 + ...): two terms are exact to 80 digits here
            one_minus = _EXACT.multiply(-t, _EXACT.add(1, _EXACT.divide(t, 2)))
        else:
            one_minus = _EXACT.subtract(1, _EXACT.exp(t))
        inverse.append(_EXACT.divide(1, one_minus))
    total = Decimal(0)
    for value in inverse:
        total = _EXACT.add(total, value)
    return [float(_EXACT.divide(_EXACT.multiply(w, len(counts)), total)) for w in inverse]


def _ulps(value: float, exact: float) -> float:
    return abs(value - exact) / math.ulp(exact) if exact else abs(value)


def test_prior_bias_is_exact_for_every_binade() -> None:
    """Finite and within 1 ulp of log(pi / (1 - pi)) for every pi in (0, 1) of float64."""
    assert torchfocal.prior_bias(1e-310) == pytest.approx(-713.8013788281542, rel=1e-15)
    assert torchfocal.prior_bias(0.5) == 0.0
    grid = [2.0**-k for k in range(1, 1075)]  # down to the smallest subnormal
    grid += [1 - 2.0**-k for k in range(2, 54)]  # up to the largest float below 1
    grid += [0.5 + 2.0**-k for k in range(2, 54)] + [0.5 - 2.0**-k for k in range(2, 55)]
    grid += [1e-310, 5e-309, 1e-300, 1e-20, 0.01, 0.3, 0.7, 0.99, 1 - 1e-10]
    for pi in grid:
        bias = torchfocal.prior_bias(pi)
        assert math.isfinite(bias), pi
        assert _ulps(bias, _exact_prior_bias(pi)) <= 1, pi


@pytest.mark.parametrize(
    ("counts", "beta"),
    [
        ([1e-320, 1.0], 0.9999),
        ([1e-310, 2e-310, 4e-310], 0.9999),
        ([5e-324, 1e-323, 1.7e308], 0.5),
        ([1e-320, 1.0, 1e308], 1 - 1e-12),
        ([3e-321, 1e-300, 7.0, 1e5], 0.99),
        ([1e-315, 2e-315], 5e-324),
        ([1e-318, 1e308, 1.7e308], 1e-300),
    ],
)
def test_class_balanced_weights_tiny_and_huge_counts(counts: list[float], beta: float) -> None:
    weights = torchfocal.class_balanced_weights(counts, beta=beta)
    assert bool(torch.isfinite(weights).all())
    expected = torch.tensor(_exact_class_balanced(counts, beta), dtype=torch.float32)
    # one rounding to float32 (1.4e-45 is float32's smallest subnormal)
    torch.testing.assert_close(weights, expected, rtol=2**-23, atol=1.5e-45)


def test_class_balanced_weights_of_tiny_counts_are_inverse_frequency() -> None:
    """For n |log beta| far below 1, 1 - beta**n = n |log beta| to double precision."""
    weights = torchfocal.class_balanced_weights([1e-310, 2e-310, 4e-310], beta=0.9999)
    torch.testing.assert_close(weights, torch.tensor([12 / 7, 6 / 7, 3 / 7]))
    assert torchfocal.class_balanced_weights([1e-320, 1], beta=0.9999).tolist() == [2.0, 0.0]


@pytest.mark.parametrize(
    ("counts", "error", "match"),
    [
        ([10**400, 1], ValueError, r"counts must be finite; got a number beyond the float64"),
        (["1", "2"], TypeError, r"counts must be a sequence of numbers; got list of str$"),
        ([None, 1], TypeError, r"counts must be a sequence of numbers; got list of NoneType"),
        ([True, 2], TypeError, r"counts must be a sequence of numbers; got list of bool"),
        ({1, 2}, TypeError, r"counts must be a sequence of numbers; got set$"),
        ([[1, 2], [3]], ValueError, r"counts must be a non-empty 1-D sequence; got a ragged one"),
        (np.array(5.0), ValueError, r"counts must be a non-empty 1-D sequence; got shape \(\)$"),
        (np.array([1 + 1j, 2]), TypeError, r"counts must be a sequence of numbers; got ndarray"),
        (torch.tensor([1 + 1j]), TypeError, r"got a tensor of torch.complex64"),
        (np.array([True, True]), TypeError, r"sequence of numbers; got ndarray of bool$"),
    ],
)
def test_counts_of_the_wrong_kind(counts: Any, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        torchfocal.class_balanced_weights(counts)


def test_counts_in_every_tensor_dtype() -> None:
    expected = torchfocal.class_balanced_weights([3.0, 5.0, 96.0], beta=0.9)
    for dtype in (torch.bfloat16, torch.float16, torch.int32, torch.float64):
        counts = torch.tensor([3.0, 5.0, 96.0]).to(dtype)
        assert torch.equal(torchfocal.class_balanced_weights(counts, beta=0.9), expected)
    assert torch.equal(
        torchfocal.balanced_alpha(torch.tensor([3.0]).bfloat16(), 4), torch.tensor([0.25])
    )


def test_counts_of_every_container_agree() -> None:
    """Lists, tuples, NumPy arrays and scalars, tensors and lists of 0-d tensors: one result."""
    expected = torchfocal.class_balanced_weights([3.0, 5.0, 2**64 - 1], beta=0.9)
    containers: list[Any] = [
        (3, 5, 2**64 - 1),
        np.array([3, 5, 2**64 - 1], dtype=np.uint64),
        [np.int64(3), np.float32(5.0), 2**64 - 1],
        [torch.tensor(3), torch.tensor(5.0), 2**64 - 1],
        np.array([3, 5, 2**64 - 1], dtype=object),
    ]
    for counts in containers:
        assert torch.equal(torchfocal.class_balanced_weights(counts, beta=0.9), expected), counts
    one: Any = np.int64(1)  # a NumPy scalar, which the annotation does not spell out
    assert torch.equal(torchfocal.balanced_alpha(one, np.float64(4)), torch.tensor([0.75]))


def test_weights_land_on_the_default_device() -> None:
    """As torch's factories do: computed on the CPU, returned where torch.device(...) says."""
    with torch.device("meta"):
        assert torchfocal.class_balanced_weights([3, 5], beta=0.9).device.type == "meta"
        assert torchfocal.class_balanced_weights([3, 5], beta=0.0).device.type == "meta"
        assert torchfocal.balanced_alpha([1, 2], 4).device.type == "meta"
