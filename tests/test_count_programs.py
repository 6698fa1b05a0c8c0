"""tools/count_programs.py: the plugin records what a test's call changed in torch's compile
counters, and the report adds the workers' files up per test function."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

TOOLS = Path(__file__).resolve().parents[1] / "tools"

#: Two tests that move the counters as compiles would (a program built, one loaded), and
#: one that moves none.
INNER_TESTS = """
import pytest
from torch._dynamo.utils import counters

@pytest.mark.parametrize("size", [1, 2])
def test_builds(size):
    counters["stats"]["unique_graphs"] += size
    counters["inductor"]["fxgraph_cache_miss"] += size

def test_loads():
    counters["stats"]["unique_graphs"] += 1
    counters["inductor"]["fxgraph_cache_hit"] += 1
    counters["aot_autograd"]["autograd_cache_hit"] += 1

def test_compiles_nothing():
    pass
"""


def test_plugin_and_report(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.syspath_prepend(str(TOOLS))
    out = tmp_path / "programs"
    monkeypatch.setenv("COUNT_PROGRAMS_OUT", str(out))
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    pytester.makepyfile(test_inner=INNER_TESTS)
    pytester.runpytest_inprocess("-p", "count_programs", "-p", "no:cacheprovider").assert_outcomes(
        passed=4
    )

    rows = json.loads((out / "main.json").read_text())
    changes = {nodeid.split("::")[1]: change for nodeid, change, _ in rows}
    assert changes == {
        "test_builds[1]": [1, 1, 0, 0],
        "test_builds[2]": [2, 2, 0, 0],
        "test_loads": [1, 0, 1, 1],
    }

    import count_programs

    capsys.readouterr()
    count_programs.main(str(out))
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:4] == ["graphs", "built", "loaded", "aot"]
    numbers = {line.split()[-1]: line.split()[:4] for line in lines[1:]}
    assert numbers["test_inner.py::test_builds"] == ["3", "3", "0", "0"]
    assert numbers["test_inner.py::test_loads"] == ["1", "0", "1", "1"]
    assert numbers["all"] == ["4", "3", "1", "1"]
