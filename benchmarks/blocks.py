"""Where the CPU runner should cut a tensor into blocks (BENCHMARKS.md, "Blocks").

    PYTHONPATH=src python benchmarks/blocks.py

Fused sigmoid focal loss on float 0/1 targets, forward+backward, as a ratio to
F.binary_cross_entropy_with_logits on the same target (single calls, interleaved, median of
per-pair ratios), for blocks of 16,384 / 32,768 / 65,536 / 262,144 elements and one pass.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F

import torchfocal
from torchfocal._engine import runners

BLOCKS = [(1 << 14, 0), (1 << 15, 0), (1 << 16, 0), (1 << 18, 0), (1 << 40, 1 << 40)]
SIZES = [(256, 300), (1024, 200), (4096, 100), (16384, 40), (131072, 8)]


def ratio(ours: Callable[[], None], baseline: Callable[[], None], pairs: int) -> float:
    for _ in range(10):
        ours()
        baseline()
    ratios = []
    for _ in range(pairs):
        start = time.perf_counter()
        ours()
        middle = time.perf_counter()
        baseline()
        ratios.append((middle - start) / (time.perf_counter() - middle))
    return statistics.median(ratios)


def main() -> None:
    torch.manual_seed(0)
    print("elements", *[f"{b}/{t}" for b, t in BLOCKS])
    for rows, pairs in SIZES:
        x = torch.randn(rows, 80, requires_grad=True)
        target = (torch.rand(rows, 80) < 0.02).float()

        def baseline(x: torch.Tensor = x, target: torch.Tensor = target) -> None:
            F.binary_cross_entropy_with_logits(x, target).backward()

        def ours(x: torch.Tensor = x, target: torch.Tensor = target) -> None:
            torchfocal.sigmoid_focal_loss(x, target).backward()

        row = []
        for block, threshold in BLOCKS:
            runners.BLOCK_ELEMENTS, runners.BLOCK_THRESHOLD = block, threshold
            runners.LARGE_ABOVE = 1 << 40  # the block size under test at every size
            row.append(round(ratio(ours, baseline, pairs), 2))
        print(rows * 80, *row, flush=True)


if __name__ == "__main__":
    main()
