"""Count the checks each test runs, grouped by the loss it tests (issue 23: no test may lose
its checks when the suite is restructured).

A pytest plugin, loaded with ``-p``, and the report that reads what it wrote::

    COUNT_CHECKS_OUT=/tmp/counts PYTHONPATH=src:tools python -m pytest -q \\
        -p count_checks -o enable_assertion_pass_hook=true -p no:cacheprovider
    python tools/count_checks.py /tmp/counts                # table per loss
    python tools/count_checks.py /tmp/before /tmp/counts    # before / after per loss

(clear ``tests/__pycache__`` first: the assertion-pass hook is compiled into the rewritten
test modules, which pytest caches there.)

A check is one passing ``assert`` statement in a test module or conftest (pytest's
``pytest_assertion_pass`` hook), or one call of ``torch.testing.assert_close``, a
``numpy.testing`` assert, ``torch.autograd.gradcheck`` / ``gradgradcheck`` that returned,
or one ``pytest.raises`` / ``pytest.warns`` that saw its exception or warning. A check in
a loop counts once per pass, an assertion in a hypothesis test once per example: the count
is of checks run. Checks made in subprocesses are not seen.

A test's loss is the registry entry (:data:`torchfocal.registry.LOSSES`) found in its
parameters (an entry, a loss function or module class, or a loss's name) or else named
in its node id, or else the loss of its module's tests (tests/losses/test_<module>.py,
where <module> holds one loss) (:func:`_loss_in`); "-" where none is. Each xdist
worker writes its own file; the report adds them up.
"""

from __future__ import annotations

import collections
import functools
import json
import os
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

_counts: collections.Counter[str] = collections.Counter()
_current: list[str] = []


def _count(n: int = 1) -> None:
    _counts[_current[-1] if _current else "<outside a test>"] += n


def _counting(function: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(function)
    def call(*args: Any, **kwargs: Any) -> Any:
        result = function(*args, **kwargs)
        _count()
        return result

    return call


class _CountingContext:
    """A ``pytest.raises`` / ``warns`` context that counts a successful exit."""

    def __init__(self, context: Any) -> None:
        self._context = context

    def __enter__(self) -> Any:
        return self._context.__enter__()

    def __exit__(self, *exc: Any) -> Any:
        result = self._context.__exit__(*exc)
        _count()  # reached only when the context saw what it expected (else it raised)
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self._context, name)


def _counting_context(function: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(function)
    def call(*args: Any, **kwargs: Any) -> Any:
        result = function(*args, **kwargs)
        if len(args) > 1:  # the call form, pytest.raises(E, f, *args): it has already run
            _count()
            return result
        return _CountingContext(result)

    return call


def _patch() -> None:
    import numpy.testing
    import torch

    torch.testing.assert_close = _counting(torch.testing.assert_close)
    torch.autograd.gradcheck = _counting(torch.autograd.gradcheck)
    torch.autograd.gradgradcheck = _counting(torch.autograd.gradgradcheck)
    for name in (
        "assert_allclose",
        "assert_array_equal",
        "assert_array_almost_equal",
        "assert_almost_equal",
        "assert_equal",
        "assert_array_less",
        "assert_array_max_ulp",
    ):
        setattr(numpy.testing, name, _counting(getattr(numpy.testing, name)))
    pytest.raises = _counting_context(pytest.raises)  # type: ignore[assignment]
    pytest.warns = _counting_context(pytest.warns)  # type: ignore[assignment]


def pytest_configure(config: pytest.Config) -> None:
    if not config.getini("enable_assertion_pass_hook"):
        raise pytest.UsageError("count_checks needs -o enable_assertion_pass_hook=true")
    _patch()


def pytest_assertion_pass(item: pytest.Item, lineno: int, orig: str, expl: str) -> None:
    _count()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    _current.append(item.nodeid)
    _losses[item.nodeid] = _loss_of(item)
    try:
        return (yield)
    finally:
        _current.pop()


_losses: dict[str, str] = {}


@functools.cache
def _names() -> tuple[dict[str, str], dict[int, str]]:
    from torchfocal.registry import LOSSES

    by_text: dict[str, str] = {}
    by_object: dict[int, str] = {}
    for info in LOSSES:
        by_text[info.name] = info.name
        by_text[info.module] = info.name
        by_object[id(info)] = info.name
        by_object[id(info.function)] = info.name
        by_object[id(info.module_class)] = info.name
    return by_text, by_object


def _loss_of(item: pytest.Item) -> str:
    by_text, by_object = _names()
    callspec = getattr(item, "callspec", None)
    for value in callspec.params.values() if callspec is not None else ():
        if id(value) in by_object:
            return by_object[id(value)]
        if isinstance(value, str) and value in by_text:
            return by_text[value]
    return _loss_in(item.nodeid)


def _loss_in(nodeid: str) -> str:
    """The loss a node id names: the longest function or module class name in it, else the
    registry label (``LossInfo.label``: "poly1", "star", ...) that starts earliest in its
    parameters' id (then in its name) as a word of its own (not "dice" in "indices"), the
    longest of those that start there; else, for a test of tests/losses/test_<module>.py,
    the loss of torchfocal.losses.<module> where it holds one (the test is that loss's
    own)."""
    by_text, _ = _names()
    found = [text for text in by_text if text in nodeid]
    if found:
        return by_text[max(found, key=len)]
    name, _, params = nodeid.partition("[")
    for part in (params, name.rpartition("::")[2]):
        starts = [
            (match.start(), -len(label), loss)
            for label, loss in _labels().items()
            for match in [re.search(rf"(?<![A-Za-z0-9]){re.escape(label)}(?![a-z])", part)]
            if match
        ]
        if starts:
            return min(starts)[2]
    module = re.search(r"(?:^|/)losses/test_(\w+)\.py::", nodeid)
    losses = _module_losses().get(module.group(1), []) if module else []
    return losses[0] if len(losses) == 1 else "-"


@functools.cache
def _module_losses() -> dict[str, list[str]]:
    """Each loss module of torchfocal.losses (its last name) -> the losses it holds."""
    from torchfocal.registry import LOSSES

    found: dict[str, list[str]] = collections.defaultdict(list)
    for info in LOSSES:
        found[info.function.__module__.rpartition(".")[2]].append(info.name)
    return dict(found)


@functools.cache
def _labels() -> dict[str, str]:
    from torchfocal.registry import LOSSES

    return {info.label: info.name for info in LOSSES}


def pytest_sessionfinish(session: pytest.Session) -> None:
    out = os.environ.get("COUNT_CHECKS_OUT")
    if not out:
        return
    Path(out).mkdir(parents=True, exist_ok=True)
    if not _losses:  # the controller of an xdist run, which runs no test
        return
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    nodes = {
        node: {"loss": _losses.get(node, "-"), "checks": n} for node, n in sorted(_counts.items())
    }
    for node, loss in _losses.items():  # tests that ran no check count as 0
        nodes.setdefault(node, {"loss": loss, "checks": 0})
    (Path(out) / f"{worker}.json").write_text(json.dumps(nodes, indent=0, sort_keys=True))


def _read(folder: str) -> dict[str, dict[str, Any]]:
    nodes: dict[str, dict[str, Any]] = {}
    for path in sorted(Path(folder).glob("*.json")):
        nodes.update(json.loads(path.read_text()))
    return nodes


def _per_loss(nodes: dict[str, dict[str, Any]]) -> tuple[dict[str, int], dict[str, int]]:
    checks: collections.Counter[str] = collections.Counter()
    tests: collections.Counter[str] = collections.Counter()
    for nodeid, node in nodes.items():
        loss = node["loss"] if node["loss"] != "-" else _loss_in(nodeid)
        checks[loss] += node["checks"]
        tests[loss] += 1
    return dict(checks), dict(tests)


def main(argv: list[str]) -> int:
    if len(argv) not in (1, 2):
        print(__doc__)
        return 2
    runs = [_read(folder) for folder in argv]
    tables = [_per_loss(nodes) for nodes in runs]
    losses = sorted(set().union(*(checks for checks, _ in tables)))
    header = "loss".ljust(30) + "".join(
        f"{'tests ' + str(k):>10}{'checks ' + str(k):>12}" for k in range(len(runs))
    )
    print(header)
    for loss in losses:
        row = loss.ljust(30)
        for checks, tests in tables:
            row += f"{tests.get(loss, 0):>10}{checks.get(loss, 0):>12}"
        if len(tables) == 2:
            diff = tables[1][0].get(loss, 0) - tables[0][0].get(loss, 0)
            row += f"  {diff:+d}"
        print(row)
    row = "total".ljust(30)
    for checks, tests in tables:
        row += f"{sum(tests.values()):>10}{sum(checks.values()):>12}"
    print(row)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
