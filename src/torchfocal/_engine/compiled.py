"""backend="compiled": a loss's fused math and its reduction through ``torch.compile``.

Inductor turns the dozen elementwise steps of a fused kernel, and the sum of a reduced
loss, into one loop (C++ on the CPU, Triton on a GPU), so nothing but the loss and the
saved gradient is written to memory.

Each loss compiles its own math, at module level::

    @compiled.program
    def sigmoid_focal_compiled(x, target, inverse, need_grad, operands):
        return compiled.elementwise(fused_elementwise, x, target, inverse, need_grad, operands)

A function of the loss's own: torch keeps its compiled programs, and counts them against
``torch._dynamo.config.recompile_limit``, per function, so one loss's programs never use up
another's. What recompiles is what torch's own guards say (``TORCH_LOGS=recompiles``
shows them), nothing of torchfocal's:

- the first call compiles for its shapes; a call with new sizes compiles once more, with
  the sizes as symbols, which then serves every size (torch's automatic dynamic shapes);
  torch specialises a dimension of size 1, so batch size 1 may add one;
- whether the gradient is wanted (a flag; not whether autograd is on: the program always
  runs without it), the dtype, the input's rank and layout (and its dispatch keys: an
  input made under ``torch.inference_mode`` has a program of its own), the target's dtype
  (a bool mask or a float target), which optional operands are given and how they
  broadcast, ``reduction="none"`` or not, ``torch.get_num_threads()``;
- the numbers (alpha, gamma, the divisor, a loss's own parameters) are inputs of the
  program, not constants, passed as 0-d tensors: a new value does not recompile. Except 0,
  1 and 2, which stay Python numbers: the kernels have forms of their own for them (no
  modulator, q, q * q instead of exp(gamma log q); no clipping), both faster and, for
  gamma 0 in the softmax, exact where 1 - p rounds to 0 (exp(0 * log 0) would be NaN). So
  each of these values that is used adds one program (torch guards on it).

  Not Python floats: torch traces a float argument as a symbol from its second value on,
  and torch 2.13 then computes some ops wrongly, silently (an ``alpha=`` or ``value=``
  scalar of rsub, add or addcmul that is such a symbol; the quality focal loss's
  ``|d| ** beta`` at beta 2 after a call at beta 1 gave beta 1's values on a (2, 7)
  input); 0-d tensors take the tensor arithmetic that the eager kernels run too. So a
  kernel compares its numbers with :func:`~torchfocal._engine.numerics.equals` (False
  for a tensor), never with ``==``, and the program is traced with
  ``torch._dynamo.config.specialize_float`` on: the special values stay constants of
  their own programs, never such a symbol.

Past the recompile limit torch runs the function eagerly (the same fused math) and logs
one warning. Where compiling fails altogether (no C++ compiler, an unsupported platform),
the first failure is reported with one ``RuntimeWarning`` and the eager fused kernels run
for the rest of the process. An empty input, a torch.func transform's tensor and a call
inside the user's own ``torch.compile`` (which traces the math inline, into the user's
graph) run on the eager runners.
"""

from __future__ import annotations

import contextlib
import os
import sys
import warnings
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import torch
from torch import Tensor

from .numerics import Kernel, is_compiling, is_transformed
from .reduction import accumulation_dtype, scaled_result, scaled_sum

#: (loss, dloss/dx or None).
Result = tuple[Tensor, Tensor | None]
#: 1 / divisor of a reduced loss (None: reduction "none").
Inverse = float | Tensor | None
#: The kernel's keyword arguments.
Operands = Mapping[str, Any]
#: A loss's compiled math: ``(x, target, inverse, need_grad, operands) -> (loss, dloss/dx)``,
#: the loss reduced and the gradient divided by the divisor.
Program = Callable[[Tensor, Tensor, Inverse, bool, Operands], Result]

#: The first compiler failure of this process (compiling is then off).
_unavailable: list[str] = []


def elementwise(
    kernel: Kernel, x: Tensor, target: Tensor, inverse: Inverse, need_grad: bool, operands: Operands
) -> Result:
    """An elementwise kernel on the whole tensor, then the reduction (traced inline into
    the loss's :func:`program`)."""
    loss, grad = kernel(x, target, **operands, need_grad=need_grad)
    return scaled_result(loss, grad, inverse)


def per_location(
    kernel: Kernel, x: Tensor, target: Tensor, inverse: Inverse, need_grad: bool, operands: Operands
) -> Result:
    """A per-location kernel (its operands hold ``dim``), which scales its own gradient,
    then the sum of the locations' losses."""
    loss, grad = kernel(x, target, **operands, need_grad=need_grad, grad_scale=inverse)
    return (loss if inverse is None else scaled_sum(loss, inverse)), grad


class CompiledProgram:
    """``torch.compile`` of a loss's math, made on the first call (``import torchfocal``
    imports no compiler)."""

    def __init__(self, math: Program) -> None:
        self.math = math
        self._compiled: Program | None = None

    def __call__(
        self, x: Tensor, target: Tensor, inverse: Inverse, need_grad: bool, operands: Operands
    ) -> Result | None:
        """The compiled result, or None where the eager runners must run instead (see the
        module docstring)."""
        # A torch.func transform's wrapped tensor cannot enter a compiled program; the
        # eager runner computes the same fused form.
        if is_compiling() or is_transformed(x) or _unavailable or x.numel() == 0:
            return None
        if self._compiled is None:
            self._compiled = torch.compile(self.math)
        # Detached: requires_grad is no guard of the program (the autograd Function around
        # it takes the gradient it returns).
        inputs = {name: _input(value, x) for name, value in operands.items()}
        try:
            # 1 / divisor in the accumulation dtype, as the eager runners sum.
            inverse = _input(inverse, x, accumulation_dtype(x.device))
            # Without autograd recording, as inside the autograd Function's forward: torch
            # guards on grad mode, so a call with it on (no input needing a gradient, not
            # under torch.no_grad) would compile a second program of the same math.
            with _constant_floats(), torch.no_grad():
                return self._compiled(x.detach(), target.detach(), inverse, need_grad, inputs)
        except Exception as error:  # any compiler failure: report once, then run eagerly
            _unavailable.append(f"{type(error).__name__}: {error}")
            first_line = str(error).splitlines()[0] if str(error) else ""
            warnings.warn(
                f"backend='compiled' is unavailable here ({type(error).__name__}: "
                f"{first_line}); using backend='fused' for the rest of this process",
                RuntimeWarning,
                stacklevel=_stacklevel(),
            )
            return None


#: Numbers the kernels compute in a form of their own (module docstring).
SPECIAL_VALUES = (0.0, 1.0, 2.0)


def _input(value: Any, x: Tensor, dtype: torch.dtype | None = None) -> Any:
    """An operand as the program takes it: a tensor detached, a float but the special ones
    as a 0-d tensor of ``dtype`` (x's by default)."""
    if isinstance(value, Tensor):
        return value.detach()
    if isinstance(value, float) and value not in SPECIAL_VALUES:
        return torch.full((), value, dtype=dtype or x.dtype, device=x.device)
    return value


@contextlib.contextmanager
def _constant_floats() -> Iterator[None]:
    """Trace (and guard) the Python floats a program receives as constants, as torch did
    before it traced them as symbols (module docstring: the special values 0, 1 and 2).
    The flag is set and restored directly: ``config.patch`` took about 25 us a call, this
    about 6 (20,000 of each timed in a loop on the 2-core CI VM, torch 2.13)."""
    config = torch._dynamo.config
    if not hasattr(config, "specialize_float"):
        yield
        return
    previous = config.specialize_float
    config.specialize_float = True
    try:
        yield
    finally:
        config.specialize_float = previous


def program(math: Program) -> CompiledProgram:
    """Decorate a loss's math (see the module docstring) for backend="compiled"."""
    return CompiledProgram(math)


def _stacklevel() -> int:
    """``warnings.warn``'s stacklevel, from ``CompiledProgram.__call__``, of the first frame
    outside torchfocal and torch: the user's line, however many wrappers lie between."""
    # With a trailing separator: torch's folder is not a prefix of torchvision's.
    inside = tuple(
        os.path.dirname(path) + os.sep for path in (os.path.dirname(__file__), torch.__file__)
    )
    frame = sys._getframe(2)  # __call__'s caller: stacklevel 2
    level = 2
    while frame.f_back is not None and frame.f_code.co_filename.startswith(inside):
        frame = frame.f_back
        level += 1
    return level
