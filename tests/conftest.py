"""Shared fixtures: an isolated home for every test, and real desktop parts.

One Xvfb display and one private session bus serve the whole run (started in
``pytest_configure``, before any QApplication exists, since Qt picks its
platform once per process).  The tray host, Secret Service and notification
daemon are per test, because their absence is a state we test too.
"""

from __future__ import annotations

import asyncio
import gc
import importlib.util
import logging
import os
import shutil
import sys
import types
from collections.abc import Iterator
from pathlib import Path

import pytest

import desktop
from vendo_tray.core.aio import cancel_and_wait, failure_of

_session: dict[str, object] = {}
TEST_KEY = "vendo_sk_test_0123456789abcdef"
PACKAGING = Path(__file__).resolve().parent.parent / "packaging"


def packaging_module(name: str) -> types.ModuleType:
    """packaging/<name>.py, imported as ``packaging_<name>`` (packaging/ is scripts, not a package)."""
    spec = importlib.util.spec_from_file_location(f"packaging_{name}", PACKAGING / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def pytest_configure(config: pytest.Config) -> None:
    for var in ("VENDO_API_KEY", "VENDO_BASE_URL"):
        os.environ.pop(var, None)
    if desktop.have("Xvfb", "dbus-daemon"):
        display = desktop.start_xvfb()
        bus = desktop.start_session_bus()
        _session.update(display=display, bus=bus)
        os.environ["DISPLAY"] = display.name
        os.environ["DBUS_SESSION_BUS_ADDRESS"] = bus.address
        os.environ["QT_QPA_PLATFORM"] = "xcb"
    elif os.environ.get("CI"):
        raise pytest.UsageError("CI needs Xvfb and dbus-daemon (see .ci/run)")
    else:
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
        os.environ.pop("DISPLAY", None)
    # Qt must not mix in the developer's desktop theme or a stray tray host.
    os.environ.pop("WAYLAND_DISPLAY", None)
    os.environ["QT_QUICK_BACKEND"] = "software"


def pytest_unconfigure(config: pytest.Config) -> None:
    bus = _session.pop("bus", None)
    if isinstance(bus, desktop.Bus):
        bus.stop()
    display = _session.pop("display", None)
    if isinstance(display, desktop.Display):
        desktop.stop_process(display.proc)


@pytest.fixture(autouse=True)
def isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own HOME and XDG dirs: no real config, keyring or log is touched."""
    home = tmp_path_factory.mktemp("home")
    runtime = home / "run"
    runtime.mkdir(mode=0o700)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / ".local" / "share"))
    monkeypatch.setenv("XDG_STATE_HOME", str(home / ".local" / "state"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / ".cache"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    monkeypatch.delenv("VENDO_API_KEY", raising=False)
    monkeypatch.delenv("VENDO_BASE_URL", raising=False)
    return home


def _require(name: str) -> None:
    if name not in _session:
        pytest.fail(f"needs {name}: install xvfb and dbus (see .ci/run)")


@pytest.fixture
def xvfb_display() -> str:
    """The run's Xvfb display name (":90" …), already in $DISPLAY."""
    _require("display")
    return _session["display"].name  # type: ignore[attr-defined]


@pytest.fixture
def session_bus() -> str:
    """The run's private session bus address, already in $DBUS_SESSION_BUS_ADDRESS."""
    _require("bus")
    return _session["bus"].address  # type: ignore[attr-defined]


@pytest.fixture
def tray_host(xvfb_display: str) -> Iterator[None]:
    """A real system tray (trayer) on the Xvfb display for the test's duration."""
    if not desktop.have("trayer", "xdotool"):
        pytest.fail("needs trayer and xdotool (see .ci/run)")
    with desktop.trayer():
        yield


@pytest.fixture
def secret_service(session_bus: str, isolated_home: Path) -> Iterator[None]:
    """gnome-keyring's Secret Service, unlocked, keeping its files under the temp HOME."""
    if not desktop.have("gnome-keyring-daemon"):
        pytest.fail("needs gnome-keyring (see .ci/run)")
    with desktop.gnome_keyring():
        yield


@pytest.fixture
def dunst(session_bus: str, xvfb_display: str, tmp_path: Path) -> Iterator[None]:
    """The dunst notification daemon owning org.freedesktop.Notifications."""
    if not desktop.have("dunst", "dunstctl"):
        pytest.fail("needs dunst (see .ci/run)")
    with desktop.dunst(tmp_path):
        yield


@pytest.fixture
def simulator() -> Iterator[object]:
    """The project's Vendo-compatible simulator on 127.0.0.1 (fast pings for tests)."""
    from vendo_tray.simulator import Simulator

    sim = Simulator(key=TEST_KEY, ping_interval=0.5)
    sim.start()
    try:
        yield sim
    finally:
        sim.stop()


@pytest.fixture
def api_key() -> str:
    return TEST_KEY


@pytest.fixture(scope="session")
def screenshots_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where screenshot tests save: docs/screenshots with VENDO_UPDATE_SCREENSHOTS=1, else a temp dir.

    The tests always render and check the pictures; only refreshing the README's
    copies is opt-in, so a test run leaves the work tree clean.
    """
    if os.environ.get("VENDO_UPDATE_SCREENSHOTS") == "1":
        path = Path(__file__).resolve().parent.parent / "docs" / "screenshots"
        path.mkdir(parents=True, exist_ok=True)
        return path
    return tmp_path_factory.mktemp("screenshots")


@pytest.fixture
def log_file(tmp_path: Path) -> Iterator[Path]:
    """The app's own log (``core.logs.setup_logging``: redacting, at DEBUG) in a temp dir, for one test."""
    from vendo_tray.core.logs import setup_logging

    root = logging.getLogger()
    before = list(root.handlers), root.level
    path = setup_logging("DEBUG", tmp_path / "logs", console=False)
    yield path
    for handler in list(root.handlers):
        if handler not in before[0]:
            root.removeHandler(handler)
            handler.close()
    root.setLevel(before[1])


def log_text(path: Path) -> str:
    """What ``path`` (the :func:`log_file`) holds so far."""
    for handler in logging.getLogger().handlers:
        handler.flush()
    return path.read_text()


async def stop_task(task: asyncio.Future[object]) -> None:
    """Stop a test's background task the codebase's one way, and fail if it had crashed.

    ``core.aio.cancel_and_wait`` never swallows the caller's own cancellation (a
    pytest timeout stays a timeout), unlike ``cancel(); suppress(CancelledError)``;
    but it leaves the task's exception on the task, so a monitor that died mid-test
    would pass.  Its failure is raised here, at teardown, instead.
    """
    await cancel_and_wait(task)
    if (error := failure_of(task)) is not None:
        raise error


def which(name: str) -> str:
    found = shutil.which(name)
    assert found, f"{name} not installed"
    return found


@pytest.fixture
def loop(qapp) -> Iterator[asyncio.AbstractEventLoop]:
    """A qasync loop over the test's QApplication, as the app runs.

    Closing it leaves Qt socket notifiers and timers whose Python wrappers must
    be collected now, while Qt can still drop them cleanly; left for a later
    test's processEvents they crash it (seen as a segfault many tests later).
    """
    from vendo_tray.ui.qloop import QEventLoop

    lp = QEventLoop(qapp)
    asyncio.set_event_loop(lp)
    try:
        yield lp
    finally:
        lp.run_until_complete(asyncio.sleep(0))
        lp.close()
        asyncio.set_event_loop(None)
        del lp
        gc.collect()
        qapp.processEvents()
