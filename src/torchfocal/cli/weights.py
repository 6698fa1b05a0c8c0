"""``torchfocal weights``: class counts, class-balanced weights, balanced alpha, the logit
adjustment's offsets and the LDAM margins."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from ..weighting import balanced_alpha, class_balanced_weights, ldam_margins
from ._common import CLIError, print_json, print_table, require_all

if TYPE_CHECKING:  # NumPy comes with the cli extra, imported where used
    import numpy as np

#: The most samples the command takes, over all classes: every count and their total are
#: then exact in float64, the precision the weighting helpers compute in.
MAX_SAMPLES = 2**53


def add_arguments(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--counts",
        type=int,
        nargs="+",
        help="samples per class: positive integers adding up to at most 2**53 (this or --labels "
        "is required)",
    )
    source.add_argument(
        "--labels",
        help=".npy, .csv or .txt: one class index per line (each below the number of labels, "
        "since every class up to the largest index needs a sample) or 0/1 one-hot rows (this "
        "or --counts is required)",
    )
    parser.add_argument(
        "--beta", type=float, default=0.9999, help="Cui et al.'s beta, in [0, 1) (default: 0.9999)"
    )
    parser.add_argument("--json", action="store_true", help="print JSON")


def _load(file: Path, path: str) -> np.ndarray:
    """The label array of a .npy, .csv or .txt file, read no further than the file goes."""
    import numpy as np

    suffix = file.suffix.lower()
    if suffix == ".npy":
        # Memory-mapped first: a header that promises more data than the file holds is a
        # ValueError here, where a plain load would try to allocate all of it.
        data = np.load(file, mmap_mode="r", allow_pickle=False)
        if not isinstance(data, np.ndarray):  # an .npz archive under a .npy name
            data.close()
            raise CLIError(f"--labels: {path!r} is not a single NumPy array")
        return np.array(data)
    if suffix in (".csv", ".txt"):
        text = file.read_text(encoding="utf-8").replace(",", " ")
        rows = [line.split() for line in text.splitlines() if line.strip()]
        if not rows:
            raise CLIError(f"--labels: {path!r} holds no labels")
        if len({len(r) for r in rows}) != 1:
            raise CLIError(f"--labels: rows of {path!r} have different lengths")
        array = np.array(rows, dtype=np.float64)
        return array[:, 0] if array.shape[1] == 1 else array
    raise CLIError(f"--labels must be a .npy, .csv or .txt file; got {file.name!r}")


def read_labels(path: str) -> tuple[np.ndarray, int]:
    """Class counts and the number of samples from a label file.

    One integer label per line (or a 1-D .npy) gives counts by class index; rows of 0/1
    values (one-hot or multi-hot, comma or space separated, or a 2-D .npy) give column sums.

    Class indices must lie below the number of labels n: every class from 0 to the largest
    index needs at least one sample, so a larger index can only fail, and refusing it up
    front keeps the count vector no longer than n (a label of 1e18 must not ask for 1e18
    counters).
    """
    import numpy as np

    file = Path(path)
    if not file.is_file():
        raise CLIError(f"--labels: no such file {path!r}")
    try:
        data = _load(file, path)
    except (OSError, ValueError, EOFError) as error:
        raise CLIError(f"--labels: cannot read {path!r} ({error})") from None
    if data.dtype.kind not in "biuf":
        raise CLIError(f"--labels: {path!r} must hold numbers; got {data.dtype}")
    if data.size == 0:
        raise CLIError(f"--labels: {path!r} holds no labels")
    if data.ndim == 1:
        count = int(data.size)
        if data.dtype.kind == "b":
            data = data.astype(np.int64)
        if data.dtype.kind == "f":
            if not np.isfinite(data).all():
                bad = data[~np.isfinite(data)][0]
                raise CLIError(f"--labels: labels in {path!r} must be finite; got {bad}")
            if np.any(data != np.floor(data)):
                raise CLIError(f"--labels: labels in {path!r} must be non-negative integers")
        if np.any(data < 0):
            raise CLIError(f"--labels: labels in {path!r} must be non-negative integers")
        largest = data.max().item()
        if largest >= count:
            shown = f"{largest:g}" if isinstance(largest, float) else str(largest)
            raise CLIError(
                f"--labels: labels in {path!r} must be below the number of labels ({count}), "
                f"since every class from 0 to the largest label needs a sample; got {shown}"
            )
        return np.bincount(data.astype(np.int64)), count
    if data.ndim == 2:
        if not np.isin(data, (0, 1)).all():
            raise CLIError(f"--labels: one-hot rows in {path!r} must hold only 0 and 1")
        return data.sum(axis=0).astype(np.int64), int(data.shape[0])
    raise CLIError(f"--labels: expected 1-D labels or 2-D one-hot rows; got {data.ndim}-D")


def run(args: argparse.Namespace) -> int:
    require_all("numpy")
    import numpy as np

    if not 0 <= args.beta < 1:  # NaN fails too; checked here to name the option
        raise CLIError(f"--beta must be in [0, 1); got {args.beta}")
    if args.counts is not None:
        # Python ints, checked before NumPy sees them (int64 would overflow or wrap)
        for index, given in enumerate(args.counts):
            if given <= 0:
                raise CLIError(f"class {index} has {given} samples; every class needs at least one")
        total = sum(args.counts)
        if total > MAX_SAMPLES:
            raise CLIError(
                f"--counts must add up to at most 2**53 = {MAX_SAMPLES} samples (exact in "
                f"float64); got {total}"
            )
        counts = np.asarray(args.counts, dtype=np.int64)
    else:
        counts, total = read_labels(args.labels)
    for index, count in enumerate(counts):
        if count <= 0:
            raise CLIError(f"class {index} has {count} samples; every class needs at least one")
    weights = class_balanced_weights(counts, beta=args.beta)
    if (counts >= total).any():
        raise CLIError("balanced alpha needs negatives for every class; one class has them all")
    alpha = balanced_alpha(counts, total)
    # The offset tau log(prior) logit_adjusted_cross_entropy adds at tau = 1 (the balanced
    # softmax), the prior being the counts normalised to sum 1 (as the loss normalises it).
    log_prior = np.log(counts) - np.log(counts.sum())
    margins = ldam_margins(counts)
    if args.json:
        print_json(
            {
                "counts": counts.tolist(),
                "beta": args.beta,
                "class_balanced_weights": weights.tolist(),
                "balanced_alpha": alpha.tolist(),
                "logit_adjustment": log_prior.tolist(),
                "ldam_margins": margins.tolist(),
            }
        )
        return 0
    print_table(
        f"Class weights (beta = {args.beta:g}, {total} samples; logit adjustment = log prior, "
        f"tau = 1; LDAM margins up to 0.5)",
        [
            "class",
            "count",
            "class-balanced weight",
            "balanced alpha",
            "logit adjustment",
            "LDAM margin",
        ],
        [
            [str(i), str(int(c)), f"{float(w):.4f}", f"{float(a):.4f}", f"{lp:.4f}", f"{m:.4f}"]
            for i, (c, w, a, lp, m) in enumerate(
                zip(counts, weights, alpha, log_prior.tolist(), margins.tolist(), strict=True)
            )
        ],
    )
    return 0
