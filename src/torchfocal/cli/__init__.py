"""The ``torchfocal`` command line: table, plot, weights, demo, bench.

Each subcommand lives in its own module with ``add_arguments(parser)`` and ``run(args)``;
``SUBCOMMANDS`` maps names to modules, so adding one is one line. Bad input anywhere ends
with one line on stderr and exit code 2, never a traceback. The modules import only torch
when loaded, so ``torchfocal --help`` works without the ``cli`` extra; a command that needs
NumPy, matplotlib or scikit-learn says so when it runs.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import NoReturn

from ._common import CLIError

__all__ = ["CLIError", "main"]

#: name -> (module under torchfocal.cli, one-line help)
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "table": ("table", "cross-entropy vs focal loss for given probabilities of the true class"),
    "plot": ("plot", "plot the focal loss or its gradient for several gammas"),
    "weights": ("weights", "class-balanced weights and balanced alpha from class counts"),
    "demo": ("demo", "train on long-tailed real data with each loss and compare"),
    "bench": ("bench", "speed and memory goals as ratios to torch's own loss (--sweep: all)"),
}


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr and exit code 2."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        raise SystemExit(2)


class _SubcommandParser(_Parser):
    """A subcommand's parser: it refuses the arguments it does not know itself.

    argparse hands a subcommand's unknown arguments back to the top-level parser, whose
    error then names ``torchfocal`` alone; refusing them here names the subcommand, whose
    ``--help`` lists what it takes.
    """

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        parsed, unknown = super().parse_known_args(args, namespace)
        if unknown:
            self.error(f"unrecognized arguments: {' '.join(unknown)}")
        return parsed, unknown


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__

    parser = _Parser(
        prog="torchfocal",
        description="Focal loss and class-imbalance losses for PyTorch: explain, plot, "
        "weigh classes, demonstrate, benchmark.",
    )
    parser.add_argument("--version", action="version", version=f"torchfocal {__version__}")
    commands = parser.add_subparsers(
        dest="command", metavar="COMMAND", parser_class=_SubcommandParser
    )
    commands.required = True
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        module = importlib.import_module(f"{__name__}.{module_name}")
        sub = commands.add_parser(name, help=help_text, description=help_text)
        module.add_arguments(sub)
        sub.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (0 success, 2 bad input)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args._run(args)
    except CLIError as error:
        sys.stderr.write(f"torchfocal {args.command}: error: {error}\n")
        return 2
    except (ValueError, TypeError) as error:  # the library's own argument checks
        sys.stderr.write(f"torchfocal {args.command}: error: {error}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("torchfocal: interrupted\n")
        return 130
    return code
