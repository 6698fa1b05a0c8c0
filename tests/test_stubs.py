"""The type stubs of the namespaces that take their losses from the registry
(``torchfocal/__init__.pyi``, ``torchfocal/functional.pyi``, ``torchfocal/nn.pyi``, written
by tools/stubs.py): current, and enough for a user's ``mypy --strict``."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import stubs  # noqa: E402  (tools/ is no package)

sys.path.pop(0)


def test_the_stubs_are_the_registry() -> None:
    """Every stub is what tools/stubs.py makes of the registry now."""
    for path, text in stubs.render().items():
        assert path.exists(), f"{path.name} is missing; generate it with `{stubs.COMMAND}`"
        assert path.read_text() == text, f"{path.name} is stale; regenerate with `{stubs.COMMAND}`"


def test_a_stub_names_every_registered_loss() -> None:
    from torchfocal.registry import LOSSES

    top = (ROOT / "src" / "torchfocal" / "__init__.pyi").read_text()
    functional = (ROOT / "src" / "torchfocal" / "functional.pyi").read_text()
    nn = (ROOT / "src" / "torchfocal" / "nn.pyi").read_text()
    for info in LOSSES:
        assert f"from .functional import {info.name} as {info.name}\n" in top
        assert f"from .nn import {info.module} as {info.module}\n" in top
        module = info.function.__module__.removeprefix("torchfocal")
        assert f"from {module} import {info.name} as {info.name}\n" in functional
        # The class is defined beside its function, in the loss's module.
        assert f"from {module} import {info.module} as {info.module}\n" in nn


USER_FILE = """\
import torch

import torchfocal
import torchfocal.nn
from torchfocal import functional as F

x = torch.randn(4, 3, requires_grad=True)
mask = torch.rand(4, 3) < 0.3
index = torch.randint(0, 3, (4,))
value: torch.Tensor = torchfocal.sigmoid_focal_loss(x, mask, gamma=2.0, reduction="sum")
criterion: torch.nn.Module = torchfocal.nn.SigmoidFocalLoss(alpha=0.25)
dice: torch.Tensor = F.dice_loss(x, index)
module: torchfocal.SoftmaxFocalLoss = torchfocal.SoftmaxFocalLoss(gamma=1.0)
total = value + criterion(x, mask) + dice + module(x, index)
total.backward()
wrong = torchfocal.sigmoid_focal_loss(x)  # line 16: no target
typo = torchfocal.nn.SigmoidFocalLoss(gama=2.0)  # line 17: no such option
"""


@pytest.mark.skipif(importlib.util.find_spec("mypy") is None, reason="mypy is not installed")
def test_a_users_strict_mypy_sees_each_losss_signature(tmp_path: Path) -> None:
    """A user's file, type-checked with ``mypy --strict`` against this checkout (its errors
    alone: torchfocal's own are ``mypy src``'s business): the losses' calls type-check, and
    a call without its target and a module built with an unknown option are errors, so the
    names carry their signatures (not Any), a module class's ``__init__`` included."""
    user = tmp_path / "user.py"
    user.write_text(USER_FILE)
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--follow-imports=silent",
         "--no-error-summary", "--cache-dir", str(ROOT / ".mypy_cache" / "user-stubs"), str(user)],
        capture_output=True,
        text=True,
        env={**_environment(), "MYPYPATH": str(ROOT / "src")},
        cwd=tmp_path,
        check=False,
    )  # fmt: skip
    errors = [line for line in result.stdout.splitlines() if ": error:" in line]
    assert len(errors) == 2, result.stdout + result.stderr
    assert errors[0].split(": error:")[0].endswith("user.py:16"), errors
    assert 'Missing positional argument "target"' in errors[0], errors
    assert errors[1].split(": error:")[0].endswith("user.py:17"), errors
    assert 'Unexpected keyword argument "gama"' in errors[1], errors


def _environment() -> dict[str, str]:
    import os

    return {key: value for key, value in os.environ.items() if key != "MYPYPATH"}
