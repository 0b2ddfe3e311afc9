"""The real desktop parts the other tests rely on actually come up."""

from __future__ import annotations

import keyring
from PySide6.QtWidgets import QSystemTrayIcon

import desktop


def test_tray_available_with_tray_host(qtbot, xvfb_display) -> None:
    # Only this direction can be checked in-process: once Qt has seen a tray it keeps
    # answering True after the host exits. "No tray" is tested on fresh app processes.
    with desktop.trayer():
        qtbot.waitUntil(QSystemTrayIcon.isSystemTrayAvailable, timeout=5000)


def test_secret_service_round_trip(secret_service) -> None:
    keyring.core.set_keyring(keyring.core.load_keyring("keyring.backends.SecretService.Keyring"))
    try:
        keyring.set_password("vendo-tray-test", "probe", "hello")
        assert keyring.get_password("vendo-tray-test", "probe") == "hello"
    finally:
        keyring.core._keyring_backend = None  # next user re-detects the backend


def test_notification_daemon_owns_the_name(dunst, session_bus) -> None:
    assert desktop.bus_name_has_owner("org.freedesktop.Notifications")
