"""The Python examples of the README and of the documentation site run, the site's API
reference names every public object, and the docstring examples print what they say."""

from __future__ import annotations

import doctest
import importlib
import importlib.util
import inspect
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest

import torchfocal
import torchfocal.compat
from torchfocal.registry import LOSSES

ROOT = Path(__file__).resolve().parents[1]
PYTHON_BLOCK = re.compile(r"```python\n(.*?)```", flags=re.S)
DIRECTIVE = re.compile(
    r"^\.\. auto(?:function|class|module|data|exception):: (?P<identifier>[\w.]+)$", flags=re.M
)
TOCTREE = re.compile(r"^```\{toctree\}\n(?P<body>.*?)^```", flags=re.M | re.S)
TOCTREE_ENTRY = re.compile(r"^(?:[^<\n]*<(?P<titled>[^>]+)>|(?P<bare>[\w/.-]+))$", flags=re.M)


def toctree_pages(page: str) -> list[str]:
    """The documents a Markdown page's toctrees list, relative to docs/ (``self`` left out)."""
    folder = Path(page).parent
    entries = [
        entry["titled"] or entry["bare"]
        for toctree in TOCTREE.finditer((ROOT / "docs" / page).read_text(encoding="utf-8"))
        for entry in TOCTREE_ENTRY.finditer(toctree["body"])
        if not entry.group(0).startswith(":")
    ]
    return [(folder / entry).as_posix() + ".md" for entry in entries if entry != "self"]


def python_blocks(page: str) -> list[str]:
    return PYTHON_BLOCK.findall((ROOT / page).read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    "page", ["README.md", "docs/index.md", "docs/getting-started.md", "docs/choosing.md"]
)
def test_python_blocks_run(page: str) -> None:
    """Each block runs on its own, as a reader copies it."""
    blocks = python_blocks(page)
    assert blocks, f"{page} must hold a Python example"
    for number, block in enumerate(blocks, start=1):
        exec(compile(block, f"{page}, block {number}", "exec"), {"__name__": "docs"})


def test_choosing_table_calls_are_the_tested_ones() -> None:
    """Every call in the decision table appears verbatim in a block of the page."""
    text = (ROOT / "docs/choosing.md").read_text(encoding="utf-8")
    rows = [line for line in text.splitlines() if line.startswith("| ")][2:]
    calls = [re.findall(r"`(torchfocal\.[^`]+)`", row)[-1] for row in rows]
    assert len(calls) == len(rows) >= 6
    code = "\n".join(python_blocks("docs/choosing.md"))
    assert [call for call in calls if call not in code] == []


def _registry_pages() -> ModuleType:
    """docs/_ext/registry_pages.py, the site's extension that writes the API pages' losses."""
    spec = importlib.util.spec_from_file_location(
        "registry_pages", ROOT / "docs" / "_ext" / "registry_pages.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def _resolve(identifier: str) -> object:
    parts = identifier.split(".")
    for split in range(len(parts), 0, -1):
        try:
            obj: object = importlib.import_module(".".join(parts[:split]))
        except ModuleNotFoundError:
            continue
        for name in parts[split:]:
            obj = getattr(obj, name)
        return obj
    raise ValueError(f"{identifier} names no module")


def _public(module: ModuleType) -> dict[str, object]:
    """``__all__``, or else the public functions and classes the module defines."""
    names = getattr(module, "__all__", None) or [
        name
        for name, obj in vars(module).items()
        if not name.startswith("_")
        and (inspect.isfunction(obj) or inspect.isclass(obj))
        and obj.__module__ == module.__name__
    ]
    return {f"{module.__name__}.{name}": getattr(module, name) for name in names}


def test_api_reference_documents_every_public_name() -> None:
    """The API pages in the site's table of contents hold an autodoc directive
    (``.. autofunction:: identifier``, ...) for every public object: torchfocal's ``__all__``,
    the public names of functional, nn, weighting and reference, and of each compat module."""
    assert "api/index.md" in toctree_pages("index.md")
    nav_pages = toctree_pages("api/index.md")
    assert "api/functional.md" in nav_pages
    # The pages as Sphinx reads them: their registry markers written out as the site's
    # extension writes them.
    expand = _registry_pages().expand
    documented = [
        _resolve(match["identifier"])
        for page in nav_pages
        for match in DIRECTIVE.finditer(expand((ROOT / "docs" / page).read_text(encoding="utf-8")))
    ]
    public = {f"torchfocal.{name}": getattr(torchfocal, name) for name in torchfocal.__all__}
    del public["torchfocal.__version__"]  # a string, named in the reference's text
    for module in (
        torchfocal.functional,
        torchfocal.nn,
        torchfocal.weighting,
        torchfocal.reference,
    ):
        public |= _public(module)
    boosting = importlib.import_module("torchfocal.boosting")
    public |= {k: v for k, v in _public(boosting).items() if not isinstance(v, tuple)}
    for name in torchfocal.compat.__all__:
        public |= _public(importlib.import_module(f"torchfocal.compat.{name}"))
    missing = [name for name, obj in public.items() if not any(obj is doc for doc in documented)]
    assert missing == []


@pytest.mark.parametrize(
    "module",
    [
        # every loss module, from the registry
        *sorted({info.function.__module__ for info in LOSSES}),
        "torchfocal.nn",
        "torchfocal.weighting",
        "torchfocal.compat.ultralytics",
        "torchfocal.compat.yolov5",
        "torchfocal.compat.class_balanced",
        "torchfocal.compat.tensorflow",
        "torchfocal.boosting._objective",
    ],
)
def test_docstring_examples(module: str) -> None:
    mod = importlib.import_module(module)
    result = doctest.testmod(mod, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
    assert result.attempted > 0, f"{module} has no docstring example"


def test_signature_type_aliases_are_documented_as_defined() -> None:
    """docs/api/index.md spells out ClassValues and GammaSpec as the code defines them."""
    from torchfocal._engine import checks

    page = (ROOT / "docs/api/index.md").read_text(encoding="utf-8")
    for name in ("ClassValues", "GammaSpec"):
        entry = re.search(rf"^\.\. py:type:: {name}\n   :canonical: (?P<value>.+)$", page, re.M)
        assert entry is not None, f"docs/api/index.md does not define {name}"
        assert entry["value"] == str(getattr(checks, name))
