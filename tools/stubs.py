"""Write the type stubs of torchfocal's namespaces from the loss registry.

``torchfocal/__init__.py``, ``torchfocal/functional.py`` and ``torchfocal/nn.py`` take their
losses (functions and module classes) from the registry (:data:`torchfocal.registry.LOSSES`)
at run time, so a new loss module is found and no export list is edited. Type checkers
cannot run that code: they read the stubs beside the modules, ``__init__.pyi``,
``functional.pyi`` and ``nn.pyi``, which this tool generates (as PyTorch generates
``torch/nn/functional.pyi``). Each stub re-exports every public name from the module that
defines it, so a user's ``mypy --strict`` sees each loss's own signature (a module class's
``__init__`` included).

    python tools/stubs.py          # write the stubs
    python tools/stubs.py --check  # exit 1 if a stub is stale (tests/test_stubs.py)
"""

from __future__ import annotations

import argparse
import ast
import importlib
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "torchfocal"
COMMAND = "python tools/stubs.py"
HEADER = (
    "# Generated from the loss registry by tools/stubs.py: do not edit. After adding or\n"
    f"# renaming a loss, regenerate with `{COMMAND}`.\n\n"
)


def _load() -> tuple[object, object]:
    """torchfocal and its registry, from this checkout's src/ (not an installed copy)."""
    sys.path.insert(0, str(ROOT / "src"))
    try:
        return importlib.import_module("torchfocal"), importlib.import_module("torchfocal.registry")
    finally:
        sys.path.pop(0)


def _relative(module: str) -> str:
    """``torchfocal.losses.dice`` -> ``.losses.dice`` (a stub imports within its package)."""
    if module != "torchfocal" and not module.startswith("torchfocal."):
        raise ValueError(f"module must be inside torchfocal; got {module!r}")
    return "." + module.removeprefix("torchfocal").removeprefix(".")


def _lines(imports: dict[str, str], names: list[str], extra: str = "") -> str:
    """The stub: one ``from <module> import <name> as <name>`` per name (an explicit
    re-export), then ``extra`` and ``__all__``."""
    body = [HEADER]
    for name in sorted(imports, key=lambda n: (imports[n], n)):
        source = imports[name]
        if source == ".":
            body.append(f"from . import {name} as {name}\n")
        else:
            body.append(f"from {source} import {name} as {name}\n")
    body.append("\n")
    body.append(extra)
    body.append("__all__ = [\n")
    body.extend(f'    "{name}",\n' for name in names)
    body.append("]\n")
    return "".join(body)


def _static_imports(path: Path) -> dict[str, str]:
    """The names a module imports at its top level, written out (its non-loss names)."""
    found: dict[str, str] = {}
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module:
            for alias in node.names:
                if not (alias.asname or alias.name).startswith("_"):
                    found[alias.asname or alias.name] = f".{node.module}"
    return found


def render() -> dict[Path, str]:
    """Every stub's path and text, from the registry and the modules' own written-out
    (non-loss) names."""
    torchfocal, registry = _load()
    losses = registry.LOSSES  # type: ignore[attr-defined]

    functional = _static_imports(PACKAGE / "functional.py")
    functional.update({info.name: _relative(info.function.__module__) for info in losses})
    functional_all = sorted(importlib.import_module("torchfocal.functional").__all__)
    if set(functional_all) != set(functional):
        differ = sorted(set(functional_all) ^ set(functional))
        raise RuntimeError(f"functional.__all__ and its imports differ: {differ}")

    # Each module class is defined in its loss's module (the function's), public as nn's.
    nn = {info.module: _relative(info.function.__module__) for info in losses}
    nn_all = sorted(importlib.import_module("torchfocal.nn").__all__)
    if set(nn_all) != set(nn):
        raise RuntimeError(f"nn.__all__ and the registry differ: {sorted(set(nn_all) ^ set(nn))}")

    top = {name: "." for name in torchfocal._ALL_SUBMODULES}  # type: ignore[attr-defined]
    top["nn"] = "."  # torchfocal.nn.X for type checkers too (it is an attribute at run time)
    top.update({name: f".{module}" for name, module in torchfocal._FROM.items()})  # type: ignore[attr-defined]
    top.update({info.name: ".functional" for info in losses})
    top.update({info.module: ".nn" for info in losses})
    top_all = sorted(torchfocal.__all__)  # type: ignore[attr-defined]
    return {
        PACKAGE / "functional.pyi": _lines(functional, functional_all),
        PACKAGE / "nn.pyi": _lines(nn, nn_all),
        PACKAGE / "__init__.pyi": _lines(top, top_all, "__version__: str\n\n"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if a stub is stale")
    args = parser.parse_args(argv)
    stale = []
    for path, text in render().items():
        if not path.exists() or path.read_text() != text:
            stale.append(path.relative_to(ROOT))
            if not args.check:
                path.write_text(text)
    if args.check and stale:
        print(f"stale: {', '.join(map(str, stale))}; regenerate with `{COMMAND}`")
        return 1
    for path in stale:
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
