"""PyInstaller entry point: the frozen ``vendo-tray`` runs exactly what the console script runs."""

from __future__ import annotations

import sys

from vendo_tray.cli import main

if __name__ == "__main__":
    sys.exit(main())
