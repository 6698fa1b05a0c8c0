"""The long-tail softmax losses: logit-adjusted cross-entropy (balanced softmax at tau = 1),
LDAM, the post-hoc logit adjustment, the LDAM margins and the deferred re-weighting schedule.

Each loss is held against the NumPy reference (loss and gradient), against a re-computation
from its paper's formula in plain torch, against F.cross_entropy where it reduces to it, across
backends and dtypes, on meta tensors, through gradcheck, and through every error branch.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch
import torch.nn.functional as F

import torchfocal
from conftest import check_against_reference, run_loss, tolerance
from torchfocal import reference
from torchfocal._engine import compiled

C = 4
COUNTS = [200.0, 40.0, 8.0, 1.0]
TIGHT = tolerance(torch.float64)
BACKENDS = ["naive", "fused"]
LOSSES = ["logit_adjusted_cross_entropy", "ldam_loss"]


def _logits(shape: tuple[int, ...] = (6, C), scale: float = 2.0) -> torch.Tensor:
    return torch.randn(shape, dtype=torch.float64) * scale


def _index(shape: tuple[int, ...] = (6,), ignored: bool = True) -> torch.Tensor:
    index = torch.randint(0, C, shape)
    if ignored:
        index.view(-1)[1] = -100
    return index


def _probabilities(shape: tuple[int, ...] = (6, C), class_dim: int = 1) -> torch.Tensor:
    return torch.softmax(torch.randn(shape, dtype=torch.float64), dim=class_dim)


def _class_weight() -> torch.Tensor:
    return torch.tensor([0.5, 1.0, 2.0, 1.5], dtype=torch.float64)


def _options(loss: str) -> dict[str, Any]:
    """The class statistics each loss needs, as a tensor."""
    counts = torch.tensor(COUNTS, dtype=torch.float64)
    return {"prior": counts} if loss == "logit_adjusted_cross_entropy" else {"class_counts": counts}


def _value_and_grad(
    fn: Any, x: torch.Tensor, grad_output: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    leaf = x.detach().clone().requires_grad_(True)
    value = fn(leaf)
    (grad,) = torch.autograd.grad(value, leaf, grad_output)
    return value.detach(), grad


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
    x = _logits()
    target = _index() if form == "index" else _probabilities()
    check_against_reference(
        "logit_adjusted_cross_entropy",
        backend,
        x,
        target,
        torch.randn(6, dtype=torch.float64) if reduction == "none" else None,
        prior=torch.tensor(COUNTS, dtype=torch.float64),
        tau=tau,
        weight=_class_weight() if weight else None,
        label_smoothing=label_smoothing,
        reduction=reduction,
    )


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize(
    ("max_margin", "scale", "weight"), [(0.5, 30.0, False), (0.3, 10.0, True), (1.0, 1.0, True)]
)
def test_ldam_matches_reference(
    backend: str, reduction: str, max_margin: float, scale: float, weight: bool
) -> None:
    # cosine-like logits, as LDAM expects
    x = torch.rand(6, C, dtype=torch.float64) * 2 - 1
    check_against_reference(
        "ldam_loss",
        backend,
        x,
        _index(),
        torch.randn(6, dtype=torch.float64) if reduction == "none" else None,
        class_counts=torch.tensor(COUNTS, dtype=torch.float64),
        max_margin=max_margin,
        scale=scale,
        weight=_class_weight() if weight else None,
        reduction=reduction,
    )


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("loss", LOSSES)
def test_spatial_inputs_and_class_dim_match_reference(backend: str, loss: str) -> None:
    """(N, C, d) with class_dim 1 and (N, d, C) with class_dim -1; an ignore_index that is a
    class (1) leaves that class's targets out, margins included."""
    x = _logits((3, C, 5))
    target = _index((3, 5), ignored=False)
    options = {**_options(loss), "weight": _class_weight(), "ignore_index": 1}
    check_against_reference(loss, backend, x, target, **options)
    check_against_reference(loss, backend, x.movedim(1, -1), target, class_dim=-1, **options)


# -- against the papers' formulas in plain torch ---------------------------------------------


def test_balanced_softmax_is_ren_et_als_formula() -> None:
    """tau = 1: -log(n_y e^{x_y} / sum_c n_c e^{x_c}), the balanced softmax's likelihood."""
    x, target = _logits((7, C)), _index((7,), ignored=False)
    counts = torch.tensor(COUNTS, dtype=torch.float64)
    weighted = counts * torch.exp(x)
    expected = -torch.log(weighted.gather(1, target[:, None])[:, 0] / weighted.sum(dim=1))
    for backend in BACKENDS:
        value, grad = _value_and_grad(
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
    x, target = _logits((7, C)), _index((7,), ignored=False)
    pi = torch.tensor(COUNTS, dtype=torch.float64) / sum(COUNTS)

    def by_hand(x: torch.Tensor) -> torch.Tensor:
        numerator = torch.exp(x + tau * torch.log(pi))
        p_y = numerator.gather(1, target[:, None])[:, 0] / numerator.sum(dim=1)
        return -torch.log(p_y).mean()

    expected = _value_and_grad(by_hand, x)
    for backend in BACKENDS:
        got = _value_and_grad(
            lambda x, b=backend: torchfocal.logit_adjusted_cross_entropy(
                x, target, prior=COUNTS, tau=tau, backend=b
            ),
            x,
        )
        torch.testing.assert_close(got, expected, **TIGHT)


@pytest.mark.parametrize(("max_margin", "scale"), [(0.5, 30.0), (0.2, 5.0)])
def test_ldam_is_cao_et_als_formula(max_margin: float, scale: float) -> None:
    """The authors' form: m = n^(-1/4) scaled to max_margin, the target logit less m_y
    (torch.where on the one-hot), times s, then F.cross_entropy with the class weight."""
    x, target = torch.rand(7, C, dtype=torch.float64) * 2 - 1, _index((7,), ignored=False)
    weight = _class_weight()
    m_list = 1.0 / torch.tensor(COUNTS, dtype=torch.float64).sqrt().sqrt()
    m_list = m_list * (max_margin / m_list.max())

    def by_hand(x: torch.Tensor) -> torch.Tensor:
        one_hot = F.one_hot(target, C).bool()
        output = torch.where(one_hot, x - m_list[target][:, None], x)
        return F.cross_entropy(scale * output, target, weight=weight)

    expected = _value_and_grad(by_hand, x)
    for backend in BACKENDS:
        got = _value_and_grad(
            lambda x, b=backend: torchfocal.ldam_loss(
                x,
                target,
                class_counts=COUNTS,
                max_margin=max_margin,
                scale=scale,
                weight=weight,
                backend=b,
            ),
            x,
        )
        torch.testing.assert_close(got, expected, **TIGHT)


def test_ldam_ignored_locations_have_no_loss_and_no_gradient() -> None:
    x = _logits()
    target = _index()  # location 1 ignored
    value, grad = run_loss("ldam_loss", "fused", x, target, class_counts=COUNTS, reduction="none")
    assert value[1] == 0 and bool((grad[1] == 0).all())
    # the other locations are what they are without the ignored one
    keep = torch.arange(6) != 1
    alone, _ = run_loss(
        "ldam_loss", "fused", x[keep], target[keep], class_counts=COUNTS, reduction="none"
    )
    torch.testing.assert_close(value[keep], alone, **TIGHT)


# -- reductions to F.cross_entropy -----------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("form", ["index", "probabilities"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_tau_zero_is_cross_entropy(
    backend: str, reduction: str, form: str, dtype: torch.dtype
) -> None:
    x = _logits((5, C, 3)).to(dtype)
    target = _index((5, 3), ignored=False) if form == "index" else _probabilities((5, C, 3))
    target = target.to(dtype) if form == "probabilities" else target
    options: dict[str, Any] = {
        "weight": _class_weight().to(dtype),
        "label_smoothing": 0.15,
        "reduction": reduction,
    }
    if form == "index":
        options["ignore_index"] = 2
    upstream = torch.randn(5, 3, dtype=dtype) if reduction == "none" else None
    expected = _value_and_grad(lambda x: F.cross_entropy(x, target, **options), x, upstream)
    got = _value_and_grad(
        lambda x: torchfocal.logit_adjusted_cross_entropy(
            x, target, prior=COUNTS, tau=0.0, backend=backend, **options
        ),
        x,
        upstream,
    )
    torch.testing.assert_close(got, expected, **tolerance(dtype))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_zero_margins_and_unit_scale_is_cross_entropy(
    backend: str, reduction: str, dtype: torch.dtype
) -> None:
    x, target = _logits((5, C, 3)).to(dtype), _index((5, 3))
    options: dict[str, Any] = {"weight": _class_weight().to(dtype), "reduction": reduction}
    upstream = torch.randn(5, 3, dtype=dtype) if reduction == "none" else None
    expected = _value_and_grad(lambda x: F.cross_entropy(x, target, **options), x, upstream)
    got = _value_and_grad(
        lambda x: torchfocal.ldam_loss(
            x, target, class_counts=COUNTS, max_margin=0.0, scale=1.0, backend=backend, **options
        ),
        x,
        upstream,
    )
    torch.testing.assert_close(got, expected, **tolerance(dtype))


def test_ldam_scale_alone_is_cross_entropy_of_scaled_logits() -> None:
    x, target = _logits(), _index()
    expected = _value_and_grad(lambda x: F.cross_entropy(4.0 * x, target), x)
    got = _value_and_grad(
        lambda x: torchfocal.ldam_loss(x, target, class_counts=COUNTS, max_margin=0.0, scale=4.0),
        x,
    )
    torch.testing.assert_close(got, expected, **TIGHT)


# -- backends, modules -----------------------------------------------------------------------


def _case(loss: str) -> tuple[torch.Tensor, torch.Tensor, dict[str, Any]]:
    x = torch.rand(5, C, dtype=torch.float64) * 2 - 1
    options = {**_options(loss), "weight": _class_weight()}
    return x, _index((5,)), options


@pytest.mark.parametrize("loss", LOSSES)
def test_compiled_and_triton_backends_equal_naive(loss: str) -> None:
    """One case each (compiling is slow; Triton runs through its interpreter on the CPU)."""
    x, target, options = _case(loss)
    function = getattr(torchfocal, loss)
    expected = _value_and_grad(lambda x: function(x, target, backend="naive", **options), x)
    got = _value_and_grad(lambda x: function(x, target, backend="compiled", **options), x)
    torch.testing.assert_close(got, expected, **TIGHT)
    assert compiled._unavailable == []  # the compiled program really ran
    pytest.importorskip("triton")
    got = _value_and_grad(lambda x: function(x, target, backend="triton", **options), x)
    torch.testing.assert_close(got, expected, **tolerance(torch.float32))


@pytest.mark.parametrize("loss", LOSSES)
def test_module_equals_function_and_keeps_its_buffers(loss: str) -> None:
    x, target, options = _case(loss)
    function = getattr(torchfocal, loss)
    expected = _value_and_grad(lambda x: function(x, target, reduction="sum", **options), x)
    if loss == "ldam_loss":
        module: torch.nn.Module = torchfocal.LDAMLoss(
            COUNTS, weight=_class_weight(), reduction="sum"
        )
        buffers = {"class_counts": torch.tensor(COUNTS), "weight": _class_weight()}
    else:
        module = torchfocal.LogitAdjustedCrossEntropyLoss(
            COUNTS, weight=_class_weight(), reduction="sum"
        )
        buffers = {"prior": torch.tensor(COUNTS), "weight": _class_weight()}
    module = module.double()
    state = module.state_dict()
    assert list(state) == list(buffers)
    for name, value in buffers.items():
        assert torch.equal(state[name], value.double())
    got = _value_and_grad(lambda x: module(x, target), x)
    torch.testing.assert_close(got, expected, **TIGHT)


def test_modules_repr() -> None:
    assert repr(torchfocal.LogitAdjustedCrossEntropyLoss(COUNTS, tau=0.5)) == (
        "LogitAdjustedCrossEntropyLoss(tau=0.5, reduction='mean', classes=4)"
    )
    assert repr(torchfocal.LDAMLoss(COUNTS, backend="naive")) == (
        "LDAMLoss(max_margin=0.5, scale=30.0, reduction='mean', backend='naive', classes=4)"
    )


def test_prior_of_counts_and_frequencies_alike() -> None:
    """The prior is normalised: counts, frequencies and a scaled copy give one loss."""
    frequencies = torch.tensor(COUNTS, dtype=torch.float64) / sum(COUNTS)
    x, target = _logits(), _index()
    expected = torchfocal.logit_adjusted_cross_entropy(x, target, prior=frequencies)
    for prior in (COUNTS, torch.tensor(COUNTS).long(), [1e30 * n for n in COUNTS]):
        torch.testing.assert_close(
            torchfocal.logit_adjusted_cross_entropy(x, target, prior=prior), expected, **TIGHT
        )
        # the module stores a sequence in the default dtype: equal to float32 rounding
        module = torchfocal.LogitAdjustedCrossEntropyLoss(prior)
        torch.testing.assert_close(module(x, target), expected, rtol=1e-7, atol=0)


def test_ldam_module_weight_follows_the_drw_schedule() -> None:
    """LDAM-DRW: the weight buffer reassigned per epoch, as F.cross_entropy's weight."""
    x, target = torch.rand(6, C, dtype=torch.float64), _index()
    criterion = torchfocal.LDAMLoss(COUNTS).double()
    for epoch in (0, 9, 10, 11):
        weight = torchfocal.deferred_reweighting(COUNTS, epoch, start_epoch=10, beta=0.999)
        criterion.weight = weight.double()
        expected = torchfocal.ldam_loss(x, target, class_counts=COUNTS, weight=weight.double())
        torch.testing.assert_close(criterion(x, target), expected, **TIGHT)
        assert "weight" in criterion.state_dict()


# -- logit_adjust ----------------------------------------------------------------------------


def test_logit_adjust_subtracts_tau_log_prior() -> None:
    x = _logits((3, C, 2))
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
    x, target = _logits(), _index()
    corrected = torchfocal.logit_adjust(x, COUNTS, tau=0.7)
    torch.testing.assert_close(
        torchfocal.logit_adjusted_cross_entropy(corrected, target, prior=COUNTS, tau=0.7),
        F.cross_entropy(x, target),
        **TIGHT,
    )


def test_logit_adjust_gradient_and_dtypes() -> None:
    x = _logits().requires_grad_(True)
    upstream = torch.randn_like(x)
    (grad,) = torch.autograd.grad(torchfocal.logit_adjust(x, COUNTS), x, upstream)
    assert torch.equal(grad, upstream)
    for dtype in (torch.float16, torch.bfloat16, torch.float32):
        half = x.detach().to(dtype)
        got = torchfocal.logit_adjust(half, COUNTS)
        assert got.dtype == dtype
        expected = torchfocal.logit_adjust(half.double(), COUNTS).to(dtype)
        torch.testing.assert_close(got, expected, **tolerance(dtype))


# -- margins and the DRW schedule ------------------------------------------------------------


def test_ldam_margins_formula() -> None:
    margins = torchfocal.ldam_margins(COUNTS, max_margin=0.4)
    assert margins.dtype == torch.float32 and margins.shape == (C,)
    expected = [0.4 * (min(COUNTS) / n) ** 0.25 for n in COUNTS]
    torch.testing.assert_close(margins, torch.tensor(expected), rtol=1e-7, atol=0)
    assert margins[3] == torch.tensor(0.4)  # the rarest class gets max_margin exactly
    assert torch.equal(torchfocal.ldam_margins(COUNTS, max_margin=0.0), torch.zeros(C))


def test_ldam_margins_are_the_losss_margins() -> None:
    """The loss subtracts exactly ldam_margins from the target logit."""
    x, target = _logits(), _index(ignored=False)
    margins = torchfocal.ldam_margins(COUNTS, max_margin=0.3).double()
    shifted = x - F.one_hot(target, C) * margins[target][:, None]
    torch.testing.assert_close(
        torchfocal.ldam_loss(x, target, class_counts=COUNTS, max_margin=0.3, scale=7.0),
        F.cross_entropy(7.0 * shifted, target),
        rtol=1e-7,  # the margins above are rounded to float32
        atol=0,
    )


def test_margins_and_prior_of_extreme_counts() -> None:
    """Only ratios count, taken in logs: counts far beyond float32, subnormal ones too."""
    counts = [1e300, 1.0, 5e-324]
    assert torchfocal.ldam_margins(counts).tolist() == [0.0, 0.0, 0.5]  # 1e-156, 1e-81
    x = torch.randn(4, 3, dtype=torch.float64)
    target = torch.tensor([0, 2, 1, 2])
    for loss, options in (
        ("ldam_loss", {"class_counts": counts, "scale": 2.0}),
        ("logit_adjusted_cross_entropy", {"prior": counts}),
    ):
        check_against_reference(loss, "fused", x, target, **options)
    big = torch.tensor([3e38, 3e38, 1.0], dtype=torch.float32)  # their sum overflows float32
    torch.testing.assert_close(
        torchfocal.logit_adjust(torch.zeros(2, 3), big),
        -torch.log(big.double() / big.double().sum()).float().expand(2, 3),
    )


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


# -- dtypes, meta, gradcheck -----------------------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32])
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("loss", LOSSES)
def test_dtypes_match_reference(loss: str, backend: str, dtype: torch.dtype) -> None:
    """Half types computed in float32 and returned in their own dtype (as is the gradient)."""
    x = (torch.rand(6, C) * 2 - 1).to(dtype)
    options = {**_options(loss), "weight": _class_weight().float()}
    if loss == "ldam_loss":
        options["scale"] = 5.0
    target = _index()
    value, grad = run_loss(loss, backend, x, target, **options)
    assert value.dtype == dtype and grad.dtype == dtype
    check_against_reference(loss, backend, x, target, **options)


@pytest.mark.usefixtures("no_host_reads")
@pytest.mark.parametrize("loss", LOSSES)
def test_no_host_reads(loss: str) -> None:
    """As on a GPU: the checks are device-side asserts and nothing reads a tensor's value."""
    x, target, options = _case(loss)
    value, grad = _value_and_grad(lambda x: getattr(torchfocal, loss)(x, target, **options), x)
    assert value.shape == () and grad.shape == x.shape


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("loss", LOSSES)
def test_gradcheck_and_gradgradcheck(loss: str, backend: str) -> None:
    x = (torch.rand(3, C, dtype=torch.float64) * 2 - 1).requires_grad_(True)
    target = torch.tensor([0, 3, -100])
    options = {**_options(loss), "weight": _class_weight()}
    if loss == "ldam_loss":
        options["scale"] = 3.0

    def fn(x: torch.Tensor) -> torch.Tensor:
        return getattr(torchfocal, loss)(x, target, backend=backend, **options)

    assert torch.autograd.gradcheck(fn, (x,))
    assert torch.autograd.gradgradcheck(fn, (x,))


def test_gradients_to_the_prior_and_weight() -> None:
    """A learned prior or weight gets the gradient autograd gives the plain formula."""
    x, target = _logits(), _index()
    prior = torch.tensor(COUNTS, dtype=torch.float64, requires_grad=True)
    weight = _class_weight().requires_grad_(True)
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


def _call(loss: str, **options: Any) -> torch.Tensor:
    x, target = _logits(), _index()
    statistics = {**_options(loss), **options}
    return getattr(torchfocal, loss)(x, target, **statistics)  # type: ignore[no-any-return]


STATISTICS = {"logit_adjusted_cross_entropy": "prior", "ldam_loss": "class_counts"}


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize(
    ("value", "error", "message"),
    [
        (
            [10.0, 0.0, 5.0, 1.0],
            ValueError,
            r"must be finite and > 0 for every class; got 0.0 for class 1",
        ),
        ([10.0, 5.0, -1.0, 1.0], ValueError, r"got -1.0 for class 2"),
        ([10.0, math.inf, 5.0, 1.0], ValueError, r"got inf for class 1"),
        ([math.nan, 5.0, 5.0, 1.0], ValueError, r"got nan for class 0"),
        (
            [10.0, 5.0, 1.0],
            ValueError,
            r"must have one value per class \(4 along class_dim=1\); got 3 values",
        ),
        (
            [[10.0, 5.0, 1.0, 1.0]],
            ValueError,
            r"must hold one value per class \(a non-empty 1-D sequence\); got shape \(1, 4\)",
        ),
        ([], ValueError, r"got shape \(0,\)"),
        (5.0, ValueError, r"got shape \(\)"),
        ("abcd", TypeError, r"must be a tensor or a sequence of positive numbers; got str"),
        (torch.ones(C, dtype=torch.bool), TypeError, r"got a tensor of torch.bool"),
        (torch.ones(C, dtype=torch.complex64), TypeError, r"got a tensor of torch.complex64"),
        (torch.ones(C, device="meta"), ValueError, r"must be on the input's device cpu; got meta"),
    ],
)
def test_bad_class_statistics(loss: str, value: Any, error: type, message: str) -> None:
    name = STATISTICS[loss]
    with pytest.raises(error, match=rf"^{name} must ") as raised:
        _call(loss, **{name: value})
    raised.match(message)


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
        _call("logit_adjusted_cross_entropy", **options)


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"max_margin": -0.1}, ValueError, r"^max_margin must be in \[0, inf\]; got -0.1"),
        ({"max_margin": "0.5"}, TypeError, r"^max_margin must be a float; got str"),
        ({"scale": -1.0}, ValueError, r"^scale must be a finite number > 0; got -1.0"),
        ({"scale": 0.0}, ValueError, r"^scale must be a finite number > 0; got 0.0"),
        ({"scale": math.nan}, ValueError, r"^scale must be a finite number > 0; got nan"),
        ({"scale": None}, TypeError, r"^scale must be a float; got NoneType"),
        ({"ignore_index": 1.5}, TypeError, r"^ignore_index must be an int; got float"),
        ({"reduction": "positives"}, ValueError, r"^reduction must be one of 'none' \| 'mean'"),
        (
            {"weight": torch.ones(3, dtype=torch.float64)},
            ValueError,
            r"^weight must have one value per class",
        ),
    ],
)
def test_ldam_bad_options(options: dict[str, Any], error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        _call("ldam_loss", **options)


def test_ldam_bad_targets() -> None:
    x = _logits()
    with pytest.raises(TypeError, match=r"^target must be an integer tensor of class indices"):
        torchfocal.ldam_loss(x, torch.zeros(6), class_counts=COUNTS)
    with pytest.raises(
        ValueError,
        match=r"^target must be integer class indices of shape \(6,\); got torch.int64 of "
        r"shape \(6, 4\) \(for a one-hot target pass target.argmax\(dim=1\)\)",
    ):
        torchfocal.ldam_loss(x, torch.zeros(6, C, dtype=torch.int64), class_counts=COUNTS)
    with pytest.raises(ValueError, match=r"^target must be integer class indices of shape"):
        torchfocal.ldam_loss(x, torch.zeros(5, dtype=torch.int64), class_counts=COUNTS)
    with pytest.raises(ValueError, match=r"^target class indices must be in \[0, 3\] or "):
        torchfocal.ldam_loss(x, torch.tensor([0, 1, 2, 3, 4, 0]), class_counts=COUNTS)
    with pytest.raises(TypeError, match=r"^input must be a floating-point tensor"):
        torchfocal.ldam_loss(x.long(), _index(), class_counts=COUNTS)


def test_logit_adjusted_bad_inputs() -> None:
    with pytest.raises(TypeError, match=r"^input must be a floating-point tensor"):
        torchfocal.logit_adjusted_cross_entropy(_index(), _index(), prior=COUNTS)
    with pytest.raises(ValueError, match=r"^input must have a class dimension"):
        torchfocal.logit_adjusted_cross_entropy(torch.tensor(1.0), _index(), prior=COUNTS)
    with pytest.raises(ValueError, match=r"^target must have the shape of input \(6, 4\)"):
        torchfocal.logit_adjusted_cross_entropy(_logits(), _index((5,)), prior=COUNTS)
    with pytest.raises(TypeError, match=r"^prior must be a tensor or a sequence"):
        torchfocal.logit_adjust(_logits(), None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"^tau must be in \[0, inf\]; got -1"):
        torchfocal.logit_adjust(_logits(), COUNTS, tau=-1)


def test_module_errors() -> None:
    with pytest.raises(ValueError, match=r"^prior must be finite and > 0 for every class"):
        torchfocal.LogitAdjustedCrossEntropyLoss([1.0, 0.0])
    with pytest.raises(ValueError, match=r"^tau must be in \[0, inf\]"):
        torchfocal.LogitAdjustedCrossEntropyLoss(COUNTS, tau=-1.0)
    with pytest.raises(ValueError, match=r"^class_counts must be finite and > 0 for every class"):
        torchfocal.LDAMLoss([1.0, -2.0])
    with pytest.raises(ValueError, match=r"^max_margin must be in \[0, inf\]"):
        torchfocal.LDAMLoss(COUNTS, max_margin=-0.5)
    with pytest.raises(ValueError, match=r"^scale must be a finite number > 0"):
        torchfocal.LDAMLoss(COUNTS, scale=0.0)
    with pytest.raises(ValueError, match=r"^prior must have one value per class \(4 along"):
        torchfocal.LogitAdjustedCrossEntropyLoss([1.0, 2.0, 3.0])(_logits(), _index())


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


def test_reference_mean_divides_by_the_counted_weight() -> None:
    """The oracle's "mean" divides the sum by the summed class weights of counted targets."""
    x, target = _logits(), _index()
    weight = _class_weight()
    total, _ = reference.ldam_loss(
        x.numpy(), target.numpy(), class_counts=COUNTS, weight=weight.numpy(), reduction="sum"
    )
    mean, _ = reference.ldam_loss(
        x.numpy(), target.numpy(), class_counts=COUNTS, weight=weight.numpy()
    )
    counted = weight[target[target != -100]].sum().item()
    assert mean == pytest.approx(total / counted, rel=1e-14)


@pytest.mark.parametrize("backend", ["naive", "fused", "compiled", "triton"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_ldam_logits_whose_scaled_value_overflows(backend: str, dtype: torch.dtype) -> None:
    """scale * x passes the dtype's largest value from |x| ~ 1e37 (scale 30), where the
    loss and its gradient are those of float64, which has the range."""
    big = torch.finfo(dtype).max
    x = torch.tensor([[1e37, -1e37, 0.0, 1.0], [big, -big, 1e38, 0.0], [2e37, 1e37, 0.0, -3e37]])
    x = x.to(dtype)
    target = torch.tensor([0, 0, 1])
    expected, expected_grad = run_loss(
        "ldam_loss", "naive", x.double(), target, class_counts=COUNTS, reduction="none"
    )
    value, grad = run_loss("ldam_loss", backend, x, target, class_counts=COUNTS, reduction="none")
    assert bool(torch.isfinite(value).all() and torch.isfinite(grad).all())
    torch.testing.assert_close(value, expected.to(dtype), **tolerance(dtype))
    torch.testing.assert_close(grad, expected_grad.to(dtype), **tolerance(dtype))
