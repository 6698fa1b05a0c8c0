"""Inputs and checks that the long-tail softmax losses' test modules share: the
logit-adjusted cross-entropy (test_logit_adjustment.py) and LDAM (test_ldam.py).

Logits, class-index and probability targets on (6, C) inputs, long-tailed class counts,
the class statistics each loss takes, the loss and its input gradient, and the checks
both modules run on their own loss.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch

import torchfocal
from conftest import check_against_reference, run_loss, tolerance
from torchfocal._engine import compiled

C = 4
COUNTS = [200.0, 40.0, 8.0, 1.0]
TIGHT = tolerance(torch.float64)
BACKENDS = ["naive", "fused"]


def random_logits(shape: tuple[int, ...] = (6, C), scale: float = 2.0) -> torch.Tensor:
    return torch.randn(shape, dtype=torch.float64) * scale


def index_target(shape: tuple[int, ...] = (6,), ignored: bool = True) -> torch.Tensor:
    index = torch.randint(0, C, shape)
    if ignored:
        index.view(-1)[1] = -100
    return index


def probability_target(shape: tuple[int, ...] = (6, C), class_dim: int = 1) -> torch.Tensor:
    return torch.softmax(torch.randn(shape, dtype=torch.float64), dim=class_dim)


def class_weights() -> torch.Tensor:
    return torch.tensor([0.5, 1.0, 2.0, 1.5], dtype=torch.float64)


#: The option that holds each loss's class statistics.
STATISTICS = {"logit_adjusted_cross_entropy": "prior", "ldam_loss": "class_counts"}


def class_statistics(loss: str) -> dict[str, Any]:
    """The class statistics each loss needs, as a tensor."""
    return {STATISTICS[loss]: torch.tensor(COUNTS, dtype=torch.float64)}


def value_and_grad(
    fn: Any, x: torch.Tensor, grad_output: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    leaf = x.detach().clone().requires_grad_(True)
    value = fn(leaf)
    (grad,) = torch.autograd.grad(value, leaf, grad_output)
    return value.detach(), grad


def case_for(loss: str) -> tuple[torch.Tensor, torch.Tensor, dict[str, Any]]:
    x = torch.rand(5, C, dtype=torch.float64) * 2 - 1
    options = {**class_statistics(loss), "weight": class_weights()}
    return x, index_target((5,)), options


def call_loss(loss: str, **options: Any) -> torch.Tensor:
    x, target = random_logits(), index_target()
    statistics = {**class_statistics(loss), **options}
    return getattr(torchfocal, loss)(x, target, **statistics)  # type: ignore[no-any-return]


# -- checks that both losses' modules run on their own loss ---------------------------------


def check_spatial_inputs_and_class_dim(loss: str, backend: str) -> None:
    """(N, C, d) with class_dim 1 and (N, d, C) with class_dim -1; an ignore_index that is a
    class (1) leaves that class's targets out, margins included."""
    x = random_logits((3, C, 5))
    target = index_target((3, 5), ignored=False)
    options = {**class_statistics(loss), "weight": class_weights(), "ignore_index": 1}
    check_against_reference(loss, backend, x, target, **options)
    check_against_reference(loss, backend, x.movedim(1, -1), target, class_dim=-1, **options)


def check_compiled_and_triton_backends_equal_naive(loss: str) -> None:
    """One case each (compiling is slow; Triton runs through its interpreter on the CPU)."""
    x, target, options = case_for(loss)
    function = getattr(torchfocal, loss)
    expected = value_and_grad(lambda x: function(x, target, backend="naive", **options), x)
    got = value_and_grad(lambda x: function(x, target, backend="compiled", **options), x)
    torch.testing.assert_close(got, expected, **TIGHT)
    assert compiled._unavailable == []  # the compiled program really ran
    pytest.importorskip("triton")
    got = value_and_grad(lambda x: function(x, target, backend="triton", **options), x)
    torch.testing.assert_close(got, expected, **tolerance(torch.float32))


def check_module_equals_function_and_keeps_its_buffers(
    loss: str, module: torch.nn.Module, buffers: dict[str, torch.Tensor]
) -> None:
    """``module`` (made with reduction="sum") is the function, and its state_dict holds
    ``buffers`` (in float64 after .double())."""
    x, target, options = case_for(loss)
    function = getattr(torchfocal, loss)
    expected = value_and_grad(lambda x: function(x, target, reduction="sum", **options), x)
    module = module.double()
    state = module.state_dict()
    assert list(state) == list(buffers)
    for name, value in buffers.items():
        assert torch.equal(state[name], value.double())
    got = value_and_grad(lambda x: module(x, target), x)
    torch.testing.assert_close(got, expected, **TIGHT)


def check_dtypes_match_reference(loss: str, backend: str, dtype: torch.dtype) -> None:
    """Half types computed in float32 and returned in their own dtype (as is the gradient)."""
    x = (torch.rand(6, C) * 2 - 1).to(dtype)
    options = {**class_statistics(loss), "weight": class_weights().float()}
    if loss == "ldam_loss":
        options["scale"] = 5.0
    target = index_target()
    value, grad = run_loss(loss, backend, x, target, **options)
    assert value.dtype == dtype and grad.dtype == dtype
    check_against_reference(loss, backend, x, target, **options)


def check_no_host_reads(loss: str) -> None:
    """As on a GPU: the checks are device-side asserts and nothing reads a tensor's value
    (under the no_host_reads fixture)."""
    x, target, options = case_for(loss)
    value, grad = value_and_grad(lambda x: getattr(torchfocal, loss)(x, target, **options), x)
    assert value.shape == () and grad.shape == x.shape


def check_gradcheck_and_gradgradcheck(loss: str, backend: str) -> None:
    x = (torch.rand(3, C, dtype=torch.float64) * 2 - 1).requires_grad_(True)
    target = torch.tensor([0, 3, -100])
    options = {**class_statistics(loss), "weight": class_weights()}
    if loss == "ldam_loss":
        options["scale"] = 3.0

    def fn(x: torch.Tensor) -> torch.Tensor:
        return getattr(torchfocal, loss)(x, target, backend=backend, **options)

    assert torch.autograd.gradcheck(fn, (x,))
    assert torch.autograd.gradgradcheck(fn, (x,))


#: Bad values of a loss's class statistics (the prior, the class counts): (value, error,
#: message after "<name> must ").
BAD_STATISTICS = [
    (
        [10.0, 0.0, 5.0, 1.0],
        ValueError,
        r"must be finite and > 0 for every class; got 0.0 for class 1",
    ),
    ([10.0, 5.0, -1.0, 1.0], ValueError, r"got -1.0 for class 2"),
    ([10.0, math.inf, 5.0, 1.0], ValueError, r"got inf for class 1"),
    ([math.nan, 5.0, 5.0, 1.0], ValueError, r"got nan for class 0"),
    (
        [10.0, 5.0, 1.0],
        ValueError,
        r"must have one value per class \(4 along class_dim=1\); got 3 values",
    ),
    (
        [[10.0, 5.0, 1.0, 1.0]],
        ValueError,
        r"must hold one value per class \(a non-empty 1-D sequence\); got shape \(1, 4\)",
    ),
    ([], ValueError, r"got shape \(0,\)"),
    (5.0, ValueError, r"got shape \(\)"),
    ("abcd", TypeError, r"must be a tensor or a sequence of positive numbers; got str"),
    (torch.ones(C, dtype=torch.bool), TypeError, r"got a tensor of torch.bool"),
    (torch.ones(C, dtype=torch.complex64), TypeError, r"got a tensor of torch.complex64"),
    (torch.ones(C, device="meta"), ValueError, r"must be on the input's device cpu; got meta"),
]


def check_bad_class_statistics(loss: str, value: Any, error: type, message: str) -> None:
    name = STATISTICS[loss]
    with pytest.raises(error, match=rf"^{name} must ") as raised:
        call_loss(loss, **{name: value})
    raised.match(message)
