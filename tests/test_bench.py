"""``torchfocal bench``: the goal table's rows, report and ratio math, and the sweep.

Nothing here asserts a time: the runs use --quick (3 pairs of one call) and --scale (small
N), and the ratio math is checked on a fake clock.
"""

from __future__ import annotations

import functools
import json
import math
import os
import statistics
from collections.abc import Callable
from typing import Any

import pytest
import torch
import torch.nn.functional as F

import torchfocal
from torchfocal.cli import bench, main


@functools.cache
def _monai() -> bool:
    """Whether MONAI imports (asked on first use: importing it takes half a minute on the
    2-core machine, which every test process would pay at collection)."""
    return bench.monai_importable()


SMOKE = ["bench", "--quick", "--scale", "0.01"]


def _json(argv: list[str], capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    assert main([*argv, "--json"]) == 0
    result: dict[str, Any] = json.loads(capsys.readouterr().out)
    return result


def test_goal_table_json_has_every_row(capsys: pytest.CaptureFixture[str]) -> None:
    """The default command measures every goal row (compiled ones left out here: they
    would compile; the memory rows, a pair of fresh processes each, by
    test_memory_rows_are_measured), each checked against the reference."""
    result = _json([*SMOKE, "--backends", "fused", "--no-memory"], capsys)
    assert result["mode"] == "goals" and result["pairs"] == 3 and result["scale"] == 0.01
    assert result["torch_threads"] >= 1 and result["dtype"] == "float32"
    assert [row["case"] for row in result["rows"]] == [goal.case for goal in bench.GOALS]
    for row, goal in zip(result["rows"], bench.GOALS, strict=True):
        _check_goal_row(row, goal)
        left_out = goal.backend == "compiled" or goal.is_memory
        if left_out or (goal.compared_with == "MONAI" and not _monai()):
            assert row["status"] == "skipped" and row["measured"] is None
        else:
            assert row["status"] == "measured"
            assert len(row["ratios"]) == 3 and row["calls_per_timing"] == 1
            assert row["measured"] == sorted(row["ratios"])[1]
            assert row["ms"] > 0 and row["baseline_ms"] > 0
            assert row["reference_check_relative_error"] < bench.CHECK_TOLERANCE


def _check_goal_row(row: dict[str, Any], goal: bench.Goal) -> None:
    """A row of the scaled goal table says its goal, baseline and scaled shape, unjudged."""
    assert row["goal"] == goal.goal and row["baseline"] == goal.baseline
    if goal.loss == "dice":  # the first spatial size scaled
        assert row["shape"] == [*goal.shape[:2], 1, *goal.shape[3:]]
    else:
        assert row["shape"] == [max(1, round(goal.shape[0] * 0.01)), goal.shape[1]]
    assert row["met"] is None  # scaled shapes are not judged


#: The memory rows measured here: the one against the input's size, and the Dice rows
#: against the autograd form (a ratio of two peaks). MONAI's memory rows run the same code
#: with MONAI's loss as the baseline, whose fresh processes each import MONAI.
@pytest.mark.parametrize("only", ["input", "autograd Dice memory"])
def test_memory_rows_are_measured(only: str, capsys: pytest.CaptureFixture[str]) -> None:
    """A memory row's peaks, each in a fresh process, the rows ``--only`` leaves out
    skipped."""
    result = _json([*SMOKE, "--backends", "fused", "--only", only], capsys)
    chosen = [goal for goal in bench.GOALS if only in f"{goal.case} {goal.baseline}"]
    assert chosen and all(goal.is_memory for goal in chosen)
    for row, goal in zip(result["rows"], bench.GOALS, strict=True):
        _check_goal_row(row, goal)
        if goal not in chosen:
            assert row["status"] == "skipped" and row["measured"] is None
            continue
        assert row["input_bytes"] == math.prod(row["shape"]) * 4
        if os.path.exists("/proc/self/clear_refs"):
            assert row["status"] == "measured" and row["measured"] > 0
            assert row["baseline_peak_extra_over_input"] > 0
            if goal.baseline != "input":  # a ratio of the two peaks
                ours, theirs = row["peak_extra_bytes"], row["baseline_peak_extra_bytes"]
                assert row["measured"] == ours / theirs


def test_goal_table_report(capsys: pytest.CaptureFixture[str]) -> None:
    """The printed report: case | goal | measured | spread | met, one line per goal row."""
    assert main([*SMOKE, "--backends", "fused", "--no-memory"]) == 0
    out = capsys.readouterr().out
    assert "interleaved pairs" in out and "torch threads" in out and "N scaled by 0.01" in out
    lines = out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("case "))
    assert lines[header].split() == ["case", "goal", "measured", "spread", "met"]
    body = lines[header + 2 :]
    assert len(body) == len(bench.GOALS)
    for line, goal in zip(body, bench.GOALS, strict=True):
        assert line.startswith(goal.case + " ")
        goal_text = f"<= {goal.goal:.1f}x {goal.baseline}"
        assert goal_text in line
        measured, spread, met = line.split(goal_text)[1].split()
        assert met == "-"
        if (
            goal.backend == "compiled"
            or goal.is_memory
            or (goal.compared_with == "MONAI" and not _monai())
        ):
            assert measured == "skipped" and spread == "-"
        else:
            assert measured.endswith("x") and float(measured[:-1]) > 0
            lower, upper = map(float, spread[:-1].split("-"))
            assert 0 < lower <= float(measured[:-1]) <= upper


def test_rows_are_judged_against_their_goal(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """At full scale a row is met when its measured ratio is at most its goal."""
    goals = (
        bench.Goal("sigmoid", "fused", (64, 80), "index", 1e9, "BCE"),
        bench.Goal("softmax", "fused", (64, 10), "index", 0.0, "CE"),
    )
    monkeypatch.setattr(bench, "GOALS", goals)
    result = _json(["bench", "--quick", "--no-memory"], capsys)
    assert [row["met"] for row in result["rows"]] == [True, False]
    assert [row["verdict"] for row in result["rows"]] == ["yes", "no"]
    assert main(["bench", "--quick", "--no-memory"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-2].endswith(" yes") and out[-1].endswith(" no")


@pytest.mark.parametrize(
    ("ratios", "expected"),
    [
        ([0.5, 0.6, 0.7], "yes"),
        ([1.0, 1.0, 1.0], "yes"),  # at the goal is within it
        ([1.2, 1.5, 2.0], "no"),
        ([0.64, 0.9, 27.11], "noisy"),  # the pairs disagree about the goal
        ([0.64, 27.11, 30.0], "noisy"),
        ([0.64, 0.9, 1.5], "noisy"),
        ([0.9], "yes"),
        ([1.1], "no"),
        ([2.0, 1.2, 1.01], "no"),
    ],
)
def test_verdict_only_where_the_spread_is_on_one_side(ratios: list[float], expected: str) -> None:
    assert bench.verdict(ratios, 1.0) == expected
    assert bench.ratio_spread(ratios) == (min(ratios), max(ratios))


def test_a_noisy_row_is_reported_as_noisy(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Synthetic timings: pairs on both sides of the goal give "noisy", met None."""
    goals = (bench.Goal("sigmoid", "fused", (64, 80), "index", 2.5, "BCE"),)
    monkeypatch.setattr(bench, "GOALS", goals)
    ratios = [0.64, 27.11, 1.3]
    synthetic = {"ratio": statistics.median(ratios), "ratios": ratios, "ms": 1.0}
    monkeypatch.setattr(bench, "paired_ratio", lambda *a, **k: {**synthetic, "baseline_ms": 1.0})
    (row,) = _json(["bench", "--quick", "--no-memory"], capsys)["rows"]
    assert row["verdict"] == "noisy" and row["met"] is None
    assert row["spread"] == [0.64, 27.11]
    assert main(["bench", "--quick", "--no-memory"]) == 0
    last = capsys.readouterr().out.splitlines()[-1]
    assert last.split()[-3:] == ["1.30x", "0.64-27.11x", "noisy"]


def test_compiled_rows_call_the_compiled_backend(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """--backends compiled times exactly the compiled rows, with backend="compiled" (served
    by the fused backend here, so the test does not wait for a compiler)."""
    backends: list[str] = []
    fused = bench.sigmoid_focal_loss

    def recording(x: torch.Tensor, target: torch.Tensor, *, backend: str) -> torch.Tensor:
        backends.append(backend)
        return fused(x, target, backend="fused")

    monkeypatch.setattr(bench, "sigmoid_focal_loss", recording)
    result = _json([*SMOKE, "--backends", "compiled", "--no-memory"], capsys)
    statuses = {row["case"]: row["status"] for row in result["rows"]}
    compiled = {goal.case for goal in bench.GOALS if goal.backend == "compiled"}
    assert {case for case, status in statuses.items() if status == "measured"} == compiled
    assert backends and set(backends) == {"compiled"}


def test_a_row_that_disagrees_with_the_reference_is_not_timed(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    right = bench.softmax_focal_loss

    def off_by_a_percent(x: torch.Tensor, target: torch.Tensor, *, backend: str) -> torch.Tensor:
        return 1.01 * right(x, target, backend=backend)

    monkeypatch.setattr(bench, "softmax_focal_loss", off_by_a_percent)
    assert main([*SMOKE, "--backends", "fused", "--no-memory"]) == 2
    err = capsys.readouterr().err
    assert "softmax fused (256, 1000) index: torchfocal disagrees with the reference" in err


class _FakeClock:
    """A clock that only the fake steps move, each by its next scripted duration."""

    def __init__(self) -> None:
        self.now = 0.0
        self.calls: list[str] = []

    def __call__(self) -> float:
        return self.now

    def step(self, name: str, durations: list[float]) -> Callable[[], None]:
        def run() -> None:
            self.calls.append(name)
            self.now += durations.pop(0)

        return run


def test_ratio_is_the_median_of_per_pair_ratios_after_an_untimed_warm_up() -> None:
    clock = _FakeClock()
    # First of each: the warm-up (a compilation, say), which must not count; then per pair
    # two calls. Pair ratios 1, 5, 0.5: median 1, while the ratio of the median times is
    # 6 / 4 = 1.5 and the mean ratio 2.17.
    ours = clock.step("ours", [100.0, 1.0, 1.0, 5.0, 5.0, 3.0, 3.0])
    theirs = clock.step("theirs", [100.0, 1.0, 1.0, 1.0, 1.0, 6.0, 6.0])
    timing = bench.paired_ratio(ours, theirs, pairs=3, calls=2, clock=clock)
    assert timing["ratios"] == [1.0, 5.0, 0.5]
    assert timing["ratio"] == 1.0
    assert timing["ms"] == 3000.0 and timing["baseline_ms"] == 1000.0  # per call
    assert clock.calls == ["ours", "theirs"] + ["ours", "ours", "theirs", "theirs"] * 3


def test_goal_table_data() -> None:
    """One row per case and target form, the memory row at 1e7 logits with float targets."""
    cases = [goal.case for goal in bench.GOALS]
    assert len(cases) == 23 and len(set(cases)) == 19  # each Dice case against two baselines
    memory = [goal for goal in bench.GOALS if goal.baseline == "input"]
    assert len(memory) == 1
    assert memory[0].shape[0] * memory[0].shape[1] == 10_000_000
    assert memory[0].target == "float" and memory[0].backend == "fused"
    baselines = {
        "sigmoid": ("BCE", "input"),
        "softmax": ("CE",),
        "dice": ("MONAI", "MONAI memory", "autograd Dice", "autograd Dice memory"),
    }
    for goal in bench.GOALS:
        assert goal.baseline in baselines[goal.loss]
        assert goal.target in ("bool", "float", "index") and goal.goal > 0
    dice = [goal for goal in bench.GOALS if goal.loss == "dice"]
    assert {goal.shape for goal in dice} == {(2, 4, 96, 96, 96), (16, 21, 256, 256)}
    assert {(goal.baseline, goal.goal) for goal in dice} == {
        ("MONAI", 0.8),
        ("MONAI memory", 0.5),
        ("autograd Dice", 0.8),
        ("autograd Dice memory", 0.5),
    }


def test_autograd_dice_baseline_is_the_dice_loss() -> None:
    """The plain autograd baseline computes the same number as torchfocal's dice_loss."""
    x = torch.randn(2, 3, 5, 4, dtype=torch.float64)
    target = torch.randint(0, 3, (2, 5, 4))
    expected = torchfocal.dice_loss(x, target)
    assert torch.allclose(bench.autograd_dice(x, target), expected, rtol=1e-12, atol=0)


@pytest.mark.parametrize("target", ["bool", "float", "index"])
def test_sigmoid_targets_share_one_dense_baseline_target(target: str) -> None:
    goal = bench.Goal("sigmoid", "fused", (20000, 80), target, 1.0, "BCE")
    x, ours, dense = bench._goal_inputs(goal, (20000, 80))
    assert x.shape == dense.shape == (20000, 80) and dense.dtype == torch.float32
    assert set(dense.unique().tolist()) == {0.0, 1.0}
    assert 0.008 < float(dense.mean()) < 0.012  # about 1% positives
    if target == "index":
        assert ours.shape == (20000,) and ours.dtype == torch.int64
        assert torch.equal(F.one_hot(ours, 81)[:, :80].float(), dense)
        assert bool((ours == 80).any())  # background rows
    else:
        assert torch.equal(ours.float(), dense)
        assert ours.dtype == (torch.bool if target == "bool" else torch.float32)


def test_goal_list_prints_the_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--list"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[:2] == ["| case | goal |", "|---|---|"]
    assert out[2] == "| sigmoid fused (256, 80) bool | <= 2.5x BCE |"
    assert "| sigmoid fused peak extra memory (125000, 80) float | <= 2.0x input |" in out
    assert out[-1] == (
        "| dice fused peak extra memory (16, 21, 256, 256) index | <= 0.5x autograd Dice memory |"
    )
    assert len(out) == 2 + len(bench.GOALS)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--pairs", "0"], "--pairs must be >= 1; got 0"),
        (["--scale", "0"], "--scale must be in (0, 1]; got 0.0"),
        (["--scale", "1.5"], "--scale must be in (0, 1]; got 1.5"),
        (["--scale", "nan"], "--scale must be in (0, 1]; got nan"),
        (["--backends", "naive"], "--backends must be fused or compiled for the goal table"),
        (["--backends", "cuda"], "got 'cuda'"),
        (["--sweep", "--pairs", "3"], "--pairs is an option of the goal table"),
        (["--sizes", "1e5", "--scale", "0.5"], "--scale is an option of the goal table"),
        (["--losses", "softmax", "--list"], "--list is an option of the goal table"),
    ],
)
def test_bad_options_exit_2(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["bench", *args]) == 2
    assert message in capsys.readouterr().err


def test_sweep_quick_json(capsys: pytest.CaptureFixture[str]) -> None:
    result = _json(["bench", "--sweep", "--quick", "--backends", "fused"], capsys)
    assert result["mode"] == "sweep"
    assert result["torch_threads"] >= 1 and result["repeats"] == 2
    names = {(row["loss"], row["backend"]) for row in result["rows"]}
    for loss in ("sigmoid", "softmax"):
        assert {(loss, "baseline"), (loss, "fused")} <= names
        assert result["reference_check_relative_error"][loss]["fused"] < 1e-6
    for row in result["rows"]:
        assert row["forward"] > 0 and row["forward_backward"] > 0
        assert math.isfinite(row["forward_backward_ratio"])
        if row["backend"] == "baseline":
            assert row["forward_ratio"] == 1.0
        assert "peak_extra_over_input" in row


def test_sweep_table_and_bad_input(capsys: pytest.CaptureFixture[str]) -> None:
    """A sweep option alone selects the sweep (the commands in BENCHMARKS.md)."""
    assert (
        main(["bench", "--quick", "--no-memory", "--losses", "softmax", "--backends", "fused"]) == 0
    )
    out = capsys.readouterr().out
    assert "fwd+bwd x base" in out and "softmax" in out and "torch threads" in out
    assert main(["bench", "--losses", "hinge"]) == 2
    assert main(["bench", "--sweep", "--backends", "cuda"]) == 2
    assert "--backends must be naive, fused or compiled; got 'cuda'" in capsys.readouterr().err


def test_sweep_family_losses(capsys: pytest.CaptureFixture[str]) -> None:
    """The family's losses run their naive and fused backends (no compiled one) against BCE,
    each checked against the reference first."""
    losses = ["star", "asymmetric", "poly1", "varifocal", "quality"]
    result = _json(["bench", "--quick", "--no-memory", "--losses", *losses], capsys)
    for loss in losses:
        backends = {row["backend"] for row in result["rows"] if row["loss"] == loss}
        assert backends == {"baseline", "naive", "fused"}
        errors = result["reference_check_relative_error"][loss]
        assert set(errors) == {"naive", "fused"} and max(errors.values()) < 1e-6


def test_only_measures_the_matching_rows(capsys: pytest.CaptureFixture[str]) -> None:
    result = _json([*SMOKE, "--backends", "fused", "--no-memory", "--only", "autograd"], capsys)
    measured = [row["case"] for row in result["rows"] if row["status"] == "measured"]
    expected = [
        goal.case
        for goal in bench.GOALS
        if goal.baseline == "autograd Dice"  # the memory rows: --no-memory
    ]
    assert measured == expected and len(expected) == 2
