"""The compiled engine: the fused math of both losses through ``torch.compile``.

Inductor turns the dozen elementwise steps of a fused kernel into one loop (C++ on the
CPU, Triton on a GPU), so nothing but the loss and the saved gradient is written to
memory.

What compiles, and when. A *case* is what changes the compiled program itself. Each case
is compiled once, on its first call, into a program that serves every later call of that
case, and has a dynamo cache of its own (a private copy of the math's code object), so
that one case's programs never count against another case's recompile limit. A case is:

- the loss (sigmoid or softmax), and whether the gradient is wanted (it is an output);
- the device, the compute dtype (float32 or float64: half inputs arrive as float32) and
  the number of dimensions of the input;
- the target's form: a bool mask or float targets (sigmoid); class indices with or
  without ignored locations, or a dense distribution, and the class dimension (softmax);
- each optional operand (``alpha``, ``weight``, ``pos_weight``, a per-element gamma):
  absent, a number, or a tensor of a given rank and broadcast pattern (which of its
  dimensions have size 1 where the input's do not);
- ``reduction="none"``, or a reduced loss (``"mean"``, ``"sum"`` and ``"positives"``
  share one program);
- softmax only: gamma 0, or any other gamma (gamma 0 keeps the kernels' exact
  cross-entropy path; the general modulator exp(gamma log(1 - p)) is 0 * -inf = NaN where
  1 - p rounds to 0).

Everything else is an input of the program, not a constant of it: every size of every
dimension from the first call on, 1 included (the sizes are unbacked symbols: no 0/1
specialisation, no guard at 4,096 elements; a torch whose ``mark_unbacked`` lacks shape
ids and bounds compiles sizes 1 apart); ``requires_grad`` (tensors are detached
first); the values of ``alpha``, ``gamma`` and the divisor (passed as 0-d tensors). The
softmax's number of classes is an ordinary dynamic size: one class, and more than 4,096,
take programs of their own. A size-1 dimension that an operand shares with the input
(batch size 1) is read as the program already compiled for it reads it; before any, as a
full dimension of ``weight`` and a broadcast one of the per-class operands, so a
per-class ``alpha`` or a full-shaped ``weight`` first seen at batch size 1 costs no second
program later. An empty input runs on the eager kernels (there is nothing to compute).

Within a case torch recompiles only for a change of ``torch.get_num_threads()`` (dynamo
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

import inspect
import os
import sys
import types
import warnings
from collections.abc import Callable, Hashable, Mapping
from typing import Any, NamedTuple

import torch
from torch import Tensor

from . import _blocks
from . import sigmoid as _sigmoid
from . import softmax as _softmax
from ._blocks import Gamma

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
    loss: str
    need_grad: bool
    device: torch.device
    input: _Kind
    #: (name, its _Kind, or the Python number or None it is) for each argument after x.
    operands: tuple[tuple[str, Hashable], ...]
    #: The rest: reduced or not, and the softmax's class dim, target form and gamma 0.
    constants: tuple[Hashable, ...]


#: Compiled functions by case.
_compiled: dict[_Case, Callable[..., Result]] = {}
#: Cases that reached torch's recompile limit: they run on the eager fused kernels.
_eager_cases: set[_Case] = set()
#: The first compiler failure of this process (compiling is then off).
_unavailable: list[str] = []


def _scaled(loss: Tensor, grad: Tensor | None, inverse: float | Tensor | None) -> Result:
    """As ``_blocks.run_elementwise``: the float64 sum times 1 / divisor
    (``_blocks.scaled_sum``), in x's dtype.

    The float64 sum also keeps Inductor from choosing a float32 summation scheme by the
    number of elements (which it would guard on, at 4,096).
    """
    if inverse is None:
        return loss, grad
    total = _blocks.scaled_sum(loss, inverse).to(loss.dtype)
    return total, None if grad is None else grad * inverse


def _sigmoid_math(
    x: Tensor,
    y: Tensor,
    alpha: Any,
    gamma: Gamma,
    weight: Tensor | None,
    pos_weight: Tensor | None,
    inverse: float | Tensor | None,
    need_grad: bool,
) -> Result:
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
    return _scaled(loss, grad, inverse)


def _softmax_math(
    x: Tensor,
    target: Tensor,
    valid: Tensor | None,
    class_factor: Any,
    gamma: Gamma,
    dim: int,
    dense: bool,
    inverse: float | Tensor | None,
    need_grad: bool,
) -> Result:
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
    return _scaled(loss, grad, inverse)


def _scalar(value: float, like: Tensor, dtype: torch.dtype | None = None) -> Tensor:
    """A number as a 0-d tensor on x's device: an input of the program, not a constant.

    ``torch.full`` writes the value on the device itself (no host-to-device copy).
    """
    return torch.full((), value, dtype=dtype or like.dtype, device=like.device)


def _inverse(divisor: float | Tensor | None, like: Tensor) -> Tensor | None:
    """1 / divisor as a 0-d float64 tensor (the number ``_blocks.reciprocal`` gives)."""
    inverse = _blocks.reciprocal(divisor)
    if inverse is None or isinstance(inverse, Tensor):
        return inverse
    return _scalar(inverse, like, torch.float64)


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
    batch size 1, or broadcast), so the program already compiled serves it. With none,
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


def _unbacked_marker() -> Callable[..., None] | None:
    """``torch._dynamo.mark_unbacked``, where this torch has it with shape ids and bounds."""
    marker = getattr(torch._dynamo.decorators, "mark_unbacked", None)
    if marker is None:  # pragma: no cover - older torch: sizes 0 and 1 specialise
        return None
    try:
        parameters = inspect.signature(marker).parameters
    except (TypeError, ValueError):  # pragma: no cover
        return None
    if "shape_id" not in parameters or "min" not in parameters:  # pragma: no cover
        return None
    return marker  # type: ignore[no-any-return]


_mark_unbacked = _unbacked_marker()


def _view(value: Any, kind: Hashable, x_dims: int, class_dim: int | None) -> Any:
    """A detached view of a tensor argument, its full dimensions marked as unbacked sizes.

    Unbacked sizes are never specialised to 0 or 1 and never guarded on. The dimensions
    that line up with the same dimension of x share one size symbol (``shape_id``), at
    least 1 (empty inputs never get here; torch's logsumexp asks whether it has any
    elements). ``class_dim`` is left to the ordinary dynamic sizes: the softmax kernels
    branch on the number of classes.
    """
    if not isinstance(value, Tensor):
        return value
    view = value.detach()  # a fresh tensor object: its marks are ours, requires_grad False
    if _mark_unbacked is None or not isinstance(kind, _Kind):
        return view
    lead = x_dims - value.dim()
    for position, letter in enumerate(kind.pattern):
        if letter == _FULL and lead + position != class_dim:
            _mark_unbacked(view, position, shape_id=f"torchfocal_dim{lead + position}", min=1)
    return view


def _views(
    case: _Case, tensors: Mapping[str, Any], x_dims: int, class_dim: int | None
) -> list[Any]:
    kinds = dict(case.operands)
    return [_view(value, kinds[name], x_dims, class_dim) for name, value in tensors.items()]


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
        f"{case.loss} focal loss of a {case.input.ndim}-D {dtype} input on "
        f"{case.device.type}, {grad} gradient"
    )


def _stacklevel() -> int:
    """``warnings.warn``'s stacklevel, from ``_run``, of the first frame outside torchfocal
    and torch: the user's line, however many wrappers (modules, autograd) lie between."""
    inside = (os.path.dirname(os.path.dirname(__file__)), os.path.dirname(torch.__file__))
    frame = sys._getframe(2)  # _run's caller: stacklevel 2
    level = 2
    while frame.f_back is not None and frame.f_code.co_filename.startswith(inside):
        frame = frame.f_back
        level += 1
    return level


def _run(math: Callable[..., Result], case: _Case, args: tuple[Any, ...]) -> Result | None:
    """The compiled result for ``case``, or None: the caller then runs the eager kernels."""
    function = _compiled.get(case)
    if function is None:
        function = _compiled[case] = _fresh(math, f"{math.__name__}_case{len(_compiled)}")
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


def sigmoid(
    x: Tensor,
    target: Tensor,
    alpha: float | Tensor | None,
    gamma: Gamma,
    weight: Tensor | None,
    pos_weight: Tensor | None,
    divisor: float | Tensor | None,
    need_grad: bool,
) -> Result | None:
    """The sigmoid kernel's (loss, dloss/dx), or None where the eager kernels must run."""
    if _blocks.is_compiling():  # inside the user's torch.compile: traced into their graph
        inverse = _blocks.reciprocal(divisor)
        return _sigmoid_math(x, target, alpha, gamma, weight, pos_weight, inverse, need_grad)
    if _unavailable or x.numel() == 0:
        return None
    tensors = {
        "y": target,
        # Every alpha and every gamma share one program (gamma 0 included: its modulator
        # exp(-0 * softplus(x_t)) is exactly 1, and every log here is finite).
        "alpha": _scalar(alpha, x) if isinstance(alpha, (int, float)) else alpha,
        "gamma": _scalar(gamma, x) if isinstance(gamma, (int, float)) else gamma,
        "weight": weight,
        "pos_weight": pos_weight,
    }
    like_x = ("y", "gamma")
    case = _resolve(
        _Case(
            "sigmoid",
            need_grad,
            x.device,
            _kind(x, x, True),
            tuple(_describe(name, value, x, like_x) for name, value in tensors.items()),
            (divisor is None,),
        ),
        full_first=("weight",),
    )
    if case in _eager_cases:
        return None
    y, alpha_arg, gamma_arg, weight_arg, pos_weight_arg = _views(case, tensors, x.dim(), None)
    args = (
        _view(x, case.input, x.dim(), None),
        y,
        alpha_arg,
        gamma_arg,
        weight_arg,
        pos_weight_arg,
        _inverse(divisor, x),
        need_grad,
    )
    return _run(_sigmoid_math, case, args)


def softmax(
    x: Tensor,
    target: Tensor,
    valid: Tensor | None,
    class_factor: Tensor | float | None,
    gamma: Gamma,
    dim: int,
    dense: bool,
    divisor: float | Tensor | None,
    need_grad: bool,
) -> Result | None:
    """The softmax kernel's (loss, dloss/dx), or None where the eager kernels must run."""
    if _blocks.is_compiling():  # inside the user's torch.compile: traced into their graph
        inverse = _blocks.reciprocal(divisor)
        return _softmax_math(x, target, valid, class_factor, gamma, dim, dense, inverse, need_grad)
    if _unavailable or x.numel() == 0:
        return None
    if isinstance(class_factor, (int, float)):
        # One number for every class, as C equal values: the program of per-class values.
        shape = [1] * x.dim()
        shape[dim] = x.shape[dim]
        class_factor = torch.full(shape, class_factor, dtype=x.dtype, device=x.device)
    zero_gamma = _blocks.equals(gamma, 0.0)
    if isinstance(gamma, (int, float)) and not zero_gamma:
        gamma = _scalar(gamma, x)
    tensors = {"target": target, "valid": valid, "class_factor": class_factor, "gamma": gamma}
    like_x = ("target", "valid", "gamma")
    case = _resolve(
        _Case(
            "softmax",
            need_grad,
            x.device,
            _kind(x, x, True),
            tuple(_describe(name, value, x, like_x) for name, value in tensors.items()),
            (divisor is None, dim, dense, zero_gamma),
        )
    )
    if case in _eager_cases:
        return None
    class_dim = dim % x.dim()
    target_arg, valid_arg, class_factor_arg, gamma_arg = _views(case, tensors, x.dim(), class_dim)
    args = (
        _view(x, case.input, x.dim(), class_dim),
        target_arg,
        valid_arg,
        class_factor_arg,
        gamma_arg,
        dim,
        dense,
        _inverse(divisor, x),
        need_grad,
    )
    return _run(_softmax_math, case, args)


def _reset() -> None:
    """Forget every compiled case (for tests; ``torch._dynamo.reset()`` is torch's side)."""
    _compiled.clear()
    _eager_cases.clear()
    _unavailable.clear()
