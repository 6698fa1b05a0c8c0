"""MkDocs hooks: pages built from files outside docs/, without copying them.

- ``docs/benchmarks.md`` includes ``benchmarks/BENCHMARKS.md`` (pymdownx.snippets), whose
  links name its JSON results beside it (``results-cpu.json``): those files are added to the
  site next to the page, so the links work as they do in the repository.
- A line ``<!-- README section: TITLE -->`` in a page is replaced by the README's section
  ``## TITLE`` (up to the next ``## `` heading, the heading itself left out), its relative
  links rewritten from the repository root to docs/ and a blank line put before each list
  that follows a line of text (GitHub renders such a list; Python-Markdown needs the blank
  line). Snippets cannot do this: README.md has no snippet markers, and its links are
  relative to the root.
"""

from __future__ import annotations

import posixpath
import re
from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parents[2]
SECTION_MARKER = re.compile(r"^<!-- README section: (?P<title>.+?) -->$", flags=re.M)
LINK_TARGET = re.compile(r"(\]\()(?P<target>[^)\s]+)")


def readme_section(title: str, readme: str) -> str:
    """The body of README's ``## title`` section, in Markdown that docs/ renders alike."""
    match = re.search(rf"^## {re.escape(title)}\n(?P<body>.*?)(?=^## |\Z)", readme, re.M | re.S)
    if match is None:
        raise ValueError(f"README.md has no section '## {title}' (asked for by a docs page)")

    def relink(link: re.Match[str]) -> str:
        target = link["target"]
        if re.match(r"[a-z]+:|#|/", target):
            return link.group(0)
        return link.group(1) + posixpath.relpath(target, "docs")

    lines: list[str] = []
    fenced = False
    for line in match["body"].strip("\n").split("\n"):
        fenced ^= line.startswith("```")
        after_text = bool(lines) and lines[-1].strip() and not lines[-1].startswith(("- ", "  "))
        if not fenced and line.startswith("- ") and after_text:
            lines.append("")
        lines.append(line if fenced else LINK_TARGET.sub(relink, line))
    return "\n".join(lines)


def on_files(files: Files, config: Any) -> Files:
    for result in sorted((ROOT / "benchmarks").glob("*.json")):
        files.append(File.generated(config, result.name, abs_src_path=str(result)))
    return files


def on_page_markdown(markdown: str, page: Any, config: Any, files: Files) -> str:
    if SECTION_MARKER.search(markdown) is None:
        return markdown
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    return SECTION_MARKER.sub(lambda marker: readme_section(marker["title"], readme), markdown)
