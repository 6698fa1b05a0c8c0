"""Run the benchmark and store its JSON next to this file.

    python benchmarks/bench.py            # full run: 1e5, 1e6, 1e7 logits, every backend
    python benchmarks/bench.py --quick    # a small smoke run

The table printed at the end is the one in BENCHMARKS.md. Ratios are measured against
torch's own loss in the same run, so they are comparable across machines and loads; the
absolute times are not.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from torchfocal.cli.bench import format_table


def main() -> int:
    out = Path(__file__).with_name("results-cpu.json")
    command = [sys.executable, "-m", "torchfocal", "bench", "--json", *sys.argv[1:]]
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        sys.stderr.write(completed.stderr)
        return completed.returncode
    result = json.loads(completed.stdout)
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(format_table(result))
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
