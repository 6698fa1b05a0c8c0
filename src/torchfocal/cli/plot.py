"""``torchfocal plot``: Lin et al.'s figure 1 (loss vs p_t) or the gradient vs x_t."""

from __future__ import annotations

import argparse

import torch

from ..functional import sigmoid_focal_loss
from ._common import CLIError, require, require_all, writable_file

SUFFIXES = (".png", ".svg", ".pdf")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--kind",
        default="loss",
        help="loss (vs p_t, Lin et al.'s figure 1) or grad (vs x_t) (default: loss)",
    )
    parser.add_argument(
        "--gammas",
        type=float,
        nargs="+",
        default=[0.0, 0.5, 1.0, 2.0, 5.0],
        help="focusing parameters, each >= 0, one curve each; 0 is cross-entropy "
        "(default: 0 0.5 1 2 5)",
    )
    parser.add_argument("--out", required=True, help="output file: .png, .svg or .pdf (required)")


def curves(kind: str, gammas: list[float]) -> tuple[torch.Tensor, dict[float, torch.Tensor]]:
    """x values and one curve per gamma, computed by the library itself."""
    if kind == "loss":
        p_t = torch.linspace(0.001, 1.0, 500, dtype=torch.float64)
        logits = torch.log(p_t) - torch.log1p(-p_t)  # +inf at p_t = 1 is not a valid logit
        logits[-1] = 40.0
        target = torch.ones_like(p_t)
        return p_t, {
            g: sigmoid_focal_loss(logits, target, alpha=None, gamma=g, reduction="none")
            for g in gammas
        }
    if kind == "grad":
        x_t = torch.linspace(-10, 10, 500, dtype=torch.float64)
        target = torch.ones_like(x_t)
        result = {}
        for g in gammas:
            x = x_t.clone().requires_grad_(True)
            loss = sigmoid_focal_loss(x, target, alpha=None, gamma=g, reduction="sum")
            (result[g],) = torch.autograd.grad(loss, x)
        return x_t, result
    raise CLIError(f"--kind must be 'loss' or 'grad'; got {kind!r}")


def run(args: argparse.Namespace) -> int:
    require_all("numpy", "matplotlib")
    for g in args.gammas:
        if not g >= 0:
            raise CLIError(f"--gammas must be >= 0; got {g}")
    out = writable_file(args.out, SUFFIXES)
    xs, ys = curves(args.kind, list(args.gammas))
    matplotlib = require("matplotlib")
    matplotlib.use("Agg")
    plt = require("matplotlib.pyplot")
    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    for gamma, values in ys.items():
        label = f"gamma = {gamma:g}" + (" (CE)" if gamma == 0 else "")
        ax.plot(xs.numpy(), values.numpy(), label=label)
    if args.kind == "loss":
        ax.set_xlabel("probability of ground truth class p_t")
        ax.set_ylabel("loss")
        ax.set_ylim(0, 5)
        ax.set_title("Focal loss -(1 - p_t)^gamma log p_t")
    else:
        ax.set_xlabel("x_t (logit times sign of the label)")
        ax.set_ylabel("dFL / dx_t")
        ax.set_title("Focal loss gradient")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    try:
        fig.savefig(out)
    except OSError as error:
        raise CLIError(f"--out: cannot write {str(out)!r} ({error.strerror})") from None
    finally:
        plt.close(fig)
    print(f"wrote {out}")
    return 0
