"""Give the running process its own identity on Windows, so toasts say "Vendo Tray".

WHY: a frozen or pip-installed Python app on Windows runs as ``python.exe`` or as
our bootloader without an AppUserModelID. Windows then attributes toasts and the
taskbar entry to "Python" (or to nothing, and drops the toast). Setting an explicit
AppUserModelID for the process, and registering a display name and icon for that
ID under HKCU, makes the Action Center show "Vendo Tray" with our icon.

desktop-notifier's WinRT back end registers its *own* toast AUMID, equal to the
``app_name`` passed to ``DesktopNotifier`` (so pass ``APP_NAME``); this module gives
the process the stable, spaceless ID ``run.vendo.VendoTray`` that the installer's
Start-menu shortcut carries too (packaging/windows/vendo-tray.iss), and registers
the same display name for it. Call :func:`apply_platform_identity` once, before the
QApplication and the notifier are created. Elsewhere it does nothing.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from vendo_tray import APP_ID, APP_NAME

log = logging.getLogger(__name__)

_REGISTRY_PATH = "Software\\Classes\\AppUserModelId\\"


def apply_platform_identity(app_id: str = APP_ID, display_name: str = APP_NAME,
                            icon: Path | None = None) -> bool:
    """Set the Windows AppUserModelID of this process; return True when it was set.

    A no-op returning False on every other platform. Failures are logged, never
    raised: a missing identity costs a nicer toast header, not the app.
    """
    if sys.platform != "win32":
        return False
    try:
        import ctypes

        result = ctypes.windll.shell32.SetCurrentProcessExplicitAppUserModelID(ctypes.c_wchar_p(app_id))
        if result != 0:  # an HRESULT; S_OK == 0
            log.warning("SetCurrentProcessExplicitAppUserModelID failed: HRESULT 0x%08x", result & 0xFFFFFFFF)
            return False
    except (AttributeError, OSError) as exc:
        log.warning("could not set the AppUserModelID: %s", exc)
        return False
    _register_display_name(app_id, display_name, icon)
    log.debug("AppUserModelID set to %s", app_id)
    return True


def _register_display_name(app_id: str, display_name: str, icon: Path | None) -> None:
    """Tell the toast platform how to label an unpackaged app's ID (HKCU, no admin)."""
    if sys.platform != "win32":  # the registry exists only there (and mypy checks as Linux)
        return
    try:
        import winreg

        with winreg.CreateKeyEx(winreg.HKEY_CURRENT_USER, _REGISTRY_PATH + app_id) as key:
            winreg.SetValueEx(key, "DisplayName", 0, winreg.REG_SZ, display_name)
            if icon is not None and icon.is_file():
                winreg.SetValueEx(key, "IconUri", 0, winreg.REG_SZ, str(icon.resolve()))
    except OSError as exc:
        log.warning("could not register the toast display name: %s", exc)
