"""The stateful long-tail losses: Seesaw (Wang et al. 2021) and EQLv2 (Tan et al. 2021).

The functions, given the counts / statistics, against the NumPy reference and against the
papers' formulas written again in plain torch float64 (factors as powers, weights as
written); the modules' state over training steps, in eval mode, through the state_dict,
under dtype casts and summed over two gloo processes; meta tensors, dtypes, gradcheck and
every error branch.
"""

from __future__ import annotations

import math
import os
import queue
import socket
from collections.abc import Callable
from typing import Any

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F

import torchfocal
from conftest import check_against_reference, tolerance
from torchfocal.losses.equalization import equalization_statistics
from torchfocal.losses.seesaw import batch_class_counts
from torchfocal.registry import LOSSES as REGISTERED

BACKENDS = ["naive", "fused"]
TIGHT = tolerance(torch.float64)
C = 5
#: Long-tailed counts, with a class never seen (0, which counts as 1).
COUNTS = torch.tensor([4000, 300, 25, 2, 0])


def _logits(shape: tuple[int, ...] = (9, C), scale: float = 2.5) -> torch.Tensor:
    return torch.randn(shape, dtype=torch.float64) * scale


def _labels(shape: tuple[int, ...] = (9,), high: int = C, ignored: bool = True) -> torch.Tensor:
    """Class indices in [0, high) covering every class, with one ignored location."""
    labels = torch.randint(0, high, shape)
    labels.view(-1)[:high] = torch.arange(high)
    if ignored:
        labels.view(-1)[-1] = -100
    return labels


def _upstream(reduction: str, loss_shape: tuple[int, ...]) -> torch.Tensor | None:
    return torch.randn(loss_shape, dtype=torch.float64) if reduction == "none" else None


def _value_and_grad(
    fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    leaf = x.detach().clone().requires_grad_(True)
    value = fn(leaf)
    (grad,) = torch.autograd.grad(value.sum(), leaf)
    return value.detach(), grad


# -- the papers' formulas, in plain torch float64 ----------------------------------------------


def _paper_seesaw(
    x: torch.Tensor, labels: torch.Tensor, counts: torch.Tensor, p: float, q: float, eps: float
) -> torch.Tensor:
    """Per-sample seesaw loss of (N, C) logits (no ignored labels), with the factors formed
    as the paper writes them: S_ij = M_ij C_ij, l_i = -log(e^x_i / (e^x_i + sum_j!=i S_ij
    e^x_j)), S from the counts and the detached softmax."""
    n = counts.double().clamp(min=1)
    rows = torch.arange(len(labels))
    ratio = n[None, :] / n[labels][:, None]
    mitigation = torch.where(ratio < 1, ratio**p, torch.ones_like(ratio))
    s = torch.softmax(x.detach(), dim=1)
    score_ratio = s / s[rows, labels].clamp(min=eps)[:, None]
    compensation = torch.where(score_ratio > 1, score_ratio**q, torch.ones_like(score_ratio))
    factor = mitigation * compensation
    factor[rows, labels] = 1.0  # the sum is over j != i; e^x_i stands alone
    exp_x = torch.exp(x)
    return -torch.log(exp_x[rows, labels] / (factor * exp_x).sum(dim=1))


def _paper_eqlv2_weights(
    pos_grad: torch.Tensor, neg_grad: torch.Tensor, gamma: float, mu: float, alpha: float
) -> tuple[torch.Tensor, torch.Tensor]:
    r = pos_grad.double() / (neg_grad.double() + 1e-10)
    f = 1 / (1 + torch.exp(-gamma * (r - mu)))
    unseen = (pos_grad == 0) & (neg_grad == 0)
    negative = torch.where(unseen, 1.0, f)
    return 1 + alpha * (1 - negative), negative


def _paper_eqlv2(
    x: torch.Tensor,
    labels: torch.Tensor,
    pos_grad: torch.Tensor,
    neg_grad: torch.Tensor,
    gamma: float = 12.0,
    mu: float = 0.8,
    alpha: float = 4.0,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(loss "mean", batch pos_grad, batch neg_grad) of EQLv2 as the paper writes it."""
    y = F.one_hot(labels, x.shape[1] + 1)[:, :-1].double()
    positive, negative = _paper_eqlv2_weights(pos_grad, neg_grad, gamma, mu, alpha)
    w = y * positive + (1 - y) * negative
    loss = (F.binary_cross_entropy_with_logits(x, y, reduction="none") * w).sum() / x.shape[0]
    magnitude = (torch.sigmoid(x.detach()) - y).abs()
    return loss, (magnitude * y * w).sum(0), (magnitude * (1 - y) * w).sum(0)


# -- Seesaw: the function ----------------------------------------------------------------------


SEESAW_OPTIONS = [
    {"p": 0.8, "q": 2.0, "eps": 1e-2},
    {"p": 0.0, "q": 2.0, "eps": 1e-2},
    {"p": 1.5, "q": 0.0, "eps": 1e-2},
    {"p": 0.3, "q": 0.7, "eps": 0.5},  # eps above many target probabilities
]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("options", SEESAW_OPTIONS)
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_seesaw_matches_reference(backend: str, options: dict[str, float], reduction: str) -> None:
    x, labels = _logits(), _labels()
    check_against_reference(
        "seesaw_loss",
        backend,
        x,
        labels,
        _upstream(reduction, labels.shape),
        class_counts=COUNTS,
        reduction=reduction,
        **options,
    )


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("class_dim", [1, -1])
def test_seesaw_matches_reference_with_spatial_dims(backend: str, class_dim: int) -> None:
    shape = (3, C, 4) if class_dim == 1 else (3, 4, C)
    x, labels = _logits(shape), _labels((3, 4))
    check_against_reference(
        "seesaw_loss",
        backend,
        x,
        labels,
        torch.randn(3, 4, dtype=torch.float64),
        class_counts=COUNTS.tolist(),
        class_dim=class_dim,
        reduction="none",
    )


@pytest.mark.parametrize("options", SEESAW_OPTIONS)
def test_seesaw_matches_the_papers_formula(options: dict[str, float]) -> None:
    x, labels = _logits((12, C), scale=3.0), _labels((12,), ignored=False)
    expected = _value_and_grad(lambda z: _paper_seesaw(z, labels, COUNTS, **options).mean(), x)
    for backend in BACKENDS:
        got = _value_and_grad(
            lambda z, b=backend: torchfocal.seesaw_loss(
                z, labels, class_counts=COUNTS, backend=b, **options
            ),
            x,
        )
        torch.testing.assert_close(got[0], expected[0], **TIGHT)
        torch.testing.assert_close(got[1], expected[1], **TIGHT)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_seesaw_p_q_zero_is_cross_entropy(backend: str, reduction: str) -> None:
    labels = _labels()

    def seesaw(z: torch.Tensor) -> torch.Tensor:
        return torchfocal.seesaw_loss(
            z, labels, class_counts=COUNTS, p=0.0, q=0.0, reduction=reduction, backend=backend
        )

    for dtype in (torch.float64, torch.float32):
        x = _logits().to(dtype)
        expected = _value_and_grad(lambda z: F.cross_entropy(z, labels, reduction=reduction), x)
        got = _value_and_grad(seesaw, x)
        torch.testing.assert_close(got[0], expected[0], **tolerance(dtype))
        torch.testing.assert_close(got[1], expected[1], **tolerance(dtype))


def test_seesaw_factors_do_what_the_paper_says() -> None:
    """Equal counts and no compensation: plain CE. A count of 0 is a count of 1. A rare
    sample's loss is unchanged by frequent classes (M = 1 where N_j > N_i), a frequent
    sample's loss is lowered (M < 1), and a misclassification raises it (C > 1)."""
    x, labels = _logits(), _labels(ignored=False)
    equal = torchfocal.seesaw_loss(x, labels, class_counts=[7] * C, q=0.0, reduction="none")
    torch.testing.assert_close(equal, F.cross_entropy(x, labels, reduction="none"), **TIGHT)
    zero = torchfocal.seesaw_loss(x, labels, class_counts=[5, 0, 3, 0, 9], reduction="none")
    one = torchfocal.seesaw_loss(x, labels, class_counts=[5, 1, 3, 1, 9], reduction="none")
    torch.testing.assert_close(zero, one, rtol=0, atol=0)

    logits = torch.tensor([[0.0, 1.0, 2.0]], dtype=torch.float64)
    ce = F.cross_entropy(logits, torch.tensor([2]))
    counts = torch.tensor([10, 1000, 1])

    def seesaw(target: int, **options: float) -> torch.Tensor:
        return torchfocal.seesaw_loss(
            logits, torch.tensor([target]), class_counts=counts, **options
        )

    # class 2 is the rarest: nothing is mitigated, and it is the top-scored class
    torch.testing.assert_close(seesaw(2), ce, **TIGHT)
    assert seesaw(1, q=0.0) < F.cross_entropy(logits, torch.tensor([1]))  # 1000 vs 10 and 1
    assert seesaw(0, p=0.0) > F.cross_entropy(logits, torch.tensor([0]))  # 1 and 2 score higher


def test_seesaw_extreme_logits_match_the_reference() -> None:
    """Rows wider than exp's range: log s_j is -inf (compensation 0), loss and gradient
    finite and equal to the reference."""
    x = torch.tensor([[1e4, -1e4, 0.0, 3.0, -3.0], [-800.0, 900.0, 0.0, 1.0, 2.0]])
    for dtype in (torch.float32, torch.float64):
        check_against_reference(
            "seesaw_loss", "fused", x.to(dtype), torch.tensor([1, 0]), class_counts=COUNTS
        )


def test_seesaw_empty_and_all_ignored_batches_give_zero() -> None:
    x = _logits((0, C)).requires_grad_(True)
    loss = torchfocal.seesaw_loss(x, torch.zeros(0, dtype=torch.long), class_counts=COUNTS)
    assert loss.item() == 0.0
    ignored = torch.full((3,), -100)
    loss = torchfocal.seesaw_loss(_logits((3, C)), ignored, class_counts=COUNTS)
    assert loss.item() == 0.0


# -- EQLv2: the function -----------------------------------------------------------------------

#: Statistics with a frequent class, rare ones, one whose negatives had no gradient and one
#: with no statistics (weights 1).
POS_GRAD = torch.tensor([900.0, 3.0, 0.0, 40.0, 0.0], dtype=torch.float64)
NEG_GRAD = torch.tensor([1000.0, 300.0, 50.0, 0.0, 0.0], dtype=torch.float64)


def _eql_labels(rows: int = 9) -> torch.Tensor:
    """Class indices in [0, C], background (C) included."""
    return _labels((rows,), high=C + 1, ignored=False)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    ("gamma", "mu", "alpha"), [(12.0, 0.8, 4.0), (0.0, 0.8, 4.0), (3.0, 0.1, 0.0)]
)
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_eqlv2_matches_reference(
    backend: str, gamma: float, mu: float, alpha: float, reduction: str
) -> None:
    x, labels = _logits(), _eql_labels()
    check_against_reference(
        "equalization_loss_v2",
        backend,
        x,
        labels,
        _upstream(reduction, x.shape),
        pos_grad=POS_GRAD,
        neg_grad=NEG_GRAD,
        gamma=gamma,
        mu=mu,
        alpha=alpha,
        reduction=reduction,
    )


def test_eqlv2_matches_the_papers_formula() -> None:
    x, labels = _logits((12, C)), _eql_labels(12)
    expected = _value_and_grad(lambda z: _paper_eqlv2(z, labels, POS_GRAD, NEG_GRAD)[0], x)
    for backend in BACKENDS:
        got = _value_and_grad(
            lambda z, b=backend: torchfocal.equalization_loss_v2(
                z, labels, pos_grad=POS_GRAD, neg_grad=NEG_GRAD, backend=b
            ),
            x,
        )
        torch.testing.assert_close(got[0], expected[0], **TIGHT)
        torch.testing.assert_close(got[1], expected[1], **TIGHT)
    _, pos, neg = _paper_eqlv2(x, labels, POS_GRAD, NEG_GRAD)
    got_pos, got_neg = equalization_statistics(x, labels, pos_grad=POS_GRAD, neg_grad=NEG_GRAD)
    torch.testing.assert_close(got_pos, pos, **TIGHT)
    torch.testing.assert_close(got_neg, neg, **TIGHT)


@pytest.mark.parametrize("backend", BACKENDS)
def test_eqlv2_before_statistics_is_bce_summed_over_rows(backend: str) -> None:
    x, labels = _logits(), _eql_labels()
    y = F.one_hot(labels, C + 1)[:, :C].double()
    expected = F.binary_cross_entropy_with_logits(x, y, reduction="sum") / x.shape[0]
    zeros = torch.zeros(C)
    got = torchfocal.equalization_loss_v2(
        x, labels, pos_grad=zeros, neg_grad=zeros, backend=backend
    )
    torch.testing.assert_close(got, expected, **TIGHT)


def test_eqlv2_weights_at_the_extremes() -> None:
    """No gradient on a class's negatives makes its ratio pos_grad * 1e10: negative weight 1,
    positive weight 1. gamma = 0 makes f = 1/2 for every ratio, the infinite one too (a
    pos_grad past 1.8e298 overflows the ratio). A ratio of 0: f = 1 / (1 + exp(gamma mu))."""
    x = torch.tensor([[1.0, -2.0, 0.5], [0.3, 0.0, -1.0]], dtype=torch.float64)
    labels = torch.tensor([0, 3])
    y = F.one_hot(labels, 4)[:, :3].double()
    bce = F.binary_cross_entropy_with_logits(x, y, reduction="none")
    cases = [
        (12.0, [5.0, 1e300, 0.0], [0.0, 0.0, 7.0], [[1.0, 1.0, 1 + 4 / (1 + math.exp(-9.6))]],
         [[1.0, 1.0, 1 / (1 + math.exp(9.6))]]),
        (0.0, [5.0, 1e300, 0.0], [0.0, 0.0, 7.0], [[3.0, 3.0, 3.0]], [[0.5, 0.5, 0.5]]),
    ]  # fmt: skip
    for gamma, pos_grad, neg_grad, positive, negative in cases:
        weight = torch.where(
            y == 1,
            torch.tensor(positive, dtype=torch.float64),
            torch.tensor(negative, dtype=torch.float64),
        )
        loss = torchfocal.equalization_loss_v2(
            x, labels, pos_grad=pos_grad, neg_grad=neg_grad, gamma=gamma, reduction="none"
        )
        torch.testing.assert_close(loss, weight * bce, **TIGHT)


def test_eqlv2_empty_batch_gives_zero() -> None:
    x = _logits((0, C)).requires_grad_(True)
    empty = torch.zeros(0, dtype=torch.long)
    loss = torchfocal.equalization_loss_v2(x, empty, pos_grad=POS_GRAD, neg_grad=NEG_GRAD)
    assert loss.item() == 0.0


# -- both: backends through Triton's interpreter, dtypes, meta, gradcheck -----------------------


def _seesaw(x: torch.Tensor, labels: torch.Tensor, **options: Any) -> torch.Tensor:
    return torchfocal.seesaw_loss(x, labels, class_counts=COUNTS, **options)


def _eqlv2(x: torch.Tensor, labels: torch.Tensor, **options: Any) -> torch.Tensor:
    return torchfocal.equalization_loss_v2(
        x, labels, pos_grad=POS_GRAD, neg_grad=NEG_GRAD, **options
    )


LOSSES: dict[str, tuple[Callable[..., torch.Tensor], Callable[[], torch.Tensor]]] = {
    "seesaw": (_seesaw, _labels),
    "eqlv2": (_eqlv2, _eql_labels),
}


@pytest.mark.parametrize("loss", list(LOSSES))
def test_triton_backend_equals_fused(loss: str) -> None:
    pytest.importorskip("triton")
    function, labels = LOSSES[loss]
    x, target = _logits().float(), labels()
    expected = _value_and_grad(lambda z: function(z, target, backend="fused"), x)
    got = _value_and_grad(lambda z: function(z, target, backend="triton"), x)
    torch.testing.assert_close(got[0], expected[0], **tolerance(torch.float32))
    torch.testing.assert_close(got[1], expected[1], **tolerance(torch.float32))


@pytest.mark.parametrize("loss", list(LOSSES))
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32])
def test_dtypes_return_their_own_and_match_float64(loss: str, dtype: torch.dtype) -> None:
    function, labels = LOSSES[loss]
    x, target = _logits(scale=1.5), labels()
    low = x.to(dtype)
    value, grad = _value_and_grad(lambda z: function(z, target), low)
    assert value.dtype == dtype and grad.dtype == dtype
    # The input itself is rounded to the dtype: compare with the float64 loss of that input.
    expected = _value_and_grad(lambda z: function(z, target), low.double())
    torch.testing.assert_close(value.double(), expected[0], **tolerance(dtype))
    torch.testing.assert_close(grad.double(), expected[1], **tolerance(dtype))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("loss", list(LOSSES))
@pytest.mark.parametrize("reduction", ["none", "mean"])
def test_functions_run_on_meta(loss: str, backend: str, reduction: str) -> None:
    x = torch.empty(9, C, device="meta", requires_grad=True)
    target = torch.empty(9, dtype=torch.long, device="meta")
    statistics: dict[str, Any] = (
        {"class_counts": COUNTS.to("meta")}
        if loss == "seesaw"
        else {"pos_grad": POS_GRAD.to("meta"), "neg_grad": NEG_GRAD.to("meta")}
    )
    name = "seesaw_loss" if loss == "seesaw" else "equalization_loss_v2"
    value = getattr(torchfocal, name)(x, target, reduction=reduction, backend=backend, **statistics)
    assert value.device.type == "meta" and value.dtype == x.dtype
    value.backward(torch.empty(value.shape, device="meta"))
    assert x.grad is not None and x.grad.shape == x.shape and x.grad.device.type == "meta"


@pytest.mark.parametrize("backend", BACKENDS)
def test_gradcheck(backend: str) -> None:
    """The factors are constants of the gradient: gradcheck holds wherever they are locally
    constant, i.e. with no compensation (q = 0), or where the target leads its row by a margin
    (the compensation is 1 around x); EQLv2's weights depend on the statistics alone."""
    x = _logits((4, C), scale=1.0)
    labels = torch.tensor([0, 3, 4, 1])
    leading = x.clone()
    leading[torch.arange(4), labels] += 4.0  # s_i > s_j and s_i > eps, with room to spare
    eql_labels = torch.tensor([0, C, 2, 3])

    cases: list[tuple[Callable[[torch.Tensor], torch.Tensor], torch.Tensor]] = [
        (lambda z: _seesaw(z, labels, q=0.0, backend=backend), x),
        (lambda z: _seesaw(z, labels, backend=backend), leading),
        (lambda z: _eqlv2(z, eql_labels, backend=backend), x),
    ]
    for function, point in cases:
        leaf = point.clone().requires_grad_(True)
        assert torch.autograd.gradcheck(function, (leaf,), fast_mode=True)
        assert torch.autograd.gradgradcheck(function, (leaf,), fast_mode=True)


def test_the_compensation_is_left_out_of_the_gradient() -> None:
    """Where the compensation is active the loss's finite-difference slope differs from the
    gradient, which treats the factor as a constant (the authors' detached softmax)."""
    x = torch.tensor([[0.0, 2.0, -1.0]], dtype=torch.float64, requires_grad=True)
    labels = torch.tensor([0])
    loss = torchfocal.seesaw_loss(x, labels, class_counts=[1, 1, 1])
    (grad,) = torch.autograd.grad(loss, x)
    frozen = torch.softmax(x.detach() + torch.tensor([0.0, 2 * 2.0, 0.0]), dim=1)
    torch.testing.assert_close(grad, frozen - torch.tensor([[1.0, 0.0, 0.0]]), **TIGHT)
    assert not torch.autograd.gradcheck(
        lambda z: torchfocal.seesaw_loss(z, labels, class_counts=[1, 1, 1]),
        (x,),
        raise_exception=False,
    )


# -- the modules' state ------------------------------------------------------------------------


def _steps(count: int, rows: int, high: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return [
        (_logits((rows, C)), _labels((rows,), high=high, ignored=high == C)) for _ in range(count)
    ]


def test_seesaw_module_counts_each_training_batch_before_its_loss() -> None:
    module = torchfocal.SeesawLoss(C)
    assert module.class_counts.dtype == torch.int64
    expected_counts = torch.zeros(C, dtype=torch.int64)
    for x, labels in _steps(3, 8, C):
        expected_counts += torch.bincount(labels[labels != -100], minlength=C)
        value, grad = _value_and_grad(lambda z, t=labels: module(z, t), x)
        assert torch.equal(module.class_counts, expected_counts)
        expected = _value_and_grad(
            lambda z, t=labels, n=expected_counts: torchfocal.seesaw_loss(z, t, class_counts=n),
            x,
        )
        torch.testing.assert_close(value, expected[0], **TIGHT)
        torch.testing.assert_close(grad, expected[1], **TIGHT)

    module.eval()
    x, labels = _steps(1, 8, C)[0]
    torch.testing.assert_close(
        module(x, labels),
        torchfocal.seesaw_loss(x, labels, class_counts=expected_counts),
        **TIGHT,
    )
    assert torch.equal(module.class_counts, expected_counts)  # eval counts nothing


def test_eqlv2_module_collects_statistics_after_each_training_loss() -> None:
    module = torchfocal.EqualizationLossV2(C)
    assert module.pos_grad.dtype == module.neg_grad.dtype == torch.float64
    pos = torch.zeros(C, dtype=torch.float64)
    neg = torch.zeros(C, dtype=torch.float64)
    for x, labels in _steps(3, 8, C + 1):
        expected, batch_pos, batch_neg = _paper_eqlv2(x, labels, pos, neg)
        value, grad = _value_and_grad(lambda z, t=labels: module(z, t), x)
        torch.testing.assert_close(value, expected, **TIGHT)
        reference = _value_and_grad(
            lambda z, t=labels, a=pos, b=neg: torchfocal.equalization_loss_v2(
                z, t, pos_grad=a, neg_grad=b
            ),
            x,
        )
        torch.testing.assert_close(grad, reference[1], **TIGHT)
        pos, neg = pos + batch_pos, neg + batch_neg
        torch.testing.assert_close(module.pos_grad, pos, **TIGHT)
        torch.testing.assert_close(module.neg_grad, neg, **TIGHT)
    assert (pos > 0).all() and (neg > 0).all()  # every class has statistics by now

    module.eval()
    before = {key: value.clone() for key, value in module.state_dict().items()}
    x, labels = _steps(1, 8, C + 1)[0]
    torch.testing.assert_close(module(x, labels), _paper_eqlv2(x, labels, pos, neg)[0], **TIGHT)
    for key, value in module.state_dict().items():  # eval collects nothing
        assert torch.equal(value, before[key])


@pytest.mark.parametrize("name", ["SeesawLoss", "EqualizationLossV2"])
def test_state_dict_round_trip_restores_the_state(name: str) -> None:
    high = C if name == "SeesawLoss" else C + 1
    module = getattr(torchfocal, name)(C)
    for x, labels in _steps(2, 8, high):
        module(x, labels)
    state = module.state_dict()
    assert sorted(state) == sorted(dict(module.named_buffers()))
    restored = getattr(torchfocal, name)(C)
    restored.load_state_dict(state)
    for key, value in state.items():
        assert torch.equal(restored.state_dict()[key], value)
    x, labels = _steps(1, 8, high)[0]
    torch.testing.assert_close(restored(x, labels), module(x, labels), rtol=0, atol=0)


def test_dtype_casts_keep_the_state_exact() -> None:
    """.to(dtype) / .half() cast floating buffers: the counts are int64 (never cast), the
    EQLv2 sums stay float64; both keep values float16 would round."""
    seesaw = torchfocal.SeesawLoss(C)
    seesaw.class_counts.fill_(2**40 + 1)
    eql = torchfocal.EqualizationLossV2(C)
    eql.pos_grad.fill_(2049.0 + 2**-20)
    eql.neg_grad.fill_(1e-30)
    for cast in (lambda m: m.to(torch.float16), lambda m: m.half(), lambda m: m.float()):
        assert cast(seesaw) is seesaw and cast(eql) is eql
        assert seesaw.class_counts.dtype == torch.int64
        assert (seesaw.class_counts == 2**40 + 1).all()
        assert eql.pos_grad.dtype == eql.neg_grad.dtype == torch.float64
        assert (eql.pos_grad == 2049.0 + 2**-20).all() and (eql.neg_grad == 1e-30).all()
    seesaw.to("meta")
    eql.to("meta")
    assert seesaw.class_counts.device.type == "meta" and eql.pos_grad.device.type == "meta"


@pytest.mark.parametrize("name", ["SeesawLoss", "EqualizationLossV2"])
def test_modules_run_on_meta(name: str) -> None:
    module = getattr(torchfocal, name)(C).to("meta")
    x = torch.empty(6, C, device="meta", requires_grad=True)
    value = module(x, torch.empty(6, dtype=torch.long, device="meta"))
    value.backward()
    assert x.grad is not None and x.grad.device.type == "meta"


@pytest.mark.usefixtures("no_host_reads")
@pytest.mark.parametrize("name", ["SeesawLoss", "EqualizationLossV2"])
def test_a_training_step_reads_no_value_on_the_host(name: str) -> None:
    """As on a GPU: checks as device-side asserts, and any host read of a value raises."""
    module = getattr(torchfocal, name)(C)
    x, labels = _logits().requires_grad_(True), _labels(ignored=name == "SeesawLoss")
    module(x, labels).backward()
    assert x.grad is not None


def test_module_repr_shows_the_options() -> None:
    assert repr(torchfocal.SeesawLoss(3)) == (
        "SeesawLoss(num_classes=3, p=0.8, q=2.0, eps=0.01, reduction='mean')"
    )
    assert repr(torchfocal.EqualizationLossV2(3, reduction="sum", distributed=True)) == (
        "EqualizationLossV2(num_classes=3, gamma=12.0, mu=0.8, alpha=4.0, reduction='sum', "
        "distributed=True)"
    )


def test_batch_class_counts() -> None:
    labels = torch.tensor([[0, 2, -100], [2, 2, 1]])
    counts = batch_class_counts(torch.zeros(2, 4, 3), labels, class_dim=1)
    assert counts.dtype == torch.int64
    assert counts.tolist() == [1, 1, 3, 0]


# -- distributed: two gloo processes -----------------------------------------------------------

WORLD_SIZE = 2
TIMEOUT_SECONDS = 120
STEPS = 3


def _global_batches() -> list[dict[str, tuple[torch.Tensor, torch.Tensor]]]:
    """Per step, each loss's whole batch (8 rows), unevenly spread over the classes so that
    the two shards' statistics differ."""
    generator = torch.Generator().manual_seed(11)
    batches = []
    for _ in range(STEPS):
        x = torch.randn(8, C, generator=generator, dtype=torch.float64) * 2
        seesaw = torch.randint(0, C, (8,), generator=generator)
        seesaw[:4] = 0
        seesaw[7] = -100
        eql = torch.randint(0, C + 1, (8,), generator=generator)
        eql[:4] = C
        batches.append({"SeesawLoss": (x, seesaw), "EqualizationLossV2": (x, eql)})
    return batches


def _worker(rank: int, port: int, results: Any) -> None:
    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    dist.init_process_group("gloo", rank=rank, world_size=WORLD_SIZE)
    try:
        modules = {name: getattr(torchfocal, name)(C, distributed=True) for name in _NAMES}
        losses: dict[str, list[float]] = {name: [] for name in _NAMES}
        for batch in _global_batches():
            for name, module in modules.items():
                x, labels = batch[name]
                shard = slice(rank * 4, (rank + 1) * 4)
                losses[name].append(module(x[shard], labels[shard]).item())
        # NumPy copies, pickled by value: a tensor would travel as a shared-memory handle
        # that the parent opens through this process, which may have exited by then
        # ("connection reset by peer" on a loaded machine).
        buffers = {
            name: {key: value.numpy().copy() for key, value in module.state_dict().items()}
            for name, module in modules.items()
        }
        results.put((rank, losses, buffers))
    finally:
        dist.destroy_process_group()


#: The modules with training state.
_NAMES = tuple(info.module for info in REGISTERED if info.state)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.skipif(not dist.is_available(), reason="torch.distributed is not built in")
def test_two_ranks_hold_the_state_of_the_whole_batch() -> None:
    context = mp.get_context("spawn")
    results = context.Queue()
    port = _free_port()
    workers = [context.Process(target=_worker, args=(r, port, results)) for r in range(2)]
    for worker in workers:
        worker.start()
    collected: dict[int, Any] = {}
    try:
        for _ in range(WORLD_SIZE):
            rank, losses, buffers = results.get(timeout=TIMEOUT_SECONDS)
            collected[rank] = (losses, buffers)
    except queue.Empty:
        pytest.fail(f"distributed workers gave no result within {TIMEOUT_SECONDS} s")
    finally:
        for worker in workers:
            # join returns once the worker exits; the margin is for a loaded machine, where
            # tearing down the process group and torch can take seconds.
            worker.join(timeout=TIMEOUT_SECONDS)
            if worker.is_alive():
                worker.terminate()
    assert [worker.exitcode for worker in workers] == [0] * WORLD_SIZE

    for name in _NAMES:
        # One process, the whole batch of every step; the rank's loss of its shard is the
        # function's with the whole batch's state of that step.
        single = getattr(torchfocal, name)(C)
        for step, batch in enumerate(_global_batches()):
            x, labels = batch[name]
            state = {key: value.clone() for key, value in single.state_dict().items()}
            single(x, labels)
            if name == "SeesawLoss":  # counted before the loss: the state after the step
                state = {key: value.clone() for key, value in single.state_dict().items()}
            for rank, (losses, _) in collected.items():
                shard = slice(rank * 4, (rank + 1) * 4)
                if name == "SeesawLoss":
                    expected = torchfocal.seesaw_loss(
                        x[shard], labels[shard], class_counts=state["class_counts"]
                    )
                else:
                    expected = torchfocal.equalization_loss_v2(x[shard], labels[shard], **state)
                assert losses[name][step] == pytest.approx(expected.item(), rel=1e-12)
        for rank, (_, buffers) in collected.items():
            for key, value in single.state_dict().items():
                torch.testing.assert_close(torch.from_numpy(buffers[name][key]), value, **TIGHT)
                # the ranks agree exactly (the same all-reduced sums)
                assert (buffers[name][key] == collected[0][1][name][key]).all(), rank
    # the shards' own counts differ: a per-rank state would not have matched
    first = _global_batches()[0]["SeesawLoss"][1]
    assert not torch.equal(
        batch_class_counts(torch.zeros(4, C), first[:4]),
        batch_class_counts(torch.zeros(4, C), first[4:]),
    )


def test_distributed_needs_a_process_group_in_training_only() -> None:
    for name in _NAMES:
        module = getattr(torchfocal, name)(C, distributed=True)
        high = C if name == "SeesawLoss" else C + 1
        x, labels = _logits(), _labels(high=high, ignored=high == C)
        with pytest.raises(ValueError, match=r"distributed must be False unless torch.distributed"):
            module(x, labels)
        module.eval()
        assert torch.isfinite(module(x, labels))  # eval syncs nothing


# -- errors ------------------------------------------------------------------------------------


def _seesaw_call(**kwargs: Any) -> Callable[[], torch.Tensor]:
    arguments: dict[str, Any] = {
        "input": _logits((4, 3)),
        "target": torch.tensor([0, 1, 2, 0]),
        "class_counts": [10, 5, 1],
        **kwargs,
    }
    return lambda: torchfocal.seesaw_loss(
        arguments.pop("input"), arguments.pop("target"), **arguments
    )


SEESAW_ERRORS = [
    (
        {"class_counts": [10, -1, 1]},
        ValueError,
        r"class_counts must hold values in \[0, inf\]; got -1",
    ),
    ({"class_counts": [10, math.inf, 1]}, ValueError, r"class_counts must be finite; got inf"),
    ({"class_counts": [10, math.nan, 1]}, ValueError, r"class_counts must hold values"),
    (
        {"class_counts": [10, 5]},
        ValueError,
        r"class_counts must have one value per class \(3 along class_dim=1\); got shape \(2,\)",
    ),
    ({"class_counts": [[10, 5, 1]]}, ValueError, r"class_counts must have one value per class"),
    (
        {"class_counts": "many"},
        TypeError,
        r"class_counts must be a float or a sequence of 3 floats; got str",
    ),
    (
        {"class_counts": torch.ones(3, device="meta")},
        ValueError,
        r"class_counts must be on the input's device cpu; got meta",
    ),
    ({"p": -0.1}, ValueError, r"p must be in \[0, inf\]; got -0.1"),
    ({"p": math.inf}, ValueError, r"p must be in \[0, inf\]; got inf"),
    ({"p": "0.8"}, TypeError, r"p must be a float; got str"),
    ({"q": -2.0}, ValueError, r"q must be in \[0, inf\]; got -2.0"),
    ({"eps": 0.0}, ValueError, r"eps must be in \(0, 1\]; got 0.0"),
    ({"eps": -1e-2}, ValueError, r"eps must be in \(0, 1\]; got -0.01"),
    ({"eps": 1.5}, ValueError, r"eps must be in \(0, 1\]; got 1.5"),
    ({"eps": math.nan}, ValueError, r"eps must be in \(0, 1\]; got nan"),
    ({"eps": "0.01"}, TypeError, r"eps must be a float; got str"),
    (
        {"target": torch.tensor([0, 1, 3, 0])},
        ValueError,
        r"target class indices must be in \[0, 2\] or ignore_index=-100; got 3",
    ),
    (
        {"target": torch.tensor([0.0, 1.0, 2.0, 0.0])},
        TypeError,
        r"target must be an integer tensor of class indices \(for labels held as floats "
        r"pass target.long\(\)\); got torch.float32",
    ),
    (
        {"target": torch.eye(3)[[0, 1, 2, 0]].long()},
        ValueError,
        r"target must be integer class indices of shape \(4,\); got torch.int64 of shape "
        r"\(4, 3\) \(for a one-hot target pass target.argmax\(dim=1\)\)",
    ),
    ({"input": torch.tensor([0, 1, 2])}, TypeError, r"input must be a floating-point tensor"),
    ({"ignore_index": 1.5}, TypeError, r"ignore_index must be an int; got float"),
    ({"class_dim": 2}, ValueError, r"class_dim must be a dimension of the input"),
    (
        {"reduction": "positives"},
        ValueError,
        r"reduction must be one of 'none' \| 'mean' \| 'sum'; got 'positives'",
    ),
    ({"backend": "cuda"}, ValueError, r"backend must be one of"),
]


@pytest.mark.parametrize(("kwargs", "error", "message"), SEESAW_ERRORS)
def test_seesaw_errors(kwargs: dict[str, Any], error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        _seesaw_call(**kwargs)()


def _eqlv2_call(**kwargs: Any) -> Callable[[], torch.Tensor]:
    arguments: dict[str, Any] = {
        "input": _logits((4, 3)),
        "target": torch.tensor([0, 1, 3, 2]),
        "pos_grad": [1.0, 2.0, 0.0],
        "neg_grad": [5.0, 2.0, 0.0],
        **kwargs,
    }
    return lambda: torchfocal.equalization_loss_v2(
        arguments.pop("input"), arguments.pop("target"), **arguments
    )


EQLV2_ERRORS = [
    (
        {"pos_grad": [1.0, -2.0, 0.0]},
        ValueError,
        r"pos_grad must hold values in \[0, inf\]; got -2",
    ),
    ({"neg_grad": [5.0, math.inf, 0.0]}, ValueError, r"neg_grad must be finite; got inf"),
    (
        {"pos_grad": [1.0, 2.0]},
        ValueError,
        r"pos_grad must have one value per class \(3 along class_dim=1\); got shape \(2,\)",
    ),
    ({"neg_grad": torch.zeros(4)}, ValueError, r"neg_grad must have one value per class"),
    ({"gamma": -1.0}, ValueError, r"gamma must be in \[0, inf\]; got -1.0"),
    ({"mu": -0.5}, ValueError, r"mu must be in \[0, inf\]; got -0.5"),
    ({"mu": math.nan}, ValueError, r"mu must be in \[0, inf\]; got nan"),
    ({"alpha": -4.0}, ValueError, r"alpha must be in \[0, inf\]; got -4.0"),
    ({"alpha": None}, TypeError, r"alpha must be a float; got NoneType"),
    (
        {"target": torch.tensor([0, 1, 4, 2])},
        ValueError,
        r"target class indices must be in \[0, 3\] \(3 = background\); got 4",
    ),
    (
        {"target": torch.tensor([0, -100, 3, 2])},
        ValueError,
        r"target class indices must be in \[0, 3\] \(3 = background\); got -100",
    ),
    (
        {"target": torch.tensor([0, 1, 3])},
        ValueError,
        r"target must be class indices of shape \(4,\); got shape \(3,\)",
    ),
    (
        {"target": torch.rand(4)},
        TypeError,
        r"target must be an integer tensor of class indices; got torch.float32",
    ),
    (
        {"input": torch.randn(4, 3, 2)},
        ValueError,
        r"input must be \(N, C\) logits; got shape \(4, 3, 2\)",
    ),
    (
        {"input": torch.randn(4, 0), "pos_grad": [], "neg_grad": []},
        ValueError,
        r"input must have at least one class",
    ),
    (
        {"reduction": "positives"},
        ValueError,
        r"reduction must be one of 'none' \| 'mean' \| 'sum'; got 'positives'",
    ),
    ({"backend": "cuda"}, ValueError, r"backend must be one of"),
]


@pytest.mark.parametrize(("kwargs", "error", "message"), EQLV2_ERRORS)
def test_eqlv2_errors(kwargs: dict[str, Any], error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        _eqlv2_call(**kwargs)()


MODULE_ERRORS = [
    ("SeesawLoss", {"num_classes": 0}, ValueError, r"num_classes must be >= 1; got 0"),
    ("SeesawLoss", {"num_classes": -3}, ValueError, r"num_classes must be >= 1; got -3"),
    ("SeesawLoss", {"num_classes": 3.0}, TypeError, r"num_classes must be an int; got float"),
    (
        "EqualizationLossV2",
        {"num_classes": True},
        TypeError,
        r"num_classes must be an int; got bool",
    ),
    ("SeesawLoss", {"num_classes": 3, "p": -1.0}, ValueError, r"p must be in \[0, inf\]; got -1.0"),
    ("SeesawLoss", {"num_classes": 3, "q": -1.0}, ValueError, r"q must be in \[0, inf\]; got -1.0"),
    ("SeesawLoss", {"num_classes": 3, "eps": 0.0}, ValueError, r"eps must be in \(0, 1\]; got 0.0"),
    (
        "SeesawLoss",
        {"num_classes": 3, "ignore_index": None},
        TypeError,
        r"ignore_index must be an int",
    ),
    (
        "EqualizationLossV2",
        {"num_classes": 3, "gamma": -12.0},
        ValueError,
        r"gamma must be in \[0, inf\]",
    ),
    (
        "EqualizationLossV2",
        {"num_classes": 3, "alpha": -4.0},
        ValueError,
        r"alpha must be in \[0, inf\]",
    ),
    (
        "SeesawLoss",
        {"num_classes": 3, "distributed": 1},
        TypeError,
        r"distributed must be a bool; got int",
    ),
    (
        "EqualizationLossV2",
        {"num_classes": 3, "reduction": "positives"},
        ValueError,
        r"reduction must be one of",
    ),
    ("SeesawLoss", {"num_classes": 3, "backend": "gpu"}, ValueError, r"backend must be one of"),
]


@pytest.mark.parametrize(("name", "kwargs", "error", "message"), MODULE_ERRORS)
def test_module_errors(
    name: str, kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        getattr(torchfocal, name)(**kwargs)


@pytest.mark.parametrize("name", ["SeesawLoss", "EqualizationLossV2"])
def test_modules_refuse_another_number_of_classes(name: str) -> None:
    """A (N, 1) input would otherwise broadcast its one count onto every class."""
    module = getattr(torchfocal, name)(3)
    for width in (1, 4):
        with pytest.raises(
            ValueError,
            match=rf"input must have num_classes=3 classes along dimension 1; got {width} "
            rf"\(shape \(2, {width}\)\)",
        ):
            module(torch.zeros(2, width), torch.zeros(2, dtype=torch.long))
    assert not any(buffer.any() for buffer in module.buffers())  # nothing counted
    # Without the class dimension the loss's own check speaks.
    message = r"input must be \(N, C\) logits" if name != "SeesawLoss" else r"class_dim must be"
    with pytest.raises(ValueError, match=message):
        module(torch.zeros(3), torch.zeros(3, dtype=torch.long))
