"""Float targets in the fused sigmoid kernel (``_soft``), soft and hard alike.

``_soft`` computes the loss around the hard target nearer to y (docs/math.md, "Float targets
in the fused kernel"). It is held against the NumPy float64 oracle (torchfocal.reference) on
soft targets, hard float targets, targets of exactly 0, 1 and 1/2 and targets a tiny
distance from 0 or 1, at ordinary and extreme logits; against the bool kernel ``_hard``,
which a float target of 0s and 1s must reproduce to a few ulps (the two kernels compute
the hard terms with different ops); and
through the public function, fused and compiled. A float 0/1 target reaches ``_soft``
wherever the library cannot read it for free (GPUs, tracing); on a CPU it is turned into a
hard target first (``checks.reads_flags``, which says where values may be read for free), so
some tests here switch that off to run the path a GPU runs.

The error allowed against the oracle, per element (:func:`_allowed`), is a few ulps of the
size of the terms of the loss and gradient (the gradient's terms cancel where it crosses 0),
widened by gamma |log q| (exp(gamma log q) turns the rounding of log q into a relative error
of that size) and by the oracle's own rounding, plus what a modulator that underflows below
the dtype's normal range may lose (at most finfo.tiny, times what multiplies it).
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from typing import Any

import mpmath
import numpy as np
import pytest
import torch

import torchfocal
from torchfocal import reference
from torchfocal._engine import checks
from torchfocal.losses import sigmoid_focal

DTYPES = [torch.float32, torch.float64]
GAMMAS: list[float | str] = [0.0, 0.5, 1.0, 2.0, 2.5, 10.0, "per-element"]
#: Ulps of the size of the terms that the kernel may be off by (see the module docstring).
ULPS = 4.0
C = 5


def _targets(n: int, dtype: torch.dtype) -> torch.Tensor:
    """(n, C): uniform soft targets, with rows of exact 0, 1 and 1/2, and of targets a tiny
    distance from 0 and from 1 (the smallest distance from 1 a float has: eps / 2)."""
    tiny_d = 1e-30 if dtype == torch.float32 else 1e-300
    eps = torch.finfo(dtype).eps
    y = torch.rand(n, C, dtype=torch.float64)
    special = [0.0, 1.0, 0.5, tiny_d, 1e-8, 1.0 - eps / 2, 1.0 - 1e-3, 2.0**-24]
    for row, value in enumerate(special):
        y[row] = value
    y[len(special)] = torch.tensor([0.0, 1.0, 0.5, 0.3, 0.7], dtype=torch.float64)
    return y.to(dtype)


def _gamma(gamma: float | str, shape: tuple[int, ...], dtype: torch.dtype) -> float | torch.Tensor:
    """A number, or one gamma per element in [0, 10] (zeros included)."""
    if gamma != "per-element":
        assert isinstance(gamma, float)
        return gamma
    values = torch.rand(shape, dtype=torch.float64) * 10
    values.view(-1)[:3] = torch.tensor([0.0, 1.0, 2.0], dtype=torch.float64)
    return values.to(dtype)


def _alpha(kind: str, dtype: torch.dtype) -> float | torch.Tensor | None:
    if kind == "none":
        return None
    if kind == "float":
        return 0.25
    return torch.tensor([[0.1, 0.25, 0.5, 0.75, 0.9]], dtype=dtype)  # per class, (1, C)


def _pos_weight(kind: str, dtype: torch.dtype) -> torch.Tensor | None:
    if kind == "none":
        return None
    if kind == "scalar-3":
        return torch.tensor(3.0, dtype=dtype)
    if kind == "scalar-0.2":
        return torch.tensor(0.2, dtype=dtype)
    return torch.tensor([[0.2, 0.5, 1.0, 2.0, 3.0]], dtype=dtype)  # per class, (1, C)


def _numpy(value: Any) -> Any:
    return value.double().numpy() if isinstance(value, torch.Tensor) else value


def _oracle_gamma(gamma: float | torch.Tensor) -> Any:
    if isinstance(gamma, float):
        return gamma
    values = gamma.double().numpy()
    return lambda prob: values  # a per-element gamma is a constant of the gradient


def _oracle(x: torch.Tensor, y: torch.Tensor, **options: Any) -> tuple[np.ndarray, np.ndarray]:
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        loss, grad = reference.sigmoid_focal_loss(
            x.double().numpy(),
            y.double().numpy(),
            alpha=_numpy(options["alpha"]),
            gamma=_oracle_gamma(options["gamma"]),
            pos_weight=_numpy(options["pos_weight"]),
            weight=_numpy(options.get("weight")),
            reduction="none",
        )
    return np.asarray(loss), np.asarray(grad)


# Where the float64 oracle itself overflows (pos_weight c > 1 at x ~ -float64 max: its
# c y log p is -inf while alpha_t c y log p is not), the loss is evaluated plainly in
# 60-digit arithmetic, every probability and log-probability without cancellation.
MP = mpmath.mp.clone()
MP.dps = 60


@functools.cache
def _mp_point(
    x: float, y: float, alpha: float | None, gamma: float, c: float
) -> tuple[float, float]:
    xm, ym, g = MP.mpf(x), MP.mpf(y), MP.mpf(gamma)
    p, one_minus_p = 1 / (1 + MP.exp(-xm)), 1 / (1 + MP.exp(xm))
    log_p, log_1mp = -MP.log1p(MP.exp(-xm)), -MP.log1p(MP.exp(xm))
    ce = -(c * ym * log_p + (1 - ym) * log_1mp)
    q = ym * one_minus_p + (1 - ym) * p
    a_t = 1 if alpha is None else alpha * ym + (1 - alpha) * (1 - ym)
    m = q**g
    d_m = g * q ** (g - 1) * (1 - 2 * ym) * p * one_minus_p if gamma else 0
    d_ce = (1 - ym) * p - c * ym * one_minus_p
    return float(a_t * m * ce), float(a_t * (d_m * ce + m * d_ce))


def _fill_from_mpmath(
    x: torch.Tensor, y: torch.Tensor, loss: np.ndarray, grad: np.ndarray, **options: Any
) -> None:
    """Replace the oracle's non-finite elements by the 60-digit values (scalar options)."""
    bad = ~(np.isfinite(loss) & np.isfinite(grad))
    alpha, gamma = options["alpha"], options["gamma"]
    c = options["pos_weight"]
    assert alpha is None or isinstance(alpha, float)
    assert isinstance(gamma, float) and (c is None or c.dim() == 0)
    for index in zip(*np.nonzero(bad), strict=True):
        loss[index], grad[index] = _mp_point(
            float(x[index]), float(y[index]), alpha, gamma, 1.0 if c is None else float(c)
        )


def _allowed(
    x: torch.Tensor, y: torch.Tensor, dtype: torch.dtype, **options: Any
) -> tuple[np.ndarray, np.ndarray]:
    """Per-element error allowance of the loss and of the gradient (module docstring)."""
    xs, ys = x.double().numpy(), y.double().numpy()
    alpha, c, w = (_numpy(options[k]) for k in ("alpha", "pos_weight", "weight"))
    gamma = _numpy(options["gamma"])
    c = 1.0 if c is None else c
    w = 1.0 if w is None else w
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        log_p, log_1mp = -np.logaddexp(0.0, -xs), -np.logaddexp(0.0, xs)
        p, one_minus_p = np.exp(log_p), np.exp(log_1mp)
        # ce's two parts, so that c (-log p) need not be formed: at x = -float64 max it is
        # beyond the range while the loss is not.
        ce_pos, ce_neg = ys * -log_p, (1.0 - ys) * -log_1mp
        log_q = np.logaddexp(np.log(ys) + log_1mp, np.log1p(-ys) + log_p)
        m = np.exp(gamma * log_q)
        d_m = gamma * np.exp((gamma - 1.0) * log_q + log_p + log_1mp) * np.abs(1.0 - 2.0 * ys)
        a_t = 1.0 if alpha is None else alpha * ys + (1.0 - alpha) * (1.0 - ys)
        size_loss = (w * a_t * m * c) * ce_pos + (w * a_t * m) * ce_neg
        size_grad = (w * a_t * d_m * c) * ce_pos + (w * a_t * d_m) * ce_neg
        size_grad = size_grad + w * a_t * m * ((1.0 - ys) * p + c * ys * one_minus_p)
        eps, tiny = torch.finfo(dtype).eps, torch.finfo(dtype).tiny
        # The kernel's rounding (exp(gamma log q) is off by gamma |log q| ulps while it is a
        # normal number, gamma |log q| < 745; below, the underflow term covers it), and the
        # oracle's own: its p and 1 - p are exp(log p), exp(log(1 - p)), relatively off by
        # |log p| float64 ulps until they underflow.
        widen = eps * (1.0 + np.minimum(gamma * (np.abs(log_q) + 1.0), 800))
        widen = widen + np.finfo(np.float64).eps * np.minimum(np.abs(log_p) + np.abs(log_1mp), 1500)
        underflow = tiny * w * np.maximum(c, 1.0)
        ce = ce_pos + ce_neg
        loss_tol = ULPS * (widen * size_loss + underflow * ce + underflow)
        grad_tol = ULPS * (widen * size_grad + (underflow * gamma) * ce + 2.0 * underflow)
    assert np.isfinite(loss_tol).all() and np.isfinite(grad_tol).all()
    return loss_tol, grad_tol


def _assert_within(
    name: str, actual: torch.Tensor, expected: np.ndarray, allowed: np.ndarray, x: Any, y: Any
) -> None:
    got = actual.double().numpy()
    assert np.isfinite(expected).all(), f"{name}: the oracle is not finite"
    assert np.isfinite(got).all(), f"{name}: not finite at x={x[~np.isfinite(got)]}"
    error = np.abs(got - expected)
    ratio = np.where(error > 0, error / np.where(allowed > 0, allowed, np.inf), 0.0)
    ratio = np.where(np.isnan(ratio), np.inf, ratio)
    worst = np.unravel_index(np.argmax(ratio), ratio.shape)
    assert ratio[worst] <= 1.0, (
        f"{name} at x={float(x[worst])!r}, y={float(y[worst])!r}: {got[worst]!r} vs "
        f"{expected[worst]!r} (allowed {allowed[worst]!r})"
    )


def _check_soft(x: torch.Tensor, y: torch.Tensor, **options: Any) -> None:
    """_soft's loss and gradient against the oracle, within :func:`_allowed`."""
    options.setdefault("weight", None)
    loss, grad = sigmoid_focal.fused_elementwise(x, y, **options, need_grad=True)
    assert grad is not None
    ref_loss, ref_grad = _oracle(x, y, **options)
    if not (np.isfinite(ref_loss).all() and np.isfinite(ref_grad).all()):
        _fill_from_mpmath(x, y, ref_loss, ref_grad, **options)
    loss_tol, grad_tol = _allowed(x, y, x.dtype, **options)
    xs, ys = x.double().numpy(), y.double().numpy()
    _assert_within("loss", loss, ref_loss, loss_tol, xs, ys)
    _assert_within("grad", grad, ref_grad, grad_tol, xs, ys)
    # Without the gradient the loss is the same.
    alone, none = sigmoid_focal.fused_elementwise(x, y, **options, need_grad=False)
    assert none is None
    assert torch.equal(alone, loss)


@pytest.mark.parametrize("pos_weight", ["none", "per-class"])
@pytest.mark.parametrize("alpha", ["none", "float", "per-class"])
@pytest.mark.parametrize("gamma", GAMMAS, ids=str)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_soft_and_hard_float_targets_match_the_oracle(
    dtype: torch.dtype, gamma: float | str, alpha: str, pos_weight: str
) -> None:
    x = (torch.randn(64, C, dtype=torch.float64) * 8).to(dtype)
    y = _targets(64, dtype)
    _check_soft(
        x,
        y,
        alpha=_alpha(alpha, dtype),
        gamma=_gamma(gamma, x.shape, dtype),
        pos_weight=_pos_weight(pos_weight, dtype),
    )


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_weight_scales_loss_and_gradient(dtype: torch.dtype) -> None:
    x = (torch.randn(64, C, dtype=torch.float64) * 8).to(dtype)
    weight = torch.rand(64, 1, dtype=dtype) * 2
    _check_soft(
        x,
        _targets(64, dtype),
        alpha=0.25,
        gamma=2.5,
        pos_weight=_pos_weight("per-class", dtype),
        weight=weight,
    )


def _extreme_grid(dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """Every logit magnitude (both signs) against every target: the float's largest
    values, 1e4 and 1e30, exp's underflow (88, 104 in float32; 745 in float64), 0, 1e-3."""
    big = torch.finfo(dtype).max
    magnitudes = [0.0, 1e-3, 3.0, 17.0, 88.0, 104.0, 110.0, 745.0, 1e4, 1e30, big / 2, big]
    logits = torch.tensor(magnitudes + [-m for m in magnitudes], dtype=torch.float64)
    tiny_d = 1e-30 if dtype == torch.float32 else 1e-300
    eps = torch.finfo(dtype).eps
    scores = [0.0, 1.0, 0.5, 0.3, 0.7, tiny_d, 1e-8, 1.0 - eps / 2, 1.0 - 1e-3]
    x, y = torch.meshgrid(logits.to(dtype), torch.tensor(scores, dtype=dtype), indexing="ij")
    return x.contiguous(), y.contiguous()


@pytest.mark.parametrize("pos_weight", ["none", "scalar-3", "scalar-0.2"])
@pytest.mark.parametrize("gamma", [0.0, 0.5, 1.0, 2.0, 2.5, 10.0])
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_extreme_logits_match_the_oracle(dtype: torch.dtype, gamma: float, pos_weight: str) -> None:
    """Finite loss and gradient at every finite logit; where pos_weight 3 puts 3 log p
    beyond float64's range at x = -finfo.max the float64 oracle overflows and the values
    come from 60-digit arithmetic (alpha_t 3 log p is within range: the loss is finite)."""
    x, y = _extreme_grid(dtype)
    _check_soft(x, y, alpha=0.25, gamma=gamma, pos_weight=_pos_weight(pos_weight, dtype))


def _rows(options: dict[str, Any], start: int) -> dict[str, Any]:
    """The options for rows ``start:`` (a per-element gamma is cut with them)."""
    gamma = options["gamma"]
    if isinstance(gamma, torch.Tensor) and gamma.dim() == 2:
        gamma = gamma[start:]
    return {**options, "gamma": gamma}


def _both_kernels(
    x: torch.Tensor, mask: torch.Tensor, need_grad: bool, **options: Any
) -> tuple[tuple[torch.Tensor, Any], tuple[torch.Tensor, Any]]:
    soft = sigmoid_focal._soft(x, mask.to(x.dtype), **options, need_grad=need_grad)
    hard = sigmoid_focal._hard(x, mask, **options, need_grad=need_grad)
    return soft, hard


def _hard_case_logits(dtype: torch.dtype) -> torch.Tensor:
    x = (torch.randn(400, C, dtype=torch.float64) * 10).to(dtype)
    big = torch.finfo(dtype).max
    x[:2] = torch.tensor([0.0, 88.0, 104.0, 1e4, big], dtype=torch.float64).to(dtype)
    x[1] = -x[1]
    x[2, 0] = float("nan")
    return x


@pytest.mark.parametrize("need_grad", [True, False])
@pytest.mark.parametrize("alpha", ["none", "float", "per-class"])
@pytest.mark.parametrize("gamma", GAMMAS, ids=str)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_hard_float_targets_give_the_bool_kernel_to_a_few_ulps(
    dtype: torch.dtype, gamma: float | str, alpha: str, need_grad: bool
) -> None:
    x = _hard_case_logits(dtype)
    mask = torch.rand(x.shape) < 0.5
    mask[0] = True
    mask[1] = False
    options = {"alpha": _alpha(alpha, dtype), "gamma": _gamma(gamma, x.shape, dtype)}
    (loss, grad), (hard_loss, hard_grad) = _both_kernels(
        x, mask, need_grad, **options, pos_weight=None
    )
    assert torch.isnan(loss[2, 0]) and torch.isnan(hard_loss[2, 0])  # the NaN logit
    # Both kernels are within the oracle's allowance (module docstring), so of each other
    # within twice that; the NaN row and the extreme row 0-1 (|x| up to finfo.max, where the
    # allowance needs the oracle's values) are compared exactly.
    y = mask.to(dtype)
    allowed = _allowed(x[3:], y[3:], dtype, **_rows(options, 3), pos_weight=None, weight=None)
    xs, ys = x[3:].double().numpy(), y[3:].double().numpy()
    _assert_within("loss", loss[3:], hard_loss[3:].double().numpy(), 2 * allowed[0], xs, ys)
    assert torch.equal(loss[:3].isnan(), hard_loss[:3].isnan())
    if need_grad:
        _assert_within("grad", grad[3:], hard_grad[3:].double().numpy(), 2 * allowed[1], xs, ys)
    else:
        assert grad is None and hard_grad is None


@pytest.mark.parametrize("gamma", GAMMAS, ids=str)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_hard_float_targets_with_pos_weight_agree_with_the_bool_kernel(
    dtype: torch.dtype, gamma: float | str
) -> None:
    """With pos_weight too, within twice the oracle's allowance of each other."""
    x = _hard_case_logits(dtype)[3:]  # finite
    x[-1] = torch.tensor([1.0, -1e4, 1e4, 30.0, -30.0], dtype=dtype)
    mask = torch.rand(x.shape) < 0.5
    options = {
        "alpha": 0.25,
        "gamma": _gamma(gamma, x.shape, dtype),
        "pos_weight": _pos_weight("per-class", dtype),
    }
    (loss, grad), (hard_loss, hard_grad) = _both_kernels(x, mask, True, **options)
    y = mask.to(dtype)
    allowed = _allowed(x, y, dtype, **options, weight=None)
    xs, ys = x.double().numpy(), y.double().numpy()
    _assert_within("loss", loss, hard_loss.double().numpy(), 2 * allowed[0], xs, ys)
    _assert_within("grad", grad, hard_grad.double().numpy(), 2 * allowed[1], xs, ys)


@pytest.mark.parametrize("pos_weight", ["none", "per-class"])
@pytest.mark.parametrize("gamma", GAMMAS, ids=str)
def test_nan_logit_gives_nan_loss_and_gradient(gamma: float | str, pos_weight: str) -> None:
    """A NaN logit is NaN in its own loss and gradient, for soft and hard float targets
    (the rho = q0 / q of a hard target is its limit 1 where q0 underflows, never a value
    that hides the NaN); every other element is what it is without the NaN."""
    dtype = torch.float32
    y = _targets(16, dtype)
    x = torch.randn(y.shape, dtype=dtype) * 5
    poisoned = x.clone()
    poisoned[:, 1] = float("nan")  # every kind of target of _targets meets a NaN
    options = {
        "alpha": 0.25,
        "gamma": _gamma(gamma, x.shape, dtype),
        "pos_weight": _pos_weight(pos_weight, dtype),
    }
    loss, grad = sigmoid_focal._soft(poisoned, y, **options, need_grad=True)
    clean_loss, clean_grad = sigmoid_focal._soft(x, y, **options, need_grad=True)
    assert grad is not None and clean_grad is not None
    hit = torch.isnan(poisoned)
    assert torch.isnan(loss[hit]).all() and torch.isnan(grad[hit]).all()
    assert torch.equal(loss[~hit], clean_loss[~hit])
    assert torch.equal(grad[~hit], clean_grad[~hit])


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_traced_numbers_as_0d_tensors(dtype: torch.dtype) -> None:
    """The compiled backend passes alpha and gammas other than 0, 1, 2 as 0-d tensors."""
    x = (torch.randn(64, C, dtype=torch.float64) * 8).to(dtype)
    y = _targets(64, dtype)
    for gamma in (2.5, 2.0, 0.5):
        as_numbers = sigmoid_focal._soft(
            x, y, alpha=0.25, gamma=gamma, pos_weight=None, need_grad=True
        )
        as_tensors = sigmoid_focal._soft(
            x,
            y,
            alpha=torch.tensor(0.25, dtype=dtype),
            gamma=torch.tensor(gamma, dtype=dtype),
            pos_weight=None,
            need_grad=True,
        )
        # gamma 2.0 as a tensor takes exp(gamma log q), not q * q: a few ulps apart.
        tol = (
            {"rtol": 0.0, "atol": 0.0}
            if gamma != 2.0
            else {"rtol": 1e3 * torch.finfo(dtype).eps, "atol": 0.0}
        )
        torch.testing.assert_close(as_tensors[0], as_numbers[0], **tol)
        torch.testing.assert_close(as_tensors[1], as_numbers[1], **tol)


# -- through the public function --------------------------------------------------------------


def _spy(monkeypatch: pytest.MonkeyPatch) -> list[torch.dtype]:
    """Record the target dtype of every kernel call (fused_elementwise looks _soft and _hard
    up at call time)."""
    calls: list[torch.dtype] = []

    def wrap(kernel: Callable[..., Any]) -> Callable[..., Any]:
        def spy(x: torch.Tensor, y: torch.Tensor, **kwargs: Any) -> Any:
            calls.append(y.dtype)
            return kernel(x, y, **kwargs)

        return spy

    monkeypatch.setattr(sigmoid_focal, "_soft", wrap(sigmoid_focal._soft))
    monkeypatch.setattr(sigmoid_focal, "_hard", wrap(sigmoid_focal._hard))
    return calls


def _loss_and_grad(
    x: torch.Tensor, target: torch.Tensor, **kwargs: Any
) -> tuple[torch.Tensor, torch.Tensor]:
    xx = x.clone().requires_grad_(True)
    loss = torchfocal.sigmoid_focal_loss(xx, target, **kwargs)
    (grad,) = torch.autograd.grad(loss, xx, torch.ones_like(loss))
    return loss.detach(), grad


@pytest.mark.parametrize("reduction", ["none", "mean"])
def test_fused_float_targets_equal_bool_targets(
    reduction: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The public function, fused. On a CPU float 0/1 targets take the hard kernel, as the
    bool mask does: bit for bit the same. As on a GPU (the CPU's check switched off) they
    take the soft kernel: the same within the oracle's allowance; with one soft target among
    them (never hard) the hard elements do too."""
    x = torch.randn(300, C) * 6
    mask = torch.rand(300, C) < 0.1
    options: dict[str, Any] = {"alpha": 0.25, "gamma": 2.0, "reduction": reduction}
    bool_loss, bool_grad = _loss_and_grad(x, mask, backend="fused", **options)
    float_loss, float_grad = _loss_and_grad(x, mask.float(), backend="fused", **options)
    assert torch.equal(float_loss, bool_loss)
    assert torch.equal(float_grad, bool_grad)

    calls = _spy(monkeypatch)
    with monkeypatch.context() as patch:
        patch.setattr(checks, "reads_flags", lambda tensor: False)
        soft_loss, soft_grad = _loss_and_grad(x, mask.float(), backend="fused", **options)
    assert calls == [torch.float32]
    tol = {"rtol": 8 * torch.finfo(torch.float32).eps, "atol": 1e-30}
    torch.testing.assert_close(soft_loss, bool_loss, **tol)
    torch.testing.assert_close(soft_grad, bool_grad, **tol)

    if reduction == "none":
        mixed = mask.float()
        mixed[0, 0] = 0.3
        mixed_loss, mixed_grad = _loss_and_grad(x, mixed, backend="fused", **options)
        assert calls == [torch.float32, torch.float32]
        torch.testing.assert_close(mixed_loss.view(-1)[1:], bool_loss.view(-1)[1:], **tol)
        torch.testing.assert_close(mixed_grad.view(-1)[1:], bool_grad.view(-1)[1:], **tol)
        assert not torch.equal(mixed_loss[0, 0], bool_loss[0, 0])


def test_compiled_float_targets_soft_and_hard(monkeypatch: pytest.MonkeyPatch) -> None:
    """backend="compiled" with float targets, one call (compiling is slow): soft targets
    match the oracle, the 0/1 ones the fused bool kernel; gamma 2.5 and alpha reach the
    compiled program as 0-d tensors. No fallback warning: the soft kernel itself compiled."""
    x = torch.randn(64, C) * 6
    x[0] = torch.tensor([1e4, -1e4, 100.0, -100.0, 0.0])
    y = _targets(64, torch.float32)
    hard = (y == 0) | (y == 1)
    assert hard.any() and not hard.all()
    options: dict[str, Any] = {"alpha": 0.25, "gamma": 2.5, "reduction": "none"}
    calls = _spy(monkeypatch)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        loss, grad = _loss_and_grad(x, y, backend="compiled", **options)
    assert torch.float32 in calls  # traced through _soft
    ref_loss, ref_grad = _oracle(x, y, alpha=0.25, gamma=2.5, pos_weight=None)
    loss_tol, grad_tol = _allowed(
        x, y, torch.float32, alpha=0.25, gamma=2.5, pos_weight=None, weight=None
    )
    # Inductor may fuse a multiply and an add into one rounding: a few more ulps.
    xs, ys = x.double().numpy(), y.double().numpy()
    _assert_within("loss", loss, ref_loss, 4 * loss_tol, xs, ys)
    _assert_within("grad", grad, ref_grad, 4 * grad_tol, xs, ys)
    bool_loss, bool_grad = _loss_and_grad(x, y == 1, backend="fused", **options)
    tol = {"rtol": 16 * torch.finfo(torch.float32).eps, "atol": 1e-30}
    torch.testing.assert_close(loss[hard], bool_loss[hard], **tol)
    torch.testing.assert_close(grad[hard], bool_grad[hard], **tol)
