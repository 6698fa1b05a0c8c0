"""Autograd beyond dloss/dinput, for every loss and backend (DESIGN.md section 3).

- second derivatives (create_graph=True): gradgradcheck in float64, and through a nonlinear
  producer of the logits (the fused backends once saved dloss/dx as a constant, so the
  second derivative silently lost its d2loss/dx2 term);
- gradients to every other tensor argument (soft targets, weight, alpha, pos_weight, a
  tensor avg_factor, class-balanced weights): gradcheck in float64, and equal to torch's
  own losses where the focal loss reduces to them (gamma = 0);
- the fast path stays the fast path: only when more than dloss/dinput is asked for does a
  fused backend leave its single-pass Function.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import pytest
import torch
import torch.nn.functional as F

import torchfocal

DOUBLE = torch.float64
N, C = 3, 4


def _soft(*shape: int) -> torch.Tensor:
    """Soft targets inside (0, 1), away from the ends (gradcheck perturbs them)."""
    return torch.rand(*shape, dtype=DOUBLE) * 0.8 + 0.1


def _probabilities(*shape: int) -> torch.Tensor:
    return torch.softmax(torch.randn(*shape, dtype=DOUBLE), dim=1)


def _hard(*shape: int) -> torch.Tensor:
    return (torch.rand(*shape) < 0.5).to(DOUBLE)


def _indices(n: int, classes: int) -> torch.Tensor:
    return torch.randint(0, classes, (n,))


class Case(NamedTuple):
    """A public loss with its target maker and the tensor arguments that may require grad."""

    id: str
    loss: Callable[..., torch.Tensor]
    target: Callable[[], torch.Tensor]
    #: Tensor keyword arguments (made fresh per test); any of them may require grad.
    tensors: dict[str, Callable[[], torch.Tensor]]
    options: dict[str, Any]
    #: The target is differentiable (a float the loss reads as a soft value).
    soft_target: bool = True
    #: Backends beyond naive and fused.
    compiled: bool = False
    #: The input's shape.
    shape: tuple[int, ...] = (N, C)


def _class_values() -> torch.Tensor:
    return torch.rand(C, dtype=DOUBLE) * 0.8 + 0.1


def _positive(*shape: int) -> Callable[[], torch.Tensor]:
    return lambda: torch.rand(*shape, dtype=DOUBLE) + 0.5


CASES = [
    Case(
        "sigmoid-soft",
        torchfocal.sigmoid_focal_loss,
        lambda: _soft(N, C),
        {"weight": _positive(N, C), "pos_weight": _positive(C), "alpha": _class_values},
        {"gamma": 1.5},
        compiled=True,
    ),
    Case(
        "sigmoid-soft-gamma<1-smoothing",
        torchfocal.sigmoid_focal_loss,
        lambda: _soft(N, C),
        {"weight": _positive(N, 1)},
        {"gamma": 0.5, "label_smoothing": 0.1, "alpha": 0.3},
    ),
    Case(
        "sigmoid-avg_factor",
        torchfocal.sigmoid_focal_loss,
        lambda: _soft(N, C),
        {"avg_factor": lambda: torch.tensor(2.5, dtype=DOUBLE)},
        {"gamma": 2.0},
    ),
    Case(
        "sigmoid-hard-float",
        torchfocal.sigmoid_focal_loss,
        lambda: _hard(N, C),
        {"weight": _positive(N, C), "pos_weight": _positive(C), "alpha": _class_values},
        {"gamma": 2.0, "reduction": "positives"},
        soft_target=False,
        compiled=True,
    ),
    Case(
        "sigmoid-index",
        torchfocal.sigmoid_focal_loss,
        lambda: torch.tensor([0, C, 2]),
        {"weight": _positive(N, C), "alpha": _class_values},
        {"gamma": 2.0},
        soft_target=False,
    ),
    Case(
        "softmax-probabilities",
        torchfocal.softmax_focal_loss,
        lambda: _probabilities(N, C),
        {"weight": _positive(C), "alpha": _class_values},
        {"gamma": 2.0},
        compiled=True,
    ),
    Case(
        "softmax-index-smoothing",
        torchfocal.softmax_focal_loss,
        lambda: torch.tensor([1, -100, 3]),
        {"weight": _positive(C), "alpha": _class_values},
        {"gamma": 0.5, "label_smoothing": 0.2},
        soft_target=False,
        compiled=True,
    ),
    Case(
        "softmax-4d",
        torchfocal.softmax_focal_loss,
        lambda: _probabilities(2, C, 2, 1),
        {"weight": _positive(C)},
        {"gamma": 2.0},
        shape=(2, C, 2, 1),
    ),
    Case(
        "star",
        torchfocal.sigmoid_focal_loss_star,
        lambda: _soft(N, C),
        {"weight": _positive(N, C), "alpha": _class_values},
        {"gamma": 2.0, "beta": 1.0},
    ),
    Case(
        "asymmetric-clip",
        torchfocal.asymmetric_loss,
        lambda: _soft(N, C),
        {"weight": _positive(N, C)},
        {"gamma_pos": 1.0, "gamma_neg": 4.0, "clip": 0.05},
    ),
    Case(
        "asymmetric-hard",
        torchfocal.asymmetric_loss,
        lambda: _hard(N, C),
        {"weight": _positive(N, C)},
        {"gamma_pos": 0.5, "gamma_neg": 2.0, "clip": 0.0},
        soft_target=False,
    ),
    Case(
        "poly1-sigmoid",
        torchfocal.poly1_focal_loss,
        lambda: _soft(N, C),
        {"weight": _positive(N, C), "alpha": _class_values},
        {"epsilon": 1.0, "gamma": 2.0},
    ),
    Case(
        "poly1-softmax",
        torchfocal.poly1_focal_loss,
        lambda: _probabilities(N, C),
        {"alpha": _class_values},
        {"epsilon": 2.0, "gamma": 2.0, "activation": "softmax"},
    ),
    Case(
        "poly1-cross-entropy-index",
        torchfocal.poly1_cross_entropy,
        lambda: _indices(N, C),
        {},
        {"epsilon": 1.0},
        soft_target=False,
    ),
    Case(
        "varifocal-positives",
        torchfocal.varifocal_loss,
        lambda: _soft(N, C),
        {"weight": _positive(N, C)},
        {},
    ),
    Case(
        # A score of 0 marks a negative: the loss is not differentiable in the score there.
        "varifocal-mixed",
        torchfocal.varifocal_loss,
        lambda: _soft(N, C) * (torch.rand(N, C) < 0.5),
        {"weight": _positive(N, C)},
        {"iou_weighted": False, "gamma": 0.5},
        soft_target=False,
    ),
    Case(
        "quality",
        torchfocal.quality_focal_loss,
        lambda: _soft(N, C),
        {"weight": _positive(N, C)},
        {"beta": 2.0},
    ),
    Case(
        "distribution",
        torchfocal.distribution_focal_loss,
        lambda: torch.tensor([0.3, 1.6, 2.45], dtype=DOUBLE),
        {"weight": _positive(N)},
        {},
    ),
    Case(
        "class-balanced-focal",
        torchfocal.class_balanced_loss,
        lambda: _indices(N, C),
        {"weight": _positive(C)},
        {"loss": "focal"},
        soft_target=False,
    ),
    Case(
        "class-balanced-softmax",
        torchfocal.class_balanced_loss,
        lambda: _indices(N, C),
        {"weight": _positive(C)},
        {"loss": "softmax", "gamma": 1.0},
        soft_target=False,
    ),
]


def _is_required(case: Case, name: str) -> bool:
    """An argument every call needs: class_balanced_loss has no default class weight."""
    return case.loss is torchfocal.class_balanced_loss and name == "weight"


def _backends(case: Case) -> list[str]:
    return ["naive", "fused", "compiled"] if case.compiled else ["naive", "fused"]


CASE_BACKENDS = [
    pytest.param(case, backend, id=f"{case.id}-{backend}")
    for case in CASES
    for backend in _backends(case)
]


def _required(case: Case) -> dict[str, torch.Tensor]:
    return {name: make() for name, make in case.tensors.items() if _is_required(case, name)}


def _call(case: Case, backend: str, x: torch.Tensor, target: torch.Tensor, **kwargs: Any) -> Any:
    return case.loss(x, target, backend=backend, **{**case.options, **kwargs})


def _logits(case: Case) -> torch.Tensor:
    return (3 * torch.randn(*case.shape, dtype=DOUBLE)).requires_grad_()


def _reductions(case: Case) -> list[str]:
    """ "none" and "sum", and the case's own reduction ("mean" by default)."""
    if "avg_factor" in case.tensors:
        return ["mean"]
    return list(dict.fromkeys(["none", "sum", case.options.get("reduction", "mean")]))


# Second derivatives ----------------------------------------------------------------------


@pytest.mark.parametrize(("case", "backend"), CASE_BACKENDS)
def test_gradgradcheck(case: Case, backend: str) -> None:
    target, required = case.target(), _required(case)
    extra = {name: make() for name, make in case.tensors.items() if not _is_required(case, name)}
    for reduction in _reductions(case):
        options = {**required, **extra, "reduction": reduction}
        if reduction != "mean":
            options.pop("avg_factor", None)
        x = _logits(case)
        # fast mode: a random projection of the Jacobian (tests/test_naive_derivatives.py)
        assert torch.autograd.gradgradcheck(
            lambda x, options=options: _call(case, backend, x, target, **options),
            (x,),
            fast_mode=True,
        )


@pytest.mark.parametrize(("case", "backend"), CASE_BACKENDS)
def test_second_derivative_through_a_producer(case: Case, backend: str) -> None:
    """d/dw of dL/dw with logits 3 tanh(w x0): the issue's reproduction, for every loss."""
    target, required = case.target(), _required(case)
    x0 = torch.randn(*case.shape, dtype=DOUBLE)
    probe = torch.randn(*case.shape, dtype=DOUBLE)

    def first(w: torch.Tensor, chosen: str) -> torch.Tensor:
        loss = _call(case, chosen, 3 * torch.tanh(w * x0), target, **required)
        (grad,) = torch.autograd.grad(loss, w, create_graph=True)
        return grad

    w = torch.full(case.shape, 0.7, dtype=DOUBLE, requires_grad=True)
    (second,) = torch.autograd.grad((first(w, backend) * probe).sum(), w)
    assert torch.isfinite(second).all()
    # Central differences of the first derivative (each call's own gradient, not autograd's
    # second pass) in the direction of each element.
    step = 1e-6
    expected = torch.empty_like(second)
    for i in range(w.numel()):
        offset = torch.zeros(w.numel(), dtype=DOUBLE)
        offset[i] = step
        offset = offset.reshape(case.shape)
        plus = first((w + offset).detach().requires_grad_(), backend).detach()
        minus = first((w - offset).detach().requires_grad_(), backend).detach()
        expected.reshape(-1)[i] = ((plus - minus) * probe).sum() / (2 * step)
    torch.testing.assert_close(second, expected, rtol=1e-5, atol=1e-7)
    # And the same number from the naive backend (autograd all the way).
    w_naive = w.detach().clone().requires_grad_()
    (naive_second,) = torch.autograd.grad((first(w_naive, "naive") * probe).sum(), w_naive)
    torch.testing.assert_close(second, naive_second, rtol=1e-10, atol=1e-12)


# Gradients to the other arguments --------------------------------------------------------


def _differentiable_arguments(case: Case) -> list[str]:
    names = list(case.tensors)
    return [*names, "target"] if case.soft_target else names


ARGUMENT_CASES = [
    pytest.param(case, backend, name, id=f"{case.id}-{backend}-{name}")
    for case in CASES
    for backend in _backends(case)
    for name in _differentiable_arguments(case)
]


@pytest.mark.parametrize(("case", "backend", "name"), ARGUMENT_CASES)
def test_gradcheck_every_argument(case: Case, backend: str, name: str) -> None:
    """Gradients to the input and to one other argument, against finite differences."""
    target, required = case.target(), _required(case)
    value = target if name == "target" else case.tensors[name]()
    value = value.detach().clone().requires_grad_()
    for reduction in _reductions(case):

        def loss(x: torch.Tensor, value: torch.Tensor, reduction: str = reduction) -> Any:
            if name == "target":
                return _call(case, backend, x, value, **required, reduction=reduction)
            options = {**required, name: value}
            if name != "avg_factor":
                options["reduction"] = reduction
            return _call(case, backend, x, target, **options)

        assert torch.autograd.gradcheck(loss, (_logits(case), value))


@pytest.mark.parametrize(("case", "backend", "name"), ARGUMENT_CASES)
def test_only_the_argument_requires_grad(case: Case, backend: str, name: str) -> None:
    """backward() when the input needs no gradient (it once crashed the fused Function)."""
    target, required = case.target(), _required(case)
    value = target if name == "target" else case.tensors[name]()
    value = value.detach().clone().requires_grad_()
    x = _logits(case).detach()
    if name == "target":
        loss = _call(case, backend, x, value, **required)
    else:
        loss = _call(case, backend, x, target, **{**required, name: value})
    loss.backward()
    assert value.grad is not None
    assert torch.isfinite(value.grad).all()
    assert value.grad.abs().sum() > 0


@pytest.mark.parametrize("backend", ["naive", "fused", "compiled"])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_gamma_zero_sigmoid_gradients_equal_torch(backend: str, reduction: str) -> None:
    """Soft-target gradients of BCE, as torch computes them (torch refuses gradients to
    weight and pos_weight; test_gradcheck_every_argument checks ours)."""
    x = torch.randn(N, C, dtype=DOUBLE)
    made = {"target": _soft(N, C), "weight": _positive(N, C)(), "pos_weight": _positive(C)()}
    ours = {k: v.clone().requires_grad_(k == "target") for k, v in made.items()}
    theirs = {k: v.clone().requires_grad_(k == "target") for k, v in made.items()}
    x_ours, x_theirs = x.clone().requires_grad_(), x.clone().requires_grad_()
    mine = torchfocal.sigmoid_focal_loss(
        x_ours,
        ours["target"],
        alpha=None,
        gamma=0.0,
        weight=ours["weight"],
        pos_weight=ours["pos_weight"],
        reduction=reduction,
        backend=backend,
    )
    torch_loss = F.binary_cross_entropy_with_logits(
        x_theirs,
        theirs["target"],
        weight=theirs["weight"],
        pos_weight=theirs["pos_weight"],
        reduction=reduction,
    )
    upstream = torch.randn_like(torch_loss)
    (mine * upstream).sum().backward()
    (torch_loss * upstream).sum().backward()
    torch.testing.assert_close(mine, torch_loss, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(x_ours.grad, x_theirs.grad, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(ours["target"].grad, theirs["target"].grad, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("backend", ["naive", "fused", "compiled"])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("target_kind", ["probabilities", "indices"])
def test_gamma_zero_softmax_gradients_equal_cross_entropy(
    backend: str, reduction: str, target_kind: str
) -> None:
    """Probability-target and class-weight gradients of F.cross_entropy (the weighted mean
    divides by the summed weights of the targets, which depends on the weights too)."""
    x = torch.randn(5, C, dtype=DOUBLE)
    target = _probabilities(5, C) if target_kind == "probabilities" else _indices(5, C)
    weight = _positive(C)()
    # torch differentiates the class weights only for probability targets (nll_loss refuses
    # them); test_gradcheck_every_argument checks ours for index targets.
    weight_grad = target_kind == "probabilities"
    leaves = [x.clone().requires_grad_(), weight.clone().requires_grad_(weight_grad)]
    torch_leaves = [x.clone().requires_grad_(), weight.clone().requires_grad_(weight_grad)]
    target_ours, target_theirs = target, target
    if target_kind == "probabilities":
        target_ours, target_theirs = (
            target.clone().requires_grad_(),
            target.clone().requires_grad_(),
        )
        leaves.append(target_ours)
        torch_leaves.append(target_theirs)
    mine = torchfocal.softmax_focal_loss(
        leaves[0],
        target_ours,
        gamma=0.0,
        weight=leaves[1],
        label_smoothing=0.1,
        reduction=reduction,
        backend=backend,
    )
    theirs = F.cross_entropy(
        torch_leaves[0],
        target_theirs,
        weight=torch_leaves[1],
        label_smoothing=0.1,
        reduction=reduction,
    )
    upstream = torch.randn_like(theirs)
    (mine * upstream).sum().backward()
    (theirs * upstream).sum().backward()
    torch.testing.assert_close(mine, theirs, rtol=1e-12, atol=1e-12)
    for ours_leaf, their_leaf in zip(leaves, torch_leaves, strict=True):
        if their_leaf.requires_grad:
            torch.testing.assert_close(ours_leaf.grad, their_leaf.grad, rtol=1e-12, atol=1e-12)


# The fast path ----------------------------------------------------------------------------


def _grad_fn_name(loss: torch.Tensor) -> str:
    assert loss.grad_fn is not None
    return loss.grad_fn.name()


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_fused_keeps_its_single_pass_function(case: Case) -> None:
    """Only the input requires grad: the fused backend's own Function runs; when another
    argument requires grad, the naive form does (and so a different graph)."""
    target, required = case.target(), _required(case)
    if "avg_factor" not in case.tensors:  # class_balanced_loss divides its "mean" outside
        required["reduction"] = "none"
    x = _logits(case)
    assert _grad_fn_name(_call(case, "fused", x, target, **required)) == "FusedLossBackward"
    with torch.no_grad():
        assert _call(case, "fused", x, target, **required).grad_fn is None
    if not _differentiable_arguments(case):
        return
    name = _differentiable_arguments(case)[0]
    value = target if name == "target" else case.tensors[name]()
    value = value.detach().clone().requires_grad_()
    if name == "target":
        loss = _call(case, "fused", x, value, **required)
    else:
        loss = _call(case, "fused", x, target, **{**required, name: value})
    assert _grad_fn_name(loss) != "FusedLossBackward"


def test_hessian_vector_product_matches_naive() -> None:
    """torch.autograd.functional.hvp (create_graph inside) through the fused backend."""
    x = torch.randn(6, 5, dtype=DOUBLE)
    target = _soft(6, 5)
    vector = torch.randn(6, 5, dtype=DOUBLE)
    results = {
        backend: torch.autograd.functional.hvp(
            lambda x, backend=backend: torchfocal.sigmoid_focal_loss(
                x, target, gamma=2.0, backend=backend
            ),
            x,
            vector,
        )[1]
        for backend in ("naive", "fused")
    }
    torch.testing.assert_close(results["fused"], results["naive"], rtol=1e-10, atol=1e-12)
    assert results["fused"].abs().sum() > 0


def test_half_precision_second_derivative_is_finite() -> None:
    """create_graph with a bfloat16 input: the naive form runs in float32 and casts back."""
    x = torch.randn(4, 3).bfloat16().requires_grad_()
    target = (torch.rand(4, 3) < 0.5).float()
    (grad,) = torch.autograd.grad(
        torchfocal.sigmoid_focal_loss(x, target, backend="fused"), x, create_graph=True
    )
    (second,) = torch.autograd.grad(grad.float().sum(), x)
    assert grad.dtype == torch.bfloat16 and second.dtype == torch.bfloat16
    assert torch.isfinite(second).all()
