"""backend="triton" for the region losses (Dice, Tversky, focal Tversky, generalized Dice,
and the Dice term of dice_ce / dice_focal), run on CPU tensors through Triton's
interpreter, held against the NumPy oracle (loss and gradient) and the naive backend.

Inputs are tiny: the interpreter runs every tile operation in NumPy.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import torchfocal
from conftest import all_pairs, tolerance
from torchfocal import reference

pytest.importorskip("triton")
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning:triton.runtime.interpreter")

C = 3
CASES: list[tuple[str, dict[str, Any]]] = [
    ("dice_loss", {}),
    ("dice_loss", {"squared": True, "log": True, "include_background": False}),
    ("dice_loss", {"batch": True, "weight": torch.tensor([0.2, 1.0, 3.0])}),
    ("tversky_loss", {"alpha": 0.3, "beta": 0.7}),
    ("focal_tversky_loss", {"gamma": 0.75}),
    ("generalized_dice_loss", {"weight_type": "square"}),
    ("generalized_dice_loss", {"weight_type": "simple", "batch": True}),
]
TARGETS = ["index", "ignored", "soft"]


def _target(form: str, activation: str, shape: tuple[int, ...], seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    locations = (shape[0], *shape[2:])
    # sigmoid index targets: C marks a location of no class
    index = torch.randint(0, C + (activation == "sigmoid"), locations, generator=generator)
    if form == "index":
        return index
    if form == "ignored":
        index[0, :2] = -100
        return index
    return torch.rand(shape, generator=generator, dtype=torch.float64)


def _options(kwargs: dict[str, Any]) -> dict[str, Any]:
    return {k: v.numpy() if isinstance(v, torch.Tensor) else v for k, v in kwargs.items()}


# Pairwise (each case with each target form and activation, each form with each
# activation): in the kernels the activation makes p, the target form t and "squared" their
# squares, each on its own; the cases' other options act on the sums I, P and T afterwards
# (on the host).
@pytest.mark.parametrize(
    ("loss", "kwargs", "form", "activation"),
    [
        pytest.param(
            *case, form, activation, id=f"{case[0]}-{CASES.index(case)}-{form}-{activation}"
        )
        for case, form, activation in all_pairs(CASES, TARGETS, ["softmax", "sigmoid"])
    ],
)
def test_matches_the_reference(
    loss: str, kwargs: dict[str, Any], form: str, activation: str
) -> None:
    shape = (2, C, 5, 3)
    x = torch.randn(shape, dtype=torch.float64, generator=torch.Generator().manual_seed(1)) * 2
    target = _target(form, activation, shape)
    xx = x.clone().requires_grad_(True)
    value = getattr(torchfocal, loss)(xx, target, activation=activation, backend="triton", **kwargs)
    (grad,) = torch.autograd.grad(value, xx, torch.tensor(1.5, dtype=torch.float64))
    expected, expected_grad = getattr(reference, loss)(
        x.numpy(), target.numpy(), activation=activation, grad_output=1.5, **_options(kwargs)
    )
    np.testing.assert_allclose(value.detach().numpy(), expected, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(grad.numpy(), expected_grad, rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32])
def test_half_and_single_precision(dtype: torch.dtype) -> None:
    """Computed in float32 and returned in the input's dtype."""
    shape = (2, C, 4, 4)
    x = torch.randn(shape, generator=torch.Generator().manual_seed(2)).to(dtype)
    target = _target("ignored", "softmax", shape)
    xx = x.clone().requires_grad_(True)
    value = torchfocal.dice_loss(xx, target, backend="triton")
    (grad,) = torch.autograd.grad(value, xx)
    assert value.dtype == grad.dtype == dtype
    expected, expected_grad = reference.dice_loss(x.double().numpy(), target.numpy())
    tol = tolerance(dtype)
    torch.testing.assert_close(value.double(), torch.tensor(expected), **tol)
    torch.testing.assert_close(grad.double(), torch.from_numpy(expected_grad), **tol)


@pytest.mark.parametrize(
    ("shape", "class_dim"), [((2, C, 3, 2, 2), 1), ((2, 4, 3, C), -1), ((3, C), 1)]
)
def test_layouts(shape: tuple[int, ...], class_dim: int) -> None:
    """3-D volumes, channels-last (several outer rows per sample) and no spatial dims."""
    x = torch.randn(shape, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    dim = class_dim % len(shape)
    locations = shape[:dim] + shape[dim + 1 :]
    target = torch.randint(0, C, locations, generator=torch.Generator().manual_seed(4))
    results = []
    for backend in ("naive", "triton"):
        xx = x.clone().requires_grad_(True)
        value = torchfocal.tversky_loss(xx, target, class_dim=class_dim, backend=backend)
        results.append((value.detach(), *torch.autograd.grad(value, xx)))
    for ours, naive in zip(results[1], results[0], strict=True):
        torch.testing.assert_close(ours, naive, rtol=1e-12, atol=1e-14)


def test_everything_ignored_gives_zero_and_a_zero_gradient() -> None:
    x = torch.randn(2, C, 3, dtype=torch.float64, requires_grad=True)
    target = torch.full((2, 3), -100)
    value = torchfocal.dice_loss(x, target, backend="triton")
    (grad,) = torch.autograd.grad(value, x)
    assert float(value.detach()) == 0.0 and not grad.any()


def test_empty_input() -> None:
    x = torch.randn(0, C, 4, dtype=torch.float64, requires_grad=True)
    value = torchfocal.dice_loss(x, torch.zeros(0, 4, dtype=torch.long), backend="triton")
    (grad,) = torch.autograd.grad(value, x)
    assert float(value.detach()) == 0.0 and grad.shape == x.shape


@pytest.mark.parametrize("loss", ["dice_ce_loss", "dice_focal_loss"])
def test_combined_losses_take_the_kernel_for_their_dice_term(loss: str) -> None:
    x = torch.randn(2, C, 4, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    target = _target("ignored", "softmax", tuple(x.shape))
    results = []
    for backend in ("naive", "triton"):
        xx = x.clone().requires_grad_(True)
        value = getattr(torchfocal, loss)(xx, target, backend=backend)
        results.append((value.detach(), *torch.autograd.grad(value, xx)))
    for ours, naive in zip(results[1], results[0], strict=True):
        torch.testing.assert_close(ours, naive, rtol=1e-12, atol=1e-14)


@pytest.mark.usefixtures("no_host_reads")
def test_no_host_reads() -> None:
    """Forward and backward read no value on the host (no device synchronisation)."""
    x = torch.randn(2, C, 4, 3, requires_grad=True)
    target = _target("ignored", "softmax", tuple(x.shape))
    value = torchfocal.dice_loss(x, target, backend="triton", batch=True)
    value.backward()
    assert x.grad is not None and x.grad.shape == x.shape


def test_second_derivatives_and_target_gradients_take_the_naive_form() -> None:
    x = torch.randn(2, C, 4, dtype=torch.float64, requires_grad=True)
    soft = torch.rand(2, C, 4, dtype=torch.float64, requires_grad=True)
    value = torchfocal.dice_loss(x, soft, backend="triton")
    grads = torch.autograd.grad(value, (x, soft), create_graph=True)
    (second,) = torch.autograd.grad(grads[0].sum(), x)
    naive = torchfocal.dice_loss(x, soft, backend="naive")
    naive_grads = torch.autograd.grad(naive, (x, soft), create_graph=True)
    (naive_second,) = torch.autograd.grad(naive_grads[0].sum(), x)
    torch.testing.assert_close(second, naive_second)
    torch.testing.assert_close(grads[1], naive_grads[1])


def test_too_many_classes_for_a_tile() -> None:
    x = torch.randn(1, 1025, 2)
    target = torch.zeros(1, 2, dtype=torch.long)
    with pytest.raises(ValueError, match=r"backend must not be 'triton' for more than 1024"):
        torchfocal.dice_loss(x, target, backend="triton")


def test_sums_kernel_never_builds_a_one_hot(monkeypatch: pytest.MonkeyPatch) -> None:
    """Index targets reach the kernels as indices: F.one_hot and scatter are never called."""

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a one-hot of the target was built")

    monkeypatch.setattr(F, "one_hot", refuse)
    monkeypatch.setattr(torch.Tensor, "scatter_", refuse)
    x = torch.randn(2, C, 4, requires_grad=True)
    target = torch.randint(0, C, (2, 4))
    torchfocal.dice_loss(x, target, backend="triton").backward()


def _loss_and_grad(
    loss: str, x: torch.Tensor, target: torch.Tensor, backend: str, **kwargs: Any
) -> tuple[torch.Tensor, torch.Tensor]:
    xx = x.clone().requires_grad_(True)
    value = getattr(torchfocal, loss)(xx, target, backend=backend, **kwargs)
    (grad,) = torch.autograd.grad(value, xx)
    return value.detach(), grad


@pytest.mark.parametrize("activation", ["softmax", "sigmoid"])
@pytest.mark.parametrize("ignore_index", [-100, 0, 2, 3, 7])
def test_ignore_index_inside_and_outside_the_classes(activation: str, ignore_index: int) -> None:
    """The kernel leaves out the raw index's ignore_index wherever it lies: below 0, one of
    the classes (0, 2: that class's locations are ignored), the sigmoid's background index C
    (3) or beyond; as the fused backend's torch preparation does."""
    shape = (2, C, 4, 3)
    x = torch.randn(shape, dtype=torch.float64, generator=torch.Generator().manual_seed(6))
    target = _target("index", activation, shape, seed=7)
    target[0, 1] = ignore_index
    target[1, 0, 0] = ignore_index
    ours = _loss_and_grad(
        "dice_loss", x, target, "triton", activation=activation, ignore_index=ignore_index
    )
    fused = _loss_and_grad(
        "dice_loss", x, target, "fused", activation=activation, ignore_index=ignore_index
    )
    for a, b in zip(ours, fused, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-14)
    expected, expected_grad = reference.dice_loss(
        x.numpy(), target.numpy(), activation=activation, ignore_index=ignore_index
    )
    np.testing.assert_allclose(ours[0].numpy(), expected, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(ours[1].numpy(), expected_grad, rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("activation", ["softmax", "sigmoid"])
@pytest.mark.parametrize("bad", [-1, -101, C + 1, 2**33])
def test_class_indices_are_checked_eagerly_on_a_cpu_tensor(activation: str, bad: int) -> None:
    x = torch.randn(2, C, 4, dtype=torch.float64)
    target = torch.zeros(2, 4, dtype=torch.long)
    target[1, 2] = bad
    largest = C if activation == "sigmoid" else C - 1
    with pytest.raises(
        ValueError, match=rf"target class indices must be in \[0, {largest}\].* got {bad}"
    ):
        torchfocal.dice_loss(x, target, activation=activation, backend="triton")


@pytest.mark.parametrize("activation", ["softmax", "sigmoid"])
@pytest.mark.parametrize("bad", [-1, -101, C + 1, 2**33])
def test_class_indices_are_checked_in_the_kernel_on_a_gpu(
    no_host_reads: None, activation: str, bad: int
) -> None:
    """Where value checks do not read (a GPU), the class-index check is a flag of the sums
    kernel (one int per program) read by a device-side assert: no pass of torch ops over the
    target before the kernel (on a CPU tensor it raises at once, with the value)."""
    x = torch.randn(2, C, 4)
    target = torch.randint(0, C, (2, 4), generator=torch.Generator().manual_seed(8))
    target[0, 0] = -100  # ignored: never flagged
    largest = C if activation == "sigmoid" else C - 1
    ours = torchfocal.dice_loss(x, target, activation=activation, backend="triton")
    fused = torchfocal.dice_loss(x, target, activation=activation, backend="fused")
    np.testing.assert_allclose(ours.numpy(), fused.numpy(), rtol=1e-6)  # (no host read)
    target[1, 3] = bad
    message = rf"target class indices must be in \[0, {largest}\].* or ignore_index=-100"
    with pytest.raises(RuntimeError, match=message):
        torchfocal.dice_loss(x, target, activation=activation, backend="triton")


def test_no_torch_pass_over_the_index_target(
    no_host_reads: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a GPU the index target reaches the kernels as given: no comparison, masked copy,
    mask or count of it in torch before them (the elementwise torch ops that did it are
    refused here)."""

    x = torch.randn(2, C, 4, 3, requires_grad=True)
    target = _target("ignored", "softmax", tuple(x.shape))

    def refusing(name: str) -> Any:
        original = getattr(torch.Tensor, name)

        def call(self: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
            # (the kernel's flags, one per program, are fewer than the target's locations)
            if self.numel() >= target.numel():
                raise AssertionError(f"a torch pass over the target ({name})")
            return original(self, *args, **kwargs)

        return call

    for name in ("masked_fill", "__eq__", "__ne__", "__ge__", "__le__", "__invert__", "long"):
        monkeypatch.setattr(torch.Tensor, name, refusing(name))
    value = torchfocal.dice_loss(x, target, backend="triton")
    value.backward()
    assert x.grad is not None and x.grad.shape == x.shape


@pytest.mark.parametrize("activation", ["softmax", "sigmoid"])
def test_all_ignored_samples_count_for_nothing(activation: str) -> None:
    """A sample whose locations are all ignored: no entry, no gradient; the others as the
    fused backend has them."""
    shape = (3, C, 5)
    x = torch.randn(shape, dtype=torch.float64, generator=torch.Generator().manual_seed(9))
    target = _target("index", activation, shape, seed=10)
    target[1] = -100
    ours = _loss_and_grad("dice_loss", x, target, "triton", activation=activation)
    fused = _loss_and_grad("dice_loss", x, target, "fused", activation=activation)
    for a, b in zip(ours, fused, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-14)
    assert not ours[1][1].any()
    # every sample ignored: 0 and a zero gradient
    everything = torch.full_like(target, -100)
    value, grad = _loss_and_grad("dice_loss", x, everything, "triton", activation=activation)
    assert float(value) == 0.0 and not grad.any()


@pytest.mark.parametrize("activation", ["softmax", "sigmoid"])
@pytest.mark.parametrize("kwargs", [{}, {"squared": True}, {"batch": True}])
def test_several_tiles_a_program(
    monkeypatch: pytest.MonkeyPatch, activation: str, kwargs: dict[str, Any]
) -> None:
    """The sums kernel's loop over TILES tiles a program (taken by large launches): with
    tiles of 16 elements and no floor on the programs, a small input takes it, with a
    row's last program partly past the row's end."""
    from torchfocal._triton import regions

    monkeypatch.setattr(regions, "_TILE_ELEMENTS", {torch.float64: 16})
    monkeypatch.setattr(regions, "_MIN_PROGRAMS", 1)
    launches: list[dict[str, Any]] = []
    kernel = regions._region_sums_kernel

    class Spy:
        fn = kernel.fn

        def __getitem__(self, grid: Any) -> Any:
            def run(*args: Any, **options: Any) -> Any:
                launches.append({"programs": grid[0], **options})
                return kernel[grid](*args, **options)

            return run

    monkeypatch.setattr(regions, "_region_sums_kernel", Spy())
    shape = (2, C, 9, 5)  # 45 locations a row: 12 tiles of 4, two programs of 8 tiles
    x = torch.randn(shape, dtype=torch.float64, generator=torch.Generator().manual_seed(11))
    target = _target("ignored", activation, shape, seed=12)
    ours = _loss_and_grad("dice_loss", x, target, "triton", activation=activation, **kwargs)
    fused = _loss_and_grad("dice_loss", x, target, "fused", activation=activation, **kwargs)
    assert [(s["programs"], s["TILES"], s["FOLD"]) for s in launches] == [(4, 8, 4)]
    for a, b in zip(ours, fused, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("activation", ["softmax", "sigmoid"])
def test_logits_at_ignored_locations_are_never_read_into_the_sums(activation: str) -> None:
    """The kernels load every logit of a tile and zero the ignored locations after: a NaN
    or an infinity there changes neither the loss nor the gradient."""
    shape = (2, C, 6)
    x = torch.randn(shape, dtype=torch.float64, generator=torch.Generator().manual_seed(13))
    target = _target("index", activation, shape, seed=14)
    target[0, 1] = target[1, 4] = -100
    clean = _loss_and_grad("dice_loss", x, target, "triton", activation=activation)
    x[0, :, 1] = float("nan")
    x[1, 0, 4], x[1, 1, 4] = float("inf"), -float("inf")
    dirty = _loss_and_grad("dice_loss", x, target, "triton", activation=activation)
    for a, b in zip(dirty, clean, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-14)
