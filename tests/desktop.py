"""Real desktop parts for the tests: Xvfb, a private session bus, trayer,
gnome-keyring's Secret Service and dunst.

Each part is a real process started here and stopped by the test that asked
for it, so tests exercise what users run, not stand-ins.  The private bus has
NO service activation directory: nothing (dunst, gnome-keyring) starts behind
a test's back, so "no notification server" and "no keyring" are real states
and a test notification server can own the name before anyone calls Notify.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

_BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:tmpdir={tmp}</listen>
  <auth>EXTERNAL</auth>
  <servicedir>{services}</servicedir>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""


def wait_until(predicate: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
    """Poll ``predicate`` until true; fail with ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")


def stop_process(proc: subprocess.Popen[bytes] | None, timeout: float = 5.0) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout)


def on_read_only_folder(folder: Path, argv: list[str]) -> list[str]:
    """``argv`` run with ``folder`` mounted read-only, as on a read-only disk (even root cannot write).

    The bind mount lives in a private mount namespace of that one command:
    nothing else on the machine sees it, and it is gone when the command ends.
    """
    script = 'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" "$1" && shift && exec "$@"'
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", str(folder), *argv]


def have(*commands: str) -> bool:
    return all(shutil.which(c) for c in commands)


@dataclass
class Display:
    name: str
    proc: subprocess.Popen[bytes]


def start_xvfb(size: str = "1280x800x24") -> Display:
    """Start Xvfb on the first free display number >= 90."""
    for number in range(90, 190):
        if Path(f"/tmp/.X11-unix/X{number}").exists() or Path(f"/tmp/.X{number}-lock").exists():
            continue
        proc = subprocess.Popen(
            ["Xvfb", f":{number}", "-screen", "0", size, "-nolisten", "tcp", "-nocursor"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=die_with_parent,
        )
        try:
            wait_until(lambda: Path(f"/tmp/.X11-unix/X{number}").exists() or proc.poll() is not None,
                       10, f"Xvfb :{number}")
        except TimeoutError:
            stop_process(proc)
            continue
        if proc.poll() is None:
            return Display(f":{number}", proc)
    raise RuntimeError("no free X display for Xvfb")


@dataclass
class Bus:
    address: str
    proc: subprocess.Popen[str]
    tmp: Path

    def stop(self) -> None:
        stop_process(self.proc)  # type: ignore[arg-type]
        shutil.rmtree(self.tmp, ignore_errors=True)


def start_session_bus() -> Bus:
    """A private session bus without service activation (see module docstring)."""
    tmp = Path(tempfile.mkdtemp(prefix="vendo-bus-"))
    (tmp / "services").mkdir()
    config = tmp / "bus.conf"
    config.write_text(_BUS_CONFIG.format(tmp=tmp, services=tmp / "services"))
    proc = subprocess.Popen(
        ["dbus-daemon", f"--config-file={config}", "--nofork", "--print-address=1"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, preexec_fn=die_with_parent,
    )
    assert proc.stdout is not None
    address = proc.stdout.readline().strip()
    if not address:
        stop_process(proc)  # type: ignore[arg-type]
        raise RuntimeError("dbus-daemon did not start")
    return Bus(address=address, proc=proc, tmp=tmp)


def like_a_terminal_command() -> None:
    """In the child: Ctrl-C (SIGINT) acts as it does for a command typed in a terminal.

    A test run started in the background (``pytest … &`` in a script, some CI runners)
    ignores SIGINT, children inherit that, and Python then installs no KeyboardInterrupt
    handler: a test of what Ctrl-C does would see the signal ignored.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    die_with_parent()


def die_with_parent() -> None:
    """In the child: get SIGTERM when the test process dies, even if it crashes.

    Without this a crashed pytest leaves its Xvfb and bus running forever.
    """
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def bus_name_has_owner(name: str, address: str | None = None) -> bool:
    env = dict(os.environ)
    if address:
        env["DBUS_SESSION_BUS_ADDRESS"] = address
    result = subprocess.run(
        ["dbus-send", "--session", "--print-reply", "--dest=org.freedesktop.DBus", "/org/freedesktop/DBus",
         "org.freedesktop.DBus.NameHasOwner", f"string:{name}"],
        capture_output=True, text=True, env=env, timeout=5,
    )
    return "boolean true" in result.stdout


@contextmanager
def trayer() -> Iterator[subprocess.Popen[bytes]]:
    """A freedesktop system tray host on the current DISPLAY.

    Started up to twice: once in a while trayer never maps its window (seen
    once in many runs), and a test should not fail for that.
    """
    def visible() -> bool:
        found = subprocess.run(["xdotool", "search", "--class", "trayer"], capture_output=True, text=True)
        return bool(found.stdout.strip())

    for attempt in (1, 2):
        with tempfile.TemporaryFile() as errors:
            proc = subprocess.Popen(
                ["trayer", "--edge", "top", "--align", "right", "--widthtype", "request", "--height", "32",
                 "--SetDockType", "true", "--transparent", "false", "--tint", "0x2b2b2b", "--expand", "true"],
                stdout=subprocess.DEVNULL, stderr=errors,
            )
            try:
                wait_until(lambda: visible() or proc.poll() is not None, 10, "trayer's window")
            except TimeoutError:
                pass
            if proc.poll() is None and visible():
                break
            stop_process(proc)
            errors.seek(0)
            why = errors.read().decode(errors="replace").strip() or f"exit {proc.returncode}"
            if attempt == 2:
                raise RuntimeError(f"trayer did not show a tray: {why}")
    try:
        time.sleep(0.3)  # it claims _NET_SYSTEM_TRAY_S0 right after mapping
        yield proc
    finally:
        stop_process(proc)


@contextmanager
def gnome_keyring(password: str = "vendo-test") -> Iterator[None]:
    """gnome-keyring's Secret Service on the session bus, login keyring unlocked.

    Needs HOME/XDG_DATA_HOME pointing at a temporary directory (the caller's
    fixture does that) so no real keyring is touched.
    """
    subprocess.run(
        ["gnome-keyring-daemon", "--unlock", "--components=secrets", "--daemonize"],
        input=password.encode(), check=True, capture_output=True, timeout=15,
    )
    try:
        wait_until(lambda: bus_name_has_owner("org.freedesktop.secrets"), 10, "org.freedesktop.secrets")
        yield
    finally:
        pid = bus_name_owner_pid("org.freedesktop.secrets")
        if pid:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        wait_until(lambda: not bus_name_has_owner("org.freedesktop.secrets"), 10, "keyring to leave the bus")


DUNSTRC = """[global]
    font = DejaVu Sans 10
    width = 360
    height = 150
    origin = top-right
    offset = 12x44
    frame_width = 1
    frame_color = "#5b6b7f"
    corner_radius = 6
    padding = 10
    horizontal_padding = 12
    icon_position = left
    max_icon_size = 48
    markup = full
    format = "<b>%s</b>\\n%b"
    show_indicators = no
    mouse_left_click = do_action, close_current
[urgency_low]
    background = "#1f2430"
    foreground = "#e6e6e6"
    timeout = 0
[urgency_normal]
    background = "#1f2430"
    foreground = "#ffffff"
    timeout = 0
[urgency_critical]
    background = "#4a1f24"
    foreground = "#ffffff"
    frame_color = "#e0474c"
    timeout = 0
"""


@contextmanager
def dunst(config_dir: Path) -> Iterator[subprocess.Popen[bytes]]:
    """The dunst notification daemon on the session bus and DISPLAY (no timeouts)."""
    config = config_dir / "dunstrc"
    config.write_text(DUNSTRC)
    proc = subprocess.Popen(["dunst", "-config", str(config)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: bus_name_has_owner("org.freedesktop.Notifications") or proc.poll() is not None,
                   10, "dunst on the bus")
        if proc.poll() is not None:
            raise RuntimeError("dunst exited at start")
        yield proc
    finally:
        stop_process(proc)
        wait_until(lambda: not bus_name_has_owner("org.freedesktop.Notifications"), 10,
                   "dunst to leave the bus")


def bus_name_owner_pid(name: str) -> int | None:
    """The PID of the process owning ``name`` on the session bus (ours alone)."""
    result = subprocess.run(
        ["dbus-send", "--session", "--print-reply", "--dest=org.freedesktop.DBus", "/org/freedesktop/DBus",
         "org.freedesktop.DBus.GetConnectionUnixProcessID", f"string:{name}"],
        capture_output=True, text=True, timeout=5,
    )
    found = re.search(r"uint32 (\d+)", result.stdout)
    return int(found.group(1)) if found else None


def screenshot(path: Path, display: str | None = None) -> Path:
    """Grab the whole X screen to ``path`` (PNG) with ImageMagick's import."""
    env = dict(os.environ)
    if display:
        env["DISPLAY"] = display
    subprocess.run(["import", "-window", "root", str(path)], check=True, env=env, timeout=30)
    return path
