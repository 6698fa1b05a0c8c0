"""Compile every Triton kernel specialisation that torchfocal's public API launches, ahead of
time, for real GPUs, on a machine without one.

Triton's interpreter (TRITON_INTERPRET=1, how the test suite runs the kernels on the CPU)
runs a kernel's math but never its compiler: annotations on jitted functions, returns of
different types, register spills are only seen by compiling. This script does, in two steps:

1. ``record``: under the interpreter, a grid of real public calls (every loss with a kernel,
   target form and dtype, alpha / gamma / weight / pos_weight mode, label smoothing,
   reduction, with and without the gradient, float16 / bfloat16 / float32 / float64, shapes
   that reach every block configuration, aligned and offset pointers), plus the kernels'
   host functions on meta tensors of more than 2**31 elements (64-bit indexing), with every
   kernel replaced by a recorder that keeps what the launch would specialise on and runs
   nothing. The launches are reduced to their distinct specialisations.
2. ``compile`` (a separate process, without the interpreter, run by any Python that has
   torch and the Triton to test): builds each specialisation's signature, constants and
   attributes with Triton's own launcher code (the binder and ``_pack_args`` that
   ``JITFunction.run`` uses), and compiles it with ``triton.compile(ASTSource(...),
   target=GPUTarget(...))``: to TTIR (the front end) or through PTX to a cubin (ptxas of
   the Triton wheel), with the registers and spills from the ptxas log.

Usage::

    python tools/triton_aot.py                      # CI: TTIR of every specialisation for
                                                    # sm_90 and sm_80, cubins of a covering set
    python tools/triton_aot.py --full               # before a release: every specialisation
                                                    # through cubin, AMD targets too
    python tools/triton_aot.py --python /venv/bin/python   # with another Triton
    python tools/triton_aot.py --kernels regions    # only the kernels of one module

It writes a JSON report (``--out``) and exits 1 on any compile error or any spill in a
specialisation whose compute dtype is float32.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import itertools
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: GPU targets: (backend, arch, warp size). The default run and the full run.
CUDA_TARGETS = [("cuda", 90, 32), ("cuda", 80, 32)]
HIP_TARGETS = [("hip", "gfx942", 64), ("hip", "gfx90a", 64)]
KERNEL_MODULES = (
    "torchfocal._triton.elementwise",
    "torchfocal._triton.softmax",
    "torchfocal._triton.regions",
)
CONSTEXPR_PREFIX = "tl."


# --------------------------------------------------------------------------------------
# Step 1: record the launches of a grid of public calls (under the interpreter)
# --------------------------------------------------------------------------------------


@dataclass
class Launch:
    """One launch as its specialisation: the kernel, each argument as what the launcher
    specialises on, the constexprs and the launch options."""

    module: str
    kernel: str
    args: list[Any]
    constexprs: dict[str, Any]
    options: dict[str, Any]

    def key(self) -> str:
        return json.dumps([self.module, self.kernel, self.args, self.constexprs, self.options])


def _describe(value: Any) -> Any:
    """What Triton's launcher specialises on: a tensor's dtype and 16-byte alignment, an
    integer's value class (1, a multiple of 16, 32 or 64 bits), a float's type."""
    import torch

    if isinstance(value, torch.Tensor):
        aligned = value.device.type == "meta" or value.data_ptr() % 16 == 0
        return {"tensor": str(value.dtype).removeprefix("torch."), "aligned": aligned}
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):  # a representative of the value's class
        if value == 1:
            return {"int": 1}
        base = 16 if -(2**31) <= value < 2**31 else 2**32
        return {"int": base if value % 16 == 0 else base + 1}
    if isinstance(value, float):
        return {"float": 0.5}
    return {"constexpr": _constexpr(value)}


def _constexpr(value: Any) -> Any:
    """A constexpr as JSON: a dtype as "tl.<name>", a jit function (a loss's kernel math)
    as {"function": "<module>:<name>"}."""
    import triton
    import triton.language as tl

    if isinstance(value, tl.dtype):
        return CONSTEXPR_PREFIX + str(value)
    from triton.runtime.interpreter import InterpretedFunction

    if isinstance(value, (triton.runtime.JITFunction, InterpretedFunction)):
        return {"function": f"{value.fn.__module__}:{value.fn.__name__}"}
    return value


class _Recorder:
    """Stands in for a jitted kernel: ``kernel[grid](...)`` records, runs nothing."""

    def __init__(self, module: str, kernel: Any, launches: list[Launch]) -> None:
        self.fn = kernel.fn
        self._module = module
        self._launches = launches
        self._params = list(kernel.fn.__code__.co_varnames[: kernel.fn.__code__.co_argcount])

    def __getitem__(self, grid: Any) -> Callable[..., None]:
        def record(*args: Any, **kwargs: Any) -> None:
            constexpr_names = self._params[len(args) :]
            self._launches.append(
                Launch(
                    module=self._module,
                    kernel=self.fn.__name__,
                    args=[_describe(arg) for arg in args],
                    constexprs={k: _constexpr(kwargs[k]) for k in constexpr_names if k in kwargs},
                    options={k: v for k, v in kwargs.items() if k not in constexpr_names},
                )
            )

        return record


@contextlib.contextmanager
def recording() -> Iterator[list[Launch]]:
    """Every kernel of :data:`KERNEL_MODULES` replaced by a :class:`_Recorder`, and the
    engine on the branches it takes on a GPU (value checks as device-side asserts, which
    read the unwritten outputs of kernels that did not run: they assert nothing here)."""
    import importlib

    import torch

    from torchfocal._engine import autograd, checks, numerics

    launches: list[Launch] = []
    saved: list[tuple[Any, str, Any]] = [
        (checks, "_reads_eagerly", checks._reads_eagerly),
        (torch, "_assert_async", torch._assert_async),
        *((module, "reads_values", module.reads_values) for module in (checks, numerics, autograd)),
    ]
    checks._reads_eagerly = lambda device: False
    torch._assert_async = lambda *args, **kwargs: None
    for module in (checks, numerics, autograd):
        module.reads_values = lambda tensor: False
    for name in KERNEL_MODULES:
        module = importlib.import_module(name)
        for attribute, value in vars(module).items():
            if attribute.endswith("_kernel") and hasattr(value, "fn"):
                saved.append((module, attribute, value))
                setattr(module, attribute, _Recorder(name, value, launches))
    try:
        yield launches
    finally:
        for module, attribute, value in saved:
            setattr(module, attribute, value)


def _public_calls() -> Iterator[Callable[[], Any]]:
    """The grid of public calls: one factor varied at a time around a base call of each loss,
    for every input dtype and with and without the gradient, so that every constexpr value
    and argument type the API can launch is reached (see the module docstring)."""
    import torch

    import torchfocal

    dtypes = [torch.float16, torch.bfloat16, torch.float32, torch.float64]

    def call(name: str, x: torch.Tensor, target: Any, grad: bool, **options: Any) -> Callable:
        def run() -> Any:
            x_in = x.detach().requires_grad_(grad)  # (a clone would be aligned)
            value = getattr(torchfocal, name)(x_in, target, backend="triton", **options)
            if grad:  # the backward launches
                torch.autograd.grad(value, x_in, torch.ones_like(value))
            return value

        return run

    def offset(x: torch.Tensor) -> torch.Tensor:
        """x at a pointer 4 bytes past 16-byte alignment (a view into a larger buffer)."""
        flat = torch.empty(x.numel() + 8, dtype=x.dtype)[1 : 1 + x.numel()]
        return flat.view(x.shape).copy_(x)

    n, c = 6, 5
    for dtype, grad in itertools.product(dtypes, (True, False)):
        x = torch.randn(n, c, dtype=torch.float64).to(dtype)
        mask = torch.rand(n, c) < 0.3
        index = torch.randint(0, c + 1, (n,))
        soft = torch.rand(n, c, dtype=torch.float64).to(dtype)
        per_class = [0.1, 0.2, 0.3, 0.4, 0.5]
        # sigmoid focal: every target form and option, each alone
        sigmoid_variants: list[tuple[Any, dict[str, Any]]] = [
            (mask, {}),
            (mask.to(torch.uint8), {}),
            (mask.to(dtype), {}),
            (mask.to(torch.float32), {}),
            (soft, {}),
            (index, {}),
            (index.to(torch.int32), {}),
            (mask, {"alpha": None}),
            (mask, {"alpha": per_class}),
            (mask, {"gamma": 0.5}),
            (mask, {"gamma": 0.0}),
            (mask, {"gamma": 1.0}),
            (soft, {"gamma": 3.0}),
            (mask, {"gamma": "flsd53"}),
            (mask, {"gamma": lambda p_t: 2.0 + p_t}),
            (mask, {"weight": torch.rand(c, dtype=torch.float64).to(dtype)}),
            (mask, {"weight": torch.rand(n, c, dtype=torch.float64).to(dtype)}),
            (mask, {"pos_weight": torch.rand(c, dtype=torch.float64).to(dtype) + 0.5}),
            (mask, {"label_smoothing": 0.1}),
            (index, {"label_smoothing": 0.1, "alpha": per_class}),
            (index, {"ignore_index": 2}),
        ]
        for reduction in ("none", "mean", "sum", "positives"):
            sigmoid_variants.append((mask, {"reduction": reduction}))
            sigmoid_variants.append((index, {"reduction": reduction}))
        for target, options in sigmoid_variants:
            yield call("sigmoid_focal_loss", x, target, grad, **options)
        yield call("sigmoid_focal_loss", offset(x), mask, grad)
        yield call("sigmoid_focal_loss", x[:1], mask[:1], grad)  # n_elements not % 16
        yield call(
            "sigmoid_focal_loss",
            x.reshape(2, 3, c).transpose(1, 2),
            mask.reshape(2, 3, c).transpose(1, 2),
            grad,
        )  # class_dim=1 of a (2, 5, 3) map
        big = torch.randn(2, c, 300, dtype=torch.float64).to(dtype)  # several programs
        yield call("sigmoid_focal_loss", big, torch.rand(2, c, 300) < 0.2, grad)
        # the rest of the sigmoid family: each loss's own options, a hard and a soft target
        family = [
            ("sigmoid_focal_loss_star", {"gamma": 2.0, "beta": 1.0}),
            ("sigmoid_focal_loss_star", {"gamma": 0.5, "beta": -0.5, "alpha": per_class}),
            ("asymmetric_loss", {}),
            ("asymmetric_loss", {"clip": 0.0}),
            ("poly1_focal_loss", {"epsilon": 1.0}),
            ("poly1_focal_loss", {"alpha": per_class, "label_smoothing": 0.1}),
            ("poly1_cross_entropy", {"activation": "sigmoid"}),
        ]
        for (name, options), target in itertools.product(family, (mask, soft, index)):
            yield call(name, x, target, grad, **options)
        for name, reduction in itertools.product(
            ("sigmoid_focal_loss_star", "asymmetric_loss", "poly1_focal_loss"),
            ("none", "positives"),
        ):
            yield call(name, x, mask, grad, reduction=reduction)
        score = soft * mask.to(dtype)
        for name, options in [
            ("varifocal_loss", {}),
            ("varifocal_loss", {"iou_weighted": False, "gamma": 0.5}),
            ("quality_focal_loss", {"beta": 2.0}),
            ("quality_focal_loss", {"beta": 0.0}),
        ]:
            for reduction in ("none", "mean", "sum", "positives"):
                yield call(name, x, score, grad, reduction=reduction, **options)
            yield call(name, x, score, grad, weight=torch.rand(n, c).to(dtype), **options)
        eqlv2 = {"pos_grad": torch.rand(c).double(), "neg_grad": torch.rand(c).double() + 1}
        yield call("equalization_loss_v2", x, index, grad, **eqlv2)
        # the softmax form: rows and maps, one block and several, every target form
        labels = torch.randint(0, c, (n,))
        probabilities = torch.softmax(torch.randn(n, c, dtype=torch.float64), 1).to(dtype)
        softmax_variants: list[tuple[Any, Any, dict[str, Any]]] = [
            (x, labels, {}),
            (x, labels.to(torch.int32), {}),
            (x, labels, {"alpha": per_class}),
            (x, labels, {"weight": torch.rand(c, dtype=torch.float64).to(dtype)}),
            (x, labels, {"gamma": 0.0}),
            (x, labels, {"gamma": 0.5}),
            (x, labels, {"gamma": "flsd53"}),
            (x, labels, {"gamma": lambda p_t: 2.0 + p_t}),
            (x, labels, {"label_smoothing": 0.1}),
            (x, labels, {"label_smoothing": 0.1, "gamma": "flsd53", "alpha": per_class}),
            (x, probabilities, {}),
            (x, probabilities, {"gamma": lambda p_t: 2.0 + p_t}),
            (x, probabilities, {"label_smoothing": 0.1, "alpha": per_class}),
            (offset(x), labels, {}),
            (x[:1], labels[:1], {}),
            (x, labels, {"reduction": "none"}),
            (x, labels, {"reduction": "sum"}),
        ]
        for classes in (3000, 9000):  # several class blocks: rows, and maps of 5 positions
            wide = torch.randn(2, classes, dtype=torch.float64).to(dtype)
            wide_labels = torch.randint(0, classes, (2,))
            softmax_variants += [
                (wide, wide_labels, {}),
                (wide, wide_labels, {"label_smoothing": 0.1}),
                (wide, wide_labels, {"gamma": lambda p_t: 2.0 + p_t}),
                (wide, torch.softmax(wide.double(), 1).to(dtype), {"alpha": [0.5] * classes}),
            ]
        for classes, inner in ((5, 7), (5, 100), (300, 40), (2000, 3), (64, 16)):
            grid_x = torch.randn(2, classes, inner, dtype=torch.float64).to(dtype)
            grid_labels = torch.randint(0, classes, (2, inner))
            softmax_variants += [
                (grid_x, grid_labels, {}),
                (grid_x, grid_labels, {"label_smoothing": 0.1, "gamma": "flsd53"}),
                (grid_x, torch.softmax(grid_x.double(), 1).to(dtype), {}),
            ]
        for x_s, target, options in softmax_variants:
            yield call("softmax_focal_loss", x_s, target, grad, **options)
        counts = [50, 20, 10, 5, 1]
        for name, options in [
            ("logit_adjusted_cross_entropy", {"prior": counts}),
            ("ldam_loss", {"class_counts": counts}),
            ("seesaw_loss", {"class_counts": torch.tensor(counts)}),
            ("class_balanced_loss", {"weight": torch.rand(c).to(dtype), "loss": "softmax"}),
            ("class_balanced_loss", {"weight": torch.rand(c).to(dtype), "loss": "focal"}),
        ]:
            yield call(name, x, labels, grad, **options)
        # the logit adjustments (softmax_math.ADJUSTMENTS) on every path of the kernel: dense
        # targets (logit adjustment's probabilities and label smoothing), maps, and rows of
        # several class blocks (the raw-row pass of LDAM and Seesaw)
        yield call("logit_adjusted_cross_entropy", x, probabilities, grad, prior=counts)
        yield call(
            "logit_adjusted_cross_entropy", x, labels, grad, prior=counts, label_smoothing=0.1
        )
        adjusted_map = torch.randn(2, c, 7, dtype=torch.float64).to(dtype)
        map_labels = torch.randint(0, c, (2, 7))
        for name, options in [
            ("logit_adjusted_cross_entropy", {"prior": counts}),
            ("ldam_loss", {"class_counts": counts}),
            ("seesaw_loss", {"class_counts": torch.tensor(counts)}),
        ]:
            yield call(name, adjusted_map, map_labels, grad, **options)
            wide = torch.randn(2, 3000, dtype=torch.float64).to(dtype)
            wide_counts = {key: torch.rand(3000) * 50 + 1 for key in options}
            yield call(name, wide, torch.randint(0, 3000, (2,)), grad, **wide_counts)
        bins = torch.randn(n, 4, 8, dtype=torch.float64).to(dtype)
        yield call("distribution_focal_loss", bins, torch.rand(n, 4) * 6.5, grad)
        # the two-bin target with a weight per location, and over a map (class_dim=1)
        yield call(
            "distribution_focal_loss", bins, torch.rand(n, 4) * 6.5, grad, weight=torch.rand(n, 4)
        )
        bins_map = torch.randn(2, 8, 9, dtype=torch.float64).to(dtype)
        yield call("distribution_focal_loss", bins_map, torch.rand(2, 9) * 7, grad, class_dim=1)


def _wide_calls() -> Iterator[Callable[[], Any]]:
    """The kernels' host functions on meta tensors of more than 2**31 elements: the 64-bit
    index specialisations (no public call on such a tensor fits a test machine)."""
    import torch

    from torchfocal._triton import elementwise, softmax

    meta = {"device": "meta"}
    for dtype, need_grad, classes in itertools.product(
        (torch.bfloat16, torch.float32, torch.float64), (True, False), (79, 80)
    ):
        # n_elements above 2**31, a multiple of 16 and not
        x = torch.empty(2**31 // classes + 1, classes, 1, dtype=dtype, **meta)
        mask = torch.empty(x.shape, dtype=torch.uint8, **meta)
        index = torch.empty(x.shape[0], 1, dtype=torch.int64, **meta)
        upstream = torch.empty((), dtype=torch.float32, **meta)
        for target, form in ((mask, "mask"), (index, "index")):
            common = {
                "form": form, "ignore_index": -100, "label_smoothing": 0.0, "alpha": 0.25,
                "weight": None, "pos_weight": None, "gamma": 2.0, "params": {},
            }  # fmt: skip
            for options in (
                {"output": "partials", "need_count": form == "index"},
                {"output": "elements"},
                {"output": "none", "need_grad": True, "upstream": upstream},
            ):
                if options.get("need_grad", False) != need_grad:
                    continue
                yield lambda x=x, t=target, c=common, o=options: elementwise.elementwise_loss(
                    "sigmoid_focal", x, t, **c, **o
                )
        for shape in ((2**31 // 1000 + 1, 1000, 1), (2, 1000, 2**30 // 1000 + 1)):
            xs = torch.empty(shape, dtype=dtype, **meta)
            labels = torch.empty(shape[0], shape[2], dtype=torch.int64, **meta)
            yield lambda xs=xs, labels=labels, g=need_grad: softmax.softmax_focal(
                xs, index=labels, probabilities=None, ignore_index=-100, label_smoothing=0.0,
                gamma=2.0, class_factor=None, need_grad=g,
            )  # fmt: skip


def _region_calls() -> Iterator[Callable[[], Any]]:
    """The region losses' kernels (Dice / Tversky family): every activation, target form
    (indices, indices with ignored locations, dense), squared sums, input dtype, a class
    count in each tile shape, an offset pointer; and the host functions on meta tensors of
    more than 2**31 elements (64-bit offsets), with the class-index flag of a GPU's launch
    and several tiles a sums program (launches of 8 x 1024 tiles or more)."""
    import torch

    import torchfocal
    from torchfocal._triton import regions

    def call(name: str, x: torch.Tensor, target: Any, grad: bool, **options: Any) -> Callable:
        def run() -> Any:
            x_in = x.detach().requires_grad_(grad)
            value = getattr(torchfocal, name)(x_in, target, backend="triton", **options)
            if grad:
                torch.autograd.grad(value, x_in)
            return value

        return run

    dtypes = [torch.float16, torch.bfloat16, torch.float32, torch.float64]
    for dtype, grad in itertools.product(dtypes, (True, False)):
        # a tile of few classes and many locations down to one of 1024 classes; 16 and 17
        # locations (Triton specialises an integer divisible by 16)
        shapes = ((3, (5, 4)), (3, (16,)), (3, (17,)), (21, (6,)), (300, (3,)), (1024, (2,)))
        for classes, spatial in shapes:
            x = torch.randn(2, classes, *spatial, dtype=torch.float64).to(dtype)
            index = torch.randint(0, classes, (2, *spatial))
            ignored = index.clone()
            ignored[0, 0] = -100
            soft = torch.rand(x.shape, dtype=torch.float64).to(dtype)
            for target, options in [
                (index, {}),
                (ignored, {}),
                (soft, {}),
                (index, {"squared": True}),
                (soft, {"squared": True}),
                (index, {"activation": "sigmoid"}),
                (ignored, {"activation": "sigmoid"}),
                (soft, {"activation": "sigmoid"}),
            ]:
                yield call("dice_loss", x, target, grad, **options)
            probabilities = torch.rand(x.shape, dtype=torch.float64).to(dtype)
            yield call("dice_loss", probabilities, index, grad, activation="none")
            yield call("dice_loss", probabilities, soft, grad, activation="none")
            yield call("tversky_loss", x, ignored, grad, alpha=0.3, beta=0.7)
            yield call("generalized_dice_loss", x, index, grad)
        flat = torch.empty(2 * 3 * 20 + 1, dtype=dtype)[1:].view(2, 3, 20)  # offset pointer
        yield call("dice_loss", flat, torch.randint(0, 3, (2, 20)), grad)
    meta = {"device": "meta"}
    for dtype, classes in itertools.product(
        (torch.bfloat16, torch.float32, torch.float64), (4, 21)
    ):
        inner = 2**31 // (2 * classes) + 1
        x = torch.empty(2, classes, inner, dtype=dtype, **meta)
        index = torch.empty(2, inner, dtype=torch.int64, **meta)
        vjp = torch.empty(
            2, classes, dtype=torch.float64 if dtype == torch.float64 else torch.float32, **meta
        )
        # the class-index check in the sums kernel (a flag per program), as on a GPU; the
        # sigmoid's counted-location column; several tiles a program (a launch this large)
        for activation, check in itertools.product(("softmax", "sigmoid"), (False, True)):
            largest = classes if activation == "sigmoid" else classes - 1
            options = {"activation": activation, "squared": False, "samples": 2}
            yield lambda x=x, t=index, o=options, k=check, b=largest: regions.sums(
                x, t, largest=b, check_index=k, **o
            )
            yield lambda x=x, t=index, d=vjp, o=options: regions.gradient(x, t, d, d, **o)
    # below 2**31 elements: several tiles a program without 64-bit offsets
    x = torch.empty(16, 21, 256 * 256, dtype=torch.float32, **meta)
    index = torch.empty(16, 256 * 256, dtype=torch.int64, **meta)
    for squared in (False, True):
        options = {"activation": "softmax", "squared": squared, "samples": 16}
        yield lambda x=x, t=index, o=options: regions.sums(x, t, largest=20, check_index=True, **o)


#: The call grids, by the kernel modules they launch.
CALL_GRIDS: list[tuple[tuple[str, ...], Callable[[], Iterator[Callable[[], Any]]]]] = [
    (KERNEL_MODULES[:2], _public_calls),
    (KERNEL_MODULES[:2], _wide_calls),
    (KERNEL_MODULES[2:], _region_calls),
]


def record(only: str | None = None) -> list[Launch]:
    """The distinct specialisations the grid launches (TRITON_INTERPRET=1 must be set before
    triton is imported); ``only``: those of the kernel modules whose name contains it."""
    import warnings

    grids = [
        grid for modules, grid in CALL_GRIDS if only is None or any(only in m for m in modules)
    ]
    with recording() as launches, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for run in itertools.chain.from_iterable(grid() for grid in grids):
            run()
    distinct = {
        launch.key(): launch for launch in launches if only is None or only in launch.module
    }
    return list(distinct.values())


# --------------------------------------------------------------------------------------
# Step 2: compile (a process without the interpreter)
# --------------------------------------------------------------------------------------


def _argument(description: Any) -> Any:
    """A value that the launcher specialises as ``description`` says."""
    import torch

    if isinstance(description, dict):
        if "tensor" in description:
            dtype = getattr(torch, description["tensor"])
            buffer = torch.empty(64, dtype=dtype)
            return buffer if description["aligned"] else buffer[1:]
        if "int" in description:
            return description["int"]
        if "float" in description:
            return description["float"]
    return description


def _constexpr_value(value: Any) -> Any:
    import triton.language as tl

    if isinstance(value, str) and value.startswith(CONSTEXPR_PREFIX):
        return tl.dtype(value.removeprefix(CONSTEXPR_PREFIX))
    if isinstance(value, dict) and "function" in value:
        return _kernel(*value["function"].split(":"))
    return value


def _kernel(module: str, name: str) -> Any:
    import importlib

    return getattr(importlib.import_module(module), name)


_PTXAS_REGISTERS = re.compile(r"Used (\d+) registers")
_PTXAS_SPILLS = re.compile(r"(\d+) bytes spill stores, (\d+) bytes spill loads")


def compile_one(launch: dict[str, Any], target_spec: list[Any], stage: str) -> dict[str, Any]:
    """Compile one specialisation for one target to ``stage`` ("ttir" or "binary")."""
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource, make_backend
    from triton.runtime.jit import create_function_from_signature

    kernel = _kernel(launch["module"], launch["kernel"])
    target = GPUTarget(*target_spec)
    result: dict[str, Any] = {
        "kernel": launch["kernel"],
        "target": f"{target.backend}:{target.arch}",
        "stage": stage,
        "constexprs": launch["constexprs"],
        "triton": triton.__version__,
    }
    started = time.perf_counter()
    try:
        backend = make_backend(target)
        binder = create_function_from_signature(kernel.signature, kernel.params, backend)
        args = [_argument(a) for a in launch["args"]]
        kwargs = {k: _constexpr_value(v) for k, v in launch["constexprs"].items()}
        kwargs.update(launch["options"])
        bound, specialization, options = binder(*args, **kwargs)
        options, signature, constexprs, attrs = kernel._pack_args(
            backend, kwargs, bound, specialization, options
        )
        source = ASTSource(kernel, signature, constexprs, attrs)
        if stage == "ttir":
            _front_end(source, target, backend, options)
        else:
            triton.knobs.nvidia.dump_ptxas_log = True  # ptxas -v: registers and spills,
            triton.knobs.compilation.always_compile = True  # so never from the cache
            log = io.StringIO()
            with contextlib.redirect_stdout(log):
                compiled = triton.compile(source, target=target, options=options.__dict__)
            result.update(_resources(compiled, log.getvalue(), target.backend))
    except Exception as error:  # every compile error is a result, reported whole
        result["error"] = f"{type(error).__name__}: {error}"
    result["seconds"] = round(time.perf_counter() - started, 3)
    return result


def _front_end(source: Any, target: Any, backend: Any, options: Any) -> None:
    """The front end alone: Python AST to TTIR and its passes (what triton.compile runs
    before the target's lowering)."""
    from triton._C.libtriton import ir

    context = ir.context()
    ir.load_dialects(context)
    backend.load_dialects(context)
    codegen = backend.get_codegen_implementation(options)
    module = source.make_ir(target, options, codegen, backend.get_module_map(), context)
    stages: dict[str, Any] = {}
    backend.add_stages(stages, options, source.language)
    metadata: dict[str, Any] = {"target": target, **options.__dict__}
    stages["ttir"](module, metadata)


def _resources(compiled: Any, ptxas_log: str, backend: str) -> dict[str, Any]:
    """Registers and spill bytes of a compiled kernel: ptxas's own log on CUDA, the
    metadata of the AMD backend."""
    if backend == "cuda":
        registers = _PTXAS_REGISTERS.findall(ptxas_log)
        spills = _PTXAS_SPILLS.findall(ptxas_log)
        return {
            "registers": int(registers[-1]) if registers else None,
            "spill_bytes": sum(int(st) + int(ld) for st, ld in spills) if spills else None,
            **_sass_counts(compiled.asm["cubin"]),
        }
    # AMD: the code object's metadata in the assembly (vector registers and their spills)
    assembly = compiled.asm.get("amdgcn", "")
    registers = re.findall(r"\.vgpr_count:\s+(\d+)", assembly)
    spills = re.findall(r"\.[sv]gpr_spill_count:\s+(\d+)", assembly)
    return {
        "registers": int(registers[0]) if registers else None,
        "spill_bytes": 4 * sum(int(count) for count in spills) if spills else None,
    }


def _sass(cubin: bytes) -> list[tuple[int, str]] | None:
    """A cubin's SASS instructions as (address, text) (cuobjdump of the Triton wheel)."""
    import triton

    tool = Path(triton.__file__).parent / "backends" / "nvidia" / "bin" / "cuobjdump"
    if not tool.exists():
        return None
    with tempfile.NamedTemporaryFile(suffix=".cubin") as file:
        file.write(cubin)
        file.flush()
        out = subprocess.run([str(tool), "-sass", file.name], capture_output=True, text=True)
    return [
        (int(address, 16), text.strip())
        for address, text in re.findall(
            r"^\s+/\*([0-9a-f]{4,})\*/\s+(.*?);", out.stdout, flags=re.MULTILINE
        )
    ]


def loop_bodies(instructions: list[tuple[int, str]]) -> list[int]:
    """The instruction count of each loop: the instructions from a backward branch's target
    to the branch (the trap that ends a kernel, a branch to itself, is no loop)."""
    bodies = []
    for address, text in instructions:
        branch = re.search(r"\bBRA\b.*?0x([0-9a-f]+)", text)
        if branch and int(branch.group(1), 16) < address:
            start = int(branch.group(1), 16)
            bodies.append(sum(1 for a, _ in instructions if start <= a <= address))
    return bodies


def executed_code(instructions: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """The instructions less the end's padding, which never runs: the trap after the last
    EXIT (a branch to itself) and the NOPs that align the kernel's size."""
    end = len(instructions)
    while end and (
        instructions[end - 1][1] == "NOP"
        or re.fullmatch(rf"BRA 0x{instructions[end - 1][0]:x}", instructions[end - 1][1])
    ):
        end -= 1
    return instructions[:end]


def _sass_counts(cubin: bytes) -> dict[str, Any]:
    instructions = _sass(cubin)
    if instructions is None:
        return {"sass_instructions": None, "sass_loop_instructions": None}
    instructions = executed_code(instructions)
    return {
        "sass_instructions": len(instructions),
        "sass_loop_instructions": loop_bodies(instructions),
    }


def covering_set(launches: list[dict[str, Any]]) -> list[int]:
    """Indices of a small set of specialisations in which each kernel's every constexpr
    value, argument type and launch option appears at least once (greedy set cover)."""

    def features(launch: dict[str, Any]) -> set[str]:
        items = [("arg", i, json.dumps(a)) for i, a in enumerate(launch["args"])]
        items += [("constexpr", k, json.dumps(v)) for k, v in launch["constexprs"].items()]
        items += [("option", k, json.dumps(v)) for k, v in launch["options"].items()]
        return {f"{launch['kernel']}|{item}" for item in items}

    # each launch's features once: building them (a json.dumps per item) in every round of
    # the greedy choice, for every launch, was nearly all of its time
    each = [features(launch) for launch in launches]
    remaining = set().union(*each) if each else set()
    chosen: list[int] = []
    while remaining:
        best = max(range(len(each)), key=lambda i: len(each[i] & remaining))
        chosen.append(best)
        remaining -= each[best]
    return chosen


def _compile_all(
    launches: list[dict[str, Any]], jobs: list[tuple[int, list[Any], str]], workers: int
) -> list[dict[str, Any]]:
    if workers <= 1:
        return [compile_one(launches[i], target, stage) for i, target, stage in jobs]
    with ProcessPoolExecutor(workers) as pool:
        futures = [pool.submit(compile_one, launches[i], t, s) for i, t, s in jobs]
        return [future.result() for future in futures]


def compile_command(args: argparse.Namespace) -> None:
    os.environ.pop("TRITON_INTERPRET", None)
    launches = json.loads(Path(args.launches).read_text())
    targets = [list(t) for t in CUDA_TARGETS + (HIP_TARGETS if args.full else [])]
    if args.targets:
        targets = [t for t in targets if f"{t[0]}:{t[1]}" in args.targets.split(",")]
    binaries = range(len(launches)) if args.full else covering_set(launches)
    jobs = [(i, t, "ttir") for i in range(len(launches)) for t in targets if not args.full]
    jobs += [(i, t, "binary") for i in binaries for t in targets]
    results = _compile_all(launches, jobs, args.workers)
    Path(args.out).write_text(json.dumps(results, indent=1))


# --------------------------------------------------------------------------------------
# The whole run
# --------------------------------------------------------------------------------------


def summarise(results: list[dict[str, Any]]) -> tuple[list[str], list[str]]:
    """(report lines, failures): compile errors, and spills where the compute is float32."""
    failures: list[str] = []
    lines: list[str] = []
    for result in results:
        if "error" in result:
            failures.append(
                f"{result['kernel']} {result['target']} {result['stage']} "
                f"{result['constexprs']}:\n{result['error']}"
            )
        compute = str(
            result["constexprs"].get("COMPUTE", result["constexprs"].get("COMPUTE_DTYPE", ""))
        )
        if (result.get("spill_bytes") or 0) > 0 and "fp64" not in compute:
            failures.append(
                f"{result['kernel']} {result['target']} spills {result['spill_bytes']} bytes "
                f"in float32: {result['constexprs']}"
            )
    groups: dict[tuple[str, str, str, str], list[dict[str, Any]]] = {}
    for result in results:
        key = (result["triton"], result["kernel"], result["target"], result["stage"])
        groups.setdefault(key, []).append(result)
    for (version, kernel, target, stage), group in sorted(groups.items()):
        registers = [r["registers"] for r in group if r.get("registers") is not None]
        spills = [r["spill_bytes"] for r in group if r.get("spill_bytes")]
        errors = sum("error" in r for r in group)
        line = f"triton {version} {kernel} {target} {stage}: {len(group)} compiled, {errors} errors"
        if registers:
            line += f", registers {min(registers)}-{max(registers)}"
        if stage == "binary":
            line += f", spilling {len(spills)}"
            line += f" (up to {max(spills)} bytes)" if spills else ""
        lines.append(line)
    return lines, failures


def run(
    full: bool,
    pythons: list[str],
    workers: int,
    out: Path,
    targets: str = "",
    only: str | None = None,
) -> int:
    os.environ.setdefault("TRITON_INTERPRET", "1")
    started = time.perf_counter()
    launches = record(only)
    recorded = time.perf_counter() - started
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as scratch:
        launches_file = Path(scratch) / "launches.json"
        launches_file.write_text(json.dumps([vars(launch) for launch in launches]))
        for python in pythons:
            results_file = Path(scratch) / "results.json"
            env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
            env["TRITON_CACHE_DIR"] = str(Path(scratch) / "cache")  # ptxas runs: its log
            env["PYTHONPATH"] = os.pathsep.join(
                [str(Path(__file__).resolve().parents[1] / "src"), env.get("PYTHONPATH", "")]
            )
            command = [python, __file__, "compile", str(launches_file), "--out"]
            command += [str(results_file), "--workers", str(workers), "--targets", targets]
            command += ["--full"] * full
            subprocess.run(command, check=True, env=env)
            results += json.loads(results_file.read_text())
    lines, failures = summarise(results)
    report = {
        "specialisations": len(launches),
        "record_seconds": round(recorded, 1),
        "total_seconds": round(time.perf_counter() - started, 1),
        "summary": lines,
        "failures": failures,
        "results": results,
    }
    out.write_text(json.dumps(report, indent=1))
    print(f"{len(launches)} distinct specialisations recorded in {recorded:.1f} s")
    print("\n".join(lines))
    for failure in failures:
        print("FAILED:", failure)
    return 1 if failures else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command")
    compile_parser = sub.add_parser("compile", help="step 2 (internal): compile recorded launches")
    compile_parser.add_argument("launches")
    compile_parser.add_argument("--out", required=True)
    compile_parser.add_argument("--full", action="store_true")
    compile_parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    compile_parser.add_argument("--targets", default="")
    parser.add_argument("--full", action="store_true", help="every specialisation to a binary")
    parser.add_argument(
        "--python",
        action="append",
        help="a Python whose Triton compiles (repeatable; default: this one)",
    )
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--out", type=Path, default=Path("triton-aot.json"))
    parser.add_argument(
        "--targets", default="", help="only these targets, e.g. cuda:90,hip:gfx942 (default: all)"
    )
    parser.add_argument(
        "--kernels",
        default=None,
        help="only the kernel modules whose name contains this, e.g. regions (default: all)",
    )
    args = parser.parse_args(argv)
    if args.command == "compile":
        compile_command(args)
        return 0
    pythons = args.python or [sys.executable]
    return run(args.full, pythons, args.workers, args.out, args.targets, args.kernels)


if __name__ == "__main__":
    sys.exit(main())
