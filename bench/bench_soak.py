"""Soak: does the tray app's memory or CPU creep while events keep coming?

``vendo-tray --demo`` plays its story (a connect, usage, a re-auth, an error,
balance low and out, a stream cut mid-frame and resumed, healing; about 46 s a
round, looping) at --speed, with a real tray host and notification daemon on a
private Xvfb and bus.  By default it plays --story-hours 8 of that story: at
24x that is 20 minutes of wall time, about 626 rounds and 7,500 events, every
round a dropped stream, a reconnect and a catch-up.  RSS and CPU time are
sampled every --every seconds.

Baseline, from the same run: the app's own RSS at the first sample after
--warmup seconds (caches, the policy's bounded memories and SQLite's page
cache fill first).  The figure that matters is the growth after that, and its
trend (a least-squares slope over the samples after warm-up).  A tray app runs
for weeks, so any steady growth here is a leak.  The log is checked for errors.

Run: ``.venv/bin/python bench/bench_soak.py [--story-hours 8] [--speed 24] [--every 30] [--warmup 120]``
(``--seconds`` instead of ``--story-hours`` sets the wall time directly).
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


def slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of ``(x, y)`` points (0 for fewer than two)."""
    if len(points) < 2:
        return 0.0
    mx = sum(x for x, _ in points) / len(points)
    my = sum(y for _, y in points) / len(points)
    var = sum((x - mx) ** 2 for x, _ in points)
    return sum((x - mx) * (y - my) for x, y in points) / var if var else 0.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--story-hours", type=float, default=8.0, help="hours of the demo story to play")
    parser.add_argument("--seconds", type=float, default=None, help="wall time instead of --story-hours")
    parser.add_argument("--every", type=float, default=30)
    parser.add_argument("--speed", type=float, default=24)
    parser.add_argument("--warmup", type=float, default=120, help="wall seconds before the baseline sample")
    args = parser.parse_args()
    seconds = args.seconds if args.seconds is not None else args.story_hours * 3600 / args.speed

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
            while time.monotonic() - start < seconds:
                time.sleep(min(args.every, max(0.0, seconds - (time.monotonic() - start))))
                if app.poll() is not None:
                    print(f"bench_soak: the app exited early ({app.returncode})")
                    return 1
                samples.append((time.monotonic() - start, *sample(app.pid)))
            app.terminate()
            code = app.wait(15)
    finally:
        bus.stop()
        desktop.stop_process(display.proc)

    text = log.read_text(errors="replace")
    rounds = text.count("scenario demo: balance topped up")
    events = text.count("vendo_tray.simulator.server: event ")
    story_hours = (samples[-1][0] * args.speed) / 3600 if samples else 0.0
    print(f"bench_soak: vendo-tray --demo at {args.speed:g}x for {seconds:.0f} s ({story_hours:.1f} h of the "
          f"story: {rounds} rounds, {events} events sent), sampled every {args.every:.0f} s")
    for t, rss, cpu in samples:
        print(f"  t={t:5.0f} s  RSS {rss:6.1f} MB  CPU time {cpu:6.1f} s")
    settled = [s for s in samples if s[0] >= args.warmup] or samples[-1:]
    (t0, rss0, cpu0), (t1, rss1, cpu1) = settled[0], samples[-1]
    growth = rss1 - rss0
    trend = slope([(t * args.speed / 3600, rss) for t, rss, _ in settled])
    verdict = "no creep" if growth < TARGET_GROWTH_MB else "CREEPS"
    print(f"  RSS after warm-up (t={t0:.0f} s) {rss0:.1f} -> {rss1:.1f} MB at the end: growth {growth:+.1f} MB "
          f"(limit {TARGET_GROWTH_MB:g} MB): {verdict}; trend {trend:+.2f} MB per story hour; "
          f"highest {max(s[1] for s in samples):.1f} MB")
    print(f"  CPU while the story plays: {100 * (cpu1 - cpu0) / (t1 - t0) if t1 > t0 else 0:.2f} % of one core")
    problems = [line for line in text.splitlines() if " ERROR " in line or "CRITICAL" in line]
    print(f"  log: {len(text.splitlines())} lines, {len(problems)} errors; exit code {code}")
    for line in problems[:5]:
        print(f"    {line[:200]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
