"""Autograd beyond dloss/dinput, for every loss and backend (DESIGN.md section 3).

- second derivatives (create_graph=True): gradgradcheck in float64, and through a nonlinear
  producer of the logits (the fused backends once saved dloss/dx as a constant, so the
  second derivative silently lost its d2loss/dx2 term);
- gradients to every other tensor argument (soft targets, weight, alpha, pos_weight, a
  tensor avg_factor, class-balanced weights): gradcheck in float64, and equal to torch's
  own losses where the focal loss reduces to them (gamma = 0);
- the fast path stays the fast path: only when more than dloss/dinput is asked for does a
  fused backend leave its single-pass Function.

The losses, their target forms, the tensor arguments that take a gradient and the option
sets come from the registry (tests/registry_cases.py): every loss on every backend but the
Triton one (whose gradients beyond dloss/dinput are the naive form's, as the fused
backend's: tests/test_triton_family.py checks that they are), in every target form of its
samples and in each of the entry's ``gradient_variants`` (not their product).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
import torch.nn.functional as F

import torchfocal
from registry_cases import SHAPE, Case, cases, logits, reductions, variants

DOUBLE = torch.float64
#: The shape of the tests below the registry's cases (which take the registry's sample).
N, C = 3, 4


def _soft(*shape: int) -> torch.Tensor:
    """Soft targets inside (0, 1), away from the ends (gradcheck perturbs them)."""
    return torch.rand(*shape, dtype=DOUBLE) * 0.8 + 0.1


def _probabilities(*shape: int) -> torch.Tensor:
    return torch.softmax(torch.randn(*shape, dtype=DOUBLE), dim=1)


def _indices(n: int, classes: int) -> torch.Tensor:
    return torch.randint(0, classes, (n,))


def _positive(*shape: int) -> Callable[[], torch.Tensor]:
    return lambda: torch.rand(*shape, dtype=DOUBLE) + 0.5


CASES = cases()


def _first(case: Case) -> bool:
    """The sample's first form with the entry's first variant."""
    return case.form == case.sample.forms[0] and case.variant == variants(case.info)[0]


def _rows(backends: tuple[str, ...]) -> list[tuple[Case, str, str]]:
    """(case, backend, id) for every case on each of ``backends``; "compiled" runs each
    sample's first case only (each reduction and option set is a program of its own to
    compile); "triton" never: its gradients beyond dloss/dinput are the naive form's
    (tests/test_triton_family.py)."""
    return [
        (case, backend, f"{case.id}-{backend}")
        for case in CASES
        for backend in backends
        if backend in case.info.backends and (backend != "compiled" or _first(case))
    ]


def _second(case: Case, backend: str, id: str) -> Any:
    """A parameter set of gradgradcheck, skipped where the entry says why."""
    reason = case.info.inexact_gradient
    marks = [pytest.mark.skip(reason=reason)] if reason else []
    return pytest.param(case, backend, id=id, marks=marks)


#: gradgradcheck: the naive form, and the fused and compiled ones, whose saved dloss/dx is
#: a constant the second derivative must not take for the truth.
SECOND_CASES = [_second(*row) for row in _rows(("naive", "fused", "compiled"))]
#: The producer test runs the naive backend beside the one it tests.
PRODUCER_CASES = [pytest.param(case, b, id=i) for case, b, i in _rows(("fused", "compiled"))]


def _logits() -> torch.Tensor:
    return logits().requires_grad_()


def _with_divisor(case: Case, reduction: str, options: dict[str, Any]) -> dict[str, Any]:
    """``options`` with ``reduction``, and a tensor avg_factor where it takes one ("mean")."""
    options = {**options, "reduction": reduction}
    if reduction == "mean" and "avg_factor" in case.arguments:
        options["avg_factor"] = case.tensor("avg_factor")
    return options


# Second derivatives ----------------------------------------------------------------------


def _compiled_reduction(case: Case) -> str:
    """The one reduction the compiled backend's second derivatives are checked under (each
    reduction is a program of its own to compile): "mean" where the loss has it."""
    chosen = reductions(case)
    return "mean" if "mean" in chosen else chosen[-1]


@pytest.mark.parametrize(("case", "backend"), SECOND_CASES)
def test_gradgradcheck(case: Case, backend: str) -> None:
    target, tensors = case.target(), case.tensors()
    chosen = [_compiled_reduction(case)] if backend == "compiled" else reductions(case)
    for reduction in chosen:
        options = _with_divisor(case, reduction, tensors)
        x = _logits()
        # fast mode: a random projection of the Jacobian (tests/test_naive_derivatives.py)
        assert torch.autograd.gradgradcheck(
            lambda x, options=options: case(x, target, backend, **options),
            (x,),
            fast_mode=True,
        )


@pytest.mark.parametrize(("case", "backend"), PRODUCER_CASES)
def test_second_derivative_through_a_producer(case: Case, backend: str) -> None:
    """d/dw of dL/dw with logits 3 tanh(w x0): the issue's reproduction, for every loss
    (against finite differences where the entry does not say why not), with
    test_gradgradcheck's options and compiled reduction (its compiled program, then, is
    the one that test compiled)."""
    target = case.target()
    options = _with_divisor(case, _compiled_reduction(case), case.tensors())
    x0 = torch.randn(SHAPE, dtype=DOUBLE)
    probe = torch.randn(SHAPE, dtype=DOUBLE)

    def first(w: torch.Tensor, chosen: str) -> torch.Tensor:
        loss = case(3 * torch.tanh(w * x0), target, chosen, **options)
        (grad,) = torch.autograd.grad(loss, w, create_graph=True)
        return grad

    w = torch.full(x0.shape, 0.7, dtype=DOUBLE, requires_grad=True)
    (second,) = torch.autograd.grad((first(w, backend) * probe).sum(), w)
    assert torch.isfinite(second).all()
    # Central differences of the first derivative (each call's own gradient, not autograd's
    # second pass) in the direction of each element.
    step = 1e-6
    expected = torch.empty_like(second)
    for i in range(0 if case.info.inexact_gradient else w.numel()):
        offset = torch.zeros(w.numel(), dtype=DOUBLE)
        offset[i] = step
        offset = offset.reshape(x0.shape)
        plus = first((w + offset).detach().requires_grad_(), backend).detach()
        minus = first((w - offset).detach().requires_grad_(), backend).detach()
        expected.reshape(-1)[i] = ((plus - minus) * probe).sum() / (2 * step)
    if not case.info.inexact_gradient:
        torch.testing.assert_close(second, expected, rtol=1e-5, atol=1e-7)
    # And the same number from the naive backend (autograd all the way).
    w_naive = w.detach().clone().requires_grad_()
    (naive_second,) = torch.autograd.grad((first(w_naive, "naive") * probe).sum(), w_naive)
    torch.testing.assert_close(second, naive_second, rtol=1e-10, atol=1e-12)


# Gradients to the other arguments --------------------------------------------------------


def _differentiable_arguments(case: Case) -> list[str]:
    return [*case.arguments, "target"] if case.target_grad else case.arguments


#: Where another argument requires grad, every backend runs the naive form (the fused one
#: checks that it leaves its Function, test_fused_keeps_its_single_pass_function): the
#: fused backend's route there is the compiled one's too.
ARGUMENT_CASES = [
    pytest.param(case, backend, name, id=f"{case_id}-{name}")
    for case, backend, case_id in _rows(("naive", "fused"))
    for name in _differentiable_arguments(case)
]


def _value(case: Case, name: str, target: torch.Tensor) -> torch.Tensor:
    value = target if name == "target" else case.tensor(name)
    return value.detach().clone().requires_grad_()


def _argument_reductions(case: Case, name: str) -> list[str]:
    """The reductions a gradient to ``name`` is checked under: avg_factor divides the "mean"
    alone; the "positives" normaliser is the detached positive target mass
    (torchfocal._engine.reduction: a constant of the gradient, as mmdetection's num_pos), so
    the target's gradient under it is not the derivative of the loss."""
    if name == "avg_factor":
        return ["mean"]
    return [r for r in reductions(case) if not (name == "target" and r == "positives")]


@pytest.mark.parametrize(("case", "backend", "name"), ARGUMENT_CASES)
def test_gradcheck_every_argument(case: Case, backend: str, name: str) -> None:
    """Gradients to the input and to one other argument, against finite differences."""
    target = case.target()
    value = _value(case, name, target)
    for reduction in _argument_reductions(case, name):

        def loss(x: torch.Tensor, value: torch.Tensor, reduction: str = reduction) -> Any:
            if name == "target":
                return case(x, value, backend, reduction=reduction)
            return case(x, target, backend, **{name: value, "reduction": reduction})

        # fast mode, as gradgradcheck's above: u^T J v for random u, v
        # (the input's gradient is checked too, where it is the derivative of the loss)
        x = _logits().requires_grad_(not case.info.inexact_gradient)
        assert torch.autograd.gradcheck(loss, (x, value), fast_mode=True)


@pytest.mark.parametrize(("case", "backend", "name"), ARGUMENT_CASES)
def test_only_the_argument_requires_grad(case: Case, backend: str, name: str) -> None:
    """backward() when the input needs no gradient (it once crashed the fused Function)."""
    target = case.target()
    value = _value(case, name, target)
    x = _logits().detach()
    if name == "target":
        loss = case(x, value, backend)
    else:
        loss = case(x, target, backend, **{name: value})
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


def _runs_the_fused_function(loss: torch.Tensor) -> bool:
    """Whether the fused backend's Function is in ``loss``'s graph (at its root, or under a
    reduction or a sum of two losses, as Dice + focal)."""
    seen, stack = set(), [loss.grad_fn]
    while stack:
        node = stack.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        if node.name() == "FusedLossBackward":
            return True
        stack.extend(next_node for next_node, _ in node.next_functions)
    return False


@pytest.mark.parametrize("case", [pytest.param(case, id=case.id) for case in CASES])
def test_fused_keeps_its_single_pass_function(case: Case) -> None:
    """Only the input requires grad: the fused backend's own Function runs; when another
    argument requires grad, the naive form does (and so a different graph)."""
    target = case.target()
    # a reduced loss: the region losses keep "none" on their naive form (its entries' weights)
    reduction = "mean" if "mean" in case.sample.reductions else case.sample.reductions[0]
    x = _logits()
    assert _runs_the_fused_function(case(x, target, "fused", reduction=reduction))
    with torch.no_grad():
        assert case(x, target, "fused", reduction=reduction).grad_fn is None
    if not _differentiable_arguments(case):
        return
    name = _differentiable_arguments(case)[0]
    value = _value(case, name, target)
    if name == "target":
        loss = case(x, value, "fused", reduction=reduction)
    else:
        loss = case(x, target, "fused", **{name: value, "reduction": reduction})
    assert not _runs_the_fused_function(loss)


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
