"""The app shell: Qt on a qasync loop, wiring the monitor to tray, window, notifier and dialogs.

Everything here is plumbing.  The engine (``core.fleet``: one monitor per
watched Vendo app) decides states and notices; this module creates the
pieces, connects signals to fleet calls, and owns the process lifecycle:

* one instance per user (``ui.launch`` holds the guard; a second launch shows our window);
* the apps and their keys from the settings, the keyring and VENDO_API_KEY
  (``core.apps.lookup_apps``, off the GUI thread); :meth:`TrayApp.apply_apps`
  looks again after the list or a key changed;
* ``--demo``: two simulators in-process on free loopback ports, two apps
  pointed at them with their own keys (nothing is persisted);
* no system tray: keep running, show the window with a one-line reason,
  re-check every few seconds and dock when a tray host appears;
* the OS saying the network is back → ``fleet.network_changed``;
* settings.json written by someone else (``vendo-tray apps``, an editor) → followed at once,
  and the dialog's edits are merged into the file as it is (``core.settings.merge_settings``);
* Quit: stop the fleet, the notifier and the simulators, close the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import tempfile
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QFileSystemWatcher, QObject, QTimer, QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QApplication,
    QMessageBox,
)

from vendo_tray import APP_NAME, __version__
from vendo_tray.core import paths
from vendo_tray.core.aio import cancel_and_wait
from vendo_tray.core.apps import AppKey, AppProfile, lookup_apps
from vendo_tray.core.notices import Action, ActionKind, Notice, Withdraw
from vendo_tray.core.secrets import KeySource, KeyStore
from vendo_tray.core.settings import Settings, merge_settings, read_settings, save_settings, settings_path
from vendo_tray.core.state import AppState, Phase
from vendo_tray.ui import autostart
from vendo_tray.ui.bridge import MonitorBridge
from vendo_tray.ui.icons import app_icon, notification_png, render_pixmap
from vendo_tray.ui.notifier import Notifier
from vendo_tray.ui.tray import TrayController, status_line

if TYPE_CHECKING:  # loaded on first use: most sessions never open them
    from vendo_tray.core.fleet import Fleet
    from vendo_tray.core.links import Links
    from vendo_tray.core.monitor import Monitor
    from vendo_tray.core.state import FleetState
    from vendo_tray.core.store import Store
    from vendo_tray.ui.licenses_dialog import LicensesDialog
    from vendo_tray.ui.single_instance import SingleInstance
    from vendo_tray.ui.window import MainWindow

log = logging.getLogger(__name__)

DEMO_KEY = "vendo_sk_demo"
BASE_URL_ENV = "VENDO_BASE_URL"
DEMO_SCENARIO = "demo"
#: Demo mode's apps: (id and name, key, scenario); the first plays the story, the second idles.
DEMO_APPS = (("demo-prod", DEMO_KEY, DEMO_SCENARIO), ("demo-staging", "vendo_sk_demo_staging", "quiet"))
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
        self.fleet: Fleet | None = None
        self.simulators: list[Any] = []
        self.window: MainWindow | None = None
        self.notifier: Notifier | None = None
        self.settings_dialog: Any = None
        self._quit = asyncio.Event()
        self._monitor_task: asyncio.Task[None] | None = None
        self._lookups = 0  # apply_apps generations: only the newest lookup is applied
        self._lookup_tasks: set[asyncio.Task[None]] = set()
        self._temp_dir: tempfile.TemporaryDirectory[str] | None = None
        self._told_no_tray = False
        self._tray_timer: QTimer | None = None  # rechecks for a tray while there is none
        self._network: Any = None  # QNetworkInformation, once a stream has been down (see _on_state)
        self._network_tried = False
        self._last_online: bool | None = None
        self._last_icon: str | None = None
        self._about: QMessageBox | None = None
        self._licenses: LicensesDialog | None = None
        self._watcher: QFileSystemWatcher | None = None  # settings.json, while not in the demo
        self.tray = tray or TrayController()  # ui.launch shows it before this module loads
        self.tray.setParent(self)

    # ------------------------------------------------------------------ start
    async def main(self) -> int:
        # One loop turn first: Qt paints the tray icon ui.launch has shown (its first
        # expose arrives now) before the engine below loads, which takes longer.
        await asyncio.sleep(0)
        settings = self._read_settings() or self._with_login_item(Settings())
        env_url = os.environ.get(BASE_URL_ENV, "").strip()
        if env_url and not self.demo:  # as in the SDKs: the environment wins, and is never saved
            log.info("base URL from %s: %s", BASE_URL_ENV, env_url)
        if self.demo:
            watched = await self._start_demo(settings)
        else:
            watched = await asyncio.to_thread(lookup_apps, settings, self.keystore, os.environ)
            _log_problems(watched)
        self._build(settings, watched)
        assert self.fleet is not None
        if not self.demo:
            self.watch_settings()
        if not self.tray.is_visible():
            self._fall_back()
        self._monitor_task = asyncio.create_task(self.fleet.run(), name="vendo-fleet")
        self._monitor_task.add_done_callback(self._monitor_ended)
        await self._quit.wait()
        await self._shutdown()
        return 0

    def _read_settings(self) -> Settings | None:
        """The settings file as it is now (None: missing or broken), with the login item as the OS has it."""
        settings = read_settings(self.config_dir)
        return self._with_login_item(settings) if settings is not None else None

    def _with_login_item(self, settings: Settings) -> Settings:
        with contextlib.suppress(Exception):
            settings = settings.with_changes(start_at_login=self.autostart.is_enabled())
        return settings

    def watch_settings(self) -> None:
        """Follow settings.json when someone else writes it (``vendo-tray apps add/remove``, an editor).

        WHY the folder too: writers replace the file by a rename (``save_settings``
        is atomic), which ends a watch on the file itself; the folder's watch sees
        the new one arrive.  Our own writes read back equal to what the fleet has,
        so they change nothing.
        """
        try:
            self.config_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            log.warning("cannot watch the settings folder %s: %s", self.config_dir, exc)
            return
        self._watcher = QFileSystemWatcher([str(self.config_dir)], self)
        self._watcher.directoryChanged.connect(self._settings_written)
        self._watcher.fileChanged.connect(self._settings_written)
        self._watch_file()

    def _watch_file(self) -> None:
        path = str(settings_path(self.config_dir))
        if self._watcher is not None and path not in self._watcher.files() and os.path.exists(path):
            self._watcher.addPath(path)

    def _settings_written(self, *_: object) -> None:
        """settings.json may have changed: the fleet, the watched apps and an open dialog follow it."""
        self._watch_file()
        on_disk = self._read_settings()
        if self.fleet is None or on_disk is None or on_disk == self.fleet.settings:
            return  # our own write, a half-written or broken file, or nothing new
        log.info("settings changed on disk; following them")
        self.fleet.apply_settings(on_disk)
        if self.settings_dialog is not None:
            self.settings_dialog.show_settings(on_disk)
        self.apply_apps()

    async def _start_demo(self, settings: Settings) -> list[AppKey]:
        """Two simulators in background threads, each an app of its own: one plays the demo story.

        The demo's apps are watched, never saved: a real configuration must not
        end up pointing at a loopback port that is gone tomorrow.
        """
        from vendo_tray.simulator import Simulator

        speed = float(os.environ.get(DEMO_SPEED_ENV) or 1.0)
        watched = []
        for name, key, scenario in DEMO_APPS:
            simulator = Simulator(key=key)
            self.simulators.append(simulator)
            await asyncio.to_thread(simulator.start)
            simulator.run_scenario(scenario, speed=speed)
            log.info("demo: app %s on %s playing %r (speed x%g)", name, simulator.base_url, scenario, speed)
            watched.append(AppKey(AppProfile(name, name, simulator.base_url), key, KeySource.DEMO))
        return watched

    @property
    def monitor(self) -> Monitor | None:
        """The first watched app's monitor (the settings dialog's app; the window's until it filters)."""
        return self.fleet.monitor() if self.fleet is not None else None

    def _build(self, settings: Settings, watched: list[AppKey]) -> None:
        from vendo_tray.core.fleet import Fleet
        from vendo_tray.core.store import Store

        if self.demo:  # demo history is throwaway: it must not mix with real events
            self._temp_dir = tempfile.TemporaryDirectory(prefix="vendo-tray-demo-")
            store_path = Path(self._temp_dir.name) / "history.sqlite3"
        else:
            store_path = paths.history_path()
        store = Store.open(store_path)  # makes the folder itself, and never raises (a read-only disk included)
        self.fleet = Fleet(settings=settings, store=store, demo=self.demo)
        self.fleet.apply(watched)
        self.bridge = MonitorBridge(self)
        self.fleet.add_listener(self.bridge)

        self.notifier = _make_notifier(self.perform, self.tray, self._notification_icon())

        self.bridge.state_changed_signal.connect(self._on_state)
        self.bridge.notice_signal.connect(self._on_notice)
        t = self.tray
        t.open_window_requested.connect(self.show_window)
        t.open_settings_requested.connect(self.open_settings)
        t.reconnect_requested.connect(self.fleet.reconnect_now)
        t.pause_requested.connect(self.fleet.pause)
        t.resume_requested.connect(self.fleet.resume)
        t.open_dashboard_requested.connect(self.open_dashboard)
        t.app_reconnect_requested.connect(self.fleet.reconnect_now)
        t.app_pause_requested.connect(self.fleet.pause)
        t.app_resume_requested.connect(self.fleet.resume)
        t.app_dashboard_requested.connect(self.open_dashboard)
        t.about_requested.connect(self.show_about)
        t.quit_requested.connect(self.quit)
        self.app.aboutToQuit.connect(self.quit)

        self._on_state(self.fleet.state)

    def ensure_window(self) -> MainWindow:
        """Create the window on first use.

        WHY lazily: most sessions never open it, and the history view with its
        models is a good part of the app's memory; the tray alone starts faster.
        """
        if self.window is None:
            from vendo_tray.ui.window import MainWindow

            assert self.fleet is not None, "the window opens once the fleet is built"
            window = MainWindow(_WindowSource(self.fleet))
            window.setWindowIcon(app_icon())
            window.open_url_requested.connect(self.open_url)  # its buttons pass our allowlist too
            self.bridge.state_changed_signal.connect(self._window_follows)
            self._window_follows(self.fleet.state, window)
            self.bridge.event_recorded_signal.connect(window.on_event)
            self.window = window
        return self.window

    def _window_follows(self, fleet: FleetState, window: MainWindow | None = None) -> None:
        """The window shows the apps' states, and opens each app's links with that app's rules."""
        window = window or self.window
        if window is not None and self.fleet is not None:
            window.on_fleet(fleet, {m.app.id: m.links for m in self.fleet.monitors})

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
        """Hear from the OS when the network comes back, to reconnect at once rather than on schedule.

        WHY only once a stream has been down: a monitor acts on "back online" only
        while reconnecting or offline, and the reachability back end (GLib's network
        monitor here) costs about 3 MB for as long as the app runs; a session whose
        streams stay live never needs it.  It is loaded the first time one drops,
        starts from the reachability it reports then, and stays.
        """
        self._network_tried = True
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
        now = info.reachability()
        R = QNetworkInformation.Reachability
        self._last_online = None if now == R.Unknown else now == R.Online
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
            if self.fleet is not None:
                self.fleet.network_changed(online)

    # ------------------------------------------------------------------ state
    def _on_state(self, fleet: FleetState) -> None:
        self.tray.render(fleet)
        if not self._network_tried and any(s.state.phase in (Phase.RECONNECTING, Phase.OFFLINE)
                                           for s in fleet.apps):
            self._watch_network()
        icon = self.tray.icon_name
        if icon != self._last_icon:  # one line per visible change, not per snapshot
            self._last_icon = icon
            log.info("tray shows %s: %s", icon, status_line(fleet.state))
        if self.settings_dialog is not None:
            self._tell_settings(fleet)

    def _tell_settings(self, fleet: FleetState) -> None:
        """Each app's key source, and a rejected key where the user will fix it."""
        for status in fleet.apps:
            self.settings_dialog.set_key_source(status.state.key_source, status.app.id)
            if status.state.phase is Phase.KEY_REJECTED:
                self.settings_dialog.show_rejection(status.state.detail, status.app.id)

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
            self.open_url(action.url, action.app)
        elif action.kind is ActionKind.OPEN_WINDOW:
            self.show_window(action.event_key, action.app)
        elif action.kind is ActionKind.OPEN_SETTINGS:
            self.open_settings()

    def open_url(self, url: str | None, app_id: str | None = None) -> bool:
        """Open ``url`` if app ``app_id``'s links allow it (its host only; the first app's by default)."""
        links = self.fleet.links(app_id) if self.fleet is not None else None
        checked = links.check(url) if links is not None else None
        if checked is None:
            return False
        return QDesktopServices.openUrl(QUrl(checked))

    def open_dashboard(self, app_id: str | None = None) -> None:
        links = self.fleet.links(app_id) if self.fleet is not None else None
        if links is not None:
            self.open_url(links.dashboard(), app_id)

    def show_window(self, event_key: str | None = None, app_id: str | None = None) -> None:
        window = self.ensure_window()
        if event_key:
            window.show_event(event_key, app_id)  # reveals it too
        else:
            window.reveal()

    def open_settings(self) -> None:
        from vendo_tray.ui.settings_dialog import SettingsDialog

        assert self.fleet is not None, "the tray's menu is connected once the fleet is built"
        first = self.fleet.monitor()
        state = first.state if first is not None else self.fleet.state.state
        if self.settings_dialog is None:
            # The shell's settings, not the first monitor's view of them: that one's base_url
            # is its app's, and saved it would become Settings.base_url (the implied app's).
            settings = self.fleet.settings
            if self.demo:  # the list shows the demo's simulators, not the user's saved apps
                settings = settings.with_changes(apps=tuple(m.app for m in self.fleet.monitors))
            dialog = SettingsDialog(settings,
                                    keystore=self.keystore, tester=self.fleet.test_key,
                                    key_in_use=first.key if first is not None else None,
                                    key_source=state.key_source,
                                    apps=[AppKey(m.app, m.key, m.state.key_source) for m in self.fleet.monitors])
            dialog.setWindowIcon(app_icon())
            dialog.settings_changed.connect(self.apply_settings)
            dialog.key_changed.connect(lambda *_: self.apply_apps())  # the keyring (or session) has it now
            # Kept when closed, not deleted: a Save or Test still running must find
            # its widgets (and deliver the saved key) after the user closed the dialog.
            self.settings_dialog = dialog
        self._tell_settings(self.fleet.state)
        self.settings_dialog.show()
        self.settings_dialog.raise_()
        self.settings_dialog.activateWindow()

    def apply_apps(self) -> None:
        """The list of apps or a key in the keyring changed: look them up again and watch exactly those.

        The one way the settings dialog and anything else change what is watched:
        save the settings (``apply_settings``) and the keys first, then call this.
        The lookup reads the keyring off the GUI thread; only the newest lookup is
        applied, so quick edits cannot leave an older list running.
        """
        if self.demo or self._monitor_task is None or self.fleet is None:
            return  # demo apps are the simulators', not the keyring's; before the start, main() looks
        self._lookups += 1
        task = asyncio.ensure_future(self._apply_apps(self._lookups, self.fleet.settings))
        self._lookup_tasks.add(task)
        task.add_done_callback(self._lookup_tasks.discard)

    async def _apply_apps(self, generation: int, settings: Settings) -> None:
        try:
            watched = await asyncio.to_thread(lookup_apps, settings, self.keystore, os.environ)
        except Exception:  # a keyring bug must not end the shell; the apps watched stay as they are
            log.exception("looking up the apps' keys failed")
            return
        _log_problems(watched)
        if generation == self._lookups and self.fleet is not None:
            self.fleet.apply(watched)
            await self.fleet.settle()

    def apply_settings(self, settings: Settings) -> None:
        """New settings from the dialog: every app follows them, and (outside the demo) they are saved.

        The dialog edited the shell's settings (``fleet.settings``); only what it changed
        is applied to the file as it is now (``merge_settings``), so an app added or
        removed by ``vendo-tray apps`` meanwhile stays as that command left it.
        """
        assert self.fleet is not None
        old = self.fleet.settings  # as the dialog showed them
        if self.demo:  # the dialog promises demo changes last for this run only
            self.fleet.apply_settings(settings)
            log.info("demo: settings applied, not saved (start at login unchanged)")
            return
        settings = merge_settings(old, settings, self._read_settings() or old)
        self.fleet.apply_settings(settings)
        if self.settings_dialog is not None and self.settings_dialog.settings != settings:
            self.settings_dialog.show_settings(settings)
        if settings.start_at_login != old.start_at_login:
            try:
                autostart.apply(settings.start_at_login, self.autostart)
            except OSError as exc:
                log.warning("could not change start at login: %s", exc)
        try:
            save_settings(self.config_dir, settings)
        except OSError as exc:
            log.warning("could not save settings: %s", exc)
        self.apply_apps()  # the list, or the implied app's base URL, may have changed

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
        if self._watcher is not None:
            self._watcher.blockSignals(True)  # nothing is applied any more
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
        await cancel_and_wait(*self._lookup_tasks)
        if self.fleet is not None:
            with contextlib.suppress(Exception):
                await self.fleet.aclose()
        for simulator in self.simulators:
            with contextlib.suppress(Exception):
                await asyncio.to_thread(simulator.stop)
        self.tray.dispose()
        if self._temp_dir is not None:
            self._temp_dir.cleanup()


class _WindowSource:
    """What the window reads (``ui.window.WindowSource``): the shared history, and the first app's state and links."""

    def __init__(self, fleet: Fleet) -> None:
        self._fleet = fleet

    @property
    def store(self) -> Store:
        return self._fleet.store

    @property
    def state(self) -> AppState:
        return _first_state(self._fleet.state)

    @property
    def links(self) -> Links:
        from vendo_tray.core.links import Links

        return self._fleet.links() or Links(self._fleet.settings.base_url)

    def mute_connection(self, slug: str, until: datetime | None, app: str | None = None) -> None:
        """Mute a connection of app ``app`` (the first when None); see ``Monitor.mute_connection``."""
        if (monitor := self._fleet.monitor(app)) is not None:
            monitor.mute_connection(slug, until)

    def unmute_connection(self, slug: str, app: str | None = None) -> None:
        if (monitor := self._fleet.monitor(app)) is not None:
            monitor.unmute_connection(slug)


def _first_state(fleet: FleetState) -> AppState:
    """The first watched app's state (what the window and the settings dialog show of one app)."""
    first = fleet.of(None)
    return first.state if first is not None else fleet.state


def _log_problems(watched: list[AppKey]) -> None:
    for found in watched:
        if found.problem is not None:
            log.warning("keyring (app %s): %s", found.app.id, found.problem)


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
