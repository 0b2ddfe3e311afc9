"""What a normal (non-demo) session loads: the real app, live against the simulator.

A tray app runs all day; what it imports at start it holds all day. The
simulator (uvicorn, Starlette), the window, the settings dialog, the
notification library and httpx's command-line tool load only when used; the
keyring loads only when the key lives there, and then only the platform's own
back end, without keyring's search through every installed distribution.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from desktop import wait_until
from vendo_tray.core.logs import default_log_dir
from vendo_tray.core.secrets import ACCOUNT, SERVICE

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]

PROBE = Path(__file__).resolve().parent / "app_probe.py"
#: Never needed by a live, idle session with its window closed.
NOT_AT_START = ("uvicorn", "starlette", "vendo_tray.simulator", "vendo_tray.ui.window",
                "vendo_tray.ui.event_model", "vendo_tray.ui.settings_dialog", "vendo_tray.ui.licenses_dialog",
                "vendo_tray.core.licenses", "desktop_notifier",
                "dbus_fast", "click", "pygments",
                "plistlib", "html",  # macOS's login item; the notifier's markup escaping
                "PySide6.QtNetwork")  # reachability, when the stream drops; the guard is a Unix socket
#: The Secret Service back end and what it brings: read in a child process (core.secrets).
KEYRING_STACK = ("keyring", "secretstorage", "jeepney", "cryptography", "jaraco")


class RunningApp:
    """The app under tests/app_probe.py, asked for its modules over a pipe."""

    def __init__(self, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen([sys.executable, str(PROBE), "--log-level", "DEBUG"], env=env,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True)
        self.log = default_log_dir() / "vendo-tray.log"

    def wait_live(self) -> None:
        wait_until(lambda: self.log.exists() and "tray shows live" in self.log.read_text(errors="replace"),
                   30, "the app to go live")

    def modules(self) -> set[str]:
        return self._ask("modules", "MODULES ")

    def libraries(self) -> set[str]:
        return self._ask("libraries", "LIBRARIES ")

    def _ask(self, command: str, mark: str) -> set[str]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        for line in self.proc.stdout:
            if line.startswith(mark):
                return set(json.loads(line[len(mark):]))
        raise AssertionError(f"the app ended (exit {self.proc.wait(10)}) before answering")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(15)


@pytest.fixture
def start_app(simulator, tray_host) -> Iterator:
    started: list[RunningApp] = []

    def start(**env: str) -> RunningApp:
        app = RunningApp({**os.environ, "VENDO_BASE_URL": simulator.base_url, **env})
        started.append(app)
        app.wait_live()
        return app

    yield start
    for app in started:
        app.stop()


def test_a_live_idle_session_loads_no_simulator_window_or_notifier_until_used(
        start_app, api_key) -> None:
    app = start_app(VENDO_API_KEY=api_key)
    loaded = app.modules()
    assert "vendo_tray.core.monitor" in loaded  # the probe sees the app's own modules
    assert sorted(loaded.intersection(NOT_AT_START)) == []
    assert not any(m == "keyring" or m.startswith("keyring.") for m in loaded), "the key came from the environment"
    # The OS's network-reachability back end only hurries a reconnect: not while live.
    assert not [lib for lib in app.libraries() if "/networkinformation/" in lib]

    # A second launch asks the running app to show its window: now it loads.
    second = subprocess.run([sys.executable, "-m", "vendo_tray"], env=dict(os.environ),
                            capture_output=True, timeout=30)
    assert second.returncode == 0, second.stderr
    wait_until(lambda: "vendo_tray.ui.window" in app.modules(), 10, "the window to load on first use")
    assert "uvicorn" not in app.modules()


@pytest.mark.desktop
def test_a_key_in_the_keyring_is_read_by_a_child_and_no_keyring_loads_into_the_tray(
        start_app, api_key, secret_service) -> None:
    """Live on the keyring's key (start_app waits for "live": the simulator takes only that
    key), while keyring, secretstorage, jeepney and cryptography never load into the tray."""
    from keyring.backends.SecretService import Keyring

    Keyring().set_password(SERVICE, ACCOUNT, api_key)
    app = start_app()
    loaded = app.modules()
    assert sorted(m for m in loaded if m.split(".")[0] in KEYRING_STACK) == []
    assert sorted(loaded.intersection(NOT_AT_START)) == []
    assert not [lib for lib in app.libraries() if "_rust.abi3" in lib]  # cryptography's
    assert api_key not in app.log.read_text(errors="replace")  # the DEBUG log, the child's words too


def test_pyside_reads_each_modules_source_at_import_but_keeps_none() -> None:
    """shiboken6 reads the source of every module imported after PySide6 (looking for the
    word "PySide6") and left it all in linecache: ~10 MB of a live idle session."""
    code = ("import json, linecache, sys, vendo_tray.ui.launch\n"
            "from vendo_tray.core import monitor\n"
            "feature = sys.modules['shibokensupport.feature'].pyside_feature_dict\n"
            "print(json.dumps([sorted(linecache.cache), feature.get('vendo_tray.core.logs'),"
            " feature.get('vendo_tray.ui.tray')]))")
    done = subprocess.run([sys.executable, "-c", code], env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    cached, logs, tray = json.loads(done.stdout)
    assert cached == []
    assert (logs, tray) == (-1, 0), "PySide6's own check answers as before: the tray uses PySide6, the log does not"
