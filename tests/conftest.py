"""Shared fixtures: every test starts from fixed RNG states; Triton kernels run through
Triton's interpreter (on CPU tensors), set before anything imports triton.

``TORCHFOCAL_TRITON_TESTS=cuda`` runs the Triton tests (tests/test_triton_*.py) on a GPU
with the compiled kernels instead (docs/contributing.md): the interpreter is left off, the
tests build their inputs on the CPU as always, and every call into torchfocal from those
modules (the public functions and the kernels' host functions) takes its tensor arguments
to the GPU and brings its results back (differentiably, so gradients still reach the CPU
leaves). Their tolerances are widened by ``GPU_TOLERANCE_FACTOR`` there: the compiled
float32 code uses the GPU's approximate exp2 and rsqrt (ex2.approx, rsqrt.approx: about 2
ulp; reciprocals are rsqrt squared, see torchfocal._triton.common), its approximate division
(div.full.f32: 2 ulp) and flushes float32 denormals to zero, where the interpreter computes
with NumPy's correctly rounded functions; float64 code calls libdevice's exp / log and
divides exactly, so the factor only pays for the order of sums.
"""

from __future__ import annotations

import functools
import itertools
import os
import random
from collections.abc import Sequence
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import torchfocal
from torchfocal import reference

# The helpers that the loss modules' tests share (tests/losses/*.py beside the test_*.py
# modules) assert too: pytest rewrites their asserts as it does a test module's, for its
# failure reports and for tools/count_checks.py, which counts the assertions that pass.
pytest.register_assert_rewrite("losses")

#: Where the Triton tests run their kernels: "interpreter" (CPU tensors, the default and
#: CI's) or "cuda" (a GPU, the compiled kernels).
TRITON_TESTS = os.environ.get("TORCHFOCAL_TRITON_TESTS", "interpreter")
if TRITON_TESTS not in ("interpreter", "cuda"):
    raise ValueError(
        f"TORCHFOCAL_TRITON_TESTS must be 'interpreter' or 'cuda'; got {TRITON_TESTS!r}"
    )
# before anything imports triton (torchfocal imports it on the first launch only)
if TRITON_TESTS == "interpreter":
    os.environ.setdefault("TRITON_INTERPRET", "1")
#: How much wider every tolerance of the Triton tests is on a GPU (see the docstring).
GPU_TOLERANCE_FACTOR = 16.0


def _interpreter_patches_the_language_once_a_launch() -> None:
    """Triton's interpreter runs a kernel with triton.language's builtins replaced by NumPy
    ones (its ``_patch_lang``), and does that again at every call of a ``@triton.jit``
    helper inside the kernel, walking every member of the language's modules each time.
    After the launch's own pass the builtins are replaced already, so a helper's pass over
    the same modules changes nothing (the wrappers are no builtins; the tensor methods are
    set to equal closures again; the launch's pass alone is restored afterwards), and it
    took over a third of the Triton tests' time: tests/test_triton_family.py, _softmax,
    _sigmoid and _regions in one process took 46.33 and 45.23 s with those passes, 29.27
    and 28.72 s without (pytest's times, alternating runs, the 2-core CI machine, load
    about 1). This skips a helper's pass where a pass over the same language modules ran
    in the same launch. An interpreter without these names (another Triton) is left as it
    is; one whose helpers needed their own pass would fail loudly here (a builtin called
    unpatched raises), not compute differently."""
    try:
        import triton.language as tl
        from triton.runtime import interpreter
    except ImportError:
        return
    patch_language = getattr(interpreter, "_patch_lang", None)
    executor = getattr(interpreter, "GridExecutor", None)
    if patch_language is None or executor is None:
        return
    run_launch = executor.__call__
    #: The language modules patched in each launch in progress, by the modules' ids.
    patched: list[set[frozenset[int]]] = []

    class NothingToRestore:
        def restore(self) -> None:
            pass

    def patch_once(fn: Any) -> Any:
        languages = frozenset(
            id(value) for value in fn.__globals__.values() if value is tl or value is tl.core
        )
        if patched and languages in patched[-1]:
            return NothingToRestore()
        if patched:
            patched[-1].add(languages)
        return patch_language(fn)

    def launch(self: Any, *args: Any, **kwargs: Any) -> Any:
        patched.append(set())
        try:
            return run_launch(self, *args, **kwargs)
        finally:
            patched.pop()

    interpreter._patch_lang = patch_once
    executor.__call__ = launch


if os.environ.get("TRITON_INTERPRET") == "1":
    _interpreter_patches_the_language_once_a_launch()

# Under pytest-xdist (``pytest -n auto``: one worker per core) each worker computes on one
# thread, and so do the processes its tests start: with torch's default of one thread per
# core in every worker, the workers' OpenMP threads outnumber the cores and wait on each
# other. tests/test_sigmoid_focal_loss.py (the sigmoid focal loss's tests before they moved to
# tests/losses/test_sigmoid_focal.py) with -n 2 on the 2-core machine took 20.6 s of pytest
# time this way against 42.5 s with torch's default (one run each, load about 8).
if "PYTEST_XDIST_WORKER" in os.environ:
    os.environ["OMP_NUM_THREADS"] = "1"
    torch.set_num_threads(1)


#: The first-check subset, ``pytest -m quick`` (README): every public loss against its naive
#: form on the naive, fused and default backends (test_api.py without its compiled and Triton
#: cases, whose compilation and interpreter take most of the full suite's time), the argument
#: errors (the shared ones of every loss, and each loss module's own), the modules, the class
#: weights and the class-balanced loss, and the command line's table, weights and plot.
#: file (its path in tests/), or folder ("losses/": each of its modules) -> which of its tests
#: are quick.
QUICK: dict[str, Any] = {
    "test_api.py": lambda name: "compiled" not in name and "triton" not in name,
    "test_errors.py": lambda name: True,
    "test_nn.py": lambda name: True,
    "test_weighting.py": lambda name: True,
    "losses/test_class_balanced.py": lambda name: True,
    "test_cli.py": lambda name: name.startswith(("test_table", "test_weights", "test_plot")),
    # each loss module's tests of its bad arguments (tests/losses/test_<module>.py)
    "losses/": lambda name: any(
        word in name for word in ("error", "bad_", "validates", "mismatch", "refuses")
    ),
}
TESTS = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if not item.path.is_relative_to(TESTS):
            continue
        path = item.path.relative_to(TESTS)
        chosen = QUICK.get(path.as_posix(), QUICK.get(f"{path.parent.as_posix()}/"))
        if chosen is not None and chosen(item.name):
            item.add_marker(pytest.mark.quick)


def installed(*modules: str) -> pytest.MarkDecorator:
    """Skip unless every module is installed, found without importing it (an import at
    collection is paid by every pytest-xdist worker, which collects every module)."""
    missing = [name for name in modules if find_spec(name) is None]
    return pytest.mark.skipif(bool(missing), reason=f"not installed: {', '.join(missing)}")


@pytest.fixture(autouse=True)
def _seed_rngs() -> None:
    random.seed(0)
    np.random.seed(0)
    # The CPU generator itself: torch.manual_seed also queues a seed for each device kind
    # not yet initialised (CUDA, XPU, MTIA), formatting the call stack for each, about
    # 0.5 ms a test (3,000 empty tests with this conftest: 4.2 s, then 2.6 s).
    torch.default_generator.manual_seed(0)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(0)


def tolerance(dtype: torch.dtype) -> dict[str, float]:
    """assert_close tolerances by dtype (kornia-style)."""
    return {
        torch.float64: {"rtol": 1e-10, "atol": 1e-12},
        torch.float32: {"rtol": 1e-5, "atol": 1e-6},
        torch.float16: {"rtol": 1e-2, "atol": 1e-3},
        torch.bfloat16: {"rtol": 2e-2, "atol": 1e-2},
    }[dtype]


def function_name(loss: str) -> str:
    return f"{loss}_focal_loss" if loss in ("sigmoid", "softmax") else loss


def run_loss(
    loss: str,
    backend: str,
    x: torch.Tensor,
    target: torch.Tensor,
    grad_output: torch.Tensor | None = None,
    /,
    **kwargs: Any,
) -> tuple[torch.Tensor, torch.Tensor]:
    """A torchfocal loss and its input gradient (upstream ``grad_output``).

    ``loss`` is a public function's name, or "sigmoid" / "softmax" for their focal losses.
    """
    x = x.detach().clone().requires_grad_(True)
    value = getattr(torchfocal, function_name(loss))(x, target, backend=backend, **kwargs)
    value.backward(torch.ones_like(value) if grad_output is None else grad_output)
    assert x.grad is not None
    return value.detach(), x.grad


def check_against_reference(
    loss: str,
    backend: str,
    x: torch.Tensor,
    target: torch.Tensor,
    grad_output: torch.Tensor | None = None,
    /,
    **kwargs: Any,
) -> None:
    """The torch loss and gradient equal the NumPy reference within the dtype's tolerance."""
    value, grad = run_loss(loss, backend, x, target, grad_output, **kwargs)
    ref_kwargs = {
        k: (val.numpy() if isinstance(val, torch.Tensor) else val) for k, val in kwargs.items()
    }
    upstream = None if grad_output is None else grad_output.numpy()
    # the registry's oracle where the loss has none of its own name (class_balanced_loss)
    oracle = getattr(reference, function_name(loss), None)
    if oracle is None:
        from torchfocal.registry import by_name

        oracle = by_name(function_name(loss)).reference_function
    assert oracle is not None, f"{loss} has no oracle"
    ref_value, ref_grad = oracle(
        x.detach().double().numpy(), target.numpy(), grad_output=upstream, **ref_kwargs
    )
    tol = tolerance(x.dtype)
    torch.testing.assert_close(value, torch.as_tensor(ref_value, dtype=x.dtype), **tol)
    torch.testing.assert_close(grad, torch.as_tensor(ref_grad, dtype=x.dtype), **tol)


def all_pairs(*factors: Sequence[Any]) -> list[tuple[Any, ...]]:
    """Rows (one value of each factor) in which every pair of values of any two factors
    appears at least once: a pairwise covering design for the products whose factors act
    on the result independently beyond pairs (the full product's other rows add nothing).

    Greedy and deterministic: each row is the first of the full product that covers the
    most pairs not yet covered.
    """
    sizes = [range(len(factor)) for factor in factors]
    pairs = list(itertools.combinations(range(len(factors)), 2))
    uncovered = {(i, a, j, b) for i, j in pairs for a in sizes[i] for b in sizes[j]}
    rows: list[tuple[int, ...]] = []
    while uncovered:
        row = max(
            itertools.product(*sizes),
            key=lambda r: sum((i, r[i], j, r[j]) in uncovered for i, j in pairs),
        )
        uncovered -= {(i, row[i], j, row[j]) for i, j in pairs}
        rows.append(row)
    return [tuple(factor[k] for factor, k in zip(factors, row, strict=True)) for row in rows]


def covering(
    full: dict[str, Sequence[Any]], pairwise: dict[str, Sequence[Any]]
) -> tuple[list[str], list[Any]]:
    """``parametrize`` arguments: every combination of the ``full`` factors, and each pair
    of that combination with any value of a ``pairwise`` factor and of two pairwise factors
    (:func:`all_pairs`). A key may name several arguments ("gamma,beta") whose values are
    tuples."""
    keys = [*full, *pairwise]
    names = [name for key in keys for name in key.split(",")]
    params = []
    for core, *rest in all_pairs(list(itertools.product(*full.values())), *pairwise.values()):
        values: list[Any] = []
        for key, value in zip(keys, [*core, *rest], strict=True):
            values += list(value) if "," in key else [value]
        params.append(pytest.param(*values, id="-".join(map(str, values))))
    return names, params


def _on_device(function: Any, device: str) -> Any:
    """``function`` with its CPU tensor arguments moved to ``device`` and its tensor results
    brought back to the CPU (both moves are differentiable)."""
    from torch.utils import _pytree as pytree

    def to(tensor: Any, where: str) -> Any:
        return tensor.to(where) if isinstance(tensor, torch.Tensor) else tensor

    @functools.wraps(function)
    def call(*args: Any, **kwargs: Any) -> Any:
        args, kwargs = pytree.tree_map(lambda t: to(t, device), (args, kwargs))
        return pytree.tree_map(lambda t: to(t, "cpu"), function(*args, **kwargs))

    return call


def _widened(check: Any) -> Any:
    @functools.wraps(check)
    def call(*args: Any, **kwargs: Any) -> Any:
        for name in ("rtol", "atol"):
            if kwargs.get(name) is not None:
                kwargs[name] = kwargs[name] * GPU_TOLERANCE_FACTOR
        return check(*args, **kwargs)

    return call


@pytest.fixture(autouse=True)
def _triton_tests_on_gpu(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Under TORCHFOCAL_TRITON_TESTS=cuda, the Triton test modules run on the GPU (see the
    module docstring); nothing changes for any other test or mode."""
    if TRITON_TESTS != "cuda" or not request.module.__name__.startswith("test_triton_"):
        return
    if not torch.cuda.is_available():
        pytest.skip("TORCHFOCAL_TRITON_TESTS=cuda needs a CUDA device")
    from torchfocal import functional
    from torchfocal._triton import elementwise, softmax

    for namespace in (torchfocal, functional):
        for name in functional.__all__:
            value = getattr(namespace, name)
            if callable(value) and name.endswith(("_loss", "_entropy")):
                monkeypatch.setattr(namespace, name, _on_device(value, "cuda"))
    monkeypatch.setattr(softmax, "softmax_focal", _on_device(softmax.softmax_focal, "cuda"))
    monkeypatch.setattr(
        elementwise, "elementwise_loss", _on_device(elementwise.elementwise_loss, "cuda")
    )
    monkeypatch.setattr(np.testing, "assert_allclose", _widened(np.testing.assert_allclose))
    monkeypatch.setattr(torch.testing, "assert_close", _widened(torch.testing.assert_close))


@pytest.fixture
def no_host_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run the test as torchfocal runs on a GPU, where reading a tensor's value on the host
    is a synchronisation with the device: the checks and the engine take their device-side
    forms (as for any non-CPU tensor), and every way Python reads a value out of a tensor
    raises. A call that passes under this fixture makes no host synchronisation of its own
    (what runs on a GPU is the same code, minus the interpreter)."""
    from torchfocal._engine import autograd, checks, numerics

    monkeypatch.setattr(checks, "_reads_eagerly", lambda device: False)
    for module in (checks, numerics, autograd):
        monkeypatch.setattr(module, "reads_values", lambda tensor: False)

    def host_read(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a tensor's value was read on the host (a synchronisation)")

    for name in ("item", "tolist", "__bool__", "__float__", "__int__", "__index__"):
        monkeypatch.setattr(torch.Tensor, name, host_read)
