"""The GPU cost model of benchmarks/gpu.py's rows, computed on a machine without a GPU.

Bytes. Every row's forward+backward (``torch.autograd.grad`` of the "mean" loss, as gpu.py
times it) runs on ``meta`` tensors: they take the code's non-CPU branches (no value is ever
read on the host) and have no data, so the run is instant at any size. Each aten op is
counted through a ``TorchDispatchMode`` and each Triton launch through a recorder that
stands in for the kernel: every distinct tensor an op or a launch touches counts once, at
its extent in memory (a broadcast view at its storage's size), and an in-place op's output
twice (read and written); views and allocations count nothing. The sum over the whole call
divided by the logits' element count is the row's bytes per element. The sync-free minimum
of a case is the logits and the target read once by forward and once by backward, and the
gradient written once (what a kernel that recomputes in backward moves; softmax targets are
one index per row).

H100 time. Bytes per element at the H100 SXM's 3.35 TB/s (``H100_BYTES_PER_S``): the memory
time of the row, which the instruction time (from tools/triton_aot.py's SASS counts, where
a cubin is compiled) must stay under.

Usage::

    python benchmarks/gpu_model.py               # the table (markdown) and gpu-model.json
    python benchmarks/gpu_model.py --bytes-only  # without the compile (seconds)
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import math
import os
import sys
import types
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))

import gpu
import triton_aot

import torchfocal

H100_BYTES_PER_S = 3.35e12
#: Allocations: no traffic.
_ALLOCATIONS = {"empty", "empty_like", "empty_strided", "new_empty", "new_empty_strided"}


def _extent(tensor: torch.Tensor) -> int:
    """The bytes of memory a tensor covers: its elements, but never more than its storage
    (a view broadcast with zero strides covers only what it views)."""
    own = tensor.numel() * tensor.element_size()
    return min(own, tensor.untyped_storage().nbytes())


class ByteCounter(TorchDispatchMode):
    """Bytes that aten ops read and write (see the module docstring)."""

    def __init__(self) -> None:
        super().__init__()
        self.bytes = 0
        self.ops: list[tuple[str, int]] = []
        self.launches: list[triton_aot.Launch] = []
        #: Bytes of the storages allocated under the counter that are alive, and their most.
        self.live_bytes = 0
        self.peak_bytes = 0
        self._live: set[int] = set()

    def inputs(self, *tensors: torch.Tensor) -> None:
        """Storages that exist before the call (its inputs): views of them are no allocation."""
        self._live.update(t.untyped_storage()._cdata for t in tensors)

    def _track(self, tensor: torch.Tensor) -> None:
        """Count a new storage as live until its last tensor dies (a weakref finalizer on
        the storage: views keep it alive)."""
        storage = tensor.untyped_storage()
        key = storage._cdata
        if key in self._live:
            return
        self._live.add(key)
        size = storage.nbytes()
        self.live_bytes += size
        self.peak_bytes = max(self.peak_bytes, self.live_bytes)

        def free() -> None:
            self._live.discard(key)
            self.live_bytes -= size

        weakref.finalize(storage, free)

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        for tensor in torch.utils._pytree.tree_leaves(out):
            if isinstance(tensor, torch.Tensor):
                self._track(tensor)
        name = func._schema.name.split("::")[-1]
        returns = func._schema.returns
        aliases = [r.alias_info for r in returns if r.alias_info is not None]
        if name in _ALLOCATIONS or (aliases and not any(a.is_write for a in aliases)):
            return out  # an allocation or a view: no traffic
        seen: dict[int, int] = {}
        tensors = [t for t in torch.utils._pytree.tree_leaves((args, kwargs, out))]
        for tensor in tensors:
            if isinstance(tensor, torch.Tensor) and tensor.numel():
                seen[tensor.untyped_storage()._cdata] = _extent(tensor)
        moved = sum(seen.values())
        if aliases:  # in place: the written operand is read and written
            written = [
                t for t in torch.utils._pytree.tree_leaves(out) if isinstance(t, torch.Tensor)
            ]
            moved += sum(_extent(t) for t in written)
        self.bytes += moved
        self.ops.append((name, moved))
        return out


class _CountingKernel:
    """A Triton kernel that counts the bytes of its tensor arguments, records its launch
    (for the instruction counts) and runs nothing."""

    def __init__(self, module: str, kernel: Any, counter: ByteCounter) -> None:
        self.fn = kernel.fn
        self._counter = counter
        self._recorder = triton_aot._Recorder(module, kernel, counter.launches)

    def __getitem__(self, grid: Any) -> Callable[..., None]:
        def launch(*args: Any, **kwargs: Any) -> None:
            self._recorder[grid](*args, **kwargs)
            self._counter.launches[-1].programs = grid[0]  # type: ignore[attr-defined]
            seen = {
                arg.untyped_storage()._cdata: _extent(arg)
                for arg in args
                if isinstance(arg, torch.Tensor) and arg.numel()
            }
            self._counter.bytes += sum(seen.values())
            self._counter.ops.append((self.fn.__name__, sum(seen.values())))

        return launch


@contextlib.contextmanager
def counting() -> Iterator[ByteCounter]:
    """Every aten op and Triton launch counted; backend="triton" accepted on meta tensors
    (the kernels do not run), which otherwise take CUDA's branches."""
    import importlib

    from torchfocal._engine import checks, triton_runner
    from torchfocal._triton import ops

    counter = ByteCounter()
    saved: list[tuple[Any, str, Any]] = [(checks, "check_triton", checks.check_triton)]
    checks.check_triton = lambda input, has_triton=True: None
    # On meta tensors a custom op runs its fake implementation, which launches nothing: the
    # engine gets the ops' own Python implementations instead (``_init_fn``, torch's name
    # for the function a custom op was made from), which launch the kernels counted here.
    implementations = types.SimpleNamespace(
        **{name: getattr(ops, name)._init_fn for name in ops.OPS}
    )
    saved.append((triton_runner, "_ops", triton_runner._ops))
    triton_runner._ops = lambda: implementations
    for name in triton_aot.KERNEL_MODULES:
        module = importlib.import_module(name)
        for attribute, value in list(vars(module).items()):
            if attribute.endswith("_kernel") and hasattr(value, "fn"):
                saved.append((module, attribute, value))
                setattr(module, attribute, _CountingKernel(name, value, counter))
    try:
        with counter:
            yield counter
    finally:
        for module, attribute, value in saved:
            setattr(module, attribute, value)


def measure(case: gpu.Case, implementation: str) -> dict[str, Any]:
    """Bytes per logit element of one row's forward+backward."""
    shape = case.full_shape
    x = torch.empty(shape, dtype=case.dtype, device="meta", requires_grad=True)
    if case.loss == "dice":  # class indices of every location
        target = torch.empty((shape[0], *shape[2:]), dtype=torch.int64, device="meta")
    elif case.loss == "softmax":
        target = torch.empty(shape[0], dtype=torch.int64, device="meta")
    elif case.target == "bool":
        target = torch.empty(shape, dtype=torch.bool, device="meta")
    else:
        target = torch.empty(shape, dtype=case.dtype, device="meta")
    if implementation == "baseline":
        if case.loss == "dice":
            loss_function: Any = lambda: gpu.autograd_dice(x, target)  # noqa: E731
        elif case.loss == "sigmoid":
            float_target = torch.empty(shape, dtype=case.dtype, device="meta")
            loss_function = lambda: torch.nn.functional.binary_cross_entropy_with_logits(  # noqa: E731
                x, float_target
            )
        else:
            loss_function = lambda: torch.nn.functional.cross_entropy(x, target)  # noqa: E731
    else:
        focal = {
            "sigmoid": torchfocal.sigmoid_focal_loss,
            "softmax": torchfocal.softmax_focal_loss,
            "dice": torchfocal.dice_loss,
        }[case.loss]
        loss_function = lambda: focal(x, target, reduction="mean", backend="triton")  # noqa: E731
    with counting() as counter:
        counter.inputs(x, target)
        if implementation == "baseline" and case.loss == "sigmoid":
            counter.inputs(float_target)
        loss = loss_function()
        (grad,) = torch.autograd.grad(loss, x)
        del loss, grad  # what the call leaves behind is freed before the counter closes
    elements = x.numel()
    return {
        "bytes_per_element": counter.bytes / elements,
        # the most memory the call held at once beyond its inputs, gradient included
        "peak_logit_buffers": counter.peak_bytes / (elements * x.element_size()),
        "ops": counter.ops,
        "launches": [vars(launch) for launch in counter.launches],
    }


#: The H100 SXM's issue rate: 132 SMs x 4 warp instructions per clock x 32 threads x 1.98 GHz,
#: in thread instructions (one element's instruction in one thread) per second.
H100_THREAD_INSTRUCTIONS_PER_S = 132 * 4 * 32 * 1.98e9


def _threads(launch: dict[str, Any]) -> int:
    return 32 * int(launch["options"].get("num_warps", 4))


def _loop_trips_and_elements(launch: dict[str, Any], shape: tuple[int, ...]) -> tuple[float, float]:
    """(trips of the kernel's loop, elements of the row's input one program handles) for a
    gpu.py row of ``shape``. Elementwise: a grid-stride loop over blocks of BLOCK elements,
    blocks / programs trips (on average). Softmax: a loop over blocks of BLOCK_C classes of
    BLOCK_L rows (the forward of a row that fits in one block has no loop). Regions (Dice):
    tiles of BLOCK_L locations by BLOCK_C >= C classes (the padding classes are masked:
    they cost instructions, not elements); the sums kernel loops over TILES tiles a program
    (TILES trips, the last ones masked where a row's tiles run out), the gradient kernel
    takes one tile and has no loop; a program handles the row's elements / programs."""
    constexprs = launch["constexprs"]
    if launch["kernel"].startswith("_region_"):
        return float(constexprs.get("TILES", 0)), math.prod(shape) / launch["programs"]
    rows, classes = shape
    if "BLOCK" in constexprs:
        blocks = -(-rows * classes // constexprs["BLOCK"])
        trips = blocks / launch["programs"]
        return trips, trips * constexprs["BLOCK"]
    trips = -(-classes // constexprs["BLOCK_C"])
    return float(trips), float(constexprs["BLOCK_L"] * classes)


@functools.cache
def _compiled(launch: str) -> dict[str, Any]:
    """One specialisation compiled for sm_90 (rows share specialisations)."""
    return triton_aot.compile_one(json.loads(launch), ["cuda", 90, 32], "binary")


def instructions(launches: list[dict[str, Any]], shape: tuple[int, ...]) -> dict[str, Any]:
    """SASS instructions per logit element of a row's launches (sm_90 cubins compiled here),
    summed over the launches (forward and backward).

    Per launch, what one thread executes: the code outside the kernel's loop once, the
    loop's body once per trip (:func:`_loop_trips_and_elements`; the static count, branches
    not taken included: an upper bound), over the elements that thread handles (the
    program's elements / its threads)."""
    if os.environ.get("TRITON_INTERPRET", "0") not in ("", "0"):
        raise RuntimeError("instruction counts compile the kernels: run without TRITON_INTERPRET")
    per_launch = []
    for launch in launches:
        result = _compiled(json.dumps({k: v for k, v in launch.items() if k != "programs"}))
        if "error" in result:
            raise RuntimeError(result["error"])
        trips, elements = _loop_trips_and_elements(launch, shape)
        bodies = result["sass_loop_instructions"]
        if len(bodies) > 1:
            raise RuntimeError(f"{launch['kernel']}: {len(bodies)} loops; the model knows one")
        body = bodies[0] if bodies else 0
        executed = result["sass_instructions"] - body + body * trips
        per_launch.append(
            {
                "kernel": launch["kernel"],
                "sass_instructions": result["sass_instructions"],
                "sass_loop_instructions": body,
                "loop_trips": round(trips, 2),
                "registers": result["registers"],
                "spill_bytes": result["spill_bytes"],
                "per_element": executed / (elements / _threads(launch)),
            }
        )
    return {
        "per_element": sum(item["per_element"] for item in per_launch),
        "launches": per_launch,
    }


def minimum_bytes(case: gpu.Case) -> float:
    """The sync-free minimum per logit element (see the module docstring)."""
    classes = case.full_shape[1]
    logit = torch.empty((), dtype=case.dtype).element_size()
    if case.loss == "softmax" or case.target == "index":
        target = 8 / classes  # one int64 index per row
    elif case.target == "bool":
        target = 1
    else:
        target = logit
    return 3 * logit + 2 * target


def table(with_instructions: bool = False) -> list[dict[str, Any]]:
    """Every gpu.py row by the model; ``with_instructions`` also compiles each row's launches
    for sm_90 (so not under TRITON_INTERPRET)."""
    rows = []
    for case in gpu.all_cases():
        ours = measure(case, "triton")
        baseline = measure(case, "baseline")
        minimum = minimum_bytes(case)
        rows.append(
            {
                "case": case.name,
                "shape": list(case.full_shape),
                "bytes_per_element": round(ours["bytes_per_element"], 3),
                "minimum_bytes_per_element": round(minimum, 3),
                "baseline": case.baseline,
                "baseline_bytes_per_element": round(baseline["bytes_per_element"], 3),
                "h100_memory_ms": round(
                    ours["bytes_per_element"] * math.prod(case.full_shape) / H100_BYTES_PER_S * 1e3,
                    4,
                ),
                "ratio_to_baseline": round(
                    ours["bytes_per_element"] / baseline["bytes_per_element"], 3
                ),
                "peak_logit_buffers": round(ours["peak_logit_buffers"], 3),
                "baseline_peak_logit_buffers": round(baseline["peak_logit_buffers"], 3),
                "ops": ours["ops"],
                "launches": ours["launches"],
            }
        )
    if with_instructions:
        for row in rows:
            counted = instructions(row["launches"], tuple(row["shape"]))
            memory_s = row["bytes_per_element"] / H100_BYTES_PER_S
            instruction_s = counted["per_element"] / H100_THREAD_INSTRUCTIONS_PER_S
            row.update(
                instructions_per_element=round(counted["per_element"], 1),
                registers=max(item["registers"] for item in counted["launches"]),
                spill_bytes=max(item["spill_bytes"] for item in counted["launches"]),
                instruction_time_over_memory_time=round(instruction_s / memory_s, 2),
            )
    return rows


def markdown(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| case | bytes / element | sync-free minimum | baseline bytes / element | "
        "modelled H100 memory time (ms) | modelled ratio to baseline | peak memory, in "
        "buffers of the logits' size (baseline) | SASS instructions / element (fwd + bwd) | "
        "registers (most) | spill bytes | instruction / memory time |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row['case']} {tuple(row['shape'])} | {row['bytes_per_element']:.2f} | "
            f"{row['minimum_bytes_per_element']:.2f} | {row['baseline_bytes_per_element']:.2f} "
            f"({row['baseline']}) | {row['h100_memory_ms']:.3f} | {row['ratio_to_baseline']:.2f} "
            f"| {row['peak_logit_buffers']:.2f} ({row['baseline_peak_logit_buffers']:.2f}) "
            f"| {row.get('instructions_per_element', '-')} | {row.get('registers', '-')} | "
            f"{row.get('spill_bytes', '-')} | {row.get('instruction_time_over_memory_time', '-')} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "gpu-model.json")
    parser.add_argument(
        "--bytes-only", action="store_true", help="no compile: bytes per element alone"
    )
    args = parser.parse_args(argv)
    rows = table(with_instructions=not args.bytes_only)
    for row in rows:
        del row["launches"]
    args.out.write_text(json.dumps(rows, indent=1))
    print(markdown(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
