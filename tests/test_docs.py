"""The README's Python example runs, and the docstring examples print what they say."""

from __future__ import annotations

import doctest
import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_readme_python_blocks_run() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert blocks, "README.md must hold a Python example"
    for block in blocks:
        exec(compile(block, "README.md", "exec"), {"__name__": "readme"})


@pytest.mark.parametrize(
    "module",
    [
        "torchfocal.losses.asymmetric",
        "torchfocal.losses.class_balanced",
        "torchfocal.losses.distribution_focal",
        "torchfocal.losses.equalization",
        "torchfocal.losses.focal_star",
        "torchfocal.losses.ldam",
        "torchfocal.losses.logit_adjustment",
        "torchfocal.losses.poly1",
        "torchfocal.losses.quality_focal",
        "torchfocal.losses.seesaw",
        "torchfocal.losses.sigmoid_focal",
        "torchfocal.losses.softmax_focal",
        "torchfocal.losses.varifocal",
        "torchfocal.nn",
        "torchfocal.weighting",
        "torchfocal.compat.ultralytics",
        "torchfocal.compat.yolov5",
        "torchfocal.compat.class_balanced",
        "torchfocal.compat.tensorflow",
    ],
)
def test_docstring_examples(module: str) -> None:
    mod = importlib.import_module(module)
    result = doctest.testmod(mod, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
    assert result.attempted > 0, f"{module} has no docstring example"
