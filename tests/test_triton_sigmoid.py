"""backend="triton" of the sigmoid focal loss, run through Triton's interpreter on the CPU.

Every kernel option against the NumPy float64 oracle (:mod:`torchfocal.reference`): target
forms (bool and uint8 masks read as bytes, float 0/1 and soft targets, class indices with
background and ignore_index), alpha, gamma (numbers, gamma < 1, "flsd53", a callable),
weight and pos_weight of several broadcast shapes, label smoothing, every reduction with
the counts the kernel makes in its own pass, class_dim, C from 1 to 40000, sizes that are
not multiples of the kernel's block, float32 / bfloat16 / float16 and logits up to the
float32 extremes. Then the autograd contract (grad_output, second derivatives, gradients to
other arguments, a second backward through a retained graph) and the backend's errors.
Inputs are small: the interpreter runs each program in Python.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F

pytest.importorskip("triton")

import torchfocal
from conftest import covering
from torchfocal import reference
from torchfocal._engine import checks
from torchfocal._triton import elementwise

pytestmark = pytest.mark.skipif(
    not checks.triton_interpreted(), reason="the kernels run on CPU tensors only when interpreted"
)

#: (N, C, d): 2 * 7 * 75 = 1050 elements, past one block of 1024 and not a multiple of it.
SHAPE = (2, 7, 75)
TARGET_FORMS = ["bool", "uint8", "float-hard", "soft", "index", "index-ignored"]


def make_target(form: str, shape: tuple[int, ...], class_dim: int = 1) -> torch.Tensor:
    """A target of the given form for an input of ``shape``."""
    if form in ("bool", "uint8", "float-hard"):
        mask = torch.rand(shape) < 0.3
        return {"bool": mask, "uint8": mask.to(torch.uint8), "float-hard": mask.double()}[form]
    if form == "soft":
        soft = torch.rand(shape, dtype=torch.float64)
        soft.view(-1)[:4] = torch.tensor([0.0, 1.0, 0.5, 1e-9], dtype=torch.float64)
        return soft
    num_classes = shape[class_dim]
    index_shape = shape[:class_dim] + shape[class_dim + 1 :]
    index = torch.randint(0, num_classes + 1, index_shape)  # C is background
    if form == "index-ignored":
        index.view(-1)[::5] = -100
    return index


def oracle(
    x: torch.Tensor, target: torch.Tensor, grad_output: torch.Tensor | None = None, **options: Any
) -> tuple[np.ndarray, np.ndarray]:
    numpy_options = {
        key: value.double().numpy() if isinstance(value, torch.Tensor) else value
        for key, value in options.items()
    }
    t = target.double().numpy() if target.is_floating_point() else target.numpy()
    g = None if grad_output is None else grad_output.double().numpy()
    loss, grad = reference.sigmoid_focal_loss(
        x.detach().double().numpy(), t, grad_output=g, **numpy_options
    )
    return np.asarray(loss), np.asarray(grad)


def triton_loss_and_grad(
    x: torch.Tensor, target: torch.Tensor, grad_output: torch.Tensor | None = None, **options: Any
) -> tuple[torch.Tensor, torch.Tensor]:
    leaf = x.detach().requires_grad_()
    loss = torchfocal.sigmoid_focal_loss(leaf, target, backend="triton", **options)
    upstream = torch.ones_like(loss) if grad_output is None else grad_output.to(loss.dtype)
    (grad,) = torch.autograd.grad(loss, leaf, upstream)
    return loss.detach(), grad


def assert_matches_oracle(
    x: torch.Tensor,
    target: torch.Tensor,
    *,
    rtol: float = 1e-10,
    atol: float = 1e-12,
    **options: Any,
) -> None:
    reduction = options.get("reduction", "mean")
    grad_output = None
    if reduction == "none":
        grad_output = torch.rand(x.shape, dtype=torch.float64) + 0.5
    loss, grad = triton_loss_and_grad(x, target, grad_output, **options)
    expected_loss, expected_grad = oracle(x, target, grad_output, **options)
    np.testing.assert_allclose(loss.double().numpy(), expected_loss, rtol=rtol, atol=atol)
    np.testing.assert_allclose(grad.double().numpy(), expected_grad, rtol=rtol, atol=atol)


# Pairwise (each form with each alpha and each reduction, each alpha with each reduction):
# alpha_t weighs each element's loss by its target, and the reduction's counts come from
# the target alone (the counted elements, the positive mass), not from alpha.
@pytest.mark.parametrize(
    *covering(
        {},
        {
            "form": TARGET_FORMS,
            "alpha": [None, 0.3, "per-class"],  # 0.3: no float32 value
            "reduction": ["none", "mean", "sum", "positives"],
        },
    )
)
def test_target_forms_alpha_reductions(form: str, alpha: Any, reduction: str) -> None:
    x = torch.randn(SHAPE, dtype=torch.float64) * 3
    if alpha == "per-class":
        alpha = torch.linspace(0.1, 0.9, SHAPE[1], dtype=torch.float64)
    assert_matches_oracle(x, make_target(form, SHAPE), alpha=alpha, reduction=reduction)


def _ramp(p_t: torch.Tensor) -> torch.Tensor:
    return 4.0 * (1.0 - p_t)


@pytest.mark.parametrize("gamma", [0.0, 0.3, 0.5, 1.0, 2.0, 5.0, 10.0, "flsd53", _ramp])
@pytest.mark.parametrize("form", ["bool", "soft", "index-ignored"])
def test_gammas(form: str, gamma: float | str | Callable[[Any], Any]) -> None:
    x = torch.randn(SHAPE, dtype=torch.float64) * 4
    assert_matches_oracle(x, make_target(form, SHAPE), gamma=gamma, reduction="none")


@pytest.mark.parametrize(
    "weight_shape", [(2, 1, 75), (7, 1), (1, 7, 1), (75,), (2, 7, 75), (2, 1, 1)]
)
@pytest.mark.parametrize("form", ["bool", "soft", "index-ignored"])
def test_weight_broadcasts(form: str, weight_shape: tuple[int, ...]) -> None:
    x = torch.randn(SHAPE, dtype=torch.float64)
    weight = torch.rand(weight_shape, dtype=torch.float64)
    assert_matches_oracle(x, make_target(form, SHAPE), weight=weight, reduction="mean")


@pytest.mark.parametrize("pos_weight_shape", [(7,), (2, 7, 75), (75,)])
@pytest.mark.parametrize("form", ["bool", "soft", "index"])
def test_pos_weight(form: str, pos_weight_shape: tuple[int, ...]) -> None:
    x = torch.randn(SHAPE, dtype=torch.float64) * 3
    pos_weight = torch.rand(pos_weight_shape, dtype=torch.float64) * 3
    assert_matches_oracle(x, make_target(form, SHAPE), pos_weight=pos_weight, reduction="sum")


@pytest.mark.parametrize("reduction", ["mean", "positives", "none"])
@pytest.mark.parametrize("form", ["bool", "soft", "index-ignored"])
def test_label_smoothing(form: str, reduction: str) -> None:
    x = torch.randn(SHAPE, dtype=torch.float64) * 3
    target = make_target(form, SHAPE)
    assert_matches_oracle(x, target, label_smoothing=0.1, reduction=reduction)


@pytest.mark.parametrize("form", ["bool", "index-ignored"])
def test_avg_factor(form: str) -> None:
    x = torch.randn(SHAPE, dtype=torch.float64)
    assert_matches_oracle(x, make_target(form, SHAPE), avg_factor=37.5)


@pytest.mark.parametrize("form", ["bool", "soft", "index-ignored"])
def test_class_dim_last_and_non_contiguous_input(form: str) -> None:
    # (N, d, C) with the classes last, made from a transposed (non-contiguous) tensor.
    x = torch.randn(2, 7, 75, dtype=torch.float64).transpose(1, 2)
    target = make_target(form, tuple(x.shape), class_dim=2)
    alpha = torch.linspace(0.2, 0.8, 7, dtype=torch.float64)
    assert_matches_oracle(x, target, class_dim=-1, alpha=alpha, reduction="none")


# With one class, index targets are refused (test_targets): masks only there.
@pytest.mark.parametrize(
    ("form", "num_classes"),
    [("bool", c) for c in (1, 2, 80, 1000, 40000)]
    + [("index-ignored", c) for c in (2, 80, 1000, 40000)],
)
def test_number_of_classes(form: str, num_classes: int) -> None:
    rows = max(1, 3000 // num_classes)
    shape = (rows, num_classes)
    x = torch.randn(shape, dtype=torch.float64) * 3
    assert_matches_oracle(x, make_target(form, shape), reduction="mean")


@pytest.mark.parametrize("shape", [(), (1,), (5,), (1023,), (1025,), (3, 0), (0, 4)])
def test_odd_and_empty_shapes(shape: tuple[int, ...]) -> None:
    x = torch.randn(shape, dtype=torch.float64)
    target = torch.rand(shape) < 0.5
    for reduction in ("none", "mean", "sum"):
        assert_matches_oracle(x, target, reduction=reduction)


#: Per dtype: (rtol, atol) against the float64 oracle of the same (rounded) logits; the
#: results are rounded to the dtype, and float32 arithmetic carries ~1e-7.
TOLERANCES = {
    torch.float32: (2e-5, 1e-6),
    torch.bfloat16: (1.6e-2, 1e-3),
    torch.float16: (2e-3, 1e-4),
}


# Pairwise: the dtype is the kernel's loads, compute dtype and stores for every form and
# reduction (a soft target in the input's dtype: the form and the dtype meet in pairs).
@pytest.mark.parametrize(
    *covering(
        {},
        {
            "form": ["bool", "soft", "index-ignored"],
            "dtype": list(TOLERANCES),
            "reduction": ["none", "mean"],
        },
    )
)
def test_half_and_single_precision(form: str, dtype: torch.dtype, reduction: str) -> None:
    x = (torch.randn(SHAPE) * 3).to(dtype)
    target = make_target(form, SHAPE)
    if form == "soft":
        target = target.to(dtype)
    rtol, atol = TOLERANCES[dtype]
    loss, grad = triton_loss_and_grad(x, target, reduction=reduction)
    assert loss.dtype == dtype and grad.dtype == dtype
    expected_loss, expected_grad = oracle(x, target, reduction=reduction)
    np.testing.assert_allclose(loss.double().numpy(), expected_loss, rtol=rtol, atol=atol)
    # The gradient of "mean" is about 1 / numel per element: its absolute tolerance too.
    scale = 1.0 if reduction == "none" else 1.0 / x.numel()
    np.testing.assert_allclose(grad.double().numpy(), expected_grad, rtol=rtol, atol=atol * scale)


# -gamma softplus(x_t) is -inf at x_t = finfo.max (numpy, which runs the interpreter, warns
# of it); the modulator exp(-inf) = 0 is the exact value there.
# The oracle's pos_weight * log p overflows there too (compared only where finite, below).
@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
# The whole product: only the float64 cases are held against the oracle (float32 ones are
# checked finite), so every form and gamma is kept with both dtypes.
@pytest.mark.parametrize("gamma", [0.0, 0.5, 2.0])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("form", ["bool", "soft", "index"])
def test_extreme_logits(form: str, dtype: torch.dtype, gamma: float) -> None:
    big = torch.finfo(dtype).max
    values = torch.tensor([1e4, -1e4, 100.0, -100.0, 30.0, -30.0, big, -big], dtype=dtype)
    x = values.repeat(2 * 7 * 4)[: 2 * 7 * 8].reshape(2, 7, 8)
    target = make_target(form, (2, 7, 8))
    if form == "soft":
        target = target.to(dtype)
    loss, grad = triton_loss_and_grad(
        x, target, gamma=gamma, pos_weight=torch.tensor(2.0, dtype=dtype), reduction="none"
    )
    assert torch.isfinite(loss).all() and torch.isfinite(grad).all()
    if dtype == torch.float64:
        expected_loss, expected_grad = oracle(
            x, target, gamma=gamma, pos_weight=torch.tensor(2.0), reduction="none"
        )
        # The oracle's product pos_weight * log p overflows at -finfo.max, where the loss
        # (about finfo.max * alpha_t) does not: compared where the oracle is finite.
        finite = np.isfinite(expected_loss)
        assert finite.mean() > 0.8
        np.testing.assert_allclose(loss.numpy()[finite], expected_loss[finite], rtol=1e-12)
        np.testing.assert_allclose(
            grad.numpy()[finite], expected_grad[finite], rtol=1e-12, atol=1e-300
        )


@pytest.mark.parametrize(
    ("form", "reduction"), [("index-ignored", "mean"), ("bool", "positives"), ("soft", "none")]
)
def test_programs_walk_several_blocks(
    form: str, reduction: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past its program limit (MAX_PROGRAMS blocks, or 8 per SM on a GPU) a launch has each
    program walk several blocks, num_programs blocks apart, and sum its partial sums
    (the losses, the positive mass, the kept elements) over all of them. The limit at 2
    and three blocks: program 0 walks blocks 0 and 2, the last of them partial."""
    monkeypatch.setattr(elementwise, "_program_limit", lambda device: 2)
    shape = (5, 7, 75)  # 2625 elements: two whole blocks of 1024 and a partial one
    x = torch.randn(shape, dtype=torch.float64) * 3
    assert x.numel() > 2 * elementwise.BLOCK
    assert elementwise.programs_of(x.numel(), x.dtype, x.device) == 2
    assert_matches_oracle(x, make_target(form, shape), reduction=reduction)


def test_nan_logit_gives_nan() -> None:
    x = torch.randn(3, 4)
    x[1, 2] = float("nan")
    loss = torchfocal.sigmoid_focal_loss(
        x, torch.rand(3, 4) < 0.5, backend="triton", reduction="none"
    )
    assert torch.isnan(loss[1, 2]) and torch.isfinite(loss[0]).all()


@pytest.mark.parametrize("form", ["bool", "soft", "index-ignored"])
def test_gamma_zero_is_binary_cross_entropy(form: str) -> None:
    x = torch.randn(SHAPE, dtype=torch.float64, requires_grad=True)
    target = make_target(form, SHAPE)
    pos_weight = torch.rand(7, 1, dtype=torch.float64) + 0.5
    loss = torchfocal.sigmoid_focal_loss(
        x, target, alpha=None, gamma=0.0, pos_weight=pos_weight, reduction="none", backend="triton"
    )
    if form.startswith("index"):
        dense = torch.zeros(SHAPE, dtype=torch.float64)
        valid = target != -100
        dense.scatter_(1, target.clamp(0, 6).unsqueeze(1), (target < 7).double().unsqueeze(1))
        weight = valid.unsqueeze(1).double()
    else:
        dense, weight = target.double(), None
    expected = F.binary_cross_entropy_with_logits(
        x, dense, weight=weight, pos_weight=pos_weight, reduction="none"
    )
    torch.testing.assert_close(loss, expected, rtol=1e-13, atol=1e-15)
    upstream = torch.rand(SHAPE, dtype=torch.float64)
    (grad,) = torch.autograd.grad(loss, x, upstream)
    (expected_grad,) = torch.autograd.grad(expected, x, upstream)
    torch.testing.assert_close(grad, expected_grad, rtol=1e-13, atol=1e-15)


# --- the autograd contract -------------------------------------------------------------------


def _naive_and_triton(
    make: Callable[[str], torch.Tensor],
) -> tuple[torch.Tensor, torch.Tensor]:
    return make("naive"), make("triton")


@pytest.mark.parametrize("form", ["bool", "soft", "index-ignored"])
def test_second_derivatives_match_naive(form: str) -> None:
    x = torch.randn(2, 7, 5, dtype=torch.float64, requires_grad=True)
    target = make_target(form, (2, 7, 5))
    upstream = torch.rand(2, 7, 5, dtype=torch.float64)

    def hessian_vector(backend: str) -> torch.Tensor:
        loss = torchfocal.sigmoid_focal_loss(x, target, gamma=1.5, backend=backend)
        (grad,) = torch.autograd.grad(loss, x, create_graph=True)
        (second,) = torch.autograd.grad(grad, x, upstream)
        return second

    naive, triton = _naive_and_triton(hessian_vector)
    torch.testing.assert_close(triton, naive, rtol=1e-10, atol=1e-14)


def test_gradients_to_soft_target_weight_alpha_and_pos_weight() -> None:
    x = torch.randn(2, 7, 5, dtype=torch.float64, requires_grad=True)
    target = torch.rand(2, 7, 5, dtype=torch.float64, requires_grad=True)
    weight = torch.rand(2, 1, 5, dtype=torch.float64, requires_grad=True)
    alpha = torch.rand(7, dtype=torch.float64, requires_grad=True)
    pos_weight = torch.rand(7, 1, dtype=torch.float64, requires_grad=True) + 0.5
    inputs = (x, target, weight, alpha, pos_weight)

    def grads(backend: str) -> tuple[torch.Tensor, ...]:
        loss = torchfocal.sigmoid_focal_loss(
            x, target, weight=weight, alpha=alpha, pos_weight=pos_weight, backend=backend
        )
        return torch.autograd.grad(loss, inputs)

    for triton_grad, naive_grad in zip(grads("triton"), grads("naive"), strict=True):
        torch.testing.assert_close(triton_grad, naive_grad, rtol=1e-12, atol=1e-15)


def test_second_backward_through_a_retained_graph() -> None:
    x = torch.randn(2, 7, 5, dtype=torch.float64, requires_grad=True)
    target = torch.rand(2, 7, 5) < 0.5
    loss = torchfocal.sigmoid_focal_loss(x, target, backend="triton")
    loss.backward(retain_graph=True)
    first = x.grad.clone()
    loss.backward()  # the saved gradient was consumed: the naive form differentiates
    torch.testing.assert_close(x.grad, 2 * first, rtol=1e-12, atol=1e-15)
    _, expected = oracle(x, target)
    np.testing.assert_allclose(first.numpy(), expected, rtol=1e-10)


def test_scalar_grad_output_scales_the_reduced_gradient() -> None:
    x = torch.randn(2, 7, 5, dtype=torch.float64, requires_grad=True)
    target = make_target("index-ignored", (2, 7, 5))
    loss = torchfocal.sigmoid_focal_loss(x, target, reduction="positives", backend="triton")
    (grad,) = torch.autograd.grad(loss, x, torch.tensor(-2.5, dtype=torch.float64))
    _, expected = oracle(x, target, grad_output=torch.tensor(-2.5), reduction="positives")
    np.testing.assert_allclose(grad.numpy(), expected, rtol=1e-10, atol=1e-15)


def test_no_grad_call_and_module() -> None:
    x = torch.randn(2, 7, 5)
    target = torch.rand(2, 7, 5) < 0.5
    with torch.no_grad():
        loss = torchfocal.sigmoid_focal_loss(x, target, backend="triton")
    module = torchfocal.SigmoidFocalLoss(backend="triton")
    torch.testing.assert_close(module(x, target), loss)
    torch.testing.assert_close(loss, torchfocal.sigmoid_focal_loss(x, target, backend="fused"))


# --- choosing and refusing the backend ---------------------------------------------------------


class _OnDevice(torch.Tensor):
    """Stands in for a tensor on a device this machine lacks: a CPU tensor whose ``device``
    says otherwise (resolve_backend reads the device, and asks torch.func whether the tensor
    is a transform's, which needs a real tensor)."""

    reported: torch.device

    @property  # type: ignore[override]
    def device(self) -> torch.device:
        return self.reported


def _on_device(device: str) -> _OnDevice:
    tensor = torch.zeros(1).as_subclass(_OnDevice)
    tensor.reported = torch.device(device)
    return tensor


def test_auto_picks_triton_for_cuda_tensors_only() -> None:
    cuda, cpu = _on_device("cuda"), torch.zeros(1)
    assert checks.resolve_backend("auto", cuda) == "triton"
    assert checks.resolve_backend("auto", cuda, has_triton=False) == "fused"
    assert checks.resolve_backend("auto", cpu) == "fused"


def test_cpu_tensors_need_the_interpreter(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRITON_INTERPRET", "0")
    with pytest.raises(
        ValueError, match=r"input must be a CUDA tensor for backend='triton'.*TRITON_INTERPRET=1"
    ):
        torchfocal.sigmoid_focal_loss(torch.zeros(2, 3), torch.zeros(2, 3), backend="triton")


def test_meta_tensors_are_refused() -> None:
    x = torch.zeros(2, 3, device="meta")
    with pytest.raises(
        ValueError, match="input must be a CUDA tensor for backend='triton'; got a meta tensor"
    ):
        torchfocal.sigmoid_focal_loss(x, torch.zeros(2, 3, device="meta"), backend="triton")


def test_missing_triton_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(checks, "triton_installed", lambda: False)
    with pytest.raises(
        ValueError,
        match=r"needs the triton package, 3.0 or later \(pip install triton, or pip install "
        r"-e '\.\[triton\]' in torchfocal's checkout\)",
    ):
        torchfocal.sigmoid_focal_loss(torch.zeros(2, 3), torch.zeros(2, 3), backend="triton")
    assert checks.resolve_backend("auto", _on_device("cuda")) == "fused"


def test_value_checks_still_run() -> None:
    with pytest.raises(ValueError, match=r"target must hold values in \[0, 1\]"):
        torchfocal.sigmoid_focal_loss(torch.zeros(2, 3), torch.full((2, 3), 1.5), backend="triton")
    with pytest.raises(
        ValueError, match=r"target class indices must be in \[0, 3\] \(3 = background\)"
    ):
        torchfocal.sigmoid_focal_loss(torch.zeros(2, 3), torch.tensor([0, 7]), backend="triton")


@pytest.mark.parametrize("reduction", ["none", "mean", "positives"])
@pytest.mark.parametrize("form", TARGET_FORMS)
def test_no_host_synchronisation(form: str, reduction: str, no_host_reads: None) -> None:
    x = torch.randn(SHAPE, requires_grad=True)
    target = make_target(form, SHAPE)
    if target.is_floating_point():
        target = target.float()
    loss = torchfocal.sigmoid_focal_loss(x, target, backend="triton", reduction=reduction)
    loss.backward(torch.ones_like(loss))
    assert x.grad is not None and x.grad.shape == x.shape


def test_no_host_reads_fixture_catches_a_read(no_host_reads: None) -> None:
    with pytest.raises(AssertionError, match="read on the host"):
        torch.ones(1).item()


@pytest.mark.parametrize(
    ("name", "options", "soft"),
    [
        ("sigmoid_focal_loss", {"reduction": "mean"}, False),
        ("sigmoid_focal_loss", {"reduction": "positives"}, False),
        ("sigmoid_focal_loss", {"reduction": "mean", "gamma": 0.5}, True),
        ("asymmetric_loss", {}, False),
        ("varifocal_loss", {}, True),
    ],
)
def test_sums_of_losses_near_the_float32_maximum_stay_finite(
    name: str, options: dict[str, Any], soft: bool
) -> None:
    """A block of 1024 float32 losses of 2.5e37 sums past the float32 maximum: the kernel's
    partial sums are float64, as the other backends' sums are."""
    x = torch.full((3, 700), -1.0e38)
    target = torch.full((3, 700), 0.9) if soft else torch.ones(3, 700, dtype=torch.bool)
    loss = getattr(torchfocal, name)
    triton = loss(x, target, backend="triton", **options)
    fused = loss(x, target, backend="fused", **options)
    assert torch.isfinite(fused)
    torch.testing.assert_close(triton, fused, rtol=1e-6, atol=0)


@pytest.mark.parametrize("name", ["sigmoid_focal_loss", "varifocal_loss", "quality_focal_loss"])
@pytest.mark.parametrize("bad", [1.5, -0.25, float("nan")])
def test_float_target_range_is_checked_in_the_kernel_on_a_gpu(
    no_host_reads: None, name: str, bad: float
) -> None:
    """Where value checks do not read (a GPU), a float target's [0, 1] check is a flag of
    the kernel's own pass, read by a device-side assert (on a CPU tensor it raises at once):
    no pass of torch ops over the target before the kernel."""
    x = torch.randn(4, 3)
    target = torch.rand(4, 3)
    loss = getattr(torchfocal, name)
    triton, fused = loss(x, target, backend="triton"), loss(x, target, backend="fused")
    np.testing.assert_allclose(triton.numpy(), fused.numpy(), rtol=1e-6)  # (no host read)
    target[2, 1] = bad
    with pytest.raises(RuntimeError, match=r"target must hold values in \[0, 1\]"):
        loss(x, target, backend="triton")
