"""GPU benchmark: torchfocal's Triton, fused and compiled backends against torch, torchvision
and MONAI.

How to run, on the GPU machine, from the repository root (everything is written into the
folder ``$OUT`` if it is set, else next to this file; ``--out DIR`` chooses another):

    PYTHONUNBUFFERED=1 PYTHONPATH=src python3 benchmarks/gpu.py

The CPU smoke run of the same code path at tiny sizes (what tests/test_gpu_bench.py runs):

    PYTHONPATH=src python benchmarks/gpu.py --smoke --backends fused --out /tmp/gpu-smoke

What one run measures, in this order:

1. No host synchronisation: a small training step (a linear layer producing the logits, the
   loss at its default options, backward, ``optimizer.step``) per torchfocal loss and
   backend, under ``torch.cuda.set_sync_debug_mode("error")``, after one step outside it
   (the first call compiles kernels and grows the allocator's pool).
2. Per case (float32 cases first: every goal is judged on one), each implementation's
   forward+backward (``torch.autograd.grad`` of the scalar loss, so no gradient is
   accumulated into ``.grad``): warm-up calls; the peak memory of one call; the relative
   error of its loss and gradient against torchfocal's naive backend in float64 on the same
   values; then rounds in which every implementation and a device-to-device copy
   (``Tensor.copy_``) of the bytes the torchfocal call must move are timed once each, the
   order rotated every round. A timing is a burst of calls between two CUDA events, long
   enough to be well above the events' resolution; inputs that fit the L2 cache twice over
   are rotated through several copies, so that the cache does not serve them. Times are
   medians per call; ratios (to the baseline, to the copy's bandwidth, torchvision to
   triton) are medians of the per-round ratios.
3. The goals, each with its measured value, threshold and whether it is met.

The segmentation rows ("dice" cases: softmax Dice of (N, C, d1, ...) logits and class
indices, the issue's 3-D (2, 4, 96, 96, 96) and 2-D (16, 21, 256, 256) shapes, float32) time
``torchfocal.dice_loss`` against MONAI's ``DiceLoss(to_onehot_y=True, softmax=True)`` (where
importable) and against the plain autograd form a user writes (softmax, ``F.one_hot``, the
sums; the baseline); their goals are time <= 0.8x and peak extra memory <= 0.5x MONAI's.

Bytes moved by a loss's forward+backward are counted as the fewest any implementation must
move: the logits read once, the target read once (at its own dtype: 1 byte for bool, 8 for
int64 class indices) and the gradient written once; the scalar loss and any re-reads are
not counted. Achieved bandwidth is those bytes over the median time.

Run time. Every case's timed work is bounded by rounds x (implementations + 1) timings of
max(MIN_TIMING_MS, one call) each, plus WARMUP_CALLS + 3 calls per implementation: at the
1e8 sizes, where one call is longest, ROUNDS_LARGE rounds. What cannot be bounded ahead is
compilation (Triton kernels, torch.compile for "compiled") on the first calls; so cases that
would start after ``--budget-s`` seconds (default 420, inside the GPU machine's 600 s per
call) are recorded as skipped, and the JSON is rewritten after every case.
"""

from __future__ import annotations

import argparse
import datetime
import functools
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

import torchfocal

HERE = Path(__file__).resolve().parent
RESULTS_JSON = "results-gpu.json"
TABLE_MD = "gpu-table.md"
# A smoke run writes beside, never over, a real run's files.
SMOKE_RESULTS_JSON = "results-gpu-smoke.json"
SMOKE_TABLE_MD = "gpu-table-smoke.md"

TORCHFOCAL_BACKENDS = ("triton", "fused", "compiled")
SIGMOID_CLASSES = 80
SOFTMAX_CLASSES = 1000
#: The segmentation issue's Dice shapes: a 3-D volume of 4 classes, 2-D images of 21.
DICE_SHAPES = ((2, 4, 96, 96, 96), (16, 21, 256, 256))
DICE_SMOKE_SIDE = 4  # every spatial size of a smoke run's Dice case
MONAI = "MONAI"
AUTOGRAD_DICE = "autograd Dice"
POSITIVE_FRACTION = 0.01  # about one positive in 100, as in the CPU benchmark

WARMUP_CALLS = 3
ROUNDS = 21
ROUNDS_LARGE = 9  # from LARGE_ELEMENTS on, where each call takes longest
LARGE_ELEMENTS = 50_000_000
# Bursts at least this long keep the events' resolution (about half a microsecond, as
# cudaEventElapsedTime documents) and the gaps between launches small beside them.
MIN_TIMING_MS = 1.0
MAX_CALLS_PER_TIMING = 50
MAX_INPUT_SETS = 16
DEFAULT_BUDGET_S = 420.0

SMOKE_SCALE = 1e-4  # rows scaled by this (at least SMOKE_MIN_ROWS): every case stays tiny
SMOKE_MIN_ROWS = 4
SMOKE_ROUNDS = 3
SMOKE_WARMUP_CALLS = 1

# Relative error (2-norm) against float64 within which an implementation computes the same
# function: float32 arithmetic lands far below 1e-4; bfloat16 outputs carry 8 bits.
CHECK_TOLERANCE = {torch.float32: 1e-4, torch.bfloat16: 1e-2}

SYNC_ROWS, SYNC_FEATURES, SYNC_STEPS = 4096, 64, 3
NO_CUDA = "skipped (no CUDA)"

LossFunction = Callable[[Tensor, Tensor], Tensor]


# Cases ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One input: the loss it feeds, its full (N, C) shape ((N, C, d1, ...) for "dice"),
    dtype and target form."""

    loss: str  # "sigmoid" | "softmax" | "dice"
    label: str  # "1e7" for an element count, "(65536, 1000)" for a named shape
    full_shape: tuple[int, ...]
    dtype: torch.dtype
    target: str  # "bool" | "float" (0/1 values) | "index"

    @property
    def name(self) -> str:
        return f"{self.loss} {self.label} {dtype_name(self.dtype)} {self.target}"

    def shape(self, smoke: bool) -> tuple[int, ...]:
        if not smoke:
            return self.full_shape
        if self.loss == "dice":
            spatial = len(self.full_shape) - 2
            return (*self.full_shape[:2], *[DICE_SMOKE_SIDE] * spatial)
        rows, classes = self.full_shape
        return max(SMOKE_MIN_ROWS, round(rows * SMOKE_SCALE)), classes

    @property
    def baseline(self) -> str:
        if self.loss == "dice":
            return AUTOGRAD_DICE
        return "F.binary_cross_entropy_with_logits" if self.loss == "sigmoid" else "F.cross_entropy"


def dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def _by_elements(
    loss: str, elements: int, classes: int, target: str
) -> tuple[str, str, tuple[int, int], str]:
    """A case named by its element count: (elements / classes, classes) logits."""
    return loss, f"1e{round(math.log10(elements))}", (elements // classes, classes), target


def all_cases() -> list[Case]:
    """Every case, float32 first: the goals are all judged on float32 cases, so a run cut
    short by its time budget loses bfloat16 cases first. The Dice cases are float32 only
    (their goals are MONAI's float32 time and memory)."""
    specs: list[tuple[str, str, tuple[int, ...], str]] = [
        *(_by_elements("sigmoid", n, SIGMOID_CLASSES, "bool") for n in (10**6, 10**7, 10**8)),
        _by_elements("sigmoid", 10**7, SIGMOID_CLASSES, "float"),
        *(_by_elements("softmax", n, SOFTMAX_CLASSES, "index") for n in (10**6, 10**7, 10**8)),
        ("softmax", "(65536, 1000)", (65536, 1000), "index"),
        ("softmax", "(8192, 32000)", (8192, 32000), "index"),
    ]
    dice = [Case("dice", str(shape), shape, torch.float32, "index") for shape in DICE_SHAPES]
    float32, bfloat16 = (
        [Case(loss, label, shape, dtype, target) for loss, label, shape, target in specs]
        for dtype in (torch.float32, torch.bfloat16)
    )
    return [*float32, *dice, *bfloat16]


def target_bytes(case: Case, shape: tuple[int, ...], form: str) -> int:
    """The target's bytes: one int64 index per location (every element but the class
    dimension 1), else one value per logit."""
    elements = math.prod(shape)
    if form == "index":
        return elements // shape[1] * torch.empty((), dtype=torch.int64).element_size()
    size = 1 if form == "bool" else torch.empty((), dtype=case.dtype).element_size()
    return elements * size


def logits_bytes(case: Case, shape: tuple[int, ...]) -> int:
    return math.prod(shape) * torch.empty((), dtype=case.dtype).element_size()


# Inputs and implementations -----------------------------------------------------------------


@dataclass
class InputSet:
    """One copy of a case's inputs: the logits (a leaf that requires grad) and the target in
    every form an implementation of the case reads ("bool", "float", "index")."""

    logits: Tensor
    targets: dict[str, Tensor]


def make_inputs(case: Case, shape: tuple[int, ...], device: torch.device) -> InputSet:
    logits = torch.randn(shape, device=device, dtype=case.dtype).requires_grad_()
    if case.loss == "dice":
        locations = (shape[0], *shape[2:])
        return InputSet(logits, {"index": torch.randint(0, shape[1], locations, device=device)})
    if case.loss == "softmax":
        index = torch.randint(0, shape[1], (shape[0],), device=device)
        return InputSet(logits, {"index": index})
    mask = torch.rand(shape, device=device) < POSITIVE_FRACTION
    # The baseline and torchvision read the same values as floats of the logits' dtype.
    targets = {"float": mask.to(case.dtype)}
    if case.target == "bool":
        targets["bool"] = mask
    return InputSet(logits, targets)


def input_set_count(set_bytes: int, cache_bytes: int) -> int:
    """Copies of the inputs to rotate through, so that the working set is at least twice
    the cache: a call then finds its inputs evicted, as a training step does."""
    if cache_bytes <= 0 or set_bytes <= 0:
        return 1
    return max(1, min(MAX_INPUT_SETS, math.ceil(2 * cache_bytes / set_bytes)))


@dataclass(frozen=True)
class Implementation:
    name: str
    loss: LossFunction
    target: str  # the key of InputSet.targets it reads


def torchfocal_loss(case: Case) -> Callable[..., Tensor]:
    if case.loss == "dice":
        return torchfocal.dice_loss
    if case.loss == "sigmoid":
        return torchfocal.sigmoid_focal_loss
    return torchfocal.softmax_focal_loss


def implementations(case: Case, backends: Sequence[str]) -> list[Implementation]:
    """torchfocal's backends, torchvision's focal loss (sigmoid) or MONAI's DiceLoss (dice),
    where importable, and the baseline last. Every loss at its default options, reduction
    "mean"."""
    focal = torchfocal_loss(case)
    found: list[Implementation] = [
        Implementation(
            f"torchfocal {backend}",
            functools.partial(focal, reduction="mean", backend=backend),
            case.target,
        )
        for backend in backends
    ]
    if case.loss == "dice":
        monai = monai_dice_loss()
        if monai is not None:
            found.append(Implementation(MONAI, monai, "index"))
        found.append(Implementation(case.baseline, autograd_dice, "index"))
    elif case.loss == "sigmoid":
        vision = torchvision_sigmoid_focal_loss()
        if vision is not None:
            found.append(
                Implementation(
                    "torchvision",
                    lambda x, t: vision(x, t, alpha=0.25, gamma=2, reduction="mean"),
                    "float",
                )
            )
        found.append(
            Implementation(
                case.baseline,
                lambda x, t: F.binary_cross_entropy_with_logits(x, t, reduction="mean"),
                "float",
            )
        )
    else:
        found.append(
            Implementation(
                case.baseline, lambda x, t: F.cross_entropy(x, t, reduction="mean"), "index"
            )
        )
    return found


def monai_dice_loss() -> LossFunction | None:
    """MONAI's DiceLoss(to_onehot_y=True, softmax=True) on class indices, or None where
    MONAI is not importable (or does not import with this torch)."""
    try:
        from monai.losses.dice import DiceLoss
    except Exception:
        return None
    loss = DiceLoss(to_onehot_y=True, softmax=True)
    return lambda x, target: loss(x, target.unsqueeze(1))


def autograd_dice(x: Tensor, target: Tensor) -> Tensor:
    """Softmax Dice with class indices as a plain autograd user writes it (MONAI's math:
    smooth 1e-5 above and below, mean over samples and classes)."""
    p = torch.softmax(x, dim=1)
    one_hot = F.one_hot(target, x.shape[1]).movedim(-1, 1).to(x.dtype)
    dims = list(range(2, x.dim()))
    intersection = (p * one_hot).sum(dims)
    denominator = p.sum(dims) + one_hot.sum(dims)
    return (1.0 - (2.0 * intersection + 1e-5) / (denominator + 1e-5)).mean()


def torchvision_sigmoid_focal_loss() -> Callable[..., Tensor] | None:
    try:
        from torchvision.ops import sigmoid_focal_loss
    except ImportError:
        return None
    return sigmoid_focal_loss  # type: ignore[no-any-return]


def forward_backward(impl: Implementation, inputs: InputSet) -> tuple[Tensor, Tensor]:
    loss = impl.loss(inputs.logits, inputs.targets[impl.target])
    (grad,) = torch.autograd.grad(loss, inputs.logits)
    return loss, grad


def reference(case: Case, inputs: InputSet) -> tuple[Tensor, Tensor]:
    """torchfocal's naive backend (plain torch under autograd) in float64 on the same values."""
    x = inputs.logits.detach().double().requires_grad_()
    target = inputs.targets[case.target]
    target = target.double() if target.is_floating_point() else target
    loss = torchfocal_loss(case)(x, target, reduction="mean", backend="naive")
    (grad,) = torch.autograd.grad(loss, x)
    return loss.detach(), grad


def relative_error(value: Tensor, exact: Tensor) -> float:
    return float((value.detach().double() - exact).norm() / exact.norm())


# Timing -----------------------------------------------------------------------------------


class CudaTimer:
    """CUDA events around the work; read after :meth:`synchronize`."""

    def time(self, work: Callable[[], None]) -> Callable[[], float]:
        start = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)
        start.record()
        work()
        end.record()
        return lambda: float(start.elapsed_time(end))

    def synchronize(self) -> None:
        torch.cuda.synchronize()


class HostTimer:
    """time.perf_counter around the work (CPU tensors: the work is done when it returns)."""

    def time(self, work: Callable[[], None]) -> Callable[[], float]:
        begin = time.perf_counter()
        work()
        elapsed_ms = (time.perf_counter() - begin) * 1e3
        return lambda: elapsed_ms

    def synchronize(self) -> None:
        pass


Timer = CudaTimer | HostTimer
TimedWork = Callable[[int], None]  # one call on input set number i (modulo the sets)


def time_rounds(
    work: dict[str, TimedWork], timer: Timer, rounds: int, calls: int
) -> dict[str, list[float]]:
    """Per-call milliseconds of every entry, one timing per entry per round, interleaved
    (A B C, then B C A, ...: no entry always runs first or after the same neighbour)."""
    names = list(work)
    times: dict[str, list[float]] = {name: [] for name in names}
    for round_index in range(rounds):
        shift = round_index % len(names)
        readers = []
        for name in names[shift:] + names[:shift]:

            def burst(run: TimedWork = work[name], first: int = round_index * calls) -> None:
                for call in range(first, first + calls):
                    run(call)

            readers.append((name, timer.time(burst)))
        timer.synchronize()
        for name, read in readers:
            times[name].append(read() / calls)
    return times


def median_ratio(numerators: Sequence[float], denominators: Sequence[float]) -> float:
    """The median of per-round ratios: a slow round (a clock change, another process) moves
    both sides of its ratio, where it would move only one median of a ratio of medians."""
    return statistics.median(a / b for a, b in zip(numerators, denominators, strict=True))


#: Errors of a kernel that did not compile (torchfocal wraps Triton's in the first).
COMPILE_ERRORS = ("KernelCompileError", "CompilationError", "PTXASError", "OutOfResources")


def is_compile_error(error: BaseException) -> bool:
    return type(error).__name__ in COMPILE_ERRORS


def failure(error: BaseException) -> str:
    """A failure's status with the whole message: "oom", "compile error: ..." (a kernel that
    did not compile on this device) or "error: ..."."""
    if isinstance(error, torch.cuda.OutOfMemoryError):
        return "oom"
    kind = "compile error" if is_compile_error(error) else "error"
    return f"{kind}: {type(error).__name__}: {str(error).strip()}"


# One case ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    device: torch.device
    smoke: bool
    backends: tuple[str, ...]
    cache_bytes: int

    @property
    def cuda(self) -> bool:
        return self.device.type == "cuda"

    def rounds(self, elements: int) -> int:
        if self.smoke:
            return SMOKE_ROUNDS
        return ROUNDS_LARGE if elements >= LARGE_ELEMENTS else ROUNDS

    @property
    def warmup_calls(self) -> int:
        return SMOKE_WARMUP_CALLS if self.smoke else WARMUP_CALLS

    def timer(self) -> Timer:
        return CudaTimer() if self.cuda else HostTimer()


def peak_extra_bytes(impl: Implementation, inputs: InputSet) -> int:
    """The allocator's peak during one forward+backward above what was allocated before it
    (the inputs): the call's temporaries, what autograd saves, the loss and the gradient."""
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    before = torch.cuda.memory_allocated()
    loss, grad = forward_backward(impl, inputs)
    torch.cuda.synchronize()
    peak = torch.cuda.max_memory_allocated() - before
    del loss, grad
    return peak


def measure_case(case: Case, impls: list[Implementation], settings: Settings) -> dict[str, Any]:
    """Every implementation's forward+backward on one case; the last implementation is the
    baseline. An implementation that fails (out of memory, a backend that does not exist) is
    recorded as such and the others go on."""
    shape = case.shape(settings.smoke)
    elements = math.prod(shape)
    grad_bytes = logits_bytes(case, shape)
    forms = {impl.target for impl in impls} | {case.target}
    set_bytes = 2 * grad_bytes + sum(target_bytes(case, shape, form) for form in forms)
    copy_bytes = 2 * grad_bytes + target_bytes(case, shape, case.target)
    record: dict[str, Any] = {
        "name": case.name,
        "loss": case.loss,
        "dtype": dtype_name(case.dtype),
        "target": case.target,
        "shape": list(shape),
        "full_shape": list(case.full_shape),
        "elements": elements,
        "gradient_bytes": grad_bytes,
        "baseline": impls[-1].name,
        "rounds": settings.rounds(elements),
        "implementations": {},
    }
    try:
        count = input_set_count(set_bytes, settings.cache_bytes)
        sets = [make_inputs(case, shape, settings.device) for _ in range(count)]
    except torch.cuda.OutOfMemoryError:
        record["status"] = "oom"
        return record
    record["input_sets"] = len(sets)

    timer = settings.timer()
    entries: dict[str, dict[str, Any]] = record["implementations"]
    running: list[Implementation] = []
    for impl in impls:
        entry = entries[impl.name] = {
            "bytes_moved": 2 * grad_bytes + target_bytes(case, shape, impl.target)
        }
        # Warnings are kept: a backend that falls back to another (compiled to fused, say)
        # says so only there, and its times are then the other backend's.
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                for _ in range(settings.warmup_calls):
                    forward_backward(impl, sets[0])
                timer.synchronize()
            except Exception as error:  # recorded; one implementation must not end the run
                entry["status"] = failure(error)
                continue
        entry["warnings"] = sorted({str(warning.message) for warning in caught})
        entry["status"] = "measured"
        running.append(impl)

    for impl in running:
        entry = entries[impl.name]
        if not settings.cuda:
            entry["peak_extra_bytes"] = entry["peak_extra_over_gradient"] = NO_CUDA
            continue
        try:
            peak = peak_extra_bytes(impl, sets[0])
        except Exception as error:  # recorded, as in the warm-up
            entry["peak_extra_bytes"] = entry["peak_extra_over_gradient"] = failure(error)
            continue
        entry["peak_extra_bytes"] = peak
        entry["peak_extra_over_gradient"] = peak / grad_bytes

    baseline = impls[-1]
    check_against_reference(case, [i for i in running if i is not baseline], sets[0], entries)

    try:
        copies = [
            (
                torch.randint(
                    0, 256, (copy_bytes // 2,), dtype=torch.uint8, device=settings.device
                ),
                torch.empty(copy_bytes // 2, dtype=torch.uint8, device=settings.device),
            )
            for _ in range(input_set_count(copy_bytes, settings.cache_bytes))
        ]
    except torch.cuda.OutOfMemoryError:
        copies = []
    record["copy"] = {"bytes": 2 * (copy_bytes // 2), "status": "measured" if copies else "oom"}

    if baseline not in running:
        record["status"] = f"baseline {entries[baseline.name]['status']}"
        return record
    work: dict[str, TimedWork] = {
        impl.name: functools.partial(call_on_set, impl, sets) for impl in running
    }
    if copies:
        work["copy"] = functools.partial(copy_on_set, copies)
    try:
        calls = calls_per_timing(work, timer, settings.smoke)
        times = time_rounds(work, timer, record["rounds"], calls)
    except Exception as error:  # recorded, as in the warm-up
        record["status"] = f"timing {failure(error)}"
        return record
    record["calls_per_timing"] = calls
    record["status"] = "measured"
    summarise(record, times)
    return record


def call_on_set(impl: Implementation, sets: list[InputSet], index: int) -> None:
    """One timed forward+backward; its results are dropped at once, as a training loop
    drops them."""
    forward_backward(impl, sets[index % len(sets)])


def copy_on_set(copies: list[tuple[Tensor, Tensor]], index: int) -> None:
    source, destination = copies[index % len(copies)]
    destination.copy_(source)


def check_against_reference(
    case: Case, impls: list[Implementation], inputs: InputSet, entries: dict[str, dict[str, Any]]
) -> None:
    """Relative errors of each focal implementation's loss and gradient (the baseline
    computes another function and is not checked)."""
    if not impls:
        return
    tolerance = CHECK_TOLERANCE[case.dtype]
    try:
        exact_loss, exact_grad = reference(case, inputs)
    except Exception as error:  # recorded, as in the warm-up
        for impl in impls:
            entries[impl.name]["check"] = f"float64 reference {failure(error)}"
        return
    for impl in impls:
        try:
            loss, grad = forward_backward(impl, inputs)
        except Exception as error:  # recorded, as in the warm-up
            entries[impl.name]["check"] = failure(error)
            continue
        errors = {
            "loss": relative_error(loss, exact_loss),
            "grad": relative_error(grad, exact_grad),
        }
        entries[impl.name]["check"] = {
            "loss_relative_error": errors["loss"],
            "grad_relative_error": errors["grad"],
            "tolerance": tolerance,
            "ok": all(error <= tolerance for error in errors.values()),
        }


def calls_per_timing(work: dict[str, TimedWork], timer: Timer, smoke: bool) -> int:
    """Calls per burst: enough for the fastest entry's burst to last MIN_TIMING_MS."""
    if smoke:
        return 1
    readers = [timer.time(functools.partial(run, 0)) for run in work.values()]
    timer.synchronize()
    fastest_ms = min(read() for read in readers)
    return max(1, min(MAX_CALLS_PER_TIMING, math.ceil(MIN_TIMING_MS / max(fastest_ms, 1e-6))))


def summarise(record: dict[str, Any], times: dict[str, list[float]]) -> None:
    baseline = times[record["baseline"]]
    copy = times.get("copy")
    if copy is not None:
        copy_ms = statistics.median(copy)
        record["copy"].update(
            ms=copy_ms, ms_per_round=copy, bandwidth_gb_s=record["copy"]["bytes"] / copy_ms / 1e6
        )
    for name, entry in record["implementations"].items():
        if name not in times:
            continue
        rounds = times[name]
        ms = statistics.median(rounds)
        entry.update(
            ms=ms,
            ms_per_round=rounds,
            ratio_to_baseline=median_ratio(rounds, baseline),
            bandwidth_gb_s=entry["bytes_moved"] / ms / 1e6,
            copy_bandwidth_fraction=None
            if copy is None
            else median_ratio(
                [entry["bytes_moved"] / t for t in rounds],
                [record["copy"]["bytes"] / t for t in copy],
            ),
        )


# No host synchronisation --------------------------------------------------------------------


def sync_losses(device: torch.device) -> dict[str, tuple[Callable[..., Tensor], Tensor]]:
    """Each torchfocal loss of the check and a target it takes, for (SYNC_ROWS, SIGMOID_CLASSES)
    logits: a bool mask, class indices, or IoU-aware scores (0 for negatives, a quality in
    (0, 1] at the positives) for varifocal and quality focal loss. ``dice_loss`` takes the
    logits as (N, C) with no spatial dimension: its sums per (sample, class) and the Triton
    region kernels run all the same."""
    shape = (SYNC_ROWS, SIGMOID_CLASSES)
    mask = torch.rand(shape, device=device) < POSITIVE_FRACTION
    score = torch.where(mask, torch.rand(shape, device=device).clamp_min(0.05), 0.0)
    index = torch.randint(0, SIGMOID_CLASSES, (SYNC_ROWS,), device=device)
    return {
        "sigmoid_focal_loss": (torchfocal.sigmoid_focal_loss, mask),
        "softmax_focal_loss": (torchfocal.softmax_focal_loss, index),
        "sigmoid_focal_loss_star": (torchfocal.sigmoid_focal_loss_star, mask),
        "asymmetric_loss": (torchfocal.asymmetric_loss, mask),
        "poly1_focal_loss": (torchfocal.poly1_focal_loss, mask),
        "varifocal_loss": (torchfocal.varifocal_loss, score),
        "quality_focal_loss": (torchfocal.quality_focal_loss, score),
        "dice_loss": (torchfocal.dice_loss, index),
    }


def training_step_syncs(loss: LossFunction, target: Tensor) -> dict[str, Any]:
    """SYNC_STEPS training steps (linear layer, loss, backward, SGD step) under
    set_sync_debug_mode("error"): status "pass", "sync" (the mode raised), "compile error"
    (a kernel did not compile: not a sync) or "error"."""
    device = target.device
    layer = torch.nn.Linear(SYNC_FEATURES, SIGMOID_CLASSES, device=device)
    optimizer = torch.optim.SGD(layer.parameters(), lr=0.01, momentum=0.9)
    features = torch.randn(SYNC_ROWS, SYNC_FEATURES, device=device)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        loss(layer(features), target).backward()
        optimizer.step()

    try:
        step()  # outside the debug mode: compilation and the allocator's first growth
        torch.cuda.synchronize()
        previous = torch.cuda.get_sync_debug_mode()
        torch.cuda.set_sync_debug_mode("error")
        try:
            for _ in range(SYNC_STEPS):
                step()
        finally:
            torch.cuda.set_sync_debug_mode(previous)
        torch.cuda.synchronize()
    except Exception as error:  # recorded: the check's result is the error's text
        if is_compile_error(error):
            status = "compile error"
        else:
            status = "sync" if "synchroniz" in str(error).lower() else "error"
        return {"status": status, "error": failure(error)}
    return {"status": "pass", "error": None}


def sync_debug_mode_detects_a_sync(device: torch.device) -> bool:
    """The control: .item() reads the device, so the debug mode must raise on it."""
    value = torch.ones((), device=device)
    previous = torch.cuda.get_sync_debug_mode()
    torch.cuda.set_sync_debug_mode("error")
    try:
        value.item()
    except RuntimeError:
        return True
    finally:
        torch.cuda.set_sync_debug_mode(previous)
    return False


def _bce_on_mask(logits: Tensor, mask: Tensor) -> Tensor:
    return F.binary_cross_entropy_with_logits(logits, mask.to(logits.dtype))


def check_syncs(settings: Settings) -> dict[str, Any]:
    """Every loss of :func:`sync_losses` with backend "triton" and "fused" (those of them
    chosen), and two controls: that the debug mode raises on a read of the device, and
    that the training step raises nothing with torch's own BCE as its loss."""
    if not settings.cuda:
        return {"status": NO_CUDA, "runs": []}
    backends = [backend for backend in ("triton", "fused") if backend in settings.backends]
    losses = sync_losses(settings.device)
    runs = []
    for name, (loss, target) in losses.items():
        for backend in backends:
            bound = functools.partial(loss, backend=backend)
            runs.append({"loss": name, "backend": backend, **training_step_syncs(bound, target)})
    return {
        "status": "measured",
        "steps": SYNC_STEPS,
        "control_detected": sync_debug_mode_detects_a_sync(settings.device),
        "harness_control": training_step_syncs(_bce_on_mask, losses["sigmoid_focal_loss"][1]),
        "runs": runs,
    }


# Goals ------------------------------------------------------------------------------------


def _case(results: dict[str, Any], name: str) -> dict[str, Any] | None:
    return next((case for case in results["cases"] if case["name"] == name), None)


def _implementation_value(case: dict[str, Any] | None, impl: str, key: str) -> tuple[Any, str]:
    """(value, why it is missing) of one implementation's measurement in a case."""
    if case is None:
        return None, "case not run"
    if case.get("status") != "measured":
        return None, f"case {case.get('status')}"
    entry = case["implementations"].get(impl)
    if entry is None:
        return None, f"{impl} not run"
    if entry["status"] != "measured":
        return None, f"{impl} {entry['status']}"
    value = entry.get(key)
    return (value, "") if isinstance(value, float | int) else (None, f"{impl} {key} {value}")


def judge(
    goal: str,
    case: str,
    measured: float | None,
    comparison: str,
    threshold: float,
    why: str,
    smoke: bool,
) -> dict[str, Any]:
    """One goal's row: met is True or False, or "skipped" with the reason."""
    row: dict[str, Any] = {
        "goal": goal,
        "case": case,
        "measured": measured,
        "comparison": comparison,
        "threshold": threshold,
    }
    if smoke:
        row.update(met="skipped", reason="smoke run: tiny sizes on the CPU, not judged")
    elif measured is None:
        row.update(met="skipped", reason=why or "not measured")
    else:
        row["met"] = measured <= threshold if comparison == "<=" else measured >= threshold
    return row


@dataclass(frozen=True)
class Goal:
    """A goal on one measurement (``key``) of the triton backend in one case."""

    goal: str
    case: str
    key: str
    comparison: str  # "<=" | ">="
    threshold: float


SIGMOID_GOAL_CASE = "sigmoid 1e8 float32 bool"
TRITON = "torchfocal triton"
MEASUREMENT_GOALS = (
    Goal("sigmoid triton fwd+bwd / BCE fwd+bwd", SIGMOID_GOAL_CASE, "ratio_to_baseline", "<=", 1.0),
    Goal(
        "sigmoid triton bandwidth / copy bandwidth",
        SIGMOID_GOAL_CASE,
        "copy_bandwidth_fraction",
        ">=",
        0.7,
    ),
    *(
        Goal(
            "softmax triton fwd+bwd / F.cross_entropy fwd+bwd", case, "ratio_to_baseline", "<=", 1.0
        )
        for case in ("softmax (65536, 1000) float32 index", "softmax (8192, 32000) float32 index")
    ),
)
TORCHVISION_OVER_TRITON = 4.0  # at SIGMOID_GOAL_CASE
PEAK_EXTRA_OVER_GRADIENT = 1.1  # the largest over the cases of each loss
#: The segmentation issue's goals, triton against MONAI in each Dice case: time and peak
#: extra memory (MONAI one-hots the labels).
DICE_OVER_MONAI = {"ms_per_round": 0.8, "peak_extra_bytes": 0.5}


def judge_goals(results: dict[str, Any]) -> list[dict[str, Any]]:
    smoke = results["smoke"]
    rows = []
    for goal in MEASUREMENT_GOALS:
        value, why = _implementation_value(_case(results, goal.case), TRITON, goal.key)
        rows.append(judge(goal.goal, goal.case, value, goal.comparison, goal.threshold, why, smoke))
    rows.append(_torchvision_goal(results, SIGMOID_GOAL_CASE))
    rows += [_memory_goal(results, loss) for loss in ("sigmoid", "softmax")]
    rows.append(_sync_goal(results))
    rows.append(_compile_goal(results))
    rows += [
        _monai_goal(results, Case("dice", str(shape), shape, torch.float32, "index").name, key)
        for shape in DICE_SHAPES
        for key in DICE_OVER_MONAI
    ]
    return rows


def _monai_goal(results: dict[str, Any], name: str, key: str) -> dict[str, Any]:
    """Triton over MONAI in a Dice case: the median of per-round time ratios
    (``key`` "ms_per_round"), or the ratio of peak extra memory ("peak_extra_bytes")."""
    case = _case(results, name)
    what = "fwd+bwd" if key == "ms_per_round" else "peak extra memory"
    goal = f"dice triton / MONAI DiceLoss {what}"
    threshold, smoke = DICE_OVER_MONAI[key], results["smoke"]
    if key == "peak_extra_bytes" and results["memory"] != "measured":
        return judge(goal, name, None, "<=", threshold, results["memory"], smoke)
    scalar = "ms" if key == "ms_per_round" else key
    triton, why = _implementation_value(case, TRITON, scalar)
    monai, monai_why = _implementation_value(case, MONAI, scalar)
    if triton is None or monai is None or case is None:
        return judge(goal, name, None, "<=", threshold, why or monai_why, smoke)
    entries = case["implementations"]
    if key == "ms_per_round":
        ratio = median_ratio(entries[TRITON][key], entries[MONAI][key])
    else:
        ratio = triton / monai if monai else float("inf")
    return judge(goal, name, ratio, "<=", threshold, "", smoke)


def compile_errors(results: dict[str, Any]) -> list[str]:
    """Every place a kernel did not compile: a case's implementation (warm-up, timing or
    check) or a training step of the sync check. Counted apart from syncs and other errors."""
    found = []
    for case in results["cases"]:
        for name, entry in case.get("implementations", {}).items():
            for key, value in entry.items():
                if isinstance(value, str) and value.startswith("compile error"):
                    found.append(f"{case['name']} {name} {key}")
    found += [
        f"sync {run['loss']} {run['backend']}"
        for run in results["sync"].get("runs", [])
        if run["status"] == "compile error"
    ]
    return found


def _compile_goal(results: dict[str, Any]) -> dict[str, Any]:
    goal = "kernels that did not compile on this device"
    where = "every case and training step"
    return judge(goal, where, len(compile_errors(results)), "<=", 0, "", results["smoke"])


def _torchvision_goal(results: dict[str, Any], name: str) -> dict[str, Any]:
    """torchvision's time over triton's, the median of per-round ratios."""
    case = _case(results, name)
    goal = "torchvision sigmoid_focal_loss / triton fwd+bwd"
    triton, why = _implementation_value(case, TRITON, "ms")
    vision, vision_why = _implementation_value(case, "torchvision", "ms")
    threshold = TORCHVISION_OVER_TRITON
    if triton is None or vision is None or case is None:
        return judge(goal, name, None, ">=", threshold, why or vision_why, results["smoke"])
    entries = case["implementations"]
    ratio = median_ratio(entries["torchvision"]["ms_per_round"], entries[TRITON]["ms_per_round"])
    return judge(goal, name, ratio, ">=", threshold, "", results["smoke"])


def _memory_goal(results: dict[str, Any], loss: str) -> dict[str, Any]:
    """The largest peak extra memory / gradient bytes of the triton backend over the loss's
    cases (a constant overhead would show at the small ones)."""
    goal = f"{loss} triton peak extra memory / gradient bytes (largest over the cases)"
    every, smoke = f"every {loss} case", results["smoke"]
    if results["memory"] != "measured":
        return judge(goal, every, None, "<=", PEAK_EXTRA_OVER_GRADIENT, results["memory"], smoke)
    measured = []
    for case in results["cases"]:
        if case["loss"] == loss:
            value, _ = _implementation_value(case, TRITON, "peak_extra_over_gradient")
            if value is not None:
                measured.append((value, case["name"]))
    if not measured:
        why = "triton not measured"
        return judge(goal, every, None, "<=", PEAK_EXTRA_OVER_GRADIENT, why, smoke)
    worst, name = max(measured)
    return judge(goal, name, worst, "<=", PEAK_EXTRA_OVER_GRADIENT, "", smoke)


def _sync_goal(results: dict[str, Any]) -> dict[str, Any]:
    """Runs that raised a sync (or failed otherwise) under set_sync_debug_mode("error"),
    every backend of the check counted (DESIGN.md: no sync on a GPU with default options)."""
    goal = "training steps that synchronised with the host (or failed, compile errors apart)"
    where = "sigmoid family, softmax_focal_loss and dice_loss, triton and fused"
    sync, smoke = results["sync"], results["smoke"]
    if sync["status"] != "measured":
        why = sync["status"]
    elif not sync["control_detected"]:
        why = "the debug mode missed the .item() control"
    elif sync["harness_control"]["status"] != "pass":
        why = f"the step with torch's BCE did not pass: {sync['harness_control']['error']}"
    elif not sync["runs"]:
        why = "no triton or fused backend chosen"
    else:
        failed = sum(run["status"] not in ("pass", "compile error") for run in sync["runs"])
        return judge(goal, where, failed, "<=", 0, "", smoke)
    return judge(goal, where, None, "<=", 0, why, smoke)


# Report -----------------------------------------------------------------------------------


def _number(value: Any, form: str, scale: float = 1.0, suffix: str = "") -> str:
    """A measured number, or "-" where there is none (not measured, skipped, oom)."""
    if isinstance(value, float | int) and not isinstance(value, bool):
        return format(value * scale, form) + suffix
    return "-"


def _row(*cells: object) -> str:
    return "| " + " | ".join(str(cell) for cell in cells) + " |"


def _check_text(check: Any) -> str:
    if check is None:
        return "-"
    if isinstance(check, str):
        return check
    text = f"{max(check['loss_relative_error'], check['grad_relative_error']):.1e}"
    return text if check["ok"] else f"{text} (over {check['tolerance']:.0e})"


def markdown(results: dict[str, Any]) -> str:
    versions = results["versions"]
    command = "PYTHONPATH=src python3 benchmarks/gpu.py" + (" --smoke" if results["smoke"] else "")
    lines = [
        f"### {results['device']}",
        "",
        f"torch {versions['torch']} (CUDA {versions['cuda']}), triton {versions['triton']}, "
        f"torchvision {versions['torchvision']}, MONAI {versions['monai']}, "
        f"torchfocal {versions['torchfocal']} "
        f"(commit {results['commit']}), {results['date']}; `{command}`"
        + (": tiny sizes on the CPU, not a measurement." if results["smoke"] else "."),
        "",
        "Forward+backward (`torch.autograd.grad` of the scalar loss), default options, "
        'reduction="mean"; per-call medians of interleaved rounds after warm-up, each timing a '
        f"burst of calls timed by {'the host clock' if results['smoke'] else 'CUDA events'}; "
        "`x baseline` is the median of per-round ratios to "
        "the baseline (last row of each case). Bytes moved: logits read + target read + "
        "gradient written, each once; `of copy`: that bandwidth over a `Tensor.copy_` of the "
        "torchfocal call's bytes, timed in the same rounds. Peak extra: `max_memory_allocated` "
        "during one call minus what was allocated before it (the inputs), over the gradient's "
        "bytes. Check: largest relative error of loss and gradient against float64.",
        "",
        _row("case", "implementation", "ms", "x baseline", "GB/s", "of copy", "peak extra / grad")
        + " check |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for case in results["cases"]:
        title = f"{case['name']} {tuple(case['shape'])}" if "shape" in case else case["name"]
        if not case["implementations"]:
            lines.append(_row(title, case["status"], "", "", "", "", "", ""))
            continue
        for name, entry in case["implementations"].items():
            if "ms" not in entry:
                status = entry["status"] if entry["status"] != "measured" else case["status"]
                lines.append(_row(title, name, status, "", "", "", "", ""))
                continue
            lines.append(
                _row(
                    title,
                    name,
                    f"{entry['ms']:.3f}",
                    f"{entry['ratio_to_baseline']:.2f}",
                    f"{entry['bandwidth_gb_s']:.0f}",
                    _number(entry["copy_bandwidth_fraction"], ".0f", 100, "%"),
                    _number(entry["peak_extra_over_gradient"], ".2f"),
                    _check_text(entry.get("check")),
                )
            )
        copy = case.get("copy", {})
        if "ms" in copy:
            copy_name = f"copy_ of {copy['bytes']} bytes"
            bandwidth = f"{copy['bandwidth_gb_s']:.0f}"
            lines.append(_row(title, copy_name, f"{copy['ms']:.3f}", "", bandwidth, "", "", ""))
    warned = [
        f"- {case['name']}, {name}: {message}"
        for case in results["cases"]
        for name, entry in case["implementations"].items()
        for message in entry.get("warnings", [])
    ]
    if warned:
        lines += ["", "Warnings during warm-up:", "", *warned]
    sync = results["sync"]
    lines += ["", f'Training steps under `set_sync_debug_mode("error")`: {sync["status"]}.']
    if sync["runs"]:
        lines += ["", _row("loss", "backend", "result"), "|---|---|---|"]
        for run in sync["runs"]:
            result = run["status"] if run["error"] is None else f"{run['status']}: {run['error']}"
            lines.append(_row(run["loss"], run["backend"], result))
    lines += ["", _row("goal", "case", "measured", "threshold", "met"), "|---|---|---|---|---|"]
    for goal in results["goals"]:
        met = {True: "yes", False: "no"}.get(goal["met"], f"skipped ({goal.get('reason')})")
        threshold = f"{goal['comparison']} {goal['threshold']}"
        lines.append(
            _row(goal["goal"], goal["case"], _number(goal["measured"], ".3g"), threshold, met)
        )
    return "\n".join(lines) + "\n"


# Main -------------------------------------------------------------------------------------


def environment(smoke: bool) -> dict[str, Any]:
    try:
        import triton

        triton_version: str | None = triton.__version__
    except ImportError:
        triton_version = None
    try:
        import torchvision

        vision_version: str | None = torchvision.__version__
    except ImportError:
        vision_version = None
    try:
        import monai

        monai_version: str | None = monai.__version__
    except Exception:  # absent, or not importable with this torch
        monai_version = None
    try:
        commit: str | None = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=HERE,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = None  # the GPU machine's copy of the tree may have no .git
    info: dict[str, Any] = {
        "smoke": smoke,
        "device": f"CPU ({platform.processor() or platform.machine()}), smoke run"
        if smoke
        else torch.cuda.get_device_name(),
        "versions": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "cuda": torch.version.cuda,
            "triton": triton_version,
            "torchvision": vision_version,
            "monai": monai_version,
            "torchfocal": torchfocal.__version__,
        },
        "commit": commit,
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }
    if not smoke:
        properties = torch.cuda.get_device_properties(0)
        info["device_properties"] = {
            "multiprocessors": properties.multi_processor_count,
            "total_memory_bytes": properties.total_memory,
            "l2_cache_bytes": getattr(properties, "L2_cache_size", None),
        }
    return info


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes on the CPU, host timer")
    parser.add_argument(
        "--backends",
        nargs="+",
        default=list(TORCHFOCAL_BACKENDS),
        choices=[*TORCHFOCAL_BACKENDS, "naive"],
        help="torchfocal backends to time (default: %(default)s)",
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="output folder (default: $OUT, else benchmarks/)"
    )
    parser.add_argument(
        "--budget-s",
        type=float,
        default=DEFAULT_BUDGET_S,
        help="cases that would start after this many seconds are skipped (default: %(default)s)",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if not args.smoke and not torch.cuda.is_available():
        print(
            "benchmarks/gpu.py needs a CUDA GPU (torch.cuda.is_available() is False); "
            "run with --smoke for the same code path at tiny sizes on the CPU",
            file=sys.stderr,
        )
        return 1
    started = time.monotonic()
    out = args.out or (Path(os.environ["OUT"]) if os.environ.get("OUT") else HERE)
    out.mkdir(parents=True, exist_ok=True)
    json_path = out / (SMOKE_RESULTS_JSON if args.smoke else RESULTS_JSON)
    table_path = out / (SMOKE_TABLE_MD if args.smoke else TABLE_MD)

    torch.manual_seed(0)
    results = environment(args.smoke)
    device = torch.device("cpu" if args.smoke else "cuda")
    cache = 0 if args.smoke else int(results["device_properties"]["l2_cache_bytes"] or 0)
    settings = Settings(device, args.smoke, tuple(args.backends), cache)
    results["settings"] = {
        "backends": list(settings.backends),
        "warmup_calls": settings.warmup_calls,
        "rounds": SMOKE_ROUNDS if args.smoke else {"below_large": ROUNDS, "large": ROUNDS_LARGE},
        "large_elements": LARGE_ELEMENTS,
        "min_timing_ms": MIN_TIMING_MS,
        "max_calls_per_timing": MAX_CALLS_PER_TIMING,
        "budget_s": args.budget_s,
        "bytes_counted": "logits read + target read + gradient written, each once",
        "check_tolerance": {dtype_name(dtype): value for dtype, value in CHECK_TOLERANCE.items()},
    }
    results["memory"] = "measured" if settings.cuda else NO_CUDA
    begin = time.monotonic()
    results["sync"] = check_syncs(settings)
    results["sync"]["seconds"] = time.monotonic() - begin
    print(f"sync check: {results['sync']['status']} ({results['sync']['seconds']:.1f} s)")
    results["cases"] = []
    for case in all_cases():
        if time.monotonic() - started > args.budget_s:
            skipped = {"name": case.name, "loss": case.loss, "status": "skipped (time budget)"}
            results["cases"].append({**skipped, "implementations": {}})
            continue
        begin = time.monotonic()
        try:
            record = measure_case(case, implementations(case, settings.backends), settings)
        except Exception as error:  # recorded: the cases after it still run
            record = {"name": case.name, "loss": case.loss, "status": failure(error)}
            record["implementations"] = {}
        record["seconds"] = time.monotonic() - begin
        results["cases"].append(record)
        print(f"{case.name}: {record['status']} ({record['seconds']:.1f} s)", flush=True)
        write_json(json_path, results, started)
    results["goals"] = judge_goals(results)
    write_json(json_path, results, started)
    table = markdown(results)
    table_path.write_text(table, encoding="utf-8")
    print(table)
    print(f"wrote {json_path} and {table_path}")
    return 0


def write_json(path: Path, results: dict[str, Any], started: float) -> None:
    results["elapsed_s"] = time.monotonic() - started
    path.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    raise SystemExit(main())
