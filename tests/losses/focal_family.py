"""Inputs and checks that the focal family's test modules share: FL*, asymmetric, Poly-1,
varifocal, quality and distribution focal losses, and the sigmoid and softmax focal losses'
sample-dependent gamma.

Logits and targets on (6, C) inputs, IoU-aware scores, the loss and its input gradient,
and the checks that several of those modules run on their own loss (odd shapes, gamma
schedules).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from conftest import check_against_reference

BACKENDS = ["naive", "fused"]
SIGMOID_FORMS = ["soft", "mask", "index"]
C = 4


def random_logits(shape: tuple[int, ...] = (6, C), scale: float = 3.0) -> torch.Tensor:
    return torch.randn(shape, dtype=torch.float64) * scale


def sigmoid_target(form: str, shape: tuple[int, ...] = (6, C)) -> torch.Tensor:
    if form == "soft":
        return torch.rand(shape, dtype=torch.float64)
    if form == "mask":
        return torch.rand(shape) < 0.3
    # class indices with background (C) and ignored (-100) locations
    index = torch.randint(0, C + 1, shape[:1] + shape[2:])
    index[0] = -100
    return index


def upstream_for(reduction: str, like: torch.Tensor) -> torch.Tensor | None:
    return torch.randn_like(like) if reduction == "none" else None


def iou_scores(shape: tuple[int, ...] = (6, C)) -> torch.Tensor:
    """IoU-aware scores: mostly 0 (negatives), some in (0, 1], one exactly 1."""
    score = torch.rand(shape, dtype=torch.float64) * (torch.rand(shape) < 0.4)
    score.view(-1)[0] = 1.0
    return score


def softmax_target(form: str, shape: tuple[int, ...], class_dim: int) -> torch.Tensor:
    num_classes = shape[class_dim]
    if form == "probabilities":
        return torch.softmax(torch.randn(shape, dtype=torch.float64), dim=class_dim)
    index_shape = shape[:class_dim] + shape[class_dim + 1 :]
    index = torch.randint(0, num_classes, index_shape)
    if form == "index+ignore":
        index.view(-1)[0] = -100
    return index


def probs_or_index(form: str, shape: tuple[int, ...], class_dim: int = 1) -> torch.Tensor:
    if form == "probs":
        return torch.softmax(torch.randn(shape, dtype=torch.float64) * 2, dim=class_dim)
    index_shape = shape[:class_dim] + shape[class_dim + 1 :]
    target = torch.randint(0, shape[class_dim], index_shape)
    if form == "index_ignore":
        target[torch.rand(index_shape) < 0.3] = -100
    return target


def decreasing_gamma(p: Any) -> Any:
    """A smooth schedule written with operators only, so it runs on tensors and arrays."""
    return 1.0 + 4.0 * (1.0 - p) ** 2


def loss_and_grad(
    fn: Any, x: torch.Tensor, *args: Any, **kwargs: Any
) -> tuple[torch.Tensor, torch.Tensor]:
    x = x.detach().clone().requires_grad_(True)
    value = fn(x, *args, **kwargs)
    (grad,) = torch.autograd.grad(value.sum(), x)
    return value.detach(), grad


def assert_same(
    first: tuple[torch.Tensor, torch.Tensor], second: tuple[torch.Tensor, torch.Tensor]
) -> None:
    torch.testing.assert_close(first[0], second[0], rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(first[1], second[1], rtol=1e-12, atol=1e-12)


# -- checks that several losses' modules run on their own loss ------------------------------


def assert_flsd53_per_element(
    fn: Callable[..., torch.Tensor],
    backend: str,
    x: torch.Tensor,
    target: torch.Tensor,
    low: torch.Tensor,
    low_grad: torch.Tensor,
) -> None:
    """``fn`` with gamma="flsd53" is, elementwise, ``fn`` with gamma 5 where ``low``
    (p_t < 0.2), else 3, in value and in gradient (``low_grad``: ``low`` in the
    gradient's shape)."""
    schedule = loss_and_grad(fn, x, target, gamma="flsd53", reduction="none", backend=backend)
    five = loss_and_grad(fn, x, target, gamma=5.0, reduction="none")
    three = loss_and_grad(fn, x, target, gamma=3.0, reduction="none")
    assert 0 < int(low.sum()) < low.numel()  # both branches are exercised
    torch.testing.assert_close(schedule[0], torch.where(low, five[0], three[0]))
    torch.testing.assert_close(schedule[1], torch.where(low_grad, five[1], three[1]))


def check_constant_callable_gamma(fn: Callable[..., torch.Tensor]) -> None:
    """A callable gamma that returns a constant (a tensor of it or a float) is that gamma."""
    x, target = random_logits(), torch.randint(0, C, (6,))
    assert_same(
        loss_and_grad(fn, x, target, gamma=lambda p: torch.full_like(p, 1.5)),
        loss_and_grad(fn, x, target, gamma=1.5),
    )
    assert_same(
        loss_and_grad(fn, x, target, gamma=lambda p: 1.5),
        loss_and_grad(fn, x, target, gamma=1.5),
    )


#: A 0-d and a 1-D input of independent logits, and (B, anchors, C).
SIGMOID_ODD_SHAPES = [(), (7,), (2, 3, C)]


def check_sigmoid_form_on_odd_shape(name: str, backend: str, shape: tuple[int, ...]) -> None:
    """A 0-d or 1-D input of independent logits, and (B, anchors, C) with class_dim=-1 and
    index targets (C = background, -100 ignored)."""
    x = random_logits(shape)
    if len(shape) == 3:
        target = torch.randint(0, C + 1, shape[:2])
        target[0, 0] = -100
        check_against_reference(name, backend, x, target, class_dim=-1, reduction="positives")
    else:
        target = torch.rand(shape, dtype=torch.float64)
        check_against_reference(name, backend, x, target, reduction="mean")


#: A 0-d and a 1-D input, and (N, C, H, W).
SCORE_ODD_SHAPES = [(), (7,), (2, 3, 4, 5)]


def check_score_loss_on_odd_shape(name: str, backend: str, shape: tuple[int, ...]) -> None:
    x = random_logits(shape)
    score = torch.rand(shape, dtype=torch.float64) * (torch.rand(shape) < 0.5)
    check_against_reference(name, backend, x, score, upstream_for("none", x), reduction="none")


# -- the error tests' inputs -----------------------------------------------------------------

X = torch.randn(4, 5)
MASK = torch.rand(4, 5) < 0.5
SCORE = torch.rand(4, 5)
INDEX = torch.tensor([0, 2, 4, 1])
