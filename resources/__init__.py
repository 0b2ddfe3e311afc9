"""The app's shipped files: icon sources, the .desktop entry, the AppStream metainfo.

WHY a top-level folder mapped as the package ``vendo_tray.resources`` (pyproject's
package-dir): artwork and desktop integration are not Python code and are edited by
people who never open app/, yet the app must find them the same way from a source
checkout, an installed wheel and the PyInstaller bundle. ``importlib.resources`` does
that for a package, so this folder is one.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from vendo_tray import APP_ID

__all__ = ["APP_ICON", "DESKTOP_FILE", "LICENSES_FILE", "METAINFO_FILE", "path"]

#: The app icon's name (icons/<name>.svg; installed into the hicolor theme under it).
APP_ICON = "vendo-tray"
#: Named by the app's reverse-DNS id, as freedesktop and AppStream want.
DESKTOP_FILE = f"{APP_ID}.desktop"
METAINFO_FILE = f"{APP_ID}.metainfo.xml"
#: Third-party notices: generated into the bundle by packaging/notices.py, absent from source.
LICENSES_FILE = "third-party-licenses.json"


def path(*parts: str) -> Path:
    """Where the resource ``parts`` (e.g. ``"icons", "vendo-tray.svg"``) is on disk."""
    return Path(str(resources.files(__name__).joinpath(*parts)))
