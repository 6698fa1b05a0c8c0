"""``torchfocal bench``: torchfocal's speed and memory as ratios to torch's own loss.

By default it measures the goal table, :data:`GOALS`: each row is one torchfocal call
(loss, backend, shape, target form) whose forward+backward time is divided by its
baseline's, ``F.binary_cross_entropy_with_logits`` on the dense float 0/1 target (BCE) or
``F.cross_entropy`` (CE), both timed in the same run and interleaved (torchfocal, baseline,
torchfocal, baseline, ...); the measured ratio is the median of the per-pair ratios. The
memory row is the peak extra resident bytes of one forward+backward, relative to the
input's bytes, measured in a fresh process (resident peak after a reset through
/proc/self/clear_refs). Every timed row is first checked against the float64 NumPy
reference on the very input it is timed on. float32 on the CPU, with torch's thread count
as it is.

``--sweep`` (or any of ``--sizes``, ``--losses``, ``--dtypes``, ``--repeats``) runs the
older sweep instead: sigmoid focal loss (and the focal family's elementwise losses,
``--losses star asymmetric poly1 varifocal quality``) on (N, 80) and softmax focal loss on
(N, 100) logits for every backend and size, against the same baselines and torchvision's
``sigmoid_focal_loss`` when it is installed, with times as medians of repeated runs and
peak memory per backend.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import torch
import torch.nn.functional as F

from .. import __version__
from ..functional import (
    asymmetric_loss,
    dice_loss,
    poly1_focal_loss,
    quality_focal_loss,
    sigmoid_focal_loss,
    sigmoid_focal_loss_star,
    softmax_focal_loss,
    varifocal_loss,
)
from ._common import CLIError, plain_table, print_json, require_all


@dataclass(frozen=True)
class Goal:
    """One row of the goal table.

    ``baseline`` "BCE" or "CE": torchfocal's forward+backward time over the baseline's, the
    same logits, the baseline's target dense float 0/1 (BCE) or class indices (CE).
    ``baseline`` "input": the peak extra resident bytes of one forward+backward over the
    input's bytes. The Dice rows (``loss`` "dice": softmax Dice of (N, C, d1, ...) logits
    and class indices) compare with a segmentation loss's call: "MONAI" and "autograd Dice"
    (:data:`SEGMENTATION_BASELINES`) time it, "MONAI memory" and "autograd Dice memory"
    divide the peak extra resident bytes by the baseline's own. The row is met when the
    measured ratio is at most ``goal``.
    """

    loss: str  # "sigmoid", "softmax" or "dice"
    backend: str  # "fused" or "compiled"
    shape: tuple[int, ...]  # (N, C) logits; (N, C, d1, ...) for "dice"
    target: str  # "bool", "float" (0/1 values) or "index" (N class indices; C is background)
    goal: float
    baseline: str  # "BCE", "CE", "input", or a segmentation baseline (+ " memory")

    @property
    def case(self) -> str:
        shape = "(" + ", ".join(str(size) for size in self.shape) + ")"
        if self.is_memory:
            return f"{self.loss} {self.backend} peak extra memory {shape} {self.target}"
        return f"{self.loss} {self.backend} {shape} {self.target}"

    @property
    def is_memory(self) -> bool:
        return self.baseline == "input" or self.baseline.endswith(" memory")

    @property
    def compared_with(self) -> str:
        """The baseline call's name: a segmentation baseline without " memory"."""
        return self.baseline.removesuffix(" memory")


def _goal_text(goal: float, baseline: str) -> str:
    return f"<= {goal:.1f}x {baseline}"


def _sigmoid_goals(
    backend: str, shape: tuple[int, int], targets: tuple[str, ...], goal: float
) -> tuple[Goal, ...]:
    return tuple(Goal("sigmoid", backend, shape, target, goal, "BCE") for target in targets)


#: The goals, one row per case and target form (BENCHMARKS.md shows the same table:
#: ``torchfocal bench --list`` prints it).
GOALS: tuple[Goal, ...] = (
    *_sigmoid_goals("fused", (256, 80), ("bool", "float"), 2.5),
    *_sigmoid_goals("fused", (4096, 80), ("bool", "float", "index"), 2.5),
    *_sigmoid_goals("fused", (131072, 80), ("bool", "float", "index"), 1.5),
    *_sigmoid_goals("compiled", (4096, 80), ("bool", "float"), 0.8),
    *_sigmoid_goals("compiled", (131072, 80), ("bool", "float"), 0.6),
    Goal("softmax", "fused", (256, 1000), "index", 2.0, "CE"),
    Goal("softmax", "fused", (100000, 100), "index", 1.2, "CE"),
    Goal("sigmoid", "fused", (125000, 80), "float", 2.0, "input"),  # 1e7 logits
    *(
        Goal("dice", "fused", shape, "index", goal, baseline + kind)
        for baseline in ("MONAI", "autograd Dice")
        for shape in ((2, 4, 96, 96, 96), (16, 21, 256, 256))
        for kind, goal in (("", 0.8), (" memory", 0.5))
    ),
)

#: The segmentation baselines of the "dice" rows, softmax Dice with index targets both:
#: MONAI's loss (it one-hots the labels; skipped where MONAI is not importable) and the
#: plain autograd form (softmax, one-hot, sums; MONAI's math in a few torch lines).
SEGMENTATION_BASELINES = {
    "MONAI": "monai.losses.DiceLoss(to_onehot_y=True, softmax=True)",
    "autograd Dice": "softmax, F.one_hot and the per-(sample, class) sums under autograd",
}

#: What the baselines are, for the report.
BASELINES = {
    "BCE": "F.binary_cross_entropy_with_logits(x, dense float 0/1 target)",
    "CE": "F.cross_entropy(x, class indices)",
    "input": "the input's bytes",
    **SEGMENTATION_BASELINES,
}

#: Fraction of positive elements in the sigmoid targets (detection-like: most anchors and
#: classes are negatives). Index targets get the same fraction: each row is foreground
#: with probability POSITIVE_FRACTION * C, its class drawn uniformly.
POSITIVE_FRACTION = 0.01
#: A torchfocal call may be off by this relative error from the float64 reference (loss,
#: and largest gradient error over the largest gradient): float32 rounding, not a bug.
CHECK_TOLERANCE = 1e-4
#: Each timing runs enough back-to-back calls to cover about this many logits (a few
#: milliseconds, well above the clock's and the scheduler's granularity), at most
#: MAX_CALLS (a --scale'd tiny shape would otherwise take thousands).
ELEMENTS_PER_TIMING = 2_000_000
MAX_CALLS = 100
#: Pairs per row: 21 keeps the whole table at about 1.5 minutes on a 2-core machine.
PAIRS = 21
#: --quick: 3 pairs of one call per row, and no row longer than QUICK_MAX_ROWS rows. The
#: cap leaves the small rows at their own shapes and shrinks the large ones, whose float64
#: reference check and compilation take most of a full-shape run; a capped row is
#: measured, never judged.
QUICK_PAIRS = 3
QUICK_MAX_ROWS = 4096

#: The focal family's elementwise losses (naive and fused backends), with BCE as baseline;
#: "score" losses take IoU-like scores (0 for negatives) as their target.
FAMILY: dict[str, tuple[Callable[..., torch.Tensor], str]] = {
    "star": (sigmoid_focal_loss_star, "mask"),
    "asymmetric": (asymmetric_loss, "mask"),
    "poly1": (poly1_focal_loss, "mask"),
    "varifocal": (varifocal_loss, "score"),
    "quality": (quality_focal_loss, "score"),
}
CLASSES = {"sigmoid": 80, "softmax": 100, **{name: 80 for name in FAMILY}}
SIZES = (100_000, 1_000_000, 10_000_000)
QUICK_SIZES = (20_000,)

#: Working set of one timed case, in bytes per logit of the compute dtype's float32 (float64
#: doubles it): the inputs, targets and gradient plus the naive backends' intermediates,
#: whose measured peak is up to about 33 times the input (the "peak extra / input" column),
#: rounded up to 40 float32 values. A size that needs more than the memory available is
#: refused up front: allocating it would fail deep inside torch or wake the OOM killer.
BYTES_PER_LOGIT = {"float32": 160, "bfloat16": 160, "float64": 320}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--sweep",
        action="store_true",
        help="every backend at every size instead of the goal table (also implied by --sizes, "
        "--losses, --dtypes, --repeats)",
    )
    parser.add_argument(
        "--backends",
        nargs="+",
        default=None,
        help="goal table: fused and/or compiled (the others' rows say skipped); sweep: naive, "
        "fused and/or compiled (default: fused compiled for the goal table, all three for the "
        "sweep)",
    )
    parser.add_argument("--no-memory", action="store_true", help="skip the memory processes")
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"a smoke run. Goal table: every row checked against the reference and timed, "
        f"{QUICK_PAIRS} pairs of one call, N capped at {QUICK_MAX_ROWS} rows (capped rows "
        "are not judged). Sweep: one size, 2 repeats",
    )
    parser.add_argument("--json", action="store_true", help="print JSON")
    goals = parser.add_argument_group("goal table")
    goals.add_argument(
        "--pairs",
        type=int,
        default=None,
        help=f"interleaved pairs per row, >= 1 (default: {PAIRS}; --quick: {QUICK_PAIRS})",
    )
    goals.add_argument(
        "--scale",
        type=float,
        default=None,
        help="multiply every N by this, in (0, 1], for a smoke run (rows are then not judged) "
        "(default: 1)",
    )
    goals.add_argument("--list", action="store_true", help="print the goal table and exit")
    goals.add_argument(
        "--only",
        default=None,
        metavar="TEXT",
        help="measure only the rows whose case or baseline contains TEXT (e.g. 'dice', "
        "'MONAI'); the others say skipped (default: every row)",
    )
    sweep = parser.add_argument_group("sweep")
    sweep.add_argument(
        "--sizes",
        type=float,
        nargs="+",
        default=None,
        help="numbers of logits, whole numbers >= 1 that fit in memory (default: 1e5 1e6 1e7; "
        "--quick: 2e4)",
    )
    sweep.add_argument(
        "--losses",
        nargs="+",
        default=None,
        help=f"any of {', '.join(CLASSES)} (default: sigmoid softmax)",
    )
    sweep.add_argument(
        "--dtypes",
        nargs="+",
        default=None,
        help="any of float32, bfloat16, float64 (default: float32)",
    )
    sweep.add_argument(
        "--repeats",
        type=int,
        default=None,
        help="timed runs per case, >= 1 (default: 7; --quick: 2)",
    )


def _inputs(loss: str, size: int, dtype: torch.dtype, seed: int = 0) -> tuple[Any, ...]:
    generator = torch.Generator().manual_seed(seed)
    classes = CLASSES[loss]
    rows = max(1, size // classes)
    x = (torch.randn(rows, classes, generator=generator) * 3).to(dtype)
    if loss != "softmax":
        mask = torch.rand(rows, classes, generator=generator) < 0.01  # ~1 positive per 100
        if loss in FAMILY and FAMILY[loss][1] == "score":
            score = torch.rand(rows, classes, generator=generator).to(dtype) * mask
            return x, score, score
        return x, mask, mask.to(dtype)
    index = torch.randint(0, classes, (rows,), generator=generator)
    return x, index, index


def _callables(loss: str, backends: list[str]) -> dict[str, Callable[..., torch.Tensor]]:
    """name -> fn(x, target_for_torchfocal, target_for_baseline)."""
    calls: dict[str, Callable[..., torch.Tensor]] = {}
    if loss in FAMILY:
        function = FAMILY[loss][0]
        calls["baseline"] = lambda x, t, b: F.binary_cross_entropy_with_logits(x, b)
        for backend in backends:
            if backend != "compiled":  # the family has naive and fused backends
                calls[backend] = lambda x, t, b, backend=backend: function(x, t, backend=backend)
    elif loss == "sigmoid":
        calls["baseline"] = lambda x, t, b: F.binary_cross_entropy_with_logits(x, b)
        for backend in backends:
            calls[backend] = lambda x, t, b, backend=backend: sigmoid_focal_loss(
                x, t, backend=backend
            )
        try:
            from torchvision.ops import sigmoid_focal_loss as torchvision_focal
        except Exception:  # torchvision absent or not matching this torch
            pass
        else:
            calls["torchvision"] = lambda x, t, b: torchvision_focal(x, b, reduction="mean")
    else:
        calls["baseline"] = lambda x, t, b: F.cross_entropy(x, b)
        for backend in backends:
            calls[backend] = lambda x, t, b, backend=backend: softmax_focal_loss(
                x, t, backend=backend
            )
    return calls


def _check(loss: str, calls: dict[str, Callable[..., torch.Tensor]]) -> dict[str, float]:
    """Largest relative error of each focal backend against the float64 reference."""
    import numpy as np

    from .. import reference

    x, target, baseline_target = _inputs(loss, 4000, torch.float64, seed=1)
    if loss in FAMILY:
        oracle = getattr(reference, FAMILY[loss][0].__name__)
        expected, expected_grad = oracle(x.numpy(), target.numpy())
    elif loss == "sigmoid":
        expected, expected_grad = reference.sigmoid_focal_loss(x.numpy(), target.numpy())
    else:
        expected, expected_grad = reference.softmax_focal_loss(x.numpy(), target.numpy())
    errors = {}
    for name, fn in calls.items():
        if name == "baseline":
            continue
        xx = x.clone().requires_grad_(True)
        value = fn(xx, target, baseline_target)
        (grad,) = torch.autograd.grad(value, xx)
        value = value.detach()
        error = max(
            abs(float(value) - float(expected)) / abs(float(expected)),
            float(np.abs(grad.numpy() - expected_grad).max() / np.abs(expected_grad).max()),
        )
        if name != "torchvision" and error > 1e-6:
            raise CLIError(f"{loss} backend {name!r} disagrees with the reference ({error:.2e})")
        errors[name] = error
    return errors


def _forward(fn: Callable[..., torch.Tensor], x: torch.Tensor, *targets: torch.Tensor) -> None:
    with torch.no_grad():
        fn(x, *targets)


def _forward_backward(
    fn: Callable[..., torch.Tensor], x: torch.Tensor, *targets: torch.Tensor
) -> None:
    fn(x.detach().requires_grad_(True), *targets).backward()


def _time(fn: Callable[[], Any], repeats: int) -> float:
    fn()  # warm-up (and compilation for the compiled backend)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _memory_process(call: str) -> int | None:
    """Run ``bench.<call>`` in a fresh process; the bytes it prints, None where unavailable."""
    if not os.path.exists("/proc/self/clear_refs"):
        return None
    code = f"from torchfocal.cli import bench\nbench.{call}\n"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=600, check=False
    )
    if result.returncode != 0:
        return None
    return int(result.stdout.strip().splitlines()[-1])


def _memory(loss: str, name: str, size: int, dtype: str, backends: list[str]) -> int | None:
    """Peak resident bytes of one forward+backward above the inputs, in a fresh process."""
    return _memory_process(f"_memory_child({loss!r}, {name!r}, {size}, {dtype!r}, {backends!r})")


def _status_kb(field: str) -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(field):
                return int(line.split()[1]) * 1024
    raise RuntimeError(field)  # pragma: no cover


def _print_peak_extra(step: Callable[[], None]) -> None:
    """Print the resident peak of ``step`` above the resident size before it."""
    with open("/proc/self/clear_refs", "w", encoding="ascii") as refs:
        refs.write("5")  # reset the peak resident size to the current one
    before = _status_kb("VmRSS")
    step()
    print(_status_kb("VmHWM") - before)


def _memory_child(loss: str, name: str, size: int, dtype: str, backends: list[str]) -> None:
    fn = _callables(loss, backends)[name]
    x, target, baseline_target = _inputs(loss, size, getattr(torch, dtype))
    small = _inputs(loss, 2000, getattr(torch, dtype))
    warm = small[0].clone().requires_grad_(True)
    fn(warm, small[1], small[2]).backward()  # load kernels (and compile) before measuring
    x.requires_grad_(True)
    _print_peak_extra(lambda: fn(x, target, baseline_target).backward())


def run_benchmark(
    sizes: list[int],
    losses: list[str],
    dtypes: list[str],
    backends: list[str],
    repeats: int,
    memory: bool,
) -> dict[str, Any]:
    rows = []
    checks = {}
    for loss in losses:
        calls = _callables(loss, backends)
        checks[loss] = _check(loss, calls)
        for dtype_name in dtypes:
            dtype = getattr(torch, dtype_name)
            for size in sizes:
                x, target, baseline_target = _inputs(loss, size, dtype)
                times: dict[str, dict[str, float]] = {}
                args = (x, target, baseline_target)
                for name, fn in calls.items():
                    times[name] = {
                        "forward": _time(partial(_forward, fn, *args), repeats),
                        "forward_backward": _time(partial(_forward_backward, fn, *args), repeats),
                    }
                    if memory:
                        extra = _memory(loss, name, size, dtype_name, backends)
                        times[name]["peak_extra_bytes"] = (
                            float(extra) if extra is not None else float("nan")
                        )
                input_bytes = x.numel() * x.element_size()
                for name, measured in times.items():
                    row = {
                        "loss": loss,
                        "dtype": dtype_name,
                        "elements": int(x.numel()),
                        "backend": name,
                        **measured,
                        "forward_ratio": measured["forward"] / times["baseline"]["forward"],
                        "forward_backward_ratio": measured["forward_backward"]
                        / times["baseline"]["forward_backward"],
                    }
                    if "peak_extra_bytes" in measured:
                        row["peak_extra_over_input"] = measured["peak_extra_bytes"] / input_bytes
                    rows.append(row)
    return {
        "mode": "sweep",
        **_environment(),
        "repeats": repeats,
        "reference_check_relative_error": checks,
        "rows": rows,
    }


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def format_table(result: dict[str, Any]) -> str:
    columns = [
        "loss",
        "dtype",
        "elements",
        "backend",
        "fwd x base",
        "fwd+bwd x base",
        "peak extra / input",
        "fwd ms",
        "fwd+bwd ms",
    ]
    rows = []
    for row in result["rows"]:
        extra = row.get("peak_extra_over_input")
        rows.append(
            [
                row["loss"],
                row["dtype"],
                f"{row['elements']:.0e}",
                row["backend"],
                f"{row['forward_ratio']:.2f}",
                f"{row['forward_backward_ratio']:.2f}",
                "-" if extra is None else f"{extra:.2f}",
                f"{1000 * row['forward']:.2f}",
                f"{1000 * row['forward_backward']:.2f}",
            ]
        )
    header = (
        f"{_environment_line(result)}; median of {result['repeats']} runs; "
        "ratios are to the baseline (F.binary_cross_entropy_with_logits / F.cross_entropy) "
        "measured in the same run"
    )
    return plain_table(header, columns, rows)


def _goal_shape(goal: Goal, scale: float, max_rows: int | None) -> tuple[int, ...]:
    """The row's shape: N (for "dice" the first spatial size) scaled and capped at
    ``max_rows`` rows (for "dice", locations)."""
    if goal.loss != "dice":
        rows = max(1, round(goal.shape[0] * scale))
        return (rows if max_rows is None else min(rows, max_rows), goal.shape[1])
    first = max(1, round(goal.shape[2] * scale))
    if max_rows is not None:
        others = math.prod(goal.shape) // (goal.shape[1] * goal.shape[2])
        first = max(1, min(first, max_rows // others))
    return (*goal.shape[:2], first, *goal.shape[3:])


def _goal_inputs(
    goal: Goal, shape: tuple[int, ...]
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(logits, torchfocal's target, the baseline's target), from a fixed seed."""
    generator = torch.Generator().manual_seed(0)
    if goal.loss == "dice":
        x = torch.randn(shape, generator=generator)
        index = torch.randint(0, shape[1], (shape[0], *shape[2:]), generator=generator)
        return x, index, index
    rows, classes = shape
    x = torch.randn(rows, classes, generator=generator) * 3
    if goal.loss == "softmax":
        index = torch.randint(0, classes, (rows,), generator=generator)
        return x, index, index
    if goal.target == "index":
        foreground = torch.rand(rows, generator=generator) < POSITIVE_FRACTION * classes
        drawn = torch.randint(0, classes, (rows,), generator=generator)
        index = torch.where(foreground, drawn, classes)  # class C is the background
        dense = F.one_hot(index, classes + 1)[:, :classes].float()
        return x, index, dense
    mask = torch.rand(rows, classes, generator=generator) < POSITIVE_FRACTION
    return x, mask if goal.target == "bool" else mask.float(), mask.float()


def _goal_loss(goal: Goal) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    functions: dict[str, Callable[..., torch.Tensor]] = {
        "sigmoid": sigmoid_focal_loss,
        "softmax": softmax_focal_loss,
        "dice": dice_loss,
    }
    return partial(functions[goal.loss], backend=goal.backend)


def autograd_dice(x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Softmax Dice with class indices as a plain autograd user writes it (MONAI's math:
    smooth 1e-5 above and below, mean over samples and classes)."""
    p = torch.softmax(x, dim=1)
    one_hot = F.one_hot(target, x.shape[1]).movedim(-1, 1).to(x.dtype)
    dims = list(range(2, x.dim()))
    intersection = (p * one_hot).sum(dims)
    denominator = p.sum(dims) + one_hot.sum(dims)
    return (1.0 - (2.0 * intersection + 1e-5) / (denominator + 1e-5)).mean()


def monai_importable() -> bool:
    try:
        import monai.losses  # noqa: F401
    except Exception:  # absent, or not matching this torch
        return False
    return True


def _goal_baseline(goal: Goal) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    if goal.loss == "sigmoid":
        return partial(F.binary_cross_entropy_with_logits, reduction="mean")
    if goal.loss == "softmax":
        return partial(F.cross_entropy, reduction="mean")
    if goal.compared_with == "autograd Dice":
        return autograd_dice
    from monai.losses.dice import DiceLoss

    monai_dice = DiceLoss(to_onehot_y=True, softmax=True)
    return lambda x, target: monai_dice(x, target.unsqueeze(1))


def _check_goal(goal: Goal, x: torch.Tensor, target: torch.Tensor) -> float:
    """Relative error of the row's torchfocal call against the float64 reference."""
    import numpy as np

    from .. import reference

    xx = x.detach().clone().requires_grad_(True)
    value = _goal_loss(goal)(xx, target)
    (grad,) = torch.autograd.grad(value, xx)
    value = value.detach()
    oracle = (
        reference.dice_loss
        if goal.loss == "dice"
        else getattr(reference, f"{goal.loss}_focal_loss")
    )
    expected, expected_grad = oracle(x.detach().double().numpy(), target.numpy())
    error = max(
        abs(float(value) - float(expected)) / abs(float(expected)),
        float(np.abs(grad.double().numpy() - expected_grad).max() / np.abs(expected_grad).max()),
    )
    if not error <= CHECK_TOLERANCE:  # NaN fails too
        raise CLIError(f"{goal.case}: torchfocal disagrees with the reference ({error:.2e})")
    return error


def _timed(step: Callable[[], Any], calls: int, clock: Callable[[], float]) -> float:
    start = clock()
    for _ in range(calls):
        step()
    return clock() - start


def paired_ratio(
    ours: Callable[[], Any],
    theirs: Callable[[], Any],
    *,
    pairs: int,
    calls: int,
    clock: Callable[[], float] = time.perf_counter,
) -> dict[str, Any]:
    """The median over ``pairs`` of ours' time over theirs', timed alternately.

    Each timing is ``calls`` back-to-back calls. The two alternate (ours, theirs, ours,
    theirs, ...) so that both see the same machine load, and the median of the per-pair
    ratios ignores the pairs a burst of load hit. One untimed call of each comes first:
    it loads kernels, sizes the allocator and, for the compiled backend, compiles.
    """
    ours()
    theirs()
    ratios: list[float] = []
    ours_times: list[float] = []
    theirs_times: list[float] = []
    for _ in range(pairs):
        ours_times.append(_timed(ours, calls, clock) / calls)
        theirs_times.append(_timed(theirs, calls, clock) / calls)
        ratios.append(ours_times[-1] / theirs_times[-1])
    return {
        "ratio": statistics.median(ratios),
        "ratios": ratios,
        "ms": 1000 * statistics.median(ours_times),
        "baseline_ms": 1000 * statistics.median(theirs_times),
    }


def ratio_spread(ratios: list[float]) -> tuple[float, float]:
    """The smallest and the largest of a row's per-pair ratios."""
    return min(ratios), max(ratios)


def verdict(ratios: list[float], goal: float) -> str:
    """ "yes" where the row's spread (:func:`ratio_spread`) lies at or below its goal, "no"
    where it lies above, "noisy" where it crosses the goal: a run whose pairs disagree
    about the goal says so rather than answer at random."""
    lower, upper = ratio_spread(ratios)
    if upper <= goal:
        return "yes"
    if lower > goal:
        return "no"
    return "noisy"


def _forward_backward_step(
    fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], x: torch.Tensor, t: torch.Tensor
) -> Callable[[], None]:
    def step() -> None:
        fn(x.detach().requires_grad_(True), t).backward()

    return step


def _time_goal(goal: Goal, shape: tuple[int, ...], pairs: int, calls: int | None) -> dict[str, Any]:
    x, target, baseline_target = _goal_inputs(goal, shape)
    error = _check_goal(goal, x, target)  # also the compiled backend's compilation
    if calls is None:
        calls = max(1, min(MAX_CALLS, round(ELEMENTS_PER_TIMING / x.numel())))
    timing = paired_ratio(
        _forward_backward_step(_goal_loss(goal), x, target),
        _forward_backward_step(_goal_baseline(goal), x, baseline_target),
        pairs=pairs,
        calls=calls,
    )
    return {
        "measured": timing["ratio"],
        "ms": timing["ms"],
        "baseline_ms": timing["baseline_ms"],
        "pairs": pairs,
        "calls_per_timing": calls,
        "ratios": timing["ratios"],
        "spread": list(ratio_spread(timing["ratios"])),
        "reference_check_relative_error": error,
    }


def _goal_memory_child(index: int, shape: tuple[int, ...], side: str) -> None:
    """Print the peak extra bytes of one forward+backward of a goal's ``side``."""
    goal = GOALS[index]
    ours = side == "torchfocal"
    fn = _goal_loss(goal) if ours else _goal_baseline(goal)
    # A warm-up call on a small input of the same layout loads the kernels first.
    small_shape = (64, shape[1]) if goal.loss != "dice" else (*shape[:2], *[2] * (len(shape) - 2))
    small = _goal_inputs(goal, small_shape)
    fn(small[0].requires_grad_(True), small[1] if ours else small[2]).backward()
    x, target, baseline_target = _goal_inputs(goal, shape)
    x.requires_grad_(True)
    _print_peak_extra(lambda: fn(x, target if ours else baseline_target).backward())


def _memory_goal(goal: Goal, shape: tuple[int, ...]) -> dict[str, Any]:
    index = GOALS.index(goal)
    input_bytes = math.prod(shape) * 4  # float32
    extra = _memory_process(f"_goal_memory_child({index}, {shape}, 'torchfocal')")
    if extra is None:
        return {"status": "unavailable", "measured": None, "input_bytes": input_bytes}
    baseline = _memory_process(f"_goal_memory_child({index}, {shape}, 'baseline')")
    if goal.baseline != "input":
        if baseline is None:
            return {"status": "unavailable", "measured": None, "input_bytes": input_bytes}
        return {
            "measured": extra / baseline,
            "peak_extra_bytes": extra,
            "baseline_peak_extra_bytes": baseline,
            "input_bytes": input_bytes,
            "peak_extra_over_input": extra / input_bytes,
            "baseline_peak_extra_over_input": baseline / input_bytes,
        }
    return {
        "measured": extra / input_bytes,
        "peak_extra_bytes": extra,
        "input_bytes": input_bytes,
        # BCE's own figure on the same input and target, for scale.
        "baseline_peak_extra_over_input": None if baseline is None else baseline / input_bytes,
    }


def run_goals(
    *,
    backends: list[str],
    memory: bool,
    pairs: int,
    calls: int | None,
    scale: float,
    max_rows: int | None,
    only: str | None = None,
) -> dict[str, Any]:
    """Measure every row of :data:`GOALS`; rows left out by the options say "skipped".

    ``calls`` fixes the calls per timing (None: enough for ELEMENTS_PER_TIMING logits);
    ``scale`` multiplies every N, for smoke tests: a scaled row is measured but not judged
    (its "met" is None), the goals being for the full shapes; so is a row that ``max_rows``
    (None: no cap) shortens. ``only`` (None: every row) measures the rows whose case or
    baseline contains it.
    """
    rows = []
    monai = monai_importable()
    for goal in GOALS:
        shape = _goal_shape(goal, scale, max_rows)
        row: dict[str, Any] = {
            "case": goal.case,
            "loss": goal.loss,
            "backend": goal.backend,
            "shape": list(shape),
            "target": goal.target,
            "baseline": goal.baseline,
            "goal": goal.goal,
            "status": "measured",
        }
        if (
            goal.backend not in backends
            or (only is not None and only not in f"{goal.case} {goal.baseline}")
            or (goal.is_memory and not memory)
            or (goal.compared_with == "MONAI" and not monai)
        ):
            row.update(status="skipped", measured=None)
        elif goal.is_memory:
            row.update(_memory_goal(goal, shape))
        else:
            row.update(_time_goal(goal, shape, pairs, calls))
        judged = row["status"] == "measured" and scale == 1 and shape == goal.shape
        if not judged:
            row["verdict"] = "-"
        elif "ratios" in row:
            row["verdict"] = verdict(row["ratios"], goal.goal)
        else:  # the memory row: one measurement
            row["verdict"] = "yes" if row["measured"] <= goal.goal else "no"
        # True / False where the row is judged and its spread is on one side of the goal
        row["met"] = {"yes": True, "no": False}.get(row["verdict"])
        rows.append(row)
    return {
        "mode": "goals",
        **_environment(),
        "dtype": "float32",
        "pairs": pairs,
        "scale": scale,
        "max_rows": max_rows,
        "baselines": BASELINES,
        "rows": rows,
    }


def format_goals(result: dict[str, Any]) -> str:
    """The report: case | goal | measured | spread | met."""
    rows = []
    for row in result["rows"]:
        measured = f"{row['measured']:.2f}x" if row["status"] == "measured" else row["status"]
        spread = f"{row['spread'][0]:.2f}-{row['spread'][1]:.2f}x" if "spread" in row else "-"
        goal = _goal_text(row["goal"], row["baseline"])
        rows.append([row["case"], goal, measured, spread, row["verdict"]])
    baselines = "; ".join(f"{name} = {text}" for name, text in result["baselines"].items())
    header = (
        f"{_environment_line(result)}\n"
        f"forward+backward, {result['dtype']}: median over {result['pairs']} interleaved pairs "
        "(torchfocal, baseline, torchfocal, ...) of the per-pair time ratio, baseline timed in "
        "the same run\nmemory: peak extra resident bytes of one forward+backward in a fresh "
        f"process\n{baselines}\nspread: the smallest to the largest per-pair ratio; met: "
        "yes where the spread lies at or below the goal, no where above it, noisy "
        "where it crosses the goal, - where the row is not judged"
    )
    if result["max_rows"] is not None:
        header += (
            f"\nN capped at {result['max_rows']} rows (--quick): a row so capped is "
            "measured, not judged."
        )
    if result["scale"] != 1:
        header += (
            f"\nN scaled by {result['scale']:g}: the goals are for the full shapes, "
            "so no row is judged."
        )
    return plain_table(header, ["case", "goal", "measured", "spread", "met"], rows)


def goals_markdown() -> str:
    """The goal table as Markdown (what BENCHMARKS.md shows)."""
    lines = ["| case | goal |", "|---|---|"]
    lines += [f"| {goal.case} | {_goal_text(goal.goal, goal.baseline)} |" for goal in GOALS]
    return "\n".join(lines)


def _environment() -> dict[str, Any]:
    return {
        "torchfocal": __version__,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "processor": _cpu_name(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }


def _environment_line(result: dict[str, Any]) -> str:
    return (
        f"torchfocal {result['torchfocal']}, torch {result['torch']}, {result['processor']}, "
        f"{result['cpu_count']} CPUs, {result['torch_threads']} torch threads, "
        f"load average {result['load_average']}"
    )


def _available_memory() -> int | None:
    """Bytes of memory available to a new allocation without swapping, where known."""
    try:
        with open("/proc/meminfo", encoding="ascii") as info:
            for line in info:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, OSError, ValueError):
        return None


def _check_sizes(values: list[float], dtypes: list[str]) -> list[int]:
    """--sizes as whole numbers of logits >= 1 whose working set fits in memory."""
    sizes = []
    for value in values:
        if not math.isfinite(value):
            raise CLIError(f"--sizes must be finite numbers of logits; got {value!r}")
        if value != math.floor(value):
            raise CLIError(f"--sizes must be whole numbers of logits; got {value!r}")
        if value < 1:
            raise CLIError(f"--sizes must be >= 1; got {value:g}")
        sizes.append(int(value))
    available = _available_memory()
    if available is not None:
        per_logit = max(BYTES_PER_LOGIT[dtype] for dtype in dtypes)
        for size in sizes:
            needed = size * per_logit
            if needed > available:
                raise CLIError(
                    f"--sizes {size:g} needs about {needed / 2**30:.3g} GiB ({per_logit} bytes "
                    f"per logit), more than the {available / 2**30:.3g} GiB of memory available"
                )
    return sizes


def _run_sweep(args: argparse.Namespace) -> dict[str, Any]:
    losses = args.losses or ["sigmoid", "softmax"]
    dtypes = args.dtypes or ["float32"]
    backends = args.backends or ["naive", "fused", "compiled"]
    for loss in losses:
        if loss not in CLASSES:
            raise CLIError(f"--losses must be among {', '.join(CLASSES)}; got {loss!r}")
    for dtype in dtypes:
        if dtype not in ("float32", "bfloat16", "float64"):
            raise CLIError(f"--dtypes must be float32, bfloat16 or float64; got {dtype!r}")
    for backend in backends:
        if backend not in ("naive", "fused", "compiled"):
            raise CLIError(f"--backends must be naive, fused or compiled; got {backend!r}")
    sizes = (
        _check_sizes(args.sizes, dtypes)
        if args.sizes
        else list(QUICK_SIZES if args.quick else SIZES)
    )
    if args.repeats is not None and args.repeats < 1:
        raise CLIError(f"--repeats must be >= 1; got {args.repeats}")
    repeats = args.repeats if args.repeats is not None else (2 if args.quick else 7)
    return run_benchmark(sizes, losses, dtypes, backends, repeats, memory=not args.no_memory)


def _run_goals(args: argparse.Namespace) -> dict[str, Any]:
    backends = args.backends or ["fused", "compiled"]
    for backend in backends:
        if backend not in ("fused", "compiled"):
            raise CLIError(
                f"--backends must be fused or compiled for the goal table (the others are in "
                f"--sweep); got {backend!r}"
            )
    if args.pairs is not None and args.pairs < 1:
        raise CLIError(f"--pairs must be >= 1; got {args.pairs}")
    scale = 1.0 if args.scale is None else args.scale
    if not 0 < scale <= 1:  # NaN fails too
        raise CLIError(f"--scale must be in (0, 1]; got {scale!r}")
    pairs = args.pairs if args.pairs is not None else (QUICK_PAIRS if args.quick else PAIRS)
    return run_goals(
        backends=backends,
        memory=not args.no_memory,
        pairs=pairs,
        calls=1 if args.quick else None,
        scale=scale,
        max_rows=QUICK_MAX_ROWS if args.quick else None,
        only=args.only,
    )


def run(args: argparse.Namespace) -> int:
    sweep_options = {
        "--sizes": args.sizes,
        "--losses": args.losses,
        "--dtypes": args.dtypes,
        "--repeats": args.repeats,
    }
    sweep = args.sweep or any(value is not None for value in sweep_options.values())
    if sweep:
        goal_options = {
            "--pairs": args.pairs is not None,
            "--scale": args.scale is not None,
            "--only": args.only is not None,
        }
        goal_options["--list"] = args.list
        for name, given in goal_options.items():
            if given:
                raise CLIError(
                    f"{name} is an option of the goal table; it does not go with --sweep"
                )
        require_all("numpy")  # every case is first checked against the NumPy reference
        result = _run_sweep(args)
    elif args.list:
        print(goals_markdown())
        return 0
    else:
        require_all("numpy")
        result = _run_goals(args)
    if args.json:
        print_json(result)
    else:
        print(format_table(result) if sweep else format_goals(result))
    return 0
