"""ui.autostart: the XDG autostart entry written and removed for real; the macOS plist's shape."""

from __future__ import annotations

import configparser
import plistlib
import shlex
import sys
from pathlib import Path

import pytest

from vendo_tray import APP_ID
from vendo_tray.ui import autostart
from vendo_tray.ui.autostart import LaunchAgent, XdgAutostart, desktop_exec_line, launch_command


def _desktop_entry(path: Path) -> dict[str, str]:
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # keys are case-sensitive in .desktop files
    parser.read(path, encoding="utf-8")
    return dict(parser["Desktop Entry"])


def test_xdg_entry_is_written_where_session_managers_look_and_removed(isolated_home: Path) -> None:
    backend = XdgAutostart()
    expected = isolated_home / ".config" / "autostart" / f"{APP_ID}.desktop"
    assert backend.path == expected
    assert not backend.is_enabled()

    autostart.apply(True, backend)
    assert backend.is_enabled() and expected.is_file()
    entry = _desktop_entry(expected)
    assert entry["Type"] == "Application"
    assert entry["Name"] == "Vendo Tray"
    assert entry["Terminal"] == "false"
    assert shlex.split(entry["Exec"]) == launch_command()
    assert list(expected.parent.iterdir()) == [expected]  # no temp file left behind

    autostart.apply(True, backend)  # idempotent
    autostart.apply(False, backend)
    assert not expected.exists() and not backend.is_enabled()
    autostart.apply(False, backend)  # removing twice is fine


def test_exec_line_quotes_paths_with_spaces_per_the_spec() -> None:
    line = desktop_exec_line(["/opt/My Apps/python3", "-m", "vendo_tray"])
    assert line == '"/opt/My Apps/python3" -m vendo_tray'
    odd = desktop_exec_line(['/tmp/a"b$c'])
    # Inside quotes ", $ and \\ are escaped; the string type then doubles each backslash.
    assert odd == '"/tmp/a\\\\"b\\\\$c"'


def test_launch_command_reruns_this_installation() -> None:
    assert launch_command() == [sys.executable, "-m", "vendo_tray"]


def test_launch_agent_plist_runs_at_load_and_is_removed(tmp_path: Path) -> None:
    agent = LaunchAgent(home=tmp_path)
    agent.enable(["/Applications/Vendo Tray.app/Contents/MacOS/vendo-tray"])
    data = plistlib.loads(agent.path.read_bytes())
    assert agent.path == tmp_path / "Library" / "LaunchAgents" / f"{APP_ID}.plist"
    assert data["Label"] == APP_ID
    assert data["RunAtLoad"] is True and data["KeepAlive"] is False
    assert data["ProgramArguments"] == ["/Applications/Vendo Tray.app/Contents/MacOS/vendo-tray"]
    agent.disable()
    assert not agent.is_enabled()


@pytest.mark.parametrize(("platform", "kind"), [
    ("linux", XdgAutostart), ("freebsd14", XdgAutostart), ("darwin", LaunchAgent),
])
def test_backend_per_platform(platform: str, kind: type) -> None:
    assert isinstance(autostart.for_platform(platform), kind)


@pytest.mark.skipif(sys.platform != "win32", reason="HKCU Run exists only on Windows")
def test_windows_run_value_written_and_removed() -> None:  # pragma: no cover - Windows CI
    backend = autostart.WindowsRun(value_name="Vendo Tray (test)")
    backend.enable(launch_command())
    try:
        assert backend.is_enabled()
    finally:
        backend.disable()
    assert not backend.is_enabled()
