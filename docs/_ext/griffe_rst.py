"""Griffe extension for the API reference: the docstrings' reST markup, in Markdown.

torchfocal's docstrings use Google sections (parsed by mkdocstrings) around reST markup that
reads well in ``help()``: roles such as :func:`name` and :math:`p_t`, and ``.. math::``
blocks. Markdown would show those literally, so once the package is loaded:

- a role naming a torchfocal object becomes an optional cross-reference to its canonical
  path: a link where the site documents that object, plain code where it does not (no
  warning either way). A relative name is looked up in the class, the module, then the
  ``torchfocal`` namespace, as Sphinx would;
- any other role (torch's names, math) becomes inline code;
- a ``.. math::`` block becomes a fenced code block of its indented lines;
- a list that starts right below a line of text gets the blank line Markdown needs.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from typing import Any

import griffe

ROLE = re.compile(r":(?P<role>func|meth|class|mod|attr|data|obj|exc|math):`(?P<target>[^`]+)`")
MATH_DIRECTIVE = re.compile(r"^(?P<indent>[ \t]*)\.\. math::[ \t]*$")
LIST_ITEM = re.compile(r"^[ \t]*- ")


def _objects(obj: griffe.Object) -> Iterator[griffe.Object]:
    yield obj
    for member in obj.members.values():
        if not member.is_alias:
            yield from _objects(member)


def _canonical(path: str, obj: griffe.Object) -> str | None:
    """The canonical path of the object named ``path``, or None where griffe has none."""
    try:
        return obj.modules_collection[path].canonical_path
    except (KeyError, griffe.AliasResolutionError, griffe.CyclicAliasError):
        return None


def _identifier(target: str, obj: griffe.Object, pkg: griffe.Module) -> str:
    if target.startswith(pkg.path + ".") or target == pkg.path:
        return _canonical(target, obj) or target
    scopes = [obj.path] if obj.is_class or obj.is_module else []
    if obj.parent is not None and obj.parent.is_class:
        scopes.append(obj.parent.path)
    scopes += [obj.module.path, pkg.path]
    for scope in scopes:
        found = _canonical(f"{scope}.{target}", obj)
        if found is not None:
            return found
    return f"{pkg.path}.{target}"


def _role(match: re.Match[str], obj: griffe.Object, pkg: griffe.Module) -> str:
    role, target = match["role"], match["target"]
    if role == "math":
        return f"`{target}`"
    shown = target.lstrip("~")
    name = shown.rsplit(".", 1)[-1] if target.startswith("~") else shown
    if shown.split(".")[0] == "torch":
        return f"`{name}`"
    identifier = _identifier(shown, obj, pkg)
    return (
        f'<autoref identifier="{html.escape(identifier)}" optional>'
        f"<code>{html.escape(name)}</code></autoref>"
    )


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _blocks(text: str) -> str:
    """``.. math::`` blocks -> fenced ``text`` blocks; a blank line before each list."""
    lines = text.split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        directive = MATH_DIRECTIVE.match(lines[i])
        if directive is None:
            previous = out[-1] if out else ""
            after_text = previous.strip() and not LIST_ITEM.match(previous)
            if LIST_ITEM.match(lines[i]) and after_text and _indent(previous) <= _indent(lines[i]):
                out.append("")
            out.append(lines[i])
            i += 1
            continue
        indent = directive["indent"]
        body: list[str] = []
        i += 1
        while i < len(lines) and (not lines[i].strip() or _indent(lines[i]) > len(indent)):
            body.append(lines[i])
            i += 1
        while body and not body[-1].strip():
            body.pop()
        while body and not body[0].strip():
            body.pop(0)
        depth = min(_indent(line) for line in body if line.strip())
        out.append(f"{indent}```text")
        out.extend(indent + line[depth:] if line.strip() else "" for line in body)
        out.append(f"{indent}```")
        if i < len(lines):
            out.append("")
    return "\n".join(out)


def _markdown(text: str, obj: griffe.Object, pkg: griffe.Module) -> str:
    return ROLE.sub(lambda match: _role(match, obj, pkg), _blocks(text))


class ReSTMarkup(griffe.Extension):
    """Rewrites every docstring's reST roles and math blocks as Markdown."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        for obj in _objects(pkg):
            if obj.docstring is not None:
                obj.docstring.value = _markdown(obj.docstring.value, obj, pkg)
