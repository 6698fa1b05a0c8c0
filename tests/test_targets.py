"""Target forms that are errors, tolerances that scale with the dtype, half-precision sums.

- one class (C = 1) with integer targets without the class dimension: an error that shows
  both readings' spellings, and those spellings give the intended losses;
- integer or bool one-hot targets of a softmax-form loss: an error naming the dtype and
  the conversion;
- probability rows of float16 / bfloat16 targets: accepted within their rounding;
- zero classes: a shape error for every softmax-form loss;
- half-precision inputs: every loss sums and divides in float32 or wider.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
import torch

import torchfocal
from registry_cases import case_id, for_classes, make_target, softmax_reading, takes_sigmoid_masks
from torchfocal import reference
from torchfocal._engine import reduction as _reduction
from torchfocal.registry import LOSSES, LossInfo, Sample, by_name

# --------------------------------------------------------------------------------------
# One class and integer targets without the class dimension

#: The sigmoid forms that take masks of the input's shape (every registry sample that takes
#: integer masks).
SIGMOID_CASES = [
    pytest.param(info, sample, id=case_id(info, sample))
    for info in LOSSES
    for sample in info.samples
    if takes_sigmoid_masks(sample)
]


def _call(info: LossInfo, sample: Sample, num_classes: int) -> Callable[..., torch.Tensor]:
    """The sample's call, its per-class options fitted to ``num_classes``."""
    options = for_classes(sample.options, num_classes)

    def call(x: torch.Tensor, target: torch.Tensor, **kwargs: Any) -> torch.Tensor:
        value: torch.Tensor = info.function(x, target, **{**options, **kwargs})
        return value

    return call


def _spellings(message: str) -> tuple[str, str]:
    """The two expressions the error message tells the user to pass."""
    binary = re.search(r"For binary labels pass (target\.unsqueeze\(-?\d\))", message)
    index = re.search(r"for class indices .*? pass (\(target == 0\)\.unsqueeze\(-?\d\))", message)
    assert binary is not None and index is not None, message
    return binary.group(1), index.group(1)


@pytest.mark.parametrize(("info", "sample"), SIGMOID_CASES)
@pytest.mark.parametrize("backend", ["naive", "fused"])
@pytest.mark.parametrize(
    ("shape", "class_dim", "dim"),
    [((8, 1), 1, 1), ((8, 1), -1, 1), ((2, 1, 4), 1, 1), ((3, 4, 1), -1, 2), ((1,), 0, 0)],
    ids=["N1", "N1-last", "N1d", "NdC-last", "C"],
)
def test_single_class_integer_targets_show_both_spellings(
    info: LossInfo, sample: Sample, backend: str, shape: tuple[int, ...], class_dim: int, dim: int
) -> None:
    fn = _call(info, sample, 1)
    index_shape = shape[:dim] + shape[dim + 1 :]
    labels = torch.randint(0, 2, index_shape)
    labels.view(-1)[0] = 1  # at least one positive label
    # A confident, correct binary classifier.
    x = torch.where(labels.unsqueeze(dim) == 1, 16.0, -16.0).to(torch.float64)
    with pytest.raises(ValueError, match=r"target must have the input's shape") as error:
        fn(x, labels, class_dim=class_dim, backend=backend)
    message = str(error.value)
    assert f"got a torch.int64 target of shape {tuple(index_shape)}" in message
    binary, index = _spellings(message)

    # Binary labels: confident correct predictions cost almost nothing.
    as_binary = eval(binary, {"target": labels})  # the spelling the message shows
    assert as_binary.shape == x.shape
    loss = fn(x, as_binary, class_dim=class_dim, backend=backend, reduction="sum")
    assert 0 <= loss.item() < 1e-5

    # Class indices (0 = the class, 1 = background) as the mask: the oracle's index reading.
    as_index = eval(index, {"target": labels})
    assert as_index.shape == x.shape
    if info.function is torchfocal.sigmoid_focal_loss:
        value = fn(x, as_index, class_dim=class_dim, backend=backend, reduction="none")
        expected, _ = reference.sigmoid_focal_loss(
            x.numpy(), labels.numpy(), class_dim=class_dim, reduction="none"
        )
        torch.testing.assert_close(value, torch.from_numpy(expected))
        assert value.sum() > 1.0  # every element is confidently wrong under this reading


@pytest.mark.parametrize(("info", "sample"), SIGMOID_CASES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.bool])
def test_single_class_other_targets_without_class_dim(
    info: LossInfo, sample: Sample, dtype: torch.dtype
) -> None:
    x = torch.randn(8, 1)
    target = (torch.rand(8) < 0.5).to(dtype)
    with pytest.raises(
        ValueError,
        match=r"target must have the input's shape \(8, 1\) when input has one class along "
        r"class_dim=1 \(for binary labels pass target\.unsqueeze\(1\)\); got a "
        + re.escape(str(dtype)),
    ):
        _call(info, sample, 1)(x, target)


# --------------------------------------------------------------------------------------
# Integer and bool one-hot targets of the softmax-form losses

#: The softmax forms that take probability rows (every registry sample that does).
SOFTMAX_CASES = [
    pytest.param(info, sample, id=case_id(info, sample))
    for info in LOSSES
    for sample in info.samples
    if "probabilities" in sample.forms
]


@pytest.mark.parametrize(("info", "sample"), SOFTMAX_CASES)
@pytest.mark.parametrize("dtype", [torch.int64, torch.int32, torch.uint8, torch.bool])
@pytest.mark.parametrize(("shape", "class_dim"), [((16, 5), 1), ((2, 3, 5), -1)])
def test_softmax_one_hot_target_names_dtype_and_conversion(
    info: LossInfo, sample: Sample, dtype: torch.dtype, shape: tuple[int, ...], class_dim: int
) -> None:
    dim = class_dim % len(shape)
    fn = _call(info, sample, shape[dim])
    x = torch.randn(shape)
    index = torch.randint(0, shape[dim], shape[:dim] + shape[dim + 1 :])
    one_hot = torch.nn.functional.one_hot(index, shape[dim]).movedim(-1, dim).to(dtype)
    convert = r"\.long\(\)" if dtype == torch.bool else ""
    with pytest.raises(
        TypeError,
        match=rf"target must be a float tensor of class probabilities when it has the input's "
        rf"shape {re.escape(str(shape))} \(for a one-hot target pass "
        rf"target{convert}\.argmax\(dim={dim}\) as class indices, or target\.float\(\) as "
        rf"probabilities\); got {re.escape(str(dtype))}",
    ):
        fn(x, one_hot, class_dim=class_dim)
    # Both conversions the message names give the index target's loss.
    expected = fn(x, index, class_dim=class_dim)
    torch.testing.assert_close(fn(x, one_hot.long().argmax(dim=dim), class_dim=class_dim), expected)
    torch.testing.assert_close(fn(x, one_hot.float(), class_dim=class_dim), expected)


@pytest.mark.parametrize("dtype", [torch.int64, torch.bool, torch.float32])
def test_class_balanced_one_hot_target_names_conversion(dtype: torch.dtype) -> None:
    x = torch.randn(16, 5)
    index = torch.randint(0, 5, (16,))
    one_hot = torch.nn.functional.one_hot(index, 5).to(dtype)
    weights = torch.rand(5) + 0.5
    with pytest.raises(
        ValueError,
        match=r"target must be integer class indices of shape \(16,\); got "
        + re.escape(str(dtype))
        + r" of shape \(16, 5\) \(for a one-hot or probability target pass "
        + (r"target\.long\(\)" if dtype == torch.bool else "target")
        + r"\.argmax\(dim=1\)\)",
    ):
        torchfocal.class_balanced_loss(x, one_hot, weight=weights)
    torch.testing.assert_close(
        torchfocal.class_balanced_loss(x, one_hot.long().argmax(dim=1), weight=weights),
        torchfocal.class_balanced_loss(x, index, weight=weights),
    )


def test_class_balanced_float_labels_are_a_type_error() -> None:
    with pytest.raises(
        TypeError,
        match=r"target must be an integer tensor of class indices \(for labels held as floats "
        r"pass target\.long\(\)\); got torch.float32",
    ):
        torchfocal.class_balanced_loss(
            torch.randn(4, 3), torch.tensor([0.0, 1.0, 2.0, 1.0]), weight=torch.ones(3)
        )


# --------------------------------------------------------------------------------------
# Probability rows: the tolerance of the target's dtype


@pytest.mark.parametrize(("info", "sample"), SOFTMAX_CASES)
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
@pytest.mark.parametrize("num_classes", [2, 10, 100, 1000])
def test_softmax_rows_of_the_target_dtype_pass_and_bad_rows_fail(
    info: LossInfo, sample: Sample, dtype: torch.dtype, num_classes: int
) -> None:
    fn = _call(info, sample, num_classes)
    x = torch.randn(64, num_classes)
    logits = torch.randn(64, num_classes) * 3
    logits[:8] *= 10  # peaked rows: many probabilities underflow in float16
    target = torch.softmax(logits.to(dtype), dim=1)
    loss = fn(x, target)  # accepted
    assert torch.isfinite(loss)
    if (
        info.function is torchfocal.softmax_focal_loss
    ):  # F.cross_entropy takes the same rows unchecked
        expected = torch.nn.functional.cross_entropy(x, target.float())
        torch.testing.assert_close(fn(x, target, gamma=0.0), expected)
    # A row summing to 1.1 is clearly not a distribution, in every dtype and for every C.
    bad = target.clone()
    bad[20] = torch.full((num_classes,), 1.1 / num_classes, dtype=torch.float64).to(dtype)
    with pytest.raises(ValueError, match=r"target probabilities must sum to 1 over class_dim=1"):
        fn(x, bad)


def test_probability_sum_tolerance_scales_with_the_dtype() -> None:
    """Coarser dtypes get more room; float32 and float64 keep the fixed 1e-3."""
    from torchfocal.functional import PROBABILITY_SUM_TOLERANCE, probability_sum_tolerance

    assert probability_sum_tolerance(torch.float64, 1000) == PROBABILITY_SUM_TOLERANCE
    assert probability_sum_tolerance(torch.float32, 10**6) == PROBABILITY_SUM_TOLERANCE
    fp16, bf16 = (probability_sum_tolerance(d, 1000) for d in (torch.float16, torch.bfloat16))
    assert PROBABILITY_SUM_TOLERANCE < fp16 < bf16 < 0.05
    # The unit roundoff of bfloat16 (the rounding of one softmax output) lies inside.
    assert bf16 > torch.finfo(torch.bfloat16).eps / 2
    with pytest.raises(
        ValueError,
        match=r"target probabilities must sum to 1 over class_dim=1 \(within 0\.031 for "
        r"torch\.bfloat16\); got a sum of 1\.04883",
    ):
        torchfocal.softmax_focal_loss(torch.randn(2, 3), torch.full((2, 3), 0.35).bfloat16())


# --------------------------------------------------------------------------------------
# Zero classes


#: Every registry sample that reads class indices through a softmax.
ZERO_CLASS_CASES = [
    pytest.param(info, sample, id=case_id(info, sample))
    for info in LOSSES
    for sample in info.samples
    if softmax_reading(info, sample)
]


@pytest.mark.parametrize(("info", "sample"), ZERO_CLASS_CASES)
@pytest.mark.parametrize(
    ("shape", "target"),
    [
        ((4, 0), torch.zeros(4, dtype=torch.long)),
        ((4, 0), torch.full((4,), -100)),
        ((4, 0), torch.zeros(4, 0)),
        ((0, 0), torch.zeros(0, dtype=torch.long)),
        ((2, 0, 3), torch.full((2, 3), -100)),
    ],
    ids=["index", "ignored", "probabilities", "empty", "spatial"],
)
@pytest.mark.parametrize("backend", ["naive", "fused"])
def test_zero_classes_is_a_shape_error(
    info: LossInfo, sample: Sample, shape: tuple[int, ...], target: torch.Tensor, backend: str
) -> None:
    with pytest.raises(
        ValueError,
        match=r"input must have at least one class along class_dim=1; got shape "
        + re.escape(str(shape)),
    ):
        _call(info, sample, 0)(torch.randn(shape), target, backend=backend)


# --------------------------------------------------------------------------------------
# Half precision: sums and means in float32 or wider

#: Logits of scale 32 give losses of several units per location (the sigmoid focal loss's on
#: soft targets, the smallest, about 3 per element): N x C of them sum past float16's 65504
#: (the mean test checks that they do, in float32, for every case).
N, C = 10000, 3


def _half_target(form: str, ignore: bool = True) -> torch.Tensor:
    """A float32 target of ``form`` for the (N, C) input; class indices with every seventh
    location ignored where the loss has ``ignore_index``."""
    target = make_target(
        form, (N, C), generator=torch.Generator().manual_seed(0), dtype=torch.float32
    )
    if form == "index" and ignore:
        target[::7] = -100
    return target


def _half_params() -> list[Any]:
    """Every non-region registry sample in each target form it takes, on the naive and
    fused backends; and on the compiled one in its first form and in probability rows, a
    program of their own (compiling is the slow part of the suite; the other forms reach
    the same compiled reduction)."""
    params = []
    for info in LOSSES:
        if info.form == "region":
            continue
        for sample in info.samples:
            for form in sample.forms:
                backends = ["naive", "fused"] + (
                    ["compiled"] if form in (sample.forms[0], "probabilities") else []
                )
                params += [
                    pytest.param(
                        info, sample, form, backend, id=case_id(info, sample, form, backend)
                    )
                    for backend in backends
                ]
    return params


_X = torch.randn(N, C, generator=torch.Generator().manual_seed(1)) * 32


def _check_half(
    fn: Callable[..., torch.Tensor],
    target: torch.Tensor,
    backend: str,
    dtype: torch.dtype,
    reduction: str,
) -> None:
    half = _X.to(dtype)
    value = fn(half, target, reduction=reduction, backend=backend)
    # The same rounded inputs, computed and reduced in float32, then rounded once.
    full = fn(half.float(), target, reduction=reduction, backend=backend)
    assert value.dtype == dtype
    if reduction == "mean":
        # A sum taken in float16 would be inf, and so would the mean.
        total = fn(half.float(), target, reduction="sum", backend=backend)
        assert total.item() > torch.finfo(torch.float16).max
        assert torch.isfinite(value)
    # Values stay in the input's dtype; only the final result is rounded to it.
    torch.testing.assert_close(value, full.to(dtype), rtol=0, atol=0)


@pytest.mark.parametrize(("info", "sample", "form", "backend"), _half_params())
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_half_inputs_reduce_in_float32(
    info: LossInfo, sample: Sample, form: str, backend: str, dtype: torch.dtype, reduction: str
) -> None:
    target = _half_target(form, ignore=info.takes("ignore_index"))
    _check_half(_call(info, sample, C), target, backend, dtype, reduction)


@pytest.mark.parametrize("info", [by_name("class_balanced_loss")], ids=["class_balanced_loss"])
@pytest.mark.parametrize("form", ["sigmoid", "softmax"])
@pytest.mark.parametrize("backend", ["naive", "fused", "compiled"])
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_class_balanced_forms_half_inputs_reduce_in_float32(
    info: LossInfo, form: str, backend: str, dtype: torch.dtype, reduction: str
) -> None:
    """The class-balanced loss's other forms (its registry sample is the default, "focal")."""
    call = _call(info, info.samples[0], C)

    def loss(x: torch.Tensor, target: torch.Tensor, **kwargs: Any) -> torch.Tensor:
        return call(x, target, loss=form, **kwargs)

    _check_half(loss, _half_target("index"), backend, dtype, reduction)


def test_reduce_accumulates_half_losses_in_float64() -> None:
    """The shared reduction itself: a float16 loss is summed and divided in float64 (as the
    fused kernels do; a device without float64 uses float32)."""
    loss = torch.full((N, C), 5.0, dtype=torch.float16)
    mean = _reduction.reduce(loss, float(loss.numel()))
    assert mean.dtype == torch.float64 and mean.item() == 5.0
    assert _reduction.reduce(loss.bfloat16(), 1.0).item() == 5.0 * N * C
    assert _reduction.reduce(loss, None) is loss
