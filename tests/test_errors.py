"""The arguments every loss shares, for every loss of the registry: a bad reduction,
backend, input dtype or target shape raises ValueError / TypeError with a message.

Each loss's own bad-input branches are in tests/losses/test_<module>.py.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch

from torchfocal.registry import LOSSES as REGISTERED
from torchfocal.registry import LossInfo


def _sample_inputs(kind: str) -> tuple[torch.Tensor, torch.Tensor]:
    """A (4, 3) float64 input and a target of the registry's ``kind`` (TARGET_KINDS)."""
    generator = torch.Generator().manual_seed(5)
    x = torch.randn(4, 3, dtype=torch.float64, generator=generator)
    mask = torch.tensor([[1, 0, 0], [0, 1, 0], [0, 0, 0], [1, 0, 1]], dtype=torch.bool)
    targets = {
        "mask": mask,
        "index": torch.tensor([0, 2, 1, 2]),
        "score": torch.rand(4, 3, dtype=torch.float64, generator=generator) * mask,
        "label": torch.tensor([0.0, 1.25, 2.0, 0.5], dtype=torch.float64),
    }
    return x, targets[kind]


#: Bad values of the arguments every loss shares: (id, how to break the call, error, match).
SHARED_CASES: list[tuple[str, Any, type[Exception], str]] = [
    ("reduction", lambda x, t: (x, t, {"reduction": "avg"}), ValueError, r"reduction must be"),
    ("backend", lambda x, t: (x, t, {"backend": "jit"}), ValueError, r"backend must be one of"),
    ("input-dtype", lambda x, t: (x.int(), t, {}), TypeError, r"input must be"),
    ("target-rows", lambda x, t: (x, torch.cat([t, t]), {}), ValueError, r"target must"),
]


@pytest.mark.parametrize(
    ("info", "break_call", "error", "match"),
    [
        pytest.param(info, *case[1:], id=f"{info.name}-{case[0]}")
        for info in REGISTERED
        for case in SHARED_CASES
    ],
)
def test_every_loss_refuses_bad_shared_arguments(
    info: LossInfo, break_call: Any, error: type[Exception], match: str
) -> None:
    sample = info.samples[0]
    x, target, options = break_call(*_sample_inputs(sample.target))
    with pytest.raises(error, match=match):
        info.function(x, target, **{**sample.options, **options})
