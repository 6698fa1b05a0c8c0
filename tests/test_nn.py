"""nn.Module wrappers: equal to the functions, buffers follow .to() and the state_dict."""

from __future__ import annotations

import pytest
import torch

import torchfocal


@pytest.mark.parametrize("backend", ["naive", "fused"])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum", "positives"])
def test_sigmoid_module_equals_function(backend: str, reduction: str) -> None:
    x = torch.randn(4, 3, 5, requires_grad=True)
    target = torch.randint(0, 4, (4, 5))
    target[0, 0] = 7
    options = {
        "alpha": [0.2, 0.5, 0.7],
        "gamma": 1.5,
        "pos_weight": torch.tensor([1.0, 2.0, 3.0]),
        "weight": torch.rand(4, 1, 5),
        "label_smoothing": 0.05,
        "ignore_index": 7,
        "reduction": reduction,
        "backend": backend,
    }
    module = torchfocal.SigmoidFocalLoss(**options)  # type: ignore[arg-type]
    options["alpha"] = torch.tensor(options["alpha"])
    expected = torchfocal.sigmoid_focal_loss(x, target, **options)  # type: ignore[arg-type]
    torch.testing.assert_close(module(x, target), expected)


def test_sigmoid_module_buffers_follow_to_and_state_dict() -> None:
    module = torchfocal.SigmoidFocalLoss(
        alpha=[0.25, 0.75], pos_weight=[1.0, 3.0], weight=torch.ones(1, 2)
    )
    assert set(module.state_dict()) == {"alpha", "pos_weight", "weight"}
    module = module.to(torch.float64)
    assert module.alpha is not None and module.alpha.dtype == torch.float64
    assert module.pos_weight is not None and module.pos_weight.dtype == torch.float64
    x = torch.randn(3, 2, dtype=torch.float64)
    loss = module(x, torch.rand(3, 2, dtype=torch.float64))
    assert loss.dtype == torch.float64
    restored = torchfocal.SigmoidFocalLoss(
        alpha=[0.0, 0.0], pos_weight=[0.0, 0.0], weight=torch.zeros(1, 2)
    )
    restored.load_state_dict(
        torchfocal.SigmoidFocalLoss(
            alpha=[0.25, 0.75], pos_weight=[1.0, 3.0], weight=torch.ones(1, 2)
        ).state_dict()
    )
    assert restored.alpha is not None and restored.alpha.tolist() == [0.25, 0.75]


def test_scalar_alpha_is_not_a_buffer_and_repr_is_informative() -> None:
    module = torchfocal.SigmoidFocalLoss(alpha=0.5, gamma=1.0, reduction="sum")
    assert module.alpha is None and "alpha" not in module.state_dict()
    assert repr(module) == "SigmoidFocalLoss(alpha=0.5, gamma=1.0, reduction='sum')"
    x, y = torch.randn(5, 2), torch.rand(5, 2)
    torch.testing.assert_close(
        module(x, y), torchfocal.sigmoid_focal_loss(x, y, alpha=0.5, gamma=1.0, reduction="sum")
    )
