"""The command line, in-process and as a subprocess."""

from __future__ import annotations

import argparse
import json
import os
import pty
import re
import select
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pytest
import torch

from torchfocal.cli import SUBCOMMANDS, bench, build_parser, demo, demo_segmentation, main
from torchfocal.cli._common import compare


class Run(NamedTuple):
    """What a command-line run returned and wrote."""

    returncode: int
    stdout: str
    stderr: str


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> Run:
    """``torchfocal ARGS`` in this process (as ``main`` is called by the entry point): its
    exit code (argparse's exits included) and what it wrote. The subprocess runs are the
    few tests of the entry point itself (test_console_script_and_help, the terminal and the
    missing-NumPy runs)."""
    capsys.readouterr()
    try:
        code = main(list(args))
    except SystemExit as exit:  # argparse: --help (0) and usage errors (2)
        code = exit.code if isinstance(exit.code, int) else int(exit.code is not None)
    out, err = capsys.readouterr()
    return Run(code, out, err)


def test_table_reproduces_the_worked_example(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["table", "--probs", "0.8", "0.4", "--gamma", "2", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    assert [round(r["cross_entropy"], 4) for r in rows] == [0.2231, 0.9163]
    assert [round(r["focal_loss"], 4) for r in rows] == [0.0089, 0.3299]
    assert round(rows[1]["ce_ratio_to_first"], 2) == 4.11
    assert round(rows[1]["focal_ratio_to_first"], 2) == 36.96


def test_table_plain_text_when_piped_and_alpha(capsys: pytest.CaptureFixture[str]) -> None:
    result = run_cli(capsys, "table", "--probs", "0.8", "0.4", "--gamma", "2")
    assert result.returncode == 0, result.stderr
    assert "0.2231" in result.stdout and "36.96" in result.stdout and "4.11" in result.stdout
    assert "\x1b[" not in result.stdout  # no terminal styling in a pipe
    header = result.stdout.splitlines()[1]  # columns named in words, the first p in them
    for column in ("cross-entropy", "focal loss", "focal / cross-entropy"):
        assert column in header
    assert "cross-entropy / at p = 0.8" in header and "focal loss / at p = 0.8" in header
    with_alpha = run_cli(capsys, "table", "--probs", "0.8", "--alpha", "0.25", "--json")
    row = json.loads(with_alpha.stdout)["rows"][0]
    assert row["focal_loss"] == pytest.approx(0.25 * 0.2**2 * -np.log(0.8))


def test_weights_json_matches_the_formula(capsys: pytest.CaptureFixture[str]) -> None:
    counts, beta = [500, 50, 5], 0.99
    assert main(["weights", "--counts", *map(str, counts), "--beta", str(beta), "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert set(payload) == {
        "counts",
        "beta",
        "class_balanced_weights",
        "balanced_alpha",
        "logit_adjustment",
        "ldam_margins",
    }
    raw = np.array([(1 - beta) / (1 - beta**n) for n in counts])
    np.testing.assert_allclose(payload["class_balanced_weights"], raw / raw.sum() * 3, rtol=1e-6)
    total = sum(counts)
    np.testing.assert_allclose(
        payload["balanced_alpha"], [(total - n) / total for n in counts], rtol=1e-6
    )
    # tau log(prior) at tau = 1, the prior being the class frequencies
    np.testing.assert_allclose(
        payload["logit_adjustment"], [np.log(n / total) for n in counts], rtol=1e-12
    )
    # n^(-1/4), the rarest class's margin 0.5
    np.testing.assert_allclose(
        payload["ldam_margins"], [0.5 * (5 / n) ** 0.25 for n in counts], rtol=1e-6
    )
    assert payload["counts"] == counts and payload["beta"] == beta


def test_weights_table_shows_every_column(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["weights", "--counts", "500", "50", "5"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].split("  ")[-2:] == ["logit adjustment", "LDAM margin"]
    # the rarest class: log(5 / 555) and the largest margin
    assert lines[-1].split()[-2:] == [f"{np.log(5 / 555):.4f}", "0.5000"]


@pytest.mark.parametrize(
    ("name", "content", "counts"),
    [
        ("labels.txt", "0\n2\n2\n1\n2\n", [1, 1, 3]),
        ("labels.csv", "1,0,0\n0,1,0\n0,1,0\n0,0,1\n", [1, 2, 1]),
        ("multi.txt", "1 1 0\n0 1 1\n1 0 0\n", [2, 2, 1]),
        ("labels.npy", np.array([0, 1, 1, 3, 2, 3, 3]), [1, 2, 1, 3]),
        ("onehot.npy", np.eye(3)[[0, 0, 1, 2, 2, 2]], [2, 1, 3]),
    ],
)
def test_weights_label_files(
    tmp_path: Path,
    name: str,
    content: str | np.ndarray,
    counts: list[int],
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = tmp_path / name
    if isinstance(content, np.ndarray):
        np.save(path, content)
    else:
        path.write_text(content)
    assert main(["weights", "--labels", str(path), "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["counts"] == counts
    # multi-hot rows too: the prior is the counts over their sum, not over the rows
    np.testing.assert_allclose(
        payload["logit_adjustment"], np.log(np.array(counts) / sum(counts)), rtol=1e-12
    )


@pytest.mark.parametrize(
    ("kind", "suffix", "magic"),
    [("loss", ".png", b"\x89PNG\r\n\x1a\n"), ("grad", ".svg", b"<?xml"), ("loss", ".pdf", b"%PDF")],
)
def test_plot_writes_valid_files(tmp_path: Path, kind: str, suffix: str, magic: bytes) -> None:
    out = tmp_path / f"figure{suffix}"
    assert main(["plot", "--kind", kind, "--gammas", "0", "0.5", "2", "--out", str(out)]) == 0
    data = out.read_bytes()
    assert data.startswith(magic) and len(data) > 1000


def test_plot_png_decodes(tmp_path: Path) -> None:
    image = pytest.importorskip("matplotlib.image")
    out = tmp_path / "loss.png"
    assert main(["plot", "--kind", "loss", "--out", str(out)]) == 0
    pixels = image.imread(out)
    assert pixels.ndim == 3 and pixels.shape[0] > 100 and pixels.std() > 0


def test_demo_quick_longtail_writes_report_and_is_deterministic(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # more imbalance than the data allow: capped, and said on screen
    first = run_cli(capsys, "demo", "--quick", "--imbalance", "500", "--out", str(tmp_path / "a"))
    assert first.returncode == 0, first.stderr
    assert "note: --imbalance 500 is more than these data allow; using 134" in first.stdout
    assert main(["demo", "--quick", "--imbalance", "500", "--out", str(tmp_path / "b")]) == 0
    payloads = [json.loads((tmp_path / d / "results.json").read_text()) for d in "ab"]
    for payload in payloads:
        payload.pop("seconds")
    assert payloads[0] == payloads[1]
    payload = payloads[0]
    assert set(payload["summary"]) == {
        "ce",
        "balanced_ce",
        "softmax_focal",
        "flsd53",
        "poly1_ce",
        "sigmoid_focal",
        "cb_softmax",
        "cb_focal",
        "logit_adjusted",
        "ldam_drw",
        "seesaw",
    }
    for values in payload["summary"].values():
        assert set(values) == {"accuracy", "balanced_accuracy", "macro_f1", "rare_recall", "ece"}
        assert all(0 <= mean <= 1 for mean, _ in values.values())
    counts = payload["data"]["train_counts"]
    assert counts == sorted(counts, reverse=True) and counts[0] / counts[-1] > 10
    # every key comes with the label the table shows
    assert set(payload["labels"]) == set(payload["summary"])
    assert payload["labels"]["ce"] == "cross-entropy"
    assert payload["labels"]["ldam_drw"] == "LDAM-DRW"
    for label in payload["labels"].values():
        assert label in first.stdout
    report = (tmp_path / "a" / "report.md").read_text()
    assert "## What happened on this run" in report
    # one verdict per loss against cross-entropy, for each of the three judged metrics
    sections = re.split(r"^### ", report, flags=re.M)[1:]
    headings = [section.splitlines()[0] for section in sections]
    assert headings == [
        "Balanced accuracy",
        "Rare-third recall",
        "Calibration (ECE, lower is better)",
    ]
    names = ["balanced accuracy", "rare-third recall", "calibration (ECE)"]
    for section, metric in zip(sections, names, strict=True):
        verdicts = [line for line in section.splitlines() if line.startswith("- ")]
        assert len(verdicts) == len(payload["summary"]) - 1
        assert all(metric in line and "for cross-entropy" in line for line in verdicts)
    for plot in payload["plots"]:
        assert (tmp_path / "a" / plot).read_bytes().startswith(b"\x89PNG")
    assert "balanced acc %" in first.stdout
    # no plain accuracy column: on the balanced test split it repeats balanced accuracy
    assert "accuracy %" not in first.stdout.replace("balanced acc %", "")
    for runs in payload["runs"].values():
        assert all(run["accuracy"] == pytest.approx(run["balanced_accuracy"]) for run in runs)
    # not a terminal: one progress line per finished run, on stderr
    runs = len(payload["summary"]) * payload["config"]["seeds"]
    progress = [line for line in first.stderr.splitlines() if "runs done" in line]
    assert len(progress) == runs and f"{runs}/{runs} runs done" in progress[-1]


def test_demo_quick_dense(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--task", "dense", "--quick", "--seeds", "1", "--out", str(tmp_path)]) == 0
    assert "4/4 runs done" in capsys.readouterr().err
    payload = json.loads((tmp_path / "results.json").read_text())
    assert set(payload["summary"]) == {"bce", "bce_prior", "focal", "focal_prior"}
    assert payload["labels"] == {
        "bce": "BCE",
        "bce_prior": "BCE + prior init",
        "focal": "focal (gamma 2, alpha 0.25)",
        "focal_prior": "focal + prior init",
    }
    for values in payload["summary"].values():
        assert 0 < values["average_precision"][0] <= 1
    # The prior initialisation starts the positives-normalised loss far lower (Lin et al.).
    summary = payload["summary"]
    assert summary["bce_prior"]["initial_loss"][0] < summary["bce"]["initial_loss"][0] / 10


def test_demo_quick_segmentation(tmp_path: Path) -> None:
    """--task segmentation: every loss trains, the metrics are fractions, the report judges
    each loss against cross-entropy."""
    args = ["demo", "--task", "segmentation", "--quick", "--seeds", "1", "--epochs", "3"]
    assert main([*args, "--out", str(tmp_path)]) == 0
    payload = json.loads((tmp_path / "results.json").read_text())
    assert set(payload["summary"]) == set(demo_segmentation.SEGMENTATION_LOSSES)
    for values in payload["summary"].values():
        assert all(0 <= values[m][0] <= 1 for m in ("dice", "iou", "boundary_error"))
    assert 0.002 < payload["data"]["foreground_fraction"] < 0.05
    report = (tmp_path / "report.md").read_text()
    assert "for cross-entropy" in report and "boundary error" in report


def test_segmentation_metrics_by_hand() -> None:
    mask = torch.zeros(1, 5, 5, dtype=torch.long)
    mask[0, 1:3, 1:3] = 1  # 4 pixels
    prediction = torch.zeros_like(mask)
    prediction[0, 1:3, 1] = 1  # 2 of them
    values = demo_segmentation.metrics(prediction, mask)
    assert values["dice"] == pytest.approx(2 * 2 / 6)
    assert values["iou"] == pytest.approx(2 / 4)
    # The band: the 3x3 dilation minus the erosion (empty for a 2x2 square) = 16 pixels.
    assert values["boundary_error"] == pytest.approx(2 / 16)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["table", "--probs", "1.2"], "--probs must be in (0, 1); got 1.2"),
        (["table", "--probs", "0"], "--probs must be in (0, 1)"),
        (["table", "--probs", "abc"], "invalid float value"),
        (["weights", "--counts", "10", "0", "5"], "class 1 has 0 samples"),
        (["weights", "--labels", "/nonexistent/labels.txt"], "no such file"),
        (["weights", "--counts", "10", "5", "--beta", "1.5"], "--beta must be in [0, 1)"),
        (["table", "--gamma", "-1"], "--gamma must be a finite number >= 0; got -1.0"),
        (["table", "--gamma", "nan"], "--gamma must be a finite number >= 0; got nan"),
        (["table", "--alpha", "2"], "--alpha must be in [0, 1]; got 2.0"),
        (["demo", "--imbalance", "inf"], "--imbalance must be a finite number >= 1; got inf"),
        (
            ["demo", "--task", "tabular", "--imbalance", "inf"],
            "--imbalance must be a finite number >= 1; got inf",
        ),
        (["plot", "--kind", "area", "--out", "x.png"], "--kind must be 'loss' or 'grad'"),
        (["plot", "--out", "figure.bmp"], "--out must end in one of .png, .svg, .pdf"),
        (["plot", "--out", "/nonexistent/dir/figure.png"], "does not exist"),
        (
            ["demo", "--task", "bogus"],
            "--task must be 'longtail', 'dense', 'segmentation' or 'tabular'",
        ),
        (["demo", "--task", "segmentation", "--seeds", "0"], "--seeds must be >= 1"),
        (["demo", "--seeds", "0"], "--seeds must be >= 1"),
        (["frobnicate"], "invalid choice"),
        (["demo", "--bogus"], "torchfocal demo: error: unrecognized arguments: --bogus"),
        (["weights"], "one of the arguments --counts --labels is required"),
    ],
)
def test_bad_input_exits_2_with_one_line(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    result = run_cli(capsys, *args)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_bad_files_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    garbage = tmp_path / "labels.npy"
    garbage.write_bytes(b"not a numpy file")
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("1,0\n0,1,0\n")
    negative = tmp_path / "negative.txt"
    negative.write_text("1\n-3\n")
    wrong_type = tmp_path / "labels.json"
    wrong_type.write_text("[1, 2]")
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    cases = [
        (["weights", "--labels", str(garbage)], "cannot read"),
        (["weights", "--labels", str(ragged)], "different lengths"),
        (["weights", "--labels", str(negative)], "non-negative integers"),
        (["weights", "--labels", str(wrong_type)], "must be a .npy, .csv or .txt file"),
        (["weights", "--labels", str(tmp_path)], "no such file"),
        (["demo", "--quick", "--out", str(blocker / "sub")], "--out: cannot write to"),
    ]
    for args, message in cases:
        result = run_cli(capsys, *args)
        assert result.returncode == 2, args
        assert "Traceback" not in result.stderr and message in result.stderr, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "command",
    [[sys.executable, "-m", "torchfocal"], [str(Path(sys.executable).parent / "torchfocal")]],
    ids=["python -m torchfocal", "entry point"],
)
def test_console_script_and_help(command: list[str]) -> None:
    """The two real ways in, as subprocesses (every other test calls main in-process)."""
    if not Path(command[0]).exists():
        pytest.skip(f"no {command[0]}: the package is not installed (pip install -e .)")
    result = subprocess.run(
        [*command, "--help"], capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stderr
    for name in SUBCOMMANDS:
        assert name in result.stdout
    table = subprocess.run(
        [*command, "table", "--probs", "0.8", "0.4", "--json"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert table.returncode == 0, table.stderr
    assert [round(r["focal_loss"], 4) for r in json.loads(table.stdout)["rows"]] == [
        0.0089,
        0.3299,
    ]


def _assert_one_line_exit_2(result: Run, message: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert message in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["weights", "--counts", "99999999999999999999999", "5"],
            "--counts must add up to at most 2**53 = 9007199254740992 samples",
        ),
        (
            ["weights", "--counts", "9223372036854775807", "9223372036854775807"],
            "--counts must add up to at most 2**53",
        ),
        (
            ["weights", "--counts", "-99999999999999999999999", "5"],
            "class 0 has -99999999999999999999999 samples",
        ),
        (["bench", "--sizes", "1e400"], "--sizes must be finite numbers of logits; got inf"),
        (["bench", "--sizes", "nan"], "--sizes must be finite numbers of logits; got nan"),
        (["bench", "--sizes", "1000.5"], "--sizes must be whole numbers of logits; got 1000.5"),
        (["bench", "--sizes", "0"], "--sizes must be >= 1; got 0"),
        (["bench", "--sizes", "1e15"], "more than the"),  # 160 PB of working set
        (["bench", "--sizes", "1e300", "--dtypes", "float64"], "(320 bytes per logit)"),
        (["bench", "--sizes", "100", "--repeats", "0"], "--repeats must be >= 1; got 0"),
    ],
)
def test_numbers_out_of_range_exit_2_with_one_line(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _assert_one_line_exit_2(run_cli(capsys, *args), message)


def _write(path: Path, content: str | bytes | np.ndarray) -> None:
    if isinstance(content, np.ndarray):
        with path.open("wb") as handle:  # keep the exact name (np.save appends .npy)
            np.save(handle, content)
    elif isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)


def _truncated_npy(length: int) -> bytes:
    """A .npy header that promises ``length`` int64 values, followed by only two."""
    from io import BytesIO

    from numpy.lib import format as npy_format

    buffer = BytesIO()
    header = {"descr": "<i8", "fortran_order": False, "shape": (length,)}
    npy_format.write_array_header_1_0(buffer, header)  # type: ignore[no-untyped-call]
    return buffer.getvalue() + b"\0" * 16


def _npz_bytes() -> bytes:
    from io import BytesIO

    buffer = BytesIO()
    np.savez(buffer, labels=np.arange(3))
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("big.txt", "1e18\n", "must be below the number of labels (1)"),
        ("big.npy", np.array([0, 1, 10**18]), "number of labels (3), since every class"),
        ("gap.txt", "0\n1\n5\n", "must be below the number of labels (3)"),
        ("huge.npy", np.array([2**64 - 1, 0], dtype=np.uint64), "got 18446744073709551615"),
        ("inf.txt", "inf\n1\n", "must be finite; got inf"),
        ("overflow.txt", "1e400\n0\n", "must be finite; got inf"),
        ("nan.npy", np.array([np.nan, 1.0]), "must be finite; got nan"),
        ("words.npy", np.array(["a", "b"]), "must hold numbers; got <U1"),
        ("complex.npy", np.array([1 + 1j, 0]), "must hold numbers; got complex128"),
        ("record.npy", np.zeros(2, dtype=[("a", "i4")]), "must hold numbers"),
        ("empty.npy", b"", "cannot read"),
        ("truncated.npy", _truncated_npy(10**15), "cannot read"),
        ("archive.npy", _npz_bytes(), "is not a single NumPy array"),
    ],
)
def test_bad_label_files_exit_2_with_one_line(
    tmp_path: Path,
    name: str,
    content: str | bytes | np.ndarray,
    message: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = tmp_path / name
    _write(path, content)
    _assert_one_line_exit_2(run_cli(capsys, "weights", "--labels", str(path)), message)


def _run_in_terminal(args: list[str], timeout: float = 240) -> tuple[int, str]:
    """Run the command line with stdin, stdout and stderr on a pseudo-terminal; its exit
    code and everything it wrote, terminal control sequences removed."""
    controller, terminal = pty.openpty()
    env = dict(os.environ, TERM="xterm", COLUMNS="120")
    process = subprocess.Popen(
        [sys.executable, "-m", "torchfocal", *args],
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        env=env,
    )
    os.close(terminal)
    output = b""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([controller], [], [], 1.0)
            if not ready:
                if process.poll() is not None:
                    break
                continue
            try:
                chunk = os.read(controller, 65536)
            except OSError:  # the terminal closed: the process has ended
                break
            if not chunk:
                break
            output += chunk
        code = process.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        if process.poll() is None:
            process.kill()
        os.close(controller)
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", output.decode("utf-8", errors="replace"))
    return code, text


def test_demo_shows_progress_on_a_terminal(tmp_path: Path) -> None:
    """On a terminal the dense demo draws its bars (all runs, and the run in progress) and
    still finishes with the table (two steps a run: the bars, not the training, are what
    this test is about; test_demo_quick_dense trains)."""
    code, text = _run_in_terminal(
        [
            "demo",
            "--task",
            "dense",
            "--quick",
            "--seeds",
            "1",
            "--epochs",
            "2",
            "--out",
            str(tmp_path),
        ]
    )
    assert code == 0, text
    assert "Traceback" not in text
    assert "all runs" in text
    for label in demo.DENSE_LOSSES.values():
        assert f"{label}, seed 0" in text  # each run's own bar
    assert "4/4" in text  # the overall bar complete
    assert "runs done" not in text  # the plain lines are for pipes and logs
    assert "focal + prior init" in text and (tmp_path / "report.md").exists()


def test_verdicts_judge_against_the_combined_spread() -> None:
    summary = {
        "ce": {"balanced_accuracy": [0.80, 0.03], "ece": [0.07, 0.004]},
        "better": {"balanced_accuracy": [0.90, 0.04], "ece": [0.04, 0.003]},
        "tie": {"balanced_accuracy": [0.84, 0.04], "ece": [0.074, 0.003]},
        "worse": {"balanced_accuracy": [0.70, 0.0], "ece": [0.10, 0.0]},
    }
    labels = {name: name for name in summary} | {"ce": "cross-entropy"}
    accuracy = demo._verdicts(summary, "ce", "balanced_accuracy", labels)
    assert accuracy == [
        "- better helped balanced accuracy: 90.0 vs 80.0 for cross-entropy "
        "(+10.0 points; seed spread 5.0).",
        "- tie made no clear difference to balanced accuracy: 84.0 vs 80.0 for cross-entropy "
        "(+4.0 points; seed spread 5.0).",
        "- worse hurt balanced accuracy: 70.0 vs 80.0 for cross-entropy "
        "(-10.0 points; seed spread 3.0).",
    ]
    # lower is better: a smaller ECE helps
    calibration = demo._verdicts(summary, "ce", "ece", labels)
    assert [line.split(" calibration")[0] for line in calibration] == [
        "- better helped",
        "- tie made no clear difference to",
        "- worse hurt",
    ]
    assert "4.0 vs 7.0 for cross-entropy (-3.0 points; seed spread 0.5)" in calibration[0]


def test_verdicts_use_the_numbers_they_show() -> None:
    """The difference printed is that of the two rounded numbers beside it (6.04 - 6.96
    is -0.92, but the reader sees 6.0 vs 7.0)."""
    summary = {"ce": {"ece": [0.0696, 0.0]}, "focal": {"ece": [0.0604, 0.0]}}
    (sentence,) = demo._verdicts(summary, "ce", "ece", {"ce": "cross-entropy", "focal": "focal"})
    assert "6.0 vs 7.0 for cross-entropy (-1.0 points; seed spread 0.1)" in sentence
    assert sentence.startswith("- focal helped")
    # the verdict follows the shown numbers too: a shown difference equal to the shown
    # spread is not beyond it
    tie = compare(0.812, 0.01, 0.80, 0.0)  # 81.2 vs 80.0, spread 1.0 ... +1.2 > 1.0
    assert (tie.mean, tie.baseline, tie.difference, tie.spread) == (81.2, 80.0, 1.2, 1.0)
    assert tie.verdict == "helped"
    edge = compare(0.8104, 0.01, 0.80, 0.0)  # shown +1.0 against a shown spread of 1.0
    assert edge.difference == 1.0 and edge.verdict == "made no clear difference to"


def test_per_class_recall_plot_has_error_bars_over_seeds() -> None:
    pytest.importorskip("matplotlib")
    import matplotlib.pyplot as plt
    from matplotlib.container import BarContainer

    recall = {
        "ce": [[1.0, 0.2, 0.0], [0.9, 0.4, 0.1], [0.8, 0.3, 0.5]],
        "ldam_drw": [[1.0, 0.6, 0.5], [1.0, 0.7, 0.4], [0.9, 0.8, 0.9]],
    }
    results = {
        name: [demo.RunResult(metrics={}, per_class_recall=seed) for seed in seeds]
        for name, seeds in recall.items()
    }
    figure = demo.per_class_recall_figure(results, [50, 10, 1])
    try:
        assert len(figure.axes) == len(recall)  # one panel per loss
        for axes, (name, seeds) in zip(figure.axes, recall.items(), strict=True):
            assert axes.get_title() == demo.LONGTAIL_LOSSES[name]
            (container,) = [c for c in axes.containers if isinstance(c, BarContainer)]
            mean = np.mean(seeds, axis=0)
            std = np.std(seeds, axis=0, ddof=1)  # the table's spread
            np.testing.assert_allclose([bar.get_height() for bar in container], mean)
            (error_lines,) = container.errorbar.lines[2]
            low, high = np.array(error_lines.get_segments()).transpose(1, 0, 2)[..., 1]
            np.testing.assert_allclose(low, mean - std)
            np.testing.assert_allclose(high, mean + std)
        # the baseline's mean recall is marked in the other panel
        (marks,) = [line for line in figure.axes[1].get_lines() if line.get_gid() == "baseline"]
        np.testing.assert_allclose(marks.get_ydata(), np.mean(recall["ce"], axis=0))
        assert "mean ± std over 3 seeds" in figure.get_suptitle()
    finally:
        plt.close(figure)
    single = demo.per_class_recall_figure({"ce": results["ce"][:1]}, [50, 10, 1])
    try:
        assert single.axes[0].containers[0].errorbar is None  # one seed: no spread to show
    finally:
        plt.close(single)


def test_training_curves_tell_eleven_losses_apart() -> None:
    pytest.importorskip("matplotlib")
    import matplotlib.pyplot as plt

    results = {
        name: [demo.RunResult(metrics={}, per_class_recall=[], curve=[0.5, 0.6, 0.7])] * 2
        for name in demo.LONGTAIL_LOSSES
    }
    figure = demo.training_curves_figure(results)
    try:
        (axes,) = figure.axes
        lines = axes.get_lines()
        assert len(lines) == len(demo.LONGTAIL_LOSSES) == 11
        assert len({line.get_color() for line in lines}) == 11
        assert len({(line.get_linestyle(), line.get_marker()) for line in lines}) == 11
        assert "mean over 2 seeds" in axes.get_title()
        # the legend lies right of the plotting area, not over the curves
        figure.canvas.draw()
        legend = axes.get_legend().get_window_extent()
        assert legend.x0 >= axes.get_window_extent().x1
    finally:
        plt.close(figure)


#: What each subcommand requires, so that the unknown flag is the only thing wrong.
REQUIRED = {"plot": ["--out", "figure.png"], "weights": ["--counts", "5", "3"]}


@pytest.mark.parametrize("command", sorted(SUBCOMMANDS))
def test_unknown_flag_names_the_subcommand(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([command, *REQUIRED.get(command, []), "--bogus"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err == f"torchfocal {command}: error: unrecognized arguments: --bogus\n"


def test_unknown_flag_before_the_subcommand_names_torchfocal(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--bogus", "table"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err == "torchfocal: error: unrecognized arguments: --bogus\n"


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(action.choices)


def test_every_option_that_takes_a_value_says_its_default() -> None:
    missing = [
        f"{name} {'/'.join(action.option_strings)}"
        for name, command in _subparsers(build_parser()).items()
        for action in command._actions
        if action.option_strings
        and action.nargs != 0  # flags (--json, --quick, --help) take no value
        and not ("(default: " in (action.help or "") or "required)" in (action.help or ""))
    ]
    assert not missing, f"options whose help does not give the default: {missing}"


def test_every_option_of_every_subcommand_has_help() -> None:
    parser = build_parser()
    commands = _subparsers(parser)
    assert set(commands) == set(SUBCOMMANDS)
    missing = [
        f"{name} {' / '.join(action.option_strings) or action.dest}"
        for name, command in commands.items()
        for action in command._actions
        if not action.help or action.help == argparse.SUPPRESS
    ]
    assert not missing, f"options without help: {missing}"


def test_bench_dtypes_help_lists_what_it_accepts(capsys: pytest.CaptureFixture[str]) -> None:
    (dtypes,) = [a for a in _subparsers(build_parser())["bench"]._actions if a.dest == "dtypes"]
    assert dtypes.help is not None
    for dtype in ("float32", "bfloat16", "float64"):
        assert dtype in dtypes.help
    # ...and what the check accepts and names when it refuses one
    assert main(["bench", "--sweep", "--dtypes", "float16"]) == 2
    assert "--dtypes must be float32, bfloat16 or float64" in capsys.readouterr().err


def test_bench_quick_caps_long_rows_and_judges_only_full_shapes(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """--quick times every row, the long ones on QUICK_MAX_ROWS rows, not judged."""
    long_rows = bench.QUICK_MAX_ROWS + 1
    goals = (
        bench.Goal("sigmoid", "fused", (long_rows, 4), "float", 1e9, "BCE"),
        bench.Goal("sigmoid", "fused", (64, 4), "bool", 1e9, "BCE"),
    )
    monkeypatch.setattr(bench, "GOALS", goals)
    assert main(["bench", "--quick", "--no-memory", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["max_rows"] == bench.QUICK_MAX_ROWS and result["pairs"] == bench.QUICK_PAIRS
    capped, full = result["rows"]
    assert capped["shape"] == [bench.QUICK_MAX_ROWS, 4] and full["shape"] == [64, 4]
    assert capped["status"] == full["status"] == "measured"
    assert capped["met"] is None and full["met"] is True
    assert main(["bench", "--quick", "--no-memory"]) == 0
    assert f"N capped at {bench.QUICK_MAX_ROWS} rows (--quick)" in capsys.readouterr().out
    assert main(["bench", "--no-memory", "--pairs", "1"]) == 0  # a full run caps nothing
    assert "N capped" not in capsys.readouterr().out


# A finder that refuses NumPy (so also matplotlib and scikit-learn, which import it), as on a
# machine with torchfocal but without its cli extra; torch itself runs without NumPy. The
# process runs each command line of its JSON argument through main (one interpreter start
# for all of them) and prints each one's exit code, stdout and stderr as JSON.
_WITHOUT_NUMPY = textwrap.dedent(
    """
    import contextlib
    import importlib.abc
    import io
    import json
    import sys

    class Block(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.partition(".")[0] == "numpy":
                raise ModuleNotFoundError(f"No module named {name!r} (blocked)", name=name)
            return None

    sys.meta_path.insert(0, Block())
    from torchfocal.cli import main
    runs = []
    for argv in json.loads(sys.argv[1]):
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(argv)
            except SystemExit as exit:
                code = exit.code
        runs.append((code, out.getvalue(), err.getvalue()))
    assert "numpy" not in sys.modules
    print(json.dumps(runs))
    """
)


def _run_without_numpy(*argvs: list[str]) -> list[Run]:
    process = subprocess.run(
        [sys.executable, "-c", _WITHOUT_NUMPY, json.dumps(argvs)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert process.returncode == 0, process.stderr
    return [Run(*run) for run in json.loads(process.stdout)]


def test_help_and_table_work_without_numpy() -> None:
    top, *helps, table, bench_list = _run_without_numpy(
        ["--help"],
        *([command, "--help"] for command in SUBCOMMANDS),
        ["table", "--probs", "0.8", "0.4", "--json"],
        ["bench", "--list"],
    )
    assert top.returncode == 0, top.stderr
    for command, help_run in zip(SUBCOMMANDS, helps, strict=True):
        assert command in top.stdout
        assert help_run.returncode == 0, command
    assert table.returncode == 0, table.stderr
    assert [round(r["focal_loss"], 4) for r in json.loads(table.stdout)["rows"]] == [
        0.0089,
        0.3299,
    ]
    assert bench_list.returncode == 0


@pytest.mark.parametrize(
    "args",
    [
        ["demo", "--quick", "--out", "{out}"],
        ["demo", "--task", "dense", "--out", "{out}"],
        ["weights", "--counts", "500", "50", "5"],
        ["plot", "--out", "{out}.png"],
        ["bench", "--quick"],
        ["bench", "--sweep", "--quick"],
    ],
)
def test_a_command_that_needs_numpy_names_the_extra(
    args: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """In-process, NumPy made unimportable (None in sys.modules: an ImportError, as on a
    machine without it; test_help_and_table_work_without_numpy runs a real such process)."""
    for name in [m for m in sys.modules if m.partition(".")[0] in ("numpy", "matplotlib")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "numpy", None)
    out = tmp_path / "out"
    result = run_cli(capsys, *(arg.format(out=out) for arg in args))
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines()[-1] == (
        f"torchfocal {args[0]}: error: this command needs numpy, part of the cli extra: "
        "pip install -e '.[cli]' in torchfocal's checkout"
    )
    assert list(tmp_path.iterdir()) == []  # refused before writing anything
