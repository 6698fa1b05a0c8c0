"""The built documentation site renders the docstrings as written: every docstring example is
a code block (not nested blockquotes), no LaTeX is left raw outside rendered math, every
type named in a signature links to where it is defined, and the API pages show every
registered loss under its section (the pages' loss entries are written from the registry).

The site is built once (Sphinx, ``docs/conf.py``) into a temporary folder: about 40 s on a
busy 2-core CPU. The checkers are tested on planted bad pages too, so that a check that
cannot fail would show.
"""

from __future__ import annotations

import builtins
import importlib.util
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
API_PAGES = ("functional", "nn", "weighting", "compat", "reference", "boosting", "index")
# What a reader would see as LaTeX source: the commands the docstrings and docs/math.md use.
LATEX = re.compile(
    r"\\(?:sigma|ell|alpha|beta|gamma|delta|epsilon|tau|lambda|mathrm|frac|sum|prod|log|"
    r"partial|cdot|quad|qquad|left|right|text|textstyle|Big|le|ge|sqrt|exp|max|min)\b"
)
IDENTIFIER = re.compile(r"[A-Za-z_][\w.]*")
# Builtins (int, float, str, None, tuple, ...) need no link.
UNLINKED_NAMES = frozenset(dir(builtins))
# Parts of a signature that are not annotations: the object's name, parameter defaults,
# keywords (property, type), punctuation, operators, white space, string and number literals
# (Literal["exact", ...]).
NOT_ANNOTATION = frozenset(
    {"sig-name", "sig-prename", "default_value", "k", "p", "o", "w", "s", "m", "headerlink"}
    | {"sig-paren"}
)


class Page(HTMLParser):
    """Collects what the checks read from one HTML page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, set[str]]] = []
        self.misplaced_examples: list[str] = []
        self.blockquotes = 0
        self.examples = 0
        self.raw_latex: list[str] = []
        self.unlinked_types: list[str] = []
        self.annotation_names = 0
        self.after_colon = False  # in the current parameter: past its "name:"

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        classes = set((dict(attrs).get("class") or "").split())
        if tag == "em" and "sig-param" in classes:
            self.after_colon = False
        self.blockquotes += tag == "blockquote"
        self.stack.append((tag, classes))

    def handle_endtag(self, tag: str) -> None:
        # HTML allows unclosed elements (<p>, <li>, <dd>): close up to the matching tag.
        for depth in range(len(self.stack) - 1, -1, -1):
            if self.stack[depth][0] == tag:
                del self.stack[depth:]
                return

    def _inside(self, tag: str | None = None, css_class: str | None = None) -> bool:
        return any(
            (tag is None or t == tag) and (css_class is None or css_class in c)
            for t, c in self.stack
        )

    def handle_data(self, data: str) -> None:
        if self._inside("script") or self._inside("style"):
            return
        if ">>>" in data:
            self.examples += 1
            if not self._inside("pre") or self._inside("blockquote"):
                self.misplaced_examples.append(data.strip())
        if not self._inside(css_class="math"):
            self.raw_latex += LATEX.findall(data)
        if self._inside("dt", "sig"):
            self._signature_text(data)

    def _signature_text(self, data: str) -> None:
        in_param = self._inside("em", "sig-param")
        if in_param and self._inside(css_class="p") and data.strip() == ":":
            self.after_colon = True
        if any(classes & NOT_ANNOTATION for _, classes in self.stack):
            return
        if in_param and not self.after_colon:
            return  # the parameter's name
        for name in IDENTIFIER.findall(data):
            if name in UNLINKED_NAMES:
                continue
            self.annotation_names += 1
            if not self._inside("a"):
                self.unlinked_types.append(name)


def read(html: str) -> Page:
    page = Page()
    page.feed(html)
    page.close()
    return page


# The checkers on planted pages: each flags what it must.

# How the mkdocs site rendered a docstring example: Markdown read each ">" of ">>>" as a
# blockquote, so the prompt itself was gone.
MKDOCS_EXAMPLE = (
    "<blockquote><blockquote><blockquote><p>import torch, torchfocal "
    "torchfocal.sigmoid_focal_loss(x, y)</p></blockquote></blockquote></blockquote>"
)
SPHINX_EXAMPLE = (
    '<div class="highlight"><pre><span></span><span class="gp">&gt;&gt;&gt; </span>'
    "<span>import</span> torch</pre></div>"
)


def _signature(annotation: str) -> str:
    return (
        '<dl><dt class="sig sig-object py" id="f"><span class="sig-name descname">'
        '<span class="pre">f</span></span><span class="sig-paren">(</span><em class="sig-param">'
        '<span class="n"><span class="pre">alpha</span></span><span class="p">'
        '<span class="pre">:</span></span><span class="w"> </span>'
        f'<span class="n">{annotation}</span><span class="w"> </span><span class="p">'
        '<span class="pre">|</span></span><span class="w"> </span><span class="pre">None</span>'
        '<span class="o"><span class="pre">=</span></span><span class="default_value">'
        '<span class="pre">Default</span></span></em><span class="sig-paren">)</span></dt></dl>'
    )


def test_checker_flags_an_example_in_blockquotes() -> None:
    assert read(MKDOCS_EXAMPLE).blockquotes == 3
    assert read("<blockquote><p>&gt;&gt;&gt; x = 1</p></blockquote>").misplaced_examples != []
    assert read("<p>&gt;&gt;&gt; x = 1</p>").misplaced_examples != []
    page = read(SPHINX_EXAMPLE)
    assert page.misplaced_examples == [] and page.examples == 1


def test_checker_flags_raw_latex() -> None:
    assert read(r"<pre><code>\ell = \alpha_t \, (1 - p_t)^\gamma</code></pre>").raw_latex
    assert read(r"<p>with <code>p = \sigma(x)</code></p>").raw_latex == ["\\sigma"]
    assert read(r'<p><span class="math">\(p = \sigma(x)\)</span></p>').raw_latex == []


def test_checker_flags_an_unlinked_type() -> None:
    unlinked = read(_signature('<span class="pre">ClassValues</span>'))
    assert unlinked.unlinked_types == ["ClassValues"]
    linked = read(
        _signature('<a href="index.html#ClassValues"><span class="pre">ClassValues</span></a>')
    )
    assert linked.unlinked_types == [] and linked.annotation_names == 1


# The site itself.


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    for module in ("sphinx", "myst_parser", "furo", "sphinx-mathjax-offline"):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f'{module} is not installed: pip install -e ".[docs]"')
    out = tmp_path_factory.mktemp("site")
    # A separate process: the build imports the checkout's torchfocal and Sphinx's
    # extensions, and its warnings are CI's strict build's business, not this test's.
    build = subprocess.run(
        [sys.executable, "-m", "sphinx", "-b", "html", "-q", str(ROOT / "docs"), str(out)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert build.returncode == 0, build.stderr[-4000:]
    return out


@pytest.fixture(scope="module")
def api_pages(site: Path) -> dict[str, Page]:
    return {
        name: read((site / "api" / f"{name}.html").read_text(encoding="utf-8"))
        for name in API_PAGES
    }


def test_docstring_examples_are_code_blocks(api_pages: dict[str, Page]) -> None:
    """No blockquote at all (an indented docstring line that reST took for a quotation, or an
    example as the mkdocs site showed them), and every example in a code block."""
    assert {name: page.blockquotes for name, page in api_pages.items() if page.blockquotes} == {}
    assert {
        name: page.misplaced_examples for name, page in api_pages.items() if page.misplaced_examples
    } == {}
    for name in ("functional", "nn", "weighting", "compat"):
        assert api_pages[name].examples >= 5, f"api/{name}.html shows no examples"


def test_no_raw_latex(site: Path, api_pages: dict[str, Page]) -> None:
    pages = dict(api_pages)
    pages["math"] = read((site / "math.html").read_text(encoding="utf-8"))
    assert {name: page.raw_latex for name, page in pages.items() if page.raw_latex} == {}
    functional = (site / "api" / "functional.html").read_text(encoding="utf-8")
    assert r'<span class="math notranslate nohighlight">\(p = \sigma(x)\)</span>' in functional
    # MathJax comes with the site: no page needs the network to show its formulas.
    assert (site / "_static" / "mathjax" / "tex-chtml.js").is_file()
    assert 'src="_static/mathjax/tex-chtml.js' in (site / "math.html").read_text(encoding="utf-8")


def test_signature_types_link_to_their_definitions(api_pages: dict[str, Page]) -> None:
    assert {
        name: page.unlinked_types for name, page in api_pages.items() if page.unlinked_types
    } == {}
    assert api_pages["functional"].annotation_names > 100


def test_type_aliases_are_defined_on_the_site(site: Path) -> None:
    index = (site / "api" / "index.html").read_text(encoding="utf-8")
    functional = (site / "api" / "functional.html").read_text(encoding="utf-8")
    for alias in ("ClassValues", "GammaSpec"):
        assert f'id="{alias}"' in index
        assert f'href="index.html#{alias}"' in functional


def test_init_is_not_bold(site: Path) -> None:
    """Markdown read ``__init__`` as bold "init"; reST keeps it."""
    nn = (site / "api" / "nn.html").read_text(encoding="utf-8")
    assert "__init__ validates and registers buffers" in nn
    assert "<strong>init</strong>" not in nn


HEADING_OR_OBJECT = re.compile(
    r'<h2>(?P<heading>[^<]+)|<dt class="sig sig-object py" id="(?P<id>[^"]+)"'
)


def _listed(html: str, objects: set[str]) -> list[tuple[str, str]]:
    """``(section heading, id)`` of each of ``objects`` that the page documents, in page order
    (heading "" for those above the first section)."""
    listed: list[tuple[str, str]] = []
    heading = ""
    for match in HEADING_OR_OBJECT.finditer(html):
        if match["heading"] is not None:
            heading = match["heading"]
        elif match["id"] in objects:
            listed.append((heading, match["id"]))
    return listed


@pytest.mark.parametrize("page", ["functional", "nn", "reference"])
def test_the_api_pages_hold_every_registered_loss_by_section(site: Path, page: str) -> None:
    """The built pages show every registry entry (function, module class, oracle), under its
    section's heading and in its place: what docs/_ext/registry_pages.py writes from the
    registry. The oracle page heads its region losses only."""
    from torchfocal.registry import API_SECTIONS, LOSSES

    keys = list(API_SECTIONS)
    expected: list[tuple[str, str]] = []
    for info in sorted(LOSSES, key=lambda info: (keys.index(info.section[0]), info.section[1])):
        heading = API_SECTIONS[info.section[0]]
        if page == "functional":
            expected.append((heading, f"torchfocal.{info.name}"))
        elif page == "nn":
            expected.append((heading, f"torchfocal.{info.module}"))
        elif info.reference is not None:
            heading = heading if info.section[0] == "region" else ""
            expected.append((heading, f"torchfocal.reference.{info.reference}"))
    html = (site / "api" / f"{page}.html").read_text(encoding="utf-8")
    assert _listed(html, {name for _, name in expected}) == expected
