"""The import graph: no cycles, the layering of DESIGN.md section 1, and torch alone at import.

The graph is read from the source with ``ast``; what ``import torchfocal`` loads is checked in
fresh interpreters, one of them with NumPy and Triton made unimportable.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

import torchfocal

PACKAGE_DIR = Path(torchfocal.__file__).resolve().parent
ENGINE = "torchfocal._engine"


@dataclass(frozen=True)
class Import:
    """One name an import statement reaches: ``from X import n`` gives X.n, ``import X`` X."""

    importer: str
    path: str  # the dotted name reached: a module, or a module's attribute
    module: str  # the module that must be loaded for it
    line: int
    eager: bool  # runs when the importer is imported (not in a function, not type-only)


def _modules() -> dict[str, Path]:
    """Every module of the package by dotted name (a package by its own name)."""
    found = {}
    for file in sorted(PACKAGE_DIR.rglob("*.py")):
        parts = list(file.relative_to(PACKAGE_DIR.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = file
    return found


MODULES = _modules()


def _package_of(module: str) -> str:
    """The package whose namespace relative imports of ``module`` resolve in."""
    return module if MODULES[module].name == "__init__.py" else module.rpartition(".")[0]


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(module: str) -> list[Import]:
    """The torchfocal names ``module`` imports, anywhere in its source."""
    found: list[Import] = []

    def visit(node: ast.AST, eager: bool) -> None:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            eager = False  # a function's imports run when it is called
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for statement in node.body:
                visit(statement, False)
            for statement in node.orelse:
                visit(statement, eager)
            return
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "torchfocal":
                    found.append(Import(module, alias.name, alias.name, node.lineno, eager))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = _package_of(module).split(".")
                base = base[: len(base) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            if source.split(".")[0] == "torchfocal":
                for alias in node.names:
                    path = f"{source}.{alias.name}"
                    # `from package import submodule` loads the submodule itself
                    loaded = path if path in MODULES else source
                    found.append(Import(module, path, loaded, node.lineno, eager))
        for child in ast.iter_child_nodes(node):
            visit(child, eager)

    visit(ast.parse(MODULES[module].read_text(encoding="utf-8")), True)
    return found


IMPORTS = [item for module in MODULES for item in _imports(module)]


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def _find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the directed graph as [a, b, ..., a], or None."""
    state: dict[str, str] = {}  # "open" while on the DFS path, then "done"
    path: list[str] = []

    def dfs(node: str) -> list[str] | None:
        state[node] = "open"
        path.append(node)
        for successor in sorted(graph.get(node, ())):
            if state.get(successor) == "open":
                return [*path[path.index(successor) :], successor]
            if successor not in state and (cycle := dfs(successor)) is not None:
                return cycle
        path.pop()
        state[node] = "done"
        return None

    for start in sorted(graph):
        if start not in state and (cycle := dfs(start)) is not None:
            return cycle
    return None


def test_the_graph_is_read() -> None:
    """The parser sees the imports the package is built from (else the checks below are empty)."""
    edges = {(item.importer, item.module) for item in IMPORTS if item.eager}
    assert ("torchfocal.nn", "torchfocal.losses") in edges  # the registry's classes
    assert ("torchfocal.losses.sigmoid_focal", "torchfocal.losses._module") in edges
    assert ("torchfocal.functional", "torchfocal.losses") in edges  # the registry
    assert ("torchfocal.losses.sigmoid_focal", "torchfocal._engine.checks") in edges
    assert ("torchfocal.boosting", "torchfocal.boosting._objective") in edges
    lazy = {(item.importer, item.module) for item in IMPORTS if not item.eager}
    # the top level is lazy (PEP 562): it imports nothing of the package itself (importlib
    # loads each name's module on first use; type checkers read its stub, __init__.pyi)
    assert not [item for item in IMPORTS if item.importer == "torchfocal"]
    assert ("torchfocal.cli", "torchfocal") in lazy  # build_parser's `from .. import __version__`


def test_find_cycle_finds_one() -> None:
    assert _find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert _find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


def test_no_import_cycles() -> None:
    """Module-level imports only: one inside a function runs after both modules are loaded."""
    graph: dict[str, set[str]] = {module: set() for module in MODULES}
    for item in IMPORTS:
        if item.eager and item.module != item.importer:
            graph[item.importer].add(item.module)
    cycle = _find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


# What each layer must not import, lazily or not (DESIGN.md section 1: losses/ -> _engine/ ->
# torch; the engine knows no loss by name). The package root re-exports everything above.
FORBIDDEN = {
    ENGINE: ("torchfocal.losses", "torchfocal.functional", "torchfocal.nn", "torchfocal.cli",
             "torchfocal.compat"),
    "torchfocal.losses": ("torchfocal.functional", "torchfocal.nn", "torchfocal.cli",
                          "torchfocal.compat"),
    # The Triton kernels get prepared tensors from the engine's runner: no loss, no checks.
    "torchfocal._triton": ("torchfocal.losses", "torchfocal.functional", "torchfocal.nn",
                           "torchfocal.cli", "torchfocal.compat", "torchfocal._engine.checks",
                           "torchfocal._engine.targets", "torchfocal._engine.runners"),
    # NumPy only: nothing of the package that loads torch, lazily or not.
    "torchfocal.boosting": ("torchfocal._engine", "torchfocal._triton", "torchfocal.losses",
                            "torchfocal.functional", "torchfocal.nn", "torchfocal.cli",
                            "torchfocal.compat", "torchfocal.weighting", "torchfocal.reference"),
}  # fmt: skip


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layering(layer: str) -> None:
    violations = [
        f"{item.importer}:{item.line} imports {item.path}"
        for item in IMPORTS
        if _within(item.importer, layer)
        and (
            item.module == "torchfocal"
            or any(_within(item.module, above) for above in FORBIDDEN[layer])
        )
    ]
    assert not violations, "\n".join(violations)


def _private_violation(item: Import) -> bool:
    """Whether ``item`` reaches a private name (leading underscore) it has no business with.

    Allowed: anything of the engine (its declared interface), a private helper of the
    importer's own package (a sibling), anything inside the private part that holds the
    importer itself, and to the engine the Triton kernels' ops and the region kernels (not
    custom ops yet), which its Triton runner launches, lazily (DESIGN.md section 1).
    """
    if _within(item.path, ENGINE):
        return False
    if _within(item.importer, ENGINE) and _within(item.path, "torchfocal._triton"):
        launched = ("torchfocal._triton.ops", "torchfocal._triton.regions")
        return not item.path.startswith(launched) or item.eager
    parts = item.path.split(".")
    for depth, part in enumerate(parts[1:], start=1):
        if part.startswith("_") and not (part.startswith("__") and part.endswith("__")):
            owner = ".".join(parts[:depth])
            private = ".".join(parts[: depth + 1])
            if owner != _package_of(item.importer) and not _within(item.importer, private):
                return True
    return False


def test_private_names_stay_private() -> None:
    """No module reaches into another's private names except through the engine (lazy
    imports and type-only ones count: they reach in all the same)."""
    assert _private_violation(Import("torchfocal.nn", "torchfocal.losses._x", "", 1, True))
    assert not _private_violation(
        Import("torchfocal.compat.yolov5", "torchfocal.compat._checks", "", 1, True)
    )
    ops = "torchfocal._triton.ops"
    assert not _private_violation(Import("torchfocal._engine.triton_runner", ops, "", 1, False))
    assert _private_violation(Import("torchfocal._engine.triton_runner", ops, "", 1, True))
    kernel = "torchfocal._triton.softmax"
    assert _private_violation(Import("torchfocal._engine.triton_runner", kernel, "", 1, False))
    violations = [
        f"{item.importer}:{item.line} imports {item.path}"
        for item in IMPORTS
        if _private_violation(item)
    ]
    assert not violations, "\n".join(violations)


def _run(code: str, blocked: bool = False) -> subprocess.CompletedProcess[str]:
    """``code`` in a fresh interpreter that imports this torchfocal; ``blocked``: without
    NumPy and Triton (see _BLOCK)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(PACKAGE_DIR.parent), *filter(None, [env.get("PYTHONPATH")])]
    )
    return subprocess.run(
        [sys.executable, "-c", (_BLOCK if blocked else "") + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env=env,
    )


# A meta path finder that refuses numpy and triton and records who asked, installed before
# torch: torch itself runs without NumPy, so this is a machine without the two.
_BLOCK = """
import importlib.abc
import sys

attempts = []

class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in ("numpy", "triton"):
            attempts.append(name)
            raise ModuleNotFoundError(f"No module named {name!r} (blocked)", name=name)
        return None

sys.meta_path.insert(0, Block())
"""


def test_import_needs_torch_alone() -> None:
    result = _run(
        """
        import torch
        import torch.nn.functional as F
        before = list(attempts)
        import torchfocal
        import torchfocal.compat
        assert attempts == before, f"import torchfocal tried {attempts[len(before):]}"

        x = torch.tensor([[2.0, -1.0, 0.5], [-3.0, 0.0, 4.0]], requires_grad=True)
        t = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 1.0]])
        loss = torchfocal.sigmoid_focal_loss(x, t)
        p = torch.sigmoid(x)
        p_t = p * t + (1 - p) * (1 - t)
        ce = F.binary_cross_entropy_with_logits(x, t, reduction="none")
        expected = ((0.25 * t + 0.75 * (1 - t)) * (1 - p_t) ** 2 * ce).mean()
        torch.testing.assert_close(loss, expected)
        loss.backward()
        torch.testing.assert_close(x.grad, torch.autograd.grad(expected, x)[0])
        torch.testing.assert_close(torchfocal.SigmoidFocalLoss()(x, t), expected)

        weights = torchfocal.class_balanced_weights([10, 5, 1], beta=0.99)
        raw = [(1 - 0.99) / (1 - 0.99**n) for n in (10, 5, 1)]
        torch.testing.assert_close(weights, torch.tensor([3 * w / sum(raw) for w in raw]))
        assert torch.equal(
            torchfocal.balanced_alpha([10, 250, 500], 1000), torch.tensor([0.99, 0.75, 0.5])
        )
        alpha = torchfocal.compat.class_balanced.FocalBCEWithLogitLoss(alpha=[0.25, 0.5, 0.75])
        assert alpha(x, t).isfinite()
        # the annotations resolve too (LightningCLI and jsonargparse read them)
        import typing
        typing.get_type_hints(torchfocal.ClassBalancedLoss.__init__)
        typing.get_type_hints(torchfocal.compat.class_balanced.FocalBCEWithLogitLoss.__init__)

        try:
            torchfocal.reference
        except ModuleNotFoundError as error:  # the oracle needs NumPy, and says so
            assert error.name == "numpy", error
        else:
            raise AssertionError("torchfocal.reference loaded without NumPy")
        assert "numpy" not in sys.modules and "triton" not in sys.modules
        print("ok")
        """,
        blocked=True,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("ok"), result.stdout


def test_import_loads_neither_numpy_nor_triton_nor_the_oracle() -> None:
    """Where they are installed (torch may load NumPy itself; what torchfocal adds counts)."""
    result = _run(
        """
        import sys
        import torch
        before = set(sys.modules)
        import torchfocal
        added = set(sys.modules) - before
        loaded = sorted(m for m in added if m.partition(".")[0] in ("numpy", "triton"))
        assert not loaded, loaded
        assert "torchfocal.reference" not in sys.modules
        reference = torchfocal.reference  # the first access imports it
        assert reference is sys.modules["torchfocal.reference"]
        assert reference.__name__ == "torchfocal.reference"
        assert callable(reference.sigmoid_focal_loss)
        from torchfocal import reference as again
        assert again is reference
        try:
            torchfocal.no_such_name
        except AttributeError as error:
            assert "no_such_name" in str(error)
        else:
            raise AssertionError("torchfocal.no_such_name did not raise")
        print("ok")
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("ok"), result.stdout


def test_boosting_imports_no_torch() -> None:
    """``import torchfocal.boosting`` loads no torch, and the objectives run where torch
    cannot be imported at all (torch blocked like NumPy is in _BLOCK)."""
    result = _run(
        """
        import importlib.abc
        import sys

        class NoTorch(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.partition(".")[0] == "torch":
                    raise ModuleNotFoundError(f"No module named {name!r} (blocked)", name=name)
                return None

        sys.meta_path.insert(0, NoTorch())
        import numpy as np
        import torchfocal
        import torchfocal.boosting
        from torchfocal.boosting import FocalObjective
        assert "torch" not in sys.modules, sorted(m for m in sys.modules if "torch" in m)
        grad, hess = FocalObjective(gamma=2.0, alpha=0.25).gradient_hessian(
            np.array([0.0, 1.0]), np.array([1, 0])
        )
        assert np.isfinite(grad).all() and (hess > 0).all()
        assert "torch" not in sys.modules
        try:
            torchfocal.sigmoid_focal_loss
        except ModuleNotFoundError as error:  # the torch losses need torch, and say so
            assert error.name == "torch", error
        else:
            raise AssertionError("torchfocal.sigmoid_focal_loss loaded without torch")
        print("ok")
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("ok"), result.stdout


def test_lazy_top_level_keeps_every_name() -> None:
    """Every name of __all__ resolves through PEP 562 to the object its module defines, dir()
    lists it, and ``from torchfocal import *`` gives them all."""
    result = _run(
        """
        import sys
        import torchfocal
        assert "torch" not in sys.modules  # import torchfocal alone loads nothing
        for name in torchfocal.__all__:
            assert name in dir(torchfocal), name
        assert torchfocal.SigmoidFocalLoss is sys.modules["torchfocal.nn"].SigmoidFocalLoss
        from torchfocal import softmax_focal_loss
        assert softmax_focal_loss is sys.modules["torchfocal.functional"].softmax_focal_loss
        namespace = {}
        exec("from torchfocal import *", namespace)
        missing = [n for n in torchfocal.__all__ if n not in namespace]
        assert not missing, missing
        assert torchfocal.boosting.FocalObjective is not None
        print("ok")
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("ok"), result.stdout
