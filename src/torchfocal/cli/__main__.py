"""``python -m torchfocal.cli``: the command line."""

from . import main

raise SystemExit(main())
