"""Soak: does the tray app's memory or CPU creep while events keep coming?

``vendo-tray --demo`` runs its story at --speed (default 6×: a connect, a
re-auth, an error, balance low and out, a dropped stream, healing, looping),
with a real tray host and notification daemon on a private Xvfb and bus. RSS
and CPU time are sampled every --every seconds for --seconds.

Baseline, from the same run: the app's own RSS at the first sample, once it is
live; the figure that matters is the growth after that, and its ratio. A tray
app runs for weeks, so any steady growth here is a leak. The log is checked for
errors at the end.

Run: ``.venv/bin/python bench/bench_soak.py [--seconds 180] [--every 15] [--speed 6]``
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import desktop  # noqa: E402  (the tests' real-desktop helpers)

#: Growth over the run beyond which we call it a leak (not asserted; printed).
TARGET_GROWTH_MB = 5.0


def sample(pid: int) -> tuple[float, float]:
    """(RSS in MB, CPU seconds used so far) of ``pid``."""
    status = Path(f"/proc/{pid}/status").read_text()
    rss_kb = int(status.split("VmRSS:")[1].split()[0])
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return rss_kb / 1024, (int(fields[11]) + int(fields[12])) / ticks


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=180)
    parser.add_argument("--every", type=float, default=15)
    parser.add_argument("--speed", type=float, default=6)
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="vendo-soak-"))
    os.environ.update(HOME=str(home), XDG_RUNTIME_DIR=str(home), VENDO_TRAY_DEMO_SPEED=str(args.speed))
    os.environ.pop("QT_QPA_PLATFORM", None)
    display = desktop.start_xvfb("1024x600x24")
    bus = desktop.start_session_bus()
    os.environ.update(DISPLAY=display.name, DBUS_SESSION_BUS_ADDRESS=bus.address)
    log = home / "app.log"
    try:
        with desktop.trayer(), desktop.dunst(home):
            app = subprocess.Popen([sys.executable, "-m", "vendo_tray", "--demo"],
                                   stdout=log.open("wb"), stderr=subprocess.STDOUT)
            samples: list[tuple[float, float, float]] = []
            start = time.monotonic()
            while time.monotonic() - start < args.seconds:
                time.sleep(args.every)
                if app.poll() is not None:
                    print(f"bench_soak: the app exited early ({app.returncode})")
                    return 1
                samples.append((time.monotonic() - start, *sample(app.pid)))
            app.terminate()
            code = app.wait(15)
    finally:
        bus.stop()
        desktop.stop_process(display.proc)

    print(f"bench_soak: vendo-tray --demo at {args.speed:g}x for {args.seconds:.0f} s, "
          f"sampled every {args.every:.0f} s")
    for t, rss, cpu in samples:
        print(f"  t={t:5.0f} s  RSS {rss:6.1f} MB  CPU time {cpu:5.1f} s")
    (t0, rss0, cpu0), (t1, rss1, cpu1) = samples[0], samples[-1]
    growth = rss1 - rss0
    verdict = "no creep" if growth < TARGET_GROWTH_MB else "CREEPS"
    print(f"  RSS {rss0:.1f} -> {rss1:.1f} MB: growth {growth:+.1f} MB ({rss1 / rss0:.3f}x the first "
          f"sample; limit {TARGET_GROWTH_MB:g} MB): {verdict}")
    print(f"  CPU while the story plays: {100 * (cpu1 - cpu0) / (t1 - t0):.2f} % of one core")
    text = log.read_text(errors="replace")
    problems = [line for line in text.splitlines() if " ERROR " in line or "CRITICAL" in line]
    print(f"  log: {len(text.splitlines())} lines, {len(problems)} errors; exit code {code}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
