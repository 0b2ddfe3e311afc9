"""``vendo-tray --self-test``: prove that this installation has every part it needs.

WHY: a PyInstaller bundle that misses a hidden import, a Qt plugin, package
metadata or a data file fails only on the user's machine, and only when that
path runs. The self-test walks each path the app depends on, headless, in a
second or two, so CI (and a user filing a bug) can run the *installed* binary
and get one line saying what works and what is missing:

* Qt and its platform plugin (xcb when ``DISPLAY`` is set, else offscreen on
  Linux; the native one elsewhere), the SVG icon engine, and the system tray.
  No tray is reported, not failed: the app runs without one (it opens its
  window instead), and a headless CI machine has none.
* keyring: its back ends are found through package metadata (entry points), so
  a bundle without that metadata silently has *no* keyring. The platform's back
  end must load; which one is active is reported (none active is a property of
  the session, not of the installation).
* desktop-notifier: its resource package (default icon) and the platform back end.
* TLS: the CA bundle the HTTP client uses loads and holds certificates.
* The simulator starts on 127.0.0.1 and the real client reads
  ``/api/billing/balance`` from it (uvicorn, Starlette, httpx and our client,
  end to end).

Qt runs in a child process (this same program, re-entered with
:data:`PROBE_ENV` set): a missing platform plugin makes Qt abort the whole
process, and the report must still be printed. The child runs while the
parent does the other checks, so the test costs about one start-up.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from importlib.metadata import entry_points

from vendo_tray import __version__
from vendo_tray import resources as app_resources

log = logging.getLogger(__name__)

#: Set in the child process to run only the Qt probe.
PROBE_ENV = "VENDO_TRAY_SELF_TEST_PROBE"
#: Prefixes the child's one JSON line on stdout (Qt may print its own warnings).
PROBE_MARK = "VENDO-TRAY-QT-PROBE "
QT_TIMEOUT = 30.0
KEYRING_TIMEOUT = 8.0
SIMULATOR_TIMEOUT = 15.0

#: The keyring back end each platform must be able to load (entry-point names).
KEYRING_BACKEND = {"linux": "SecretService", "darwin": "macOS", "win32": "Windows"}
#: desktop-notifier's back end module per platform.
NOTIFIER_BACKEND = {"linux": "dbus", "darwin": "macos", "win32": "winrt"}


@dataclass(frozen=True)
class Check:
    """One part of the installation: ``summary`` for the report, ``problem`` when it failed."""

    name: str
    summary: str
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


def _platform_key() -> str:
    return "linux" if sys.platform.startswith("linux") else sys.platform


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}"[:200] if text else type(exc).__name__


# -- Qt (child process) --------------------------------------------------------

def choose_qt_platform(env: dict[str, str] | os._Environ[str] = os.environ) -> str | None:
    """The platform plugin the self-test asks for: the user's choice, else xcb/offscreen on Linux.

    Elsewhere None: macOS and Windows always have their native plugin, and it
    shows nothing unless asked to.
    """
    if env.get("QT_QPA_PLATFORM"):
        return env["QT_QPA_PLATFORM"]
    if _platform_key() == "linux":
        return "xcb" if env.get("DISPLAY") else "offscreen"
    return None


def _app_icon_path() -> str:
    return str(app_resources.path("icons", f"{app_resources.APP_ICON}.svg"))


def qt_probe() -> dict[str, object]:
    """Start Qt headless and look at what loaded (runs in the child)."""
    from PySide6 import __version__ as pyside_version
    from PySide6.QtGui import QIcon, QImageReader
    from PySide6.QtWidgets import QApplication, QSystemTrayIcon

    _app = QApplication.instance() or QApplication(["vendo-tray"])  # Qt needs one for icons and the tray
    formats = {bytes(f.data()).decode() for f in QImageReader.supportedImageFormats()}
    icon = QIcon(_app_icon_path())
    result: dict[str, object] = {
        "qt": pyside_version,
        "platform": QApplication.platformName(),
        "tray": QSystemTrayIcon.isSystemTrayAvailable(),
        "svg": "svg" in formats and not icon.pixmap(32, 32).isNull(),
        "formats": sorted(formats),
    }
    try:
        from PySide6.QtNetwork import QSslSocket

        result["qt_tls"] = QSslSocket.activeBackend() if QSslSocket.supportsSsl() else None
    except ImportError:  # pragma: no cover - QtNetwork ships with Essentials
        result["qt_tls"] = None
    return result


def _run_qt_probe_child() -> int:
    try:
        result = qt_probe()
    except Exception as exc:  # noqa: BLE001 - reported to the parent
        result = {"error": _short(exc)}
    print(PROBE_MARK + json.dumps(result), flush=True)
    return 0


def _probe_command() -> list[str]:
    """This program again: the frozen binary itself, or this interpreter with -m."""
    if getattr(sys, "frozen", False):
        return [sys.executable, "--self-test"]
    return [sys.executable, "-m", "vendo_tray", "--self-test"]


def start_qt_probe() -> subprocess.Popen[str]:
    env = dict(os.environ)
    env[PROBE_ENV] = "qt"
    platform = choose_qt_platform(env)
    if platform:
        env["QT_QPA_PLATFORM"] = platform
    return subprocess.Popen(_probe_command(), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, text=True)


def finish_qt_probe(proc: subprocess.Popen[str], timeout: float = QT_TIMEOUT) -> list[Check]:
    """Turn the child's answer (or its death) into the qt, svg and tray checks."""
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        return [Check("qt", "", f"Qt did not start within {timeout:.0f} s")]
    lines = [line for line in out.splitlines() if line.startswith(PROBE_MARK)]
    if not lines:
        hint = next((line.strip() for line in err.splitlines()
                     if "plugin" in line.lower() or "error" in line.lower()), "")
        if not hint and err.strip():
            hint = err.strip().splitlines()[-1].strip()
        return [Check("qt", "", f"Qt failed to start (exit {proc.returncode})"
                                 + (f": {hint[:200]}" if hint else ""))]
    result = json.loads(lines[-1][len(PROBE_MARK):])
    if "error" in result:
        return [Check("qt", "", f"Qt failed: {result['error']}")]
    checks = [Check("qt", f"Qt {result['qt']} ({result['platform']})")]
    checks.append(Check("icons", "SVG icons") if result["svg"] else
                  Check("icons", "", "Qt cannot render SVG icons (the svg image format or "
                                     "icon engine plugin is missing, or the app icon is not bundled)"))
    checks.append(Check("tray", "tray available" if result["tray"]
                        else "no system tray (the window opens instead)"))
    return checks


# -- in-process checks -----------------------------------------------------------

def _with_timeout(fn: Callable[[], Check], timeout: float, name: str, what: str) -> Check:
    """Run ``fn`` in a daemon thread so a hung D-Bus call cannot hang the self-test."""
    box: list[Check] = []

    def target() -> None:
        try:
            box.append(fn())
        except Exception as exc:  # noqa: BLE001 - becomes the check's problem
            box.append(Check(name, "", _short(exc)))

    thread = threading.Thread(target=target, name=f"self-test-{name}", daemon=True)
    thread.start()
    thread.join(timeout)
    if not box:
        return Check(name, "", f"{what} did not answer within {timeout:.0f} s")
    return box[0]


def check_keyring() -> Check:
    """The platform's back end loads through keyring's entry points; report the active one."""
    wanted = KEYRING_BACKEND.get(_platform_key())
    found = {ep.name: ep for ep in entry_points(group="keyring.backends")}
    if not found:
        return Check("keyring", "", "keyring finds no back ends (its package metadata / entry points "
                                    "are not installed)")
    if wanted:
        if wanted not in found:
            return Check("keyring", "", f"keyring back end {wanted} is not registered")
        try:
            found[wanted].load()
            if wanted == "SecretService":
                import secretstorage  # noqa: F401 - keyring hides this import failure as "not viable"
        except Exception as exc:  # noqa: BLE001
            return Check("keyring", "", f"keyring back end {wanted} does not load: {_short(exc)}")

    def active() -> Check:
        import keyring

        backend = keyring.get_keyring()
        module = type(backend).__module__
        name = getattr(backend, "name", None) or type(backend).__name__
        if module == "keyring.backends.fail":
            name = "none active in this session"
        return Check("keyring", f"keyring {wanted or 'back ends'} (active: {name})")

    result = _with_timeout(active, KEYRING_TIMEOUT, "keyring", "the keyring")
    if not result.ok:  # the session's keyring misbehaving is not a broken installation
        return Check("keyring", f"keyring {wanted} (active: unknown, {result.problem})")
    return result


def check_notifier() -> Check:
    """desktop-notifier's default icon resource and this platform's back end module load."""
    import importlib

    icon = resources.files("desktop_notifier.resources") / "python.png"
    if not icon.is_file():
        return Check("notifier", "", "desktop-notifier's resources (desktop_notifier.resources) "
                                     "are not bundled")
    backend = NOTIFIER_BACKEND.get(_platform_key())
    if backend:
        try:
            importlib.import_module(f"desktop_notifier.backends.{backend}")
        except Exception as exc:  # noqa: BLE001
            return Check("notifier", "", f"desktop-notifier's {backend} back end does not load: {_short(exc)}")
    importlib.import_module("vendo_tray.ui.notifier_backends")
    return Check("notifier", f"notifier {backend or 'dummy'}")


def check_tls() -> Check:
    """The CA bundle the HTTP client verifies servers with loads and is not empty."""
    import ssl

    import certifi
    import httpx

    path = certifi.where()
    if not os.path.isfile(path):
        return Check("tls", "", f"the CA bundle is missing ({path})")
    context = httpx.create_ssl_context()
    count = len(context.get_ca_certs())
    if count == 0:
        return Check("tls", "", "the CA bundle loaded no certificates")
    return Check("tls", f"TLS {ssl.OPENSSL_VERSION.split()[1]}, {count} CAs")


def check_simulator() -> Check:
    """Start the simulator on loopback and read the balance through the real client."""
    from vendo_tray.client import AsyncVendo
    from vendo_tray.simulator import Simulator

    key = f"vendo_sk_selftest_{secrets.token_hex(8)}"
    sim = Simulator(key=key, host="127.0.0.1", port=0)
    sim.start(timeout=SIMULATOR_TIMEOUT)
    try:
        async def read_balance() -> int:
            async with AsyncVendo(api_key=key, base_url=sim.base_url, timeout=SIMULATOR_TIMEOUT,
                                  max_retries=0) as client:
                return (await client.billing.balance()).credits_remaining_micros

        micros = asyncio.run(read_balance())
    finally:
        sim.stop()
    return Check("simulator", f"simulator answered ${micros / 1_000_000:,.2f}")


# -- the report ---------------------------------------------------------------------

def format_report(checks: list[Check], elapsed: float) -> str:
    """One line: OK and what was found, or FAILED naming each missing part."""
    failed = [c for c in checks if not c.ok]
    head = f"vendo-tray {__version__} self-test"
    if failed:
        return (f"{head}: FAILED ({', '.join(c.name for c in failed)}) - "
                + "; ".join(f"{c.name}: {c.problem}" for c in failed) + f" [{elapsed:.2f} s]")
    return f"{head}: OK - " + ", ".join(c.summary for c in checks) + f" [{elapsed:.2f} s]"


def run_self_test() -> int:
    """Run every check, print one line, return 0 when all parts are present, else 1."""
    if os.environ.get(PROBE_ENV) == "qt":
        return _run_qt_probe_child()
    if not logging.getLogger().handlers:
        # Keep the one-line contract: only real problems reach stderr.
        logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    started = time.monotonic()
    try:
        qt = start_qt_probe()
    except OSError as exc:
        qt = None
        qt_failure = Check("qt", "", f"could not start the Qt probe: {_short(exc)}")
    checks: list[Check] = []
    for name, fn, timeout in (("keyring", check_keyring, KEYRING_TIMEOUT * 2),
                              ("notifier", check_notifier, 10.0),
                              ("tls", check_tls, 10.0),
                              ("simulator", check_simulator, SIMULATOR_TIMEOUT * 2)):
        checks.append(_with_timeout(fn, timeout, name, name))
    checks[:0] = finish_qt_probe(qt) if qt is not None else [qt_failure]
    print(format_report(checks, time.monotonic() - started), flush=True)
    return 0 if all(c.ok for c in checks) else 1
