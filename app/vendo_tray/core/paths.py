"""Where the app keeps its files, per platform (platformdirs), in one place.

WHY one module: the tray app writes the history and settings, and the
``events --since`` command reads the same history from another process; both
must agree on the path.  Tests redirect everything through XDG_*/HOME.
"""

from __future__ import annotations

from pathlib import Path

import platformdirs

APP_DIR_NAME = "vendo-tray"


def config_dir() -> Path:
    """settings.json lives here (never the key)."""
    return platformdirs.user_config_path(APP_DIR_NAME, appauthor=False)


def data_dir() -> Path:
    return platformdirs.user_data_path(APP_DIR_NAME, appauthor=False)


def cache_dir() -> Path:
    return platformdirs.user_cache_path(APP_DIR_NAME, appauthor=False)


def history_path() -> Path:
    """The SQLite event history (core.store)."""
    return data_dir() / "history.sqlite3"
