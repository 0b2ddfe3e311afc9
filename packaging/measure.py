"""Measure a built bundle: size on disk, archive size, and how fast it starts.

WHY here and printed, not asserted: the targets (onedir <= 120 MB, archive <=
45 MB, tray icon < 1.5 s) describe the product on a user's machine; a shared
CI box with two busy cores can only *report* them. Start times are the median
of a few runs, with the first (cold) run shown apart.

"Time to tray icon" is wall time from ``exec`` of ``vendo-tray --demo`` to the
app's own log line ``tray icon shown`` (written right after
``QSystemTrayIcon.show()``), on a private Xvfb display with a real tray host
(trayer) and a private session bus, under a throw-away HOME.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

TRAY_LINE = "tray icon shown"


def tree_size(path: Path) -> int:
    """Bytes of every regular file under ``path`` (symlinks counted once, as links)."""
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            file = Path(root, name)
            if not file.is_symlink():
                total += file.stat().st_size
    return total


def mb(size: int) -> str:
    return f"{size / 1e6:.1f} MB"


@dataclass
class Timing:
    """Seconds per run; ``first`` is the cold run, ``median`` of the rest (or of all if one)."""

    runs: list[float]

    @property
    def first(self) -> float:
        return self.runs[0]

    @property
    def median(self) -> float:
        warm = self.runs[1:] or self.runs
        return statistics.median(warm)

    def __str__(self) -> str:
        return f"{self.median:.2f} s (first run {self.first:.2f} s, {len(self.runs)} runs)"


def time_command(argv: Sequence[str], runs: int = 3, env: dict[str, str] | None = None,
                 timeout: float = 120.0) -> tuple[Timing, subprocess.CompletedProcess[str]]:
    """Wall time of ``argv`` to exit, ``runs`` times; returns the timings and the last result."""
    times, result = [], None
    for _ in range(runs):
        start = time.perf_counter()
        result = subprocess.run(list(argv), capture_output=True, text=True, env=env, timeout=timeout)
        times.append(time.perf_counter() - start)
    assert result is not None
    return Timing(times), result


@dataclass
class Desktop:
    """A private headless desktop: environment to run a GUI process in."""

    env: dict[str, str]


def _stop(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def _wait(predicate, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise TimeoutError(f"timed out waiting for {what}")


def have_desktop_tools() -> bool:
    return all(shutil.which(tool) for tool in ("Xvfb", "dbus-daemon", "trayer", "xdotool"))


@contextlib.contextmanager
def headless_desktop(tray: bool = True) -> Iterator[Desktop]:
    """Xvfb on a free display, a private session bus, and (optionally) trayer; all ours, all stopped after."""
    xvfb = trayer = None
    bus_pid = None
    home = Path(tempfile.mkdtemp(prefix="vendo-measure-"))
    try:
        for number in range(120, 220):
            if Path(f"/tmp/.X11-unix/X{number}").exists() or Path(f"/tmp/.X{number}-lock").exists():
                continue
            xvfb = subprocess.Popen(["Xvfb", f":{number}", "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                _wait(lambda n=number: Path(f"/tmp/.X11-unix/X{n}").exists() or xvfb.poll() is not None,
                      10, "Xvfb")
            except TimeoutError:
                _stop(xvfb)
                continue
            if xvfb.poll() is None:
                break
        else:
            raise RuntimeError("no free X display")
        runtime = home / "run"
        runtime.mkdir(mode=0o700)
        env = dict(os.environ, DISPLAY=f":{number}", HOME=str(home), XDG_RUNTIME_DIR=str(runtime),
                   XDG_CONFIG_HOME=str(home / ".config"), XDG_DATA_HOME=str(home / ".local/share"),
                   XDG_STATE_HOME=str(home / ".local/state"), XDG_CACHE_HOME=str(home / ".cache"))
        for name in ("WAYLAND_DISPLAY", "QT_QPA_PLATFORM", "VENDO_API_KEY", "VENDO_BASE_URL"):
            env.pop(name, None)
        out = subprocess.run(["dbus-daemon", "--session", "--fork", "--print-address=1", "--print-pid=1"],
                             capture_output=True, text=True, check=True, env=env, timeout=10).stdout.split()
        env["DBUS_SESSION_BUS_ADDRESS"], bus_pid = out[0], int(out[1])
        if tray:
            trayer = subprocess.Popen(["trayer", "--edge", "top", "--align", "right", "--widthtype", "request",
                                       "--height", "32", "--SetDockType", "true", "--expand", "true"],
                                      env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            _wait(lambda: subprocess.run(["xdotool", "search", "--class", "trayer"], env=env,
                                         capture_output=True, text=True).stdout.strip() != "",
                  10, "trayer")
            time.sleep(0.3)  # it claims the tray selection right after mapping its window
        yield Desktop(env)
    finally:
        _stop(trayer)
        if bus_pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(bus_pid, signal.SIGTERM)
        _stop(xvfb)
        shutil.rmtree(home, ignore_errors=True)


def time_to_tray(binary: Path, desktop: Desktop, timeout: float = 20.0) -> float:
    """Seconds from exec of ``binary --demo`` to its "tray icon shown" log line; the app is then stopped."""
    start = time.perf_counter()
    proc = subprocess.Popen([str(binary), "--demo"], env=desktop.env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    shown = threading.Event()

    def watch() -> None:  # a thread, so a silent app cannot block the wait below
        assert proc.stderr is not None
        for line in proc.stderr:
            if TRAY_LINE in line and not shown.is_set():
                shown.elapsed = time.perf_counter() - start  # type: ignore[attr-defined]
                shown.set()

    reader = threading.Thread(target=watch, daemon=True)
    reader.start()
    try:
        if not shown.wait(timeout):
            raise RuntimeError(f"no '{TRAY_LINE}' line within {timeout:.0f} s (exit {proc.poll()})")
        return shown.elapsed  # type: ignore[attr-defined]
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
