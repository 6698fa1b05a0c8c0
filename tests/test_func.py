"""torch.func over every public loss: per-sample gradients (vmap of grad) and jacrev.

The losses are those of :mod:`torchfocal.functional`; each one's required arguments beyond
input and target are C per-class values, and its target is the first form it takes (class
indices, scores of the input's shape, or continuous bin labels). The reference is a Python
loop of plain autograd over the samples, and ``torch.autograd.functional.jacobian``.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from torch.func import grad, jacrev, vmap

import torchfocal
from conftest import tolerance
from torchfocal.registry import LOSSES as REGISTERED

N, C = 4, 3
TIGHT = tolerance(torch.float64)
BACKENDS = ["naive", "fused", "compiled"]

LOSSES = [info.name for info in REGISTERED]


def _per_class_arguments(name: str) -> dict[str, torch.Tensor]:
    """The required arguments beyond input and target: C positive per-class values
    (class weights, counts, a prior, gradient statistics)."""
    parameters = inspect.signature(getattr(torchfocal.functional, name)).parameters
    return {
        key: torch.tensor([3.0, 2.0, 1.0], dtype=torch.float64)
        for key, parameter in parameters.items()
        if parameter.default is inspect.Parameter.empty and key not in ("input", "target")
    }


def _case(name: str) -> tuple[Callable[..., torch.Tensor], torch.Tensor, torch.Tensor]:
    """(loss(x, target, **options), logits (N, C), the first target form the loss takes)."""
    function = getattr(torchfocal.functional, name)
    extra = _per_class_arguments(name)

    def loss(x: torch.Tensor, target: torch.Tensor, **options: Any) -> torch.Tensor:
        return function(x, target, **extra, **options)

    x = 2.0 * torch.randn(N, C, dtype=torch.float64)
    forms = [
        torch.randint(0, C, (N,)),
        torch.rand(N, C, dtype=torch.float64) * (torch.rand(N, C) < 0.5),
        torch.rand(N, dtype=torch.float64) * (C - 1),
        (torch.rand(N, C) < 0.5).double(),
    ]
    for target in forms:
        try:
            loss(x, target, backend="naive")
        except (TypeError, ValueError):
            continue
        return loss, x, target
    raise AssertionError(f"no target form fits {name}")


#: The losses that docs/getting-started.md says raise a ValueError under a transform.
_SENTENCE = re.search(
    r"The Lovasz losses\s+\(([^)]*)\) raise a `ValueError`",
    (Path(__file__).parents[1] / "docs" / "getting-started.md").read_text(),
)
assert _SENTENCE is not None, "docs/getting-started.md lists the losses without torch.func"
UNSUPPORTED = re.findall(r"`(\w+)`", _SENTENCE.group(1))
SUPPORTED = [name for name in LOSSES if name not in UNSUPPORTED]


def _looped(loss: Callable[..., torch.Tensor], x: torch.Tensor, target: torch.Tensor) -> Any:
    """Per-sample gradients from a Python loop of plain autograd (naive backend)."""
    grads = []
    for i in range(N):
        row = x[i : i + 1].clone().requires_grad_(True)
        value = loss(row, target[i : i + 1], backend="naive", reduction="sum")
        grads.append(torch.autograd.grad(value, row)[0][0])
    return torch.stack(grads)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", SUPPORTED)
def test_per_sample_gradients_by_vmap_of_grad(name: str, backend: str) -> None:
    loss, x, target = _case(name)

    def sample_loss(row: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        return loss(row[None], label[None], backend=backend, reduction="sum")

    torch.testing.assert_close(vmap(grad(sample_loss))(x, target), _looped(loss, x, target))
    # The target held fixed (not vmapped): the fused backends keep their autograd Function.
    same = target[:1].expand(N, *target.shape[1:])
    got = vmap(grad(lambda row: sample_loss(row, target[0])))(x)
    torch.testing.assert_close(got, _looped(loss, x, same), **TIGHT)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", SUPPORTED)
def test_jacrev_equals_the_autograd_jacobian(name: str, backend: str) -> None:
    loss, x, target = _case(name)
    # A loss with no reduction="none" (dice_ce_loss, dice_focal_loss): the jacobian of its sum.
    try:
        loss(x, target, backend="naive", reduction="none")
        reduction = "none"
    except ValueError:
        reduction = "sum"

    def elements(inputs: torch.Tensor, backend: str = backend) -> torch.Tensor:
        return loss(inputs, target, backend=backend, reduction=reduction)

    # The naive backend's autograd as the reference: the compiled one would compile here.
    expected = torch.autograd.functional.jacobian(lambda i: elements(i, "naive"), x)
    torch.testing.assert_close(jacrev(elements)(x), expected, **TIGHT)


@pytest.mark.parametrize("name", SUPPORTED)
def test_triton_under_a_transform_is_a_clear_error(name: str) -> None:
    loss, x, target = _case(name)
    with pytest.raises(ValueError, match=r"backend must be 'auto', 'naive', 'fused' or 'compiled'"):
        grad(lambda row: loss(row, target, backend="triton", reduction="sum"))(x)


@pytest.mark.parametrize("name", UNSUPPORTED)
def test_the_losses_without_torch_func_say_so(name: str) -> None:
    assert name in LOSSES
    loss, x, target = _case(name)

    def sample_loss(row: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        return loss(row[None], label[None], reduction="sum")

    with pytest.raises(ValueError, match=r"does not support torch\.func transforms"):
        vmap(grad(sample_loss))(x, target)
    with pytest.raises(ValueError, match=r"does not support torch\.func transforms"):
        jacrev(lambda inputs: loss(inputs, target, reduction="sum"))(x)


@pytest.mark.parametrize("name", [info.module for info in REGISTERED if info.state])
def test_stateful_modules_refuse_a_training_step_under_vmap(name: str) -> None:
    """The state is added to in place, which vmap cannot do; eval mode works."""
    module = getattr(torchfocal, name)(C)
    x, target = torch.randn(N, C), torch.randint(0, C, (N,))

    def sample_loss(row: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        return module(row[None], label[None])

    with pytest.raises(ValueError, match=rf"{name} must be in eval mode under torch.func"):
        vmap(grad(sample_loss))(x, target)
    module.eval()
    expected = torch.stack(
        [
            torch.autograd.grad(module(row[None], label[None]), row)[0]
            for row, label in zip(x.clone().requires_grad_(True), target, strict=True)
        ]
    )
    torch.testing.assert_close(vmap(grad(sample_loss))(x, target), expected)
