"""The benchmark's quick mode runs and produces valid JSON (no timing is asserted)."""

from __future__ import annotations

import json
import math

import pytest

from torchfocal.cli import main


def test_bench_quick_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--quick", "--json", "--backends", "naive", "fused"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["torch_threads"] >= 1 and result["repeats"] == 2
    names = {(row["loss"], row["backend"]) for row in result["rows"]}
    for loss in ("sigmoid", "softmax"):
        assert {(loss, "baseline"), (loss, "naive"), (loss, "fused")} <= names
        assert result["reference_check_relative_error"][loss]["fused"] < 1e-6
    for row in result["rows"]:
        assert row["forward"] > 0 and row["forward_backward"] > 0
        assert math.isfinite(row["forward_backward_ratio"])
        if row["backend"] == "baseline":
            assert row["forward_ratio"] == 1.0
        assert "peak_extra_over_input" in row


def test_bench_table_and_bad_input(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(["bench", "--quick", "--no-memory", "--losses", "softmax", "--backends", "fused"]) == 0
    )
    out = capsys.readouterr().out
    assert "fwd+bwd x base" in out and "softmax" in out and "torch threads" in out
    assert main(["bench", "--losses", "hinge"]) == 2
    assert main(["bench", "--backends", "cuda"]) == 2


def test_bench_family_losses(capsys: pytest.CaptureFixture[str]) -> None:
    """The family's losses run their naive and fused backends (no compiled one) against BCE,
    each checked against the reference first."""
    losses = ["star", "asymmetric", "poly1", "varifocal", "quality"]
    argv = ["bench", "--quick", "--no-memory", "--json", "--losses", *losses]
    assert main(argv) == 0
    result = json.loads(capsys.readouterr().out)
    for loss in losses:
        backends = {row["backend"] for row in result["rows"] if row["loss"] == loss}
        assert backends == {"baseline", "naive", "fused"}
        errors = result["reference_check_relative_error"][loss]
        assert set(errors) == {"naive", "fused"} and max(errors.values()) < 1e-6
