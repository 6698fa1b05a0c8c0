"""The switch that runs the Triton tests on a GPU (TORCHFOCAL_TRITON_TESTS, tests/conftest.py):
without a GPU it skips them with a reason instead of quietly interpreting them, and an unknown
value is an error."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).parent


def _pytest(mode: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    env["TORCHFOCAL_TRITON_TESTS"] = mode
    command = [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider"]
    command.append(str(TESTS / "test_triton_fallback.py"))
    return subprocess.run(command, env=env, capture_output=True, text=True, cwd=TESTS.parent)


def test_cuda_mode_without_a_gpu_skips_the_triton_tests() -> None:
    result = _pytest("cuda")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "needs a CUDA device" in result.stdout
    assert " passed" not in result.stdout  # nothing ran on the interpreter


def test_an_unknown_mode_is_an_error() -> None:
    result = _pytest("gpu")
    assert result.returncode != 0
    assert "TORCHFOCAL_TRITON_TESTS must be 'interpreter' or 'cuda'; got 'gpu'" in (
        result.stdout + result.stderr
    )
