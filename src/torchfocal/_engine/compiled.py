"""The compiled engine: every loss's fused kernel through ``torch.compile``.

Inductor turns the dozen elementwise steps of a fused kernel into one loop (C++ on the
CPU, Triton on a GPU), so nothing but the loss and the saved gradient is written to
memory.

What compiles, and when. A *case* is what changes the compiled program itself. Each case
is compiled once, on its first call, into a program that serves every later call of that
case, and has a dynamo cache of its own (a private copy of the math's code object), so
that one case's programs never count against another case's recompile limit. A case is:

- the kernel (which loss), and whether the gradient is wanted (it is an output);
- the device, the compute dtype (float32 or float64: half inputs arrive as float32) and
  the number of dimensions of the input;
- the target's form: a bool mask, float targets known to be 0 or 1, or soft ones
  (elementwise losses); class indices with or without ignored locations, or a dense
  distribution, and the class dimension (per-location losses);
- each optional operand (``alpha``, ``weight``, ``pos_weight``, a per-element gamma):
  absent, a number, or a tensor of a given rank and broadcast pattern (which of its
  dimensions have size 1 where the input's do not);
- ``reduction="none"``, or a reduced loss (``"mean"``, ``"sum"`` and ``"positives"``
  share one program);
- the operands that are Python numbers or flags of the loss's options (clip, beta,
  epsilon, ...), except those the loss names as traced (alpha and gamma of the focal
  losses): those are inputs of the program, but their values 0, 1 and 2 are each a case of
  their own, the kernels' special forms (no modulator, q, q * q instead of exp(gamma log
  q)), which are both faster and, for gamma 0 in the softmax, exact where 1 - p rounds to
  0 (exp(0 * log 0) would be NaN).

Everything else is an input of the program, not a constant of it: every size of every
dimension from the first call on (ordinary dynamic sizes: no guard at 4,096 elements,
since the loss is summed in float64); ``requires_grad`` (tensors are detached first); the
values of the traced numbers but 0, 1 and 2, and of the divisor (passed as 0-d tensors).
torch specialises a dimension of size 1: a call with one (batch size 1, one class) adds a
program of its own, once per case. And torch assumes that dimensions of equal size in a
case's first call are equal by nature (its "duck sizing", which lets Inductor index the
input and the target alike): the first call where they differ (a first batch of 80 with
80 classes) adds one program too. A size-1 dimension that an operand shares with the
input is read as the case already compiled for it reads it; before any, as a full
dimension of ``weight`` and a broadcast one of the per-class operands. (Unbacked sizes,
which torch never specialises, or no duck sizing, would spare those programs, but made
Inductor's CPU loops about twice as slow at 1e7 logits.) An empty input runs on the eager
kernels (there is nothing to compute).

Within a case torch also recompiles for a change of ``torch.get_num_threads()`` (dynamo
guards on it; Inductor writes the thread count into its C++ loops) and for a new memory
layout of an input (a channels-last or transposed view): each such program is kept, and
counts against that case's recompile limit.
A case that reaches torch's recompile limit (``torch._dynamo.config.recompile_limit``) is
not left to run eagerly in silence: one ``RuntimeWarning`` names it, and from then on it
runs on the eager fused kernels. Where compiling fails altogether (no C++ compiler, an
unsupported platform), the first failure is reported with one warning and the caller falls
back to the eager fused kernels for the rest of the process.

Inside a user's own ``torch.compile`` the math is traced inline, into the user's graph.
"""

from __future__ import annotations

import os
import sys
import types
import warnings
from collections.abc import Callable, Hashable, Mapping
from typing import Any, NamedTuple

import torch
from torch import Tensor

from .numerics import Kernel, is_compiling, is_transformed
from .reduction import Divisor, accumulation_dtype, reciprocal, scaled_result, scaled_sum

Result = tuple[Tensor, Tensor | None]

#: A broadcast pattern's letters, one per dimension of an operand: the input's size
#: (``n``), size 1 against a larger input dimension (``1``), or size 1 against size 1
#: (``?``: either, decided by :func:`_resolve`).
_FULL, _BROADCAST, _EITHER = "n", "1", "?"


class _Kind(NamedTuple):
    """A tensor argument's part of a case."""

    dtype: torch.dtype
    ndim: int
    pattern: str


class _Case(NamedTuple):
    #: The loss module of the kernel (its name in messages).
    loss: str
    need_grad: bool
    device: torch.device
    input: _Kind
    #: (name, its _Kind) for each tensor operand.
    operands: tuple[tuple[str, Hashable], ...]
    #: The rest: the kernel, reduced or not, the class dim, the operands that are numbers,
    #: flags or None.
    constants: tuple[Hashable, ...]


#: Compiled functions by case.
_compiled: dict[_Case, Callable[..., Result]] = {}
#: Cases that reached torch's recompile limit: they run on the eager fused kernels.
_eager_cases: set[_Case] = set()
#: The first compiler failure of this process (compiling is then off).
_unavailable: list[str] = []


def _inverse(divisor: Divisor, like: Tensor) -> Tensor | None:
    """1 / divisor as a 0-d tensor of the accumulation dtype (the number
    :func:`~torchfocal._engine.reduction.reciprocal` gives), an input of the program."""
    inverse = reciprocal(divisor, like.device)
    if inverse is None or isinstance(inverse, Tensor):
        return inverse
    return torch.full((), inverse, dtype=accumulation_dtype(like.device), device=like.device)


def _kind(value: Tensor, x: Tensor, like_x: bool) -> _Kind:
    """A tensor's kind; operands line up with x's trailing dimensions.

    ``like_x`` marks a tensor that always has x's size where it is not 1 (the target, a
    per-element gamma): its size-1 dimensions against x's size-1 ones are x's own.
    """
    lead = x.dim() - value.dim()
    letters = []
    for position, size in enumerate(value.shape):
        if size != 1:
            letters.append(_FULL)
        elif x.shape[lead + position] != 1:
            letters.append(_BROADCAST)
        else:
            letters.append(_FULL if like_x else _EITHER)
    return _Kind(value.dtype, value.dim(), "".join(letters))


def _describe(name: str, value: Any, x: Tensor, like_x: tuple[str, ...]) -> tuple[str, Hashable]:
    if isinstance(value, Tensor):
        return name, _kind(value, x, name in like_x)
    return name, value


def _fits(item: Hashable, known: Hashable) -> bool:
    """An operand of a new call fits one of a known case (``?`` reads as either)."""
    if not (isinstance(item, _Kind) and isinstance(known, _Kind)):
        return item == known
    return (
        item.dtype == known.dtype
        and item.ndim == known.ndim
        and all(
            a == b or (a == _EITHER and b != _EITHER)
            for a, b in zip(item.pattern, known.pattern, strict=True)
        )
    )


def _resolve(case: _Case, full_first: tuple[str, ...] = ()) -> _Case:
    """The case with each ``?`` decided: a known case it fits, else a default.

    A dimension of size 1 in both x and an operand reads correctly either way (full at
    batch size 1, or broadcast), so the case already compiled takes it (torch adds a
    program for the size 1 within that case, counted against its limit). With none,
    the operands named in ``full_first`` (an element weight: its size-1 dimensions at batch
    size 1 are batch dimensions) read it as full, the others (per-class values) as
    broadcast.
    """
    if case in _compiled or case in _eager_cases:
        return case
    for known in (*_compiled, *_eager_cases):
        if (
            case[:4] == known[:4]
            and case.constants == known.constants
            and len(case.operands) == len(known.operands)
            and all(
                name == known_name and _fits(item, known_item)
                for (name, item), (known_name, known_item) in zip(
                    case.operands, known.operands, strict=True
                )
            )
        ):
            return known
    operands = tuple(
        (
            name,
            item._replace(
                pattern=item.pattern.replace(_EITHER, _FULL if name in full_first else _BROADCAST)
            ),
        )
        if isinstance(item, _Kind)
        else (name, item)
        for name, item in case.operands
    )
    return case._replace(operands=operands)


def _view(value: Any) -> Any:
    """A detached view of a tensor argument: a fresh tensor object, requires_grad False."""
    return value.detach() if isinstance(value, Tensor) else value


#: Numbers the kernels compute in a form of their own (gamma 0: no modulator; 1 and 2: q and
#: q * q instead of exp(gamma log q)); a traced number with one of these values is a
#: constant of its own program, any other an input of one shared program.
_SPECIAL_VALUES = (0.0, 1.0, 2.0)


def _traced(value: Any, like: Tensor) -> Any:
    """A traced number as a 0-d tensor input, unless it is special (or not a number)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return value
    if value in _SPECIAL_VALUES:
        return float(value)
    return torch.full((), value, dtype=like.dtype, device=like.device)


def _program(
    kernel: Kernel, names: tuple[str, ...], statics: tuple[tuple[str, Any], ...], dim: int | None
) -> Callable[..., Result]:
    """The function a case compiles: the kernel on the whole tensor, then the reduction."""
    extra = dict(statics) if dim is None else {**dict(statics), "dim": dim}

    def program(x: Tensor, inverse: Tensor | None, need_grad: bool, *values: Any) -> Result:
        operands = dict(zip(names, values, strict=True))
        if dim is None:
            loss, grad = kernel(x, **operands, **extra, need_grad=need_grad)
            return scaled_result(loss, grad, inverse)
        # A per-location kernel scales its own gradient (runners.Kernel).
        loss, grad = kernel(x, **operands, **extra, need_grad=need_grad, grad_scale=inverse)
        return (loss if inverse is None else scaled_sum(loss, inverse)), grad

    return program


def _fresh(math: Callable[..., Result], name: str) -> Callable[..., Result]:
    """``torch.compile`` of a private copy of ``math``'s code object.

    Dynamo keeps its programs, and counts them against the recompile limit, per code
    object; a copy per case keeps the cases apart. ``fullgraph=True`` turns reaching the
    limit into an error (where dynamo would otherwise run the function eagerly, silently).
    """
    code = math.__code__.replace(co_name=name)
    copy = types.FunctionType(code, math.__globals__, name, math.__defaults__, math.__closure__)
    return torch.compile(copy, dynamic=True, fullgraph=True)


def _is_recompile_limit(error: BaseException) -> bool:
    limit_error = getattr(torch._dynamo.exc, "FailOnRecompileLimitHit", None)
    if limit_error is not None and isinstance(error, limit_error):
        return True
    text = str(error)  # older torch: Unsupported("cache_size_limit reached")
    return "recompile_limit" in text or "cache_size_limit" in text


def _recompile_limit() -> object:
    config = torch._dynamo.config
    return getattr(config, "recompile_limit", getattr(config, "cache_size_limit", "?"))


def _name(case: _Case) -> str:
    dtype = str(case.input.dtype).replace("torch.", "")
    grad = "with" if case.need_grad else "without"
    return (
        f"{case.loss.replace('_', ' ')} loss of a {case.input.ndim}-D {dtype} input on "
        f"{case.device.type}, {grad} gradient"
    )


def _stacklevel() -> int:
    """``warnings.warn``'s stacklevel, from ``_run``, of the first frame outside torchfocal
    and torch: the user's line, however many wrappers (modules, autograd) lie between."""
    # With a trailing separator: torch's folder is not a prefix of torchvision's.
    inside = tuple(
        os.path.dirname(path) + os.sep for path in (os.path.dirname(__file__), torch.__file__)
    )
    frame = sys._getframe(2)  # _run's caller: stacklevel 2
    level = 2
    while frame.f_back is not None and frame.f_code.co_filename.startswith(inside):
        frame = frame.f_back
        level += 1
    return level


def _run(program: Callable[..., Result], case: _Case, args: tuple[Any, ...]) -> Result | None:
    """The compiled result for ``case``, or None: the caller then runs the eager kernels."""
    function = _compiled.get(case)
    if function is None:
        function = _compiled[case] = _fresh(program, f"{case.constants[0]}_case{len(_compiled)}")
    try:
        return function(*args)
    except Exception as error:  # any compiler failure: report once, then run eagerly
        if _is_recompile_limit(error):
            _eager_cases.add(case)
            warnings.warn(
                f"backend='compiled': torch.compile reached its recompile limit "
                f"(torch._dynamo.config.recompile_limit = {_recompile_limit()}) for the "
                f"{_name(case)}; that case runs on backend='fused' from now on "
                "(TORCH_LOGS=recompiles shows what changed between its calls)",
                RuntimeWarning,
                stacklevel=_stacklevel(),
            )
            return None
        _unavailable.append(f"{type(error).__name__}: {error}")
        warnings.warn(
            f"backend='compiled' is unavailable here ({type(error).__name__}: "
            f"{str(error).splitlines()[0] if str(error) else ''}); using backend='fused' "
            "for the rest of this process",
            RuntimeWarning,
            stacklevel=_stacklevel(),
        )
        return None


def run(
    kernel: Kernel,
    x: Tensor,
    operands: Mapping[str, Any],
    *,
    dim: int | None,
    divisor: Divisor,
    need_grad: bool,
    like_input: tuple[str, ...] = (),
    traced: tuple[str, ...] = (),
    full_first: tuple[str, ...] = (),
) -> Result | None:
    """``kernel(x, **operands, [dim,] need_grad)`` reduced by ``divisor``, compiled for its
    case; None where the eager runners must run instead (an empty input, inside the user's
    own torch.compile, under a torch.func transform, where compiling is unavailable, or a
    case past the recompile limit).

    Tensor operands and the numbers named in ``traced`` (:func:`_traced`) are inputs of the
    program; every other operand (None, a flag, a number) is a constant of its case.
    ``like_input`` names the operands of x's own shape and ``full_first`` those read as full
    where a size-1 dimension is ambiguous (see :func:`_resolve`).
    """
    # A torch.func transform's wrapped tensor cannot enter a compiled program; the eager
    # runner computes the same fused form.
    if is_compiling() or is_transformed(x) or _unavailable or x.numel() == 0:
        return None
    inputs: dict[str, Any] = {}
    statics: list[tuple[str, Any]] = []
    for name, value in operands.items():
        value = _traced(value, x) if name in traced else value
        if isinstance(value, Tensor):
            inputs[name] = value
        else:
            statics.append((name, value))
    described = tuple(_describe(name, value, x, like_input) for name, value in inputs.items())
    case = _resolve(
        _Case(
            kernel.__module__.rsplit(".", 1)[-1],
            need_grad,
            x.device,
            _kind(x, x, True),
            described,
            (kernel.__name__, divisor is None, dim, tuple(statics)),
        ),
        full_first=full_first,
    )
    if case in _eager_cases:
        return None
    program = _program(kernel, tuple(inputs), tuple(statics), dim)
    args = (_view(x), _inverse(divisor, x), need_grad, *map(_view, inputs.values()))
    return _run(program, case, args)


def _reset() -> None:
    """Forget every compiled case (for tests; ``torch._dynamo.reset()`` is torch's side)."""
    _compiled.clear()
    _eager_cases.clear()
    _unavailable.clear()
