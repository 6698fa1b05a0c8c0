"""benchmarks/gpu.py on the CPU: the smoke run's JSON and table, the ratio math, failures
recorded per implementation, the goals' judgement and the training-step sync check.

No test asserts a time: the smoke run times tiny inputs with the host clock, and the math
is checked on scripted timings.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import io
import json
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import torch

from torchfocal._engine.triton_fallback import KernelCompileError

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("benchmarks_gpu", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


gpu = _load()


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], str, str]:
    """(JSON, table file, stdout) of one ``--smoke --backends fused`` run."""
    out = tmp_path_factory.mktemp("gpu-smoke")
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        assert gpu.main(["--smoke", "--backends", "fused", "--out", str(out)]) == 0
    results = json.loads((out / gpu.SMOKE_RESULTS_JSON).read_text(encoding="utf-8"))
    table = (out / gpu.SMOKE_TABLE_MD).read_text(encoding="utf-8")
    assert not (out / gpu.RESULTS_JSON).exists()  # a smoke run never writes a real run's file
    return results, table, stdout.getvalue()


def test_smoke_json_has_every_case_measured(smoke_run: tuple[dict[str, Any], str, str]) -> None:
    results, _, _ = smoke_run
    assert results["smoke"] is True and results["device"].startswith("CPU")
    assert set(results["versions"]) == {
        "python",
        "torch",
        "cuda",
        "triton",
        "torchvision",
        "monai",
        "torchfocal",
    }
    assert results["settings"]["backends"] == ["fused"]
    cases = gpu.all_cases()
    assert [case["name"] for case in results["cases"]] == [case.name for case in cases]
    # 4 sigmoid and 5 softmax cases, float32 and bfloat16; the 2 Dice cases, float32 only,
    # after the float32 ones (a run cut short by its budget loses bfloat16 cases first)
    assert len(cases) == 20
    assert [case.dtype for case in cases] == [torch.float32] * 11 + [torch.bfloat16] * 9
    assert [case.full_shape for case in cases if case.loss == "dice"] == list(gpu.DICE_SHAPES)
    vision = gpu.torchvision_sigmoid_focal_loss() is not None
    monai = gpu.monai_dice_loss() is not None
    for case, spec in zip(results["cases"], cases, strict=True):
        assert case["status"] == "measured", case["name"]
        assert case["shape"] == list(spec.shape(smoke=True))
        assert case["full_shape"] == list(spec.full_shape)
        expected = ["torchfocal fused"]
        if spec.loss == "sigmoid" and vision:
            expected.append("torchvision")
        if spec.loss == "dice" and monai:
            expected.append("MONAI")  # checked against float64 too: the same Dice
        expected.append(spec.baseline)
        assert list(case["implementations"]) == expected
        assert case["baseline"] == spec.baseline
        assert case["copy"]["bandwidth_gb_s"] > 0
        for name, entry in case["implementations"].items():
            assert entry["status"] == "measured"
            assert len(entry["ms_per_round"]) == gpu.SMOKE_ROUNDS
            assert entry["ms"] > 0 and entry["ratio_to_baseline"] > 0
            assert entry["bandwidth_gb_s"] > 0 and entry["copy_bandwidth_fraction"] > 0
            assert entry["peak_extra_bytes"] == gpu.NO_CUDA
            if name == spec.baseline:
                assert entry["ratio_to_baseline"] == 1.0
                assert "check" not in entry
            else:
                assert entry["check"]["ok"] is True, (case["name"], name, entry["check"])


def test_smoke_bytes_moved_are_logits_target_and_gradient(
    smoke_run: tuple[dict[str, Any], str, str],
) -> None:
    results, _, _ = smoke_run
    by_name = {case["name"]: case for case in results["cases"]}
    sigmoid = by_name["sigmoid 1e8 float32 bool"]
    rows, classes = sigmoid["shape"]
    logits = rows * classes * 4
    assert sigmoid["gradient_bytes"] == logits
    assert (
        sigmoid["implementations"]["torchfocal fused"]["bytes_moved"] == 2 * logits + rows * classes
    )
    baseline = sigmoid["implementations"][sigmoid["baseline"]]
    assert baseline["bytes_moved"] == 3 * logits  # its target is float32
    assert sigmoid["copy"]["bytes"] == 2 * logits + rows * classes
    softmax = by_name["softmax (8192, 32000) bfloat16 index"]
    rows, classes = softmax["shape"]
    assert softmax["implementations"]["torchfocal fused"]["bytes_moved"] == (
        2 * rows * classes * 2 + rows * 8
    )
    dice = by_name["dice (2, 4, 96, 96, 96) float32 index"]
    samples, classes, *spatial = dice["shape"]
    assert spatial == [gpu.DICE_SMOKE_SIDE] * 3
    locations = samples * spatial[0] * spatial[1] * spatial[2]
    assert dice["gradient_bytes"] == locations * classes * 4
    # one int64 class index per location, never a one-hot
    assert dice["implementations"]["torchfocal fused"]["bytes_moved"] == (
        2 * locations * classes * 4 + locations * 8
    )


def test_smoke_sections_without_cuda_and_goals(smoke_run: tuple[dict[str, Any], str, str]) -> None:
    results, _, _ = smoke_run
    assert results["memory"] == gpu.NO_CUDA
    assert results["sync"]["status"] == gpu.NO_CUDA and results["sync"]["runs"] == []
    goals = results["goals"]
    assert len(goals) == 13
    for goal in goals:
        assert set(goal) >= {"goal", "case", "measured", "comparison", "threshold", "met"}
        assert goal["met"] == "skipped" and "smoke" in goal["reason"]


def test_smoke_table_is_printed_and_written(smoke_run: tuple[dict[str, Any], str, str]) -> None:
    results, table, stdout = smoke_run
    assert table in stdout
    assert table.startswith(f"### {results['device']}\n")
    for case in results["cases"]:
        for name in case["implementations"]:
            assert f"| {case['name']} {tuple(case['shape'])} | {name} | " in table
    assert "| goal | case | measured | threshold | met |" in table
    assert table.count("skipped (smoke run") == len(results["goals"])


def test_without_cuda_and_without_smoke_it_exits_with_a_message(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert gpu.main(["--out", str(tmp_path)]) != 0
    assert "needs a CUDA GPU" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_cases_past_the_time_budget_are_recorded_as_skipped(tmp_path: Path) -> None:
    with contextlib.redirect_stdout(io.StringIO()):
        assert (
            gpu.main(["--smoke", "--backends", "fused", "--out", str(tmp_path), "--budget-s", "0"])
            == 0
        )
    results = json.loads((tmp_path / gpu.SMOKE_RESULTS_JSON).read_text(encoding="utf-8"))
    assert [case["status"] for case in results["cases"]] == ["skipped (time budget)"] * len(
        gpu.all_cases()
    )
    assert all(goal["met"] == "skipped" for goal in results["goals"])


class _ScriptedTimer:
    """Runs the work and reports the next scripted duration (ms) for it."""

    def __init__(self, durations: dict[str, list[float]]) -> None:
        self.durations = durations
        self.order: list[str] = []
        self.current = ""

    def time(self, work: Callable[[], None]) -> Callable[[], float]:
        work()
        elapsed = self.durations[self.current].pop(0)
        return lambda: elapsed

    def synchronize(self) -> None:
        pass


def test_rounds_interleave_and_ratios_are_medians_of_per_round_ratios() -> None:
    timer = _ScriptedTimer({"ours": [2.0, 10.0, 6.0], "base": [2.0, 2.0, 12.0]})
    calls: list[tuple[str, int]] = []

    def entry(name: str) -> Callable[[int], None]:
        def run(index: int) -> None:
            timer.current = name
            calls.append((name, index))

        return run

    times = gpu.time_rounds({"ours": entry("ours"), "base": entry("base")}, timer, 3, calls=2)
    # Per call: the burst's time over its 2 calls; the order rotates every round; each
    # round's burst runs on the next input sets.
    assert times == {"ours": [1.0, 5.0, 3.0], "base": [1.0, 1.0, 6.0]}
    assert [name for name, _ in calls] == ["ours"] * 2 + ["base"] * 4 + ["ours"] * 4 + ["base"] * 2
    assert [index for name, index in calls if name == "ours"] == [0, 1, 2, 3, 4, 5]
    # Per-round ratios 1, 5, 0.5: median 1, where the ratio of the medians is 3 / 1.
    assert gpu.median_ratio(times["ours"], times["base"]) == 1.0


def test_summary_takes_medians_of_per_round_ratios() -> None:
    record: dict[str, Any] = {
        "baseline": "base",
        "copy": {"bytes": 100},
        "implementations": {
            "ours": {"status": "measured", "bytes_moved": 50},
            "base": {"status": "measured", "bytes_moved": 100},
            "failed": {"status": "oom", "bytes_moved": 50},
        },
    }
    times = {"ours": [1.0, 5.0, 3.0], "base": [1.0, 1.0, 6.0], "copy": [0.5, 2.0, 0.5]}
    gpu.summarise(record, times)
    ours = record["implementations"]["ours"]
    assert ours["ms"] == 3.0 and ours["ratio_to_baseline"] == 1.0  # ratios 1, 5, 0.5
    # Bandwidth over the copy's, per round: 0.25, 0.2, 1/12: median 0.2 (the ratio of the
    # median bandwidths would be (50 / 3) / (100 / 0.5) = 1/12).
    assert ours["copy_bandwidth_fraction"] == pytest.approx(0.2)
    assert ours["bandwidth_gb_s"] == pytest.approx(50 / 3.0 / 1e6)
    assert record["copy"]["ms"] == 0.5 and record["copy"]["bandwidth_gb_s"] == 100 / 0.5 / 1e6
    assert "ms" not in record["implementations"]["failed"]


@pytest.mark.parametrize(
    ("set_bytes", "cache_bytes", "count"),
    [(13, 50, 8), (100, 50, 1), (1, 50, gpu.MAX_INPUT_SETS), (13, 0, 1)],
)
def test_input_sets_cover_twice_the_cache(set_bytes: int, cache_bytes: int, count: int) -> None:
    assert gpu.input_set_count(set_bytes, cache_bytes) == count


def _raises(error: BaseException) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    def loss(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        raise error

    return loss


def test_a_failing_implementation_is_recorded_and_the_others_are_timed() -> None:
    case = gpu.all_cases()[0]
    working = gpu.implementations(case, ["fused"])
    failing = [
        gpu.Implementation(
            "out of memory", _raises(torch.cuda.OutOfMemoryError("no room")), "bool"
        ),
        gpu.Implementation(
            "missing backend", _raises(ValueError("backend must be one of\nx")), "bool"
        ),
    ]
    settings = gpu.Settings(torch.device("cpu"), smoke=True, backends=("fused",), cache_bytes=0)
    record = gpu.measure_case(case, failing + working, settings)
    entries = record["implementations"]
    assert record["status"] == "measured"
    assert entries["out of memory"]["status"] == "oom"
    assert entries["missing backend"]["status"] == "error: ValueError: backend must be one of\nx"
    assert "ms" not in entries["out of memory"] and "ms" not in entries["missing backend"]
    for impl in working:
        assert entries[impl.name]["status"] == "measured" and entries[impl.name]["ms"] > 0


@pytest.mark.filterwarnings("ignore:backend='compiled' is unavailable here")  # after warm-up
def test_warnings_of_the_warm_up_are_recorded() -> None:
    """A backend that falls back to another says so in a warning: it is kept."""
    case = gpu.all_cases()[0]
    fused, baseline = gpu.implementations(case, ["fused"])

    def falls_back(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        warnings.warn("backend='compiled' is unavailable here", RuntimeWarning, stacklevel=1)
        return fused.loss(x, t)

    warning = gpu.Implementation("torchfocal compiled", falls_back, "bool")
    settings = gpu.Settings(torch.device("cpu"), smoke=True, backends=("fused",), cache_bytes=0)
    record = gpu.measure_case(case, [warning, fused, baseline], settings)
    entries = record["implementations"]
    assert entries["torchfocal compiled"]["warnings"] == ["backend='compiled' is unavailable here"]
    assert entries["torchfocal fused"]["warnings"] == []
    results = {
        "smoke": True,
        "device": "CPU",
        "versions": dict.fromkeys(
            ["torch", "cuda", "triton", "torchvision", "monai", "torchfocal"], "-"
        ),
        "commit": None,
        "date": "-",
        "cases": [record],
        "sync": {"status": gpu.NO_CUDA, "runs": []},
        "goals": [],
    }
    assert (
        f"- {case.name}, torchfocal compiled: backend='compiled' is unavailable here"
        in gpu.markdown(results)
    )


def test_a_failing_baseline_leaves_the_case_untimed() -> None:
    case = gpu.all_cases()[0]
    broken = gpu.Implementation(case.baseline, _raises(torch.cuda.OutOfMemoryError()), "float")
    settings = gpu.Settings(torch.device("cpu"), smoke=True, backends=("fused",), cache_bytes=0)
    record = gpu.measure_case(case, [*gpu.implementations(case, ["fused"])[:-1], broken], settings)
    assert record["status"] == "baseline oom"
    assert all("ms" not in entry for entry in record["implementations"].values())


def _measured(name: str, loss: str, **implementations: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "loss": loss, "status": "measured", "implementations": implementations}


def _impl(**values: Any) -> dict[str, Any]:
    return {"status": "measured", **values}


def _results(
    sigmoid_ratio: float, fraction: float, softmax_ratio: float, failed_runs: int
) -> dict[str, Any]:
    triton = _impl(
        ratio_to_baseline=sigmoid_ratio,
        copy_bandwidth_fraction=fraction,
        ms=1.0,
        ms_per_round=[1.0, 1.0, 2.0],
        peak_extra_over_gradient=1.0,
    )
    vision = _impl(ms=5.0, ms_per_round=[5.0, 3.0, 9.0])  # per-round ratios 5, 3, 4.5
    runs = [{"status": "sync" if i < failed_runs else "pass", "error": None} for i in range(3)]
    return {
        "smoke": False,
        "memory": "measured",
        "cases": [
            _measured(
                "sigmoid 1e8 float32 bool",
                "sigmoid",
                **{"torchfocal triton": triton, "torchvision": vision},
            ),
            _measured(
                "softmax (65536, 1000) float32 index",
                "softmax",
                **{
                    "torchfocal triton": _impl(
                        ratio_to_baseline=softmax_ratio, peak_extra_over_gradient=1.05
                    )
                },
            ),
            {
                "name": "softmax (8192, 32000) float32 index",
                "loss": "softmax",
                "status": "oom",
                "implementations": {},
            },
        ],
        "sync": {
            "status": "measured",
            "control_detected": True,
            "harness_control": {"status": "pass", "error": None},
            "runs": runs,
        },
    }


def test_goals_are_judged_against_their_thresholds() -> None:
    met = gpu.judge_goals(_results(1.0, 0.7, 0.99, failed_runs=0))
    expected = [True, True, True, "skipped", True, True, True, True, True]
    assert [goal["met"] for goal in met[:9]] == expected
    assert all(goal["reason"] == "case not run" for goal in met[9:])  # no Dice case here
    assert met[3]["reason"] == "case oom"
    assert met[4]["measured"] == 4.5  # torchvision / triton: median of per-round ratios
    assert met[6]["measured"] == 1.05 and met[6]["case"] == "softmax (65536, 1000) float32 index"
    assert met[7]["measured"] == 0
    missed = gpu.judge_goals(_results(1.01, 0.69, 1.2, failed_runs=1))
    assert [goal["met"] for goal in missed][:3] == [False, False, False]
    assert missed[7]["measured"] == 1 and missed[7]["met"] is False


def _dice_results(triton_rounds: list[float], triton_peak: int) -> dict[str, Any]:
    monai = _impl(ms=2.0, ms_per_round=[2.0, 1.0, 4.0], peak_extra_bytes=1000)
    triton = _impl(ms=1.0, ms_per_round=triton_rounds, peak_extra_bytes=triton_peak)
    results = _results(1.0, 0.7, 1.0, failed_runs=0)
    results["cases"] = [
        _measured(
            "dice (2, 4, 96, 96, 96) float32 index",
            "dice",
            **{"torchfocal triton": triton, "MONAI": monai},
        ),
        _measured("dice (16, 21, 256, 256) float32 index", "dice", **{"torchfocal triton": triton}),
    ]
    return results


def test_dice_goals_are_triton_over_monai() -> None:
    """Time: the median of per-round ratios to MONAI's; memory: the ratio of peak extras; a
    case without MONAI (not importable) is skipped, saying so."""
    met = gpu.judge_goals(_dice_results([1.0, 0.9, 2.8], triton_peak=500))[9:]
    assert [goal["case"] for goal in met] == [
        "dice (2, 4, 96, 96, 96) float32 index",
        "dice (2, 4, 96, 96, 96) float32 index",
        "dice (16, 21, 256, 256) float32 index",
        "dice (16, 21, 256, 256) float32 index",
    ]
    assert met[0]["measured"] == 0.7  # per-round ratios 0.5, 0.9, 0.7
    assert met[0]["threshold"] == 0.8 and met[0]["met"] is True
    assert met[1]["measured"] == 0.5 and met[1]["met"] is True
    assert met[2]["met"] == met[3]["met"] == "skipped"
    assert met[2]["reason"] == "MONAI not run"
    missed = gpu.judge_goals(_dice_results([1.8, 0.9, 3.6], triton_peak=501))[9:]
    assert missed[0]["measured"] == 0.9 and missed[0]["met"] is False
    assert missed[1]["met"] is False
    no_memory = _dice_results([1.0, 0.9, 2.8], triton_peak=500)
    no_memory["memory"] = gpu.NO_CUDA
    assert gpu.judge_goals(no_memory)[10]["reason"] == gpu.NO_CUDA


def test_sync_goal_is_skipped_when_a_control_fails() -> None:
    undetected = _results(1.0, 0.7, 1.0, failed_runs=0)
    undetected["sync"]["control_detected"] = False
    assert gpu.judge_goals(undetected)[7]["met"] == "skipped"
    harness = _results(1.0, 0.7, 1.0, failed_runs=0)
    harness["sync"]["harness_control"] = {"status": "sync", "error": "called a synchronizing"}
    assert "BCE" in gpu.judge_goals(harness)[7]["reason"]


@pytest.fixture
def cuda_calls_as_no_ops(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """torch.cuda's synchronize and sync debug mode as no-ops, the modes set recorded."""
    modes: list[object] = []
    monkeypatch.setattr(gpu, "SYNC_ROWS", 64)  # the CPU's time, not the GPU's size
    monkeypatch.setattr(torch.cuda, "synchronize", lambda: None)
    monkeypatch.setattr(torch.cuda, "get_sync_debug_mode", lambda: 0)
    monkeypatch.setattr(torch.cuda, "set_sync_debug_mode", modes.append)
    return modes


def test_every_sync_check_loss_takes_its_target_in_a_training_step(
    cuda_calls_as_no_ops: list[object],
) -> None:
    """On the CPU (debug mode stubbed): each loss trains with the target it is given."""
    for name, (loss, target) in gpu.sync_losses(torch.device("cpu")).items():
        result = gpu.training_step_syncs(functools.partial(loss, backend="fused"), target)
        assert result == {"status": "pass", "error": None}, name
    assert cuda_calls_as_no_ops[:2] == ["error", 0]  # set around the steps, then restored


def test_a_sync_in_a_training_step_is_reported(cuda_calls_as_no_ops: list[object]) -> None:
    calls = 0

    def syncs_after_the_first_step(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        nonlocal calls
        calls += 1
        if calls > 1:
            raise RuntimeError("called a synchronizing CUDA operation")
        return x.sum()

    target = torch.zeros(gpu.SYNC_ROWS, gpu.SIGMOID_CLASSES)
    result = gpu.training_step_syncs(syncs_after_the_first_step, target)
    assert result["status"] == "sync" and "synchronizing" in result["error"]
    assert cuda_calls_as_no_ops == ["error", 0]
    other = gpu.training_step_syncs(_raises(TypeError("bad target")), target)
    assert other == {"status": "error", "error": "error: TypeError: bad target"}
    compile_error = KernelCompileError("_kernel", "cuda:0", "line 1\nsynchronize\nline 3")
    not_compiled = gpu.training_step_syncs(_raises(compile_error), target)
    assert not_compiled["status"] == "compile error"  # not a sync, whatever the text says
    assert not_compiled["error"].endswith("line 1\nsynchronize\nline 3")


def test_failure_keeps_the_whole_message_and_tells_compile_errors_apart() -> None:
    long = RuntimeError("first line\nsecond line\nthe reason")
    assert gpu.failure(long) == "error: RuntimeError: first line\nsecond line\nthe reason"
    compile_error = KernelCompileError("_softmax_focal_kernel", "cuda:0", "at 2:11:\nNameError")
    assert gpu.failure(compile_error).startswith("compile error: KernelCompileError: ")
    assert gpu.failure(compile_error).endswith("at 2:11:\nNameError")


def test_compile_errors_are_counted_apart_from_syncs() -> None:
    results = _results(1.0, 0.9, 1.0, failed_runs=0)
    results["cases"][0]["implementations"]["torchfocal triton"]["status"] = "compile error: X: y"
    results["sync"]["runs"][0].update(loss="softmax_focal_loss", backend="triton")
    results["sync"]["runs"][0]["status"] = "compile error"
    assert gpu.compile_errors(results) == [
        f"{results['cases'][0]['name']} torchfocal triton status",
        "sync softmax_focal_loss triton",
    ]
    goals = {goal["goal"]: goal for goal in gpu.judge_goals(results)}
    assert goals["kernels that did not compile on this device"]["measured"] == 2
    assert goals["kernels that did not compile on this device"]["met"] is False
    sync_goal = next(goal for name, goal in goals.items() if name.startswith("training steps"))
    assert sync_goal["measured"] == 0
