"""nn.Module wrappers: equal to the functions, buffers follow .to() and the state_dict."""

from __future__ import annotations

import inspect
from typing import Any

import pytest
import torch

import torchfocal
from registry_cases import case_id, for_classes, make_target
from torchfocal.registry import LOSSES, LossInfo, Sample


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


def _family_target(sample: Sample) -> torch.Tensor:
    return make_target(sample.target, (4, 3), dtype=torch.float32)


def _weight(info: LossInfo, sample: Sample) -> dict[str, torch.Tensor]:
    """A weight tensor for the function's ``weight`` (none where it has none): the first of
    one per element, per class and per location that the sample's call takes."""
    if "Tensor" not in str(info.parameters.get("weight", "")) or "weight" in sample.options:
        return {}  # none, a float (the unified focal loss's mix), or the sample's own
    x, target = torch.randn(4, 3), _family_target(sample)
    for shape in ((4, 3), (3,), (4,)):
        weight = torch.rand(shape)
        try:
            info.function(x, target, weight=weight, **sample.options)
        except (TypeError, ValueError, RuntimeError):
            continue
        return {"weight": weight}
    raise AssertionError(f"no weight shape fits {info.name}")


#: Every registry sample without training state (tests/losses/test_seesaw.py and
#: test_equalization.py have the modules that count in training mode), with its defaults and
#: each of its variants (per-class values fitted to the 3 classes), a weight of the first
#: shape the loss takes.
_FAMILY_MODULES = [
    pytest.param(info, sample, options, id=case_id(info, sample, index))
    for info in LOSSES
    if not info.state
    for sample in info.samples
    for index, options in enumerate([{}, *info.variants])
]


@pytest.mark.parametrize(("info", "sample", "variant"), _FAMILY_MODULES)
@pytest.mark.parametrize("backend", ["naive", "fused"])
def test_family_module_equals_function(
    info: LossInfo, sample: Sample, variant: dict[str, Any], backend: str
) -> None:
    x = torch.randn(4, 3, requires_grad=True)
    target = _family_target(sample)
    options = {**for_classes(variant, 3), **_weight(info, sample)}
    module = info.module_class(backend=backend, **sample.module_options, **options)
    function_options = {
        key: torch.tensor(value) if isinstance(value, list) else value
        for key, value in options.items()
    }
    expected = info.function(x, target, backend=backend, **sample.options, **function_options)
    value = module(x, target)
    torch.testing.assert_close(value, expected)
    value.backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    # Every tensor option is a buffer: it follows .to() and the state_dict (beside the
    # buffers the module makes of its sample's own options, as class-balanced weights).
    tensors = {key for key, value in options.items() if isinstance(value, (list, torch.Tensor))}
    own = set(info.module_class(**sample.module_options).state_dict())
    assert set(module.state_dict()) - own == tensors
    doubled = module.to(torch.float64)
    buffers = dict(doubled.named_buffers())
    assert all(buffers[key].dtype == torch.float64 for key in tensors)
    assert info.module in repr(module)


def test_family_module_reprs() -> None:
    assert (
        repr(torchfocal.AsymmetricLoss())
        == "AsymmetricLoss(gamma_pos=0.0, gamma_neg=4.0, clip=0.05, reduction='mean')"
    )
    assert (
        repr(torchfocal.SigmoidFocalLossStar(alpha=0.25))
        == "SigmoidFocalLossStar(beta=1.0, alpha=0.25, gamma=2.0, reduction='mean')"
    )
    assert (
        repr(torchfocal.VarifocalLoss())
        == "VarifocalLoss(alpha=0.75, gamma=2.0, iou_weighted=True, reduction='mean')"
    )
    assert repr(torchfocal.SigmoidFocalLoss(gamma="flsd53")) == (
        "SigmoidFocalLoss(alpha=0.25, gamma=flsd53, reduction='mean')"
    )


@pytest.mark.parametrize("loss", ["Sigmoid", "Softmax"])
def test_focal_modules_take_a_sample_dependent_gamma(loss: str) -> None:
    x, target = torch.randn(6, 3), torch.randint(0, 3, (6,))

    def schedule(p: torch.Tensor) -> torch.Tensor:
        return 1.0 + (p < 0.5).float()

    module = getattr(torchfocal, f"{loss}FocalLoss")(gamma=schedule)
    function = getattr(torchfocal, f"{loss.lower()}_focal_loss")
    torch.testing.assert_close(module(x, target), function(x, target, gamma=schedule))
    assert "gamma=schedule" in repr(module)


# -- optional buffers in checkpoints, class counts under casts ---------------------------------

_C = 3


def _module(name: str, **options: Any) -> torch.nn.Module:
    """The module ``name`` of torchfocal.nn, its required arguments filled from their
    annotations: a class count for an int, else C positive per-class counts."""
    cls = getattr(torchfocal.nn, name)
    required = {
        key: _C if parameter.annotation == "int" else [500.0, 50.0, 5.0]
        for key, parameter in inspect.signature(cls).parameters.items()
        if parameter.default is inspect.Parameter.empty
    }
    return cls(**required, **options)


def _optional_buffers(name: str) -> list[str]:
    return [key for key, buffer in _module(name)._buffers.items() if buffer is None]


def _accepted_target(module: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The first target form the module takes: class indices, scores of the input's shape,
    or continuous bin labels (DFL)."""
    forms = [
        torch.randint(0, _C, x.shape[:1]),
        torch.rand(x.shape) * (torch.rand(x.shape) < 0.5),
        torch.rand(x.shape[:1]) * (_C - 1),
    ]
    for target in forms:
        try:
            module(x, target)
        except (TypeError, ValueError):
            continue
        return target
    raise AssertionError(f"no target form fits {type(module).__name__}")


@pytest.mark.parametrize("strict", [True, False])
@pytest.mark.parametrize("name", [info.module for info in LOSSES if _optional_buffers(info.module)])
def test_a_buffer_assigned_after_construction_loads_into_a_fresh_module(
    name: str, strict: bool
) -> None:
    """LDAM-DRW assigns ``criterion.weight`` after construction: the state_dict then holds a
    key that a fresh module's buffer is None for, and must load strict and non-strict."""
    trained = _module(name)
    names = _optional_buffers(name)
    for key in names:
        setattr(trained, key, torch.rand(_C, dtype=torch.float64) * 0.5 + 0.25)
    state = trained.state_dict()
    assert set(names) <= set(state)
    fresh = _module(name)
    x = torch.randn(_C, _C, dtype=torch.float64)
    target = _accepted_target(fresh, x)
    untrained = fresh(x, target)
    result = fresh.load_state_dict(state, strict=strict)
    assert not result.missing_keys and not result.unexpected_keys
    for key, value in state.items():
        assert torch.equal(fresh.state_dict()[key], value)
    torch.testing.assert_close(fresh(x, target), trained(x, target))
    assert not torch.equal(fresh(x, target), untrained)


@pytest.mark.parametrize(
    ("name", "buffer", "function", "keyword"),
    [
        ("LDAMLoss", "class_counts", "ldam_loss", "class_counts"),
        ("LogitAdjustedCrossEntropyLoss", "prior", "logit_adjusted_cross_entropy", "prior"),
    ],
)
def test_class_counts_keep_their_dtype_under_half(
    name: str, buffer: str, function: str, keyword: str
) -> None:
    """Counts above float16's largest value (65504) would be inf after ``.half()``."""
    counts = [1e6, 7e4, 10.0]
    module = getattr(torchfocal, name)(counts).half()
    assert getattr(module, buffer).dtype == torch.get_default_dtype()
    x = torch.randn(4, 3).half()
    target = torch.randint(0, 3, (4,))
    expected = getattr(torchfocal, function)(x, target, **{keyword: counts})
    torch.testing.assert_close(module(x, target), expected)
