"""The command line, in-process and as a subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from torchfocal.cli import main


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "torchfocal", *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_table_reproduces_seed_000(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["table", "--probs", "0.8", "0.4", "--gamma", "2", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    assert [round(r["cross_entropy"], 4) for r in rows] == [0.2231, 0.9163]
    assert [round(r["focal_loss"], 4) for r in rows] == [0.0089, 0.3299]
    assert round(rows[1]["ce_ratio_to_first"], 2) == 4.11
    assert round(rows[1]["focal_ratio_to_first"], 2) == 36.96


def test_table_plain_text_when_piped_and_alpha() -> None:
    result = run_cli("table", "--probs", "0.8", "0.4", "--gamma", "2")
    assert result.returncode == 0, result.stderr
    assert "0.2231" in result.stdout and "36.96" in result.stdout and "4.11" in result.stdout
    assert "\x1b[" not in result.stdout  # no terminal styling in a pipe
    with_alpha = run_cli("table", "--probs", "0.8", "--alpha", "0.25", "--json")
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


def test_demo_quick_longtail_writes_report_and_is_deterministic(tmp_path: Path) -> None:
    first = run_cli("demo", "--quick", "--out", str(tmp_path / "a"))
    assert first.returncode == 0, first.stderr
    assert main(["demo", "--quick", "--out", str(tmp_path / "b")]) == 0
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
    report = (tmp_path / "a" / "report.md").read_text()
    assert "## What happened on this run" in report and "cross-entropy" in report
    for plot in payload["plots"]:
        assert (tmp_path / "a" / plot).read_bytes().startswith(b"\x89PNG")
    assert "balanced acc %" in first.stdout


def test_demo_quick_dense(tmp_path: Path) -> None:
    assert main(["demo", "--task", "dense", "--quick", "--seeds", "1", "--out", str(tmp_path)]) == 0
    payload = json.loads((tmp_path / "results.json").read_text())
    assert set(payload["summary"]) == {"bce", "bce_prior", "focal", "focal_prior"}
    for values in payload["summary"].values():
        assert 0 < values["average_precision"][0] <= 1
    # The prior initialisation starts the positives-normalised loss far lower (Lin et al.).
    summary = payload["summary"]
    assert summary["bce_prior"]["initial_loss"][0] < summary["bce"]["initial_loss"][0] / 10


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["table", "--probs", "1.2"], "--probs must be in (0, 1); got 1.2"),
        (["table", "--probs", "0"], "--probs must be in (0, 1)"),
        (["table", "--probs", "abc"], "invalid float value"),
        (["weights", "--counts", "10", "0", "5"], "class 1 has 0 samples"),
        (["weights", "--labels", "/nonexistent/labels.txt"], "no such file"),
        (["weights", "--counts", "10", "5", "--beta", "1.5"], "beta must be in [0, 1)"),
        (["plot", "--kind", "area", "--out", "x.png"], "--kind must be 'loss' or 'grad'"),
        (["plot", "--out", "figure.bmp"], "--out must end in one of .png, .svg, .pdf"),
        (["plot", "--out", "/nonexistent/dir/figure.png"], "does not exist"),
        (["demo", "--task", "segmentation"], "--task must be 'longtail' or 'dense'"),
        (["demo", "--seeds", "0"], "--seeds must be >= 1"),
        (["frobnicate"], "invalid choice"),
        (["weights"], "one of the arguments --counts --labels is required"),
    ],
)
def test_bad_input_exits_2_with_one_line(args: list[str], message: str) -> None:
    result = run_cli(*args)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_bad_files_exit_2(tmp_path: Path) -> None:
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
        result = run_cli(*args)
        assert result.returncode == 2, args
        assert "Traceback" not in result.stderr and message in result.stderr, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1


def test_console_script_and_help() -> None:
    result = run_cli("--help")
    assert result.returncode == 0
    for command in ("table", "plot", "weights", "demo"):
        assert command in result.stdout


def _assert_one_line_exit_2(result: subprocess.CompletedProcess[str], message: str) -> None:
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
def test_numbers_out_of_range_exit_2_with_one_line(args: list[str], message: str) -> None:
    _assert_one_line_exit_2(run_cli(*args), message)


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
    tmp_path: Path, name: str, content: str | bytes | np.ndarray, message: str
) -> None:
    path = tmp_path / name
    _write(path, content)
    _assert_one_line_exit_2(run_cli("weights", "--labels", str(path)), message)
