"""``torchfocal bench``: speed and memory of every backend, as ratios to torch's own loss.

Sigmoid focal loss (and the focal family's elementwise losses, ``--losses star asymmetric
poly1 varifocal quality``) on (N, 80) and softmax focal loss on (N, 100) logits, against
``F.binary_cross_entropy_with_logits`` / ``F.cross_entropy`` timed in the same run (the
baseline), and torchvision's ``sigmoid_focal_loss`` when it is installed. Every backend is
checked against the NumPy reference before it is timed. Times are medians of repeated
runs; peak memory is measured in a fresh process per backend (resident peak after a reset
through /proc/self/clear_refs), reported as extra bytes over the inputs, relative to the
input's bytes.
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
from functools import partial
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from .. import __version__, reference
from ..functional import (
    asymmetric_loss,
    poly1_focal_loss,
    quality_focal_loss,
    sigmoid_focal_loss,
    sigmoid_focal_loss_star,
    softmax_focal_loss,
    varifocal_loss,
)
from ._common import CLIError, plain_table, print_json

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
        "--sizes",
        type=float,
        nargs="+",
        default=None,
        help="numbers of logits, whole numbers >= 1 that fit in memory (default 1e5 1e6 1e7)",
    )
    parser.add_argument("--losses", nargs="+", default=["sigmoid", "softmax"])
    parser.add_argument("--dtypes", nargs="+", default=["float32"], help="float32 and/or bfloat16")
    parser.add_argument("--backends", nargs="+", default=["naive", "fused", "compiled"])
    parser.add_argument("--repeats", type=int, default=None, help="timed runs per case, >= 1 (7)")
    parser.add_argument("--no-memory", action="store_true", help="skip the memory processes")
    parser.add_argument("--quick", action="store_true", help="one small size, few repeats")
    parser.add_argument("--json", action="store_true", help="print JSON")


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


def _memory(loss: str, name: str, size: int, dtype: str, backends: list[str]) -> int | None:
    """Peak resident bytes of one forward+backward above the inputs, in a fresh process."""
    if not os.path.exists("/proc/self/clear_refs"):
        return None
    code = (
        "import sys, torch, json\n"
        "from torchfocal.cli import bench\n"
        f"bench._memory_child({loss!r}, {name!r}, {size}, {dtype!r}, {backends!r})\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=600, check=False
    )
    if result.returncode != 0:
        return None
    return int(result.stdout.strip().splitlines()[-1])


def _status_kb(field: str) -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(field):
                return int(line.split()[1]) * 1024
    raise RuntimeError(field)  # pragma: no cover


def _memory_child(loss: str, name: str, size: int, dtype: str, backends: list[str]) -> None:
    torch.set_num_threads(max(1, torch.get_num_threads()))
    fn = _callables(loss, backends)[name]
    x, target, baseline_target = _inputs(loss, size, getattr(torch, dtype))
    small = _inputs(loss, 2000, getattr(torch, dtype))
    warm = small[0].clone().requires_grad_(True)
    fn(warm, small[1], small[2]).backward()  # load kernels (and compile) before measuring
    x.requires_grad_(True)
    with open("/proc/self/clear_refs", "w", encoding="ascii") as refs:
        refs.write("5")  # reset the peak resident size to the current one
    before = _status_kb("VmRSS")
    fn(x, target, baseline_target).backward()
    print(_status_kb("VmHWM") - before)


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
        "torchfocal": __version__,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "processor": _cpu_name(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
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
        f"torchfocal {result['torchfocal']}, torch {result['torch']}, {result['processor']}, "
        f"{result['cpu_count']} CPUs, {result['torch_threads']} torch threads, "
        f"load average {result['load_average']}; median of {result['repeats']} runs; "
        "ratios are to the baseline (F.binary_cross_entropy_with_logits / F.cross_entropy) "
        "measured in the same run"
    )
    return plain_table(header, columns, rows)


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


def run(args: argparse.Namespace) -> int:
    for loss in args.losses:
        if loss not in CLASSES:
            raise CLIError(f"--losses must be among {', '.join(CLASSES)}; got {loss!r}")
    for dtype in args.dtypes:
        if dtype not in ("float32", "bfloat16", "float64"):
            raise CLIError(f"--dtypes must be float32, bfloat16 or float64; got {dtype!r}")
    for backend in args.backends:
        if backend not in ("naive", "fused", "compiled"):
            raise CLIError(f"--backends must be naive, fused or compiled; got {backend!r}")
    sizes = (
        _check_sizes(args.sizes, args.dtypes)
        if args.sizes
        else list(QUICK_SIZES if args.quick else SIZES)
    )
    if args.repeats is not None and args.repeats < 1:
        raise CLIError(f"--repeats must be >= 1; got {args.repeats}")
    repeats = args.repeats if args.repeats is not None else (2 if args.quick else 7)
    result = run_benchmark(
        sizes,
        list(args.losses),
        list(args.dtypes),
        list(args.backends),
        repeats,
        memory=not args.no_memory,
    )
    if args.json:
        print_json(result)
    else:
        print(format_table(result))
    return 0
