"""``torchfocal demo --task tabular``: gradient boosting with torchfocal.boosting's objectives."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from conftest import installed
from torchfocal.cli import demo_tabular as tabular
from torchfocal.cli import main

# Found, not imported (importing LightGBM with scikit-learn took about 2 s of each
# worker's collection); the demo imports them when it runs.
pytestmark = installed("lightgbm", "xgboost", "catboost", "sklearn")


def test_quick_tabular_demo(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["demo", "--task", "tabular", "--quick", "--seeds", "2", "--out", str(tmp_path)]
    assert main(args) == 0
    captured = capsys.readouterr()
    runs = 3 * len(tabular.OBJECTIVES) * 2
    assert f"{runs}/{runs} runs done" in captured.err
    payload = json.loads((tmp_path / "results.json").read_text())
    assert payload["libraries"] == ["lightgbm", "xgboost", "catboost"]
    assert payload["config"]["rounds"] == 25 and payload["config"]["imbalance"] == 20.0
    negatives, positives = payload["data"]["train_counts"]
    assert negatives / positives == pytest.approx(20, rel=0.1)  # made imbalanced, as it says
    for library in payload["libraries"]:
        assert set(payload["summary"][library]) == set(tabular.OBJECTIVES)
        for values in payload["summary"][library].values():
            assert set(values) == set(tabular.METRICS)
            assert all(0 <= mean <= 1 and std >= 0 for mean, std in values.values())
        # every run lowers the training focal loss from round 10 to round 25
        for points in payload["train_focal_loss"][library].values():
            assert points[-1][0] < points[0][0]
        assert tabular.plain_summary(payload, library) in captured.out.replace("\r", "")
    report = (tmp_path / "report.md").read_text()
    for heading in ("## Setup", "## What happened on this run", "## The Hessian modes"):
        assert heading in report
    verdicts = [line for line in report.splitlines() if line.startswith("- ") and "points" in line]
    assert len(verdicts) == 3 * len(tabular.METRICS) * (len(tabular.OBJECTIVES) - 1)
    assert all(re.search(r"(helped|hurt|made no clear difference to)", v) for v in verdicts)


def test_one_run_is_deterministic() -> None:
    data = tabular.tabular_data(0, 20.0)
    for library in ("lightgbm", "xgboost", "catboost"):
        first = tabular.train_one(library, "focal_upper", data, 0, 5)
        assert first == tabular.train_one(library, "focal_upper", data, 0, 5)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--imbalance", "0.5"], "--imbalance must be a finite number >= 1; got 0.5"),
        (["--seeds", "0"], "--seeds must be >= 1"),
        (["--epochs", "0"], "--epochs (boosting rounds here) must be >= 1"),
    ],
)
def test_bad_arguments(
    extra: list[str], message: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert main(["demo", "--task", "tabular", *extra, "--out", str(tmp_path)]) == 2
    assert message in capsys.readouterr().err
