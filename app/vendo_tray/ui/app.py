"""The app shell: Qt on a qasync loop, wiring the monitor to tray, window, notifier and dialogs.

Everything here is plumbing.  The monitor (core) decides states and notices;
this module creates the pieces, connects signals to monitor calls, and owns
the process lifecycle:

* one instance per user (``ui.launch`` holds the guard; a second launch shows our window);
* the key from VENDO_API_KEY or the keyring (read off the GUI thread);
* ``--demo``: the simulator in-process on a free loopback port, and the
  monitor pointed at it with the simulator's key (nothing is persisted);
* no system tray: keep running, show the window with a one-line reason,
  re-check every few seconds and dock when a tray host appears;
* the OS saying the network is back → ``monitor.network_changed``;
* Quit: stop the monitor, the notifier and the simulator, close the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QTimer, QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QApplication,
    QMessageBox,
)

from vendo_tray import APP_NAME, __version__
from vendo_tray.core import paths
from vendo_tray.core.aio import cancel_and_wait
from vendo_tray.core.notices import Action, ActionKind, Notice, Withdraw
from vendo_tray.core.secrets import KeySource, KeyStore
from vendo_tray.core.settings import Settings, load_settings, save_settings
from vendo_tray.core.state import AppState, Phase
from vendo_tray.ui import autostart
from vendo_tray.ui.bridge import MonitorBridge
from vendo_tray.ui.icons import app_icon, notification_png, render_pixmap
from vendo_tray.ui.notifier import Notifier
from vendo_tray.ui.tray import TrayController, status_line

if TYPE_CHECKING:  # loaded on first use: most sessions never open them
    from vendo_tray.ui.licenses_dialog import LicensesDialog
    from vendo_tray.ui.single_instance import SingleInstance
    from vendo_tray.ui.window import MainWindow

log = logging.getLogger(__name__)

DEMO_KEY = "vendo_sk_demo"
BASE_URL_ENV = "VENDO_BASE_URL"
DEMO_SCENARIO = "demo"
#: Environment knob for tests and the benchmark: how fast the demo story plays.
DEMO_SPEED_ENV = "VENDO_TRAY_DEMO_SPEED"
#: How often we look again for a system tray when there was none.
TRAY_RECHECK_MS = 5_000
NO_TRAY_TEXT = ("No system tray was found, so Vendo Tray runs in this window; notifications "
                "still arrive, and it moves to the tray as soon as one appears.")


def _make_notifier(on_action: Any, tray: TrayController, icon_path: Path | None) -> Notifier:
    return Notifier(app_name=APP_NAME, icon_path=icon_path, on_action=on_action, tray=tray.icon)


class TrayApp(QObject):
    """Creates and connects every part; :meth:`main` runs until Quit."""

    def __init__(self, app: QApplication, *, demo: bool, log_path: Path,
                 keystore: KeyStore | None = None, config_dir: Path | None = None,
                 tray: TrayController | None = None) -> None:
        super().__init__()
        self.app = app
        self.demo = demo
        self.log_path = log_path
        self.keystore = keystore or KeyStore()
        self.config_dir = config_dir or paths.config_dir()
        self.autostart = autostart.for_platform()
        self.monitor: Any = None
        self.simulator: Any = None
        self.window: MainWindow | None = None
        self.notifier: Notifier | None = None
        self.settings_dialog: Any = None
        self._quit = asyncio.Event()
        self._monitor_task: asyncio.Task[None] | None = None
        self._temp_dir: tempfile.TemporaryDirectory[str] | None = None
        self._told_no_tray = False
        self._tray_timer: QTimer | None = None  # rechecks for a tray while there is none
        self._network: Any = None
        self._key: str | None = None
        self._last_icon: str | None = None
        self._about: QMessageBox | None = None
        self._licenses: LicensesDialog | None = None
        self.tray = tray or TrayController()  # ui.launch shows it before this module loads
        self.tray.setParent(self)

    # ------------------------------------------------------------------ start
    async def main(self) -> int:
        # One loop turn first: Qt paints the tray icon ui.launch has shown (its first
        # expose arrives now) before the engine below loads, which takes longer.
        await asyncio.sleep(0)
        settings = load_settings(self.config_dir)
        self._saved_base_url = settings.base_url
        env_url = os.environ.get(BASE_URL_ENV, "").strip()
        if env_url and not self.demo:  # as in the SDKs: the environment wins, and is never saved
            log.info("base URL from %s: %s", BASE_URL_ENV, env_url)
            settings = settings.with_changes(base_url=env_url)
        key: str | None
        source: KeySource | None
        if self.demo:
            settings, key, source = await self._start_demo(settings)
        else:
            lookup = await asyncio.to_thread(self.keystore.lookup)
            key, source = lookup.key, lookup.source
            if lookup.problem is not None:
                log.warning("keyring: %s", lookup.problem)
        with contextlib.suppress(Exception):
            settings = settings.with_changes(start_at_login=self.autostart.is_enabled())
        self._build(settings, key, source)
        if not self.tray.is_visible():
            self._fall_back()
        self._monitor_task = asyncio.create_task(self.monitor.run(), name="vendo-monitor")
        self._monitor_task.add_done_callback(self._monitor_ended)
        await self._quit.wait()
        await self._shutdown()
        return 0

    async def _start_demo(self, settings: Settings) -> tuple[Settings, str, KeySource]:
        """The simulator in a background thread playing the demo story; settings point at it.

        The demo's settings are applied, never saved: a real configuration
        must not end up pointing at a loopback port that is gone tomorrow.
        """
        from vendo_tray.simulator import Simulator

        speed = float(os.environ.get(DEMO_SPEED_ENV) or 1.0)
        self.simulator = Simulator(key=DEMO_KEY)
        await asyncio.to_thread(self.simulator.start)
        self.simulator.run_scenario(DEMO_SCENARIO, speed=speed)
        log.info("demo: simulator on %s playing %r (speed x%g)", self.simulator.base_url,
                 DEMO_SCENARIO, speed)
        return settings.with_changes(base_url=self.simulator.base_url), DEMO_KEY, KeySource.DEMO

    def _build(self, settings: Settings, key: str | None, source: KeySource | None) -> None:
        from vendo_tray.core.monitor import Monitor
        from vendo_tray.core.store import Store

        if self.demo:  # demo history is throwaway: it must not mix with real events
            self._temp_dir = tempfile.TemporaryDirectory(prefix="vendo-tray-demo-")
            store_path = Path(self._temp_dir.name) / "history.sqlite3"
        else:
            store_path = paths.history_path()
        store = Store.open(store_path)  # makes the folder itself, and never raises (a read-only disk included)
        self._key = key
        self.monitor = Monitor(settings=settings, key=key, key_source=source, store=store,
                               demo=self.demo)
        self.bridge = MonitorBridge(self)
        self.monitor.add_listener(self.bridge)

        self.notifier = _make_notifier(self.perform, self.tray, self._notification_icon())

        self.bridge.state_changed_signal.connect(self._on_state)
        self.bridge.notice_signal.connect(self._on_notice)
        t = self.tray
        t.open_window_requested.connect(self.show_window)
        t.open_settings_requested.connect(self.open_settings)
        t.reconnect_requested.connect(self.monitor.reconnect_now)
        t.pause_requested.connect(self.monitor.pause)
        t.resume_requested.connect(self.monitor.resume)
        t.open_dashboard_requested.connect(self.open_dashboard)
        t.about_requested.connect(self.show_about)
        t.quit_requested.connect(self.quit)
        self.app.aboutToQuit.connect(self.quit)

        self._on_state(self.monitor.state)
        self._watch_network()

    def ensure_window(self) -> MainWindow:
        """Create the window on first use.

        WHY lazily: most sessions never open it, and the history view with its
        models is a good part of the app's memory; the tray alone starts faster.
        """
        if self.window is None:
            from vendo_tray.ui.window import MainWindow

            window = MainWindow(self.monitor)
            window.setWindowIcon(app_icon())
            window.open_url_requested.connect(self.open_url)  # its buttons pass our allowlist too
            self.bridge.state_changed_signal.connect(window.on_state)
            self.bridge.event_recorded_signal.connect(window.on_event)
            self.window = window
        return self.window

    def _notification_icon(self) -> Path | None:
        """A PNG of the app icon (notification servers read PNG everywhere; SVG not always)."""
        try:
            return notification_png(paths.cache_dir())
        except OSError as exc:
            log.warning("cannot write the notification icon: %s", exc)
            return None

    # ------------------------------------------------------------- tray / no tray
    def _fall_back(self) -> None:
        """No tray: the window (it needs the monitor) says why, and we look again every few seconds."""
        log.warning("no system tray available; showing the window instead")
        self._tell_no_tray()
        self._tray_timer = QTimer(self)
        self._tray_timer.setInterval(TRAY_RECHECK_MS)
        self._tray_timer.timeout.connect(self._recheck_tray)
        self._tray_timer.start()

    def _tell_no_tray(self) -> None:
        self.ensure_window().show_banner(NO_TRAY_TEXT)
        self.show_window()
        self._told_no_tray = True

    def _recheck_tray(self) -> None:
        if not TrayController.available() or self._tray_timer is None:
            return
        self._tray_timer.stop()
        self.tray.show()
        log.info("a system tray appeared; docked into it")
        if self.window is not None:
            self.window.clear_banner()

    # ------------------------------------------------------------------ network
    def _watch_network(self) -> None:
        try:
            from PySide6.QtNetwork import QNetworkInformation
        except ImportError:
            return
        feature = QNetworkInformation.Feature.Reachability
        if not QNetworkInformation.loadBackendByFeatures(feature):
            log.info("no network-reachability backend on this system; relying on retries")
            return
        info = QNetworkInformation.instance()
        if info is None:
            return
        self._network = info
        self._last_online: bool | None = None
        info.reachabilityChanged.connect(self._on_reachability)
        log.info("watching network reachability (%s backend)", info.backendName())

    def _on_reachability(self, reachability: Any) -> None:
        from PySide6.QtNetwork import QNetworkInformation

        R = QNetworkInformation.Reachability
        if reachability == R.Unknown:
            return
        online = reachability == R.Online
        if online != self._last_online:
            self._last_online = online
            self.monitor.network_changed(online)

    # ------------------------------------------------------------------ state
    def _on_state(self, state: AppState) -> None:
        self.tray.render(state)
        icon = self.tray.icon_name
        if icon != self._last_icon:  # one line per visible change, not per snapshot
            self._last_icon = icon
            log.info("tray shows %s: %s", icon, status_line(state))
        if self.settings_dialog is not None:
            self.settings_dialog.set_key_source(state.key_source)
            if state.phase is Phase.KEY_REJECTED:
                self.settings_dialog.show_rejection(state.detail)

    def _on_notice(self, item: Notice | Withdraw) -> None:
        assert self.notifier is not None, "notices arrive only after the notifier is built"
        if isinstance(item, Withdraw):
            self.notifier.withdraw(item.subject)
        else:
            self.notifier.show(item)

    # ------------------------------------------------------------------ actions
    def perform(self, action: Action) -> None:
        """A notice's button or click: every URL passes the monitor's allowlist first."""
        if action.kind is ActionKind.OPEN_URL:
            self.open_url(action.url)
        elif action.kind is ActionKind.OPEN_WINDOW:
            self.show_window(action.event_key)
        elif action.kind is ActionKind.OPEN_SETTINGS:
            self.open_settings()

    def open_url(self, url: str | None) -> bool:
        checked = self.monitor.links.check(url)
        if checked is None:
            return False
        return QDesktopServices.openUrl(QUrl(checked))

    def open_dashboard(self) -> None:
        self.open_url(self.monitor.links.dashboard())

    def show_window(self, event_key: str | None = None) -> None:
        window = self.ensure_window()
        if event_key:
            window.show_event(event_key)  # reveals it too
        else:
            window.reveal()

    def open_settings(self) -> None:
        from vendo_tray.ui.settings_dialog import SettingsDialog

        if self.settings_dialog is None:
            state = self.monitor.state
            dialog = SettingsDialog(self.monitor.settings, keystore=self.keystore,
                                    tester=self.monitor.test_key, key_in_use=self._key,
                                    key_source=state.key_source)
            dialog.setWindowIcon(app_icon())
            dialog.settings_changed.connect(self.apply_settings)
            dialog.key_changed.connect(self.set_key)
            # Kept when closed, not deleted: a Save or Test still running must find
            # its widgets (and deliver the saved key) after the user closed the dialog.
            self.settings_dialog = dialog
        if self.monitor.state.phase is Phase.KEY_REJECTED:
            self.settings_dialog.show_rejection(self.monitor.state.detail)
        self.settings_dialog.show()
        self.settings_dialog.raise_()
        self.settings_dialog.activateWindow()

    def set_key(self, key: str | None, source: KeySource | None) -> None:
        """A key saved in the dialog: the monitor restarts the stream with it."""
        self._key = key
        self.monitor.set_key(key, source)

    def apply_settings(self, settings: Settings) -> None:
        old = self.monitor.settings
        self.monitor.apply_settings(settings)
        if self.demo:  # the dialog promises demo changes last for this run only
            log.info("demo: settings applied, not saved (start at login unchanged)")
            return
        if settings.start_at_login != old.start_at_login:
            try:
                autostart.apply(settings.start_at_login, self.autostart)
            except OSError as exc:
                log.warning("could not change start at login: %s", exc)
        if os.environ.get(BASE_URL_ENV, "").strip() and settings.base_url == old.base_url:
            settings = settings.with_changes(base_url=self._saved_base_url)  # keep the env's out of the file
        try:
            save_settings(self.config_dir, settings)
            self._saved_base_url = settings.base_url
        except OSError as exc:
            log.warning("could not save settings: %s", exc)

    def show_about(self) -> None:
        if self._about is not None and self._about.isVisible():  # one box, brought forward
            self._about.raise_()
            self._about.activateWindow()
            return
        box = QMessageBox(self.window)
        box.setWindowTitle(f"About {APP_NAME}")
        box.setIconPixmap(render_pixmap("vendo-tray", 64))
        box.setText(f"<b>{APP_NAME}</b> {__version__}")
        box.setInformativeText(
            "Native notifications when a Vendo connection needs re-authorization, errors, "
            f"or the balance runs low.\n\nLog file: {self.log_path}")
        open_logs = box.addButton("Open log folder", QMessageBox.ButtonRole.ActionRole)
        box.addButton("Open-source licenses", QMessageBox.ButtonRole.ActionRole).clicked.connect(self.show_licenses)
        box.addButton(QMessageBox.StandardButton.Close)
        open_logs.clicked.connect(
            lambda: QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.log_path.parent))))
        box.setModal(False)
        box.show()
        self._about = box

    def show_licenses(self) -> None:
        """About -> Open-source licenses: what the bundle holds and under which terms."""
        from vendo_tray.core import licenses
        from vendo_tray.ui.licenses_dialog import LicensesDialog

        if self._licenses is None:
            self._licenses = LicensesDialog(licenses.load(app_name=APP_NAME, version=__version__), self.window)
        self._licenses.show()
        self._licenses.raise_()
        self._licenses.activateWindow()

    # ------------------------------------------------------------------ stop
    def quit(self) -> None:
        self._quit.set()

    def _monitor_ended(self, task: asyncio.Task[None]) -> None:
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            log.error("the monitor stopped unexpectedly", exc_info=exc)

    async def _shutdown(self) -> None:
        """Stop in dependency order: nothing may touch the store after it is closed."""
        log.info("quitting")
        if self._tray_timer is not None:
            self._tray_timer.stop()  # a tray appearing while we quit must not bring the icon back
        self.tray.hide()
        if self._monitor_task is not None:
            await cancel_and_wait(self._monitor_task)
        if self.notifier is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.notifier.aclose(), 3)
        if self.settings_dialog is not None:
            self.settings_dialog.close()
        if self.window is not None:
            # The window reads history from the store (also from timers): it goes first.
            with contextlib.suppress(Exception):
                self.window.save_layout()
            self.window.close()
            self.window.deleteLater()
            self.window = None
            await asyncio.sleep(0)  # let Qt run the deferred delete
        if self.monitor is not None:
            with contextlib.suppress(Exception):
                await self.monitor.aclose()
        if self.simulator is not None:
            with contextlib.suppress(Exception):
                await asyncio.to_thread(self.simulator.stop)
        self.tray.dispose()
        if self._temp_dir is not None:
            self._temp_dir.cleanup()


def _quit_on_signals(loop: asyncio.AbstractEventLoop, shell: TrayApp) -> None:
    """SIGTERM (logout, service managers, tests) and Ctrl+C quit cleanly, not mid-write.

    asyncio's signal handling wakes the loop through its self-pipe, so no
    polling timer is needed while Qt sits in its event loop.
    """
    import signal

    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, shell.quit)
        except (NotImplementedError, RuntimeError, ValueError):  # Windows: Ctrl+C via console only
            pass


def run_shell(app: QApplication, guard: SingleInstance, tray: TrayController, *, demo: bool,
              log_path: Path, keystore: KeyStore) -> int:
    """Everything after the tray icon is up (``ui.launch``): the loop, the engine, until Quit."""
    from vendo_tray.ui.qloop import QEventLoop

    app.setWindowIcon(app_icon())  # the window's and the dialogs'; the tray has its own
    loop = QEventLoop(app)
    asyncio.set_event_loop(loop)
    shell = TrayApp(app, demo=demo, log_path=log_path, keystore=keystore, tray=tray)
    guard.show_requested.connect(shell.show_window)
    _quit_on_signals(loop, shell)
    try:
        code: int = loop.run_until_complete(shell.main())  # qasync is untyped: main() returns int
        return code
    except KeyboardInterrupt:
        return 130
    except RuntimeError as exc:
        # Qt ended its event loop under us: the display went away (logout, X server
        # gone) while we were quitting or running. That is the end of a session,
        # not a crash: say so in one line and exit cleanly.
        if "Event loop stopped before Future completed" not in str(exc):
            raise
        log.warning("the display went away; Vendo Tray is quitting with the session")
        for task in asyncio.all_tasks(loop):
            task.cancel()  # never run again: keep asyncio from reporting them as destroyed
            task._log_destroy_pending = False  # type: ignore[attr-defined]  # asyncio's private flag, the only off switch
        return 0
    finally:
        with contextlib.suppress(Exception):
            loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
        asyncio.set_event_loop(None)
