"""Softmax Dice with index targets, forward + backward: torchfocal's fused backend against
its naive (plain autograd, one-hot) form and MONAI's DiceLoss(to_onehot_y=True,
softmax=True) when MONAI is importable.

    PYTHONPATH=src python benchmarks/segmentation.py [--scale 0.5] [--repeats 3]

Time: the median of ``--repeats`` calls after one warm-up. Memory: the peak resident set
of a fresh process that runs one call, minus that of the same process before the call
(inputs made), in MiB. The goal rows of these cases are `torchfocal bench --only dice`
(interleaved pairs, ratios to MONAI and to the plain autograd form): BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

import torch

import torchfocal

SHAPES = {"3d": (2, 4, 96, 96, 96), "2d": (16, 21, 256, 256)}


def _inputs(shape: tuple[int, ...], scale: float) -> tuple[torch.Tensor, torch.Tensor]:
    spatial = [max(1, round(s * scale)) for s in shape[2:]]
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(shape[0], shape[1], *spatial, generator=generator)
    target = torch.randint(0, shape[1], (shape[0], *spatial), generator=generator)
    return x, target


def _call(name: str) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    if name == "monai":
        from monai.losses import DiceLoss

        monai_loss = DiceLoss(to_onehot_y=True, softmax=True)
        return lambda x, t: monai_loss(x, t.unsqueeze(1))
    return lambda x, t: torchfocal.dice_loss(x, t, backend=name)


def _step(name: str, x: torch.Tensor, target: torch.Tensor) -> None:
    leaf = x.detach().requires_grad_(True)
    _call(name)(leaf, target).backward()


def _peak_kib() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def _memory_child(name: str, shape: str, scale: float) -> None:
    x, target = _inputs(SHAPES[shape], scale)
    _call(name)  # import before the baseline
    before = _peak_kib()
    _step(name, x, target)
    print(json.dumps((_peak_kib() - before) / 1024))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", type=float, default=1.0, help="spatial size factor")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", nargs=2)
    args = parser.parse_args()
    if args.child:
        _memory_child(args.child[0], args.child[1], args.scale)
        return
    names = ["fused", "naive"]
    try:
        import monai.losses  # noqa: F401

        names.append("monai")
    except ImportError:
        pass
    torch.manual_seed(0)
    for shape in SHAPES:
        x, target = _inputs(SHAPES[shape], args.scale)
        for name in names:
            _step(name, x, target)
            times = []
            for _ in range(args.repeats):
                start = time.perf_counter()
                _step(name, x, target)
                times.append(time.perf_counter() - start)
            memory = subprocess.run(
                [sys.executable, __file__, "--scale", str(args.scale), "--child", name, shape],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()
            spread = max(times) - min(times)
            median = statistics.median(times) * 1e3
            print(
                f"{shape} {tuple(x.shape)} {name:6s} median {median:8.1f} ms "
                f"(spread {spread * 1e3:.1f} ms over {args.repeats})  "
                f"peak extra {float(memory):7.1f} MiB"
            )


if __name__ == "__main__":
    main()
