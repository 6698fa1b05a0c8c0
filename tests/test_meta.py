"""Every loss runs forward and backward on ``device="meta"`` tensors.

Meta tensors have shapes and dtypes but no values: any read of a value on the host
(``.item()``, ``bool(tensor)``, a data-dependent Python branch) raises. A loss that runs
here therefore has no host-device synchronisation in its forward or backward with default
options, the proof DESIGN.md section 4 asks for without a GPU.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pytest
import torch

import torchfocal
from torchfocal.registry import LOSSES, LossInfo, Sample

META = "meta"
N, C = 6, 5


def _x(dtype: torch.dtype = torch.float32, shape: tuple[int, ...] = (N, C)) -> torch.Tensor:
    return torch.empty(shape, dtype=dtype, device=META).requires_grad_(True)


def _tensor(shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
    return torch.empty(shape, dtype=dtype, device=META)


#: The sigmoid-form target forms: mask (bool, integer 0/1), float (soft or 0/1), class
#: indices (with background C and ignored entries, which meta cannot tell apart).
SIGMOID_TARGETS: dict[str, Callable[[], torch.Tensor]] = {
    "bool": lambda: _tensor((N, C), torch.bool),
    "int_mask": lambda: _tensor((N, C), torch.int64),
    "float": lambda: _tensor((N, C), torch.float32),
    "index": lambda: _tensor((N,), torch.int64),
}
SOFTMAX_TARGETS: dict[str, Callable[[], torch.Tensor]] = {
    "index": lambda: _tensor((N,), torch.int64),
    "probabilities": lambda: _tensor((N, C), torch.float32),
}

BACKENDS = ("auto", "naive", "fused")


def _forward_backward(loss: torch.Tensor, x: torch.Tensor) -> None:
    assert loss.device.type == META
    assert loss.dtype == x.dtype
    loss.backward(torch.empty(loss.shape, dtype=loss.dtype, device=META))
    assert x.grad is not None
    assert x.grad.shape == x.shape and x.grad.device.type == META


#: The registry's target forms on the (N, C) meta input.
TARGETS: dict[str, Callable[[], torch.Tensor]] = {
    **SIGMOID_TARGETS,
    "mask": SIGMOID_TARGETS["bool"],
    "soft": SIGMOID_TARGETS["float"],
    "score": SIGMOID_TARGETS["float"],
    "label": lambda: _tensor((N,), torch.float32),
    "probabilities": SOFTMAX_TARGETS["probabilities"],
}


def _meta(options: Mapping[str, Any]) -> dict[str, Any]:
    """A sample's options with its tensors on meta (the classes of a sample are C)."""
    return {
        name: value.to(META) if isinstance(value, torch.Tensor) else value
        for name, value in options.items()
    }


#: Every registered loss, in every form of each of its samples and in every target form
#: the sample takes.
CASES = [
    pytest.param(
        info, sample, form, id=f"{info.name}-{sample.options.get('activation', '')}-{form}"
    )
    for info in LOSSES
    for sample in info.samples
    for form in sample.forms
]


# "auto" is "fused" on meta tensors (not CUDA): the option tests below keep it.
@pytest.mark.parametrize("backend", ["naive", "fused"])
@pytest.mark.parametrize(("info", "sample", "form"), CASES)
def test_every_loss_runs_on_meta(info: LossInfo, sample: Sample, form: str, backend: str) -> None:
    x = _x(shape=(N, SAMPLE_CLASSES))
    result = info.function(x, _sample_target(form), backend=backend, **_meta(sample.options))
    _forward_backward(result, x)


@pytest.mark.parametrize(
    ("info", "sample"),
    [pytest.param(info, sample, id=info.name) for info in LOSSES for sample in info.samples[:1]],
)
def test_every_module_runs_on_meta(info: LossInfo, sample: Sample) -> None:
    module = info.module_class(**sample.module_options).to(META)
    x = _x(shape=(N, SAMPLE_CLASSES))
    _forward_backward(module(x, _sample_target(sample.target)), x)


#: The registry's samples have this many classes (their class counts and priors).
SAMPLE_CLASSES = 3


def _sample_target(form: str) -> torch.Tensor:
    """A target of ``form`` for the (N, SAMPLE_CLASSES) input."""
    shapes = {"index": (N,), "label": (N,)}
    dtypes = {"mask": torch.bool, "index": torch.int64, "int_mask": torch.int64}
    return _tensor(shapes.get(form, (N, SAMPLE_CLASSES)), dtypes.get(form, torch.float32))


Call = Callable[[torch.Tensor, torch.Tensor, str], torch.Tensor]

#: Calls with options beyond the registry's samples.
SIGMOID_OPTIONS: dict[str, Call] = {
    "sigmoid_focal_loss options": lambda x, t, b: torchfocal.sigmoid_focal_loss(
        x,
        t,
        alpha=[0.1, 0.2, 0.3, 0.4, 0.5],
        gamma="flsd53",
        weight=_tensor((N, 1), torch.float32),
        pos_weight=_tensor((C,), torch.float32),
        label_smoothing=0.1,
        reduction="positives",
        backend=b,
    ),
    "sigmoid_focal_loss none": lambda x, t, b: torchfocal.sigmoid_focal_loss(
        x, t, gamma=0.5, reduction="none", backend=b
    ),
    "sigmoid_focal_loss_star": lambda x, t, b: torchfocal.sigmoid_focal_loss_star(
        x, t, alpha=0.25, backend=b
    ),
}
SOFTMAX_OPTIONS: dict[str, Call] = {
    "softmax_focal_loss options": lambda x, t, b: torchfocal.softmax_focal_loss(
        x,
        t,
        alpha=[1.0, 2.0, 0.5, 1.0, 1.0],
        gamma="flsd53",
        weight=_tensor((C,), torch.float32),
        label_smoothing=0.1,
        backend=b,
    ),
    "softmax_focal_loss none": lambda x, t, b: torchfocal.softmax_focal_loss(
        x, t, gamma=0.5, reduction="none", backend=b
    ),
    "logit_adjusted_cross_entropy options": lambda x, t, b: torchfocal.logit_adjusted_cross_entropy(
        x,
        t,
        prior=_tensor((C,), torch.float32),
        tau=0.5,
        weight=_tensor((C,), torch.float32),
        label_smoothing=0.1,
        reduction="none",
        backend=b,
    ),
}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("target", list(SIGMOID_TARGETS))
@pytest.mark.parametrize("loss", list(SIGMOID_OPTIONS))
def test_sigmoid_options_run_on_meta(loss: str, target: str, backend: str) -> None:
    x = _x()
    result = SIGMOID_OPTIONS[loss](x, SIGMOID_TARGETS[target](), backend)
    _forward_backward(result, x)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("target", list(SOFTMAX_TARGETS))
@pytest.mark.parametrize("loss", list(SOFTMAX_OPTIONS))
def test_softmax_options_run_on_meta(loss: str, target: str, backend: str) -> None:
    x = _x()
    result = SOFTMAX_OPTIONS[loss](x, SOFTMAX_TARGETS[target](), backend)
    _forward_backward(result, x)


OTHER_OPTIONS: dict[str, Callable[[torch.Tensor, str], torch.Tensor]] = {
    "quality_focal_loss": lambda x, b: torchfocal.quality_focal_loss(
        x, _tensor((N, C), torch.float32), weight=_tensor((N, 1), torch.float32), backend=b
    ),
    "class_balanced_loss softmax": lambda x, b: torchfocal.class_balanced_loss(
        x,
        _tensor((N,), torch.int64),
        weight=_tensor((C,), torch.float32),
        loss="softmax",
        backend=b,
    ),
    "ldam_loss options": lambda x, b: torchfocal.ldam_loss(
        x,
        _tensor((N,), torch.int64),
        class_counts=_tensor((C,), torch.int64),
        weight=_tensor((C,), torch.float32),
        reduction="sum",
        backend=b,
    ),
}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("loss", list(OTHER_OPTIONS))
def test_other_options_run_on_meta(loss: str, backend: str) -> None:
    x = _x()
    _forward_backward(OTHER_OPTIONS[loss](x, backend), x)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
@pytest.mark.parametrize("backend", ["naive", "fused"])
def test_every_float_dtype_runs_on_meta(dtype: torch.dtype, backend: str) -> None:
    for target in (_tensor((N, C), dtype), _tensor((N,), torch.int64)):
        x = _x(dtype)
        _forward_backward(torchfocal.sigmoid_focal_loss(x, target, backend=backend), x)
        x = _x(dtype)
        index = _tensor((N,), torch.int64)
        _forward_backward(torchfocal.softmax_focal_loss(x, index, backend=backend), x)


def test_large_inputs_take_one_pass_on_meta() -> None:
    """Above the CPU's block threshold a meta tensor still runs as one pass (blocks are for
    CPU tensors only: on meta the Python block loop would be all there is to see)."""
    from torchfocal._engine import runners

    x = _x(shape=(runners.BLOCK_THRESHOLD // 10 + 1, 20))
    target = _tensor(x.shape, torch.float32)
    assert not runners.uses_blocks(x.detach())
    _forward_backward(torchfocal.sigmoid_focal_loss(x, target), x)


def test_a_host_read_of_a_meta_tensor_raises() -> None:
    """The premise of this file: meta tensors refuse every read of a value."""
    with pytest.raises((RuntimeError, NotImplementedError)):
        bool(_tensor((), torch.bool))
    with pytest.raises((RuntimeError, NotImplementedError)):
        _tensor((), torch.float32).item()


def test_value_checks_off_the_cpu_are_device_side_asserts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Where values are not read eagerly (a GPU), a failed check is torch._assert_async's
    error (raised at the next synchronisation there; at once on the CPU used here), with
    the message but not the value; a passing one raises nothing."""
    from torchfocal._engine import checks

    monkeypatch.setattr(checks, "_reads_eagerly", lambda device: False)
    torchfocal.sigmoid_focal_loss(torch.zeros(2, 3), torch.full((2, 3), 0.5))
    with pytest.raises(RuntimeError, match=r"target must hold values in \[0, 1\]; got a value"):
        torchfocal.sigmoid_focal_loss(torch.zeros(2, 3), torch.full((2, 3), 1.5))


def test_eager_checks_switch(monkeypatch: pytest.MonkeyPatch) -> None:
    from torchfocal._engine import checks

    monkeypatch.setattr(checks, "_eager_checks", False)
    assert not torchfocal.functional.eager_checks()
    assert not checks._reads_eagerly(torch.device("cuda"))
    torchfocal.functional.set_eager_checks(True)
    assert torchfocal.functional.eager_checks()
    assert checks._reads_eagerly(torch.device("cuda"))
    with pytest.raises(TypeError, match="enabled must be a bool; got int"):
        torchfocal.functional.set_eager_checks(1)  # type: ignore[arg-type]
