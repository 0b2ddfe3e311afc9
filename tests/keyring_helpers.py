"""Helpers for tests that use the real Secret Service (gnome-keyring on the private bus)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from vendo_tray.core.secrets import ACCOUNT, SERVICE

LOGIN_COLLECTION = "/org/freedesktop/secrets/collection/login"


def secret_tool_lookup(service: str = SERVICE, account: str = ACCOUNT) -> str | None:
    """Read the key back with libsecret's CLI: an independent reader of the keyring."""
    result = subprocess.run(["secret-tool", "lookup", "service", service, "username", account],
                            capture_output=True, text=True, timeout=10)
    return result.stdout if result.returncode == 0 and result.stdout else None


def lock_login_keyring() -> None:
    """Lock the login collection through the Secret Service API itself."""
    subprocess.run(
        ["dbus-send", "--session", "--print-reply", "--dest=org.freedesktop.secrets",
         "/org/freedesktop/secrets", "org.freedesktop.Secret.Service.Lock",
         f"array:objpath:{LOGIN_COLLECTION}"],
        check=True, capture_output=True, timeout=10)


def unlock_login_keyring(password: str = "vendo-test") -> None:
    """What a login (or the user typing the password) does: unlock with the password.

    The standard Unlock call needs an interactive prompt; gnome-keyring's own
    interface accepts the password directly, over a plain-text secret session
    (fine on a private test bus).
    """
    from jeepney import DBusAddress, new_method_call
    from jeepney.io.blocking import open_dbus_connection

    service = DBusAddress("/org/freedesktop/secrets", bus_name="org.freedesktop.secrets",
                          interface="org.freedesktop.Secret.Service")
    internal = DBusAddress("/org/freedesktop/secrets", bus_name="org.freedesktop.secrets",
                           interface="org.gnome.keyring.InternalUnsupportedGuiltRiddenInterface")
    with open_dbus_connection(bus="SESSION") as conn:
        reply = conn.send_and_get_reply(new_method_call(service, "OpenSession", "sv", ("plain", ("s", ""))))
        session = reply.body[1]
        secret = (session, b"", password.encode(), "text/plain")
        reply = conn.send_and_get_reply(
            new_method_call(internal, "UnlockWithMasterPassword", "o(oayays)", (LOGIN_COLLECTION, secret)))
        if reply.header.message_type.name == "error":
            raise RuntimeError(f"unlock failed: {reply.body}")


def files_containing(root: Path, needle: str) -> list[Path]:
    """Every regular file under ``root`` whose bytes contain ``needle``."""
    hits = []
    data = needle.encode()
    for dirpath, _dirs, names in os.walk(root):
        for name in names:
            path = Path(dirpath) / name
            try:
                if path.is_file() and not path.is_symlink() and data in path.read_bytes():
                    hits.append(path)
            except OSError:
                continue
    return hits
