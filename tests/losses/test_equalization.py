"""EQLv2 (equalization loss v2, Tan et al. 2021) and its module, which collects the
gradient statistics.

The function, given the statistics, against the NumPy reference and against the paper's
formula written again in plain torch float64 (weights as written); the module's statistics
over training steps, in eval mode, through the state_dict and under dtype casts; meta
tensors, dtypes, gradcheck and every error branch. The statistics summed over two
processes are tests/test_distributed.py's.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest
import torch
import torch.nn.functional as F

import torchfocal
from conftest import check_against_reference
from losses.stateful import (
    BACKENDS,
    NEG_GRAD,
    POS_GRAD,
    TIGHT,
    C,
    check_a_training_step_reads_no_value_on_the_host,
    check_dtypes_return_their_own_and_match_float64,
    check_function_runs_on_meta,
    check_gradcheck,
    check_module_refuses_another_number_of_classes,
    check_module_runs_on_meta,
    check_state_dict_round_trip_restores_the_state,
    check_triton_backend_equals_fused,
    eqlv2_labels,
    eqlv2_with_statistics,
    random_logits,
    training_steps,
    upstream_for,
    value_and_grad,
)
from torchfocal.losses.equalization import equalization_statistics

# -- the paper's formulas, in plain torch float64 ----------------------------------------------


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


# -- the function ------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    ("gamma", "mu", "alpha"), [(12.0, 0.8, 4.0), (0.0, 0.8, 4.0), (3.0, 0.1, 0.0)]
)
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_eqlv2_matches_reference(
    backend: str, gamma: float, mu: float, alpha: float, reduction: str
) -> None:
    x, labels = random_logits(), eqlv2_labels()
    check_against_reference(
        "equalization_loss_v2",
        backend,
        x,
        labels,
        upstream_for(reduction, x.shape),
        pos_grad=POS_GRAD,
        neg_grad=NEG_GRAD,
        gamma=gamma,
        mu=mu,
        alpha=alpha,
        reduction=reduction,
    )


def test_eqlv2_matches_the_papers_formula() -> None:
    x, labels = random_logits((12, C)), eqlv2_labels(12)
    expected = value_and_grad(lambda z: _paper_eqlv2(z, labels, POS_GRAD, NEG_GRAD)[0], x)
    for backend in BACKENDS:
        got = value_and_grad(
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
    x, labels = random_logits(), eqlv2_labels()
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
    x = random_logits((0, C)).requires_grad_(True)
    empty = torch.zeros(0, dtype=torch.long)
    loss = torchfocal.equalization_loss_v2(x, empty, pos_grad=POS_GRAD, neg_grad=NEG_GRAD)
    assert loss.item() == 0.0


# -- backends through Triton's interpreter, dtypes, meta, gradcheck -----------------------------


def test_triton_backend_equals_fused() -> None:
    check_triton_backend_equals_fused(eqlv2_with_statistics, eqlv2_labels)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32])
def test_dtypes_return_their_own_and_match_float64(dtype: torch.dtype) -> None:
    check_dtypes_return_their_own_and_match_float64(eqlv2_with_statistics, eqlv2_labels, dtype)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("reduction", ["none", "mean"])
def test_function_runs_on_meta(backend: str, reduction: str) -> None:
    statistics = {"pos_grad": POS_GRAD.to("meta"), "neg_grad": NEG_GRAD.to("meta")}
    check_function_runs_on_meta("equalization_loss_v2", statistics, backend, reduction)


@pytest.mark.parametrize("backend", BACKENDS)
def test_gradcheck(backend: str) -> None:
    """EQLv2's weights depend on the statistics alone: constants of the gradient."""
    x = random_logits((4, C), scale=1.0)
    labels = torch.tensor([0, C, 2, 3])
    cases: list[tuple[Callable[[torch.Tensor], torch.Tensor], torch.Tensor]] = [
        (lambda z: eqlv2_with_statistics(z, labels, backend=backend), x),
    ]
    check_gradcheck(cases)


# -- the module's state ------------------------------------------------------------------------


def test_eqlv2_module_collects_statistics_after_each_training_loss() -> None:
    module = torchfocal.EqualizationLossV2(C)
    assert module.pos_grad.dtype == module.neg_grad.dtype == torch.float64
    pos = torch.zeros(C, dtype=torch.float64)
    neg = torch.zeros(C, dtype=torch.float64)
    for x, labels in training_steps(3, 8, C + 1):
        expected, batch_pos, batch_neg = _paper_eqlv2(x, labels, pos, neg)
        value, grad = value_and_grad(lambda z, t=labels: module(z, t), x)
        torch.testing.assert_close(value, expected, **TIGHT)
        reference = value_and_grad(
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
    x, labels = training_steps(1, 8, C + 1)[0]
    torch.testing.assert_close(module(x, labels), _paper_eqlv2(x, labels, pos, neg)[0], **TIGHT)
    for key, value in module.state_dict().items():  # eval collects nothing
        assert torch.equal(value, before[key])


def test_state_dict_round_trip_restores_the_state() -> None:
    check_state_dict_round_trip_restores_the_state("EqualizationLossV2", high=C + 1)


def test_dtype_casts_keep_the_statistics_exact() -> None:
    """.to(dtype) / .half() cast floating buffers: the EQLv2 sums stay float64, and keep
    values float16 would round."""
    eql = torchfocal.EqualizationLossV2(C)
    eql.pos_grad.fill_(2049.0 + 2**-20)
    eql.neg_grad.fill_(1e-30)
    for cast in (lambda m: m.to(torch.float16), lambda m: m.half(), lambda m: m.float()):
        assert cast(eql) is eql
        assert eql.pos_grad.dtype == eql.neg_grad.dtype == torch.float64
        assert (eql.pos_grad == 2049.0 + 2**-20).all() and (eql.neg_grad == 1e-30).all()
    eql.to("meta")
    assert eql.pos_grad.device.type == "meta"


def test_module_runs_on_meta() -> None:
    check_module_runs_on_meta("EqualizationLossV2")


@pytest.mark.usefixtures("no_host_reads")
def test_a_training_step_reads_no_value_on_the_host() -> None:
    check_a_training_step_reads_no_value_on_the_host("EqualizationLossV2", ignored=False)


def test_module_repr_shows_the_options() -> None:
    assert repr(torchfocal.EqualizationLossV2(3, reduction="sum", distributed=True)) == (
        "EqualizationLossV2(num_classes=3, gamma=12.0, mu=0.8, alpha=4.0, reduction='sum', "
        "distributed=True)"
    )


# -- errors ------------------------------------------------------------------------------------


def _eqlv2_call(**kwargs: Any) -> Callable[[], torch.Tensor]:
    arguments: dict[str, Any] = {
        "input": random_logits((4, 3)),
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
    ({"num_classes": True}, TypeError, r"num_classes must be an int; got bool"),
    ({"num_classes": 3, "gamma": -12.0}, ValueError, r"gamma must be in \[0, inf\]"),
    ({"num_classes": 3, "alpha": -4.0}, ValueError, r"alpha must be in \[0, inf\]"),
    ({"num_classes": 3, "reduction": "positives"}, ValueError, r"reduction must be one of"),
]


@pytest.mark.parametrize(("kwargs", "error", "message"), MODULE_ERRORS)
def test_module_errors(kwargs: dict[str, Any], error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        torchfocal.EqualizationLossV2(**kwargs)


def test_module_refuses_another_number_of_classes() -> None:
    check_module_refuses_another_number_of_classes(
        "EqualizationLossV2", r"input must be \(N, C\) logits"
    )
