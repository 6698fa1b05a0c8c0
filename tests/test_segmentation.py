"""Region (segmentation) losses: Dice, Tversky, focal Tversky, generalized Dice.

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
from conftest import tolerance
from torchfocal import reference

BACKENDS = ("naive", "fused")
LOSSES = ("dice_loss", "tversky_loss", "focal_tversky_loss", "generalized_dice_loss")
ACTIVATIONS = ("softmax", "sigmoid", "none")
TIGHT = tolerance(torch.float64)


def _inputs(
    activation: str,
    form: str,
    shape: tuple[int, ...] = (3, 4, 5, 6),
    class_dim: int = 1,
    dtype: torch.dtype = torch.float64,
) -> tuple[torch.Tensor, torch.Tensor]:
    """An input of ``shape`` (classes along ``class_dim``) and a target of ``form``:
    "index" (some ignored), "dense" (soft masks), "mask" (bool)."""
    x = torch.randn(shape, dtype=torch.float64) * 2
    if activation == "none":
        x = torch.rand(shape, dtype=torch.float64)
    dim = class_dim % len(shape)
    classes = shape[dim]
    index_shape = shape[:dim] + shape[dim + 1 :]
    if form == "index":
        high = classes + (1 if activation == "sigmoid" else 0)
        target = torch.randint(0, high, index_shape)
        flat = target.view(-1)
        flat[:: max(len(flat) // 3, 1)] = -100
    elif form == "dense":
        target = torch.rand(shape, dtype=torch.float64)
    else:
        target = torch.rand(shape) > 0.6
    return x.to(dtype), target


def _check(name: str, backend: str, x: torch.Tensor, target: torch.Tensor, **kwargs: Any) -> None:
    leaf = x.detach().clone().requires_grad_(True)
    value = getattr(torchfocal, name)(leaf, target, backend=backend, **kwargs)
    upstream = torch.rand_like(value) + 0.5 if value.dim() else torch.tensor(1.7, dtype=x.dtype)
    value.backward(upstream)
    ref_kwargs = {k: (a.numpy() if isinstance(a, torch.Tensor) else a) for k, a in kwargs.items()}
    ref_value, ref_grad = getattr(reference, name)(
        x.detach().double().numpy(),
        target.numpy(),
        grad_output=upstream.double().numpy(),
        **ref_kwargs,
    )
    tol = tolerance(x.dtype)
    assert leaf.grad is not None
    torch.testing.assert_close(value, torch.as_tensor(ref_value, dtype=x.dtype), **tol)
    torch.testing.assert_close(leaf.grad, torch.as_tensor(ref_grad, dtype=x.dtype), **tol)


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
    x, target = _inputs(activation, form)
    for options in _options(name):
        _check(name, backend, x, target, activation=activation, **options)


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
        x, target = _inputs("softmax", "index", tuple(moved), class_dim)
        _check(name, backend, x, target, class_dim=class_dim)
        _check(name, backend, x, target, class_dim=class_dim, batch=True, reduction="sum")


@pytest.mark.parametrize("name", LOSSES)
def test_class_dim_last_equals_class_dim_1(name: str) -> None:
    x, target = _inputs("softmax", "dense", (2, 3, 4, 5))
    function = getattr(torchfocal, name)
    first = function(x, target)
    last = function(x.movedim(1, -1), target.movedim(1, -1), class_dim=-1)
    torch.testing.assert_close(last, first, **TIGHT)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32])
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", LOSSES)
def test_dtypes(name: str, backend: str, dtype: torch.dtype) -> None:
    x, target = _inputs("softmax", "index", dtype=dtype)
    leaf = x.clone().requires_grad_(True)
    value = getattr(torchfocal, name)(leaf, target, backend=backend)
    value.backward()
    assert value.dtype == dtype and leaf.grad is not None and leaf.grad.dtype == dtype
    _check(name, backend, x, target)


@pytest.mark.parametrize("name", LOSSES)
@pytest.mark.parametrize("form", ["index", "dense"])
def test_gradcheck_and_gradgradcheck(name: str, form: str) -> None:
    """Both backends: fused backward with create_graph differentiates the naive form."""
    x, target = _inputs("softmax", form, (2, 3, 4))
    for backend in BACKENDS:
        for options in ({}, {"batch": True}):

            def f(z: torch.Tensor, b: str = backend, o: dict[str, Any] = options) -> torch.Tensor:
                return getattr(torchfocal, name)(z, target, backend=b, **o)

            leaf = x.clone().requires_grad_(True)
            assert torch.autograd.gradcheck(f, (leaf,), fast_mode=True)
            assert torch.autograd.gradgradcheck(f, (leaf,), fast_mode=True)


@pytest.mark.parametrize("name", LOSSES)
def test_gradients_to_soft_targets(name: str) -> None:
    x, target = _inputs("sigmoid", "dense", (2, 3, 4))
    soft = target.clone().requires_grad_(True)
    # Sudre's weights are constants of the gradient: uniform ones keep gradcheck exact.
    options = {"weight_type": "uniform"} if name == "generalized_dice_loss" else {}
    assert torch.autograd.gradcheck(
        lambda t: getattr(torchfocal, name)(x, t, activation="sigmoid", backend="fused", **options),
        (soft,),
    )


@pytest.mark.parametrize("name", ["dice_loss", "tversky_loss", "focal_tversky_loss"])
def test_gradients_to_class_weights(name: str) -> None:
    x, target = _inputs("softmax", "index", (2, 3, 4))
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
    x, target = _inputs("softmax", "index", (3, 3, 4))
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
    x, target = _inputs("softmax", "index")
    tversky = torchfocal.tversky_loss(x, target, smooth_nr=1e-3, smooth_dr=2e-3)
    dice = torchfocal.dice_loss(x, target, smooth_nr=2e-3, smooth_dr=4e-3)
    torch.testing.assert_close(tversky, dice, **TIGHT)


def test_focal_tversky_at_gamma_1_is_tversky() -> None:
    x, target = _inputs("sigmoid", "dense")
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
    x, target = _inputs("sigmoid", "index")
    options: dict[str, Any] = {"activation": "sigmoid", "batch": True, "include_background": False}
    module = getattr(torchfocal, module_name)(**options)
    torch.testing.assert_close(
        module(x, target), getattr(torchfocal, name)(x, target, **options), **TIGHT
    )


def test_triton_equals_naive() -> None:
    """backend="triton" (through the interpreter; tests/test_triton_regions.py has the rest)."""
    pytest.importorskip("triton")
    x, target = _inputs("softmax", "index")
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
    x, target = _inputs("softmax", "index")
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
    x, target = _inputs("softmax", "index")
    with pytest.raises(error, match=message):
        getattr(torchfocal, name)(x, target, **options)


def test_input_and_target_errors() -> None:
    x, target = _inputs("softmax", "index")
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
    x, target = _inputs("sigmoid", "index")
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


# -- Dice + focal / CE, unified focal ------------------------------------------------------------

COMBINED = ("dice_focal_loss", "dice_ce_loss", "unified_focal_loss")


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("form", ["index", "dense"])
def test_dice_focal_and_ce_match_reference(form: str, backend: str) -> None:
    weight = torch.tensor([0.5, 2.0, 1.0, 1.5], dtype=torch.float64)
    for activation in ("softmax", "sigmoid"):
        x, target = _inputs(activation, form, (2, 4, 3, 5))
        if form == "dense" and activation == "softmax":
            target = torch.softmax(torch.randn_like(x), dim=1)  # focal: rows summing to 1
        for options in (
            {},
            {"weight": weight, "gamma": 1.5, "lambda_dice": 0.3, "batch": True},
            {"reduction": "sum", "include_background": False, "lambda_focal": 2.0},
        ):
            _check("dice_focal_loss", backend, x, target, activation=activation, **options)
        _check(
            "dice_ce_loss", backend, x, target, activation=activation, weight=weight, lambda_ce=0.7
        )


def test_dice_ce_is_dice_plus_cross_entropy() -> None:
    x, target = _inputs("softmax", "index")
    weight = torch.tensor([0.5, 2.0, 1.0, 1.5], dtype=torch.float64)
    for options in ({}, {"weight": weight}, {"reduction": "sum"}):
        expected = torchfocal.dice_loss(x, target, **options) + torch.nn.functional.cross_entropy(
            x, target, **options
        )
        torch.testing.assert_close(torchfocal.dice_ce_loss(x, target, **options), expected, **TIGHT)
    mask = torch.rand(x.shape) > 0.5
    expected = torchfocal.dice_loss(x, mask, activation="sigmoid") + (
        torch.nn.functional.binary_cross_entropy_with_logits(x, mask.double())
    )
    torch.testing.assert_close(
        torchfocal.dice_ce_loss(x, mask, activation="sigmoid"), expected, **TIGHT
    )


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("form", ["index", "dense", "mask"])
def test_unified_focal_matches_reference(form: str, backend: str) -> None:
    x, target = _inputs("softmax", form, (2, 3, 4, 5))
    if form == "dense":
        target = torch.softmax(torch.randn_like(x) * 3, dim=1)
    if form == "mask":
        target = torch.nn.functional.one_hot(torch.randint(0, 3, (2, 4, 5)), 3).movedim(-1, 1)
        target = target.bool()
    for options in (
        {},
        {"asymmetric": False, "delta": 0.7, "gamma": 0.2},
        {"weight": 0.0, "reduction": "sum"},
        {"weight": 1.0, "gamma": 0.0},
        {"batch": True},
        {"batch": True, "asymmetric": False, "reduction": "sum", "weight": 0.3},
    ):
        _check("unified_focal_loss", backend, x, target, **options)


def test_unified_focal_on_probabilities_equals_softmax_form() -> None:
    """activation='none' on softmax probabilities is the logits' loss (away from the clamp)."""
    x, target = _inputs("softmax", "index", (2, 3, 4, 5))
    torch.testing.assert_close(
        torchfocal.unified_focal_loss(torch.softmax(x, 1), target, activation="none"),
        torchfocal.unified_focal_loss(x, target),
        **TIGHT,
    )


def test_unified_focal_binary_is_monai_up_to_the_class_average() -> None:
    """Equations 19-22 for two classes, by hand on probabilities: lambda * focal + (1 -
    lambda) * (Tversky summed over the two classes); MONAI averages the latter."""
    p1 = torch.rand(2, 1, 6, dtype=torch.float64) * 0.8 + 0.1
    p = torch.cat([1 - p1, p1], dim=1)
    y = torch.randint(0, 2, (2, 6))
    t = torch.nn.functional.one_hot(y, 2).movedim(-1, 1).double()
    delta, gamma, eps = 0.6, 0.5, 1e-7
    focal = -(1 - delta) * (1 - p[:, 0]) ** gamma * t[:, 0] * p[:, 0].log()
    focal = (focal - delta * t[:, 1] * p[:, 1].log()).mean()
    tp, fn, fp = (p * t).sum(-1), ((1 - p) * t).sum(-1), (p * (1 - t)).sum(-1)
    mti = (tp + eps) / (tp + delta * fn + (1 - delta) * fp + eps)
    tversky = ((1 - mti[:, 0]) + (1 - mti[:, 1]) ** (1 - gamma)).mean()
    value = torchfocal.unified_focal_loss(
        p, y, activation="none", smooth_nr=eps, smooth_dr=eps, delta=delta, gamma=gamma
    )
    torch.testing.assert_close(value, 0.5 * focal + 0.5 * tversky, **TIGHT)


@pytest.mark.parametrize("name", COMBINED)
def test_combined_gradcheck_gradgradcheck_and_meta(name: str) -> None:
    x, target = _inputs("softmax", "index", (2, 3, 4))
    for backend in BACKENDS:
        leaf = x.clone().requires_grad_(True)

        def f(z: torch.Tensor, b: str = backend) -> torch.Tensor:
            return getattr(torchfocal, name)(z, target, backend=b)

        assert torch.autograd.gradcheck(f, (leaf,), fast_mode=True)
        assert torch.autograd.gradgradcheck(f, (leaf,), fast_mode=True)
        meta = torch.empty(2, 3, 4, 5, device="meta", requires_grad=True)
        index = torch.empty(2, 4, 5, dtype=torch.long, device="meta")
        (grad,) = torch.autograd.grad(getattr(torchfocal, name)(meta, index, backend=backend), meta)
        assert grad.shape == meta.shape


@pytest.mark.parametrize("name", COMBINED)
def test_combined_all_ignored_and_dtypes(name: str) -> None:
    x = torch.randn(2, 3, 4, dtype=torch.float64, requires_grad=True)
    value = getattr(torchfocal, name)(x, torch.full((2, 4), -100))
    (grad,) = torch.autograd.grad(value, x)
    assert value.item() == 0.0 and torch.equal(grad, torch.zeros_like(grad))
    for dtype in (torch.float16, torch.bfloat16, torch.float32):
        x, target = _inputs("softmax", "index", (2, 3, 4, 5), dtype=dtype)
        leaf = x.clone().requires_grad_(True)
        value = getattr(torchfocal, name)(leaf, target)
        value.backward()
        assert value.dtype == dtype and leaf.grad is not None and leaf.grad.dtype == dtype
        expected = getattr(torchfocal, name)(x.double(), target)
        torch.testing.assert_close(value.double(), expected, **tolerance(dtype))


def test_combined_errors() -> None:
    x, target = _inputs("softmax", "index")
    with pytest.raises(ValueError, match=r"reduction must be one of 'mean' \| 'sum'; got 'none'"):
        torchfocal.dice_focal_loss(x, target, reduction="none")
    with pytest.raises(ValueError, match=r"activation must be 'softmax' or 'sigmoid' for a loss"):
        torchfocal.dice_ce_loss(x, target, activation="none")
    with pytest.raises(ValueError, match=r"lambda_dice must be in \[0, inf\]"):
        torchfocal.dice_focal_loss(x, target, lambda_dice=-1.0)
    with pytest.raises(ValueError, match=r"lambda_ce must be in \[0, inf\]"):
        torchfocal.dice_ce_loss(x, target, lambda_ce=-1.0)
    with pytest.raises(ValueError, match=r"gamma must be a finite non-negative float"):
        torchfocal.dice_focal_loss(x, target, gamma=-1.0)
    with pytest.raises(ValueError, match=r"gamma must be in \[0, 1\); got 1.0"):
        torchfocal.unified_focal_loss(x, target, gamma=1.0)
    with pytest.raises(ValueError, match=r"delta must be in \[0, 1\]"):
        torchfocal.unified_focal_loss(x, target, delta=1.5)
    with pytest.raises(ValueError, match=r"weight must be in \[0, 1\]"):
        torchfocal.unified_focal_loss(x, target, weight=2.0)
    with pytest.raises(ValueError, match=r"activation must be 'softmax' \| 'none'"):
        torchfocal.unified_focal_loss(x, target, activation="sigmoid")
    with pytest.raises(ValueError, match=r"has no Triton kernel"):
        torchfocal.unified_focal_loss(x, target, backend="triton")
    with pytest.raises(ValueError, match=r"distributed must be False unless batch=True"):
        torchfocal.unified_focal_loss(x, target, distributed=True)
    with pytest.raises(ValueError, match=r"unless torch.distributed is initialised"):
        torchfocal.unified_focal_loss(x, target, batch=True, distributed=True)


# -- Lovasz ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_lovasz_softmax_matches_reference(backend: str) -> None:
    x, target = _inputs("softmax", "index", (3, 4, 5, 6))
    target[1] = -100  # an image with nothing counted
    for options in (
        {},
        {"per_image": True},
        {"classes": "all", "reduction": "sum"},
        {"classes": [1, 3], "per_image": True, "reduction": "sum"},
        {"per_image": True, "reduction": "none"},
        {"reduction": "none"},
    ):
        _check("lovasz_softmax_loss", backend, x, target, **options)
    last, index = _inputs("softmax", "index", (2, 5, 6, 4), class_dim=-1)
    _check("lovasz_softmax_loss", backend, last, index, class_dim=-1)


@pytest.mark.parametrize("backend", BACKENDS)
def test_lovasz_hinge_matches_reference(backend: str) -> None:
    x = torch.randn(3, 5, 6, dtype=torch.float64)
    labels = torch.randint(0, 2, (3, 5, 6))
    labels[0, 0] = -100
    for options in (
        {},
        {"per_image": True},
        {"reduction": "sum", "per_image": True},
        {"reduction": "none", "per_image": True},
    ):
        _check("lovasz_hinge_loss", backend, x, labels, **options)
    _check("lovasz_hinge_loss", backend, x, labels.clamp(min=0).bool())


def test_lovasz_hinge_by_hand() -> None:
    """Errors [-1, 0, 1.5] sorted [1.5, 0, -1] with labels [0, 0, 1]: J = [1/2, 2/3, 1],
    g = [1/2, 1/6, 1/3], loss = 1.5 / 2."""
    value = torchfocal.lovasz_hinge_loss(
        torch.tensor([[2.0, -1.0, 0.5]]), torch.tensor([[1, 0, 0]])
    )
    assert value.item() == pytest.approx(0.75)


def test_lovasz_softmax_perfect_prediction_is_near_zero_and_wrong_is_large() -> None:
    target = torch.randint(0, 3, (2, 8))
    perfect = torch.nn.functional.one_hot(target, 3).movedim(-1, 1).double() * 30
    assert torchfocal.lovasz_softmax_loss(perfect, target).item() < 1e-10
    assert torchfocal.lovasz_softmax_loss(-perfect, target).item() > 0.9


@pytest.mark.parametrize("name", ["lovasz_softmax_loss", "lovasz_hinge_loss"])
def test_lovasz_gradcheck_meta_dtypes_and_all_ignored(name: str) -> None:
    softmax = name == "lovasz_softmax_loss"
    shape = (2, 3, 4, 5) if softmax else (2, 4, 5)
    x = torch.randn(shape, dtype=torch.float64)
    target = torch.randint(0, 3 if softmax else 2, (2, 4, 5))
    function = getattr(torchfocal, name)
    for backend in BACKENDS:
        leaf = x.clone().requires_grad_(True)
        assert torch.autograd.gradcheck(
            lambda z, b=backend: function(z, target, backend=b), (leaf,)
        )
        meta = torch.empty(shape, device="meta", requires_grad=True)
        index = torch.empty(2, 4, 5, dtype=torch.long, device="meta")
        (grad,) = torch.autograd.grad(function(meta, index, backend=backend), meta)
        assert grad.shape == meta.shape
        leaf = x.clone().requires_grad_(True)
        value = function(leaf, torch.full_like(target, -100), backend=backend)
        (grad,) = torch.autograd.grad(value, leaf)
        assert value.item() == 0.0 and torch.equal(grad, torch.zeros_like(grad))
    for dtype in (torch.float16, torch.bfloat16, torch.float32):
        value = function(x.to(dtype), target)
        assert value.dtype == dtype
        torch.testing.assert_close(value.double(), function(x, target), **tolerance(dtype))


def test_lovasz_errors() -> None:
    x, target = _inputs("softmax", "index")
    with pytest.raises(ValueError, match=r"classes must be 'present', 'all' or a non-empty list"):
        torchfocal.lovasz_softmax_loss(x, target, classes=[7])
    with pytest.raises(ValueError, match=r"target must be integer class indices of shape"):
        torchfocal.lovasz_softmax_loss(x, x)
    with pytest.raises(ValueError, match=r"at least 2 classes"):
        torchfocal.lovasz_softmax_loss(x[:, :1], target.clamp(0, 0))
    with pytest.raises(ValueError, match=r"target must hold 0 or 1 \(or ignore_index=-100\)"):
        torchfocal.lovasz_hinge_loss(x, torch.full(x.shape, 2))
    with pytest.raises(ValueError, match=r"target must have the shape of input"):
        torchfocal.lovasz_hinge_loss(x, target)
    with pytest.raises(ValueError, match=r"has no Triton kernel"):
        torchfocal.lovasz_hinge_loss(x, x > 0, backend="triton")
