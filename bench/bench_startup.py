"""Benchmark the tray app against a bare PySide6 tray icon: memory, start, idle wake-ups.

Every figure is printed with its ratio against a bare tray measured in the same
run on the same (virtual) desktop, and against issue 11's targets:

* RSS — resident memory live and idle (connected, window never opened), both
  processes read side by side at the end of the idle window.  Target: at most
  1.5x the bare tray.
* cold start — ``python -m vendo_tray`` launched (from bytecode, as installed)
  until its log says the tray icon is shown; baseline: a script that creates a QApplication and a
  QSystemTrayIcon and shows it (the floor any PySide6 tray app pays).  Median
  of ``--runs`` launches each.  Target: at most 2x the bare tray.
* idle CPU — over ``--idle`` seconds (default 60) live against the project's
  simulator pinging every ``--ping`` seconds (default 25, as a server does).
  Target: under 0.2 % of one core.
* wake-ups — context switches of all the process's threads per second over
  the same window (from /proc/PID/task/*/status), next to what the stream's
  pings and the app's own polls (reconciler 30 s, sleep check 30 s, runway
  60 s) need at one wake-up each.

``--keyring`` keeps the key in a private gnome-keyring (as users do) instead
of VENDO_API_KEY, so the keyring's cost is in the figures.

It starts its own Xvfb, private session bus and tray host (tests/desktop.py),
so nothing on the developer's desktop is touched, and uses a temporary HOME.

Run: ``.venv/bin/python bench/bench_startup.py [--runs 5] [--idle 60] [--keyring]``
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import desktop  # noqa: E402  (the tests' real-desktop helpers)

TARGET_START_RATIO = 2.0
TARGET_IDLE_PCT = 0.2
TARGET_RSS_RATIO = 1.5
#: The app's own timers when idle (s): reconciler poll, sleep check, runway estimate.
OWN_POLLS = (30.0, 30.0, 60.0)
KEY = "vendo_sk_bench_0123456789"
CLK_TCK = os.sysconf("SC_CLK_TCK")

BASELINE = r"""
import sys
from PySide6.QtGui import QColor, QIcon, QPixmap
from PySide6.QtWidgets import QApplication, QSystemTrayIcon
app = QApplication(sys.argv[:1])
app.setQuitOnLastWindowClosed(False)
pixmap = QPixmap(22, 22)
pixmap.fill(QColor("#1F9D55"))
tray = QSystemTrayIcon(QIcon(pixmap))
tray.setToolTip("baseline")
tray.show()
print("shown", flush=True)
sys.exit(app.exec())
"""


def compile_bytecode() -> None:
    """Compile the app's modules as an install does, so each start reads bytecode.

    pip, the .deb and the bundle compile every module when they install it; a
    checkout under PYTHONDONTWRITEBYTECODE (CI and this project's machines set
    it) would instead compile all of the app's source again at every start,
    and the start figure would time Python's compiler (about 40 ms here), not the app.
    """
    import compileall

    import vendo_tray

    compileall.compile_dir(str(Path(vendo_tray.__file__).parent), quiet=1)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


def context_switches(pid: int) -> int:
    """Voluntary + involuntary switches of every thread: each wake-up costs at least one."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):  # a thread may end while we read
            for line in (task / "status").read_text().splitlines():
                if "ctxt_switches:" in line:
                    total += int(line.split()[1])
    return total


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def isolated_env(home: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    for var in ("VENDO_API_KEY", "VENDO_BASE_URL"):
        env.pop(var, None)
    run = home / "run"
    run.mkdir(parents=True, exist_ok=True, mode=0o700)
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"),
               XDG_DATA_HOME=str(home / ".local/share"), XDG_STATE_HOME=str(home / ".local/state"),
               XDG_CACHE_HOME=str(home / ".cache"), XDG_RUNTIME_DIR=str(run), QT_QPA_PLATFORM="xcb")
    env.update(extra)
    return env


def start_baseline(home: Path) -> tuple[subprocess.Popen[str], float]:
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", BASELINE], env=isolated_env(home),
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    elapsed = time.perf_counter() - t0
    if line.strip() != "shown":
        raise RuntimeError("baseline tray script did not start")
    return proc, elapsed


def start_app(home: Path, base_url: str, env_key: bool = True, timeout: float = 30.0,
              binary: Path | None = None) -> tuple[subprocess.Popen[bytes], float, Path]:
    config = home / ".config" / "vendo-tray"
    config.mkdir(parents=True, exist_ok=True)
    (config / "settings.json").write_text(json.dumps({"base_url": base_url}))
    log = home / ".local/state/vendo-tray/log/vendo-tray.log"
    t0 = time.perf_counter()
    command = [str(binary)] if binary else [sys.executable, "-m", "vendo_tray"]
    proc = subprocess.Popen([*command, "--log-level", "INFO"],
                            env=isolated_env(home, **({"VENDO_API_KEY": KEY} if env_key else {})),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = t0 + timeout
    while time.perf_counter() < deadline:
        if log.exists() and "tray icon shown after" in log.read_text(errors="replace"):
            return proc, time.perf_counter() - t0, log
        if proc.poll() is not None:
            break
        time.sleep(0.005)
    stop(proc)
    raise RuntimeError(f"the app did not show its tray icon (log: {log})")


def stop(proc: subprocess.Popen) -> None:  # type: ignore[type-arg]
    desktop.stop_process(proc)


def ratio(value: float, baseline: float) -> float:
    return value / baseline if baseline > 0 else float("inf")


def verdict(ok: bool) -> str:
    return "meets target" if ok else "MISSES target"


@contextlib.contextmanager
def key_in_keyring(home: Path) -> Iterator[None]:
    """A private gnome-keyring holding the bench key, where the app looks for it."""
    home.mkdir(parents=True, exist_ok=True)
    for var, sub in (("HOME", ""), ("XDG_DATA_HOME", ".local/share"), ("XDG_CONFIG_HOME", ".config")):
        os.environ[var] = str(home / sub)
    with desktop.gnome_keyring():
        from keyring.backends.SecretService import Keyring

        from vendo_tray.core.secrets import ACCOUNT, SERVICE

        Keyring().set_password(SERVICE, ACCOUNT, KEY)
        yield


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="cold starts to take the median of")
    parser.add_argument("--idle", type=float, default=60.0, help="seconds of idle measurement")
    parser.add_argument("--ping", type=float, default=25.0, help="the stream's keep-alive interval (s)")
    parser.add_argument("--keyring", action="store_true", help="the key in a keyring, not VENDO_API_KEY")
    parser.add_argument("--binary", type=Path, metavar="PATH",
                        help="the built app (build/pyinstaller/dist/vendo-tray/vendo-tray), as the "
                             ".deb and .tar.gz install it, instead of python -m vendo_tray")
    args = parser.parse_args()

    from vendo_tray.simulator import Simulator

    compile_bytecode()
    display = desktop.start_xvfb()
    bus = desktop.start_session_bus()
    os.environ.update(DISPLAY=display.name, DBUS_SESSION_BUS_ADDRESS=bus.address)
    sim = Simulator(key=KEY, ping_interval=args.ping).start()
    tmp = Path(tempfile.mkdtemp(prefix="vendo-bench-"))
    env_key = not args.keyring
    try:
        with desktop.trayer(), (key_in_keyring(tmp / "keyring") if args.keyring else contextlib.nullcontext()):
            # -- cold start, alternating so both see the same machine load ------------
            base_starts, app_starts, app_self = [], [], []
            for i in range(args.runs):
                proc, secs = start_baseline(tmp / f"base{i}")
                base_starts.append(secs)
                stop(proc)
                proc2, secs, log = start_app(tmp / f"app{i}", sim.base_url, env_key, binary=args.binary)
                app_starts.append(secs)
                found = re.search(r"tray icon shown after (\d+) ms", log.read_text())
                if found:
                    app_self.append(int(found.group(1)) / 1000)
                stop(proc2)
            base_start = statistics.median(base_starts)
            app_start = statistics.median(app_starts)

            # -- idle: CPU, wake-ups and RSS, side by side --------------------------
            base_proc, _ = start_baseline(tmp / "base-idle")
            app_proc, _, log = start_app(tmp / "app-idle", sim.base_url, env_key, binary=args.binary)
            desktop.wait_until(lambda: "tray shows live" in log.read_text(), 30, "the app to go live")
            time.sleep(5.0)  # the first snapshot, history writes and runway estimate settle
            procs = (base_proc.pid, app_proc.pid)
            cpu0 = [cpu_seconds(p) for p in procs]
            ctx0 = [context_switches(p) for p in procs]
            t0 = time.perf_counter()
            time.sleep(args.idle)
            cpu1 = [cpu_seconds(p) for p in procs]
            ctx1 = [context_switches(p) for p in procs]
            wall = time.perf_counter() - t0
            base_rss, app_rss = rss_mb(base_proc.pid), rss_mb(app_proc.pid)
            still_live = "tray shows live" in log.read_text() and app_proc.poll() is None
            stop(app_proc)
            stop(base_proc)
    finally:
        sim.stop()
        bus.stop()
        desktop.stop_process(display.proc)

    base_pct, app_pct = ((b - a) / wall * 100 for a, b in zip(cpu0, cpu1))
    base_wakes, app_wakes = ((b - a) / wall for a, b in zip(ctx0, ctx1))
    needed = 1 / args.ping + sum(1 / s for s in OWN_POLLS)
    start_ratio, rss_ratio = ratio(app_start, base_start), ratio(app_rss, base_rss)
    in_process = statistics.median(app_self) * 1000 if app_self else float("nan")
    what = f"the built app {args.binary}" if args.binary else f"python {sys.version.split()[0]}"
    print(f"vendo-tray startup benchmark ({what}, key from "
          f"{'a keyring' if args.keyring else 'VENDO_API_KEY'}, {args.runs} cold starts, "
          f"{wall:.0f} s idle, stream ping every {args.ping:g} s)")
    print(f"  RSS, live and idle      : {app_rss:7.1f} MB  (bare tray {base_rss:.1f} MB: {rss_ratio:.2f}x; "
          f"target <= {TARGET_RSS_RATIO}x: {verdict(rss_ratio <= TARGET_RSS_RATIO)})")
    print(f"  start to tray icon      : {app_start * 1000:7.0f} ms  (bare tray {base_start * 1000:.0f} ms: "
          f"{start_ratio:.2f}x; in-process {in_process:.0f} ms; "
          f"target <= {TARGET_START_RATIO}x: {verdict(start_ratio <= TARGET_START_RATIO)})")
    print(f"  idle CPU                : {app_pct:7.3f} %   (bare tray {base_pct:.3f} %; "
          f"target < {TARGET_IDLE_PCT} %: {verdict(app_pct < TARGET_IDLE_PCT)})")
    print(f"  idle wake-ups           : {app_wakes:7.2f} /s  (bare tray {base_wakes:.2f} /s; pings and own "
          f"polls need {needed:.2f} /s)")
    if not still_live:
        print("  WARNING: the app was not live for the whole idle window; figures are suspect")
    return 0


if __name__ == "__main__":
    sys.exit(main())
