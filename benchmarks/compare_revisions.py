"""Compare the fast path of checkouts of torchfocal, as ratios to torch's loss.

Each run of this script (one process, one checkout on PYTHONPATH) times forward+backward
of a torchfocal backend (``--backend``, fused by default) and of torch's own loss,
interleaved (A B A B ...), and prints the median of the per-pair ratios for each case as
JSON. ``--revisions A B ...`` runs it alternately on the ``src`` folders of the
checkouts, ``--rounds`` times each, and prints the median ratio of each case for each
checkout:

    python benchmarks/compare_revisions.py --revisions /path/to/old /path/to/new

Only the input requires grad and create_graph is off: the common training call.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

CASES = [
    # (name, shape, target kind): sigmoid focal loss for bool / float targets against
    # BCE-with-logits on the same float target, softmax focal loss against cross-entropy.
    ("sigmoid (256, 80) bool", (256, 80), "bool"),
    ("sigmoid (256, 80) float", (256, 80), "float"),
    ("sigmoid (4096, 80) bool", (4096, 80), "bool"),
    ("sigmoid (4096, 80) float", (4096, 80), "float"),
    ("sigmoid (131072, 80) bool", (131072, 80), "bool"),
    ("softmax (256, 1000) index", (256, 1000), "index"),
    ("softmax (100000, 100) index", (100000, 100), "index"),
]


def _measure(pairs: int, backend: str) -> dict[str, float]:
    import torch
    import torch.nn.functional as F

    import torchfocal

    torch.manual_seed(0)
    results: dict[str, float] = {}
    for name, shape, kind in CASES:
        x = torch.randn(*shape, requires_grad=True)
        if kind == "index":
            target = torch.randint(0, shape[1], (shape[0],))

            def ours(x: torch.Tensor = x, target: torch.Tensor = target) -> None:
                torchfocal.softmax_focal_loss(x, target, backend=backend).backward()

            def theirs(x: torch.Tensor = x, target: torch.Tensor = target) -> None:
                F.cross_entropy(x, target).backward()
        else:
            mask = torch.rand(*shape) < 0.01
            target = mask if kind == "bool" else mask.float()
            dense = mask.float()

            def ours(x: torch.Tensor = x, target: torch.Tensor = target) -> None:
                torchfocal.sigmoid_focal_loss(x, target, backend=backend).backward()

            def theirs(x: torch.Tensor = x, dense: torch.Tensor = dense) -> None:
                F.binary_cross_entropy_with_logits(x, dense).backward()

        repeats = max(1, 2_000_000 // x.numel())  # a few milliseconds per timing at least
        ratios = [_time(ours, repeats) / _time(theirs, repeats) for _ in range(pairs)]
        results[name] = statistics.median(ratios)
    return results


def _time(step: Callable[[], None], repeats: int) -> float:
    step()  # warm
    start = time.perf_counter()
    for _ in range(repeats):
        step()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--revisions", nargs="+", metavar="CHECKOUT")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--pairs", type=int, default=9)
    parser.add_argument("--backend", choices=["fused", "compiled"], default="fused")
    args = parser.parse_args()
    if not args.revisions:
        print(json.dumps(_measure(args.pairs, args.backend)))
        return
    collected: dict[str, dict[str, list[float]]] = {path: {} for path in args.revisions}
    for _ in range(args.rounds):
        for path in args.revisions:  # alternate the checkouts: A B A B ...
            env = {**os.environ, "PYTHONPATH": os.path.join(path, "src")}
            output = subprocess.run(
                [sys.executable, __file__, "--pairs", str(args.pairs), "--backend", args.backend],
                env=env,
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            for name, ratio in json.loads(output).items():
                collected[path].setdefault(name, []).append(ratio)
    width = max(len(name) for name, *_ in CASES)
    print(f"{'case':<{width}}  " + "  ".join(f"{os.path.basename(p):>12}" for p in collected))
    for name, *_ in CASES:
        row = [statistics.median(collected[path][name]) for path in collected]
        print(f"{name:<{width}}  " + "  ".join(f"{value:12.2f}" for value in row))


if __name__ == "__main__":
    main()
