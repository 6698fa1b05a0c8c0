"""The type stubs of the namespaces that take their losses from the registry
(``torchfocal/__init__.pyi``, ``torchfocal/functional.pyi``, ``torchfocal/nn.pyi``, written
by tools/stubs.py): current, and enough for a user's ``mypy --strict``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import installed

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
reveal_type(torchfocal.sigmoid_focal_loss(x, mask))  # lines 18-20: torch's Tensor, not Any
reveal_type(F.dice_loss(x, index))
reveal_type(torchfocal.nn.SoftmaxFocalLoss().forward(x, index))
"""

#: mypy's configuration for the user's file: ``--strict``, reading torchfocal's stubs and
#: the parts of torch its types come from (the package, ``torch._C``, ``Tensor``,
#: ``torch.nn``), the rest of torch skipped. A user's mypy reads all of torch: from an
#: empty cache that took 19 s on the 2-core CI machine, this 3 s, and the types the file's
#: ``reveal_type`` lines showed were the same both ways (compared once, torch 2.13). That
#: they are torch's own types, not the Any of a skipped module, the test asserts.
MYPY_CONFIG = """\
[mypy]
strict = True
follow_imports = silent

[mypy-torch.*]
follow_imports = skip

[mypy-torch,torch._C.*,torch._tensor,torch.nn.*,torch.types]
follow_imports = silent
"""


@installed("mypy")
def test_a_users_strict_mypy_sees_each_losss_signature(tmp_path: Path) -> None:
    """A user's file, type-checked with ``mypy --strict`` against this checkout (its errors
    alone: torchfocal's own are ``mypy src``'s business): the losses' calls type-check, and
    a call without its target and a module built with an unknown option are errors, so the
    names carry their signatures (not Any), a module class's ``__init__`` included; and
    what the losses return is torch's Tensor."""
    user = tmp_path / "user.py"
    user.write_text(USER_FILE)
    config = tmp_path / "mypy.ini"
    config.write_text(MYPY_CONFIG)
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", str(config), "--no-error-summary",
         "--cache-dir", str(ROOT / ".mypy_cache" / "user-stubs"), str(user)],
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
    revealed = [line for line in result.stdout.splitlines() if "Revealed type is" in line]
    assert [line.split(": note:")[0].rsplit(":", 1)[1] for line in revealed] == ["18", "19", "20"]
    assert all(line.endswith('Revealed type is "torch._tensor.Tensor"') for line in revealed), (
        revealed
    )


def _environment() -> dict[str, str]:
    import os

    return {key: value for key, value in os.environ.items() if key != "MYPYPATH"}
