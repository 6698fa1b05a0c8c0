"""``python -m torchfocal``: the command line."""

from .cli import main

raise SystemExit(main())
