"""benchmarks/gpu_model.py: every row of benchmarks/gpu.py moves no more bytes per logit
element than the sync-free minimum (forward reads the logits and the target once, backward
reads them again and writes the gradient once), by the model on meta tensors."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

pytest.importorskip("triton")
sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))

import gpu_model

#: Bytes per element above the minimum that the per-row and per-program pieces cost (the
#: partial sums of 1024-element blocks, a class index check on the (N,) index, a softmax
#: row's three statistics): at most 0.1 of 6 to 20.
SLACK = 0.1


def test_every_row_moves_the_sync_free_minimum() -> None:
    rows = gpu_model.table()
    assert len(rows) == len(gpu_model.gpu.all_cases())
    for row in rows:
        assert row["bytes_per_element"] <= row["minimum_bytes_per_element"] + SLACK, row["case"]
        assert row["bytes_per_element"] < row["baseline_bytes_per_element"], row["case"]


def test_the_model_counts_what_a_launch_and_an_op_touch() -> None:
    """A control: torch's own BCE moves more than twice the minimum of its case here."""
    case = next(c for c in gpu_model.gpu.all_cases() if c.target == "bool")
    baseline = gpu_model.measure(case, "baseline")["bytes_per_element"]
    assert baseline > 2 * gpu_model.minimum_bytes(case)
