"""``torchfocal weights``: class counts, class-balanced weights and balanced alpha."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from ..weighting import balanced_alpha, class_balanced_weights
from ._common import CLIError, print_json, print_table


def add_arguments(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--counts", type=int, nargs="+", help="samples per class")
    source.add_argument("--labels", help=".npy, .csv or .txt: one label per line or one-hot rows")
    parser.add_argument("--beta", type=float, default=0.9999, help="Cui et al.'s beta (0.9999)")
    parser.add_argument("--json", action="store_true", help="print JSON")


def read_labels(path: str) -> tuple[np.ndarray, int]:
    """Class counts and the number of samples from a label file.

    One integer label per line (or a 1-D .npy) gives counts by class index; rows of 0/1
    values (one-hot or multi-hot, comma or space separated, or a 2-D .npy) give column sums.
    """
    file = Path(path)
    if not file.is_file():
        raise CLIError(f"--labels: no such file {path!r}")
    try:
        if file.suffix.lower() == ".npy":
            data = np.load(file, allow_pickle=False)
        elif file.suffix.lower() in (".csv", ".txt"):
            text = file.read_text(encoding="utf-8").replace(",", " ")
            rows = [line.split() for line in text.splitlines() if line.strip()]
            if not rows:
                raise CLIError(f"--labels: {path!r} holds no labels")
            if len({len(r) for r in rows}) != 1:
                raise CLIError(f"--labels: rows of {path!r} have different lengths")
            data = np.array(rows, dtype=np.float64)
            if data.shape[1] == 1:
                data = data[:, 0]
        else:
            raise CLIError(f"--labels must be a .npy, .csv or .txt file; got {file.name!r}")
    except (OSError, ValueError) as error:
        raise CLIError(f"--labels: cannot read {path!r} ({error})") from None
    if data.size == 0:
        raise CLIError(f"--labels: {path!r} holds no labels")
    if data.ndim == 1:
        if np.any(data != np.round(data)) or np.any(data < 0):
            raise CLIError(f"--labels: labels in {path!r} must be non-negative integers")
        return np.bincount(data.astype(np.int64)), int(data.size)
    if data.ndim == 2:
        if not np.isin(data, (0, 1)).all():
            raise CLIError(f"--labels: one-hot rows in {path!r} must hold only 0 and 1")
        return data.sum(axis=0).astype(np.int64), int(data.shape[0])
    raise CLIError(f"--labels: expected 1-D labels or 2-D one-hot rows; got {data.ndim}-D")


def run(args: argparse.Namespace) -> int:
    if args.counts is not None:
        counts = np.asarray(args.counts, dtype=np.int64)
        total = int(counts.sum())
    else:
        counts, total = read_labels(args.labels)
    for index, count in enumerate(counts):
        if count <= 0:
            raise CLIError(f"class {index} has {count} samples; every class needs at least one")
    weights = class_balanced_weights(counts, beta=args.beta)
    if (counts >= total).any():
        raise CLIError("balanced alpha needs negatives for every class; one class has them all")
    alpha = balanced_alpha(counts, total)
    if args.json:
        print_json(
            {
                "counts": counts.tolist(),
                "beta": args.beta,
                "class_balanced_weights": weights.tolist(),
                "balanced_alpha": alpha.tolist(),
            }
        )
        return 0
    print_table(
        f"Class weights (beta = {args.beta:g}, {total} samples)",
        ["class", "count", "class-balanced weight", "balanced alpha"],
        [
            [str(i), str(int(c)), f"{float(w):.4f}", f"{float(a):.4f}"]
            for i, (c, w, a) in enumerate(zip(counts, weights, alpha, strict=True))
        ],
    )
    return 0
