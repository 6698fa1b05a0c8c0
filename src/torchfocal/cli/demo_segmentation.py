"""``torchfocal demo --task segmentation``: a rare foreground class, per-pixel and region
losses side by side.

Synthetic images with small bright discs (about 1% of the pixels) under noise and dimmer
distractor discs; a three-layer conv net trained full-batch on the CPU with each loss and
seed. Reported on held-out images: Dice and IoU of the rare class (pooled over the test
set) and the boundary error (the share of misclassified pixels in a band one pixel wide on
each side of the true boundary). A difference counts only beyond the seeds' spread, as in
the other demos.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import time
from collections.abc import Callable, Iterator
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .. import __version__
from ..functional import (
    dice_ce_loss,
    dice_loss,
    focal_tversky_loss,
    softmax_focal_loss,
    tversky_loss,
    unified_focal_loss,
)
from ._common import CLIError, compare, plain_table, writable_dir
from .demo import Progress

SEGMENTATION_LOSSES: dict[str, str] = {
    "ce": "cross-entropy",
    "focal": "softmax focal (gamma 2)",
    "dice": "Dice (foreground)",
    "dice_ce": "Dice + CE",
    "tversky": "Tversky (alpha 0.3, beta 0.7)",
    "focal_tversky": "focal Tversky (gamma 0.75)",
    "unified": "unified focal (asymmetric)",
}
METRICS = {"dice": "rare-class Dice", "iou": "rare-class IoU", "boundary_error": "boundary error"}
LOWER_IS_BETTER = {"boundary_error"}


def _loss(name: str, logits: Tensor, target: Tensor) -> Tensor:
    calls: dict[str, Callable[[], Tensor]] = {
        "ce": lambda: F.cross_entropy(logits, target),
        "focal": lambda: softmax_focal_loss(logits, target, gamma=2.0),
        "dice": lambda: dice_loss(logits, target, include_background=False),
        "dice_ce": lambda: dice_ce_loss(logits, target, include_background=False),
        "tversky": lambda: tversky_loss(
            logits, target, alpha=0.3, beta=0.7, include_background=False
        ),
        "focal_tversky": lambda: focal_tversky_loss(logits, target, include_background=False),
        "unified": lambda: unified_focal_loss(logits, target),
    }
    return calls[name]()


def segmentation_data(seed: int, images: int, side: int) -> dict[str, Tensor]:
    """Images (N, 1, side, side) and masks (N, side, side): discs of radius 1.5-3 on about
    1% of the pixels, dimmer distractors, Gaussian noise."""
    generator = torch.Generator().manual_seed(20_000 + seed)
    coords = torch.arange(side, dtype=torch.float32)
    yy, xx = torch.meshgrid(coords, coords, indexing="ij")

    def discs(count: int, per_image: int, low: float, high: float) -> Tensor:
        centres = torch.rand(count, per_image, 2, generator=generator) * (side - 6) + 3
        radius = low + (high - low) * torch.rand(count, per_image, generator=generator)
        distance = (yy[None, None] - centres[..., 0, None, None]) ** 2 + (
            xx[None, None] - centres[..., 1, None, None]
        ) ** 2
        return (distance <= radius[..., None, None] ** 2).any(dim=1)

    def make(count: int) -> tuple[Tensor, Tensor]:
        # About 1% of the pixels: one disc of area ~ pi 2.2^2 per 1600 pixels.
        per_image = max(1, round(side * side / 1500))
        mask = discs(count, per_image, 1.5, 3.0)
        distractor = discs(count, per_image, 1.5, 3.0) & ~mask
        noise = torch.randn(count, side, side, generator=generator) * 0.6
        image = mask.float() * 1.0 + distractor.float() * 0.6 + noise
        return image[:, None], mask.long()

    x_train, y_train = make(images)
    x_test, y_test = make(max(images // 2, 1))
    return {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}


def _model() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(8, 8, 3, padding=2, dilation=2),
        nn.ReLU(),
        nn.Conv2d(8, 2, 1),
    )


def metrics(prediction: Tensor, mask: Tensor) -> dict[str, float]:
    """Rare-class Dice and IoU pooled over the images, and the boundary error."""
    p, t = prediction.bool(), mask.bool()
    intersection = float((p & t).sum())
    total = float(p.sum() + t.sum())
    union = float((p | t).sum())
    dilated = F.max_pool2d(t.float()[:, None], 3, stride=1, padding=1)[:, 0] > 0
    eroded = -F.max_pool2d(-t.float()[:, None], 3, stride=1, padding=1)[:, 0] > 0
    band = dilated & ~eroded
    wrong = (p != t) & band
    return {
        "dice": 2 * intersection / total if total else 1.0,
        "iou": intersection / union if union else 1.0,
        "boundary_error": float(wrong.sum()) / max(float(band.sum()), 1.0),
    }


def train(
    name: str,
    data: dict[str, Tensor],
    seed: int,
    steps: int,
    advance: Callable[[], None] = lambda: None,
) -> dict[str, float]:
    """Train one model with one loss and seed; ``advance`` is called after each step."""
    torch.manual_seed(seed)
    model = _model()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(steps):
        optimizer.zero_grad()
        _loss(name, model(data["x_train"]), data["y_train"]).backward()
        optimizer.step()
        advance()
    with torch.no_grad():
        prediction = model(data["x_test"]).argmax(dim=1)
    return metrics(prediction, data["y_test"])


@contextlib.contextmanager
def _deterministic(threads: int) -> Iterator[None]:
    previous_threads = torch.get_num_threads()
    previous_deterministic = torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.set_num_threads(previous_threads)
        torch.use_deterministic_algorithms(previous_deterministic)


def _mean_std(values: list[float]) -> list[float]:
    return [statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0]


def verdicts(summary: dict[str, dict[str, list[float]]], metric: str) -> list[str]:
    """Each loss against cross-entropy: a difference counts only beyond the combined seed
    spread (at least 0.1 point, so that one seed never calls a tie)."""
    base_mean, base_std = summary["ce"][metric]
    sentences = []
    for loss, values in summary.items():
        if loss == "ce":
            continue
        mean, std = values[metric]
        c = compare(mean, std, base_mean, base_std, lower_is_better=metric in LOWER_IS_BETTER)
        sentences.append(
            f"- {SEGMENTATION_LOSSES[loss]} {c.verdict} {METRICS[metric]}: {c.mean:.1f} vs "
            f"{c.baseline:.1f} for cross-entropy ({c.difference:+.1f} points; seed spread "
            f"{c.spread:.1f})."
        )
    return sentences


def run_segmentation(args: argparse.Namespace) -> int:
    seeds = args.seeds if args.seeds is not None else (2 if args.quick else 3)
    if seeds < 1:
        raise CLIError(f"--seeds must be >= 1; got {seeds}")
    steps = args.epochs if args.epochs is not None else (10 if args.quick else 40)
    if steps < 1:
        raise CLIError(f"--epochs must be >= 1; got {steps}")
    images, side = (8, 24) if args.quick else (16, 32)
    out = writable_dir(args.out)
    started = time.perf_counter()
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in SEGMENTATION_LOSSES}
    foreground = []
    # One thread: a step of this net is a few milliseconds of work, and a second thread only
    # waits for it. On the 2-core CI machine under load (load average 10-14), 10 steps of
    # each loss took 8-12 ms of CPU per step with one thread and 57-560 ms with two (OpenMP
    # workers spinning while their partner is descheduled).
    with _deterministic(threads=1), Progress(len(SEGMENTATION_LOSSES) * seeds) as progress:
        for seed in range(seeds):
            data = segmentation_data(seed, images, side)
            foreground.append(float(data["y_train"].float().mean()))
            for name in SEGMENTATION_LOSSES:
                advance = progress.run(f"{SEGMENTATION_LOSSES[name]}, seed {seed}", steps)
                runs[name].append(train(name, data, seed, steps, advance))
    summary = {
        name: {metric: _mean_std([r[metric] for r in results]) for metric in METRICS}
        for name, results in runs.items()
    }
    seconds = round(time.perf_counter() - started, 2)
    payload: dict[str, Any] = {
        "task": "segmentation",
        "torchfocal": __version__,
        "config": {"steps": steps, "seeds": seeds, "images": images, "side": side},
        "data": {"foreground_fraction": statistics.fmean(foreground)},
        "labels": dict(SEGMENTATION_LOSSES),
        "summary": summary,
        "runs": runs,
        "seconds": seconds,
    }
    headers = ["loss", "Dice %", "IoU %", "boundary error %"]
    rows = [
        [SEGMENTATION_LOSSES[name]]
        + [f"{100 * values[m][0]:.1f} ± {100 * values[m][1]:.1f}" for m in METRICS]
        for name, values in summary.items()
    ]
    spread = f"mean ± std over {seeds} seeds" if seeds > 1 else "one seed, no spread"
    lines = [
        "# torchfocal demo: segmentation",
        "",
        "## Setup",
        "",
        f"- Data: synthetic, {images} training images of {side} x {side} pixels (half as many "
        f"held out); the rare class covers {100 * payload['data']['foreground_fraction']:.2f}% "
        "of the training pixels (small discs), with dimmer distractor discs and noise.",
        f"- Model: conv net 1-8-8-2 (3x3, dilated 3x3, 1x1), Adam (lr 1e-2), full batch, "
        f"{steps} steps, {seeds} seeds, one CPU thread, deterministic algorithms. The region "
        "losses leave the background out (include_background=False), except the unified focal "
        "loss, whose asymmetric form treats class 0 as the background.",
        "- Metrics on the held-out images: Dice and IoU of the rare class (pooled), and the "
        "boundary error (misclassified pixels in a band one pixel wide on each side of the "
        "true boundary).",
        "",
        f"## Results ({spread}, {seconds:.1f} s)",
        "",
        "| " + " | ".join(headers) + " |",
        "|" + "---|" * len(headers),
        *["| " + " | ".join(row) + " |" for row in rows],
        "",
        "## What happened on this run",
        "",
        "Each loss against cross-entropy, counting a difference only when it exceeds the seeds' "
        "spread (the two standard deviations combined).",
    ]
    for metric, title in METRICS.items():
        lines += ["", f"### {title.capitalize()}", "", *verdicts(summary, metric)]
    lines += [
        "",
        "A few seeds of a small synthetic problem: read them as what this run showed, not as a "
        "general ranking of the losses. Every number above is in results.json.",
        "",
    ]
    (out / "results.json").write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    (out / "report.md").write_text("\n".join(lines), encoding="utf-8")
    print(plain_table(f"torchfocal demo: segmentation ({spread})", headers, rows))
    for metric, title in METRICS.items():
        print(f"\n{title.capitalize()}:", *verdicts(summary, metric), sep="\n")
    print(f"\nwrote {out / 'report.md'} and {out / 'results.json'} in {seconds:.1f} s")
    return 0
