"""backend="triton" for the sigmoid family: FL*, the asymmetric loss, Poly-1 (sigmoid form),
the varifocal and the quality focal loss, run on CPU tensors through Triton's interpreter.

Every kernel is held against the NumPy oracle (:mod:`torchfocal.reference`, loss and
gradient) and against backend="naive": every target form, alpha, weight shapes, every
reduction, class layouts, dtypes, extreme and NaN logits, sizes that are not a multiple of
the kernel's block, and the autograd contract (grad_output, gradients to soft targets and
weights, second derivatives).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

import torchfocal
from conftest import all_pairs, run_loss, tolerance
from torchfocal import reference
from torchfocal.registry import LOSSES, VARIANT_CLASSES, LossInfo

pytest.importorskip("triton")
# The interpreter runs each operation with NumPy on the whole block, the branches that a
# tl.where leaves out included (0 / 0 in log1p's correction at e = 0, an overflowing
# gamma x that FL* replaces): NumPy's warnings about those lanes say nothing of the results.
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning:triton.runtime.interpreter")

C = 4
SHAPE = (6, C)
FORMS = ["bool", "uint8", "float hard", "float soft", "index"]
REDUCTIONS = [("none", None), ("mean", None), ("mean", 3.0), ("sum", None), ("positives", None)]
WEIGHTS = ["rows", "classes", "full"]
#: The sigmoid-form losses whose Triton math is not the sigmoid focal loss's (that kernel has
#: tests/test_triton_sigmoid.py), from the registry; each swept over its entry's variants.
FAMILY = [
    info
    for info in LOSSES
    if info.form == "elementwise"
    and info.kernel not in (None, "sigmoid_focal")
    and info.has_triton(info.samples[0])
]
#: The losses whose target is a score (no class indices, no class_dim): "positives" divides
#: by the number of scores > 0.
SCORE_LOSSES = tuple(info.name for info in FAMILY if info.samples[0].target == "score")
assert C == VARIANT_CLASSES  # the variants' per-class values are given for this many


def _variants(info: LossInfo) -> list[dict[str, Any]]:
    return [dict(options) for options in info.variants or ({},)]


#: Options of each sigmoid-form loss (its registry entry's variants: every focusing regime,
#: alpha None, a float and per-class values where the loss has alpha, clip and no clip,
#: label smoothing, options where its math overflows).
SIGMOID_CASES: list[tuple[str, dict[str, Any]]] = [
    (info.name, options)
    for info in FAMILY
    if info.name not in SCORE_LOSSES
    for options in _variants(info)
]
SCORE_CASES: list[tuple[str, dict[str, Any]]] = [
    (info.name, options)
    for info in FAMILY
    if info.name in SCORE_LOSSES
    for options in _variants(info)
]
#: One case per loss (its first variant), for the checks that do not depend on the options.
ONE_PER_LOSS: list[tuple[str, dict[str, Any]]] = [
    (info.name, _variants(info)[0]) for info in FAMILY
]


def _ids(cases: list[tuple[str, dict[str, Any]]]) -> list[str]:
    return [f"{name}-{index}" for index, (name, _) in enumerate(cases)]


def _cases(cases: list[tuple[str, dict[str, Any]]]) -> list[Any]:
    """``cases`` as a factor of :func:`_pairs` (name and options, ids as :func:`_ids`)."""
    return [pytest.param(*case, id=id) for case, id in zip(cases, _ids(cases), strict=True)]


def _pairs(*factors: list[Any]) -> list[Any]:
    """``parametrize`` values of :func:`conftest.all_pairs` over factors of ``pytest.param``
    values (each may set several arguments): every pair of values of any two factors
    appears in some row; the row's id joins its values' ids."""
    return [
        pytest.param(
            *(value for param in row for value in param.values),
            id="-".join(str(param.id) for param in row),
        )
        for row in all_pairs(*factors)
    ]


def _dtypes(*dtypes: torch.dtype) -> list[Any]:
    return [pytest.param(dtype, id=str(dtype).removeprefix("torch.")) for dtype in dtypes]


def _values(*values: Any) -> list[Any]:
    return [pytest.param(value, id=str(value)) for value in values]


def _with_forms(forms: list[str], *factors: list[Any]) -> list[Any]:
    """ONE_PER_LOSS with each target form (the score losses only with their float score),
    pairwise with ``factors`` (:func:`_pairs`: each loss with each form, and each of them
    with each value of every factor)."""
    cases = {
        score: [
            pytest.param(name, options, id=name)
            for name, options in ONE_PER_LOSS
            if (name in SCORE_LOSSES) == score
        ]
        for score in (False, True)
    }
    return [
        *_pairs(cases[False], _values(*forms), *factors),
        *_pairs(cases[True], _values("float soft"), *factors),
    ]


def _logits(shape: tuple[int, ...] = SHAPE, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    return (torch.randn(shape, dtype=torch.float64) * 3.0).to(dtype)


def _lead(tensor: torch.Tensor, values: list[float]) -> None:
    """Set the first elements of ``tensor`` (as many of ``values`` as it holds)."""
    lead = tensor.view(-1)[: len(values)]
    lead.copy_(torch.tensor(values[: lead.numel()]))


def _target(form: str, shape: tuple[int, ...] = SHAPE, class_dim: int = 1) -> torch.Tensor:
    """A target of a sigmoid-form loss in ``form``; class indices hold the background class
    C and an ignored (-100) location."""
    if form == "bool":
        return torch.rand(shape) < 0.4
    if form == "uint8":
        return (torch.rand(shape) < 0.4).to(torch.uint8)
    if form == "float hard":
        return (torch.rand(shape) < 0.4).double()
    if form == "float soft":
        soft = torch.rand(shape, dtype=torch.float64)
        _lead(soft, [0.0, 1.0])  # the ends of [0, 1] among soft values
        return soft
    dim = class_dim % len(shape)
    num_classes = shape[dim]
    index = torch.randint(0, num_classes + 1, shape[:dim] + shape[dim + 1 :])
    _lead(index, [-100, num_classes])
    return index


def _score(shape: tuple[int, ...] = SHAPE) -> torch.Tensor:
    """IoU-aware scores: about half 0 (negatives), the others in (0, 1], one exactly 1."""
    score = torch.rand(shape, dtype=torch.float64) * (torch.rand(shape) < 0.5)
    _lead(score, [1.0, 0.0])
    return score


def _weight(kind: str | None, shape: tuple[int, ...], class_dim: int = 1) -> torch.Tensor | None:
    """None, one value per row ((N, 1, ...)), per class (lined up with class_dim) or per
    element."""
    if kind is None:
        return None
    if kind == "rows":
        weight_shape = (shape[0],) + (1,) * (len(shape) - 1)
    elif kind == "classes":
        dim = class_dim % len(shape)
        weight_shape = (shape[dim],) + (1,) * (len(shape) - 1 - dim)
    else:
        weight_shape = shape
    return torch.rand(weight_shape, dtype=torch.float64) + 0.5


def _upstream(reduction: str, x: torch.Tensor) -> torch.Tensor:
    """grad_output != 1: random for "none", a scalar otherwise."""
    if reduction == "none":
        return torch.randn_like(x)
    return torch.tensor(-1.75, dtype=x.dtype)


def _as_numpy(value: Any) -> Any:
    if not isinstance(value, torch.Tensor):
        return value
    value = value.detach()
    return value.double().numpy() if value.is_floating_point() else value.numpy()


def _reference(
    name: str, x: torch.Tensor, target: torch.Tensor, upstream: torch.Tensor | None, **kwargs: Any
) -> tuple[torch.Tensor, torch.Tensor]:
    """The oracle's loss and gradient, in float64. The oracle's score losses have no
    "positives": their sum over max(number of scores > 0, 1)."""
    arguments = {key: _as_numpy(value) for key, value in kwargs.items()}
    divisor = 1.0
    if name in SCORE_LOSSES and arguments.get("reduction") == "positives":
        arguments["reduction"] = "sum"
        divisor = max(float((target > 0).sum()), 1.0)
    value, grad = getattr(reference, name)(
        _as_numpy(x), _as_numpy(target), grad_output=_as_numpy(upstream), **arguments
    )
    return torch.as_tensor(np.asarray(value) / divisor), torch.as_tensor(grad / divisor)


def _check(
    name: str, x: torch.Tensor, target: torch.Tensor, upstream: torch.Tensor | None, **kwargs: Any
) -> tuple[torch.Tensor, torch.Tensor]:
    """backend="triton" equals the oracle and backend="naive" within the input dtype's
    tolerance, in the input's dtype; returns its loss and gradient."""
    value, grad = run_loss(name, "triton", x, target, upstream, **kwargs)
    assert value.dtype == x.dtype and grad.dtype == x.dtype and grad.shape == x.shape
    tol = tolerance(x.dtype)
    ref_value, ref_grad = _reference(name, x, target, upstream, **kwargs)
    torch.testing.assert_close(value, ref_value.to(x.dtype), **tol)
    torch.testing.assert_close(grad, ref_grad.to(x.dtype), **tol)
    naive_value, naive_grad = run_loss(name, "naive", x, target, upstream, **kwargs)
    torch.testing.assert_close(value, naive_value, **tol)
    torch.testing.assert_close(grad, naive_grad, **tol)
    return value, grad


def _case_target(name: str, shape: tuple[int, ...] = SHAPE, form: str = "float soft") -> Any:
    return _score(shape) if name in SCORE_LOSSES else _target(form, shape)


# -- against the oracle and the naive backend, float64 ---------------------------------------


def _pairwise(cases: list[tuple[str, dict[str, Any]]], *factors: list[Any]) -> list[Any]:
    """Every pair of an option case, a target form, a weight and a reduction, once
    (:func:`conftest.all_pairs`): the kernel skeleton reads the form, the weight and the
    reduction the same way for every loss's math, so their full product adds nothing."""
    ids = dict(zip(map(id, cases), _ids(cases), strict=True))
    return [
        pytest.param(
            *case,
            *rest[:-1],
            *rest[-1],
            id="-".join([ids[id(case)], *(str(value) for value in rest[:-1]), str(rest[-1][0])])
            + ("" if rest[-1][1] is None else f"-{rest[-1][1]}"),
        )
        for case, *rest in all_pairs(cases, *factors)
    ]


@pytest.mark.parametrize(
    ("name", "options", "form", "weight", "reduction", "avg_factor"),
    _pairwise(SIGMOID_CASES, FORMS, WEIGHTS, REDUCTIONS),
)
def test_sigmoid_forms_match_reference_and_naive(
    name: str,
    options: dict[str, Any],
    form: str,
    weight: str,
    reduction: str,
    avg_factor: float | None,
) -> None:
    x = _logits()
    _check(
        name,
        x,
        _target(form),
        _upstream(reduction, x),
        weight=_weight(weight, SHAPE),
        reduction=reduction,
        avg_factor=avg_factor,
        **options,
    )


@pytest.mark.parametrize(
    ("name", "options", "weight", "reduction", "avg_factor"),
    _pairwise(SCORE_CASES, [None, *WEIGHTS], REDUCTIONS),
)
def test_score_losses_match_reference_and_naive(
    name: str, options: dict[str, Any], weight: str | None, reduction: str, avg_factor: float | None
) -> None:
    x = _logits()
    _check(
        name,
        x,
        _score(),
        _upstream(reduction, x),
        weight=_weight(weight, SHAPE),
        reduction=reduction,
        avg_factor=avg_factor,
        **options,
    )


SIGMOID_LOSSES = [name for name, _ in ONE_PER_LOSS if name not in SCORE_LOSSES]


# Pairwise (each loss with each layout, form and reduction, each layout with each form and
# reduction, ...): the layout is the kernel skeleton's (outer, C, inner) view and the
# operands' strides, which every loss's math and every reduction share.
@pytest.mark.parametrize(
    ("name", "shape", "class_dim", "form", "reduction"),
    _pairs(
        _values(*SIGMOID_LOSSES),
        [
            pytest.param(shape, class_dim, id=f"{shape}-{class_dim}")
            for shape, class_dim in [
                ((2, 3, C), -1),
                ((2, C, 3), 1),
                ((C, 5), 0),
                ((3, C, 2, 2), -3),
            ]
        ],
        _values("index", "float soft", "bool"),
        _values("none", "mean", "positives"),
    ),
)
def test_class_layouts(
    name: str, shape: tuple[int, ...], class_dim: int, form: str, reduction: str
) -> None:
    """The classes anywhere: class indices, per-class alpha and weight along class_dim."""
    options: dict[str, Any] = {} if name == "asymmetric_loss" else {"alpha": [0.1, 0.5, 0.9, 0.3]}
    x = _logits(shape)
    _check(
        name,
        x,
        _target(form, shape, class_dim),
        _upstream(reduction, x),
        weight=_weight("classes", shape, class_dim),
        class_dim=class_dim,
        reduction=reduction,
        **options,
    )


@pytest.mark.parametrize(("name", "options"), ONE_PER_LOSS, ids=_ids(ONE_PER_LOSS))
@pytest.mark.parametrize("shape", [(), (7,), (2, 3, 4, 5)])
def test_odd_shapes(name: str, options: dict[str, Any], shape: tuple[int, ...]) -> None:
    """A 0-d and a 1-D input of independent logits, and a 4-D one with one weight per row
    (broadcast over the three other dimensions)."""
    x = _logits(shape)
    weight = torch.rand(shape[:1] + (1,) * (len(shape) - 1), dtype=torch.float64) if shape else None
    target = _case_target(name, shape)
    _check(name, x, target, _upstream("none", x), weight=weight, reduction="none", **options)


# Pairwise: each loss and each reduction on each size (the programs' partial sums and the
# partial last block are the skeleton's, shared by every loss's math).
@pytest.mark.parametrize(
    ("name", "options", "shape", "form", "reduction"),
    _pairs(
        _cases(ONE_PER_LOSS),
        [
            pytest.param(shape, form, id=f"{shape}-{form}")
            for shape, form in [
                ((1, 1025), "bool"),
                ((2, 5, 211), "index"),
                ((3, 700), "float soft"),
            ]
        ],
        _values("none", "mean", "positives"),
    ),
)
def test_sizes_across_blocks(
    name: str, options: dict[str, Any], shape: tuple[int, ...], form: str, reduction: str
) -> None:
    """More elements than one program's block (1024), not a multiple of it: the last
    program's block is partial, and the partial sums of several programs add up."""
    x = _logits(shape)
    target = _score(shape) if name in SCORE_LOSSES else _target(form, shape)
    _check(name, x, target, _upstream(reduction, x), reduction=reduction, **options)


def test_poly1_cross_entropy_sigmoid_form() -> None:
    """poly1_cross_entropy's sigmoid form is poly1_focal_loss's kernel with gamma 0."""
    x, mask = _logits(), _target("bool")
    _check("poly1_cross_entropy", x, mask, None, epsilon=2.0, activation="sigmoid")


# -- dtypes ----------------------------------------------------------------------------------


# Pairwise: the dtype is the loads' conversion and the compute and store dtypes of the
# skeleton, the same for every loss, form and reduction.
@pytest.mark.parametrize(
    ("name", "options", "form", "dtype", "reduction"),
    _with_forms(
        ["index", "float soft", "uint8"],
        _dtypes(torch.float16, torch.bfloat16, torch.float32),
        _values("none", "mean", "positives"),
    ),
)
def test_low_precision_dtypes(
    name: str, options: dict[str, Any], dtype: torch.dtype, form: str, reduction: str
) -> None:
    """Computed in float32, returned in the input's dtype; a float target in the input's
    dtype is read in its own."""
    x = _logits(dtype=dtype)
    target = _case_target(name, SHAPE, form)
    if target.is_floating_point():
        target = target.to(dtype)
    _check(
        name,
        x,
        target,
        _upstream(reduction, x),
        weight=_weight("rows", SHAPE),
        reduction=reduction,
        **options,
    )


# -- extreme and NaN logits ------------------------------------------------------------------

#: Logits of both signs from 0 up to float32's largest (clamped to a coarser dtype's).
MAGNITUDES = [0.0, 5.0, 30.0, 100.0, 1e4, 1e30, torch.finfo(torch.float32).max]
EXTREMES = sorted({sign * magnitude for magnitude in MAGNITUDES for sign in (-1.0, 1.0)})
#: Each extreme logit against each of these targets (or scores).
EXTREME_TARGETS = [0.0, 1.0, 0.3, 0.7]
#: One case per loss and the options where each loss's math is pushed furthest.
EXTREME_CASES: list[tuple[str, dict[str, Any]]] = [
    *ONE_PER_LOSS,
    *((info.name, dict(options)) for info in FAMILY for options in info.extreme_variants),
]


@pytest.mark.parametrize(("name", "options"), EXTREME_CASES, ids=_ids(EXTREME_CASES))
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
def test_extreme_logits_are_finite_and_right(
    name: str, options: dict[str, Any], dtype: torch.dtype
) -> None:
    """Every finite logit, up to the dtype's largest, gives a finite loss and gradient
    against every kind of target, equal to the oracle's."""
    largest = torch.finfo(dtype).max
    values = torch.tensor(EXTREMES, dtype=torch.float64).clamp(-largest, largest)
    x = values[:, None].expand(-1, len(EXTREME_TARGETS)).to(dtype)
    target = torch.tensor(EXTREME_TARGETS, dtype=torch.float64).expand(x.shape)
    value, grad = run_loss(name, "triton", x, target, reduction="none", **options)
    assert torch.isfinite(value).all() and torch.isfinite(grad).all()
    ref_value, ref_grad = _reference(name, x, target, None, reduction="none", **options)
    tol = tolerance(dtype)
    torch.testing.assert_close(value, ref_value.to(dtype), **tol)
    torch.testing.assert_close(grad, ref_grad.to(dtype), **tol)


@pytest.mark.parametrize(("name", "options"), EXTREME_CASES, ids=_ids(EXTREME_CASES))
@pytest.mark.parametrize("reduction", ["none", "mean"])
def test_nan_logit_gives_nan(name: str, options: dict[str, Any], reduction: str) -> None:
    """A NaN logit gives a NaN loss and gradient, against every target; the other
    elements keep their values."""
    x = _logits((3, len(EXTREME_TARGETS)))
    x[1] = float("nan")
    target = torch.tensor(EXTREME_TARGETS, dtype=torch.float64).expand(x.shape)
    value, grad = run_loss(name, "triton", x, target, reduction=reduction, **options)
    assert torch.isnan(grad[1]).all() and not torch.isnan(grad[[0, 2]]).any()
    if reduction == "none":
        assert torch.isnan(value[1]).all() and torch.isfinite(value[[0, 2]]).all()
    else:
        assert torch.isnan(value)


@pytest.mark.parametrize("gamma_neg", [0.0, 0.5])
def test_asymmetric_negatives_just_above_the_clip_keep_their_precision(gamma_neg: float) -> None:
    """-log u = -log1p(-p_m) for small p_m: log(u) of u = 1 - p_m rounded to float32 would
    be off by up to eps / p_m (6e-4 at p_m = 1e-4); what is left is the rounding of
    p - clip (about 4e-5 there)."""
    clip = 0.05
    p = torch.tensor([1e-4, 1e-3, 1e-2, 0.3], dtype=torch.float64) + clip
    x = torch.logit(p).float()[None, :]
    target = torch.zeros_like(x)
    options = {"gamma_pos": 0.0, "gamma_neg": gamma_neg, "clip": clip, "reduction": "none"}
    value, _ = run_loss("asymmetric_loss", "triton", x, target, **options)
    ref_value, _ = _reference("asymmetric_loss", x, target, None, **options)
    torch.testing.assert_close(value.double(), ref_value, rtol=1e-4, atol=0)


# -- autograd --------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "options"), ONE_PER_LOSS, ids=_ids(ONE_PER_LOSS))
@pytest.mark.parametrize("reduction", ["none", "mean", "positives"])
def test_gradients_to_target_and_weight_are_naive(
    name: str, options: dict[str, Any], reduction: str
) -> None:
    """A soft target or a weight that requires grad runs the naive form: the same loss and
    gradients as backend="naive", to every argument."""
    x, target, weight = _logits(), _case_target(name), torch.rand(6, 1, dtype=torch.float64)
    upstream = _upstream(reduction, x)
    results = []
    for backend in ("triton", "naive"):
        leaves = [tensor.clone().requires_grad_() for tensor in (x, target, weight)]
        value = getattr(torchfocal, name)(
            leaves[0], leaves[1], weight=leaves[2], reduction=reduction, backend=backend, **options
        )
        grads = torch.autograd.grad(value, leaves, upstream)
        results.append((value.detach(), *grads))
    for triton_result, naive_result in zip(*results, strict=True):
        torch.testing.assert_close(triton_result, naive_result, rtol=0, atol=0)


# Pairwise: create_graph takes the naive form for every loss, form and reduction alike.
@pytest.mark.parametrize(
    ("name", "options", "form", "reduction"),
    _with_forms(["bool", "float soft", "index"], _values("none", "mean", "positives")),
)
def test_second_derivatives_are_naive(
    name: str, options: dict[str, Any], form: str, reduction: str
) -> None:
    """create_graph=True: the gradient and its derivative (a Hessian-vector product) equal
    backend="naive"'s."""
    x = _logits()
    target = _case_target(name, SHAPE, form)
    direction = torch.randn_like(x)
    results = []
    for backend in ("triton", "naive"):
        leaf = x.clone().requires_grad_()
        value = getattr(torchfocal, name)(
            leaf, target, reduction=reduction, backend=backend, **options
        )
        upstream = torch.ones_like(value) * 0.5
        (grad,) = torch.autograd.grad(value, leaf, upstream, create_graph=True)
        (second,) = torch.autograd.grad((grad * direction).sum(), leaf)
        results.append((value.detach(), grad.detach(), second))
    for triton_result, naive_result in zip(*results, strict=True):
        torch.testing.assert_close(triton_result, naive_result, **tolerance(torch.float64))


@pytest.mark.parametrize(("name", "options"), ONE_PER_LOSS, ids=_ids(ONE_PER_LOSS))
def test_without_gradient_the_same_loss(name: str, options: dict[str, Any]) -> None:
    """No gradient wanted (no_grad, or an input that does not require it): the kernel
    writes no gradient and gives the same loss."""
    x, target = _logits(), _case_target(name)
    fn = getattr(torchfocal, name)
    for reduction in ("none", "mean"):
        with_grad = fn(
            x.clone().requires_grad_(), target, reduction=reduction, backend="triton", **options
        )
        with torch.no_grad():
            no_grad = fn(x, target, reduction=reduction, backend="triton", **options)
        constant = fn(x, target, reduction=reduction, backend="triton", **options)
        assert not constant.requires_grad
        torch.testing.assert_close(no_grad, with_grad.detach(), rtol=0, atol=0)
        torch.testing.assert_close(constant, no_grad, rtol=0, atol=0)


@pytest.mark.parametrize(("name", "options"), ONE_PER_LOSS, ids=_ids(ONE_PER_LOSS))
@pytest.mark.parametrize("reduction", ["none", "mean", "sum", "positives"])
def test_empty_input(name: str, options: dict[str, Any], reduction: str) -> None:
    """No element, no launch: the naive backend's value and an empty gradient."""
    x = torch.zeros(0, C, dtype=torch.float64, requires_grad=True)
    if name in SCORE_LOSSES:
        target = torch.zeros(0, C, dtype=torch.float64)
    else:
        target = torch.zeros(0, dtype=torch.long)  # class indices
    value = getattr(torchfocal, name)(x, target, reduction=reduction, backend="triton", **options)
    value.sum().backward()
    naive = getattr(torchfocal, name)(x, target, reduction=reduction, backend="naive", **options)
    torch.testing.assert_close(value.detach(), naive.detach(), rtol=0, atol=0)
    assert x.grad is not None and x.grad.shape == x.shape


# -- the long-tail family on the kernels (issue 22: their operands folded into the kernels) --

#: The losses whose Triton path adjusts the logits, builds the target or picks the weights
#: inside a kernel (LA, LDAM and Seesaw: the softmax kernel's ADJUST; DFL: its two-bin
#: target; EQLv2: the elementwise kernel's per-class weight pair), with options that reach
#: each branch (a weight, label smoothing, a zero count, margins, p or q alone, ...).
FAMILY_CASES: list[tuple[str, dict[str, Any]]] = [
    ("logit_adjusted_cross_entropy", {"prior": [5.0, 1.0, 2.0, 8.0, 3.0], "tau": 0.7}),
    (
        "logit_adjusted_cross_entropy",
        {"prior": [5.0, 1.0, 2.0, 8.0, 3.0], "label_smoothing": 0.1, "weight": "classes"},
    ),
    ("logit_adjusted_cross_entropy", {"prior": [5.0, 1.0, 2.0, 8.0, 3.0], "soft": True}),
    ("ldam_loss", {"class_counts": [50.0, 3.0, 7.0, 1.0, 20.0]}),
    (
        "ldam_loss",
        {
            "class_counts": [50.0, 3.0, 7.0, 1.0, 20.0],
            "max_margin": 1.5,
            "scale": 4.0,
            "weight": "classes",
        },
    ),
    ("seesaw_loss", {"class_counts": [50.0, 3.0, 0.0, 1.0, 20.0]}),
    ("seesaw_loss", {"class_counts": [50.0, 3.0, 7.0, 1.0, 20.0], "p": 0.0, "eps": 0.5}),
    ("seesaw_loss", {"class_counts": [50.0, 3.0, 7.0, 1.0, 20.0], "q": 0.0}),
    (
        "equalization_loss_v2",
        {"pos_grad": [50.0, 0.5, 0.0, 3.0, 9.0], "neg_grad": [60.0, 40.0, 0.0, 1.0, 2.0]},
    ),
    ("distribution_focal_loss", {}),
    ("distribution_focal_loss", {"weight": "locations"}),
]
FAMILY_C = 5


def _check_family(
    name: str, x: torch.Tensor, target: torch.Tensor, upstream: torch.Tensor, **kwargs: Any
) -> None:
    """Triton's loss and gradient (upstream ``upstream``) equal the NumPy oracle's at x's
    values, within x's dtype's tolerance."""
    value, grad = run_loss(name, "triton", x, target, upstream.to(x.dtype), **kwargs)
    arrays = {k: (v.numpy() if isinstance(v, torch.Tensor) else v) for k, v in kwargs.items()}
    expected, expected_grad = getattr(reference, name)(
        x.double().numpy(), target.numpy(), grad_output=upstream.double().numpy(), **arrays
    )
    tol = tolerance(x.dtype)
    torch.testing.assert_close(value, torch.as_tensor(expected, dtype=x.dtype), **tol)
    torch.testing.assert_close(grad, torch.as_tensor(expected_grad, dtype=x.dtype), **tol)


def _family_call(
    name: str, options: dict[str, Any], shape: tuple[int, ...], dtype: torch.dtype
) -> tuple[torch.Tensor, torch.Tensor, dict[str, Any]]:
    """Logits, a target and options of one family case (``shape`` (N, C[, d])): index
    targets with an ignored location where the loss has ignore_index, EQLv2's with the
    background C, DFL's continuous labels with both ends and an integer among them."""
    x = _logits(shape, dtype)
    locations = shape[:1] + shape[2:]
    options = dict(options)
    if name == "distribution_focal_loss":
        target = torch.rand(locations, dtype=torch.float64) * (FAMILY_C - 1)
        _lead(target, [0.0, FAMILY_C - 1.0, 2.0])
        options["class_dim"] = 1
        if options.get("weight") == "locations":
            options["weight"] = torch.rand(locations, dtype=torch.float64) + 0.5
        return x, target, options
    if options.pop("soft", False):  # class probabilities
        target = torch.softmax(torch.randn(shape, dtype=torch.float64), dim=1)
    elif name == "equalization_loss_v2":
        target = torch.randint(0, FAMILY_C + 1, locations)
        _lead(target, [FAMILY_C, 0])
    else:
        target = torch.randint(0, FAMILY_C, locations)
        _lead(target, [-100, FAMILY_C - 1])
    for key in ("prior", "class_counts", "pos_grad", "neg_grad"):
        if key in options:
            options[key] = torch.tensor(options[key], dtype=torch.float64)
    if options.get("weight") == "classes":
        options["weight"] = torch.rand(FAMILY_C, dtype=torch.float64) + 0.5
    return x, target, options


# Pairwise (each case with each dtype and each reduction, each dtype with each reduction):
# the dtype is the kernels' loads and compute dtype, and the reduction the engine's sum of
# their per-location losses and its upstream gradient, whatever the case's math.
@pytest.mark.parametrize(
    ("name", "options", "dtype", "reduction"),
    _pairs(
        _cases(FAMILY_CASES),
        _dtypes(torch.float64, torch.float32, torch.bfloat16),
        _values("none", "mean", "sum"),
    ),
)
def test_family_kernels_match_the_reference(
    name: str, options: dict[str, Any], dtype: torch.dtype, reduction: str
) -> None:
    """Loss and gradient (grad_output != 1) against the NumPy oracle, rows and a map."""
    shapes = (
        [(7, FAMILY_C)] if name == "equalization_loss_v2" else [(7, FAMILY_C), (2, FAMILY_C, 3)]
    )
    for shape in shapes:
        x, target, kwargs = _family_call(name, options, shape, dtype)
        locations = (x.shape[0], *x.shape[2:])
        upstream = torch.rand(x.shape if name == "equalization_loss_v2" else locations)
        upstream = upstream.double() + 0.5 if reduction == "none" else torch.tensor(1.7)
        _check_family(name, x, target, upstream, reduction=reduction, **kwargs)


@pytest.mark.parametrize(("name", "options"), FAMILY_CASES[:8], ids=_ids(FAMILY_CASES[:8]))
def test_family_softmax_kernels_across_class_blocks(
    name: str, options: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A small tile cuts the 5 classes into two blocks (4 and 1) on rows (a tile of 4) and on
    a map of 3 positions (a tile of 16: 4 locations of 4 classes): the adjustments' raw-row
    pass (LDAM, Seesaw) and the online softmax of the adjusted logits across blocks."""
    from torchfocal._triton import softmax as kernel

    for shape, tile in [((3, FAMILY_C), 4), ((2, FAMILY_C, 3), 16)]:
        monkeypatch.setattr(kernel, "_TILE_ELEMENTS", tile)
        layout = (shape[0], FAMILY_C, shape[2] if len(shape) == 3 else 1)
        assert kernel._blocks(*layout, tile)[1] == 4  # (as the launch reads the tile)
        x, target, kwargs = _family_call(name, options, shape, torch.float64)
        # a maximum far above the rest of its row, in the first block, at a counted location
        # (location 0 is the ignored one of the index targets): the second block rescales
        x[(1, 3) if len(shape) == 2 else (0, 3, 1)] = 30.0
        _check_family(name, x, target, torch.tensor(0.6), reduction="sum", **kwargs)


def test_family_nan_logit_gives_nan() -> None:
    """A NaN logit makes its row's loss NaN through every adjustment (EQLv2, elementwise:
    its element's)."""
    for name, options in FAMILY_CASES:
        x, target, kwargs = _family_call(name, options, (4, FAMILY_C), torch.float32)
        if target.dim() == 1:
            target[1] = target[2]  # a counted location
        x[1, 2] = float("nan")
        value = getattr(torchfocal, name)(x, target, reduction="none", backend="triton", **kwargs)
        assert bool(torch.isnan(value[1] if value.dim() == 1 else value[1, 2]).all()), name


#: The adjustments that shift a row by its raw maximum inside the kernel (logit adjustment's
#: class bias, LDAM's margin and scale), on each target form they take.
ADJUSTED_EXTREME_CASES: list[tuple[str, dict[str, Any]]] = [
    ("logit_adjusted_cross_entropy", {"prior": [40.0, 8.0, 2.0]}),
    ("logit_adjusted_cross_entropy", {"prior": [40.0, 8.0, 2.0], "label_smoothing": 0.1}),
    ("logit_adjusted_cross_entropy", {"prior": [40.0, 8.0, 2.0], "soft": True}),
    ("ldam_loss", {"class_counts": [40.0, 8.0, 2.0]}),
]


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")  # the oracle's inf
@pytest.mark.parametrize(
    ("name", "options"), ADJUSTED_EXTREME_CASES, ids=_ids(ADJUSTED_EXTREME_CASES)
)
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
@pytest.mark.parametrize("blocks", ["one", "two"])
def test_adjusted_softmax_kernels_at_extreme_rows(
    name: str,
    options: dict[str, Any],
    dtype: torch.dtype,
    blocks: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every ordered pair of +-finfo.max, +-finfo.max / 2, +-1e4 and 0 beside a 0, each class
    the target (or rows of class probabilities): the loss and gradient equal the oracle's
    within the dtype's tolerance (inf only where the true loss is past the range; the
    gradient finite), from the registers (rows) and across two class blocks (the raw row's
    pass; a map, whose tile of 64 holds 32 locations of 2 classes).
    The adjusted logits are formed after the raw row's maximum is taken off: x + tau log pi
    in float32 at 1e4 was off by 8e-4 relative, and s x overflows past finfo.max / s."""
    from torchfocal._triton import softmax as kernel

    big = torch.finfo(dtype).max
    values = [big, -big, big / 2, -big / 2, 1e4, -1e4, 0.0]
    rows = [[a, b, 0.0] for a in values for b in values] * 3
    x = torch.tensor(rows, dtype=torch.float64).to(dtype)
    options = dict(options)
    target = torch.arange(3).repeat_interleave(len(values) ** 2)
    if options.pop("soft", False):
        probabilities = [[0.7, 0.0, 0.3], [0.0, 0.6, 0.4], [0.2, 0.5, 0.3]]
        target = torch.tensor(probabilities, dtype=torch.float64)[target]
    if blocks == "two":  # (1, C, locations)
        monkeypatch.setattr(kernel, "_TILE_ELEMENTS", 64)
        x, target = x.T[None], (target.T if target.dim() == 2 else target)[None]
    value, grad = run_loss(name, "triton", x, target, reduction="none", **options)
    expected, expected_grad = getattr(reference, name)(
        x.double().numpy(), target.numpy(), reduction="none", **options
    )
    expected_value = torch.from_numpy(expected).to(dtype)
    assert not torch.isnan(value).any() and torch.isfinite(grad).all()
    assert torch.equal(torch.isinf(value), torch.isinf(expected_value))
    torch.testing.assert_close(value, expected_value, **tolerance(dtype))
    torch.testing.assert_close(grad, torch.from_numpy(expected_grad).to(dtype), **tolerance(dtype))


# -- what has no kernel ----------------------------------------------------------------------


def test_poly1_softmax_refuses_triton() -> None:
    x, index = _logits(), torch.randint(0, C, (6,))
    with pytest.raises(ValueError, match="backend must be 'auto', 'naive', 'fused' or 'compiled'"):
        torchfocal.poly1_focal_loss(x, index, activation="softmax", backend="triton")
    with pytest.raises(ValueError, match="backend must be 'auto', 'naive', 'fused' or 'compiled'"):
        torchfocal.poly1_cross_entropy(x, index, backend="triton")
