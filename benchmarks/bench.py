"""Run ``torchfocal bench`` and store its JSON next to this file.

    python benchmarks/bench.py                    # the goal table -> results-goals-cpu.json
    python benchmarks/bench.py --sweep            # every backend and size -> results-cpu.json
    python benchmarks/bench.py --quick            # a short run of the goal table

Every other option goes to ``torchfocal bench`` as it is. The table printed at the end is
the one in BENCHMARKS.md. Ratios are measured against torch's own loss in the same run, so
they are comparable across machines and loads; the absolute times are not. A run with
``--scale`` (shapes scaled down, not judged against the goals) is printed, not stored.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from torchfocal.cli.bench import format_goals, format_table

RESULTS = {"goals": "results-goals-cpu.json", "sweep": "results-cpu.json"}


def main() -> int:
    command = [sys.executable, "-m", "torchfocal", "bench", "--json", *sys.argv[1:]]
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        sys.stderr.write(completed.stderr)
        return completed.returncode
    result = json.loads(completed.stdout)
    goals = result["mode"] == "goals"
    print(format_goals(result) if goals else format_table(result))
    if goals and (result["scale"] != 1 or result["max_rows"] is not None):
        return 0  # a scaled or --quick run (rows capped) is not the goal table
    out = Path(__file__).with_name(RESULTS[result["mode"]])
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
