"""``vendo-tray [--demo]``: the tray icon first, then the engine.

What a user waits for at login is the icon in the tray.  Qt shows one in
about the time Python takes to import PySide6, while asyncio, qasync, httpx,
the store and the monitor take longer to load than that again.  So this
module imports only what the icon needs (Qt, the log, the single-instance
guard, the tray and its icons), shows the icon in its "connecting" state, lets
Qt paint it, and only then loads ``ui.app``, which builds the engine; the tray
shows the real state as soon as the monitor exists.
"""

from __future__ import annotations

import os
import sys
import time

_STARTED = time.perf_counter()

import linecache  # noqa: E402
import logging  # noqa: E402
from types import ModuleType  # noqa: E402

from PySide6.QtWidgets import QApplication  # noqa: E402


def _pyside_keeps_no_source() -> None:
    """Let PySide6 read each module's source when it is imported, but not keep it.

    shiboken6 wraps ``__import__``: for every module imported after PySide6 it
    calls ``shibokensupport.feature._mod_uses_pyside``, which runs
    ``inspect.getsource`` to look for the word "PySide6" (for its optional
    ``__feature__`` switches) and so leaves the module's whole source in
    ``linecache`` for the life of the process: here 256 files, 120,000 lines,
    about 10 MB of a live idle session, which freeing later does not give back
    (the strings sit between the imported modules' objects).  The check itself
    is kept, with the same answer; only the cached lines go.  Modules without
    source (the PyInstaller bundle) never paid this.
    """
    feature = sys.modules.get("shibokensupport.feature")
    check = getattr(feature, "_mod_uses_pyside", None)
    if check is None or getattr(check, "keeps_no_source", False):
        return  # another PySide6, or done already

    def uses_pyside(module: ModuleType) -> bool:
        before = set(linecache.cache)
        try:
            return bool(check(module))
        finally:
            for name in linecache.cache.keys() - before:
                linecache.cache.pop(name, None)

    uses_pyside.keeps_no_source = True  # type: ignore[attr-defined]
    feature._mod_uses_pyside = uses_pyside  # type: ignore[union-attr]
    linecache.clearcache()  # what it kept while PySide6 itself loaded (enum, shiboken6, PySide6)


_pyside_keeps_no_source()

from vendo_tray import APP_NAME, __version__  # noqa: E402
from vendo_tray.core.logs import setup_logging  # noqa: E402
from vendo_tray.core.secrets import KeyStore, claim_env_key  # noqa: E402
from vendo_tray.ui.single_instance import SingleInstance  # noqa: E402
from vendo_tray.ui.tray import TrayController  # noqa: E402

log = logging.getLogger(__name__)


def no_display_reason() -> str | None:
    """Why Qt cannot show anything here, or None.

    Without this check Qt aborts (SIGABRT, a core dump) with a message about
    missing xcb plugins, which sends people chasing libraries they already have.
    """
    if not sys.platform.startswith("linux") or os.environ.get("QT_QPA_PLATFORM"):
        return None
    if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
        return None
    return ("no graphical session here (neither DISPLAY nor WAYLAND_DISPLAY is set): start "
            "Vendo Tray from your desktop, or use `vendo-tray events` in a terminal")


def run_app(demo: bool, log_level: str) -> int:
    """``vendo-tray [--demo]``: the tray app until Quit; returns the exit code."""
    reason = no_display_reason()
    if reason is not None:
        print(f"vendo-tray: {reason}", file=sys.stderr)
        return 2

    from vendo_tray.ui.platform_id import apply_platform_identity

    # Before anything is spawned: no child inherits the key. Stored keys are read in a child
    # process on Linux, so the keyring's back end never loads into the tray (core.secrets).
    keystore = KeyStore(env=claim_env_key(), read_in_child=True)
    log_path = setup_logging(log_level)
    log.info("%s %s starting (demo=%s)", APP_NAME, __version__, demo)
    apply_platform_identity()
    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    app.setApplicationName(APP_NAME)
    app.setApplicationVersion(__version__)
    app.setDesktopFileName("vendo-tray")
    app.setQuitOnLastWindowClosed(False)  # closing the window leaves the tray running

    guard = SingleInstance()
    if not guard.acquire():
        return 0
    try:
        tray = TrayController()
        if TrayController.available():  # without a tray, ui.app shows the window once the monitor exists
            tray.show()
            log.info("tray icon shown after %.0f ms", (time.perf_counter() - _STARTED) * 1000)

        from vendo_tray.ui.app import run_shell

        return run_shell(app, guard, tray, demo=demo, log_path=log_path, keystore=keystore)
    finally:
        guard.release()
        log.info("stopped")
