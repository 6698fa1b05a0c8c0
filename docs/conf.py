"""Sphinx configuration of the documentation site.

Build: ``pip install -e ".[docs]"`` then ``python -m sphinx -W --keep-going -b html docs
<out>`` (warnings are errors; .ci/run does this); the docstring examples run with ``-b
doctest``. Nothing is fetched from the network, at build time or when a page is viewed:
MathJax is served from the site itself (sphinx-mathjax-offline), the theme uses system fonts,
and the Python, NumPy and PyTorch inventories are local files (below).
"""

from __future__ import annotations

import posixpath
import re
import sys
from pathlib import Path

from sphinx.application import Sphinx
from sphinx.util.inspect import TypeAliasForwardRef

ROOT = Path(__file__).resolve().parents[1]
# The site documents this checkout's code, whatever torchfocal is installed.
sys.path.insert(0, str(ROOT / "src"))
# This site's own extensions (docs/_ext/).
sys.path.insert(0, str(ROOT / "docs" / "_ext"))

import torchfocal  # noqa: E402

project = "torchfocal"
author = "torchfocal developers"
copyright = "torchfocal developers"
release = version = torchfocal.__version__

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    # Copies MathJax 3 into the site's _static/ and points mathjax_path at it.
    "sphinx-mathjax-offline",
    "sphinx.ext.intersphinx",
    "sphinx.ext.doctest",
    # The API pages' loss entries, from the loss registry (docs/_ext/registry_pages.py).
    "registry_pages",
]

exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
root_doc = "index"

# Every cross-reference must resolve: a type in a signature or a :func: in a docstring that
# names nothing on the site or in the inventories below is a warning, so an error under -W.
nitpicky = True

# The Python, NumPy and PyTorch objects the signatures and docstrings name, linked to their
# documentation through small local inventories (docs/_inventories/, Sphinx's plain-text
# inventory format): intersphinx would otherwise download each project's objects.inv at
# every build, and the build has no network. A name missing from them is an unresolved
# reference, hence a build error: add it to the inventory of its project.
intersphinx_mapping = {
    "python": ("https://docs.python.org/3/", "_inventories/python.txt"),
    "numpy": ("https://numpy.org/doc/stable/", "_inventories/numpy.txt"),
    "torch": ("https://docs.pytorch.org/docs/stable/", "_inventories/torch.txt"),
}

# Docstrings: Google sections (napoleon) around reST markup, rendered as written.
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_class_signature = "mixed"
autodoc_preserve_defaults = True
# A method without a docstring of its own (forward) is left out, not given nn.Module's.
autodoc_inherit_docstrings = False
# The aliases of public signatures keep their names, each a link to its entry in the API
# reference's index (docs/api/index.md, "Types in signatures"); shorter ones (ClassCounts,
# Prior) are shown expanded. A name in a signature that the site does not define is an
# unresolved reference, hence a build error.
autodoc_type_aliases = {
    name: name.rpartition(".")[2]
    for name in (
        "v.ClassValues",
        "v.GammaSpec",
        "Counts",
        "Array",
        "Gamma",
        "HessianMode",
        "GradHess",
    )
} | {
    "ArrayLike": "numpy.typing.ArrayLike",
    "npt.ArrayLike": "numpy.typing.ArrayLike",
    # CatBoostMetric wraps a metric of their private base class: one of the two public ones.
    "_Metric": "FocalLossMetric | BalancedLogLoss",
}
python_use_unqualified_type_names = True
python_maximum_signature_line_length = 88


def _alias_name(alias: TypeAliasForwardRef) -> str:
    return alias.name


# Sphinx 9 writes an autodoc_type_aliases name that stands inside a larger annotation
# (``ClassValues | None``, ``tuple[Array, Array]``) as its repr,
# ``TypeAliasForwardRef('ClassValues')``: it stringifies such objects by repr. Should that
# change, the nitpicky build fails on the unresolved name.
TypeAliasForwardRef.__repr__ = _alias_name  # type: ignore[method-assign]

# Markdown pages: $$...$$ display math (docs/math.md), heading anchors for links such as
# boosting.md#does-focal-loss-help-tabular-data.
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 4

html_theme = "furo"
html_title = f"torchfocal {release}"
html_static_path = ["_static"]
html_css_files = ["custom.css"]
html_show_sourcelink = False

doctest_global_setup = "import torch\nimport torchfocal"

# Pages made of files outside docs/, without copying them:
# - ``<!-- include: PATH -->`` is replaced by the repository file PATH (docs/benchmarks.md
#   shows benchmarks/BENCHMARKS.md);
# - ``<!-- README section: TITLE -->`` by README's section ``## TITLE`` up to the next
#   ``## `` heading (docs/demo.md shows the README's demo results).
# Their relative links are rewritten from the file's folder to docs/, so that a link to a
# file beside it (benchmarks/results-cpu.json) becomes a download of that file.
INCLUDE = re.compile(r"^<!-- include: (?P<path>\S+) -->$", flags=re.M)
README_SECTION = re.compile(r"^<!-- README section: (?P<title>.+?) -->$", flags=re.M)
LINK_TARGET = re.compile(r"(\]\()(?P<target>[^)\s]+)")


def relinked(text: str, folder: str) -> str:
    """``text``'s relative links, written from ``folder`` (relative to the root), from docs/."""

    def relink(link: re.Match[str]) -> str:
        target = link["target"]
        if re.match(r"[a-z]+:|#|/", target):
            return link.group(0)
        return link.group(1) + posixpath.relpath(posixpath.join(folder, target), "docs")

    return LINK_TARGET.sub(relink, text)


def readme_section(title: str, readme: str) -> str:
    """The body of README's ``## title`` section."""
    match = re.search(rf"^## {re.escape(title)}\n(?P<body>.*?)(?=^## |\Z)", readme, re.M | re.S)
    if match is None:
        raise ValueError(f"README.md has no section '## {title}' (asked for by a docs page)")
    return match["body"].strip("\n")


def include_repository_files(app: Sphinx, docname: str, source: list[str]) -> None:
    def read(path: str) -> str:
        app.env.note_dependency(str(ROOT / path))
        return (ROOT / path).read_text(encoding="utf-8")

    text = INCLUDE.sub(
        lambda marker: relinked(read(marker["path"]), posixpath.dirname(marker["path"])),
        source[0],
    )
    source[0] = README_SECTION.sub(
        lambda marker: relinked(readme_section(marker["title"], read("README.md")), "."),
        text,
    )


def setup(app: Sphinx) -> None:
    app.connect("source-read", include_repository_files)
