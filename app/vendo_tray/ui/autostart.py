"""Start at login, behind one small interface with a back end per OS.

* Linux/BSD: an XDG autostart entry, ``$XDG_CONFIG_HOME/autostart/<id>.desktop``
  (what GNOME, KDE, Xfce and most session managers read).
* macOS: a LaunchAgent plist in ``~/Library/LaunchAgents`` with RunAtLoad.
* Windows: a value under ``HKCU\\Software\\Microsoft\\Windows\\CurrentVersion\\Run``.

WHY per-user locations only: starting at login is a personal preference and
must never need administrator rights.  Each back end writes exactly one
thing and removes exactly that thing, so turning the option off leaves no
trace.  Qt-free on purpose (plain files and the registry).
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Protocol

from vendo_tray import APP_ID, APP_NAME

log = logging.getLogger(__name__)


class Autostart(Protocol):
    """What the settings dialog needs: ask, turn on, turn off."""

    def is_enabled(self) -> bool: ...

    def enable(self, command: list[str]) -> None: ...

    def disable(self) -> None: ...


def launch_command() -> list[str]:
    """How to start this very installation again at login."""
    if getattr(sys, "frozen", False):  # PyInstaller bundle: the executable itself
        return [sys.executable]
    return [sys.executable, "-m", "vendo_tray"]


class _EntryFile:
    """A login item that is one file: present = enabled (XDG .desktop, LaunchAgent .plist)."""

    path: Path

    def is_enabled(self) -> bool:
        return self.path.is_file()

    def disable(self) -> None:
        try:
            self.path.unlink()
            log.info("start at login disabled (removed %s)", self.path)
        except FileNotFoundError:
            pass


# -- Linux: XDG autostart ----------------------------------------------------

_DESKTOP_RESERVED = set(' \t\n"\'\\><~|&;$*?#()`')


def _desktop_exec_quote(arg: str) -> str:
    """Quote one argument for a .desktop ``Exec=`` line (Desktop Entry spec)."""
    if arg and not any(ch in _DESKTOP_RESERVED for ch in arg) and "%" not in arg:
        return arg
    escaped = "".join("\\" + ch if ch in '"`$\\' else ch for ch in arg)
    return '"' + escaped.replace("%", "%%") + '"'


def desktop_exec_line(command: list[str]) -> str:
    """The ``Exec=`` value; backslashes doubled once more, as the spec's string type requires."""
    return " ".join(_desktop_exec_quote(a) for a in command).replace("\\", "\\\\")


class XdgAutostart(_EntryFile):
    """``<id>.desktop`` in ``$XDG_CONFIG_HOME/autostart``."""

    def __init__(self, config_home: Path | None = None) -> None:
        base = config_home or Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
        self.path = base / "autostart" / f"{APP_ID}.desktop"

    def enable(self, command: list[str]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        text = "\n".join([
            "[Desktop Entry]",
            "Type=Application",
            f"Name={APP_NAME}",
            "Comment=Native notifications when a Vendo connection or the balance needs you",
            f"Exec={desktop_exec_line(command)}",
            "Icon=vendo-tray",
            "Terminal=false",
            "X-GNOME-Autostart-enabled=true",
            "X-GNOME-Autostart-Delay=5",
            "",
        ])
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, self.path)
        log.info("start at login enabled (%s)", self.path)


# -- macOS: LaunchAgent --------------------------------------------------------

class LaunchAgent(_EntryFile):
    """``~/Library/LaunchAgents/<id>.plist`` with RunAtLoad, read by launchd at login."""

    def __init__(self, home: Path | None = None) -> None:
        self.path = (home or Path.home()) / "Library" / "LaunchAgents" / f"{APP_ID}.plist"

    def enable(self, command: list[str]) -> None:
        import plistlib  # macOS, and only when switched on: with its XML parser ~1 MB loaded

        self.path.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "Label": APP_ID,
            "ProgramArguments": list(command),
            "RunAtLoad": True,
            # An app that quits on purpose must stay quit until the next login.
            "KeepAlive": False,
            "ProcessType": "Interactive",
        }
        self.path.write_bytes(plistlib.dumps(payload))
        log.info("start at login enabled (%s)", self.path)


# -- Windows: HKCU Run -----------------------------------------------------------

RUN_KEY = r"Software\Microsoft\Windows\CurrentVersion\Run"


class WindowsRun:
    """A ``Vendo Tray`` value under HKCU's Run key (no admin rights needed)."""

    def __init__(self, value_name: str = APP_NAME) -> None:
        self.value_name = value_name

    def is_enabled(self) -> bool:
        if sys.platform != "win32":  # the registry exists only there (and mypy checks as Linux)
            return False
        import winreg

        try:
            with winreg.OpenKey(winreg.HKEY_CURRENT_USER, RUN_KEY) as key:
                winreg.QueryValueEx(key, self.value_name)
                return True
        except OSError:
            return False

    def enable(self, command: list[str]) -> None:
        if sys.platform != "win32":
            raise OSError("HKCU Run exists only on Windows")
        import subprocess
        import winreg

        line = subprocess.list2cmdline(command)
        with winreg.CreateKey(winreg.HKEY_CURRENT_USER, RUN_KEY) as key:
            winreg.SetValueEx(key, self.value_name, 0, winreg.REG_SZ, line)
        log.info("start at login enabled (HKCU Run)")

    def disable(self) -> None:
        if sys.platform != "win32":
            return
        import winreg

        try:
            with winreg.OpenKey(winreg.HKEY_CURRENT_USER, RUN_KEY, 0, winreg.KEY_SET_VALUE) as key:
                winreg.DeleteValue(key, self.value_name)
            log.info("start at login disabled (HKCU Run)")
        except FileNotFoundError:
            pass


def for_platform(platform: str | None = None) -> Autostart:
    """The back end for ``platform`` (default: this one)."""
    platform = platform or sys.platform
    if platform == "win32":
        return WindowsRun()
    if platform == "darwin":
        return LaunchAgent()
    return XdgAutostart()


def apply(enabled: bool, backend: Autostart | None = None) -> None:
    """Make the login item match ``enabled`` (idempotent)."""
    target = backend or for_platform()
    if enabled:
        target.enable(launch_command())
    else:
        target.disable()
