#!/usr/bin/env bash
# Build torchfocal's wheel and sdist (python -m build), install each into a fresh venv and
# smoke-test it there: import, one loss forward and backward, the console script.
#
#   bash tools/wheel_smoke.sh        # needs `build` (pip install build) and torch installed
#
# The venvs see this environment's packages (--system-site-packages), so torch is not
# downloaded again; the artifact installed into the venv shadows any torchfocal there, and
# the smoke test checks that it is the one imported. It runs outside the checkout, so the
# checkout's src/ cannot be imported by accident.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
VERSION=$("$PY" -c "import re; print(re.search(r'__version__ = \"(.+)\"', open('src/torchfocal/__init__.py').read()).group(1))")

"$PY" -m build --outdir "$WORK/dist" . >"$WORK/build.log" 2>&1 || { cat "$WORK/build.log"; exit 1; }
wheel=("$WORK"/dist/torchfocal-"$VERSION"-py3-none-any.whl)
sdist=("$WORK"/dist/torchfocal-"$VERSION".tar.gz)
for artifact in "${wheel[0]}" "${sdist[0]}"; do
  [ -f "$artifact" ] || { echo "wheel_smoke: $artifact was not built"; ls "$WORK/dist"; exit 1; }
  venv="$WORK/venv-$(basename "$artifact")"
  "$PY" -m venv --system-site-packages "$venv"
  "$venv/bin/python" -m pip install "$artifact" >"$venv.log" 2>&1 || { cat "$venv.log"; exit 1; }
  (
    cd "$WORK"
    env -u PYTHONPATH "$venv/bin/python" - "$venv" "$VERSION" <<'PYTHON'
import sys

import torch

import torchfocal

venv, version = sys.argv[1:]
assert torchfocal.__file__.startswith(venv), f"imported {torchfocal.__file__}, not the venv's"
assert torchfocal.__version__ == version, torchfocal.__version__
x = torch.randn(8, 5, requires_grad=True)
loss = torchfocal.sigmoid_focal_loss(x, torch.rand(8, 5) < 0.3, alpha=0.25, gamma=2.0)
loss.backward()
assert loss.isfinite() and x.grad is not None and x.grad.isfinite().all()
PYTHON
    env -u PYTHONPATH "$venv/bin/torchfocal" --help >/dev/null
    test "$(env -u PYTHONPATH "$venv/bin/torchfocal" --version)" = "torchfocal $VERSION"
  )
  echo "wheel_smoke: $(basename "$artifact") installs and passes"
done
