"""User preferences, stored as JSON in the platform config directory.

The API key is deliberately NOT a field here: it lives in the OS keyring
(core.secrets) or the environment, never in a file we write.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://vendo.run"

#: Notification toggles by topic; connected/disconnected are noisy, so off.
DEFAULT_NOTIFY = {
    "needs_reauth": True,
    "error": True,
    "balance": True,
    "caps": True,
    "stream": True,
    "connected": False,
    "disconnected": False,
}


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the settings dialog edits (except the key)."""

    base_url: str = DEFAULT_BASE_URL
    low_balance_dollars: float = 0.50
    notify: dict[str, bool] = field(default_factory=lambda: dict(DEFAULT_NOTIFY))
    keep_key_out_of_links: bool = False
    start_at_login: bool = False
    #: Play the platform's sound for notices of these urgencies ("low", "normal", "critical").
    sounds: tuple[str, ...] = ()

    @property
    def low_balance_micros(self) -> int:
        return round(self.low_balance_dollars * 1_000_000)

    def with_changes(self, **changes: Any) -> Settings:
        return replace(self, **changes)


def settings_path(config_dir: Path) -> Path:
    return config_dir / "settings.json"


def load_settings(config_dir: Path) -> Settings:
    """Read the settings; a missing or broken file gives defaults (and a log line)."""
    path = settings_path(config_dir)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return Settings()
    except (OSError, ValueError) as exc:
        log.warning("settings file %s unreadable (%s); using defaults", path, exc)
        return Settings()
    if not isinstance(raw, dict):
        log.warning("settings file %s is not an object; using defaults", path)
        return Settings()
    known = {f.name for f in fields(Settings)}
    values = {k: v for k, v in raw.items() if k in known}
    if isinstance(values.get("notify"), dict):
        values["notify"] = {**DEFAULT_NOTIFY, **{k: bool(v) for k, v in values["notify"].items()
                                                 if k in DEFAULT_NOTIFY}}
    else:
        values.pop("notify", None)
    if "sounds" in values:
        values["sounds"] = tuple(str(s) for s in values["sounds"] if isinstance(s, str))
    try:
        settings = Settings(**values)
        float(settings.low_balance_dollars)
    except (TypeError, ValueError) as exc:
        log.warning("settings file %s has bad values (%s); using defaults", path, exc)
        return Settings()
    return settings


def save_settings(config_dir: Path, settings: Settings) -> None:
    """Write atomically (temp file + rename) so a crash never leaves half a file."""
    path = settings_path(config_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = asdict(settings)
    data["sounds"] = list(settings.sounds)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True), encoding="utf-8")
    os.replace(tmp, path)
