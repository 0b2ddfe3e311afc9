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
from PySide6.QtWidgets import QLineEdit

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
    validate_base_url,
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


# ----------------------------------------------------------------- the key

@pytest.mark.desktop
def test_save_stores_the_key_in_the_real_secret_service_and_no_file(
        qtbot, loop, secret_service: None, isolated_home: Path, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    dialog = make_dialog(qtbot, KeyStore(backend=SecretServiceKeyring(), env={}))
    changes: list[tuple[object, object]] = []
    dialog.key_changed.connect(lambda k, s: changes.append((k, s)))
    _enter_key(qtbot, dialog, KEY)
    qtbot.mouseClick(dialog.save_key, Qt.MouseButton.LeftButton)
    run_until(loop, lambda: bool(changes))

    assert changes == [(KEY, "keyring")]
    assert secret_tool_lookup() == KEY
    assert "Saved in your keyring" in dialog.key_status.text()
    assert "system keyring" in dialog.source_label.text()
    assert files_containing(isolated_home, KEY) == []
    assert KEY not in caplog.text


def test_no_keyring_keeps_the_key_in_memory_and_says_so(qtbot, loop, isolated_home: Path) -> None:
    store = KeyStore(backend=fail.Keyring(), env={})
    dialog = make_dialog(qtbot, store)
    changes: list[tuple[object, object]] = []
    dialog.key_changed.connect(lambda k, s: changes.append((k, s)))
    _enter_key(qtbot, dialog, KEY)
    qtbot.mouseClick(dialog.save_key, Qt.MouseButton.LeftButton)
    run_until(loop, lambda: bool(changes))

    assert changes == [(KEY, "session")]
    status = dialog.key_status.text()
    assert "No system keyring" in status and "this session only" in status and "not written" in status
    assert "session only" in dialog.source_label.text()
    assert store.lookup().source == "session"
    assert files_containing(isolated_home, KEY) == []


@pytest.mark.desktop
def test_locked_keyring_asks_to_unlock_and_retry_saves(qtbot, loop, secret_service: None) -> None:
    dialog = make_dialog(qtbot, KeyStore(backend=SecretServiceKeyring(), env={}))
    changes: list[tuple[object, object]] = []
    dialog.key_changed.connect(lambda k, s: changes.append((k, s)))
    lock_login_keyring()
    _enter_key(qtbot, dialog, KEY)
    qtbot.mouseClick(dialog.save_key, Qt.MouseButton.LeftButton)
    run_until(loop, lambda: dialog.retry.isVisibleTo(dialog))
    assert "locked" in dialog.key_status.text() and "Unlock" in dialog.key_status.text()
    assert changes == [] and secret_tool_lookup() is None

    unlock_login_keyring()
    qtbot.mouseClick(dialog.retry, Qt.MouseButton.LeftButton)
    run_until(loop, lambda: bool(changes))
    assert changes == [(KEY, "keyring")] and secret_tool_lookup() == KEY
    assert not dialog.retry.isVisibleTo(dialog)


def test_environment_key_is_named_and_still_wins_after_save(qtbot, loop) -> None:
    store = KeyStore(backend=fail.Keyring(), env={"VENDO_API_KEY": "vendo_sk_env"})
    dialog = make_dialog(qtbot, store, key="vendo_sk_env", source="env")
    assert "VENDO_API_KEY" in dialog.source_label.text()
    assert dialog.key_edit.echoMode() is QLineEdit.EchoMode.Password


def test_environment_key_and_a_saved_one(qtbot, loop, secret_service: None) -> None:
    store = KeyStore(backend=SecretServiceKeyring(), env={"VENDO_API_KEY": "vendo_sk_env"})
    dialog = make_dialog(qtbot, store, key="vendo_sk_env", source="env")
    changes: list[tuple[object, object]] = []
    dialog.key_changed.connect(lambda k, s: changes.append((k, s)))
    _enter_key(qtbot, dialog, KEY)
    qtbot.mouseClick(dialog.save_key, Qt.MouseButton.LeftButton)
    run_until(loop, lambda: "Saved" in dialog.key_status.text())
    assert "still takes precedence" in dialog.key_status.text()
    assert changes == []  # the stream keeps the environment's key
    assert secret_tool_lookup() == KEY


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
    """Enter in the base URL confirms the URL; it must not press Save, or a key taken
    from VENDO_API_KEY would be written into the keyring (or session) behind the user's back."""
    store = KeyStore(backend=fail.Keyring(), env={"VENDO_API_KEY": "vendo_sk_env"})
    dialog = make_dialog(qtbot, store, key="vendo_sk_env", source="env")
    changes: list[object] = []
    dialog.key_changed.connect(lambda *a: changes.append(a))
    seen: list[Settings] = []
    dialog.settings_changed.connect(seen.append)
    dialog.base_url.setFocus()
    dialog.base_url.setText("http://127.0.0.1:9000")
    qtbot.keyClick(dialog.base_url, Qt.Key.Key_Return)
    loop.run_until_complete(asyncio.sleep(0.2))
    assert changes == [] and dialog.key_status.text() == ""
    assert seen[-1].base_url == "http://127.0.0.1:9000"
    assert dialog.isVisible()


def test_enter_in_the_key_field_saves_it(qtbot, loop) -> None:
    dialog = make_dialog(qtbot, KeyStore(backend=fail.Keyring(), env={}))
    changes: list[tuple[object, object]] = []
    dialog.key_changed.connect(lambda k, s: changes.append((k, s)))
    _enter_key(qtbot, dialog, KEY)
    qtbot.keyClick(dialog.key_edit, Qt.Key.Key_Return)
    run_until(loop, lambda: bool(changes))
    assert changes == [(KEY, "session")] and dialog.isVisible()


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


@pytest.mark.parametrize(("url", "ok"), [
    ("https://vendo.run", True), ("http://localhost:9000", True), ("http://[::1]:8080", True),
    ("http://vendo.run", False), ("ftp://vendo.run", False), ("vendo.run", False),
    ("https://user:pw@vendo.run", False), ("https://vendo.run/?x=1", False),
    ("http://127.0.0.1.evil.com", False),
])
def test_validate_base_url(url: str, ok: bool) -> None:
    if ok:
        assert validate_base_url(url)
    else:
        with pytest.raises(ValueError):
            validate_base_url(url)


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
    dialog = make_dialog(qtbot, KeyStore(backend=fail.Keyring(), env={}), key=KEY, source="keyring")
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
