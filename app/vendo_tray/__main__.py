"""``python -m vendo_tray``: the same as the ``vendo-tray`` command."""

import sys

from vendo_tray.cli import main

sys.exit(main())
