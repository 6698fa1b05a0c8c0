"""The logit-adjusted cross-entropy (balanced softmax at tau = 1) and the post-hoc logit
adjustment (logit_adjust).

Held against the NumPy reference (loss and gradient), against a re-computation from the
papers' formulas in plain torch, against F.cross_entropy where it reduces to it, across
backends and dtypes, through gradcheck, and through every error branch.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch
import torch.nn.functional as F

import torchfocal
from conftest import check_against_reference, tolerance
from losses.long_tail import (
    BACKENDS,
    BAD_STATISTICS,
    COUNTS,
    TIGHT,
    C,
    call_loss,
    check_bad_class_statistics,
    check_compiled_and_triton_backends_equal_naive,
    check_dtypes_match_reference,
    check_gradcheck_and_gradgradcheck,
    check_module_equals_function_and_keeps_its_buffers,
    check_no_host_reads,
    check_spatial_inputs_and_class_dim,
    class_weights,
    index_target,
    probability_target,
    random_logits,
    value_and_grad,
)

LOSS = "logit_adjusted_cross_entropy"

# -- against the NumPy reference -------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize(
    ("tau", "weight", "label_smoothing"), [(1.0, False, 0.0), (0.6, True, 0.1), (2.5, True, 0.0)]
)
@pytest.mark.parametrize("form", ["index", "probabilities"])
def test_logit_adjusted_matches_reference(
    backend: str, reduction: str, tau: float, weight: bool, label_smoothing: float, form: str
) -> None:
    x = random_logits()
    target = index_target() if form == "index" else probability_target()
    check_against_reference(
        "logit_adjusted_cross_entropy",
        backend,
        x,
        target,
        torch.randn(6, dtype=torch.float64) if reduction == "none" else None,
        prior=torch.tensor(COUNTS, dtype=torch.float64),
        tau=tau,
        weight=class_weights() if weight else None,
        label_smoothing=label_smoothing,
        reduction=reduction,
    )


@pytest.mark.parametrize("backend", BACKENDS)
def test_spatial_inputs_and_class_dim_match_reference(backend: str) -> None:
    check_spatial_inputs_and_class_dim(LOSS, backend)


# -- against the papers' formulas in plain torch ---------------------------------------------


def test_balanced_softmax_is_ren_et_als_formula() -> None:
    """tau = 1: -log(n_y e^{x_y} / sum_c n_c e^{x_c}), the balanced softmax's likelihood."""
    x, target = random_logits((7, C)), index_target((7,), ignored=False)
    counts = torch.tensor(COUNTS, dtype=torch.float64)
    weighted = counts * torch.exp(x)
    expected = -torch.log(weighted.gather(1, target[:, None])[:, 0] / weighted.sum(dim=1))
    for backend in BACKENDS:
        value, grad = value_and_grad(
            lambda x, b=backend: torchfocal.logit_adjusted_cross_entropy(
                x, target, prior=COUNTS, reduction="sum", backend=b
            ),
            x,
        )
        torch.testing.assert_close(value, expected.sum(), **TIGHT)
        # d/dx of the same: the balanced probabilities less the one-hot
        balanced = weighted / weighted.sum(dim=1, keepdim=True)
        torch.testing.assert_close(grad, balanced - F.one_hot(target, C), **TIGHT)


@pytest.mark.parametrize("tau", [0.5, 1.0, 2.0])
def test_logit_adjusted_is_menon_et_als_formula(tau: float) -> None:
    """-log(e^{x_y + tau log pi_y} / sum_c e^{x_c + tau log pi_c}) with pi = n / sum n,
    written out with exp and log, loss and gradient through autograd."""
    x, target = random_logits((7, C)), index_target((7,), ignored=False)
    pi = torch.tensor(COUNTS, dtype=torch.float64) / sum(COUNTS)

    def by_hand(x: torch.Tensor) -> torch.Tensor:
        numerator = torch.exp(x + tau * torch.log(pi))
        p_y = numerator.gather(1, target[:, None])[:, 0] / numerator.sum(dim=1)
        return -torch.log(p_y).mean()

    expected = value_and_grad(by_hand, x)
    for backend in BACKENDS:
        got = value_and_grad(
            lambda x, b=backend: torchfocal.logit_adjusted_cross_entropy(
                x, target, prior=COUNTS, tau=tau, backend=b
            ),
            x,
        )
        torch.testing.assert_close(got, expected, **TIGHT)


# -- reductions to F.cross_entropy -----------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("form", ["index", "probabilities"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_tau_zero_is_cross_entropy(
    backend: str, reduction: str, form: str, dtype: torch.dtype
) -> None:
    x = random_logits((5, C, 3)).to(dtype)
    target = (
        index_target((5, 3), ignored=False) if form == "index" else probability_target((5, C, 3))
    )
    target = target.to(dtype) if form == "probabilities" else target
    options: dict[str, Any] = {
        "weight": class_weights().to(dtype),
        "label_smoothing": 0.15,
        "reduction": reduction,
    }
    if form == "index":
        options["ignore_index"] = 2
    upstream = torch.randn(5, 3, dtype=dtype) if reduction == "none" else None
    expected = value_and_grad(lambda x: F.cross_entropy(x, target, **options), x, upstream)
    got = value_and_grad(
        lambda x: torchfocal.logit_adjusted_cross_entropy(
            x, target, prior=COUNTS, tau=0.0, backend=backend, **options
        ),
        x,
        upstream,
    )
    torch.testing.assert_close(got, expected, **tolerance(dtype))


# -- backends, modules -----------------------------------------------------------------------


def test_compiled_and_triton_backends_equal_naive() -> None:
    check_compiled_and_triton_backends_equal_naive(LOSS)


def test_module_equals_function_and_keeps_its_buffers() -> None:
    module = torchfocal.LogitAdjustedCrossEntropyLoss(
        COUNTS, weight=class_weights(), reduction="sum"
    )
    buffers = {"prior": torch.tensor(COUNTS), "weight": class_weights()}
    check_module_equals_function_and_keeps_its_buffers(LOSS, module, buffers)


def test_module_repr() -> None:
    assert repr(torchfocal.LogitAdjustedCrossEntropyLoss(COUNTS, tau=0.5)) == (
        "LogitAdjustedCrossEntropyLoss(tau=0.5, reduction='mean', classes=4)"
    )


def test_prior_of_counts_and_frequencies_alike() -> None:
    """The prior is normalised: counts, frequencies and a scaled copy give one loss."""
    frequencies = torch.tensor(COUNTS, dtype=torch.float64) / sum(COUNTS)
    x, target = random_logits(), index_target()
    expected = torchfocal.logit_adjusted_cross_entropy(x, target, prior=frequencies)
    for prior in (COUNTS, torch.tensor(COUNTS).long(), [1e30 * n for n in COUNTS]):
        torch.testing.assert_close(
            torchfocal.logit_adjusted_cross_entropy(x, target, prior=prior), expected, **TIGHT
        )
        # the module stores a sequence in the default dtype: equal to float32 rounding
        module = torchfocal.LogitAdjustedCrossEntropyLoss(prior)
        torch.testing.assert_close(module(x, target), expected, rtol=1e-7, atol=0)


def test_logit_adjusted_prior_of_extreme_counts() -> None:
    """Only ratios count, taken in logs: counts far beyond float32, subnormal ones too."""
    counts = [1e300, 1.0, 5e-324]
    x = torch.randn(4, 3, dtype=torch.float64)
    target = torch.tensor([0, 2, 1, 2])
    check_against_reference(LOSS, "fused", x, target, prior=counts)
    big = torch.tensor([3e38, 3e38, 1.0], dtype=torch.float32)  # their sum overflows float32
    torch.testing.assert_close(
        torchfocal.logit_adjust(torch.zeros(2, 3), big),
        -torch.log(big.double() / big.double().sum()).float().expand(2, 3),
    )


# -- logit_adjust ----------------------------------------------------------------------------


def test_logit_adjust_subtracts_tau_log_prior() -> None:
    x = random_logits((3, C, 2))
    pi = torch.tensor(COUNTS, dtype=torch.float64) / sum(COUNTS)
    for tau in (0.0, 0.5, 1.0):
        expected = x - tau * torch.log(pi)[None, :, None]
        torch.testing.assert_close(torchfocal.logit_adjust(x, COUNTS, tau=tau), expected, **TIGHT)
        torch.testing.assert_close(
            torchfocal.logit_adjust(x.movedim(1, -1), pi, tau=tau, class_dim=-1),
            expected.movedim(1, -1),
            **TIGHT,
        )
    assert torch.equal(torchfocal.logit_adjust(x, COUNTS, tau=0.0), x)


def test_logit_adjust_undoes_the_training_offset() -> None:
    """The post-hoc correction and the loss's offset are the same term with opposite signs:
    the loss at the corrected logits with tau is cross-entropy of the raw ones."""
    x, target = random_logits(), index_target()
    corrected = torchfocal.logit_adjust(x, COUNTS, tau=0.7)
    torch.testing.assert_close(
        torchfocal.logit_adjusted_cross_entropy(corrected, target, prior=COUNTS, tau=0.7),
        F.cross_entropy(x, target),
        **TIGHT,
    )


def test_logit_adjust_gradient_and_dtypes() -> None:
    x = random_logits().requires_grad_(True)
    upstream = torch.randn_like(x)
    (grad,) = torch.autograd.grad(torchfocal.logit_adjust(x, COUNTS), x, upstream)
    assert torch.equal(grad, upstream)
    for dtype in (torch.float16, torch.bfloat16, torch.float32):
        half = x.detach().to(dtype)
        got = torchfocal.logit_adjust(half, COUNTS)
        assert got.dtype == dtype
        expected = torchfocal.logit_adjust(half.double(), COUNTS).to(dtype)
        torch.testing.assert_close(got, expected, **tolerance(dtype))


# -- dtypes, meta, gradcheck -----------------------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32])
@pytest.mark.parametrize("backend", BACKENDS)
def test_dtypes_match_reference(backend: str, dtype: torch.dtype) -> None:
    check_dtypes_match_reference(LOSS, backend, dtype)


@pytest.mark.usefixtures("no_host_reads")
def test_no_host_reads() -> None:
    check_no_host_reads(LOSS)


@pytest.mark.parametrize("backend", BACKENDS)
def test_gradcheck_and_gradgradcheck(backend: str) -> None:
    check_gradcheck_and_gradgradcheck(LOSS, backend)


def test_gradients_to_the_prior_and_weight() -> None:
    """A learned prior or weight gets the gradient autograd gives the plain formula."""
    x, target = random_logits(), index_target()
    prior = torch.tensor(COUNTS, dtype=torch.float64, requires_grad=True)
    weight = class_weights().requires_grad_(True)
    keep = target != -100
    log_p = torch.log_softmax(x + torch.log(prior / prior.sum()), dim=1)[keep]
    target_weight = weight[target[keep]]
    by_hand = -(target_weight * log_p.gather(1, target[keep][:, None])[:, 0]).sum()
    # F.cross_entropy's mean, which has no gradient to its weight
    expected = torch.autograd.grad(by_hand / target_weight.sum(), (prior, weight))
    for backend in BACKENDS:
        got = torch.autograd.grad(
            torchfocal.logit_adjusted_cross_entropy(
                x, target, prior=prior, weight=weight, backend=backend
            ),
            (prior, weight),
        )
        torch.testing.assert_close(got, expected, **TIGHT)


# -- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "error", "message"), BAD_STATISTICS)
def test_bad_class_statistics(value: Any, error: type, message: str) -> None:
    check_bad_class_statistics(LOSS, value, error, message)


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"tau": -0.5}, ValueError, r"^tau must be in \[0, inf\]; got -0.5"),
        ({"tau": math.inf}, ValueError, r"^tau must be in \[0, inf\]; got inf"),
        ({"tau": True}, TypeError, r"^tau must be a float; got bool"),
        ({"label_smoothing": 1.0}, ValueError, r"^label_smoothing must be in \[0, 1\)"),
        ({"reduction": "positives"}, ValueError, r"^reduction must be one of 'none' \| 'mean'"),
        ({"backend": "fast"}, ValueError, r"^backend must be one of"),
        ({"class_dim": 2}, ValueError, r"^class_dim must be a dimension of the input"),
    ],
)
def test_logit_adjusted_bad_options(options: dict[str, Any], error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        call_loss("logit_adjusted_cross_entropy", **options)


def test_logit_adjusted_bad_inputs() -> None:
    with pytest.raises(TypeError, match=r"^input must be a floating-point tensor"):
        torchfocal.logit_adjusted_cross_entropy(index_target(), index_target(), prior=COUNTS)
    with pytest.raises(ValueError, match=r"^input must have a class dimension"):
        torchfocal.logit_adjusted_cross_entropy(torch.tensor(1.0), index_target(), prior=COUNTS)
    with pytest.raises(ValueError, match=r"^target must have the shape of input \(6, 4\)"):
        torchfocal.logit_adjusted_cross_entropy(random_logits(), index_target((5,)), prior=COUNTS)
    with pytest.raises(TypeError, match=r"^prior must be a tensor or a sequence"):
        torchfocal.logit_adjust(random_logits(), None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"^tau must be in \[0, inf\]; got -1"):
        torchfocal.logit_adjust(random_logits(), COUNTS, tau=-1)


def test_logit_adjusted_module_errors() -> None:
    with pytest.raises(ValueError, match=r"^prior must be finite and > 0 for every class"):
        torchfocal.LogitAdjustedCrossEntropyLoss([1.0, 0.0])
    with pytest.raises(ValueError, match=r"^tau must be in \[0, inf\]"):
        torchfocal.LogitAdjustedCrossEntropyLoss(COUNTS, tau=-1.0)
    with pytest.raises(ValueError, match=r"^prior must have one value per class \(4 along"):
        torchfocal.LogitAdjustedCrossEntropyLoss([1.0, 2.0, 3.0])(random_logits(), index_target())
