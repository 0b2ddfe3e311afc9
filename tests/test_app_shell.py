"""ui.app.TrayApp's own plumbing, without the monitor: what settings do in demo mode, the About box."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest
from PySide6.QtCore import QCoreApplication, QEvent
from PySide6.QtWidgets import QApplication, QMessageBox, QWidget

from conftest import stop_task
from vendo_tray.core.apps import DEFAULT_APP_ID, DEFAULT_APP_NAME, AppKey, AppProfile
from vendo_tray.core.fleet import Fleet
from vendo_tray.core.monitor import Monitor
from vendo_tray.core.secrets import KeySource
from vendo_tray.core.settings import Settings
from vendo_tray.core.state import AppState, FleetState, Phase
from vendo_tray.core.store import Store
from vendo_tray.ui.app import TrayApp
from vendo_tray.ui.bridge import MonitorBridge


def _shell(qapp, tmp_path: Path, *, demo: bool, base_url: str = "https://vendo.run") -> TrayApp:
    """A TrayApp around a real (not running) fleet of one app: only the plumbing under test runs."""
    shell = TrayApp(qapp, demo=demo, log_path=tmp_path / "log" / "vendo-tray.log",
                    config_dir=tmp_path / "config")
    shell.fleet = Fleet(settings=Settings(base_url=base_url), store=Store.open(tmp_path / "history.db"))
    app = AppProfile(DEFAULT_APP_ID, DEFAULT_APP_NAME, base_url)
    shell.fleet.apply([AppKey(app, "vendo_sk_test_shell", KeySource.KEYRING)])
    return shell


def _until(loop: asyncio.AbstractEventLoop, done, timeout: float = 15.0) -> None:
    """Run the app's loop until ``done()`` holds (the timeout only ends a hung test)."""
    import time

    async def wait() -> None:
        deadline = time.monotonic() + timeout
        while not done():
            assert time.monotonic() < deadline, "condition not reached"
            await asyncio.sleep(0.02)
    loop.run_until_complete(wait())


def test_demo_settings_apply_but_touch_no_login_item_or_file(qapp, tmp_path: Path) -> None:
    """The dialog says demo changes are for this run only: no autostart entry, no settings file."""
    shell = _shell(qapp, tmp_path, demo=True)
    shell.apply_settings(Settings(start_at_login=True))
    assert shell.monitor.settings.start_at_login is True
    assert not shell.autostart.is_enabled()
    assert not (tmp_path / "config").exists()
    shell.tray.dispose()


def test_start_at_login_is_written_outside_the_demo(qapp, tmp_path: Path) -> None:
    shell = _shell(qapp, tmp_path, demo=False)
    shell.apply_settings(Settings(start_at_login=True))
    assert shell.autostart.is_enabled()
    shell.apply_settings(Settings(start_at_login=False))
    assert not shell.autostart.is_enabled()
    shell.tray.dispose()


def test_about_twice_shows_one_box(qapp, qtbot, tmp_path: Path) -> None:
    shell = _shell(qapp, tmp_path, demo=False)
    shell.window = QWidget()  # a parent keeps every box alive: they used to pile up
    qtbot.addWidget(shell.window)
    shell.show_about()
    shell.show_about()
    boxes = [w for w in QApplication.topLevelWidgets() if isinstance(w, QMessageBox) and w.isVisible()]
    assert len(boxes) == 1
    boxes[0].close()
    shell.window = None
    shell.tray.dispose()


def test_closing_settings_while_a_key_test_runs_does_not_break_it(qapp, loop, tmp_path: Path) -> None:
    """Test and Save finish after the user may have closed the dialog: the widgets they
    report to must still exist (a deleted dialog raised RuntimeError in the task)."""
    # A server that accepts the connection and never answers: the Test call hangs.
    with socket.socket() as tarpit:
        tarpit.bind(("127.0.0.1", 0))
        tarpit.listen(4)
        shell = _shell(qapp, tmp_path, demo=False, base_url=f"http://127.0.0.1:{tarpit.getsockname()[1]}")
        shell.open_settings()
        dialog = shell.settings_dialog
        dialog.test_key.click()
        (task,) = dialog._tasks
        loop.run_until_complete(asyncio.sleep(0.3))  # the request is out, waiting for an answer
        assert not task.done()
        dialog.close()
        QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    # The server went away: the pending Test now fails, into a dialog that still exists.
    loop.run_until_complete(asyncio.wait_for(task, 20))
    assert task.exception() is None
    shell.open_settings()  # opening it again is the same dialog, with the answer
    assert shell.settings_dialog is dialog
    assert dialog.key_status.text(), "the failure is reported in the dialog"
    dialog.close()
    shell.tray.dispose()


def test_settings_opened_after_a_rejection_say_why(qapp, loop, tmp_path: Path, simulator) -> None:
    shell = _shell(qapp, tmp_path, demo=False, base_url=simulator.base_url)  # its key is not the sim's
    task = loop.create_task(shell.monitor.run())
    loop.run_until_complete(asyncio.wait_for(_until_rejected(shell.monitor), 10))
    shell.open_settings()
    text = shell.settings_dialog.key_status.text()
    assert "app_unknown" in text and "vendo_sk_" not in text
    shell.settings_dialog.close()
    loop.run_until_complete(stop_task(task))  # a monitor that crashed meanwhile fails the test
    loop.run_until_complete(shell.monitor.aclose())
    shell.tray.dispose()


async def _until_rejected(monitor: Monitor) -> None:
    while monitor.state.phase is not Phase.KEY_REJECTED:
        await asyncio.sleep(0.02)


def test_without_a_display_it_says_so_in_one_line_instead_of_aborting() -> None:
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    done = subprocess.run([sys.executable, "-m", "vendo_tray", "--demo"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [done.stderr.strip()]
    assert "no graphical session" in done.stderr and "vendo-tray events" in done.stderr


def test_quitting_stops_looking_for_a_tray(qapp, loop, tmp_path: Path) -> None:
    """Without a tray the app rechecks every few seconds; a quit (whose teardown can take
    seconds) left that timer running, so a tray appearing meanwhile re-showed the icon of
    an app that was shutting down, and a later check touched the disposed tray."""
    shell = _shell(qapp, tmp_path, demo=False)
    shell.bridge = MonitorBridge(shell)
    shell._fall_back()  # offscreen: there is no tray
    assert shell._tray_timer is not None and shell._tray_timer.isActive()
    loop.run_until_complete(shell._shutdown())
    assert not shell._tray_timer.isActive()


def test_the_window_mutes_a_connection_of_the_app_it_shows(qapp, qtbot, tmp_path: Path) -> None:
    """The window's menu reaches the first app's monitor, and the mute comes back through the bridge."""
    from vendo_tray.client import Connection

    shell = _shell(qapp, tmp_path, demo=False)
    shell.bridge = MonitorBridge(shell)
    shell.fleet.add_listener(shell.bridge)
    window = shell.ensure_window()
    qtbot.addWidget(window)
    slack = Connection(id="conn_1", slug="slack", display_name="Slack", status="needs_reauth")
    menu = window.connection_menu(slack)
    next(a for a in menu.actions() if a.text() == "Mute notifications until unmuted").trigger()
    assert shell.monitor.state.mute_of("slack") is not None
    assert shell.fleet.store.mutes(DEFAULT_APP_ID) == {"slack": None}
    assert window.connection_menu(slack).actions()[0].text() == "&Unmute notifications"
    window.connection_menu(slack).actions()[0].trigger()
    assert shell.monitor.state.mute_of("slack") is None and shell.fleet.store.mutes(DEFAULT_APP_ID) == {}
    shell.tray.dispose()


def test_an_app_added_in_settings_is_watched_and_a_removed_one_stops_and_loses_its_key(
        qapp, qtbot, loop, tmp_path: Path, simulator, api_key: str, secret_service: None) -> None:
    """The dialog's signals reach the fleet: Add starts a stream with the new app's key on its
    own server; Remove closes that stream and deletes the app's keyring entry."""
    from PySide6.QtCore import Qt

    from keyring_helpers import secret_tool_lookup
    from vendo_tray.core.secrets import KeyStore
    from vendo_tray.simulator import Simulator

    staging_key = "vendo_sk_staging_shell_41"
    KeyStore().save(api_key)  # the implied app's, as a pre-apps setup has it
    with Simulator(key=staging_key, ping_interval=0.5) as staging:
        shell = _shell(qapp, tmp_path, demo=False, base_url=simulator.base_url)
        shell.fleet.apply([AppKey(AppProfile(DEFAULT_APP_ID, DEFAULT_APP_NAME, simulator.base_url), api_key,
                                  KeySource.KEYRING)])
        shell.bridge = MonitorBridge(shell)
        shell._monitor_task = loop.create_task(shell.fleet.run())

        def until(done) -> None:
            _until(loop, done)

        try:
            shell.open_settings()
            dialog = shell.settings_dialog
            qtbot.mouseClick(dialog.add_app, Qt.MouseButton.LeftButton)
            add = dialog.add_dialog
            qtbot.keyClicks(add.name_edit, "staging")
            add.base_url_edit.setText(staging.base_url)
            qtbot.keyClicks(add.key_edit, staging_key)
            qtbot.mouseClick(add.test_button, Qt.MouseButton.LeftButton)
            until(add.add_button.isEnabled)
            qtbot.mouseClick(add.add_button, Qt.MouseButton.LeftButton)
            until(lambda: staging.stats.open_streams >= 1)
            assert [m.app.id for m in shell.fleet.monitors] == [DEFAULT_APP_ID, "staging"]
            assert shell.fleet.monitor("staging").key == staging_key

            dialog.apps_list.setCurrentItem(dialog.apps_list.topLevelItem(0))  # Vendo: a new key, saved
            dialog.key_edit.setText("vendo_sk_the_new_one")
            qtbot.mouseClick(dialog.save_key, Qt.MouseButton.LeftButton)
            until(lambda: shell.fleet.monitor(DEFAULT_APP_ID).key == "vendo_sk_the_new_one")
            dialog.apps_list.setCurrentItem(dialog.apps_list.topLevelItem(1))

            qtbot.mouseClick(dialog.remove_app, Qt.MouseButton.LeftButton)  # staging is selected
            box = dialog.findChild(QMessageBox, "removeApp")
            qtbot.mouseClick(box.button(QMessageBox.StandardButton.Yes), Qt.MouseButton.LeftButton)
            until(lambda: shell.fleet.monitor("staging") is None and staging.stats.open_streams == 0)
            assert secret_tool_lookup(account="api-key:staging") is None
            assert [m.app.id for m in shell.fleet.monitors] == [DEFAULT_APP_ID]
            assert secret_tool_lookup() == "vendo_sk_the_new_one"
        finally:
            shell.settings_dialog.close()
            loop.run_until_complete(shell._shutdown())


def test_the_demos_settings_list_its_two_apps_and_save_no_key(qapp, qtbot, tmp_path: Path) -> None:
    shell = _shell(qapp, tmp_path, demo=True)
    shell.fleet.apply([AppKey(AppProfile(name, name, f"http://127.0.0.1:{port}"), "vendo_sk_demo", KeySource.DEMO)
                       for name, port in (("prod", 9001), ("staging", 9002))])
    shell.open_settings()
    dialog = shell.settings_dialog
    tree = dialog.apps_list
    assert [tree.topLevelItem(i).text(0) for i in range(tree.topLevelItemCount())] == ["prod", "staging"]
    assert tree.topLevelItem(0).text(2) == "demo"
    assert not dialog.add_app.isEnabled() and not dialog.remove_app.isEnabled()
    dialog.close()
    shell.tray.dispose()


def test_network_reachability_is_watched_once_a_stream_has_been_down(qapp, tmp_path: Path) -> None:
    """The OS's reachability back end (~3 MB) only hurries a reconnect, so a session whose
    streams stay live never loads it; the first drop does."""
    from PySide6.QtNetwork import QNetworkInformation

    shell = _shell(qapp, tmp_path, demo=False)
    shell._on_state(FleetState.of_one(AppState(phase=Phase.LIVE)))
    assert shell._network is None
    shell._on_state(FleetState.of_one(AppState(phase=Phase.RECONNECTING)))
    if not QNetworkInformation.availableBackends():
        pytest.skip("no network-reachability back end on this system")
    assert shell._network is not None and shell._network is QNetworkInformation.instance()
    shell.tray.dispose()


def _running_shell(qapp, loop, tmp_path: Path, simulator, api_key: str) -> TrayApp:
    """A shell whose fleet runs (the implied app on ``simulator``) and follows settings.json, as main() sets it up."""
    from vendo_tray.core.secrets import KeyStore
    from vendo_tray.core.settings import save_settings

    KeyStore().save(api_key)  # the implied app's, as a pre-apps setup has it
    # ... and its settings file: the shell runs what the file says, so a test whose file
    # said otherwise would have the tray follow it to https://vendo.run.
    if not (tmp_path / "config" / "settings.json").exists():
        save_settings(tmp_path / "config", Settings(base_url=simulator.base_url))
    shell = _shell(qapp, tmp_path, demo=False, base_url=simulator.base_url)
    shell.fleet.apply([AppKey(AppProfile(DEFAULT_APP_ID, DEFAULT_APP_NAME, simulator.base_url), api_key,
                              KeySource.KEYRING)])
    shell.bridge = MonitorBridge(shell)
    shell._monitor_task = loop.create_task(shell.fleet.run())
    shell.watch_settings()
    return shell


def _listed(dialog) -> list[str]:
    return [dialog.apps_list.topLevelItem(i).text(0) for i in range(dialog.apps_list.topLevelItemCount())]


def test_apps_added_and_removed_by_the_cli_are_followed_and_a_dialog_toggle_keeps_them(
        qapp, qtbot, loop, tmp_path: Path, simulator, api_key: str, secret_service: None) -> None:
    """`vendo-tray apps add/remove` write settings.json while the tray runs: the tray watches the
    added app at once and stops the removed one, its open dialog lists what the file says, and a
    toggle in that dialog afterwards neither drops the added app nor brings the removed one back."""
    from vendo_tray.core.apps import add_app, remove_app
    from vendo_tray.core.notices import Topic
    from vendo_tray.core.secrets import KeyStore
    from vendo_tray.core.settings import load_settings, save_settings
    from vendo_tray.simulator import Simulator

    config = tmp_path / "config"
    staging_key = "vendo_sk_staging_cli_77"
    with Simulator(key=staging_key, ping_interval=0.5) as staging:
        shell = _running_shell(qapp, loop, tmp_path, simulator, api_key)
        try:
            shell.open_settings()
            dialog = shell.settings_dialog
            _until(loop, lambda: simulator.stats.open_streams >= 1)

            # What `vendo-tray apps add staging` does, from another process's point of view.
            settings, app = add_app(load_settings(config), "staging", staging.base_url, keep_default=True)
            KeyStore().save(staging_key, app.account)
            save_settings(config, settings)
            _until(loop, lambda: staging.stats.open_streams >= 1 and "staging" in _listed(dialog))
            assert [m.app.id for m in shell.fleet.monitors] == [DEFAULT_APP_ID, "staging"]

            dialog.notify_boxes[Topic.CONNECTED].toggle()  # any change made in the tray saves the file
            saved = load_settings(config)
            assert saved.notify[Topic.CONNECTED] and [a.id for a in saved.apps] == [DEFAULT_APP_ID, "staging"]

            # What `vendo-tray apps remove staging` does.
            save_settings(config, remove_app(load_settings(config), "staging"))
            KeyStore().forget(app.account)
            _until(loop, lambda: staging.stats.open_streams == 0 and shell.fleet.monitor("staging") is None)
            _until(loop, lambda: "staging" not in _listed(dialog))

            dialog.notify_boxes[Topic.CONNECTED].toggle()
            saved = load_settings(config)
            assert not saved.notify[Topic.CONNECTED] and [a.id for a in saved.apps] == [DEFAULT_APP_ID]
            assert saved.apps[0].base_url == simulator.base_url
            assert simulator.stats.open_streams >= 1 and shell.fleet.monitor(DEFAULT_APP_ID) is not None
            assert simulator.stats.streams_opened == 1  # the default app's stream was never restarted
        finally:
            shell.settings_dialog.close()
            loop.run_until_complete(shell._shutdown())


def test_saving_from_the_dialog_keeps_the_shells_base_url_not_the_first_apps(
        qapp, loop, tmp_path: Path, simulator, api_key: str, secret_service: None) -> None:
    """The dialog edits the shell's settings: Settings.base_url (the implied app's, what older
    versions read) stays as saved, never the first watched app's URL."""
    from vendo_tray.core.notices import Topic
    from vendo_tray.core.settings import load_settings, save_settings

    config = tmp_path / "config"
    mine = AppProfile("prod", "prod", simulator.base_url)
    save_settings(config, Settings(base_url="https://vendo.run", apps=(mine,)))
    shell = _running_shell(qapp, loop, tmp_path, simulator, api_key)
    try:
        shell.fleet.apply_settings(load_settings(config))
        shell.fleet.apply([AppKey(mine, api_key, KeySource.KEYRING)])
        shell.open_settings()
        shell.settings_dialog.notify_boxes[Topic.CONNECTED].toggle()
        saved = load_settings(config)
        assert saved.notify[Topic.CONNECTED]
        assert saved.base_url == "https://vendo.run" and saved.apps == (mine,)
    finally:
        shell.settings_dialog.close()
        loop.run_until_complete(shell._shutdown())


def test_a_dialog_toggle_before_the_tray_noticed_the_cli_keeps_its_app(
        qapp, loop, tmp_path: Path, simulator, api_key: str, secret_service: None) -> None:
    """Saving from the tray re-reads the file first: an app `vendo-tray apps add` wrote a moment
    ago survives a toggle made before the file watch reported it (no loop turn in between)."""
    from vendo_tray.core.apps import add_app
    from vendo_tray.core.notices import Topic
    from vendo_tray.core.settings import load_settings, save_settings

    config = tmp_path / "config"
    shell = _running_shell(qapp, loop, tmp_path, simulator, api_key)
    try:
        shell.open_settings()
        settings, _ = add_app(load_settings(config), "staging", "http://127.0.0.1:9", keep_default=True)
        save_settings(config, settings)
        shell.settings_dialog.notify_boxes[Topic.CONNECTED].toggle()
        saved = load_settings(config)
        assert saved.notify[Topic.CONNECTED] and [a.id for a in saved.apps] == [DEFAULT_APP_ID, "staging"]
        assert "staging" in _listed(shell.settings_dialog)  # the dialog shows what it saved
    finally:
        shell.settings_dialog.close()
        loop.run_until_complete(shell._shutdown())


def test_a_removed_apps_popups_are_withdrawn_and_the_other_apps_stay(
        qapp, loop, tmp_path: Path, simulator, api_key: str, session_bus: str) -> None:
    """A popup of an app no longer watched is dead (a click on it is refused: that app's links
    are gone), so removing the app withdraws it; the popups of the apps still watched stay."""
    from notify_server import NotificationServer
    from vendo_tray.simulator import Simulator

    staging_key = "vendo_sk_staging_popups_5"
    with NotificationServer(session_bus) as server, Simulator(key=staging_key, ping_interval=0.5) as staging:
        default = AppKey(AppProfile(DEFAULT_APP_ID, DEFAULT_APP_NAME, simulator.base_url), api_key,
                         KeySource.KEYRING)
        removed = AppKey(AppProfile("staging", "staging", staging.base_url), staging_key, KeySource.KEYRING)
        shell = TrayApp(qapp, demo=False, log_path=tmp_path / "log" / "vendo-tray.log",
                        config_dir=tmp_path / "config")
        shell._build(Settings(base_url=simulator.base_url), [default, removed])  # fleet → bridge → notifier
        shell._monitor_task = loop.create_task(shell.fleet.run())
        try:
            _until(loop, lambda: all(s.state.phase is Phase.LIVE for s in shell.fleet.state.apps))
            simulator.set_connection_status("slack", "needs_reauth")
            staging.set_connection_status("slack", "needs_reauth")
            _until(loop, lambda: len(server.open) == 2)
            by_app = {call.summary.split(" · ")[0]: call.id for call in server.open.values()}
            assert sorted(by_app) == [DEFAULT_APP_NAME, "staging"]

            shell.fleet.apply([default])
            loop.run_until_complete(shell.fleet.settle())
            loop.run_until_complete(asyncio.wait_for(shell.notifier.flush(), 15))
            assert server.close_calls == [by_app["staging"]]
            assert list(server.open) == [by_app[DEFAULT_APP_NAME]]
        finally:
            loop.run_until_complete(shell._shutdown())
