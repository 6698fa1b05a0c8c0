"""``torchfocal table``: cross-entropy and focal loss side by side for given probabilities of
the true class, and each loss relative to the first probability's (with 0.8 and 0.4: how
much more the hard example weighs than the easy one under each loss)."""

from __future__ import annotations

import argparse
import math

import torch

from ..functional import sigmoid_focal_loss
from ._common import CLIError, print_json, print_table


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--probs",
        type=float,
        nargs="+",
        default=[0.8, 0.4],
        help="probabilities of the true class, each in (0, 1) (default: 0.8 0.4)",
    )
    parser.add_argument(
        "--gamma", type=float, default=2.0, help="focusing parameter, >= 0 (default: 2)"
    )
    parser.add_argument(
        "--alpha",
        type=float,
        default=None,
        help="alpha weight of the positive class, in [0, 1] (default: none, no alpha weight)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON")


def compute(probs: list[float], gamma: float, alpha: float | None) -> list[dict[str, float]]:
    for p in probs:
        if not (0.0 < p < 1.0) or math.isnan(p):
            raise CLIError(f"--probs must be in (0, 1); got {p}")
    # Checked here, not by the loss, so that the message names the option (--gamma).
    if not (math.isfinite(gamma) and gamma >= 0):
        raise CLIError(f"--gamma must be a finite number >= 0; got {gamma}")
    if alpha is not None and not 0.0 <= alpha <= 1.0:  # NaN fails too
        raise CLIError(f"--alpha must be in [0, 1]; got {alpha}")
    # A probability of the true class is a sigmoid of the logit log(p / (1 - p)), target 1.
    logits = torch.tensor([math.log(p / (1 - p)) for p in probs], dtype=torch.float64)
    target = torch.ones_like(logits)
    ce = sigmoid_focal_loss(logits, target, alpha=None, gamma=0.0, reduction="none")
    fl = sigmoid_focal_loss(logits, target, alpha=alpha, gamma=gamma, reduction="none")
    rows = []
    for i, p in enumerate(probs):
        rows.append(
            {
                "p": p,
                "cross_entropy": float(ce[i]),
                "focal_loss": float(fl[i]),
                "focal_over_ce": float(fl[i] / ce[i]),
                "ce_ratio_to_first": float(ce[i] / ce[0]),
                "focal_ratio_to_first": float(fl[i] / fl[0]) if float(fl[0]) > 0 else math.inf,
            }
        )
    return rows


def run(args: argparse.Namespace) -> int:
    rows = compute(list(args.probs), args.gamma, args.alpha)
    if args.json:
        print_json({"gamma": args.gamma, "alpha": args.alpha, "rows": rows})
        return 0
    alpha = "" if args.alpha is None else f", alpha = {args.alpha:g}"
    first = f"{rows[0]['p']:g}"
    print_table(
        f"Cross-entropy vs focal loss (gamma = {args.gamma:g}{alpha}) for a probability p of "
        f"the true class; the last two columns: each loss over its own value at p = {first}",
        [
            "p",
            "cross-entropy",
            "focal loss",
            "focal / cross-entropy",
            f"cross-entropy / at p = {first}",
            f"focal loss / at p = {first}",
        ],
        [
            [
                f"{r['p']:g}",
                f"{r['cross_entropy']:.4f}",
                f"{r['focal_loss']:.4f}",
                f"{r['focal_over_ce']:.4f}",
                f"{r['ce_ratio_to_first']:.2f}",
                f"{r['focal_ratio_to_first']:.2f}",
            ]
            for r in rows
        ],
    )
    return 0
