"""Seesaw loss (Wang et al. 2021) and its module, which counts the classes it has seen.

The function, given the counts, against the NumPy reference and against the paper's
formula written again in plain torch float64 (factors as powers); the module's counts over
training steps, in eval mode, through the state_dict and under dtype casts; meta tensors,
dtypes, gradcheck and every error branch. The counts summed over two processes are
tests/test_distributed.py's.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest
import torch
import torch.nn.functional as F

import torchfocal
from conftest import check_against_reference, tolerance
from losses.stateful import (
    BACKENDS,
    COUNTS,
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
    class_labels,
    random_logits,
    seesaw_with_counts,
    training_steps,
    upstream_for,
    value_and_grad,
)
from torchfocal.losses.seesaw import batch_class_counts

# -- the paper's formula, in plain torch float64 -----------------------------------------------


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


# -- the function ------------------------------------------------------------------------------


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
    x, labels = random_logits(), class_labels()
    check_against_reference(
        "seesaw_loss",
        backend,
        x,
        labels,
        upstream_for(reduction, labels.shape),
        class_counts=COUNTS,
        reduction=reduction,
        **options,
    )


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("class_dim", [1, -1])
def test_seesaw_matches_reference_with_spatial_dims(backend: str, class_dim: int) -> None:
    shape = (3, C, 4) if class_dim == 1 else (3, 4, C)
    x, labels = random_logits(shape), class_labels((3, 4))
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
    x, labels = random_logits((12, C), scale=3.0), class_labels((12,), ignored=False)
    expected = value_and_grad(lambda z: _paper_seesaw(z, labels, COUNTS, **options).mean(), x)
    for backend in BACKENDS:
        got = value_and_grad(
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
    labels = class_labels()

    def seesaw(z: torch.Tensor) -> torch.Tensor:
        return torchfocal.seesaw_loss(
            z, labels, class_counts=COUNTS, p=0.0, q=0.0, reduction=reduction, backend=backend
        )

    for dtype in (torch.float64, torch.float32):
        x = random_logits().to(dtype)
        expected = value_and_grad(lambda z: F.cross_entropy(z, labels, reduction=reduction), x)
        got = value_and_grad(seesaw, x)
        torch.testing.assert_close(got[0], expected[0], **tolerance(dtype))
        torch.testing.assert_close(got[1], expected[1], **tolerance(dtype))


def test_seesaw_factors_do_what_the_paper_says() -> None:
    """Equal counts and no compensation: plain CE. A count of 0 is a count of 1. A rare
    sample's loss is unchanged by frequent classes (M = 1 where N_j > N_i), a frequent
    sample's loss is lowered (M < 1), and a misclassification raises it (C > 1)."""
    x, labels = random_logits(), class_labels(ignored=False)
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
    x = random_logits((0, C)).requires_grad_(True)
    loss = torchfocal.seesaw_loss(x, torch.zeros(0, dtype=torch.long), class_counts=COUNTS)
    assert loss.item() == 0.0
    ignored = torch.full((3,), -100)
    loss = torchfocal.seesaw_loss(random_logits((3, C)), ignored, class_counts=COUNTS)
    assert loss.item() == 0.0


# -- backends through Triton's interpreter, dtypes, meta, gradcheck -----------------------------


def test_triton_backend_equals_fused() -> None:
    check_triton_backend_equals_fused(seesaw_with_counts, class_labels)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32])
def test_dtypes_return_their_own_and_match_float64(dtype: torch.dtype) -> None:
    check_dtypes_return_their_own_and_match_float64(seesaw_with_counts, class_labels, dtype)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("reduction", ["none", "mean"])
def test_function_runs_on_meta(backend: str, reduction: str) -> None:
    statistics = {"class_counts": COUNTS.to("meta")}
    check_function_runs_on_meta("seesaw_loss", statistics, backend, reduction)


@pytest.mark.parametrize("backend", BACKENDS)
def test_gradcheck(backend: str) -> None:
    """The compensation factor is a constant of the gradient: gradcheck holds wherever it is
    locally constant, i.e. with no compensation (q = 0), or where the target leads its row
    by a margin (the compensation is 1 around x)."""
    x = random_logits((4, C), scale=1.0)
    labels = torch.tensor([0, 3, 4, 1])
    leading = x.clone()
    leading[torch.arange(4), labels] += 4.0  # s_i > s_j and s_i > eps, with room to spare
    cases: list[tuple[Callable[[torch.Tensor], torch.Tensor], torch.Tensor]] = [
        (lambda z: seesaw_with_counts(z, labels, q=0.0, backend=backend), x),
        (lambda z: seesaw_with_counts(z, labels, backend=backend), leading),
    ]
    check_gradcheck(cases)


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


# -- the module's state ------------------------------------------------------------------------


def test_seesaw_module_counts_each_training_batch_before_its_loss() -> None:
    module = torchfocal.SeesawLoss(C)
    assert module.class_counts.dtype == torch.int64
    expected_counts = torch.zeros(C, dtype=torch.int64)
    for x, labels in training_steps(3, 8, C):
        expected_counts += torch.bincount(labels[labels != -100], minlength=C)
        value, grad = value_and_grad(lambda z, t=labels: module(z, t), x)
        assert torch.equal(module.class_counts, expected_counts)
        expected = value_and_grad(
            lambda z, t=labels, n=expected_counts: torchfocal.seesaw_loss(z, t, class_counts=n),
            x,
        )
        torch.testing.assert_close(value, expected[0], **TIGHT)
        torch.testing.assert_close(grad, expected[1], **TIGHT)

    module.eval()
    x, labels = training_steps(1, 8, C)[0]
    torch.testing.assert_close(
        module(x, labels),
        torchfocal.seesaw_loss(x, labels, class_counts=expected_counts),
        **TIGHT,
    )
    assert torch.equal(module.class_counts, expected_counts)  # eval counts nothing


def test_state_dict_round_trip_restores_the_state() -> None:
    check_state_dict_round_trip_restores_the_state("SeesawLoss", high=C)


def test_dtype_casts_keep_the_counts_exact() -> None:
    """.to(dtype) / .half() cast floating buffers: the counts are int64 (never cast), and keep
    values float16 would round."""
    seesaw = torchfocal.SeesawLoss(C)
    seesaw.class_counts.fill_(2**40 + 1)
    for cast in (lambda m: m.to(torch.float16), lambda m: m.half(), lambda m: m.float()):
        assert cast(seesaw) is seesaw
        assert seesaw.class_counts.dtype == torch.int64
        assert (seesaw.class_counts == 2**40 + 1).all()
    seesaw.to("meta")
    assert seesaw.class_counts.device.type == "meta"


def test_module_runs_on_meta() -> None:
    check_module_runs_on_meta("SeesawLoss")


@pytest.mark.usefixtures("no_host_reads")
def test_a_training_step_reads_no_value_on_the_host() -> None:
    check_a_training_step_reads_no_value_on_the_host("SeesawLoss", ignored=True)


def test_module_repr_shows_the_options() -> None:
    assert repr(torchfocal.SeesawLoss(3)) == (
        "SeesawLoss(num_classes=3, p=0.8, q=2.0, eps=0.01, reduction='mean')"
    )


def test_batch_class_counts() -> None:
    labels = torch.tensor([[0, 2, -100], [2, 2, 1]])
    counts = batch_class_counts(torch.zeros(2, 4, 3), labels, class_dim=1)
    assert counts.dtype == torch.int64
    assert counts.tolist() == [1, 1, 3, 0]


# -- errors ------------------------------------------------------------------------------------


def _seesaw_call(**kwargs: Any) -> Callable[[], torch.Tensor]:
    arguments: dict[str, Any] = {
        "input": random_logits((4, 3)),
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


MODULE_ERRORS = [
    ({"num_classes": 0}, ValueError, r"num_classes must be >= 1; got 0"),
    ({"num_classes": -3}, ValueError, r"num_classes must be >= 1; got -3"),
    ({"num_classes": 3.0}, TypeError, r"num_classes must be an int; got float"),
    ({"num_classes": 3, "p": -1.0}, ValueError, r"p must be in \[0, inf\]; got -1.0"),
    ({"num_classes": 3, "q": -1.0}, ValueError, r"q must be in \[0, inf\]; got -1.0"),
    ({"num_classes": 3, "eps": 0.0}, ValueError, r"eps must be in \(0, 1\]; got 0.0"),
    ({"num_classes": 3, "ignore_index": None}, TypeError, r"ignore_index must be an int"),
    ({"num_classes": 3, "distributed": 1}, TypeError, r"distributed must be a bool; got int"),
    ({"num_classes": 3, "backend": "gpu"}, ValueError, r"backend must be one of"),
]


@pytest.mark.parametrize(("kwargs", "error", "message"), MODULE_ERRORS)
def test_module_errors(kwargs: dict[str, Any], error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        torchfocal.SeesawLoss(**kwargs)


def test_module_refuses_another_number_of_classes() -> None:
    check_module_refuses_another_number_of_classes("SeesawLoss", r"class_dim must be")
