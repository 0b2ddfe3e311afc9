"""User preferences, stored as JSON in the platform config directory.

The API key is deliberately NOT a field here: it lives in the OS keyring
(core.secrets) or the environment, never in a file we write.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from vendo_tray.client.safety import DEFAULT_BASE_URL
from vendo_tray.core.apps import AppProfile, clean_base_url, clean_name
from vendo_tray.core.notices import Topic

log = logging.getLogger(__name__)


#: Notification toggles by topic; connected/disconnected are noisy, so off.
DEFAULT_NOTIFY: dict[str, bool] = {
    Topic.NEEDS_REAUTH: True,
    Topic.ERROR: True,
    Topic.BALANCE: True,
    Topic.RUNWAY: True,
    Topic.CAPS: True,
    Topic.STREAM: True,
    Topic.CONNECTED: False,
    Topic.DISCONNECTED: False,
}


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the settings dialog edits (except the key)."""

    base_url: str = DEFAULT_BASE_URL
    low_balance_dollars: float = 0.50
    #: Warn when the balance lasts less than this many days at the recent rate (core.runway).
    runway_days: float = 2.0
    notify: dict[str, bool] = field(default_factory=lambda: dict(DEFAULT_NOTIFY))
    keep_key_out_of_links: bool = False
    start_at_login: bool = False
    #: Play the platform's sound for notices of these urgencies ("low", "normal", "critical").
    sounds: tuple[str, ...] = ()
    #: The Vendo apps watched, in the user's order; empty = the one implied app of a
    #: setup that never edited the list (core.apps, which owns every rule about them).
    apps: tuple[AppProfile, ...] = ()

    @property
    def low_balance_micros(self) -> int:
        return round(self.low_balance_dollars * 1_000_000)

    def with_changes(self, **changes: Any) -> Settings:
        return replace(self, **changes)


def settings_path(config_dir: Path) -> Path:
    return config_dir / "settings.json"


def load_settings(config_dir: Path) -> Settings:
    """Read the settings; a missing or broken file gives defaults (and a log line, see :func:`read_settings`)."""
    return read_settings(config_dir) or Settings()


def read_settings(config_dir: Path) -> Settings | None:
    """Read the settings; None when the file is missing or broken as a whole (with a log line).

    WHY None rather than defaults: the running tray re-reads the file when someone
    else wrote it, and a file caught half-written or mistyped must not become
    "no apps" there; only a first start falls back to defaults (:func:`load_settings`).

    The file may be hand-edited, so every value is type-checked: one bad value
    falls back to its default (with a log line naming it) and the rest is kept.
    A wrong type must not get as far as the engine, where a string threshold or
    a numeric base URL would crash it at start-up.
    """
    path = settings_path(config_dir)
    try:
        # utf-8-sig: a byte order mark left by an editor is no damage.
        raw = json.loads(path.read_text(encoding="utf-8-sig"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, RecursionError) as exc:  # RecursionError: nested too deep to parse
        log.warning("settings file %s is unreadable (%s); keeping the settings in use (the defaults at start)",
                    path, _why(exc))
        return None
    if not isinstance(raw, dict):
        log.warning("settings file %s holds %s, not an object; keeping the settings in use (the defaults at start)",
                    path, type(raw).__name__)
        return None
    values: dict[str, Any] = {}
    for name, check in _CHECKS.items():
        if name not in raw:
            continue
        try:
            value = check(raw[name])
        except (ArithmeticError, TypeError, ValueError):  # e.g. an integer too big for a float
            value = None
        if value is None:
            log.warning("settings file %s: %s has an unusable value; using the default", path, name)
        else:
            values[name] = value
    return Settings(**values)


def _why(exc: BaseException) -> str:
    """A short reason: the messages of some parse errors quote the damaged text at length."""
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= 160 else text[:157] + "..."


def _check_base_url(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def _check_dollars(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) and 0 <= value <= 1_000_000 else None


#: The runway warning's threshold, in days: the settings dialog offers this range too.
RUNWAY_DAYS_RANGE = (0.5, 60.0)


def _check_days(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    low, high = RUNWAY_DAYS_RANGE
    return float(value) if math.isfinite(value) and low <= value <= high else None


def _check_bool(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def _check_notify(value: Any) -> dict[str, bool] | None:
    if not isinstance(value, dict) or not all(isinstance(v, bool) for v in value.values()):
        return None
    return {**DEFAULT_NOTIFY, **{k: v for k, v in value.items() if k in DEFAULT_NOTIFY}}


def _check_sounds(value: Any) -> tuple[str, ...] | None:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        return None
    return tuple(value)


def _check_apps(value: Any) -> tuple[AppProfile, ...] | None:
    """The list as core.apps would have written it: any entry it would refuse spoils the list
    (half a list would silently drop an app the user watches)."""
    if not isinstance(value, list):
        return None
    apps: list[AppProfile] = []
    for entry in value:
        if not isinstance(entry, dict) or not all(isinstance(entry.get(f), str) for f in ("id", "name", "base_url")):
            return None
        try:
            app = AppProfile(entry["id"], clean_name(entry["name"]), clean_base_url(entry["base_url"]))
        except ValueError:
            return None
        if not app.id or not app.id.isprintable() or any(a.id == app.id or a.name.casefold() == app.name.casefold()
                                                         for a in apps):
            return None
        apps.append(app)
    return tuple(apps)


_CHECKS: dict[str, Callable[[Any], Any]] = {
    "base_url": _check_base_url,
    "low_balance_dollars": _check_dollars,
    "runway_days": _check_days,
    "notify": _check_notify,
    "keep_key_out_of_links": _check_bool,
    "start_at_login": _check_bool,
    "sounds": _check_sounds,
    "apps": _check_apps,
}


def merge_settings(seen: Settings, ours: Settings, on_disk: Settings) -> Settings:
    """``ours`` (an edit of ``seen``) applied to ``on_disk``: the fields we changed take our value,
    every other field keeps the file's.

    WHY: the file has more than one writer (the tray's settings dialog, ``vendo-tray
    apps add/remove``, a hand edit).  Writing back our whole, older copy would undo
    what the others wrote since we read it: drop an app added from the terminal
    (its key left orphaned in the keyring) or bring back a removed one.  The one
    rule for every writer that holds a copy: re-read the file just before saving and
    apply only what this edit changed.
    """
    changed = {f.name: getattr(ours, f.name) for f in fields(Settings)
               if getattr(ours, f.name) != getattr(seen, f.name)}
    return on_disk.with_changes(**changed)


def save_settings(config_dir: Path, settings: Settings) -> None:
    """Write atomically (temp file + rename) so a crash never leaves half a file."""
    path = settings_path(config_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = asdict(settings)
    data["sounds"] = list(settings.sounds)
    data["apps"] = [asdict(app) for app in settings.apps]
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True), encoding="utf-8")
    os.replace(tmp, path)
