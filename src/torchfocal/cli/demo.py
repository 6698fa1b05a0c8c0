"""``torchfocal demo``: what focal loss and class balancing do to an imbalanced problem.

Two experiments, both small enough for a laptop CPU and both reported as they came out:

- ``longtail`` (default): scikit-learn's bundled handwritten digits (1,797 real 8x8 images,
  no download), made long-tailed as Cui et al. build CIFAR-LT, n_c = n_max R^(-c/(C-1)),
  and evaluated on a balanced held-out split. One small MLP per loss and seed.
- ``dense``: a synthetic dense-prediction task with about one positive location in a
  thousand (Lin et al.'s setting in miniature): BCE against focal loss, each with and
  without the prior initialisation pi = 0.01; average precision on held-out images.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import math
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .. import __version__
from ..functional import poly1_cross_entropy, sigmoid_focal_loss, softmax_focal_loss
from ..nn import ClassBalancedLoss, LDAMLoss, LogitAdjustedCrossEntropyLoss, SeesawLoss
from ..weighting import balanced_alpha, deferred_reweighting, prior_bias_
from ._common import CLIError, compare, plain_table, require, require_all, writable_dir

if TYPE_CHECKING:  # the cli extra's packages are imported where used (see run)
    import numpy as np
    from matplotlib.figure import Figure

LONGTAIL_LOSSES: dict[str, str] = {
    "ce": "cross-entropy",
    "balanced_ce": "alpha-balanced CE",
    "softmax_focal": "softmax focal (gamma 2)",
    "flsd53": "softmax focal (FLSD-53)",
    "poly1_ce": "Poly-1 CE (epsilon 1)",
    "sigmoid_focal": "sigmoid focal (gamma 2, alpha 0.25)",
    "cb_softmax": "class-balanced softmax CE",
    "cb_focal": "class-balanced focal (gamma 2)",
    "logit_adjusted": "logit-adjusted CE (tau 1, balanced softmax)",
    "ldam_drw": "LDAM-DRW",
    "seesaw": "Seesaw (p 0.8, q 2)",
}
DENSE_LOSSES: dict[str, str] = {
    "bce": "BCE",
    "bce_prior": "BCE + prior init",
    "focal": "focal (gamma 2, alpha 0.25)",
    "focal_prior": "focal + prior init",
}
TEST_PER_CLASS = 40
ECE_BINS = 15


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--task",
        default="longtail",
        help="longtail, dense, segmentation, or tabular (gradient boosting: the boosting "
        "extra) (default: longtail)",
    )
    parser.add_argument(
        "--imbalance",
        type=float,
        default=None,
        help="ratio of the largest to the smallest class, a finite number >= 1 (longtail, "
        "segmentation), or of benign to malignant cases in training (tabular) (default: 50 "
        "for longtail, 20 for tabular)",
    )
    parser.add_argument(
        "--epochs",
        type=int,
        default=None,
        help="training epochs (default: longtail 60, dense 120 steps, tabular 200 boosting "
        "rounds; --quick: fewer)",
    )
    parser.add_argument("--seeds", type=int, default=None, help="number of seeds (default: 3)")
    parser.add_argument(
        "--beta",
        type=float,
        default=0.999,
        help="Cui et al.'s beta for the class-balanced losses (default: 0.999)",
    )
    parser.add_argument("--quick", action="store_true", help="a short run (used by the tests)")
    parser.add_argument(
        "--out", default="torchfocal-demo", help="output folder (default: torchfocal-demo)"
    )


@dataclass
class RunResult:
    metrics: dict[str, float]
    per_class_recall: list[float]
    curve: list[float] = field(default_factory=list)


# --------------------------------------------------------------------------------------
# Shared helpers


@contextlib.contextmanager
def _deterministic(threads: int) -> Iterator[None]:
    """Fixed threads and deterministic algorithms for the duration of the demo."""
    previous_threads = torch.get_num_threads()
    previous_deterministic = torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.set_num_threads(previous_threads)
        torch.use_deterministic_algorithms(previous_deterministic)


class Progress:
    """The demo's progress on stderr, where it does not mix with the results on stdout.

    On a terminal: rich bars for all runs and for the run in progress, cleared at the end.
    Otherwise (a pipe, a CI log): one line per finished run, so that a run of a minute or
    more shows it is alive there too.
    """

    def __init__(self, total_runs: int) -> None:
        self._total = total_runs
        self._finished = 0
        self._started = time.perf_counter()
        self._bar: Any = None
        self._overall: Any = None
        if sys.stderr.isatty():
            progress = require("rich.progress")
            console = require("rich.console")
            self._bar = progress.Progress(
                progress.TextColumn("{task.description:<44}"),
                progress.BarColumn(),
                progress.MofNCompleteColumn(),
                progress.TimeElapsedColumn(),
                console=console.Console(stderr=True),
                transient=True,
            )

    def __enter__(self) -> Progress:
        if self._bar is not None:
            self._bar.__enter__()
            self._overall = self._bar.add_task("all runs", total=self._total)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc)

    def run(self, description: str, steps: int) -> Callable[[], None]:
        """The callback one run calls after each of its ``steps`` epochs or steps."""
        task = None if self._bar is None else self._bar.add_task(description, total=steps)
        done = 0

        def advance() -> None:
            nonlocal done
            done += 1
            if task is not None:
                self._bar.advance(task)
            if done == steps:
                self._run_finished(description, task)

        return advance

    def _run_finished(self, description: str, task: Any) -> None:
        self._finished += 1
        if self._bar is not None:
            self._bar.remove_task(task)
            self._bar.advance(self._overall)
            return
        elapsed = time.perf_counter() - self._started
        sys.stderr.write(
            f"torchfocal demo: {self._finished}/{self._total} runs done after {elapsed:.0f} s; "
            f"last: {description}\n"
        )
        sys.stderr.flush()


def _mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value)."""
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def _expected_calibration_error(confidence: np.ndarray, correct: np.ndarray) -> float:
    import numpy as np

    edges = np.linspace(0.0, 1.0, ECE_BINS + 1)
    total = 0.0
    for low, high in itertools.pairwise(edges):
        in_bin = (confidence > low) & (confidence <= high)
        if in_bin.any():
            total += in_bin.mean() * abs(correct[in_bin].mean() - confidence[in_bin].mean())
    return float(total)


# --------------------------------------------------------------------------------------
# Long-tailed digits


def longtail_data(seed: int, imbalance: float) -> dict[str, Any]:
    import numpy as np

    datasets = require("sklearn.datasets")
    digits = datasets.load_digits()
    features = digits.data.astype(np.float32) / 16.0
    labels = digits.target.astype(np.int64)
    num_classes = int(labels.max()) + 1
    rng = np.random.default_rng(seed)
    test_index, pools = [], []
    for c in range(num_classes):
        members = rng.permutation(np.flatnonzero(labels == c))
        test_index.append(members[:TEST_PER_CLASS])
        pools.append(members[TEST_PER_CLASS:])
    n_max = min(len(pool) for pool in pools)
    # What the data allows: the rarest class keeps at least one example.
    ratio = min(imbalance, float(n_max))
    counts = [max(1, int(n_max * ratio ** (-c / (num_classes - 1)))) for c in range(num_classes)]
    train_index = np.concatenate([pool[:n] for pool, n in zip(pools, counts, strict=True)])
    test = np.concatenate(test_index)
    mean = features[train_index].mean(axis=0)
    std = features[train_index].std(axis=0) + 1e-3
    return {
        "x_train": torch.from_numpy((features[train_index] - mean) / std),
        "y_train": torch.from_numpy(labels[train_index]),
        "x_test": torch.from_numpy((features[test] - mean) / std),
        "y_test": torch.from_numpy(labels[test]),
        "counts": counts,
        "imbalance": ratio,
        "num_classes": num_classes,
    }


class _LDAMWithDeferredReweighting:
    """LDAM whose class weights follow Cao et al.'s deferred re-weighting: 1 for the first
    80% of the epochs (as their 160 of 200), then class-balanced weights.

    The demo's head is an ordinary linear layer, not the paper's normalised (cosine) one
    whose logits lie in [-1, 1] and are scaled by 30, so the logits are taken at scale 1.
    """

    def __init__(self, counts: list[int], epochs: int, beta: float) -> None:
        self.counts, self.beta = counts, beta
        self.start_epoch = int(0.8 * epochs)
        self.loss = LDAMLoss(counts, max_margin=0.5, scale=1.0)

    def set_epoch(self, epoch: int) -> None:
        self.loss.weight = deferred_reweighting(
            self.counts, epoch, start_epoch=self.start_epoch, beta=self.beta
        )

    def __call__(self, logits: Tensor, y: Tensor) -> Tensor:
        result: Tensor = self.loss(logits, y)
        return result


def _longtail_criterion(
    name: str, counts: list[int], beta: float, epochs: int
) -> tuple[Callable[[Tensor, Tensor], Tensor], bool]:
    """The loss function and whether the model is read through sigmoids."""
    total = sum(counts)
    if name == "ce":
        return (lambda logits, y: F.cross_entropy(logits, y)), False
    if name == "balanced_ce":
        alpha = balanced_alpha(counts, total)
        return (lambda logits, y: softmax_focal_loss(logits, y, alpha=alpha, gamma=0.0)), False
    if name == "softmax_focal":
        return (lambda logits, y: softmax_focal_loss(logits, y, gamma=2.0)), False
    if name == "flsd53":
        return (lambda logits, y: softmax_focal_loss(logits, y, gamma="flsd53")), False
    if name == "poly1_ce":
        return (lambda logits, y: poly1_cross_entropy(logits, y, epsilon=1.0)), False
    if name == "sigmoid_focal":
        return (
            lambda logits, y: sigmoid_focal_loss(
                logits, y, alpha=0.25, gamma=2.0, reduction="positives"
            )
        ), True
    if name == "cb_softmax":
        return ClassBalancedLoss(counts, beta, loss="softmax"), False
    if name == "cb_focal":
        return ClassBalancedLoss(counts, beta, loss="focal", gamma=2.0), True
    if name == "logit_adjusted":
        return LogitAdjustedCrossEntropyLoss(counts, tau=1.0), False
    if name == "ldam_drw":
        return _LDAMWithDeferredReweighting(counts, epochs, beta), False
    if name == "seesaw":
        # Counts the classes of the batches it trains on (a module in training mode).
        return SeesawLoss(len(counts), p=0.8, q=2.0), False
    raise CLIError(f"unknown loss {name!r}")  # pragma: no cover - names come from the table


def _classification_metrics(
    logits: Tensor, y: Tensor, sigmoid: bool, counts: list[int]
) -> RunResult:
    import numpy as np

    metrics_module = require("sklearn.metrics")
    prediction = logits.argmax(dim=1)
    if sigmoid:
        confidence = torch.sigmoid(logits.max(dim=1).values)
    else:
        confidence = torch.softmax(logits, dim=1).max(dim=1).values
    y_np, pred_np = y.numpy(), prediction.numpy()
    num_classes = len(counts)
    recall = metrics_module.recall_score(
        y_np, pred_np, labels=list(range(num_classes)), average=None, zero_division=0
    )
    rare = np.argsort(counts, kind="stable")[: max(1, num_classes // 3)]
    metrics = {
        "accuracy": float((pred_np == y_np).mean()),
        "balanced_accuracy": float(recall.mean()),
        "macro_f1": float(metrics_module.f1_score(y_np, pred_np, average="macro", zero_division=0)),
        "rare_recall": float(recall[rare].mean()),
        "ece": _expected_calibration_error(confidence.numpy(), pred_np == y_np),
    }
    return RunResult(metrics=metrics, per_class_recall=[float(r) for r in recall])


def train_longtail(
    name: str,
    data: dict[str, Any],
    seed: int,
    epochs: int,
    beta: float,
    advance: Callable[[], None],
) -> RunResult:
    torch.manual_seed(seed)
    num_classes = data["num_classes"]
    head = nn.Linear(128, num_classes)
    model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), head)
    criterion, sigmoid = _longtail_criterion(name, data["counts"], beta, epochs)
    set_epoch = getattr(criterion, "set_epoch", None)
    if sigmoid:
        # Cui et al. initialise sigmoid-based classifiers at the prior pi = 1 / C.
        prior_bias_(head, pi=1.0 / num_classes)
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3, weight_decay=1e-4)
    generator = torch.Generator().manual_seed(seed)
    x, y = data["x_train"], data["y_train"]
    curve = []
    for epoch in range(epochs):
        if set_epoch is not None:
            set_epoch(epoch)
        model.train()
        for batch in torch.randperm(len(y), generator=generator).split(64):
            optimizer.zero_grad()
            criterion(model(x[batch]), y[batch]).backward()
            optimizer.step()
        model.eval()
        with torch.no_grad():
            result = _classification_metrics(
                model(data["x_test"]), data["y_test"], sigmoid, data["counts"]
            )
        curve.append(result.metrics["balanced_accuracy"])
        advance()
    result.curve = curve
    return result


# --------------------------------------------------------------------------------------
# Dense: one positive location in a thousand


def dense_data(seed: int, images: int) -> dict[str, Tensor]:
    generator = torch.Generator().manual_seed(10_000 + seed)
    features, side = 8, 32
    direction = torch.nn.functional.normalize(torch.randn(features, generator=generator), dim=0)

    def make(count: int) -> tuple[Tensor, Tensor]:
        x = torch.randn(count * side * side, features, generator=generator)
        y = (torch.rand(count * side * side, generator=generator) < 1e-3).float()
        # Objects of varied strength: some easy, many hard to tell from background.
        strength = 1.0 + 2.5 * torch.rand(count * side * side, generator=generator)
        x = x + (y * strength)[:, None] * direction[None, :] * 1.5
        return x, y

    x_train, y_train = make(images)
    x_test, y_test = make(max(images // 3, 1))
    return {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}


def train_dense(
    name: str, data: dict[str, Tensor], seed: int, steps: int, advance: Callable[[], None]
) -> RunResult:
    metrics_module = require("sklearn.metrics")
    torch.manual_seed(seed)
    head = nn.Linear(32, 1)
    model = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), head)
    if name.endswith("_prior"):
        prior_bias_(head, pi=0.01)
    else:
        nn.init.zeros_(head.bias)
    gamma = 2.0 if name.startswith("focal") else 0.0
    alpha = 0.25 if name.startswith("focal") else None
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    x, y = data["x_train"], data["y_train"]

    def average_precision() -> float:
        with torch.no_grad():
            scores = model(data["x_test"])[:, 0]
        return float(metrics_module.average_precision_score(data["y_test"].numpy(), scores.numpy()))

    curve, losses = [], []
    for step in range(steps):
        optimizer.zero_grad()
        # Lin et al. normalise by the number of positive locations, for BCE and focal alike.
        loss = sigmoid_focal_loss(
            model(x)[:, 0], y, alpha=alpha, gamma=gamma, reduction="positives"
        )
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        if step % 10 == 9 or step == steps - 1:
            curve.append(average_precision())
        advance()
    metrics = {"average_precision": curve[-1], "initial_loss": losses[0], "final_loss": losses[-1]}
    return RunResult(metrics=metrics, per_class_recall=[], curve=curve)


# --------------------------------------------------------------------------------------
# Running, summarising, reporting


def _summarise(results: dict[str, list[RunResult]]) -> dict[str, dict[str, list[float]]]:
    summary: dict[str, dict[str, list[float]]] = {}
    for name, runs in results.items():
        summary[name] = {}
        for metric in runs[0].metrics:
            mean, std = _mean_std([r.metrics[metric] for r in runs])
            summary[name][metric] = [mean, std]
    return summary


#: The metrics the verdicts judge: (heading, name in a sentence, lower is better).
VERDICT_METRICS: dict[str, tuple[str, str, bool]] = {
    "balanced_accuracy": ("Balanced accuracy", "balanced accuracy", False),
    "rare_recall": ("Rare-third recall", "rare-third recall", False),
    "ece": ("Calibration (ECE, lower is better)", "calibration (ECE)", True),
    "average_precision": ("Average precision", "average precision", False),
}


def _verdicts(
    summary: dict[str, dict[str, list[float]]], baseline: str, metric: str, labels: dict[str, str]
) -> list[str]:
    """Plain sentences comparing each loss with the baseline on one metric, from this run's
    numbers: a difference counts only where it exceeds the combined seed spread."""
    _, name, lower_is_better = VERDICT_METRICS[metric]
    base_mean, base_std = summary[baseline][metric]
    sentences = []
    for loss, values in summary.items():
        if loss == baseline:
            continue
        mean, std = values[metric]
        c = compare(mean, std, base_mean, base_std, lower_is_better=lower_is_better)
        sentences.append(
            f"- {labels[loss]} {c.verdict} {name}: {c.mean:.1f} vs {c.baseline:.1f} for "
            f"{labels[baseline]} ({c.difference:+.1f} points; seed spread {c.spread:.1f})."
        )
    return sentences


def _all_verdicts(
    task: str, summary: dict[str, dict[str, list[float]]], labels: dict[str, str]
) -> list[tuple[str, list[str]]]:
    """(heading, sentences) for each comparison the report makes."""
    if task == "longtail":
        return [
            (VERDICT_METRICS[metric][0], _verdicts(summary, "ce", metric, labels))
            for metric in ("balanced_accuracy", "rare_recall", "ece")
        ]
    with_prior = {name: summary[name] for name in ("bce_prior", "focal_prior")}
    return [
        ("Average precision", _verdicts(summary, "bce", "average_precision", labels)),
        (
            "Average precision, both with the prior initialisation",
            _verdicts(with_prior, "bce_prior", "average_precision", labels),
        ),
    ]


def _table_rows(
    summary: dict[str, dict[str, list[float]]],
    metrics: list[str],
    labels: dict[str, str],
    percent: set[str],
) -> list[list[str]]:
    rows = []
    for name, values in summary.items():
        row = [labels[name]]
        for metric in metrics:
            mean, std = values[metric]
            scale = 100.0 if metric in percent else 1.0
            digits = 1 if metric in percent else 3
            row.append(f"{scale * mean:.{digits}f} ± {scale * std:.{digits}f}")
        rows.append(row)
    return rows


def _over_seeds(seeds: int) -> str:
    return f"mean ± std over {seeds} seeds" if seeds > 1 else "one seed, no spread"


def _pyplot() -> Any:
    matplotlib = require("matplotlib")
    matplotlib.use("Agg")  # files only: no display needed
    return require("matplotlib.pyplot")


#: Eleven colours that stay apart, printed or on screen: matplotlib's tab10 and black.
_COLOURS = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
    "#e377c2", "#7f7f7f", "#bcbd22", "#17becf", "#000000",
]  # fmt: skip
#: With a line style and a marker each, so that lines of similar colour still differ.
_LINE_STYLES = ["-", "--", "-.", ":"]
_MARKERS = ["o", "s", "^", "v", "D", "P", "X", "*", "<", ">", "h"]


def loss_style(index: int) -> dict[str, Any]:
    """The colour, line style and marker of the loss at ``index``, the same in every plot."""
    return {
        "color": _COLOURS[index % len(_COLOURS)],
        "linestyle": _LINE_STYLES[index % len(_LINE_STYLES)],
        "marker": _MARKERS[index % len(_MARKERS)],
    }


def _save(figure: Figure, path: Path) -> None:
    figure.savefig(path, bbox_inches="tight")
    _pyplot().close(figure)


def per_class_recall_figure(results: dict[str, list[RunResult]], counts: list[int]) -> Figure:
    """One small panel per loss: bars of its per-class test recall, the mean over seeds, with
    error bars of one standard deviation over seeds (as in the table) where there is more
    than one; the first loss's mean recall (the baseline, cross-entropy in the demo) is
    marked in black in every other panel for comparison."""
    import numpy as np

    patheffects = require("matplotlib.patheffects")
    names = list(results)
    columns = min(4, len(names))
    rows = math.ceil(len(names) / columns)
    fig: Figure
    fig, grid = _pyplot().subplots(
        rows,
        columns,
        figsize=(3.2 * columns, 2.3 * rows + 0.8),
        dpi=110,
        sharex=True,
        sharey=True,
        squeeze=False,
    )
    classes = np.arange(len(counts))
    seeds = len(next(iter(results.values())))
    baseline = np.array([r.per_class_recall for r in results[names[0]]]).mean(axis=0)
    for i, (name, ax) in enumerate(zip(names, grid.flat, strict=False)):
        recall = np.array([r.per_class_recall for r in results[name]])
        ax.bar(
            classes,
            recall.mean(axis=0),
            0.7,
            yerr=recall.std(axis=0, ddof=1) if seeds > 1 else None,
            error_kw={"elinewidth": 0.8, "capsize": 1.5, "ecolor": "0.3"},
            color=loss_style(i)["color"],
        )
        if i > 0:
            ax.plot(
                classes,
                baseline,
                "_",
                color="black",
                markersize=9,
                markeredgewidth=1.5,
                gid="baseline",
                # a white rim: visible on any bar, the black one included
                path_effects=[patheffects.withStroke(linewidth=3.5, foreground="white")],
            )
        ax.set_title(LONGTAIL_LOSSES.get(name, name), fontsize=8)
        ax.set_ylim(0, 1.05)
        ax.grid(axis="y", alpha=0.3)
    for ax in grid.flat[len(names) :]:
        fig.delaxes(ax)
    for ax in grid.flat[len(names) - columns : len(names)]:  # the lowest panel of each column
        ax.set_xticks(classes, [f"{c}\n{n}" for c, n in enumerate(counts)], fontsize=7)
        ax.tick_params(axis="x", labelbottom=True)
    first = LONGTAIL_LOSSES.get(names[0], names[0])
    spread = _over_seeds(seeds)
    fig.suptitle(
        f"Per-class recall on the balanced test split ({spread})"
        + (f"; black marks: {first}" if len(names) > 1 else "")
    )
    fig.supxlabel("digit class, and its number of training images", fontsize=9)
    fig.supylabel("test recall", fontsize=9)
    fig.tight_layout()
    return fig


def training_curves_figure(results: dict[str, list[RunResult]]) -> Figure:
    """Each loss's test balanced accuracy by epoch, the mean over seeds: one colour, line
    style and marker per loss, the legend outside the data."""
    import numpy as np

    fig: Figure
    fig, ax = _pyplot().subplots(figsize=(8.5, 4.2), dpi=110)
    for i, (name, runs) in enumerate(results.items()):
        epochs = len(runs[0].curve)
        ax.plot(
            np.arange(1, epochs + 1),
            np.mean([r.curve for r in runs], axis=0),
            label=LONGTAIL_LOSSES.get(name, name),
            markevery=max(1, epochs // 8),
            markersize=4,
            linewidth=1.2,
            **loss_style(i),
        )
    seeds = len(next(iter(results.values())))
    ax.set_xlabel("epoch")
    ax.set_ylabel("test balanced accuracy")
    over = f"the mean over {seeds} seeds" if seeds > 1 else "one seed"
    ax.set_title(f"Test balanced accuracy during training ({over})")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    fig.tight_layout()
    return fig


def _plot_longtail(out: Path, results: dict[str, list[RunResult]], counts: list[int]) -> list[str]:
    _save(per_class_recall_figure(results, counts), out / "per_class_recall.png")
    _save(training_curves_figure(results), out / "training_curves.png")
    return ["per_class_recall.png", "training_curves.png"]


def _plot_dense(out: Path, results: dict[str, list[RunResult]], steps: int) -> list[str]:
    import numpy as np

    fig, ax = _pyplot().subplots(figsize=(7, 4), dpi=110)
    for i, (name, runs) in enumerate(results.items()):
        curve = np.mean([r.curve for r in runs], axis=0)
        at = [min(10 * (k + 1), steps) for k in range(len(curve))]
        ax.plot(at, curve, label=DENSE_LOSSES[name], markersize=4, **loss_style(i))
    ax.set_xlabel("training step")
    ax.set_ylabel("test average precision (mean over seeds)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title("Dense task, 1 positive per 1000 locations")
    fig.tight_layout()
    _save(fig, out / "training_curves.png")
    return ["training_curves.png"]


def run(args: argparse.Namespace) -> int:
    if args.imbalance is not None and not (math.isfinite(args.imbalance) and args.imbalance >= 1):
        raise CLIError(f"--imbalance must be a finite number >= 1; got {args.imbalance}")
    if args.task == "segmentation":  # its own module (cli/demo_segmentation.py)
        from .demo_segmentation import run_segmentation

        return run_segmentation(args)
    if args.task == "tabular":  # gradient boosting, in its own module (no torch used there)
        from . import demo_tabular

        if args.imbalance is None:
            args.imbalance = 20.0
        return demo_tabular.run(args)
    if args.imbalance is None:
        args.imbalance = 50.0
    if args.task not in ("longtail", "dense"):
        raise CLIError(
            f"--task must be 'longtail', 'dense', 'segmentation' or 'tabular'; got {args.task!r}"
        )
    if not 0 <= args.beta < 1:
        raise CLIError(f"--beta must be in [0, 1); got {args.beta}")
    seeds = args.seeds if args.seeds is not None else (2 if args.quick else 3)
    if seeds < 1:
        raise CLIError(f"--seeds must be >= 1; got {seeds}")
    default_epochs = {
        ("longtail", False): 60,
        ("longtail", True): 8,
        ("dense", False): 120,
        ("dense", True): 20,
    }[(args.task, args.quick)]
    epochs = args.epochs if args.epochs is not None else default_epochs
    if epochs < 1:
        raise CLIError(f"--epochs must be >= 1; got {epochs}")
    # rich draws the progress bars and the table on a terminal.
    require_all("numpy", "sklearn", "matplotlib", "rich")
    out = writable_dir(args.out)
    started = time.perf_counter()
    if args.task == "longtail":
        labels, payload = LONGTAIL_LOSSES, _run_longtail(args, seeds, epochs)
    else:
        labels, payload = DENSE_LOSSES, _run_dense(args, seeds, epochs)
    payload["seconds"] = round(time.perf_counter() - started, 2)
    results: dict[str, list[RunResult]] = payload.pop("_results")
    payload["plots"] = (
        _plot_longtail(out, results, payload["data"]["train_counts"])
        if args.task == "longtail"
        else _plot_dense(out, results, epochs)
    )
    (out / "results.json").write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    report = _report(args.task, payload, labels)
    (out / "report.md").write_text(report, encoding="utf-8")
    _print_summary(args.task, payload, labels)
    print(
        f"\nwrote {out / 'report.md'}, {out / 'results.json'} and "
        f"{', '.join(str(out / p) for p in payload['plots'])} in {payload['seconds']:.1f} s"
    )
    return 0


def _run_longtail(args: argparse.Namespace, seeds: int, epochs: int) -> dict[str, Any]:
    results: dict[str, list[RunResult]] = {name: [] for name in LONGTAIL_LOSSES}
    data_by_seed = [longtail_data(seed, args.imbalance) for seed in range(seeds)]
    with _deterministic(threads=1), Progress(len(results) * seeds) as progress:
        for seed, data in enumerate(data_by_seed):
            for name in LONGTAIL_LOSSES:
                advance = progress.run(f"{LONGTAIL_LOSSES[name]}, seed {seed}", epochs)
                results[name].append(train_longtail(name, data, seed, epochs, args.beta, advance))
    first = data_by_seed[0]
    if first["imbalance"] < args.imbalance:
        print(
            f"note: --imbalance {args.imbalance:g} is more than these data allow; using "
            f"{first['imbalance']:g} (the rarest class keeps one training image)"
        )
    return {
        "task": "longtail",
        "torchfocal": __version__,
        "config": {
            "imbalance_requested": args.imbalance,
            "epochs": epochs,
            "seeds": seeds,
            "beta": args.beta,
            "quick": args.quick,
        },
        "data": {
            "dataset": "sklearn digits (8x8 handwritten digits)",
            "train_counts": first["counts"],
            "imbalance": first["imbalance"],
            "train_size": len(first["y_train"]),
            "test_size": len(first["y_test"]),
            "test_per_class": TEST_PER_CLASS,
        },
        # What each key below stands for, as the report's table names it.
        "labels": dict(LONGTAIL_LOSSES),
        "summary": _summarise(results),
        "runs": {
            name: [
                {
                    "seed": s,
                    **r.metrics,
                    "per_class_recall": r.per_class_recall,
                    "balanced_accuracy_by_epoch": r.curve,
                }
                for s, r in enumerate(runs)
            ]
            for name, runs in results.items()
        },
        "_results": results,
    }


def _run_dense(args: argparse.Namespace, seeds: int, steps: int) -> dict[str, Any]:
    images = 40 if args.quick else 120
    results: dict[str, list[RunResult]] = {name: [] for name in DENSE_LOSSES}
    # Two threads for the larger dense batches; a fixed count keeps runs reproducible.
    with _deterministic(threads=2), Progress(len(results) * seeds) as progress:
        for seed in range(seeds):
            data = dense_data(seed, images)
            for name in DENSE_LOSSES:
                advance = progress.run(f"{DENSE_LOSSES[name]}, seed {seed}", steps)
                results[name].append(train_dense(name, data, seed, steps, advance))
    return {
        "task": "dense",
        "torchfocal": __version__,
        "config": {"steps": steps, "seeds": seeds, "quick": args.quick},
        "data": {
            "images": images,
            "locations_per_image": 1024,
            "positive_rate": 1e-3,
            "features": 8,
        },
        "labels": dict(DENSE_LOSSES),
        "summary": _summarise(results),
        "runs": {
            name: [
                {"seed": s, **r.metrics, "average_precision_curve": r.curve}
                for s, r in enumerate(runs)
            ]
            for name, runs in results.items()
        },
        "_results": results,
    }


#: No plain accuracy column: on the balanced test split it equals balanced accuracy
#: (results.json keeps both).
LONGTAIL_COLUMNS = ["balanced_accuracy", "macro_f1", "rare_recall", "ece"]
LONGTAIL_HEADERS = [
    "loss",
    "balanced acc %",
    "macro-F1 %",
    "rare-third recall %",
    "ECE %",
]
DENSE_COLUMNS = ["average_precision", "initial_loss", "final_loss"]
DENSE_HEADERS = ["loss", "AP %", "initial loss", "final loss"]


def _table(
    task: str, payload: dict[str, Any], labels: dict[str, str]
) -> tuple[list[str], list[list[str]]]:
    if task == "longtail":
        return LONGTAIL_HEADERS, _table_rows(
            payload["summary"], LONGTAIL_COLUMNS, labels, set(LONGTAIL_COLUMNS)
        )
    return DENSE_HEADERS, _table_rows(
        payload["summary"], DENSE_COLUMNS, labels, {"average_precision"}
    )


def _print_summary(task: str, payload: dict[str, Any], labels: dict[str, str]) -> None:
    from ._common import print_table

    headers, rows = _table(task, payload, labels)
    seeds = payload["config"]["seeds"]
    print_table(f"torchfocal demo: {task} ({_over_seeds(seeds)})", headers, rows)
    for heading, sentences in _all_verdicts(task, payload["summary"], labels):
        print(f"\n{heading}:", *sentences, sep="\n")


def _report(task: str, payload: dict[str, Any], labels: dict[str, str]) -> str:
    headers, rows = _table(task, payload, labels)
    config, data = payload["config"], payload["data"]
    lines = [f"# torchfocal demo: {task}", ""]
    if task == "longtail":
        lines += [
            "## Setup",
            "",
            f"- Data: {data['dataset']}, 10 classes. {data['test_per_class']} images per class "
            f"held out as a balanced test split ({data['test_size']} images); the training set "
            f"is made long-tailed as in Cui et al.'s CIFAR-LT, n_c = n_max R^(-c/9) with "
            f"R = {data['imbalance']:g}: counts {data['train_counts']} "
            f"({data['train_size']} images). The test split and the subsample depend on the seed.",
            "- Model: MLP 64-128-10 (ReLU), Adam (lr 2e-3, weight decay 1e-4), batch 64, "
            f"{config['epochs']} epochs, {config['seeds']} seeds, one CPU thread, "
            "deterministic algorithms.",
            "- Losses: cross-entropy; alpha-balanced CE (alpha_c = negatives / total per class, "
            "`balanced_alpha`); softmax focal (gamma 2); softmax focal with Mukhoti et al.'s "
            "sample-dependent gamma (FLSD-53: 5 where p_y < 0.2, else 3); Poly-1 "
            "cross-entropy (Leng et al., epsilon 1); sigmoid focal (gamma 2, alpha 0.25, "
            "normalised by positives); class-balanced softmax CE and class-balanced focal "
            f"(gamma 2), Cui et al.'s weights with beta = {config['beta']}; logit-adjusted CE "
            "(Menon et al., tau 1: the balanced softmax of Ren et al.) with the training "
            "counts as the prior; LDAM (Cao et al., margins up to 0.5, scale 1 as the head is "
            "an ordinary linear layer) with deferred re-weighting (class-balanced weights, "
            "same beta, from 80% of the epochs on); Seesaw (Wang et al., p 0.8, q 2, the "
            "counts of the batches trained on). The sigmoid-based models start from the "
            "prior bias pi = 1/C and predict by the largest logit.",
            "- Metrics on the balanced test split: balanced accuracy (mean per-class recall; "
            "on this balanced split it equals plain accuracy, which results.json also keeps), "
            "macro-F1, recall on the rarest third of the classes, expected calibration "
            f"error ({ECE_BINS} bins; confidence = softmax max, or the sigmoid of the largest "
            "logit for the sigmoid-based models).",
        ]
        baseline = "cross-entropy"
    else:
        lines += [
            "## Setup",
            "",
            f"- Data: synthetic, {data['images']} training images of 32 x 32 locations, "
            f"{data['features']} features per location, each location positive with "
            "probability 1e-3 (about one per image); positives are shifted along one "
            "direction by a random strength, so some are easy and many overlap the "
            "background. Held-out images: a third as many.",
            f"- Model: per-location MLP 8-32-1, Adam (lr 1e-2), full batch, "
            f"{config['steps']} steps (a fixed, small budget), {config['seeds']} seeds. Every "
            "loss is normalised by "
            "the number of positive locations (Lin et al.). Prior init: last bias "
            "-log((1 - 0.01) / 0.01), otherwise 0.",
            "- Metric: average precision over all held-out locations.",
        ]
        baseline = "BCE (and, for the prior initialisation, BCE with it)"
    lines += [
        "",
        f"## Results ({_over_seeds(config['seeds'])}, {payload['seconds']:.1f} s)",
        "",
        "| " + " | ".join(headers) + " |",
        "|" + "---|" * len(headers),
    ]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    lines += [
        "",
        "## What happened on this run",
        "",
        f"Each loss against {baseline}, counting a difference only when it exceeds the seeds' "
        "spread (the two standard deviations combined, the root of the sum of the variances).",
    ]
    for heading, sentences in _all_verdicts(task, payload["summary"], labels):
        lines += ["", f"### {heading}", "", *sentences]
    lines += [
        "",
        "These are a few seeds of a small problem: read them as what this run showed, not as "
        "a general ranking of the losses.",
        "",
        "## Plots",
        "",
        *[f"![{p}]({p})" for p in payload["plots"]],
        "",
        "Every number above is in results.json.",
        "",
    ]
    return "\n".join(lines)


def plain_summary(task: str, payload: dict[str, Any]) -> str:
    """The results table as plain text (used in the README and the tests)."""
    labels = LONGTAIL_LOSSES if task == "longtail" else DENSE_LOSSES
    headers, rows = _table(task, payload, labels)
    return plain_table("", headers, rows)
