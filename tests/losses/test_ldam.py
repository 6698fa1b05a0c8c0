"""LDAM (label-distribution-aware margins, Cao et al.) and its deferred re-weighting.

Held against the NumPy reference (loss and gradient), against a re-computation from the
paper's formula in plain torch, against F.cross_entropy where it reduces to it, across
backends and dtypes, through gradcheck, and through every error branch.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch
import torch.nn.functional as F

import torchfocal
from conftest import check_against_reference, run_loss, tolerance
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
    random_logits,
    value_and_grad,
)
from torchfocal import reference

LOSS = "ldam_loss"

# -- against the NumPy reference -------------------------------------------------------------


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
        index_target(),
        torch.randn(6, dtype=torch.float64) if reduction == "none" else None,
        class_counts=torch.tensor(COUNTS, dtype=torch.float64),
        max_margin=max_margin,
        scale=scale,
        weight=class_weights() if weight else None,
        reduction=reduction,
    )


@pytest.mark.parametrize("backend", BACKENDS)
def test_spatial_inputs_and_class_dim_match_reference(backend: str) -> None:
    check_spatial_inputs_and_class_dim(LOSS, backend)


def test_reference_mean_divides_by_the_counted_weight() -> None:
    """The oracle's "mean" divides the sum by the summed class weights of counted targets."""
    x, target = random_logits(), index_target()
    weight = class_weights()
    total, _ = reference.ldam_loss(
        x.numpy(), target.numpy(), class_counts=COUNTS, weight=weight.numpy(), reduction="sum"
    )
    mean, _ = reference.ldam_loss(
        x.numpy(), target.numpy(), class_counts=COUNTS, weight=weight.numpy()
    )
    counted = weight[target[target != -100]].sum().item()
    assert mean == pytest.approx(total / counted, rel=1e-14)


# -- against the paper's formula in plain torch ----------------------------------------------


@pytest.mark.parametrize(("max_margin", "scale"), [(0.5, 30.0), (0.2, 5.0)])
def test_ldam_is_cao_et_als_formula(max_margin: float, scale: float) -> None:
    """The authors' form: m = n^(-1/4) scaled to max_margin, the target logit less m_y
    (torch.where on the one-hot), times s, then F.cross_entropy with the class weight."""
    x, target = torch.rand(7, C, dtype=torch.float64) * 2 - 1, index_target((7,), ignored=False)
    weight = class_weights()
    m_list = 1.0 / torch.tensor(COUNTS, dtype=torch.float64).sqrt().sqrt()
    m_list = m_list * (max_margin / m_list.max())

    def by_hand(x: torch.Tensor) -> torch.Tensor:
        one_hot = F.one_hot(target, C).bool()
        output = torch.where(one_hot, x - m_list[target][:, None], x)
        return F.cross_entropy(scale * output, target, weight=weight)

    expected = value_and_grad(by_hand, x)
    for backend in BACKENDS:
        got = value_and_grad(
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
    x = random_logits()
    target = index_target()  # location 1 ignored
    value, grad = run_loss("ldam_loss", "fused", x, target, class_counts=COUNTS, reduction="none")
    assert value[1] == 0 and bool((grad[1] == 0).all())
    # the other locations are what they are without the ignored one
    keep = torch.arange(6) != 1
    alone, _ = run_loss(
        "ldam_loss", "fused", x[keep], target[keep], class_counts=COUNTS, reduction="none"
    )
    torch.testing.assert_close(value[keep], alone, **TIGHT)


def test_ldam_margins_are_the_losss_margins() -> None:
    """The loss subtracts exactly ldam_margins from the target logit."""
    x, target = random_logits(), index_target(ignored=False)
    margins = torchfocal.ldam_margins(COUNTS, max_margin=0.3).double()
    shifted = x - F.one_hot(target, C) * margins[target][:, None]
    torch.testing.assert_close(
        torchfocal.ldam_loss(x, target, class_counts=COUNTS, max_margin=0.3, scale=7.0),
        F.cross_entropy(7.0 * shifted, target),
        rtol=1e-7,  # the margins above are rounded to float32
        atol=0,
    )


def test_ldam_margins_of_extreme_counts() -> None:
    """Only ratios count, taken in logs: counts far beyond float32, subnormal ones too."""
    counts = [1e300, 1.0, 5e-324]
    assert torchfocal.ldam_margins(counts).tolist() == [0.0, 0.0, 0.5]  # 1e-156, 1e-81
    x = torch.randn(4, 3, dtype=torch.float64)
    target = torch.tensor([0, 2, 1, 2])
    check_against_reference(LOSS, "fused", x, target, class_counts=counts, scale=2.0)


# -- reductions to F.cross_entropy -----------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_zero_margins_and_unit_scale_is_cross_entropy(
    backend: str, reduction: str, dtype: torch.dtype
) -> None:
    x, target = random_logits((5, C, 3)).to(dtype), index_target((5, 3))
    options: dict[str, Any] = {"weight": class_weights().to(dtype), "reduction": reduction}
    upstream = torch.randn(5, 3, dtype=dtype) if reduction == "none" else None
    expected = value_and_grad(lambda x: F.cross_entropy(x, target, **options), x, upstream)
    got = value_and_grad(
        lambda x: torchfocal.ldam_loss(
            x, target, class_counts=COUNTS, max_margin=0.0, scale=1.0, backend=backend, **options
        ),
        x,
        upstream,
    )
    torch.testing.assert_close(got, expected, **tolerance(dtype))


def test_ldam_scale_alone_is_cross_entropy_of_scaled_logits() -> None:
    x, target = random_logits(), index_target()
    expected = value_and_grad(lambda x: F.cross_entropy(4.0 * x, target), x)
    got = value_and_grad(
        lambda x: torchfocal.ldam_loss(x, target, class_counts=COUNTS, max_margin=0.0, scale=4.0),
        x,
    )
    torch.testing.assert_close(got, expected, **TIGHT)


# -- backends, modules -----------------------------------------------------------------------


def test_compiled_and_triton_backends_equal_naive() -> None:
    check_compiled_and_triton_backends_equal_naive(LOSS)


def test_module_equals_function_and_keeps_its_buffers() -> None:
    module = torchfocal.LDAMLoss(COUNTS, weight=class_weights(), reduction="sum")
    buffers = {"class_counts": torch.tensor(COUNTS), "weight": class_weights()}
    check_module_equals_function_and_keeps_its_buffers(LOSS, module, buffers)


def test_module_repr() -> None:
    assert repr(torchfocal.LDAMLoss(COUNTS, backend="naive")) == (
        "LDAMLoss(max_margin=0.5, scale=30.0, reduction='mean', backend='naive', classes=4)"
    )


def test_ldam_module_weight_follows_the_drw_schedule() -> None:
    """LDAM-DRW: the weight buffer reassigned per epoch, as F.cross_entropy's weight."""
    x, target = torch.rand(6, C, dtype=torch.float64), index_target()
    criterion = torchfocal.LDAMLoss(COUNTS).double()
    for epoch in (0, 9, 10, 11):
        weight = torchfocal.deferred_reweighting(COUNTS, epoch, start_epoch=10, beta=0.999)
        criterion.weight = weight.double()
        expected = torchfocal.ldam_loss(x, target, class_counts=COUNTS, weight=weight.double())
        torch.testing.assert_close(criterion(x, target), expected, **TIGHT)
        assert "weight" in criterion.state_dict()


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


# -- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "error", "message"), BAD_STATISTICS)
def test_bad_class_statistics(value: Any, error: type, message: str) -> None:
    check_bad_class_statistics(LOSS, value, error, message)


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
        call_loss("ldam_loss", **options)


def test_ldam_bad_targets() -> None:
    x = random_logits()
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
        torchfocal.ldam_loss(x.long(), index_target(), class_counts=COUNTS)


def test_ldam_module_errors() -> None:
    with pytest.raises(ValueError, match=r"^class_counts must be finite and > 0 for every class"):
        torchfocal.LDAMLoss([1.0, -2.0])
    with pytest.raises(ValueError, match=r"^max_margin must be in \[0, inf\]"):
        torchfocal.LDAMLoss(COUNTS, max_margin=-0.5)
    with pytest.raises(ValueError, match=r"^scale must be a finite number > 0"):
        torchfocal.LDAMLoss(COUNTS, scale=0.0)
