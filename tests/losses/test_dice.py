"""Dice, Tversky, focal Tversky and generalized Dice (torchfocal.losses.dice).

Every backend against the NumPy float64 oracle (value and gradient), every target form,
1-3 spatial dims and none, class_dim=-1, dtypes, options, gradcheck / gradgradcheck,
gradients to soft targets and class weights, empty and all-ignored inputs, meta tensors
and every error branch.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

import torchfocal
from losses.regions import BACKENDS, TIGHT, check_against_oracle, region_inputs
from torchfocal import reference

LOSSES = ("dice_loss", "tversky_loss", "focal_tversky_loss", "generalized_dice_loss")
ACTIVATIONS = ("softmax", "sigmoid", "none")


def _options(name: str) -> list[dict[str, Any]]:
    common: list[dict[str, Any]] = [
        {},
        {"batch": True},
        {"include_background": False, "reduction": "sum"},
        {"reduction": "none"},
        {"reduction": "none", "batch": True},
        {"smooth_nr": 0.0, "smooth_dr": 1.0},
    ]
    if name == "dice_loss":
        common += [
            {"squared": True},
            {"log": True, "batch": True},
            {"weight": torch.tensor([0.5, 2.0, 1.0, 0.0], dtype=torch.float64)},
        ]
    if name == "tversky_loss":
        common += [{"alpha": 0.2, "beta": 0.9}, {"log": True, "alpha": 0.7, "beta": 0.1}]
    if name == "focal_tversky_loss":
        common += [{"gamma": 1.5}, {"gamma": 0.0}, {"gamma": 1.0, "alpha": 0.0, "beta": 1.0}]
    if name == "generalized_dice_loss":
        common += [{"weight_type": "simple"}, {"weight_type": "uniform", "batch": True}]
    return common


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("form", ["index", "dense", "mask"])
@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("name", LOSSES)
def test_matches_reference(name: str, activation: str, form: str, backend: str) -> None:
    x, target = region_inputs(activation, form)
    for options in _options(name):
        check_against_oracle(name, backend, x, target, activation=activation, **options)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    "shape", [(4, 3), (2, 3, 7), (2, 3, 4, 5), (2, 3, 3, 4, 2), (1, 2, 0, 3), (0, 3, 4)]
)
@pytest.mark.parametrize("name", LOSSES)
def test_spatial_dims_and_class_dim_last(name: str, shape: tuple[int, ...], backend: str) -> None:
    """No spatial dim to three, empty ones, and the classes last (channels-last)."""
    for class_dim in (1, -1):
        moved = list(shape)
        if class_dim == -1:
            moved.append(moved.pop(1))
        x, target = region_inputs("softmax", "index", tuple(moved), class_dim)
        check_against_oracle(name, backend, x, target, class_dim=class_dim)
        check_against_oracle(
            name, backend, x, target, class_dim=class_dim, batch=True, reduction="sum"
        )


@pytest.mark.parametrize("name", LOSSES)
def test_class_dim_last_equals_class_dim_1(name: str) -> None:
    x, target = region_inputs("softmax", "dense", (2, 3, 4, 5))
    function = getattr(torchfocal, name)
    first = function(x, target)
    last = function(x.movedim(1, -1), target.movedim(1, -1), class_dim=-1)
    torch.testing.assert_close(last, first, **TIGHT)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32])
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", LOSSES)
def test_dtypes(name: str, backend: str, dtype: torch.dtype) -> None:
    x, target = region_inputs("softmax", "index", dtype=dtype)
    leaf = x.clone().requires_grad_(True)
    value = getattr(torchfocal, name)(leaf, target, backend=backend)
    value.backward()
    assert value.dtype == dtype and leaf.grad is not None and leaf.grad.dtype == dtype
    check_against_oracle(name, backend, x, target)


@pytest.mark.parametrize("name", LOSSES)
@pytest.mark.parametrize("form", ["index", "dense"])
def test_gradcheck_and_gradgradcheck(name: str, form: str) -> None:
    """Both backends: fused backward with create_graph differentiates the naive form."""
    x, target = region_inputs("softmax", form, (2, 3, 4))
    for backend in BACKENDS:
        for options in ({}, {"batch": True}):

            def f(z: torch.Tensor, b: str = backend, o: dict[str, Any] = options) -> torch.Tensor:
                return getattr(torchfocal, name)(z, target, backend=b, **o)

            leaf = x.clone().requires_grad_(True)
            assert torch.autograd.gradcheck(f, (leaf,), fast_mode=True)
            assert torch.autograd.gradgradcheck(f, (leaf,), fast_mode=True)


@pytest.mark.parametrize("name", LOSSES)
def test_gradients_to_soft_targets(name: str) -> None:
    x, target = region_inputs("sigmoid", "dense", (2, 3, 4))
    soft = target.clone().requires_grad_(True)
    # Sudre's weights are constants of the gradient: uniform ones keep gradcheck exact.
    options = {"weight_type": "uniform"} if name == "generalized_dice_loss" else {}
    assert torch.autograd.gradcheck(
        lambda t: getattr(torchfocal, name)(x, t, activation="sigmoid", backend="fused", **options),
        (soft,),
    )


@pytest.mark.parametrize("name", ["dice_loss", "tversky_loss", "focal_tversky_loss"])
def test_gradients_to_class_weights(name: str) -> None:
    x, target = region_inputs("softmax", "index", (2, 3, 4))
    weight = torch.tensor([0.5, 1.0, 2.0], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda w: getattr(torchfocal, name)(x, target, weight=w, backend="fused"), (weight,)
    )


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", LOSSES)
def test_all_ignored_is_zero_with_zero_gradient(name: str, backend: str) -> None:
    x = torch.randn(2, 3, 4, 5, dtype=torch.float64, requires_grad=True)
    target = torch.full((2, 4, 5), -100)
    for options in ({}, {"batch": True}, {"reduction": "sum"}):
        value = getattr(torchfocal, name)(x, target, backend=backend, **options)
        (grad,) = torch.autograd.grad(value, x)
        assert value.item() == 0.0
        assert torch.equal(grad, torch.zeros_like(grad))


@pytest.mark.parametrize("name", ["dice_loss", "tversky_loss", "focal_tversky_loss"])
def test_an_ignored_sample_counts_for_nothing(name: str) -> None:
    """A sample whose locations are all ignored is neither summed nor counted."""
    x, target = region_inputs("softmax", "index", (3, 3, 4))
    target[1] = -100
    function = getattr(torchfocal, name)
    kept = function(x[[0, 2]], target[[0, 2]])
    torch.testing.assert_close(function(x, target), kept, **TIGHT)
    none = function(x, target, reduction="none")
    assert torch.equal(none[1], torch.zeros(3, dtype=torch.float64))


def test_empty_masks_without_smoothing_are_not_nan() -> None:
    """smooth_dr = 0 and a class empty in prediction and target: Dice 1, not 0/0."""
    p = torch.zeros(1, 2, 3, dtype=torch.float64)
    p[:, 0] = 1.0
    target = torch.zeros(1, 3, dtype=torch.long)
    for name in LOSSES:
        for backend in BACKENDS:
            leaf = p.clone().requires_grad_(True)
            value = getattr(torchfocal, name)(
                leaf, target, activation="none", smooth_nr=0.0, smooth_dr=0.0, backend=backend
            )
            (grad,) = torch.autograd.grad(value, leaf)
            assert value.item() == 0.0, name
            assert torch.isfinite(grad).all(), name


def test_dice_is_one_minus_the_textbook_ratio() -> None:
    """A hand-computed case: two classes, hard probabilities (activation='none')."""
    p = torch.tensor([[[1.0, 0.0, 1.0, 0.5], [0.0, 1.0, 0.0, 0.5]]], dtype=torch.float64)
    target = torch.tensor([[0, 1, 1, 0]])
    value = torchfocal.dice_loss(
        p, target, activation="none", smooth_nr=0.0, smooth_dr=0.0, reduction="none"
    )
    # class 0: I = 1 + 0.5, P = 2.5, T = 2 -> 1 - 3 / 4.5; class 1: I = 1, P = 1.5, T = 2.
    expected = torch.tensor([[1 - 3 / 4.5, 1 - 2 / 3.5]], dtype=torch.float64)
    torch.testing.assert_close(value, expected, **TIGHT)


def test_tversky_at_half_is_dice_with_doubled_smoothing() -> None:
    x, target = region_inputs("softmax", "index")
    tversky = torchfocal.tversky_loss(x, target, smooth_nr=1e-3, smooth_dr=2e-3)
    dice = torchfocal.dice_loss(x, target, smooth_nr=2e-3, smooth_dr=4e-3)
    torch.testing.assert_close(tversky, dice, **TIGHT)


def test_focal_tversky_at_gamma_1_is_tversky() -> None:
    x, target = region_inputs("sigmoid", "dense")
    torch.testing.assert_close(
        torchfocal.focal_tversky_loss(x, target, activation="sigmoid", gamma=1.0),
        torchfocal.tversky_loss(x, target, activation="sigmoid", alpha=0.3, beta=0.7),
        **TIGHT,
    )


def test_focal_tversky_perfect_match_has_finite_gradient() -> None:
    """gamma < 1 at TI = 1: the slope is taken as 0, never inf or NaN."""
    p = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]], dtype=torch.float64)
    target = torch.tensor([[0, 1]])
    for backend in BACKENDS:
        leaf = p.clone().requires_grad_(True)
        value = torchfocal.focal_tversky_loss(leaf, target, activation="none", backend=backend)
        (grad,) = torch.autograd.grad(value, leaf)
        assert value.item() == 0.0
        assert torch.isfinite(grad).all()


def test_generalized_dice_absent_class_takes_the_largest_weight() -> None:
    """Class 2 is absent from the target: its weight is that of the rarest present class,
    so the loss equals the explicit sums with that weight."""
    p = torch.softmax(torch.randn(1, 3, 6, dtype=torch.float64), dim=1)
    target = torch.tensor([[0, 0, 0, 0, 1, 1]])
    value = torchfocal.generalized_dice_loss(
        p, target, activation="none", smooth_nr=0.0, smooth_dr=0.0
    )
    t = torch.nn.functional.one_hot(target, 3).transpose(1, 2).double()
    w = torch.tensor([1 / 16, 1 / 4, 1 / 4], dtype=torch.float64)
    i, s = (p * t).sum(-1)[0], (p + t).sum(-1)[0]
    torch.testing.assert_close(value, 1 - 2 * (w * i).sum() / (w * s).sum(), **TIGHT)
    assert torch.isfinite(value)


def test_generalized_dice_with_every_class_absent_is_zero() -> None:
    x = torch.randn(2, 3, 4, dtype=torch.float64)
    mask = torch.zeros(2, 3, 4)
    for backend in BACKENDS:
        leaf = x.clone().requires_grad_(True)
        value = torchfocal.generalized_dice_loss(leaf, mask, activation="sigmoid", backend=backend)
        (grad,) = torch.autograd.grad(value, leaf)
        assert value.item() == 0.0
        assert torch.equal(grad, torch.zeros_like(grad))


@pytest.mark.parametrize("name", LOSSES)
def test_modules_equal_functions(name: str) -> None:
    module_name = {
        "dice_loss": "DiceLoss",
        "tversky_loss": "TverskyLoss",
        "focal_tversky_loss": "FocalTverskyLoss",
        "generalized_dice_loss": "GeneralizedDiceLoss",
    }[name]
    x, target = region_inputs("sigmoid", "index")
    options: dict[str, Any] = {"activation": "sigmoid", "batch": True, "include_background": False}
    module = getattr(torchfocal, module_name)(**options)
    torch.testing.assert_close(
        module(x, target), getattr(torchfocal, name)(x, target, **options), **TIGHT
    )


def test_triton_equals_naive() -> None:
    """backend="triton" (through the interpreter; tests/test_triton_regions.py has the rest)."""
    pytest.importorskip("triton")
    x, target = region_inputs("softmax", "index")
    for name in LOSSES:
        torch.testing.assert_close(
            getattr(torchfocal, name)(x, target, backend="triton"),
            getattr(torchfocal, name)(x, target, backend="naive"),
            **TIGHT,
        )


@pytest.mark.parametrize("name", LOSSES)
@pytest.mark.parametrize("backend", BACKENDS)
def test_meta_tensors(name: str, backend: str) -> None:
    x = torch.empty(2, 3, 4, 5, device="meta", requires_grad=True)
    for target in (
        torch.empty(2, 4, 5, dtype=torch.long, device="meta"),
        torch.empty(2, 3, 4, 5, device="meta"),
    ):
        for options in ({}, {"batch": True, "reduction": "sum"}):
            value = getattr(torchfocal, name)(x, target, backend=backend, **options)
            (grad,) = torch.autograd.grad(value, x)
            assert value.device.type == "meta" and grad.shape == x.shape


def test_fused_makes_no_one_hot(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fused path of index targets never calls the dense target builder."""
    from torchfocal._engine import regions

    def refuse(*args: Any) -> torch.Tensor:
        raise AssertionError("the fused path built a dense target")

    monkeypatch.setattr(regions, "dense_target", refuse)
    x, target = region_inputs("softmax", "index")
    leaf = x.clone().requires_grad_(True)
    torchfocal.dice_loss(leaf, target, backend="fused").backward()
    with pytest.raises(AssertionError, match="dense target"):
        torchfocal.dice_loss(x, target, backend="naive")


ERRORS = [
    ({"activation": "relu"}, ValueError, r"activation must be one of 'softmax' \| 'sigmoid'"),
    ({"smooth_nr": -1.0}, ValueError, r"smooth_nr must be in \[0, inf\]; got -1.0"),
    ({"smooth_dr": "a"}, TypeError, r"smooth_dr must be a float; got str"),
    ({"reduction": "positives"}, ValueError, r"reduction must be one of"),
    ({"batch": 1}, TypeError, r"batch must be a bool; got int"),
    ({"distributed": True}, ValueError, r"distributed must be False unless batch=True"),
    ({"class_dim": 0}, ValueError, r"class_dim must not be the batch dimension 0"),
    ({"class_dim": 5}, ValueError, r"class_dim must be a dimension of the input"),
    ({"backend": "cuda"}, ValueError, r"backend must be one of"),
    ({"include_background": "no"}, TypeError, r"include_background must be a bool"),
]


@pytest.mark.parametrize(("options", "error", "message"), ERRORS)
@pytest.mark.parametrize("name", LOSSES)
def test_errors(name: str, options: dict[str, Any], error: type, message: str) -> None:
    x, target = region_inputs("softmax", "index")
    with pytest.raises(error, match=message):
        getattr(torchfocal, name)(x, target, **options)


def test_input_and_target_errors() -> None:
    x, target = region_inputs("softmax", "index")
    f = torchfocal.dice_loss
    with pytest.raises(
        ValueError,
        match=r"target must have the shape of input \(3, 4, 5, 6\) "
        r"or \(3, 5, 6\) for class indices; got \(3, 5\)",
    ):
        f(x, target[..., 0])
    with pytest.raises(TypeError, match=r"target must be an integer tensor of class indices"):
        f(x, target.double())
    with pytest.raises(ValueError, match=r"target class indices must be in \[0, 3\]"):
        f(x, target.clamp(min=0) + 1)
    with pytest.raises(ValueError, match=r"target must hold values in \[0, 1\]; got"):
        f(x, torch.full_like(x, 1.5))
    with pytest.raises(ValueError, match=r"target must hold 0 or 1 when it is an integer mask"):
        f(x, torch.full(x.shape, 2))
    with pytest.raises(ValueError, match=r"input must have at least 2 classes .* softmax"):
        f(x[:, :1], target.clamp(0, 0))
    with pytest.raises(ValueError, match=r"input must hold probabilities in \[0, 1\]"):
        f(x, target, activation="none")
    with pytest.raises(ValueError, match=r"input must have a batch and a class dimension"):
        f(x[0, 0, 0], target[0, 0])
    with pytest.raises(TypeError, match=r"input must be a floating-point tensor"):
        f(target, target)
    with pytest.raises(ValueError, match=r"weight must have one value per class"):
        f(x, target, weight=torch.ones(3))
    with pytest.raises(ValueError, match=r"smooth_nr must be > 0 when log=True"):
        f(x, target, log=True, smooth_nr=0.0)
    with pytest.raises(ValueError, match=r"include_background must be True when the input"):
        f(x[:, :1], torch.zeros_like(x[:, :1]), activation="sigmoid", include_background=False)
    for name in ("tversky_loss", "focal_tversky_loss"):
        with pytest.raises(ValueError, match=r"alpha \+ beta must be > 0"):
            getattr(torchfocal, name)(x, target, alpha=0.0, beta=0.0)
        with pytest.raises(ValueError, match=r"alpha must be in \[0, inf\]"):
            getattr(torchfocal, name)(x, target, alpha=-1.0)
    with pytest.raises(ValueError, match=r"gamma must be a finite non-negative float"):
        torchfocal.focal_tversky_loss(x, target, gamma=-0.5)
    with pytest.raises(ValueError, match=r"weight_type must be one of 'square'"):
        torchfocal.generalized_dice_loss(x, target, weight_type="log")
    with pytest.raises(ValueError, match=r"alpha \+ beta must be > 0"):
        torchfocal.TverskyLoss(alpha=0.0, beta=0.0)
    with pytest.raises(ValueError, match=r"distributed must be False unless batch=True"):
        torchfocal.DiceLoss(distributed=True)


def test_sigmoid_background_index_is_no_class() -> None:
    """activation='sigmoid': index C marks a location of no class, as an all-zero mask."""
    x, target = region_inputs("sigmoid", "index")
    valid = target != -100
    mask = torch.nn.functional.one_hot(target.clamp(min=0), 5)[..., :4].movedim(-1, 1)
    # The ignored locations are left out: compare on a target with none ignored.
    target = torch.where(valid, target, 4)
    mask = torch.nn.functional.one_hot(target, 5)[..., :4].movedim(-1, 1).bool()
    torch.testing.assert_close(
        torchfocal.dice_loss(x, target, activation="sigmoid"),
        torchfocal.dice_loss(x, mask, activation="sigmoid"),
        **TIGHT,
    )


def test_reference_is_independent_of_torch() -> None:
    """The oracle runs on plain NumPy arrays and lists."""
    value, grad = reference.dice_loss([[[0.0, 1.0], [1.0, 0.0]]], np.array([[1, 0]]))
    assert np.isfinite(value) and grad.shape == (1, 2, 2)
