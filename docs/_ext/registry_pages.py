"""The API pages' loss entries, written from the loss registry (``torchfocal.registry``).

A page holds a marker line where its losses go::

    <!-- registry losses: functions -->
    <!-- registry losses: modules -->
    <!-- registry losses: oracles; headings from: region -->
    <!-- registry losses: functions; after logit_adjusted_cross_entropy: torchfocal.logit_adjust -->

and the marker is replaced, before the page is parsed (Sphinx's ``source-read``), by what a
hand-written page held: for each section of ``API_SECTIONS`` that has a loss of that kind,
its ``## heading`` and an ``{eval-rst}`` block with one ``autofunction`` (functions: the
public function; oracles: the :mod:`torchfocal.reference` function, where the loss has one)
or ``autoclass`` with ``:members:`` (modules) per loss, in the order of the entries'
places (``LossInfo.section``). Options, after ``;``:

- ``headings from: KEY``: the sections before ``KEY`` (in ``API_SECTIONS``'s order) come
  without a heading of their own, under the page's (the oracle page);
- ``after NAME: OBJECT``: the page documents ``OBJECT`` (a public object that is not a loss)
  right after the loss whose function is ``NAME``, with the same directive.

A new loss is on the pages as soon as its registry entry is: no page names a loss.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the tests import this module where Sphinx may not be installed
    from sphinx.application import Sphinx

    from torchfocal.registry import LossInfo

MARKER = re.compile(r"^<!-- registry losses: (?P<spec>.+?) -->$", flags=re.M)
KINDS = ("functions", "modules", "oracles")


@dataclass(frozen=True)
class Spec:
    """A marker's kind and options."""

    kind: str
    headings_from: str | None = None
    after: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


def parse(spec: str, sections: Collection[str]) -> Spec:
    """The marker text after ``registry losses:``."""
    kind, *options = (part.strip() for part in spec.split(";"))
    if kind not in KINDS:
        raise ValueError(f"a registry losses marker's kind must be one of {KINDS}; got {kind!r}")
    headings_from = None
    after: dict[str, tuple[str, ...]] = {}
    for option in options:
        name, colon, value = option.partition(":")
        name, value = name.strip(), value.strip()
        if colon and name == "headings from" and value in sections:
            headings_from = value
        elif colon and name.startswith("after ") and value:
            loss = name.removeprefix("after ").strip()
            after[loss] = (*after.get(loss, ()), value)
        else:
            raise ValueError(
                "a registry losses marker's option must be 'headings from: <section key>' "
                f"or 'after <loss function>: <object>'; got {option!r}"
            )
    return Spec(kind, headings_from, after)


def _entry(kind: str, target: str) -> str:
    if kind == "modules":
        return f".. autoclass:: {target}\n   :members:"
    return f".. autofunction:: {target}"


def _target(kind: str, info: LossInfo) -> str | None:
    if kind == "functions":
        return f"torchfocal.{info.name}"
    if kind == "modules":
        return f"torchfocal.{info.module}"
    return None if info.reference is None else f"torchfocal.reference.{info.reference}"


def losses_text(spec: Spec, losses: Sequence[LossInfo], sections: Mapping[str, str]) -> str:
    """The Markdown that replaces a marker: the losses of ``spec.kind``, by section."""
    by_section: dict[str, list[LossInfo]] = {key: [] for key in sections}
    for info in losses:
        by_section[info.section[0]].append(info)
    named = {info.name for info in losses}
    if not set(spec.after) <= named:
        raise ValueError(f"'after' must name loss functions; got {sorted(set(spec.after) - named)}")
    keys = list(sections)
    headed_from = keys.index(spec.headings_from) if spec.headings_from else 0
    # (heading, entries) per section; the sections without a heading make one block.
    blocks: list[tuple[str, list[str]]] = []
    for index, key in enumerate(keys):
        infos = sorted(by_section[key], key=lambda info: info.section[1])
        places = [info.section[1] for info in infos]
        if len(set(places)) != len(places):
            raise ValueError(
                f"the losses of section {key!r} must have distinct places; got "
                f"{[(info.name, info.section[1]) for info in infos]}"
            )
        entries: list[str] = []
        for info in infos:
            target = _target(spec.kind, info)
            if target is not None:
                entries.append(_entry(spec.kind, target))
            entries += [_entry(spec.kind, extra) for extra in spec.after.get(info.name, ())]
        if not entries:
            continue
        heading = f"## {sections[key]}\n\n" if index >= headed_from else ""
        if blocks and not heading and not blocks[-1][0]:
            blocks[-1][1].extend(entries)
        else:
            blocks.append((heading, entries))
    return "\n".join(
        f"{heading}```{{eval-rst}}\n" + "\n\n".join(entries) + "\n```\n"
        for heading, entries in blocks
    ).rstrip("\n")


def expand(text: str) -> str:
    """``text`` with each marker replaced by its losses, from the registry."""
    from torchfocal.registry import API_SECTIONS, LOSSES

    return MARKER.sub(
        lambda marker: losses_text(parse(marker["spec"], API_SECTIONS), LOSSES, API_SECTIONS),
        text,
    )


def _write_losses(app: Sphinx, docname: str, source: list[str]) -> None:
    if MARKER.search(source[0]) is None:
        return
    import torchfocal.losses

    # The page changes with any loss module's entry: rebuild it when one changes.
    for module in Path(torchfocal.losses.__file__).parent.glob("*.py"):
        app.env.note_dependency(str(module))
    source[0] = expand(source[0])


def setup(app: Sphinx) -> dict[str, Any]:
    app.connect("source-read", _write_losses)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
