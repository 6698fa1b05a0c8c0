"""The compiled engine: the fused math of both losses through ``torch.compile``.

Inductor turns the dozen elementwise steps of a fused kernel into one loop (C++ on the
CPU, Triton on a GPU), so nothing but the loss and the saved gradient is written to
memory. Each function is compiled once per process with dynamic shapes and reused for
every shape. Where compiling fails (no C++ compiler, an unsupported platform), the first
failure is reported with one warning and the caller falls back to the eager fused
kernels for the rest of the process.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from . import _blocks
from . import sigmoid as _sigmoid
from . import softmax as _softmax
from ._blocks import Gamma

_cache: dict[str, Callable[..., Any]] = {}
_unavailable: list[str] = []


def _scaled(
    loss: Tensor, grad: Tensor | None, divisor: float | Tensor | None
) -> tuple[Tensor, Tensor | None]:
    inverse = _blocks.reciprocal(divisor)
    if inverse is None:
        return loss, grad
    return loss.sum() * inverse, None if grad is None else grad * inverse


def _sigmoid_math(
    x: Tensor,
    y: Tensor,
    alpha: Any,
    gamma: Gamma,
    weight: Tensor | None,
    pos_weight: Tensor | None,
    divisor: float | Tensor | None,
    need_grad: bool,
) -> tuple[Tensor, Tensor | None]:
    loss, grad = _sigmoid.fused_elementwise(
        x,
        y,
        alpha=alpha,
        gamma=gamma,
        weight=weight,
        pos_weight=pos_weight,
        need_grad=need_grad,
        detect_binary=False,
    )
    return _scaled(loss, grad, divisor)


def _softmax_math(
    x: Tensor,
    target: Tensor,
    valid: Tensor | None,
    class_factor: Any,
    gamma: Gamma,
    dim: int,
    dense: bool,
    divisor: float | Tensor | None,
    need_grad: bool,
) -> tuple[Tensor, Tensor | None]:
    if dense:
        loss, grad = _softmax.fused_dense(
            x, target, class_factor=class_factor, gamma=gamma, dim=dim, need_grad=need_grad
        )
    else:
        loss, grad = _softmax.fused_index(
            x,
            target,
            valid,
            class_factor=class_factor,
            gamma=gamma,
            dim=dim,
            need_grad=need_grad,
        )
    return _scaled(loss, grad, divisor)


def _run(name: str, math: Callable[..., Any], *args: Any) -> tuple[Tensor, Tensor | None] | None:
    """The compiled function's result, or None once compiling has failed in this process."""
    if _unavailable:
        return None
    if name not in _cache:
        _cache[name] = torch.compile(math, dynamic=True)
    try:
        result: tuple[Tensor, Tensor | None] = _cache[name](*args)
    except Exception as error:  # any compiler failure: report once, then run eagerly
        _unavailable.append(f"{type(error).__name__}: {error}")
        warnings.warn(
            f"backend='compiled' is unavailable here ({type(error).__name__}: "
            f"{str(error).splitlines()[0] if str(error) else ''}); using backend='fused' "
            "for the rest of this process",
            RuntimeWarning,
            stacklevel=4,
        )
        return None
    return result


def sigmoid(*args: Any) -> tuple[Tensor, Tensor | None] | None:
    return _run("sigmoid", _sigmoid_math, *args)


def softmax(*args: Any) -> tuple[Tensor, Tensor | None] | None:
    return _run("softmax", _softmax_math, *args)
