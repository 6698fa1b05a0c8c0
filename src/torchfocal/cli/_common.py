"""Shared pieces of the command line: errors, optional dependencies, table output."""

from __future__ import annotations

import importlib
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any, NamedTuple


class CLIError(Exception):
    """Bad input: reported as one line on stderr with exit code 2."""


def require(module: str) -> ModuleType:
    """Import an optional dependency of the ``cli`` extra, or say how to get it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        package = {"sklearn": "scikit-learn"}.get(module.split(".")[0], module.split(".")[0])
        raise CLIError(
            f"this command needs {package}, part of the cli extra: pip install -e '.[cli]' in "
            "torchfocal's checkout"
        ) from None


def require_all(*modules: str) -> None:
    """Check a command's optional dependencies before it starts any work.

    The command then imports them where it uses them; checking first means a missing one
    is reported at once, not after a minute of training.
    """
    for module in modules:
        require(module)


class Comparison(NamedTuple):
    """One loss against the baseline on one metric, in percentage points as the reports show
    them (one decimal): ``mean``, ``baseline``, ``difference`` (of the two shown numbers) and
    ``spread`` (the combined seed spread); ``verdict`` is "helped", "hurt" or "made no clear
    difference to"."""

    verdict: str
    mean: float
    baseline: float
    difference: float
    spread: float


def compare(
    mean: float, std: float, base_mean: float, base_std: float, *, lower_is_better: bool = False
) -> Comparison:
    """Judge a loss's mean (fractions, with standard deviations over seeds) against the
    baseline's from the numbers rounded as shown, so that the difference a report prints is
    the difference of the two numbers beside it. A difference counts only where it exceeds
    the combined spread, the root of the sum of the two variances, and at least 0.1 point
    (one seed has no spread and must not call a tie)."""
    shown, shown_base = round(100 * mean, 1), round(100 * base_mean, 1)
    difference = round(shown - shown_base, 1)
    spread = max(round(100 * math.hypot(std, base_std), 1), 0.1)
    improvement = -difference if lower_is_better else difference
    if improvement > spread:
        verdict = "helped"
    elif improvement < -spread:
        verdict = "hurt"
    else:
        verdict = "made no clear difference to"
    return Comparison(verdict, shown, shown_base, difference, spread)


def print_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """A rich table on a terminal, aligned plain text when piped."""
    if sys.stdout.isatty():
        rich_console = require("rich.console")
        rich_table = require("rich.table")
        table = rich_table.Table(title=title)
        for column in columns:
            table.add_column(column, justify="right" if column != columns[0] else "left")
        for row in rows:
            table.add_row(*row)
        rich_console.Console().print(table)
        return
    print(plain_table(title, columns, rows))


def plain_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(c)), *(len(r[i]) for r in rows)) for i, c in enumerate(columns)]
    lines = [title] if title else []
    lines.append(
        "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(columns, widths, strict=True))
        )
    )
    lines.append("  ".join("-" * w for w in widths))
    for row in rows:
        lines.append(
            "  ".join(
                v.ljust(w) if i == 0 else v.rjust(w)
                for i, (v, w) in enumerate(zip(row, widths, strict=True))
            )
        )
    return "\n".join(lines)


def print_json(payload: Any) -> None:
    print(json.dumps(payload, indent=2))


def writable_file(path: str, suffixes: Sequence[str]) -> Path:
    target = Path(path)
    if target.suffix.lower() not in suffixes:
        raise CLIError(f"--out must end in one of {', '.join(suffixes)}; got {target.name!r}")
    if not target.parent.exists() and str(target.parent) not in ("", "."):
        raise CLIError(f"--out: folder {str(target.parent)!r} does not exist")
    return target


def writable_dir(path: str) -> Path:
    folder = Path(path)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / ".torchfocal-write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as error:
        raise CLIError(f"--out: cannot write to {str(folder)!r} ({error.strerror})") from None
    return folder
