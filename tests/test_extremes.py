"""Extreme logits and NaN propagation, for every public loss and backend.

DESIGN.md 2: loss and gradient are finite for every finite logit up to the dtype's largest
value, every gamma in [0, 10] and every target in [0, 1], and a NaN logit gives a NaN loss.
Each case runs logits at +-finfo.max, +-finfo.max / 2, +-1e4 and 0 (and softmax rows that
mix them, e.g. [max, -max, 0]) with hard and soft targets, and holds the loss and the input
gradient against the float64 oracle (reference.py) evaluated at the same, rounded, logits.
A loss whose true value exceeds the dtype's largest value (e.g. -log p at p = e^(-2 max))
must be inf, the correctly rounded value; the oracle's float64 value cast to the dtype says
which those are. The gradient is always finite.

The losses, their forms, options, focusing parameters and oracles come from the registry
(:data:`torchfocal.registry.LOSSES`): each sample form of each loss, its first variant and
its ``extreme_variants``, with its focusing parameters (``LossInfo.focusing``) at each of
``focusing_values`` where the variant does not set them. A loss the oracle cannot hold at
these logits says why in its entry (``LossInfo.extremes``), as one whose NaN propagation
falls short does (``LossInfo.nan_logits``).
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import mpmath
import numpy as np
import pytest
import torch

from conftest import all_pairs, tolerance
from torchfocal import reference
from torchfocal.registry import LOSSES, LossInfo, Sample, by_name

# At float64's largest logits the oracle's exponents and products overflow to their correct
# limits (gamma log q = -inf, so q^gamma = 0; a loss beyond the range is inf): NumPy's
# overflow warnings are expected there. Invalid operations (NaN) still warn.
pytestmark = pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")

DTYPES = [torch.float16, torch.bfloat16, torch.float32, torch.float64]
#: The backends every call runs on in full (each dtype, target kind and focusing value); the
#: loss's others but Triton (the compiled one) at one focusing value (_oracle_parameters).
#: Triton's kernels have their own extreme-logit tests, through the interpreter
#: (tests/test_triton_*.py).
FULL_BACKENDS = ("naive", "fused")

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
    """Row 0 negatives, row 1 positives: float 0 / 1 ("hard"), a bool mask ("mask"), an
    integer 0 / 1 mask ("int_mask"), or soft targets 0.3 / 0.8."""
    low, high = (0.3, 0.8) if kind == "soft" else (0.0, 1.0)
    target = torch.tensor([[low] * x.shape[1], [high] * x.shape[1]], dtype=torch.float64)
    if kind == "mask":
        return target > 0.5
    return target.long() if kind == "int_mask" else target


def index_target(x: torch.Tensor) -> torch.Tensor:
    return torch.arange(3).repeat_interleave(x.shape[0] // 3)


def probability_target(x: torch.Tensor) -> torch.Tensor:
    rows = torch.tensor([[0.7, 0.0, 0.3], [0.0, 0.6, 0.4], [0.2, 0.5, 0.3]], dtype=torch.float64)
    return rows.repeat_interleave(x.shape[0] // 3, dim=0)


def bin_label(kind: str, x: torch.Tensor) -> torch.Tensor:
    labels = [0.0, 1.0, 2.0] if kind == "hard" else [0.25, 1.5, 1.75]
    return torch.tensor(labels, dtype=torch.float64).repeat_interleave(x.shape[0] // 3)


#: The target kinds each of a sample's forms (Sample.forms) is tested with, and whether the
#: kind runs in full (every dtype, focusing value and FULL_BACKENDS) or only in the covering
#: set: hard / soft / mask targets in full, as ever; the integer mask and class indices of a
#: sigmoid form (the same math through another target path) pairwise.
ELEMENTWISE_KINDS: dict[str, tuple[tuple[str, bool], ...]] = {
    "mask": (("mask", True),),
    "soft": (("hard", True), ("soft", True)),
    "score": (("hard", True), ("soft", True)),
    "int_mask": (("int_mask", False),),
    "index": (("index", False),),
}
#: As above, for the forms whose target has one entry per row of classes.
ROW_KINDS: dict[str, tuple[tuple[str, bool], ...]] = {
    "index": (("hard", True),),
    "probabilities": (("soft", True),),
    "label": (("hard", True), ("soft", True)),
}


def _layout(sample: Sample) -> str:
    """ "elementwise": a (2, 7) logit per target value; "rows": (147, 3) rows of classes."""
    return "elementwise" if sample.target in ("mask", "score") else "rows"


def _kinds(sample: Sample) -> list[tuple[str, bool]]:
    table = ELEMENTWISE_KINDS if _layout(sample) == "elementwise" else ROW_KINDS
    return [kind for form in sample.forms for kind in table[form]]


@dataclass(frozen=True)
class Call:
    """One call of a registered loss at extreme logits: a sample form, its options."""

    info: LossInfo
    sample: Sample
    options: Mapping[str, Any]
    #: "g<value>": the first variant with the focusing parameters at that value; "-": the
    #: first variant of a loss without any; "x<k>": the k-th extreme variant ("x<k>-g<value>"
    #: with the focusing parameters at that value, where it does not set them).
    label: str

    @property
    def id(self) -> str:
        form = self.info.samples.index(self.sample)
        return f"{self.info.name}-{form}-{self.label}"

    @property
    def swept(self) -> bool:
        """Whether the call is one of a sweep of the focusing values (or the first variant
        of a loss without focusing parameters)."""
        return not self.label.startswith("x") or "-g" in self.label

    @property
    def reduction(self) -> str:
        """ "none" where the form has it (one value per location, class or region), else the
        sum (the region losses that only reduce)."""
        return "none" if "none" in self.sample.reductions else "sum"

    def inputs(self, kind: str, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        if _layout(self.sample) == "elementwise" and kind != "index":
            x = elementwise_logits(dtype)
            return x, elementwise_target(kind, x)
        x = row_logits(dtype)
        if self.sample.target == "label":
            return x, bin_label(kind, x)
        return x, probability_target(x) if kind == "soft" else index_target(x)

    def run(
        self, backend: str, x: torch.Tensor, target: torch.Tensor, reduction: str
    ) -> tuple[torch.Tensor, torch.Tensor]:
        x = x.detach().clone().requires_grad_(True)
        loss = self.info.function(x, target, backend=backend, reduction=reduction, **self.options)
        loss.backward(torch.ones_like(loss))
        assert x.grad is not None
        return loss.detach(), x.grad

    def oracle(self, x: torch.Tensor, target: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        function = self.info.reference_function
        assert function is not None, f"{self.info.name} has no oracle: say so in `extremes`"
        options = {
            k: v.numpy() if isinstance(v, torch.Tensor) else v for k, v in self.options.items()
        }
        loss, grad = function(
            x.double().numpy(), target.numpy(), reduction=self.reduction, **options
        )
        return np.asarray(loss), np.asarray(grad)


def _calls(info: LossInfo) -> list[Call]:
    """Each sample form with its first variant and with each extreme variant, the
    focusing parameters at each of their values where the variant does not set them (then
    as written); the sample's own options last."""
    calls = []
    for sample in info.samples:
        first = dict(info.variants[0]) if info.variants else {}
        for value in info.focusing_values if info.focusing else (None,):
            focus = {name: value for name in info.focusing} if value is not None else {}
            options = {**first, **focus, **sample.options}
            calls.append(Call(info, sample, options, "-" if value is None else f"g{value}"))
        for k, variant in enumerate(info.extreme_variants):
            options = {**variant, **sample.options}
            if set(info.focusing) & set(variant):  # as written
                calls.append(Call(info, sample, options, f"x{k}"))
                continue
            for value in info.focusing_values if info.focusing else (None,):
                focus = {name: value for name in info.focusing} if value is not None else {}
                label = f"x{k}" if value is None else f"x{k}-g{value}"
                calls.append(Call(info, sample, {**options, **focus}, label))
    return calls


CALLS = [call for info in LOSSES for call in _calls(info)]
#: The calls the oracle holds at extreme logits (LossInfo.extremes: why not the others).
ORACLE_CALLS = [call for call in CALLS if not call.info.extremes]


def _backends(info: LossInfo) -> list[str]:
    return [backend for backend in info.backends if backend != "triton"]


def _oracle_parameters() -> list[Any]:
    """Every call x full kind x FULL_BACKENDS x dtype, the product as it always ran; a
    pairwise covering set of each sample form's calls x every kind (the other target paths
    too) x FULL_BACKENDS x dtype; and on the loss's other backends but Triton (the compiled
    one: a program per dtype, target kind and special focusing value, a second or more of
    compiling each), each form's call at its largest focusing value in each dtype, the full
    kinds by turns."""
    rows: dict[str, tuple[Call, str, str, torch.dtype]] = {}
    by_form: dict[tuple[str, int], list[Call]] = {}
    for call in ORACLE_CALLS:
        by_form.setdefault((call.info.name, id(call.sample)), []).append(call)
    for calls in by_form.values():
        kinds = _kinds(calls[0].sample)
        full = [kind for kind in kinds if kind[1]]
        for call in calls:
            for (kind, _), backend, dtype in itertools.product(full, FULL_BACKENDS, DTYPES):
                rows[f"{call.id}-{kind}-{backend}-{dtype}"] = (call, kind, backend, dtype)
        for call, (kind, _), backend, dtype in all_pairs(calls, kinds, FULL_BACKENDS, DTYPES):
            rows.setdefault(f"{call.id}-{kind}-{backend}-{dtype}", (call, kind, backend, dtype))
        # The other backends at the largest focusing value (a program of its own per dtype
        # and target kind; the special values' programs: test_compiled.py).
        call = [call for call in calls if call.swept][-1]
        for backend in _backends(call.info):
            if backend in FULL_BACKENDS:
                continue
            for i, dtype in enumerate(DTYPES):  # each dtype and each full kind once
                kind = full[i % len(full)][0]
                rows[f"{call.id}-{kind}-{backend}-{dtype}"] = (call, kind, backend, dtype)
    return [pytest.param(*row, id=name) for name, row in rows.items()]


@pytest.mark.parametrize(("call", "kind", "backend", "dtype"), _oracle_parameters())
def test_extreme_logits_match_the_oracle(
    call: Call, kind: str, backend: str, dtype: torch.dtype
) -> None:
    x, target = call.inputs(kind, dtype)
    loss, grad = call.run(backend, x, target, call.reduction)
    ref_loss, ref_grad = call.oracle(x, target)
    expected_loss = torch.from_numpy(ref_loss).to(dtype)
    expected_grad = torch.from_numpy(ref_grad).to(dtype)
    # The oracle is never NaN and its gradient is finite; its loss is inf only where the true
    # value exceeds float64's range (as it does for a class at -max beside one at +max).
    assert not np.isnan(ref_loss).any() and np.isfinite(ref_grad).all()
    assert not torch.isnan(loss).any(), loss
    assert torch.isfinite(grad).all(), grad
    assert torch.equal(torch.isinf(loss), torch.isinf(expected_loss))
    tol = tolerance(dtype)  # the suite's tolerances hold at the extremes too
    torch.testing.assert_close(loss, expected_loss, **tol)
    torch.testing.assert_close(grad, expected_grad, **tol)


@pytest.mark.parametrize("backend", FULL_BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_sum_past_the_largest_value_is_inf(backend: str, dtype: torch.dtype) -> None:
    """Four losses of finfo.max each: every element is finite, but the true sum exceeds the
    dtype's range, so inf is its correctly rounded value; the gradient stays finite."""
    big = torch.finfo(dtype).max
    x = torch.full((4,), -big, dtype=dtype)
    y = torch.ones(4, dtype=dtype)
    call = Call(by_name("sigmoid_focal_loss"), Sample("mask"), {"alpha": None, "gamma": 2.0}, "")
    elements, _ = call.run(backend, x, y, "none")
    torch.testing.assert_close(elements, torch.full_like(x, big))
    total, grad = call.run(backend, x, y, "sum")
    assert total == float("inf")
    torch.testing.assert_close(grad, torch.full_like(x, -1.0))


def _mean_parameters() -> list[Any]:
    """Each oracle-held loss form's first call with a "mean" (its focusing parameters at 2),
    in float32 and float64 on FULL_BACKENDS, in one of them (by turns) on the others but
    Triton."""
    calls = [
        call
        for call in ORACLE_CALLS
        if call.label in ("-", "g2.0")
        and "mean" in call.sample.reductions
        and call.info.form != "region"
        and (call.label == "g2.0" or not call.info.focusing)
    ]
    rows = [
        (call, backend, dtype)
        for n, call in enumerate(calls)
        for backend in _backends(call.info)
        for dtype in (torch.float32, torch.float64)
        # compiled: a program a dtype; the forms take float32 and float64 in turn
        if backend in FULL_BACKENDS or dtype == (torch.float32, torch.float64)[n % 2]
    ]
    return [pytest.param(*row, id=f"{row[0].id}-{row[1]}-{row[2]}") for row in rows]


@pytest.mark.parametrize(("call", "backend", "dtype"), _mean_parameters())
def test_mean_of_losses_near_the_largest_value_is_finite(
    call: Call, backend: str, dtype: torch.dtype
) -> None:
    """Four losses of about finfo.max each: their mean is finite, so "mean" must not pass
    through an infinite sum (the naive reduction, both block runners and the compiled one;
    float64 has nothing wider to sum in)."""
    half = torch.finfo(dtype).max / 2
    target: torch.Tensor
    if _layout(call.sample) == "rows":  # -log p_0 = half + half for the row [-half, half, 0]
        target = torch.zeros(4, dtype=torch.long)
        if call.sample.target == "label":
            target = target.double()
        # -log p_0 of the row [-q, q, 0] grows as 2 q r, r the loss's rate in the logits'
        # size (from the oracle's largest loss element at q = 1e4): 1 for the cross-entropy
        # and its kin, LDAM's scale s for its s x. At q = half / r each loss is about
        # finfo.max and their sum past it.
        probe = torch.tensor([[-1e4, 1e4, 0.0]], dtype=torch.float64)
        rate = max(float(np.max(call.oracle(probe, target[:1])[0])) / 2e4, 1.0)
        half = half / rate
        x = torch.tensor([[-half, half, 0.0]] * 4, dtype=dtype)
    else:  # -log p = 2 half at x = -2 half, y = 1
        x = torch.full((4,), -2 * half, dtype=dtype)
        target = torch.ones(4, dtype=dtype)
        if call.sample.target == "mask":
            target = target.bool()
    elements, element_grad = call.run(backend, x, target, "none")
    assert torch.isfinite(elements).all()
    mean, grad = call.run(backend, x, target, "mean")
    # "mean" is the sum over the loss's own count (locations, logits or counted samples):
    # the count as ordinary logits (x / half) give it on the naive backend (a count of
    # the backend under test's own would hide a wrong one; on the compiled backend the
    # "sum" would also be a program more to compile)
    small = (x.double() / half).to(dtype)
    count = (
        call.run("naive", small, target, "sum")[0].double()
        / call.run("naive", small, target, "mean")[0].double()
    )
    expected = (elements.double() / count).sum().to(dtype)
    assert torch.isfinite(mean) and torch.isfinite(expected)
    torch.testing.assert_close(mean, expected, **tolerance(dtype))
    torch.testing.assert_close(grad, (element_grad / count).to(dtype), **tolerance(dtype))


# -- NaN propagation ---------------------------------------------------------------------


def _nan_parameters() -> list[Any]:
    """Each loss form's first and extreme variants with the largest focusing value (where
    the variant does not set it), every target kind on FULL_BACKENDS, the first on the
    loss's other backends but Triton."""
    params = []
    for call in CALLS:
        if call.info.nan_logits:
            continue
        focusing = call.label.partition("g")[2]  # "" where the variant sets it, or none
        if focusing and focusing != str(call.info.focusing_values[-1]):
            continue
        kinds = [kind for kind, _ in _kinds(call.sample)]
        for kind, backend in itertools.product(kinds, _backends(call.info)):
            if backend in FULL_BACKENDS or kind == kinds[0]:  # compiled: a program a kind
                params.append(pytest.param(call, kind, backend, id=f"{call.id}-{kind}-{backend}"))
    return params


NAN_PARAMETERS = _nan_parameters()
#: The first call the NaN test runs on the compiled backend.
FIRST_COMPILED_NAN_CALL = next(p.values[0] for p in NAN_PARAMETERS if p.values[2] == "compiled")


@pytest.mark.parametrize(("call", "kind", "backend"), NAN_PARAMETERS)
def test_nan_logit_gives_nan_loss_and_gradient(call: Call, kind: str, backend: str) -> None:
    """A NaN logit makes its own loss element, its gradient and the reduced loss NaN; every
    other element is what it is without the NaN. The elements a logit reaches: its own in
    an elementwise loss, its row's in the others (the softmax couples a row's classes);
    a loss reduced to one value (the region losses without "none") checks its gradient at
    the NaN."""
    x, target = call.inputs(kind, torch.float64)
    x = torch.randn(x.shape, dtype=torch.float64) * 3
    # a negative of row 0 (the elementwise layout), class 1 of the last row (the others)
    bad = (0, 1) if x.shape == (2, 7) else (x.shape[0] - 1, 1)
    poisoned = x.clone()
    poisoned[bad] = float("nan")
    loss, grad = call.run(backend, poisoned, target, call.reduction)
    clean_loss, clean_grad = call.run(backend, x, target, call.reduction)

    if loss.dim() == 0:
        assert torch.isnan(loss)
        assert torch.isnan(grad[bad])
    else:
        if loss.shape == x.shape and call.info.form != "region":  # one loss per logit
            hit = torch.zeros(x.shape, dtype=torch.bool)
            hit[bad] = True
            grad_hit = hit
        else:  # one loss per row, or per class of the row: the row depends on the NaN
            hit = torch.zeros(loss.shape, dtype=torch.bool)
            hit[bad[0]] = True
            grad_hit = torch.zeros(x.shape, dtype=torch.bool)
            grad_hit[bad[0]] = True
        assert torch.isnan(loss[hit]).all()
        assert torch.isnan(grad[grad_hit]).all()
        torch.testing.assert_close(loss[~hit], clean_loss[~hit], rtol=0, atol=0)
        torch.testing.assert_close(grad[~grad_hit], clean_grad[~grad_hit], rtol=0, atol=0)

    # The reductions of a NaN: on the compiled backend (a program per reduction, a second
    # or more of compiling each) for the first loss form only, Inductor's one sum for all.
    if backend in FULL_BACKENDS or call is FIRST_COMPILED_NAN_CALL:
        for reduction in ("mean", "sum"):
            if reduction in call.sample.reductions:
                reduced, _ = call.run(backend, poisoned, target, reduction)
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


#: The losses written plainly above (_mp_elementwise), by that name: their functions and
#: options (a second oracle, of the first; a loss without one is not checked here). The
#: focusing values are the registry's.
ORACLE_ELEMENTWISE = {
    "sigmoid_focal": ("sigmoid_focal_loss", {}),
    "poly1_sigmoid": ("poly1_focal_loss", {"activation": "sigmoid", "alpha": None}),
    "sigmoid_focal_star": ("sigmoid_focal_loss_star", {"beta": 1.0}),
    "asymmetric_clip": ("asymmetric_loss", {"clip": 0.05}),
    "varifocal": ("varifocal_loss", {"alpha": 0.75}),
    "quality": ("quality_focal_loss", {}),
}


@pytest.mark.parametrize(
    "name", [pytest.param(name, id=f"{name}-{f}") for name, (f, _) in ORACLE_ELEMENTWISE.items()]
)
def test_oracle_elementwise_losses_at_extremes(name: str) -> None:
    """reference.py against the loss written plainly and evaluated with 400 digits (its
    derivative by a central difference of step 1e-10)."""
    function, kwargs = ORACLE_ELEMENTWISE[name]
    info = by_name(function)
    x = np.array([POINTS] * len(SCORES))
    y = np.array([[score] * len(POINTS) for score in SCORES])
    for gamma in info.focusing_values:
        call = {**kwargs, **{focusing: gamma for focusing in info.focusing}}
        loss, grad = info.reference_function(x, y, reduction="none", **call)
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


#: As ORACLE_ELEMENTWISE, for the losses of rows written plainly above (_mp_row).
ORACLE_ROWS = {
    "softmax_focal": "softmax_focal_loss",
    "poly1_softmax": "poly1_focal_loss",
    "distribution": "distribution_focal_loss",
}


@pytest.mark.parametrize("name", [pytest.param(k, id=f"{k}-{f}") for k, f in ORACLE_ROWS.items()])
def test_oracle_softmax_losses_at_extremes(name: str) -> None:
    """As above, for rows that differ by up to twice the float64 range."""
    info = by_name(ORACLE_ROWS[name])
    for gamma in info.focusing_values if info.focusing else [0.0]:
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
                function = info.reference_function
                assert function is not None
                loss, grad = function(x, np.array([t]), gamma=gamma, reduction="none", **call)
            _close(loss[0], exact([MP.mpf(v) for v in row], t))
            for j in range(3):
                _close(grad[0, j], _mp_derivative(_along(exact, row, t, j), row[j]))


#: The losses of adjusted logits z = f(x) (logit adjustment z = x + tau log pi, LDAM
#: z = s (x - m_y e_y)), with their registry samples' options: their oracles form z after
#: taking off the row's largest logit (reference._affine_log_softmax), which the textbook
#: formula below does not. The rows add a near tie at the top beside a class past the float
#: range below it, where a shift by the maximum alone overflows.
ADJUSTED_ROWS = [*ROWS, [F64_MAX, F64_MAX, -F64_MAX], [1e4, 1e4 + 0.5, -F64_MAX]]


def _mp_adjusted(name: str, options: Mapping[str, Any]) -> Callable[[list[Any], list[float]], Any]:
    """The loss of a row as the textbook writes it: z from x exactly, then -sum t log p."""
    if name == "ldam_loss":
        counts = [MP.mpf(n) for n in options["class_counts"]]
        margins = [MP.mpf("0.5") * (min(counts) / n) ** MP.mpf("0.25") for n in counts]
        scale = MP.mpf(30)

        def adjust(x: list[Any], t: list[float]) -> list[Any]:
            return [scale * (v - (margins[c] if t[c] else 0)) for c, v in enumerate(x)]

    else:
        prior = [MP.mpf(n) for n in options["prior"]]
        log_pi = [MP.log(n / MP.fsum(prior)) for n in prior]

        def adjust(x: list[Any], t: list[float]) -> list[Any]:
            return [v + log_pi[c] for c, v in enumerate(x)]

    def loss(x: list[Any], t: list[float]) -> Any:
        log_p, _, _ = _mp_softmax(tuple(adjust(x, t)))
        return -MP.fsum(t[c] * log_p[c] for c in range(len(x)))

    return loss


@pytest.mark.parametrize("name", ["logit_adjusted_cross_entropy", "ldam_loss"])
def test_oracle_adjusted_softmax_losses_at_extremes(name: str) -> None:
    """reference.py's logit-adjusted cross-entropy and LDAM against their textbook formulas
    in 340-digit arithmetic (as above), at rows up to twice the float64 range apart, with
    class indices (LDAM) and class probabilities (logit adjustment) as targets."""
    info = by_name(name)
    options = dict(info.samples[0].options)
    function = info.reference_function
    assert function is not None
    targets = [t for t in ROW_TARGETS if name != "ldam_loss" or sorted(t) == [0.0, 0.0, 1.0]]
    exact = _mp_adjusted(name, options)
    for row, t in itertools.product(ADJUSTED_ROWS, targets):
        x = np.array([row])
        hard = sorted(t) == [0.0, 0.0, 1.0]
        target = np.array([t.index(1.0)]) if hard else np.array([t])
        loss, grad = function(x, target, reduction="none", **options)
        _close(loss[0], exact([MP.mpf(v) for v in row], t))
        for j in range(3):
            _close(grad[0, j], _mp_derivative(_along(exact, row, t, j), row[j]))
