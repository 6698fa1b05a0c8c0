"""Count the programs each test compiles, and how many of them Inductor built anew (issue
23: the suite's time from an empty Inductor cache is mostly these compiles).

A pytest plugin, loaded with ``-p``, and the report that reads what it wrote::

    COUNT_PROGRAMS_OUT=/tmp/programs TORCHINDUCTOR_CACHE_DIR=$(mktemp -d) \\
        PYTHONPATH=src:tools python -m pytest -q -p count_programs -p no:cacheprovider -n auto
    python tools/count_programs.py /tmp/programs

Per test that compiled anything, the change over its call of four of torch's counters:
dynamo's graphs (one a program: a loss's ``backend="compiled"`` math, or a test's own
``torch.compile``), Inductor's FX graph cache misses (a program built, with its C++
compile) and hits (one loaded from the cache directory), and AOTAutograd cache hits; and
the test's call time. Each xdist worker writes its own file; the report adds them up, per
test function, the costliest first.
"""

from __future__ import annotations

import collections
import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

#: The counters reported: (group, name) in ``torch._dynamo.utils.counters``.
COUNTERS = (
    ("stats", "unique_graphs"),
    ("inductor", "fxgraph_cache_miss"),
    ("inductor", "fxgraph_cache_hit"),
    ("aot_autograd", "autograd_cache_hit"),
)
HEADER = ("graphs", "built", "loaded", "aot hits", "seconds")

_rows: list[tuple[str, list[int], float]] = []


def _counts() -> list[int] | None:
    """The counters now, or None before torch is imported (nothing compiled yet)."""
    if "torch" not in sys.modules:
        return None
    from torch._dynamo.utils import counters

    return [counters[group][name] for group, name in COUNTERS]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    before = _counts()
    start = time.perf_counter()
    yield
    seconds = time.perf_counter() - start
    after = _counts()
    if after is None:
        return
    change = [a - b for a, b in zip(after, before or [0] * len(COUNTERS), strict=True)]
    if any(change):
        _rows.append((item.nodeid, change, seconds))


def pytest_sessionfinish(session: pytest.Session) -> None:
    out = os.environ.get("COUNT_PROGRAMS_OUT")
    if not out or not _rows:
        return
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    Path(out).mkdir(parents=True, exist_ok=True)
    (Path(out) / f"{worker}.json").write_text(json.dumps(_rows))


def main(folder: str) -> None:
    totals: dict[str, list[float]] = collections.defaultdict(lambda: [0.0] * len(HEADER))
    for path in sorted(Path(folder).glob("*.json")):
        for nodeid, change, seconds in json.loads(path.read_text()):
            row = totals[nodeid.split("[")[0]]
            for index, value in enumerate([*change, seconds]):
                row[index] += value
    whole = [sum(row[index] for row in totals.values()) for index in range(len(HEADER))]
    print("  ".join(f"{name:>8}" for name in HEADER), " test")
    for test, row in sorted(totals.items(), key=lambda item: -item[1][-1]):
        print(_line(row), "", test)
    print(_line(whole), "", "all")


def _line(row: list[float]) -> str:
    return "  ".join([*(f"{int(value):8d}" for value in row[:-1]), f"{row[-1]:8.1f}"])


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python tools/count_programs.py FOLDER")
    main(sys.argv[1])
