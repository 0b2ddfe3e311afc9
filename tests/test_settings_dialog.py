"""The settings dialog: changes apply at once, the key goes to the real keyring (or memory), Test reports."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from keyring.backends import fail
from keyring.backends.SecretService import Keyring as SecretServiceKeyring
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QInputDialog, QLineEdit, QMessageBox

import desktop
from keyring_helpers import (
    files_containing,
    lock_login_keyring,
    secret_tool_lookup,
    unlock_login_keyring,
)
from vendo_tray.client.errors import AuthError
from vendo_tray.core.secrets import KeyStore
from vendo_tray.core.settings import Settings
from vendo_tray.ui.settings_dialog import (
    NOTIFY_TOGGLES,
    SettingsDialog,
)

KEY = "vendo_sk_test_dialog_Zq81LmXv"


def run_until(loop: asyncio.AbstractEventLoop, done: Callable[[], bool], timeout: float = 10.0) -> None:
    async def wait() -> None:
        deadline = time.monotonic() + timeout
        while not done():
            if time.monotonic() > deadline:
                raise TimeoutError("condition not reached")
            await asyncio.sleep(0.02)

    loop.run_until_complete(wait())


async def _never_called(key: str, base_url: str) -> str:
    raise AssertionError("Test was not pressed")


def make_dialog(qtbot, keystore: KeyStore, *, tester=_never_called, settings: Settings | None = None,
                key: str | None = None, source: str | None = None) -> SettingsDialog:
    dialog = SettingsDialog(settings or Settings(), keystore=keystore, tester=tester,
                            key_in_use=key, key_source=source)
    qtbot.addWidget(dialog)
    dialog.show()
    return dialog


def _enter_key(qtbot, dialog: SettingsDialog, key: str) -> None:
    dialog.key_edit.clear()
    qtbot.keyClicks(dialog.key_edit, key)


def _rows(dialog: SettingsDialog) -> list[list[str]]:
    """The apps list as the user reads it: name, base URL, key."""
    tree = dialog.apps_list
    return [[tree.topLevelItem(i).text(c) for c in range(3)] for i in range(tree.topLevelItemCount())]


def _select(qtbot, dialog: SettingsDialog, name: str) -> None:
    """Click the app's row."""
    [item] = dialog.apps_list.findItems(name, Qt.MatchFlag.MatchExactly, 0)
    rect = dialog.apps_list.visualItemRect(item)
    qtbot.mouseClick(dialog.apps_list.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert dialog.selected().app.name == name


# ----------------------------------------------------------------- the key

@pytest.mark.desktop
def test_save_stores_the_key_in_the_real_secret_service_and_no_file(
        qtbot, loop, secret_service: None, isolated_home: Path, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    dialog = make_dialog(qtbot, KeyStore(backend=SecretServiceKeyring(), env={}))
    changes: list[tuple[str, object, object]] = []
    dialog.key_changed.connect(lambda a, k, s: changes.append((a, k, s)))
    _enter_key(qtbot, dialog, KEY)
    qtbot.mouseClick(dialog.save_key, Qt.MouseButton.LeftButton)
    run_until(loop, lambda: bool(changes))

    assert changes == [("default", KEY, "keyring")]
    assert secret_tool_lookup() == KEY
    assert "Saved in your keyring" in dialog.key_status.text()
    assert "system keyring" in dialog.source_label.text()
    assert files_containing(isolated_home, KEY) == []
    assert KEY not in caplog.text


def test_no_keyring_keeps_the_key_in_memory_and_says_so(qtbot, loop, isolated_home: Path) -> None:
    store = KeyStore(backend=fail.Keyring(), env={})
    dialog = make_dialog(qtbot, store)
    changes: list[tuple[str, object, object]] = []
    dialog.key_changed.connect(lambda a, k, s: changes.append((a, k, s)))
    _enter_key(qtbot, dialog, KEY)
    qtbot.mouseClick(dialog.save_key, Qt.MouseButton.LeftButton)
    run_until(loop, lambda: bool(changes))

    assert changes == [("default", KEY, "session")]
    status = dialog.key_status.text()
    assert "No system keyring" in status and "this session only" in status and "not written" in status
    assert "session only" in dialog.source_label.text()
    assert store.lookup().source == "session"
    assert files_containing(isolated_home, KEY) == []


@pytest.mark.desktop
def test_locked_keyring_asks_to_unlock_and_retry_saves(qtbot, loop, secret_service: None) -> None:
    dialog = make_dialog(qtbot, KeyStore(backend=SecretServiceKeyring(), env={}))
    changes: list[tuple[str, object, object]] = []
    dialog.key_changed.connect(lambda a, k, s: changes.append((a, k, s)))
    lock_login_keyring()
    _enter_key(qtbot, dialog, KEY)
    qtbot.mouseClick(dialog.save_key, Qt.MouseButton.LeftButton)
    run_until(loop, lambda: dialog.retry.isVisibleTo(dialog))
    assert "locked" in dialog.key_status.text() and "Unlock" in dialog.key_status.text()
    assert changes == [] and secret_tool_lookup() is None

    unlock_login_keyring()
    qtbot.mouseClick(dialog.retry, Qt.MouseButton.LeftButton)
    run_until(loop, lambda: bool(changes))
    assert changes == [("default", KEY, "keyring")] and secret_tool_lookup() == KEY
    assert not dialog.retry.isVisibleTo(dialog)


def test_environment_key_is_an_app_of_its_own_and_read_only(qtbot, loop) -> None:
    """Was: the environment's key shown in the one key field. Now (issue 13) it is an app of its
    own beside the implied one, selected when it is the key in use, and nothing in it can be edited."""
    store = KeyStore(backend=fail.Keyring(), env={"VENDO_API_KEY": "vendo_sk_env"})
    dialog = make_dialog(qtbot, store, key="vendo_sk_env", source="env")
    assert _rows(dialog) == [["Vendo", "https://vendo.run", "none"],
                             ["env", "https://vendo.run", "from VENDO_API_KEY (read-only)"]]
    assert dialog.selected().app.id == "env"
    assert "VENDO_API_KEY" in dialog.source_label.text()
    assert dialog.key_edit.echoMode() is QLineEdit.EchoMode.Password
    assert dialog.key_edit.isReadOnly() and dialog.base_url.isReadOnly()
    assert not any(b.isEnabled() for b in (dialog.save_key, dialog.rename_app, dialog.remove_app,
                                           dialog.move_up, dialog.move_down))


def test_environment_key_and_a_saved_one(qtbot, loop, secret_service: None) -> None:
    """Was: a key saved while VENDO_API_KEY is set waited behind it ("still takes precedence").
    Now the environment's key is an app of its own, so the implied app's saved key is watched
    beside it (core.apps.watched_apps) and the dialog says which app it changed."""
    store = KeyStore(backend=SecretServiceKeyring(), env={"VENDO_API_KEY": "vendo_sk_env"})
    dialog = make_dialog(qtbot, store, key="vendo_sk_env", source="env")
    changes: list[tuple[str, object, object]] = []
    dialog.key_changed.connect(lambda a, k, s: changes.append((a, k, s)))
    _select(qtbot, dialog, "Vendo")
    assert dialog.key_edit.text() == "" and not dialog.key_edit.isReadOnly()
    _enter_key(qtbot, dialog, KEY)
    qtbot.mouseClick(dialog.save_key, Qt.MouseButton.LeftButton)
    run_until(loop, lambda: bool(changes))
    assert dialog.key_status.text() == "Saved in your keyring."
    assert changes == [("default", KEY, "keyring")]
    assert secret_tool_lookup() == KEY
    assert _rows(dialog)[0][2] == "stored"


def test_show_hide_toggles_the_mask(qtbot) -> None:
    dialog = make_dialog(qtbot, KeyStore(backend=fail.Keyring(), env={}), key=KEY, source="keyring")
    assert dialog.key_edit.echoMode() is QLineEdit.EchoMode.Password
    dialog.show_key.click()
    assert dialog.key_edit.echoMode() is QLineEdit.EchoMode.Normal and dialog.show_key.text() == "Hide"
    dialog.show_key.click()
    assert dialog.key_edit.echoMode() is QLineEdit.EchoMode.Password


def test_empty_key_is_not_saved(qtbot, loop) -> None:
    dialog = make_dialog(qtbot, KeyStore(backend=fail.Keyring(), env={}))
    changes: list[object] = []
    dialog.key_changed.connect(lambda *a: changes.append(a))
    qtbot.mouseClick(dialog.save_key, Qt.MouseButton.LeftButton)
    assert "Enter your API key" in dialog.key_status.text() and changes == []


def test_enter_in_another_field_never_saves_the_key(qtbot, loop) -> None:
    """Enter in the base URL confirms the URL; it must not press Save, or a key typed
    but not saved would be written into the keyring (or session) behind the user's back."""
    dialog = make_dialog(qtbot, KeyStore(backend=fail.Keyring(), env={}))
    changes: list[object] = []
    dialog.key_changed.connect(lambda *a: changes.append(a))
    seen: list[Settings] = []
    dialog.settings_changed.connect(seen.append)
    _enter_key(qtbot, dialog, KEY)
    dialog.base_url.setFocus()
    dialog.base_url.setText("http://127.0.0.1:9000")
    qtbot.keyClick(dialog.base_url, Qt.Key.Key_Return)
    loop.run_until_complete(asyncio.sleep(0.2))
    assert changes == [] and dialog.key_status.text() == ""
    assert seen[-1].base_url == "http://127.0.0.1:9000"
    assert dialog.isVisible()


def test_enter_in_the_key_field_saves_it(qtbot, loop) -> None:
    dialog = make_dialog(qtbot, KeyStore(backend=fail.Keyring(), env={}))
    changes: list[tuple[str, object, object]] = []
    dialog.key_changed.connect(lambda a, k, s: changes.append((a, k, s)))
    _enter_key(qtbot, dialog, KEY)
    qtbot.keyClick(dialog.key_edit, Qt.Key.Key_Return)
    run_until(loop, lambda: bool(changes))
    assert changes == [("default", KEY, "session")] and dialog.isVisible()


def test_demo_mode_never_writes_the_keyring(qtbot, loop) -> None:
    """The dialog promises demo changes are not saved: Save must not store the demo key
    (or any other) in the user's real keyring, where the next normal start would pick it up."""
    class Recording(fail.Keyring):
        priority = 1  # type: ignore[assignment]
        saved: list[str] = []

        def set_password(self, service: str, username: str, password: str) -> None:
            self.saved.append(password)

    backend = Recording()
    dialog = make_dialog(qtbot, KeyStore(backend=backend, env={}), key="vendo_sk_demo", source="demo")
    changes: list[object] = []
    dialog.key_changed.connect(lambda *a: changes.append(a))
    qtbot.mouseClick(dialog.save_key, Qt.MouseButton.LeftButton)
    run_until(loop, lambda: dialog.key_status.text() not in ("", "Saving…"))
    assert backend.saved == [] and changes == []
    assert "demo" in dialog.key_status.text().lower() and "not saved" in dialog.key_status.text()


def test_escape_keeps_a_typed_base_url(qtbot) -> None:
    dialog = make_dialog(qtbot, KeyStore(backend=fail.Keyring(), env={}))
    seen: list[Settings] = []
    dialog.settings_changed.connect(seen.append)
    dialog.base_url.setText("https://eu.vendo.run")
    qtbot.keyClick(dialog, Qt.Key.Key_Escape)
    assert not dialog.isVisible()
    assert seen and seen[-1].base_url == "https://eu.vendo.run"


# ----------------------------------------------------------------- Test button

def test_test_button_shows_the_exact_error(qtbot, loop) -> None:
    calls: list[tuple[str, str]] = []

    async def rejecting(key: str, base_url: str) -> str:
        calls.append((key, base_url))
        raise AuthError("Unknown app key", status=401, code="app_unknown")

    dialog = make_dialog(qtbot, KeyStore(backend=fail.Keyring(), env={}), tester=rejecting)
    _enter_key(qtbot, dialog, KEY)
    qtbot.mouseClick(dialog.test_key, Qt.MouseButton.LeftButton)
    run_until(loop, lambda: "failed" in dialog.key_status.text())
    assert calls == [(KEY, "https://vendo.run")]
    assert dialog.key_status.text() == \
        "Test against https://vendo.run failed: AuthError: Unknown app key [app_unknown] (HTTP 401)"
    assert KEY not in dialog.key_status.text()


def test_test_button_against_the_simulator(qtbot, loop, simulator, api_key: str, tmp_path: Path) -> None:
    """The real call: Monitor.test_key to the project's simulator, with a good and a bad key."""
    from vendo_tray.core.monitor import Monitor
    from vendo_tray.core.store import Store

    monitor = Monitor(settings=Settings(base_url=simulator.base_url), key=None, key_source=None,
                      store=Store.open(tmp_path / "history.sqlite3"))
    dialog = make_dialog(qtbot, KeyStore(backend=fail.Keyring(), env={}), tester=monitor.test_key,
                         settings=Settings(base_url=simulator.base_url))
    _enter_key(qtbot, dialog, api_key)
    dialog.test_key.click()
    run_until(loop, lambda: dialog.test_key.isEnabled() and "Testing" not in dialog.key_status.text())
    assert dialog.key_status.text().startswith("OK: 127.0.0.1"), dialog.key_status.text()
    _enter_key(qtbot, dialog, "vendo_sk_wrong")
    dialog.test_key.click()
    run_until(loop, lambda: "failed" in dialog.key_status.text())
    assert "AuthError" in dialog.key_status.text() and "HTTP 401" in dialog.key_status.text()
    assert "vendo_sk_wrong" not in dialog.key_status.text()
    loop.run_until_complete(monitor.aclose())


# ----------------------------------------------------------------- settings

def test_each_toggle_applies_at_once(qtbot) -> None:
    dialog = make_dialog(qtbot, KeyStore(backend=fail.Keyring(), env={}))
    seen: list[Settings] = []
    dialog.settings_changed.connect(seen.append)
    for name, _label in NOTIFY_TOGGLES:
        box = dialog.notify_boxes[name]
        before = box.isChecked()
        box.click()
        assert seen[-1].notify[name] is (not before), name
    dialog.start_at_login.click()
    assert seen[-1].start_at_login is True
    dialog.keep_key_out.click()
    assert seen[-1].keep_key_out_of_links is True
    assert seen[-1].sounds == (), "sounds are off by default"
    dialog.sound_boxes["critical"].click()
    assert seen[-1].sounds == ("critical",)
    dialog.low_balance.setValue(2.5)
    assert seen[-1].low_balance_dollars == 2.5 and seen[-1].low_balance_micros == 2_500_000
    assert dialog.runway_days.value() == 2.0  # the default: warn two days ahead
    dialog.runway_days.setValue(3.5)
    assert seen[-1].runway_days == 3.5
    assert len(seen) == len(NOTIFY_TOGGLES) + 5


def test_base_url_must_be_https_except_loopback(qtbot) -> None:
    dialog = make_dialog(qtbot, KeyStore(backend=fail.Keyring(), env={}))
    seen: list[Settings] = []
    dialog.settings_changed.connect(seen.append)
    dialog.base_url.setText("http://vendo.example.com")
    dialog.base_url.editingFinished.emit()
    assert seen == [] and dialog.base_url_error.isVisibleTo(dialog)
    assert "https" in dialog.base_url_error.text()
    dialog.base_url.setText("http://127.0.0.1:8765/")
    dialog.base_url.editingFinished.emit()
    assert seen[-1].base_url == "http://127.0.0.1:8765" and not dialog.base_url_error.isVisibleTo(dialog)
    dialog.base_url.setText("https://eu.vendo.run")
    dialog.base_url.editingFinished.emit()
    assert seen[-1].base_url == "https://eu.vendo.run"


# ----------------------------------------------------------------- screenshot

@pytest.mark.desktop
def test_screenshot_of_the_settings_dialog(qtbot, xvfb_display: str, screenshots_dir: Path,
                                           tmp_path: Path) -> None:
    from test_tray import _Wallpaper

    wallpaper = _Wallpaper()
    wallpaper.setWindowFlags(Qt.WindowType.FramelessWindowHint)
    wallpaper.setGeometry(0, 0, 1280, 800)
    wallpaper.show()
    wallpaper.lower()
    qtbot.addWidget(wallpaper)
    from vendo_tray.core.apps import AppKey, add_app

    settings, prod = add_app(Settings(), "prod", "https://vendo.run", keep_default=False)
    settings, staging = add_app(settings, "staging", "https://eu.vendo.run", keep_default=False)
    dialog = SettingsDialog(settings, keystore=KeyStore(backend=fail.Keyring(), env={}), tester=_never_called,
                            key_in_use=None, key_source=None,
                            apps=[AppKey(prod, KEY, "keyring"), AppKey(staging, "vendo_sk_staging", "keyring")])
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.key_status.setText("OK: vendo.run answered with 12 connections")
    dialog.key_status.setVisible(True)
    dialog.move(80, 60)
    qtbot.waitExposed(dialog)
    qtbot.wait(300)
    full = desktop.screenshot(tmp_path / "full.png", xvfb_display)
    g = dialog.frameGeometry()
    crop = f"{g.width() + 48}x{g.height() + 48}+{g.left() - 24}+{g.top() - 24}"
    out = screenshots_dir / "settings.png"
    subprocess.run(["convert", str(full), "-crop", crop, "+repage", str(out)], check=True, timeout=30)
    assert out.stat().st_size > 1000


def test_the_dialog_offers_a_toggle_for_every_notification_topic_and_no_other() -> None:
    from vendo_tray.core.settings import DEFAULT_NOTIFY
    from vendo_tray.ui.settings_dialog import NOTIFY_TOGGLES

    assert [topic for topic, _ in NOTIFY_TOGGLES] == list(DEFAULT_NOTIFY)


# ----------------------------------------------------------------- the list of apps

def _sim_settings(simulator) -> Settings:
    return Settings(base_url=simulator.base_url)


def _add(qtbot, loop, dialog: SettingsDialog, name: str, base_url: str, key: str) -> None:
    """Settings → Add…: fill the form and press Test; the caller presses Add."""
    qtbot.mouseClick(dialog.add_app, Qt.MouseButton.LeftButton)
    add = dialog.add_dialog
    assert add is not None and add.isVisible() and not add.add_button.isEnabled()
    qtbot.keyClicks(add.name_edit, name)
    add.base_url_edit.setText(base_url)
    qtbot.keyClicks(add.key_edit, key)
    qtbot.mouseClick(add.test_button, Qt.MouseButton.LeftButton)
    run_until(loop, lambda: add.test_button.isEnabled() and "Testing" not in add.status.text())


@pytest.mark.desktop
def test_add_rename_reorder_and_remove_apps_with_a_real_keyring(
        qtbot, loop, simulator, api_key: str, secret_service: None, isolated_home: Path) -> None:
    from vendo_tray.core.monitor import check_key

    store = KeyStore(backend=SecretServiceKeyring(), env={})
    store.save(KEY)  # a setup from before apps: the implied app's key
    dialog = make_dialog(qtbot, store, tester=check_key, settings=_sim_settings(simulator), key=KEY,
                         source="keyring")
    assert _rows(dialog) == [["Vendo", simulator.base_url, "stored"]]
    assert dialog.key_box.title() == "API key" and not dialog.move_up.isEnabled()
    seen: list[Settings] = []
    dialog.settings_changed.connect(seen.append)
    changes: list[tuple[str, object, object]] = []
    dialog.key_changed.connect(lambda a, k, s: changes.append((a, k, s)))

    # Add: a rejected key is never saved, and Add waits for a test that passed
    _add(qtbot, loop, dialog, "staging", simulator.base_url, "vendo_sk_wrong")
    add = dialog.add_dialog
    assert "failed" in add.status.text() and "HTTP 401" in add.status.text()
    assert not add.add_button.isEnabled() and seen == []
    add.key_edit.clear()
    qtbot.keyClicks(add.key_edit, api_key)
    qtbot.mouseClick(add.test_button, Qt.MouseButton.LeftButton)
    run_until(loop, lambda: add.add_button.isEnabled())
    assert add.status.text().startswith("OK: 127.0.0.1")
    qtbot.mouseClick(add.add_button, Qt.MouseButton.LeftButton)
    run_until(loop, lambda: bool(changes))
    assert changes == [("staging", api_key, "keyring")] and not add.isVisible()
    assert secret_tool_lookup(account="api-key:staging") == api_key
    assert [(a.id, a.name) for a in seen[-1].apps] == [("default", "Vendo"), ("staging", "staging")]
    assert _rows(dialog)[1] == ["staging", simulator.base_url, "stored"]
    assert dialog.selected().app.id == "staging" and dialog.key_box.title() == "API key of staging"
    assert dialog.key_edit.text() == api_key

    # Rename: a name taken is refused with the rule's sentence; a free one keeps the id
    for name in ("VENDO", "prod"):
        qtbot.mouseClick(dialog.rename_app, Qt.MouseButton.LeftButton)
        box = dialog.findChild(QInputDialog, "renameApp")
        box.setTextValue(name)
        box.accept()
        box.setObjectName("")  # the next press opens a new one
        if name == "VENDO":
            assert "already an app called 'Vendo'" in dialog.apps_list_status.text()
    assert [a.name for a in seen[-1].apps] == ["Vendo", "prod"] and seen[-1].apps[1].id == "staging"
    assert dialog.key_box.title() == "API key of prod" and dialog.key_edit.text() == api_key

    # Move up: the order is the settings' order
    qtbot.mouseClick(dialog.move_up, Qt.MouseButton.LeftButton)
    assert [a.name for a in seen[-1].apps] == ["prod", "Vendo"]
    assert [row[0] for row in _rows(dialog)] == ["prod", "Vendo"]
    assert not dialog.move_up.isEnabled() and dialog.move_down.isEnabled()

    # Remove: asks first; Cancel keeps everything, Yes deletes the app's keyring entry only
    for answer in (QMessageBox.StandardButton.Cancel, QMessageBox.StandardButton.Yes):
        qtbot.mouseClick(dialog.remove_app, Qt.MouseButton.LeftButton)
        box = dialog.findChild(QMessageBox, "removeApp")
        qtbot.mouseClick(box.button(answer), Qt.MouseButton.LeftButton)
        box.setObjectName("")
        if answer == QMessageBox.StandardButton.Cancel:
            loop.run_until_complete(asyncio.sleep(0.2))
            assert secret_tool_lookup(account="api-key:staging") == api_key and len(_rows(dialog)) == 2
    run_until(loop, lambda: len(_rows(dialog)) == 1)
    assert secret_tool_lookup(account="api-key:staging") is None
    assert secret_tool_lookup() == KEY  # the other app's entry is untouched
    assert [a.id for a in seen[-1].apps] == ["default"] and changes[-1] == ("staging", None, None)
    assert dialog.selected().app.id == "default" and dialog.key_edit.text() == KEY
    assert files_containing(isolated_home, api_key) == []


def test_an_added_app_whose_key_no_keyring_can_store_is_kept_for_the_session(
        qtbot, loop, simulator, api_key: str) -> None:
    from vendo_tray.core.monitor import check_key

    store = KeyStore(backend=fail.Keyring(), env={})
    dialog = make_dialog(qtbot, store, tester=check_key, settings=_sim_settings(simulator))
    changes: list[tuple[str, object, object]] = []
    dialog.key_changed.connect(lambda a, k, s: changes.append((a, k, s)))
    _add(qtbot, loop, dialog, "prod", simulator.base_url, api_key)
    qtbot.mouseClick(dialog.add_dialog.add_button, Qt.MouseButton.LeftButton)
    run_until(loop, lambda: bool(changes))
    assert changes == [("prod", api_key, "session")]
    assert store.stored_lookup("api-key:prod").source == "session"
    assert _rows(dialog) == [["prod", simulator.base_url, "this session only"]]  # the keyless implied app went
    assert "this session only" in dialog.key_status.text()


def test_a_key_edited_after_its_test_must_be_tested_again(qtbot, loop, simulator, api_key: str) -> None:
    from vendo_tray.core.monitor import check_key

    dialog = make_dialog(qtbot, KeyStore(backend=fail.Keyring(), env={}), tester=check_key,
                         settings=_sim_settings(simulator))
    _add(qtbot, loop, dialog, "prod", simulator.base_url, api_key)
    add = dialog.add_dialog
    assert add.add_button.isEnabled()
    qtbot.keyClicks(add.key_edit, "x")
    assert not add.add_button.isEnabled()
    add.key_edit.setText(api_key)
    add.base_url_edit.setText("http://127.0.0.1:1")
    assert not add.add_button.isEnabled()


@pytest.mark.desktop
def test_the_dialog_reads_the_keys_of_apps_it_was_not_told_about(
        qtbot, loop, secret_service: None) -> None:
    from vendo_tray.core.apps import add_app

    settings, prod = add_app(Settings(), "prod", "https://vendo.run", keep_default=False)
    settings, _ = add_app(settings, "staging", "https://eu.vendo.run", keep_default=False)
    store = KeyStore(backend=SecretServiceKeyring(), env={})
    store.save(KEY, prod.account)
    dialog = make_dialog(qtbot, store, settings=settings)
    run_until(loop, lambda: _rows(dialog)[0][2] == "stored")
    assert _rows(dialog) == [["prod", "https://vendo.run", "stored"], ["staging", "https://eu.vendo.run", "none"]]
    assert dialog.key_edit.text() == KEY  # the first app is selected

    seen: list[Settings] = []
    dialog.settings_changed.connect(seen.append)
    _select(qtbot, dialog, "staging")
    assert dialog.base_url.text() == "https://eu.vendo.run" and dialog.key_edit.text() == ""
    dialog.base_url.setText("https://us.vendo.run")
    dialog.base_url.editingFinished.emit()
    assert [a.base_url for a in seen[-1].apps] == ["https://vendo.run", "https://us.vendo.run"]
    assert seen[-1].base_url == "https://vendo.run"  # the implied app's, untouched
