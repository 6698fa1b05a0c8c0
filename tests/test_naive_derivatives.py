"""Derivatives of the naive backend: every loss, under plain autograd, in float64.

DESIGN.md 3: second and higher derivatives are exact for every backend, and the naive
backend never yields NaN there for hard targets. The fused backends take their second
derivatives and their gradients to targets, weights, alpha and pos_weight by
differentiating the naive forms, so those forms must be smooth: finite, exact first
derivatives in the logits, the target (soft targets, the exact values 0 and 1 included),
alpha, weight and pos_weight, and finite, exact second derivatives in the logits (mixed
with the target where it is soft), for every gamma >= 0 (gamma < 1 and 0 included).

The second derivatives are checked by gradgradcheck's fast mode (PyTorch's own OpInfo
tests use it for their slow operators): finite differences of a random projection of the
Jacobian, u^T J v, against autograd's, instead of every column of it. A wrong entry
changes that projection unless u or v is orthogonal to it (probability 0). The full
check took 5.6 to 8.4 times the CPU time of the fast one (gradgradcheck in the logits of
the sigmoid focal, softmax focal and asymmetric losses, one run each on the shared 2-core
machine).

The losses, their option sets (each entry's ``gradient_variants``: every focusing regime),
targets and differentiable tensor arguments come from the registry (tests/registry_cases.py):
each loss in the float target forms it differentiates, hard (exact 0s and 1s, one-hot rows,
whole labels) and soft, or in its plain target form where it has none.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch

import torchfocal
from registry_cases import Case, N, float_cases
from registry_cases import logits as _logits

F64 = torch.float64


def _class_values() -> torch.Tensor:
    return torch.tensor([0.2, 0.5, 0.9], dtype=F64)


def _pos_weight() -> torch.Tensor:
    return torch.tensor([0.5, 1.0, 3.0], dtype=F64)


class Loss:
    """A registry case run with backend="naive", reduction="none", and fresh values of
    the tensor arguments it differentiates (made once per test)."""

    def __init__(self, case: Case) -> None:
        self.case = case
        self.tensors = {name: case.tensor(name) for name in case.arguments}
        self.tensors.pop("avg_factor", None)  # "mean" only

    def __call__(self, x: torch.Tensor, target: torch.Tensor, **tensors: Any) -> torch.Tensor:
        return self.case(x, target, "naive", reduction=self.reduction, **self.tensors | tensors)

    @property
    def reduction(self) -> str:
        reductions = self.case.sample.reductions
        return "none" if "none" in reductions else reductions[0]

    def hard_target(self) -> torch.Tensor:
        return self.case.target("hard")

    def soft_target(self) -> torch.Tensor | None:
        return self.case.target("soft") if self.case.target_grad else None


CASES = {case.id: case for case in float_cases()}
LOSSES = list(CASES)
SOFT = [name for name, case in CASES.items() if case.target_grad]


def _loss(name: str) -> Loss:
    return Loss(CASES[name])


def _no_nan_in_second_derivatives(loss: Loss, x: torch.Tensor, target: torch.Tensor) -> None:
    x = x.clone().requires_grad_(True)
    tensors = {name: value.to(x.dtype) for name, value in loss.tensors.items()}
    (grad,) = torch.autograd.grad(loss(x, target, **tensors).sum(), x, create_graph=True)
    (second,) = torch.autograd.grad((grad * torch.randn_like(grad)).sum(), x)
    assert torch.isfinite(grad).all() and torch.isfinite(second).all()


def _skip(name: str) -> Any:
    reason = CASES[name].info.inexact_gradient
    return [pytest.mark.skip(reason=reason)] if reason else []


@pytest.mark.parametrize(
    ("name", "kind"), [(name, "hard") for name in LOSSES] + [(name, "soft") for name in SOFT]
)
def test_gradgradcheck_in_the_logits(name: str, kind: str) -> None:
    loss = _loss(name)
    target = loss.hard_target() if kind == "hard" else loss.soft_target()
    assert target is not None
    x = _logits()
    _no_nan_in_second_derivatives(loss, x, target)
    if loss.case.info.inexact_gradient:  # finite, but no derivative of the loss
        return
    assert torch.autograd.gradgradcheck(
        lambda z: loss(z, target), (x.requires_grad_(True),), fast_mode=True
    )


CONFIDENT = [[20.0, -40.0, 0.5], [-20.0, 40.0, -0.5], [100.0, -1e3, 1e4], [-100.0, 1e3, -1e4]]


@pytest.mark.parametrize("dtype", [torch.float32, F64], ids=str)
@pytest.mark.parametrize(
    ("name", "kind"), [(name, "hard") for name in LOSSES] + [(name, "soft") for name in SOFT]
)
def test_confident_logits_keep_second_derivatives_finite(
    name: str, kind: str, dtype: torch.dtype
) -> None:
    """Logits from +-20 to +-1e4 (p_t near 0 and 1, gamma < 1 included), past exp's range in
    float32 (89), where a logaddexp's second derivative, for one, is NaN."""
    loss = _loss(name)
    target = loss.hard_target() if kind == "hard" else loss.soft_target()
    assert target is not None
    if target.is_floating_point():
        target = target.to(dtype)
    x = torch.tensor(CONFIDENT, dtype=dtype)
    _no_nan_in_second_derivatives(loss, x, target)


@pytest.mark.parametrize("name", [pytest.param(name, marks=_skip(name)) for name in SOFT])
def test_gradgradcheck_in_logits_and_soft_targets(name: str) -> None:
    """Second derivatives in (x, target) together, mixed ones included, at interior targets."""
    loss = _loss(name)
    target = loss.soft_target()
    assert target is not None
    inputs = (_logits().requires_grad_(True), target.requires_grad_(True))
    assert torch.autograd.gradcheck(loss, inputs)
    assert torch.autograd.gradgradcheck(loss, inputs, fast_mode=True)


@pytest.mark.parametrize("name", [pytest.param(name, marks=_skip(name)) for name in LOSSES])
def test_gradcheck_in_every_tensor_argument(name: str) -> None:
    """First derivatives in x, the target where it is a float, and alpha / weight /
    pos_weight, at hard targets (exact 0s and 1s)."""
    loss = _loss(name)
    target = loss.hard_target()
    names = list(loss.tensors)
    tensors = [loss.tensors[key].requires_grad_(True) for key in names]
    inputs: list[torch.Tensor] = [_logits().requires_grad_(True)]
    if target.is_floating_point():
        inputs.append(target.requires_grad_(True))
    inputs += tensors

    def evaluate(*args: torch.Tensor) -> torch.Tensor:
        y = args[1] if target.is_floating_point() else target
        rest = args[2:] if target.is_floating_point() else args[1:]
        return loss(args[0], y, **dict(zip(names, rest, strict=True)))

    # Finite differences in a hard target leave [0, 1] (a ValueError): check the other
    # arguments by gradcheck and the target below, one-sided.
    masks = [not (target.is_floating_point() and i == 1) for i in range(len(inputs))]
    for i, tensor in enumerate(inputs):
        tensor.requires_grad_(masks[i])
    # fast mode, as gradgradcheck's: u^T J v for random u, v
    assert torch.autograd.gradcheck(evaluate, tuple(inputs), fast_mode=True)


def _one_sided(
    f: Callable[[torch.Tensor], torch.Tensor], y: torch.Tensor, direction: torch.Tensor
) -> torch.Tensor:
    """d f(y + h direction)/dh at h = 0+, by the fourth-order one-sided stencil."""
    h = 1e-4
    weights = (-25.0, 48.0, -36.0, 16.0, -3.0)
    return sum(c * f(y + k * h * direction) for k, c in enumerate(weights)) / (12 * h)


@pytest.mark.parametrize("name", [n for n in SOFT if CASES[n].form != "label"])
def test_target_derivative_at_0_and_1_is_the_one_sided_limit(name: str) -> None:
    """d loss / d target at targets exactly 0 and 1 (inward finite differences)."""
    loss = _loss(name)
    # Moderate logits: for gamma < 1 the loss's higher derivatives in the target grow like
    # q^(gamma - 5), which a finite-difference stencil must not meet at a tiny q.
    x = _logits(scale=1.5)
    target = loss.hard_target().requires_grad_(True)
    value = loss(x, target)
    (grad,) = torch.autograd.grad(value.sum(), target)
    assert torch.isfinite(grad).all()
    with torch.no_grad():
        for index in range(target.numel()):
            direction = torch.zeros_like(target)
            inward = 1.0 if target.view(-1)[index] == 0 else -1.0
            direction.view(-1)[index] = inward
            expected = _one_sided(lambda y: loss(x, y).sum(), target.detach(), direction)
            if loss.case.sample.negative_at_zero and inward > 0:
                # q = 0 is the negative branch, constant in q (the loss jumps to the positive
                # branch for q > 0): its derivative is 0.
                expected = torch.zeros((), dtype=F64)
            actual = inward * grad.view(-1)[index]
            torch.testing.assert_close(actual, expected, rtol=1e-6, atol=1e-8)


def test_distribution_label_derivative_at_the_end_bins() -> None:
    """DFL labels exactly 0 and n: the one-sided derivative from inside [0, n]."""
    weight = torch.linspace(0.5, 1.5, N, dtype=F64)

    def loss(x: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        return torchfocal.distribution_focal_loss(
            x, label, weight=weight, backend="naive", reduction="none"
        )

    x = _logits(scale=1.5)
    label = torch.tensor([0.0, 2.0, 0.0, 2.0], dtype=F64, requires_grad=True)
    (grad,) = torch.autograd.grad(loss(x, label).sum(), label)
    inward = torch.tensor([1.0, -1.0, 1.0, -1.0], dtype=F64)
    with torch.no_grad():
        expected = _one_sided(lambda y: loss(x, y), label.detach(), inward)
    torch.testing.assert_close(inward * grad, expected, rtol=1e-6, atol=1e-8)


def test_issue_reproduction_second_derivative_is_finite_and_exact() -> None:
    """The reproduction of issue 11: hard float targets, logits 3 tanh(w x0)."""
    w = torch.ones(4, 3, dtype=F64, requires_grad=True)
    x0 = torch.randn(4, 3, dtype=F64)
    y = (torch.rand(4, 3) < 0.5).double()

    def first(weights: torch.Tensor) -> torch.Tensor:
        value = torchfocal.sigmoid_focal_loss(3 * torch.tanh(weights * x0), y, backend="naive")
        (grad,) = torch.autograd.grad(value, weights, create_graph=True)
        return grad

    g = first(w)
    (second,) = torch.autograd.grad(g.sum(), w)
    assert torch.isfinite(second).all()
    h = 1e-6
    expected = torch.zeros_like(second)
    for index in range(w.numel()):
        step = torch.zeros_like(w)
        step.view(-1)[index] = h
        up = first((w + step).detach().requires_grad_(True)).sum()
        down = first((w - step).detach().requires_grad_(True)).sum()
        expected.view(-1)[index] = (up - down) / (2 * h)
    torch.testing.assert_close(second, expected, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("gamma", [0.0, 0.3, 1.0, 2.5])
@pytest.mark.parametrize("form", ["focal", "poly1"])
def test_sigmoid_forms_are_smooth_through_hard_targets(form: str, gamma: float) -> None:
    """The naive sigmoid math (no validation in the way, so finite differences may step past
    0 and 1) at targets exactly 0, 1/2 and 1 and in between: gradgradcheck in x, y, alpha
    and pos_weight together, the mixed x / y derivatives at hard targets included. The
    formula continues analytically past [0, 1], so two-sided differences are exact there."""
    from torchfocal.losses import poly1, sigmoid_focal

    y = torch.tensor(
        [[0.0, 1.0, 0.5], [0.2, 0.0, 1.0], [1.0, 0.7, 0.0], [0.0, 0.5, 1.0]], dtype=F64
    )
    inputs = (
        _logits().requires_grad_(True),
        y.requires_grad_(True),
        _class_values().requires_grad_(True),
        _pos_weight().requires_grad_(True),
    )

    def evaluate(
        x: torch.Tensor, target: torch.Tensor, alpha: torch.Tensor, pos_weight: torch.Tensor
    ) -> torch.Tensor:
        if form == "poly1":
            return poly1.poly1_sigmoid_naive(
                x, target, epsilon=1.5, gamma=gamma, alpha=alpha, weight=pos_weight
            )
        return sigmoid_focal.naive_elementwise(
            x, target, alpha=alpha, gamma=gamma, weight=None, pos_weight=pos_weight
        )

    assert torch.autograd.gradcheck(evaluate, inputs)
    assert torch.autograd.gradgradcheck(evaluate, inputs, fast_mode=True)
