"""Every Triton specialisation that the public API launches compiles for real GPUs (sm_90 and
sm_80), checked here on a machine without one (tools/triton_aot.py).

The recording of the launches is quick and runs with every ``pytest``; the compile itself
takes minutes and is marked ``compile``: ``.ci/run`` runs it (``pytest -m compile``) with
this environment's Triton and, where ``TORCHFOCAL_AOT_PYTHONS`` names more interpreters
(os.pathsep-separated), with theirs too (CI: the Triton that torch's CUDA wheel pins).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("triton")
sys.path.insert(0, str(Path(__file__).parents[1] / "tools"))

import triton_aot

from torchfocal._triton.elementwise_math import KERNEL_MATH
from torchfocal._triton.softmax_math import ADJUSTMENTS


def _function(jitted: Any) -> dict[str, str]:
    return {"function": f"{jitted.fn.__module__}:{jitted.fn.__name__}"}


@pytest.fixture(scope="module")
def launches() -> list[dict[str, Any]]:
    return [vars(launch) for launch in triton_aot.record()]


def _values(launches: list[dict[str, Any]], kernel: str, name: str) -> set[Any]:
    return {
        json.dumps(launch["constexprs"][name])
        for launch in launches
        if launch["kernel"] == kernel and name in launch["constexprs"]
    }


ELEMENTWISE_FLAGS = ("HARD", "ALPHA_PER_CLASS", "HAS_ALPHA", "HAS_WEIGHT", "HAS_POS_WEIGHT")
ELEMENTWISE_FLAGS += ("NEED_MASS", "NEED_COUNT", "COUNT_POSITIVES", "NEED_GRAD", "COORDINATES")
ELEMENTWISE_FLAGS += ("WIDE_INDEX", "CHECK_RANGE", "SMOOTHED", "FOLD_UPSTREAM", "HALF")
ELEMENTWISE_FLAGS += ("WEIGHT_BY_TARGET",)
SOFTMAX_FLAGS = ("INDEX_TARGET", "SMOOTHED", "GAMMA_PER_LOCATION", "GAMMA_PER_ELEMENT")
SOFTMAX_FLAGS += ("CLASS_FACTOR_PER_CLASS", "BACKWARD", "ROWS", "WIDE", "SINGLE_BLOCK")
SOFTMAX_FLAGS += ("ADJUSTED", "ROW_PASS", "ROW_TOTAL", "TWO_BIN")
REGION_FLAGS = ("INDEX_TARGET", "SQUARED", "WIDE")
REGION_SUMS_FLAGS = (*REGION_FLAGS, "COUNT", "CHECK_INDEX")
# Each kernel's constexprs, with every value the host code can pass.
EXPECTED_VALUES = {
    "_elementwise_kernel": {
        "LOSS_MATH": [_function(math.function) for math in KERNEL_MATH.values()],
        "GAMMA_INT": range(-1, 4),
        "FORM": range(3),
        "GAMMA_FORM": range(3),
        "OUTPUT": range(3),
        "UPSTREAM": range(3),
        "COMPUTE": ["tl.fp32", "tl.fp64"],
        **{flag: (False, True) for flag in ELEMENTWISE_FLAGS},
    },
    "_softmax_focal_kernel": {
        "COMPUTE_DTYPE": ["tl.fp32", "tl.fp64"],
        "UPSTREAM": range(3),
        "CLASS_ALIGN": [1, 2, 4, 8],
        "ADJUST": [_function(adjustment.function) for adjustment in ADJUSTMENTS.values()],
        # the raw row's function of the adjustments that have one, and identity for the rest
        "ROW": [
            _function(row)
            for row in {
                adjustment.row or ADJUSTMENTS[""].function for adjustment in ADJUSTMENTS.values()
            }
        ],
        **{flag: (False, True) for flag in SOFTMAX_FLAGS},
    },
    "_region_sums_kernel": {
        "ACTIVATION": range(3),
        "COMPUTE_DTYPE": ["tl.fp32", "tl.fp64"],
        "TILES": [1, 8],
        "FOLD": [1, 4],
        **{flag: (False, True) for flag in REGION_SUMS_FLAGS},
    },
    "_region_grad_kernel": {
        "ACTIVATION": range(3),
        "COMPUTE_DTYPE": ["tl.fp32", "tl.fp64"],
        **{flag: (False, True) for flag in REGION_FLAGS},
    },
}


@pytest.mark.parametrize("kernel", sorted(EXPECTED_VALUES))
def test_the_grid_reaches_every_constexpr_value(
    launches: list[dict[str, Any]], kernel: str
) -> None:
    for name, values in EXPECTED_VALUES[kernel].items():
        assert _values(launches, kernel, name) == {json.dumps(v) for v in values}, name


def test_the_grid_reaches_every_argument_type(launches: list[dict[str, Any]]) -> None:
    """Logits of every float dtype, at aligned and unaligned addresses; 32- and 64-bit
    integers; 1 (which Triton specialises as a constant)."""
    for kernel in EXPECTED_VALUES:
        first = {json.dumps(launch["args"][0]) for launch in launches if launch["kernel"] == kernel}
        for dtype in ("float16", "bfloat16", "float32", "float64"):
            for aligned in (True, False):
                assert json.dumps({"tensor": dtype, "aligned": aligned}) in first, (kernel, dtype)
        integers = {
            json.dumps(arg)
            for launch in launches
            if launch["kernel"] == kernel
            for arg in launch["args"]
            if isinstance(arg, dict) and "int" in arg
        }
        # 64-bit integers: the elementwise kernel's element count past 2**31 (the softmax
        # kernel's integers are sizes of single dimensions; its offsets widen by WIDE)
        wide = (2**32, 2**32 + 1) if kernel == "_elementwise_kernel" else ()
        assert {json.dumps({"int": v}) for v in (1, 16, 17, *wide)} <= integers, kernel


def test_the_covering_set_covers_every_feature(launches: list[dict[str, Any]]) -> None:
    chosen = [launches[i] for i in triton_aot.covering_set(launches)]
    assert len(chosen) < len(launches) / 5
    for kernel, constexprs in EXPECTED_VALUES.items():
        for name in constexprs:
            assert _values(chosen, kernel, name) == _values(launches, kernel, name), name


@pytest.mark.compile
def test_every_specialisation_compiles_for_sm90_and_sm80(tmp_path: Path) -> None:
    pythons = [sys.executable]
    pythons += [p for p in os.environ.get("TORCHFOCAL_AOT_PYTHONS", "").split(os.pathsep) if p]
    out = tmp_path / "aot.json"
    status = triton_aot.main(["--out", str(out), *(f"--python={p}" for p in pythons)])
    report = json.loads(out.read_text())
    assert report["failures"] == [] and status == 0, "\n".join(report["failures"])
    results = report["results"]
    versions = {result["triton"] for result in results}
    assert len(versions) == len(pythons)
    for version in versions:
        for target in ("cuda:90", "cuda:80"):
            ttir = [
                r
                for r in results
                if (r["triton"], r["target"], r["stage"]) == (version, target, "ttir")
            ]
            assert len(ttir) == report["specialisations"], (version, target)
            binaries = [
                r
                for r in results
                if (r["triton"], r["target"], r["stage"]) == (version, target, "binary")
            ]
            assert {r["kernel"] for r in binaries} == set(EXPECTED_VALUES)
            assert all(r["registers"] and r["spill_bytes"] is not None for r in binaries)
