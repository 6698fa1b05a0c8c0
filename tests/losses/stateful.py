"""Inputs and checks that the stateful long-tail losses' test modules share: Seesaw
(test_seesaw.py) and EQLv2 (test_equalization.py).

Logits and class labels on (9, C) inputs, long-tailed counts and EQLv2 statistics, each
loss called with them, the loss and its input gradient, training steps, and the checks
both modules run on their own loss and module.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch

import torchfocal
from conftest import tolerance

BACKENDS = ["naive", "fused"]
TIGHT = tolerance(torch.float64)
C = 5
#: Long-tailed counts, with a class never seen (0, which counts as 1).
COUNTS = torch.tensor([4000, 300, 25, 2, 0])


def random_logits(shape: tuple[int, ...] = (9, C), scale: float = 2.5) -> torch.Tensor:
    return torch.randn(shape, dtype=torch.float64) * scale


def class_labels(
    shape: tuple[int, ...] = (9,), high: int = C, ignored: bool = True
) -> torch.Tensor:
    """Class indices in [0, high) covering every class, with one ignored location."""
    labels = torch.randint(0, high, shape)
    labels.view(-1)[:high] = torch.arange(high)
    if ignored:
        labels.view(-1)[-1] = -100
    return labels


def upstream_for(reduction: str, loss_shape: tuple[int, ...]) -> torch.Tensor | None:
    return torch.randn(loss_shape, dtype=torch.float64) if reduction == "none" else None


def value_and_grad(
    fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    leaf = x.detach().clone().requires_grad_(True)
    value = fn(leaf)
    (grad,) = torch.autograd.grad(value.sum(), leaf)
    return value.detach(), grad


#: Statistics with a frequent class, rare ones, one whose negatives had no gradient and one
#: with no statistics (weights 1).
POS_GRAD = torch.tensor([900.0, 3.0, 0.0, 40.0, 0.0], dtype=torch.float64)
NEG_GRAD = torch.tensor([1000.0, 300.0, 50.0, 0.0, 0.0], dtype=torch.float64)


def eqlv2_labels(rows: int = 9) -> torch.Tensor:
    """Class indices in [0, C], background (C) included."""
    return class_labels((rows,), high=C + 1, ignored=False)


def seesaw_with_counts(x: torch.Tensor, labels: torch.Tensor, **options: Any) -> torch.Tensor:
    return torchfocal.seesaw_loss(x, labels, class_counts=COUNTS, **options)


def eqlv2_with_statistics(x: torch.Tensor, labels: torch.Tensor, **options: Any) -> torch.Tensor:
    return torchfocal.equalization_loss_v2(
        x, labels, pos_grad=POS_GRAD, neg_grad=NEG_GRAD, **options
    )


def training_steps(count: int, rows: int, high: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return [
        (random_logits((rows, C)), class_labels((rows,), high=high, ignored=high == C))
        for _ in range(count)
    ]


# -- checks that both losses' modules run on their own loss ---------------------------------


def check_triton_backend_equals_fused(
    function: Callable[..., torch.Tensor], labels: Callable[[], torch.Tensor]
) -> None:
    pytest.importorskip("triton")
    x, target = random_logits().float(), labels()
    expected = value_and_grad(lambda z: function(z, target, backend="fused"), x)
    got = value_and_grad(lambda z: function(z, target, backend="triton"), x)
    torch.testing.assert_close(got[0], expected[0], **tolerance(torch.float32))
    torch.testing.assert_close(got[1], expected[1], **tolerance(torch.float32))


def check_dtypes_return_their_own_and_match_float64(
    function: Callable[..., torch.Tensor], labels: Callable[[], torch.Tensor], dtype: torch.dtype
) -> None:
    x, target = random_logits(scale=1.5), labels()
    low = x.to(dtype)
    value, grad = value_and_grad(lambda z: function(z, target), low)
    assert value.dtype == dtype and grad.dtype == dtype
    # The input itself is rounded to the dtype: compare with the float64 loss of that input.
    expected = value_and_grad(lambda z: function(z, target), low.double())
    torch.testing.assert_close(value.double(), expected[0], **tolerance(dtype))
    torch.testing.assert_close(grad.double(), expected[1], **tolerance(dtype))


def check_function_runs_on_meta(
    name: str, statistics: dict[str, Any], backend: str, reduction: str
) -> None:
    """The function ``name`` with its class ``statistics`` (meta tensors) on meta inputs."""
    x = torch.empty(9, C, device="meta", requires_grad=True)
    target = torch.empty(9, dtype=torch.long, device="meta")
    value = getattr(torchfocal, name)(x, target, reduction=reduction, backend=backend, **statistics)
    assert value.device.type == "meta" and value.dtype == x.dtype
    value.backward(torch.empty(value.shape, device="meta"))
    assert x.grad is not None and x.grad.shape == x.shape and x.grad.device.type == "meta"


def check_gradcheck(
    cases: list[tuple[Callable[[torch.Tensor], torch.Tensor], torch.Tensor]],
) -> None:
    """gradcheck and gradgradcheck of each (function, point)."""
    for function, point in cases:
        leaf = point.clone().requires_grad_(True)
        assert torch.autograd.gradcheck(function, (leaf,), fast_mode=True)
        assert torch.autograd.gradgradcheck(function, (leaf,), fast_mode=True)


def check_state_dict_round_trip_restores_the_state(name: str, high: int) -> None:
    """The module ``name``'s state after two training steps (labels below ``high``) is
    its state_dict, which a fresh module loads to give the same loss."""
    module = getattr(torchfocal, name)(C)
    for x, labels in training_steps(2, 8, high):
        module(x, labels)
    state = module.state_dict()
    assert sorted(state) == sorted(dict(module.named_buffers()))
    restored = getattr(torchfocal, name)(C)
    restored.load_state_dict(state)
    for key, value in state.items():
        assert torch.equal(restored.state_dict()[key], value)
    x, labels = training_steps(1, 8, high)[0]
    torch.testing.assert_close(restored(x, labels), module(x, labels), rtol=0, atol=0)


def check_module_runs_on_meta(name: str) -> None:
    module = getattr(torchfocal, name)(C).to("meta")
    x = torch.empty(6, C, device="meta", requires_grad=True)
    value = module(x, torch.empty(6, dtype=torch.long, device="meta"))
    value.backward()
    assert x.grad is not None and x.grad.device.type == "meta"


def check_a_training_step_reads_no_value_on_the_host(name: str, ignored: bool) -> None:
    """As on a GPU (under the no_host_reads fixture): checks as device-side asserts, and any
    host read of a value raises."""
    module = getattr(torchfocal, name)(C)
    x, labels = random_logits().requires_grad_(True), class_labels(ignored=ignored)
    module(x, labels).backward()
    assert x.grad is not None


def check_module_refuses_another_number_of_classes(name: str, message: str) -> None:
    """A (N, 1) input would otherwise broadcast its one count onto every class. Without the
    class dimension the loss's own check speaks (``message``)."""
    module = getattr(torchfocal, name)(3)
    for width in (1, 4):
        with pytest.raises(
            ValueError,
            match=rf"input must have num_classes=3 classes along dimension 1; got {width} "
            rf"\(shape \(2, {width}\)\)",
        ):
            module(torch.zeros(2, width), torch.zeros(2, dtype=torch.long))
    assert not any(buffer.any() for buffer in module.buffers())  # nothing counted
    with pytest.raises(ValueError, match=message):
        module(torch.zeros(3), torch.zeros(3, dtype=torch.long))
