"""The third-party notices a bundle carries, read for About -> "Open-source licenses".

packaging/notices.py writes them at build time from what the bundle really holds
(vendo_tray.resources' ``third-party-licenses.json``). A copy run from source has
none: each library's license then sits in its own installed package, and the
viewer says so instead of showing an empty list.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

from vendo_tray import resources

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class License:
    """One licensed part: our app, Qt, Python, a Python distribution or a system library."""

    name: str
    version: str
    license: str
    url: str
    text: str
    notice: str = ""

    @property
    def title(self) -> str:
        return f"{self.name} {self.version}".strip()


@dataclass(frozen=True)
class Notices:
    """Our own license first, then every third-party part; empty when none were bundled."""

    ours: License | None
    third_party: tuple[License, ...]


def _license(raw: dict[str, object], default_name: str = "") -> License:
    return License(name=str(raw.get("name", default_name)), version=str(raw.get("version", "")),
                   license=str(raw["license"]), url=str(raw.get("url", "")), text=str(raw["text"]),
                   notice=str(raw.get("notice", "")))


def bundled_path() -> Path:
    return Path(resources.path(resources.LICENSES_FILE))


def load(path: Path | None = None, *, app_name: str = "Vendo Tray", version: str = "") -> Notices:
    """The notices at ``path`` (default: the bundled file); a missing or bad file gives none."""
    path = path or bundled_path()
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        ours = {**raw["app"], "name": app_name, "version": version}
        return Notices(ours=_license(ours), third_party=tuple(_license(c) for c in raw["components"]))
    except FileNotFoundError:
        log.info("no third-party notices at %s (not a bundle)", path)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.error("the third-party notices at %s are unreadable: %s", path, exc)
    return Notices(ours=None, third_party=())
