"""Derandomised property-based fuzzing of the losses against the NumPy reference."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import torchfocal
from registry_cases import float_cases, for_classes, make_target, takes_a_schedule
from torchfocal import reference
from torchfocal.registry import LOSSES, by_name

FUZZ = settings(
    derandomize=True,
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@st.composite
def sigmoid_cases(draw: st.DrawFn) -> dict[str, Any]:
    ndim = draw(st.integers(1, 4))
    shape = tuple(draw(st.lists(st.integers(0, 4), min_size=ndim, max_size=ndim)))
    class_dim = draw(st.integers(-ndim, ndim - 1)) if ndim >= 2 else 0
    num_classes = shape[class_dim]
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    scale = draw(st.sampled_from([0.5, 3.0, 30.0, 1e4]))
    x = rng.normal(size=shape) * scale
    form = draw(st.sampled_from(["soft", "bool", "index"]))
    if form == "index" and num_classes == 1:
        form = "bool"  # with one class an index target is ambiguous, an error (test_targets)
    if form == "soft":
        target: Any = rng.random(shape)
    elif form == "bool":
        target = rng.random(shape) < 0.3
    else:
        index_shape = shape[: class_dim % ndim] + shape[class_dim % ndim + 1 :]
        target = rng.integers(0, num_classes + 1, size=index_shape)
        target[rng.random(index_shape) < 0.2] = -100
    options: dict[str, Any] = {
        "gamma": draw(st.sampled_from([0.0, 0.25, 0.5, 1.0, 2.0, 3.5, 10.0])),
        "reduction": draw(st.sampled_from(["none", "mean", "sum", "positives"])),
        "label_smoothing": draw(st.sampled_from([0.0, 0.0, 0.1])),
        "class_dim": class_dim,
    }
    alpha_kind = draw(st.sampled_from(["none", "scalar", "per_class"]))
    options["alpha"] = {
        "none": None,
        "scalar": draw(st.floats(0, 1)),
        "per_class": rng.random(num_classes),
    }[alpha_kind]
    if draw(st.booleans()):
        options["pos_weight"] = rng.random(num_classes) * 3
    if draw(st.booleans()):
        options["weight"] = rng.random(shape)
    dtype = draw(st.sampled_from([torch.float32, torch.float64]))
    backend = draw(st.sampled_from(["naive", "fused"]))
    return {"x": x, "target": target, "options": options, "dtype": dtype, "backend": backend}


@FUZZ
@given(sigmoid_cases())
def test_sigmoid_fuzz_against_reference(case: dict[str, Any]) -> None:
    dtype = case["dtype"]
    x = torch.tensor(case["x"], dtype=dtype, requires_grad=True)
    target = torch.as_tensor(case["target"])
    if target.is_floating_point():
        target = target.to(dtype)
    options = {
        k: torch.as_tensor(v, dtype=dtype) if isinstance(v, np.ndarray) else v
        for k, v in case["options"].items()
    }
    loss = torchfocal.sigmoid_focal_loss(x, target, backend=case["backend"], **options)
    loss.backward(torch.ones_like(loss))
    assert x.grad is not None
    # The oracle sees exactly the rounded values the torch call saw.
    ref_loss, ref_grad = reference.sigmoid_focal_loss(
        x.detach().double().numpy(),
        target.double().numpy() if target.is_floating_point() else target.numpy(),
        **{
            k: (v.double().numpy() if isinstance(v, torch.Tensor) else v)
            for k, v in options.items()
        },
    )
    assert torch.isfinite(loss).all() and torch.isfinite(x.grad).all()
    tol = {"rtol": 1e-9, "atol": 1e-10} if dtype == torch.float64 else {"rtol": 2e-4, "atol": 2e-5}
    torch.testing.assert_close(loss.double(), torch.from_numpy(np.asarray(ref_loss)), **tol)
    torch.testing.assert_close(x.grad.double(), torch.from_numpy(ref_grad), **tol)


#: Every registered loss held to an oracle, in each of its samples (the region losses have
#: their modules' tests in tests/losses/).
FAMILY = [
    (info, sample)
    for info in LOSSES
    if info.form != "region" and info.reference_function is not None
    for sample in info.samples
]


@st.composite
def family_cases(draw: st.DrawFn) -> dict[str, Any]:
    """A registered loss on a (N, C) input, in one of its sample's target forms, with one of
    its option variants and focusing values, a reduction and a backend."""
    seed = draw(st.integers(0, 2**16))
    info, sample = draw(st.sampled_from(FAMILY))
    shape = (draw(st.integers(0, 5)), draw(st.integers(2, 6)))
    # logits of 1e4 only where the loss is held to its oracle there (LossInfo.extremes)
    scales = [0.5, 3.0, 30.0] + ([] if info.extremes else [1e4])
    x = np.random.default_rng(seed).normal(size=shape) * draw(st.sampled_from(scales))
    form = draw(st.sampled_from(sample.forms))
    target = make_target(form, shape, generator=torch.Generator().manual_seed(seed))
    options = dict(sample.options)
    options.update(draw(st.sampled_from(list(info.variants) or [{}])))
    if info.focusing:
        # a sample-dependent schedule too, where gamma takes one ("flsd53")
        schedule = ["flsd53"] if takes_a_schedule(info) else []
        value = draw(st.sampled_from([*info.focusing_values, *schedule]))
        options.update({name: value for name in info.focusing if name not in options})
    return {
        "function": info.name,
        "x": x,
        "target": target.numpy(),
        "options": {
            **for_classes(options, shape[1]),
            "reduction": draw(st.sampled_from([r for r in sample.reductions if r != "positives"])),
        },
        "dtype": draw(st.sampled_from([torch.float32, torch.float64])),
        "backend": draw(st.sampled_from(["naive", "fused"])),
    }


@FUZZ
@given(family_cases())
def test_family_fuzz_against_reference(case: dict[str, Any]) -> None:
    dtype = case["dtype"]
    x = torch.tensor(case["x"], dtype=dtype, requires_grad=True)
    target = torch.as_tensor(case["target"])
    if target.is_floating_point():
        target = target.to(dtype)
    options = {
        k: v.to(dtype) if isinstance(v, torch.Tensor) and v.is_floating_point() else v
        for k, v in case["options"].items()
    }
    info = by_name(case["function"])
    loss = info.function(x, target, backend=case["backend"], **options)
    loss.backward(torch.ones_like(loss))
    assert x.grad is not None
    ref_loss, ref_grad = info.reference_function(
        x.detach().double().numpy(),
        target.double().numpy() if target.is_floating_point() else target.numpy(),
        **{
            k: v.double().numpy()
            if isinstance(v, torch.Tensor) and v.is_floating_point()
            else (v.numpy() if isinstance(v, torch.Tensor) else v)
            for k, v in case["options"].items()
        },
    )
    assert torch.isfinite(loss).all() and torch.isfinite(x.grad).all()
    tol = {"rtol": 1e-9, "atol": 1e-10} if dtype == torch.float64 else {"rtol": 2e-4, "atol": 2e-5}
    torch.testing.assert_close(loss.double(), torch.from_numpy(np.asarray(ref_loss)), **tol)
    torch.testing.assert_close(x.grad.double(), torch.from_numpy(ref_grad), **tol)


# Second derivatives and gradients to targets ----------------------------------------------
# No oracle has these, so each is held against central differences of the library's own
# first derivatives in float64 (the fused backend's first derivative is its analytic one,
# computed independently of the autograd graph that gives the second).

STEP = 1e-6


def _case_call(case: dict[str, Any]) -> tuple[Any, torch.Tensor, torch.Tensor, dict[str, Any]]:
    """The function, float64 input and target, and options (tensors in float64)."""
    function = getattr(torchfocal, case.get("function", "sigmoid_focal_loss"))
    x = torch.tensor(case["x"], dtype=torch.float64)
    target = torch.as_tensor(case["target"])
    if target.is_floating_point():
        target = target.double()
    options = {
        k: torch.as_tensor(v, dtype=torch.float64) if isinstance(v, np.ndarray) else v
        for k, v in case["options"].items()
    }
    return function, x, target, {**options, "backend": case["backend"]}


def _input_gradient(function: Any, x: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
    """dloss/dx with its graph (x must be a tensor that requires grad)."""
    loss = function(x, *args, **kwargs)
    (grad,) = torch.autograd.grad(loss, x, torch.ones_like(loss), create_graph=True)
    return grad


@FUZZ
@given(st.one_of(sigmoid_cases(), family_cases()))
def test_second_derivatives_fuzz(case: dict[str, Any]) -> None:
    """H v by double backward equals the central difference of the gradient along v."""
    function, x, target, options = _case_call(case)
    direction = torch.randn_like(x)
    x = x.requires_grad_()
    grad = _input_gradient(function, x, target, **options)
    if x.numel() == 0:  # autograd builds no graph for an empty gradient: nothing to differentiate
        assert grad.shape == x.shape
        return
    (hessian_vector,) = torch.autograd.grad((grad * direction).sum(), x)
    plus, minus = (
        _input_gradient(
            function, (x + sign * STEP * direction).detach().requires_grad_(), target, **options
        )
        for sign in (1, -1)
    )
    expected = (plus - minus).detach() / (2 * STEP)
    assert torch.isfinite(hessian_vector).all()
    scale = float(expected.abs().max()) if expected.numel() else 0.0
    torch.testing.assert_close(hessian_vector, expected, rtol=1e-4, atol=1e-6 * (1 + scale))


#: Every registered loss and sample in each float target form it differentiates, with each
#: of its gradient variants (tests/registry_cases.py).
SOFT_TARGET = [case for case in float_cases() if case.target_grad]


@st.composite
def soft_target_cases(draw: st.DrawFn) -> dict[str, Any]:
    """A loss with a differentiable target (soft sigmoid targets, scores, probabilities,
    continuous DFL labels), from the registry; with a direction that keeps the target
    valid."""
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    case = draw(st.sampled_from(SOFT_TARGET))
    shape = (draw(st.integers(1, 5)), draw(st.integers(2, 6)))
    x = rng.normal(size=shape) * draw(st.sampled_from([0.5, 3.0, 30.0]))
    target = make_target(case.form, shape, generator=torch.Generator().manual_seed(seed))
    if case.form == "soft":  # exact 0s too, differentiated one-sidedly
        target = target * torch.from_numpy(rng.random(shape) < 0.8)
    if case.form == "label":  # inside [0, C - 1], away from its ends
        target = 0.05 * (shape[1] - 1) + 0.9 * target
    target_np = target.numpy()
    direction = rng.normal(size=target_np.shape)
    if case.sample.negative_at_zero:
        direction = direction * (target_np > 0)  # a score of 0 is a negative: no derivative
    else:
        # A target of exactly 0 is differentiated too, along a direction into [0, 1].
        direction = np.where(target_np == 0, np.abs(direction), direction)
    if case.form == "probabilities":
        direction = direction - direction.mean(axis=1, keepdims=True)  # rows keep summing to 1
    options = {
        k: v.numpy() if isinstance(v, torch.Tensor) and v.is_floating_point() else v
        for k, v in for_classes(case.options, shape[1]).items()
    }
    return {
        "function": case.info.name,
        "x": x,
        "target": target_np,
        "direction": direction,
        "options": {**options, "reduction": draw(st.sampled_from(["none", "mean", "sum"]))},
        "backend": draw(st.sampled_from(["naive", "fused"])),
    }


@FUZZ
@given(soft_target_cases())
def test_target_gradient_fuzz(case: dict[str, Any]) -> None:
    """dloss/dtarget along a direction equals a one-sided difference of the loss (second
    order, so that targets of exactly 0 are differentiated too)."""
    function, x, target, options = _case_call(case)
    direction = torch.as_tensor(case["direction"], dtype=torch.float64)
    target = target.requires_grad_()
    loss = function(x, target, **options)
    upstream = torch.randn_like(loss)
    (grad,) = torch.autograd.grad(loss, target, upstream)
    with torch.no_grad():
        values = [
            (function(x, target + k * STEP * direction, **options) * upstream).sum()
            for k in (0, 1, 2)
        ]
    expected = (-3 * values[0] + 4 * values[1] - values[2]) / (2 * STEP)
    assert torch.isfinite(grad).all()
    torch.testing.assert_close(
        (grad * direction).sum(), expected, rtol=1e-5, atol=1e-7 * (1 + float(expected.abs()))
    )
