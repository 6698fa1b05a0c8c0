"""The Triton softmax focal kernel (torchfocal._triton.softmax) through the interpreter.

Loss and gradient per location against the float64 oracle, torchfocal.reference, for every
target form and option; against the naive form in float64 (plain torch under autograd) for
C = 40000, where the oracle's one-hot and its per-class log(1 - p) loop are quadratic in C.
Both the one-block path (the row in registers) and the online multi-block path run: C
beyond the tile, and the tile made small.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

pytest.importorskip("triton")

import torchfocal
from conftest import covering
from torchfocal import reference
from torchfocal._triton import softmax as kernel
from torchfocal.losses.softmax_focal import naive_per_location

IGNORE = -100
#: Rows of one block (the row in registers).
ROWS = (6, 80, 1)
#: A map of two class blocks: its tile keeps 16 locations, so blocks of 256 classes, the
#: second partial (test_blocks holds the layout); the fewest blocks that cross a boundary,
#: where C = 1000 took four and an oracle quadratic in C.
MAP_BLOCKS = (2, 300, 15)
# (outer, C, inner): rows (inner 1, classes contiguous) and maps (inner 15 = 3 x 5 spatial
# positions), in one block (C up to the tile's 4096 on rows, 256 on these maps; rows of 512
# classes or more take a program each) or several (MAP_BLOCKS; LARGE: ten blocks of 4096),
# none a multiple of the blocks.
SHAPES = [(5, 1, 1), (3, 2, 1), ROWS, (2, 80, 15), (3, 1000, 1), MAP_BLOCKS]
LARGE = (1, 40000, 1)

Case = dict[str, Any]


def make_case(
    shape: tuple[int, int, int], form: str, *, dtype: torch.dtype = torch.float32
) -> tuple[Tensor, Case]:
    """Logits of ``shape`` and a target: "index" (about a quarter of it ignored) or "probs"."""
    generator = torch.Generator().manual_seed(0)
    outer, num_classes, inner = shape
    x = (torch.randn(shape, generator=generator, dtype=torch.float64) * 3).to(dtype)
    if form == "index":
        index = torch.randint(0, num_classes, (outer, inner), generator=generator)
        index[torch.rand((outer, inner), generator=generator) < 0.25] = IGNORE
        return x, {"index": index, "probabilities": None}
    logits = torch.randn(shape, generator=generator, dtype=torch.float64) * 2
    return x, {"index": None, "probabilities": torch.softmax(logits, dim=1).float()}


def run_kernel(
    x: Tensor,
    case: Case,
    *,
    gamma: float | Tensor = 2.0,
    label_smoothing: float = 0.0,
    class_factor: float | Tensor | None = None,
    need_grad: bool = True,
) -> tuple[Tensor, Tensor | None]:
    return kernel.softmax_focal(
        x,
        index=case["index"],
        probabilities=case["probabilities"],
        ignore_index=IGNORE,
        label_smoothing=label_smoothing,
        gamma=gamma,
        class_factor=class_factor,
        need_grad=need_grad,
    )


def expected(
    x: Tensor,
    case: Case,
    *,
    gamma: float | Tensor = 2.0,
    label_smoothing: float = 0.0,
    class_factor: float | Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """The oracle's float64 loss per location and gradient for the kernel's arguments."""
    outer, num_classes, inner = x.shape
    if num_classes > 1000:
        return _naive_expected(x, case, gamma, label_smoothing, class_factor)
    target = case["index"] if case["index"] is not None else case["probabilities"]
    oracle_gamma: float | Callable[[np.ndarray], np.ndarray]
    if isinstance(gamma, Tensor):
        values = gamma.double().numpy()
        per_location = gamma.shape == (outer, inner)
        # The oracle asks for gamma at every class probability: the kernel's values, with
        # a per-location gamma the same for every class.
        oracle_gamma = (lambda _: values[:, None, :]) if per_location else (lambda _: values)
    else:
        oracle_gamma = gamma
    loss, grad = reference.softmax_focal_loss(
        x.double().numpy(),
        target.numpy(),
        alpha=class_factor.numpy() if isinstance(class_factor, Tensor) else class_factor,
        gamma=oracle_gamma,
        ignore_index=IGNORE,
        label_smoothing=label_smoothing,
        class_dim=1,
        reduction="none",
    )
    return torch.from_numpy(loss), torch.from_numpy(grad)


def _naive_expected(
    x: Tensor,
    case: Case,
    gamma: float | Tensor,
    label_smoothing: float,
    class_factor: float | Tensor | None,
) -> tuple[Tensor, Tensor]:
    """The naive form in float64 under autograd, on the dense (smoothed) target."""
    num_classes = x.shape[1]
    if case["index"] is not None:
        index = case["index"]
        counted = index != IGNORE
        one_hot = F.one_hot(torch.where(counted, index, 0), num_classes).movedim(-1, 1)
        target = one_hot.double() * (1 - label_smoothing) + label_smoothing / num_classes
        target = target * counted[:, None, :]
    else:
        target = case["probabilities"].double() * (1 - label_smoothing)
        target = target + label_smoothing / num_classes
    if isinstance(gamma, Tensor):
        gamma = gamma.double()
        gamma = gamma[:, None, :] if gamma.dim() == 2 else gamma
    if isinstance(class_factor, Tensor):
        class_factor = class_factor.double()[None, :, None]
    x64 = x.double().requires_grad_(True)
    loss = naive_per_location(x64, target, class_factor=class_factor, gamma=gamma, dim=1)
    (grad,) = torch.autograd.grad(loss.sum(), x64)
    return loss.detach(), grad


def assert_matches(
    actual: tuple[Tensor, Tensor | None],
    wanted: tuple[Tensor, Tensor],
    dtype: torch.dtype = torch.float32,
) -> None:
    """Loss and gradient within the dtype's tolerance of the oracle's.

    The loss is computed and returned in float32 (float64 for float64 logits), so its
    tolerance is that dtype's; the gradient is rounded to x's dtype (relative tolerance one
    ulp of it), and the absolute tolerance of both scales with the largest value.
    """
    loss, grad = actual
    assert grad is not None
    compute = torch.float64 if dtype == torch.float64 else torch.float32
    assert loss.dtype == compute and grad.dtype == dtype
    loss_rtol = 1e-10 if compute == torch.float64 else 2e-5
    grad_rtol = {torch.float64: 1e-10, torch.float32: 2e-5}.get(dtype, torch.finfo(dtype).eps)
    for value, target, rtol in ((loss, wanted[0], loss_rtol), (grad, wanted[1], grad_rtol)):
        atol = rtol * float(target.abs().max()) if target.numel() else 0.0
        torch.testing.assert_close(value.double(), target, rtol=rtol, atol=atol)


# The whole product: form and smoothing pick the kernel's target path (an index without
# smoothing: the target's logit alone; with it, or probabilities: the dense passes) and the
# shape picks its block layout (one block or the online blocks, rows or maps), and each path
# has its own code for each layout: a three-factor interaction.
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("form", ["index", "probs"])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
def test_shapes_and_targets(shape: tuple[int, int, int], form: str, label_smoothing: float) -> None:
    x, case = make_case(shape, form)
    class_factor = torch.rand(shape[1]) + 0.1
    options: dict[str, Any] = {"label_smoothing": label_smoothing, "class_factor": class_factor}
    assert_matches(run_kernel(x, case, **options), expected(x, case, **options))


@pytest.mark.parametrize("form", ["index", "probs"])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
def test_many_classes(form: str, label_smoothing: float) -> None:
    x, case = make_case(LARGE, form)
    options: dict[str, Any] = {"label_smoothing": label_smoothing, "gamma": 0.5}
    assert_matches(run_kernel(x, case, **options), expected(x, case, **options))


def _gamma(kind: str, shape: tuple[int, int, int]) -> float | Tensor:
    """A number, or gamma values in [0, 5] per location or per element (some of them 0)."""
    if kind == "per_location":
        values = torch.rand(shape[0], shape[2]) * 5
    elif kind == "per_element":
        values = torch.rand(shape) * 5
    else:
        return float(kind)
    values.view(-1)[::4] = 0.0
    return values


# Pairwise (every two of shape, form and gamma together): with label smoothing every target
# takes the dense path, where the gamma tile, the target's weights and the block loop are
# separate steps.
@pytest.mark.parametrize(
    *covering(
        {},
        {
            "shape": [ROWS, MAP_BLOCKS],
            "form": ["index", "probs"],
            "gamma": ["0", "0.5", "2", "5", "per_location", "per_element"],
        },
    )
)
def test_gamma(shape: tuple[int, int, int], form: str, gamma: str) -> None:
    x, case = make_case(shape, form)
    options: dict[str, Any] = {"gamma": _gamma(gamma, shape), "label_smoothing": 0.1}
    assert_matches(run_kernel(x, case, **options), expected(x, case, **options))


# Pairwise: the class factor multiplies the target's weight, whatever the layout.
@pytest.mark.parametrize(
    *covering(
        {},
        {
            "shape": [ROWS, MAP_BLOCKS],
            "form": ["index", "probs"],
            "class_factor": ["none", "number", "per_class"],
        },
    )
)
def test_class_factor(shape: tuple[int, int, int], form: str, class_factor: str) -> None:
    x, case = make_case(shape, form)
    factor = {"none": None, "number": 0.25, "per_class": torch.rand(shape[1]) * 2}[class_factor]
    assert_matches(run_kernel(x, case, class_factor=factor), expected(x, case, class_factor=factor))


# Pairwise: the dtype is the loads' and the gradient store's conversion and the compute
# dtype, the same for every layout and target.
@pytest.mark.parametrize(
    *covering(
        {},
        {
            "dtype": [torch.float16, torch.bfloat16, torch.float32, torch.float64],
            "shape": [ROWS, MAP_BLOCKS],
            "form": ["index", "probs"],
        },
    )
)
def test_dtypes(dtype: torch.dtype, shape: tuple[int, int, int], form: str) -> None:
    """Half inputs are computed in float32; the oracle sees the same (rounded) logits."""
    x, case = make_case(shape, form, dtype=dtype)
    options: dict[str, Any] = {"label_smoothing": 0.1, "class_factor": 0.3, "gamma": 1.5}
    assert_matches(run_kernel(x, case, **options), expected(x, case, **options), dtype)


def test_multi_block_path_on_small_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    """A small tile cuts C = 80 into blocks of 32, 32 and 16, on rows (a tile of 32) and on
    maps of 15 positions (a tile of 512: 16 locations of 32 classes): the online maximum
    meets its ties and rescales on both sides of a merge."""
    for shape, tile in [((3, 80, 1), 32), ((2, 80, 15), 512)]:
        monkeypatch.setattr(kernel, "_TILE_ELEMENTS", tile)
        assert kernel._blocks(*shape, tile)[1] == 32  # (as the launch reads the tile)
        x, case = make_case(shape, "index")
        x[0, :, 0] = 0.0  # ties across blocks
        x[1, 70, 0] = 30.0  # the maximum in the last block: the earlier ones rescale
        x[2 % shape[0], 3, -1] = 30.0  # in the first: the later blocks rescale
        for options in ({"gamma": 2.0}, {"gamma": 0.5, "label_smoothing": 0.1}):
            assert_matches(run_kernel(x, case, **options), expected(x, case, **options))
        _, probs = make_case(shape, "probs")
        assert_matches(run_kernel(x, probs), expected(x, probs))


def test_wide_offsets_compute_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    """The int64 offsets (inputs of 2^31 elements or more) on a small input: rows of one
    block, and a map of two (wide offsets take a quarter of the tile: 64 classes of its 16
    locations)."""
    monkeypatch.setattr(kernel, "_INT32_LIMIT", 0)
    assert kernel._blocks(2, 80, 15, kernel._TILE_ELEMENTS // 4) == (16, 64)
    for shape in [(3, 80, 1), (2, 80, 15)]:
        for form in ("index", "probs"):
            x, case = make_case(shape, form)
            assert_matches(
                run_kernel(x, case, label_smoothing=0.1),
                expected(x, case, label_smoothing=0.1),
            )


EXTREME_ROWS = [
    [1e4, -1e4, 0.0],
    [-1e4, 1e4, 0.0],
    [40.0, 0.0, 0.0],  # 1 - p_max = 8.5e-18: far below float32's resolution near 1
    [0.0, 0.0, 0.0],
    [1e4, 1e4, -1e4],  # a tie at a huge maximum
    [-3e38, 3e38, 0.0],  # wider than float32's range: x_0 - max = -inf
]


@pytest.mark.parametrize("gamma", [0.0, 0.5, 2.0])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
def test_extreme_rows(gamma: float, label_smoothing: float) -> None:
    """Each extreme row with each class as the target: finite, and equal to the oracle."""
    rows = torch.tensor(EXTREME_ROWS, dtype=torch.float32)
    x = rows.repeat_interleave(3, dim=0)[:, :, None]
    index = torch.arange(3).repeat(len(EXTREME_ROWS))[:, None]
    case: Case = {"index": index, "probabilities": None}
    options: dict[str, Any] = {"gamma": gamma, "label_smoothing": label_smoothing}
    with np.errstate(over="ignore"):  # the interpreter's NumPy on the [-3e38, 3e38] rows
        loss, grad = run_kernel(x, case, class_factor=0.25, **options)
    assert loss.isfinite().all() and grad is not None and grad.isfinite().all()
    assert_matches((loss, grad), expected(x, case, class_factor=0.25, **options))


@pytest.mark.parametrize("form", ["index", "probs"])
def test_extreme_rows_across_blocks(form: str) -> None:
    """C = 5000 (two blocks of 4096): a gap of 2e4 between blocks, a huge maximum alone in
    the second block, and a row of 5000 ties."""
    x, case = make_case((3, 5000, 1), form)
    x[0, 10, 0], x[0, 4500, 0] = -1e4, 1e4
    x[1, 4999, 0] = 50.0
    x[2] = 0.0
    if case["index"] is not None:
        case["index"][:, 0] = torch.tensor([4500, 4999, 7])
    assert_matches(run_kernel(x, case, label_smoothing=0.1), expected(x, case, label_smoothing=0.1))


@pytest.mark.parametrize(
    "case",
    [
        {"index": torch.tensor([[0]]), "probabilities": None},
        {"index": None, "probabilities": torch.tensor([[[1.0], [0.0], [0.0]]])},
    ],
    ids=["index", "probs"],
)
def test_target_at_a_near_certain_class_keeps_its_precision(case: Case) -> None:
    """Logits [20, 0, 0]: 1 - p_0 = 4.1e-9, below float32's resolution near 1 (6e-8), so a
    loss or gradient formed from 1 - p_0 as a difference (such as p_0 S - w_0 for the
    target class's gradient) would be 0 or wrong by 100%."""
    x = torch.tensor([[20.0, 0.0, 0.0]])[:, :, None]
    for gamma in (0.0, 0.5, 2.0):
        loss, grad = run_kernel(x, case, gamma=gamma)
        wanted_loss, wanted_grad = expected(x, case, gamma=gamma)
        assert float(loss) > 0
        torch.testing.assert_close(loss.double(), wanted_loss, rtol=1e-5, atol=0.0)
        assert grad is not None
        torch.testing.assert_close(grad.double(), wanted_grad, rtol=1e-5, atol=0.0)


@pytest.mark.parametrize("shape", [(3, 7, 1), (3, 5000, 1), (2, 7, 4)], ids=str)
@pytest.mark.parametrize("form", ["index", "probs"])
def test_nan_logit_gives_nan(shape: tuple[int, int, int], form: str) -> None:
    """A NaN makes its location's loss and gradient NaN; the other locations are unchanged."""
    x, case = make_case(shape, form)
    if case["index"] is not None:
        case["index"][1, 0] = 2
    x[1, shape[1] - 2, 0] = float("nan")
    with np.errstate(invalid="ignore"):
        loss, grad = run_kernel(x, case, label_smoothing=0.1)
    assert grad is not None
    assert loss[1, 0].isnan() and grad[1, :, 0].isnan().all()
    others = torch.ones_like(loss, dtype=torch.bool)
    others[1, 0] = False
    clean = x.clone()
    clean[1, :, 0] = 0.0
    wanted_loss, wanted_grad = expected(clean, case, label_smoothing=0.1)
    torch.testing.assert_close(loss[others].double(), wanted_loss[others], rtol=2e-5, atol=1e-6)
    torch.testing.assert_close(
        grad.movedim(1, -1)[others].double(),
        wanted_grad.movedim(1, -1)[others],
        rtol=2e-5,
        atol=1e-6,
    )


# Pairwise: gamma = 0 makes the modulator exactly 1 in the class terms that every path and
# layout shares (each path on each layout is test_shapes_and_targets' product).
@pytest.mark.parametrize(
    *covering(
        {},
        {
            "shape": [(6, 7, 1), (2, 7, 15), (2, 5000, 1)],
            "form": ["index", "probs"],
            "label_smoothing": [0.0, 0.2],
        },
    )
)
def test_gamma_zero_is_cross_entropy(
    shape: tuple[int, int, int], form: str, label_smoothing: float
) -> None:
    x, case = make_case(shape, form)
    weight = torch.rand(shape[1]) + 0.1
    loss, grad = run_kernel(
        x, case, gamma=0.0, class_factor=weight, label_smoothing=label_smoothing
    )
    target = case["index"] if case["index"] is not None else case["probabilities"]
    x_grad = x.clone().requires_grad_(True)
    wanted = F.cross_entropy(
        x_grad,
        target,
        weight=weight,
        ignore_index=IGNORE,
        label_smoothing=label_smoothing,
        reduction="none",
    )
    (wanted_grad,) = torch.autograd.grad(wanted.sum(), x_grad)
    torch.testing.assert_close(loss, wanted.detach(), rtol=2e-5, atol=1e-6)
    torch.testing.assert_close(grad, wanted_grad, rtol=2e-5, atol=1e-6)


@pytest.mark.parametrize("dtype", [torch.uint8, torch.int8, torch.int16, torch.int32])
def test_index_dtypes(dtype: torch.dtype) -> None:
    """Class indices of every integer dtype are read as they are (ignore_index fits)."""
    x, case = make_case((6, 80, 1), "index")
    ignore = 255 if dtype == torch.uint8 else -1
    index = case["index"]
    narrow = torch.where(index == IGNORE, ignore, index).to(dtype)

    def run(target: Tensor) -> tuple[Tensor, Tensor | None]:
        return kernel.softmax_focal(
            x,
            index=target,
            probabilities=None,
            ignore_index=ignore,
            label_smoothing=0.0,
            gamma=2.0,
            class_factor=None,
            need_grad=True,
        )

    loss, grad = run(narrow)
    wanted_loss, wanted_grad = run(narrow.long())
    assert torch.equal(loss, wanted_loss) and grad is not None and wanted_grad is not None
    assert torch.equal(grad, wanted_grad)
    assert_matches((loss, grad), expected(x, case))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
def test_probability_dtypes(dtype: torch.dtype) -> None:
    """Probability targets of every float dtype are read as they are (no conversion pass)."""
    x, case = make_case((6, 80, 1), "probs")
    probabilities = case["probabilities"].to(dtype)
    loss, grad = run_kernel(x, {"index": None, "probabilities": probabilities})
    wanted_loss, wanted_grad = run_kernel(
        x, {"index": None, "probabilities": probabilities.float()}
    )
    assert torch.equal(loss, wanted_loss) and grad is not None and wanted_grad is not None
    assert torch.equal(grad, wanted_grad)


@pytest.mark.parametrize("shape", [ROWS, MAP_BLOCKS], ids=str)
@pytest.mark.parametrize("form", ["index", "probs"])
def test_without_gradient(shape: tuple[int, int, int], form: str) -> None:
    x, case = make_case(shape, form)
    loss, grad = run_kernel(x, case, label_smoothing=0.1, need_grad=False)
    assert grad is None
    with_grad, _ = run_kernel(x, case, label_smoothing=0.1)
    torch.testing.assert_close(loss, with_grad, rtol=0.0, atol=0.0)


def test_empty_input() -> None:
    x = torch.zeros(0, 5, 3)
    loss, grad = run_kernel(
        x, {"index": torch.zeros(0, 3, dtype=torch.long), "probabilities": None}
    )
    assert loss.shape == (0, 3) and grad is not None and grad.shape == (0, 5, 3)


def test_blocks() -> None:
    """Rows take the whole row up to the tile (else blocks of it), maps keep 32 locations
    (fewer where there are fewer), and no tile asks for more locations than exist."""
    tile = kernel._TILE_ELEMENTS
    assert kernel._blocks(1000, 80, 1) == (tile // 128, 128)
    assert kernel._blocks(1, 40000, 1) == (1, tile)
    assert kernel._blocks(2, 1000, 15) == (16, tile // 16)
    assert kernel._blocks(8, 80, 4096) == (tile // 128, 128)
    assert kernel._blocks(8, 40000, 4096) == (32, tile // 32)
    assert kernel._blocks(3, 2, 1) == (4, 2)
    # the tests' shapes: MAP_BLOCKS in two blocks of 256 (the second partial), LARGE in ten
    assert kernel._blocks(*MAP_BLOCKS) == (16, 256)
    assert kernel._blocks(*LARGE) == (1, tile)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"index": None, "probabilities": None}, "exactly one of index and probabilities"),
        ({"index": torch.zeros(2, 3, dtype=torch.long)}, "index must have shape"),
        ({"index": None, "probabilities": torch.rand(2, 3, 2)}, "probabilities must have"),
        ({"gamma": torch.rand(2, 4)}, "gamma must have shape"),
        ({"class_factor": torch.rand(3)}, "class_factor must have 4 values"),
    ],
)
def test_errors(arguments: dict[str, Any], message: str) -> None:
    options: dict[str, Any] = {
        "index": torch.zeros(2, 2, dtype=torch.long),
        "probabilities": None,
        "ignore_index": IGNORE,
        "label_smoothing": 0.0,
        "gamma": 2.0,
        "class_factor": None,
        "need_grad": True,
    }
    with pytest.raises(ValueError, match=message):
        kernel.softmax_focal(torch.zeros(2, 4, 2), **{**options, **arguments})
    with pytest.raises(ValueError, match="x must be"):
        kernel.softmax_focal(torch.zeros(2, 4), **options)


# --- through the public function: the engine's wiring of the kernel ---------------------------


PUBLIC_SHAPE = (3, 6, 5)  # (N, C, d)


def public_target(form: str, shape: tuple[int, ...], class_dim: int = 1) -> Tensor:
    if form == "probs":
        return torch.softmax(torch.randn(shape, dtype=torch.float64) * 2, dim=class_dim)
    index_shape = shape[:class_dim] + shape[class_dim + 1 :]
    index = torch.randint(0, shape[class_dim], index_shape)
    index.view(-1)[::4] = IGNORE
    return index


def public_loss_and_grad(
    x: Tensor, target: Tensor, grad_output: Tensor | None, **options: Any
) -> tuple[Tensor, Tensor]:
    leaf = x.detach().requires_grad_()
    loss = torchfocal.softmax_focal_loss(leaf, target, backend="triton", **options)
    upstream = torch.ones_like(loss) if grad_output is None else grad_output
    (grad,) = torch.autograd.grad(loss, leaf, upstream)
    return loss.detach(), grad


def assert_public_matches_oracle(x: Tensor, target: Tensor, **options: Any) -> None:
    reduction = options.get("reduction", "mean")
    class_dim = options.get("class_dim", 1)
    grad_output = None
    if reduction == "none":
        location_shape = (
            x.shape[:class_dim] + x.shape[class_dim + 1 :] if class_dim >= 0 else (x.shape[:-1])
        )
        grad_output = torch.rand(location_shape, dtype=torch.float64) + 0.5
    loss, grad = public_loss_and_grad(x, target, grad_output, **options)
    numpy_options = {
        key: value.numpy() if isinstance(value, Tensor) else value for key, value in options.items()
    }
    if class_dim < 0:
        numpy_options["class_dim"] = class_dim % x.dim()
    expected_loss, expected_grad = reference.softmax_focal_loss(
        x.double().numpy(),
        target.numpy(),
        grad_output=None if grad_output is None else grad_output.numpy(),
        **numpy_options,
    )
    np.testing.assert_allclose(loss.numpy(), expected_loss, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(grad.numpy(), expected_grad, rtol=1e-10, atol=1e-13)


# form x reduction x weighting whole (the mean's divisor is the sum of the target classes'
# weights for class indices and the count of locations for probabilities), smoothing
# pairwise with them.
@pytest.mark.parametrize(
    *covering(
        {"form": ["index", "probs"], "reduction": ["none", "mean", "sum"]},
        {
            "weighting": ["none", "alpha", "alpha-and-weight", "float-alpha"],
            "smoothing": [0.0, 0.15],
        },
    )
)
def test_public_options(form: str, weighting: str, smoothing: float, reduction: str) -> None:
    x = torch.randn(PUBLIC_SHAPE, dtype=torch.float64) * 3
    options: dict[str, Any] = {"reduction": reduction, "label_smoothing": smoothing}
    if weighting in ("alpha", "alpha-and-weight"):
        options["alpha"] = torch.linspace(0.2, 1.2, 6, dtype=torch.float64)
    if weighting == "alpha-and-weight":
        options["weight"] = torch.rand(6, dtype=torch.float64) + 0.1
    if weighting == "float-alpha":
        options["alpha"] = 0.3
    assert_public_matches_oracle(x, public_target(form, PUBLIC_SHAPE), **options)


def _ramp(p: Tensor) -> Tensor:
    return 3.0 * (1.0 - p)


# The whole product: a gamma per element ("flsd53", a callable) is read at the target class
# alone on the path of an index without smoothing, and in tiles on the dense paths (with
# smoothing, or probabilities): gamma x form x smoothing is a three-factor interaction.
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
@pytest.mark.parametrize("gamma", [0.0, 0.3, 2.0, "flsd53", _ramp])
@pytest.mark.parametrize("form", ["index", "probs"])
def test_public_gammas(form: str, gamma: Any, smoothing: float) -> None:
    x = torch.randn(PUBLIC_SHAPE, dtype=torch.float64) * 3
    target = public_target(form, PUBLIC_SHAPE)
    assert_public_matches_oracle(
        x, target, gamma=gamma, label_smoothing=smoothing, reduction="none"
    )


@pytest.mark.parametrize("num_classes", [2, 80, 1000])
@pytest.mark.parametrize("form", ["index", "probs"])
def test_public_class_dim_last(form: str, num_classes: int) -> None:
    # (N, d, C), the classes last, as detection heads lay them out.
    shape = (2, 3, num_classes)
    x = torch.randn(shape, dtype=torch.float64) * 3
    target = public_target(form, shape, class_dim=2)
    assert_public_matches_oracle(x, target, class_dim=-1, reduction="mean")


@pytest.mark.parametrize("form", ["index", "probs"])
def test_public_gamma_zero_is_cross_entropy(form: str) -> None:
    x = torch.randn(PUBLIC_SHAPE, dtype=torch.float64, requires_grad=True)
    target = public_target(form, PUBLIC_SHAPE)
    weight = torch.rand(6, dtype=torch.float64) + 0.1
    options: dict[str, Any] = {"weight": weight, "label_smoothing": 0.2, "ignore_index": IGNORE}
    loss = torchfocal.softmax_focal_loss(x, target, gamma=0.0, backend="triton", **options)
    expected = F.cross_entropy(x, target, **options)
    torch.testing.assert_close(loss, expected, rtol=1e-13, atol=1e-15)
    (grad,) = torch.autograd.grad(loss, x)
    (expected_grad,) = torch.autograd.grad(expected, x)
    torch.testing.assert_close(grad, expected_grad, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
def test_public_half_precision_returns_the_input_dtype(dtype: torch.dtype) -> None:
    x = (torch.randn(PUBLIC_SHAPE) * 3).to(dtype)
    target = public_target("index", PUBLIC_SHAPE)
    loss, grad = public_loss_and_grad(x, target, None)
    assert loss.dtype == dtype and grad.dtype == dtype
    expected_loss, expected_grad = reference.softmax_focal_loss(x.double().numpy(), target.numpy())
    rtol = {torch.float32: 1e-5, torch.bfloat16: 1.6e-2, torch.float16: 2e-3}[dtype]
    np.testing.assert_allclose(loss.double().numpy(), expected_loss, rtol=rtol)
    np.testing.assert_allclose(
        grad.double().numpy(), expected_grad, rtol=rtol, atol=rtol * np.abs(expected_grad).max()
    )


def test_public_autograd_contract() -> None:
    x = torch.randn(PUBLIC_SHAPE, dtype=torch.float64, requires_grad=True)
    probs = public_target("probs", PUBLIC_SHAPE).requires_grad_()
    alpha = torch.rand(6, dtype=torch.float64, requires_grad=True)
    upstream = torch.rand(PUBLIC_SHAPE, dtype=torch.float64)

    def grads(backend: str) -> tuple[Tensor, ...]:
        loss = torchfocal.softmax_focal_loss(x, probs, alpha=alpha, gamma=1.5, backend=backend)
        first = torch.autograd.grad(loss, (x, probs, alpha), create_graph=True)
        (second,) = torch.autograd.grad(first[0], x, upstream)
        return (*first, second)

    for triton_grad, naive_grad in zip(grads("triton"), grads("naive"), strict=True):
        torch.testing.assert_close(triton_grad, naive_grad, rtol=1e-10, atol=1e-14)


def test_public_second_backward_through_a_retained_graph() -> None:
    x = torch.randn(PUBLIC_SHAPE, dtype=torch.float64, requires_grad=True)
    target = public_target("index", PUBLIC_SHAPE)
    loss = torchfocal.softmax_focal_loss(x, target, backend="triton", reduction="sum")
    loss.backward(retain_graph=True)
    assert x.grad is not None
    first = x.grad.clone()
    loss.backward()
    torch.testing.assert_close(x.grad, 2 * first, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("reduction", ["none", "mean"])
@pytest.mark.parametrize("form", ["index", "probs"])
def test_public_no_host_synchronisation(form: str, reduction: str, no_host_reads: None) -> None:
    x = torch.randn(PUBLIC_SHAPE, requires_grad=True)
    target = public_target(form, PUBLIC_SHAPE)
    if target.is_floating_point():
        target = target.float()
    loss = torchfocal.softmax_focal_loss(
        x, target, backend="triton", weight=torch.rand(6), reduction=reduction
    )
    loss.backward(torch.ones_like(loss))
    assert x.grad is not None and x.grad.shape == x.shape


def test_public_value_checks_still_run() -> None:
    with pytest.raises(ValueError, match=r"target class indices must be in \[0, 5\]"):
        torchfocal.softmax_focal_loss(torch.zeros(2, 6), torch.tensor([0, 9]), backend="triton")


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_distribution_focal_loss_runs_on_the_softmax_kernel(weighted: bool, reduction: str) -> None:
    x = torch.randn(5, 4, 17, dtype=torch.float64) * 3
    label = torch.rand(5, 4, dtype=torch.float64) * 16
    label[0, :2] = torch.tensor([0.0, 16.0], dtype=torch.float64)  # both ends of the bins
    weight = torch.rand(5, 4, dtype=torch.float64) if weighted else None
    leaf = x.clone().requires_grad_()
    loss = torchfocal.distribution_focal_loss(
        leaf, label, weight=weight, reduction=reduction, backend="triton"
    )
    (grad,) = torch.autograd.grad(loss, leaf, torch.ones_like(loss))
    expected_loss, expected_grad = reference.distribution_focal_loss(
        x.numpy(),
        label.numpy(),
        weight=None if weight is None else weight.numpy(),
        reduction=reduction,
    )
    np.testing.assert_allclose(loss.detach().numpy(), expected_loss, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(grad.numpy(), expected_grad, rtol=1e-10, atol=1e-13)
