"""Benchmark: event → notification latency, and a 10,000-event burst.

The real pipeline runs on a qasync loop as in the app: the project's simulator
(HTTP/SSE on 127.0.0.1) → client → core.monitor (normalize, store, policy) →
ui.notifier → a recording notification server on a private D-Bus session bus.

* Latency over 1,000 events: a connection alternates between needs_reauth and
  connected (each a status_changed plus its legacy alias block), so every event
  is a notifier call (show, then withdraw).  Measured from just before the
  simulator publishes to (a) the notifier call and (b) the Notify call arriving
  at the D-Bus server.  The policy's clock is moved 3 s per event so its burst
  rule (meant for real storms) does not hold these spaced-out events back.
  Baselines from the same run: the same path for an event that notifies
  nothing (``billing.usage_recorded``: transport + decode + store), and the
  in-process cost of decoding + normalizing one frame.
* Burst: 10,000 distinct needs_reauth events published over one second (20,000
  frames with the aliases), real clock.  Printed: the largest event-loop lag (a
  10 ms probe timer's overshoot), popups shown (Notify calls on the bus), events
  recorded (store count).  Baseline lag: the same probe while the loop idles.

Targets (issue 4): p99 < 10 ms; lag < 100 ms; ≤ 3 popups; all 10,000 recorded.

Why the benchmark's waits sleep instead of spinning: every figure is a
timestamp taken where the thing happens (the listener's callbacks, the D-Bus
server's thread), so the waiter only has to wake up afterwards, and it must
not compete with what it measures.  An earlier version waited with
``while not done: await asyncio.sleep(0)``.  On qasync every ``sleep(0)`` is a
Qt zero timer (startTimer / timerEvent / killTimer), and PySide6 releases and
takes back the GIL on each of those calls.  A UI thread doing that in a tight
loop starves the other Python threads.  CPython's forced GIL hand-off
(switch interval, 5 ms) never fires, because the GIL keeps changing hands
(its switch counter keeps moving) while the waiting thread loses every race.
The in-process simulator's uvicorn thread needs the GIL for about a dozen
loop turns before it writes an event.  Measured with per-hop timestamps over
400 events, the whole qasync tail came before the simulator wrote any bytes
(simulator write p99 30 ms).  From the socket on, the client side took under
1 ms: QSocketNotifier → qasync reader callback → transport read → SSE decode
→ recorded.  A spinning qasync loop against a thread that needs 15
``sleep(0)`` turns delays it by p99 15 ms (max 32 ms), against 3.3 ms on
plain asyncio.  The app never spins its UI thread; it idles in Qt's poll
until the socket is readable.  So the benchmark now waits on the listener's
``changed`` event (and a worker thread for the D-Bus server's calls).  That
is the path the app really runs: on qasync, send → notifier call went from
p99 35-38 ms (spinning waiter) to 2.5-2.8 ms (1,000 events).

Run: ``.venv/bin/python bench/bench_notify.py [--events 1000] [--burst 10000] [--loop asyncio]``
(needs dbus-daemon; uses Qt's offscreen platform).  With PySide6 6.12.0 on
CPython 3.11 the qasync run may abort with "none_dealloc": PySide6 drops a
reference to None per timer callback (reproduced without any of our code);
``--loop asyncio`` measures the same pipeline without Qt.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import desktop  # noqa: E402  (tests/desktop.py: the private session bus)
from notify_server import NotificationServer  # noqa: E402

TARGET_P99_MS = 10.0
TARGET_LAG_MS = 100.0
TARGET_POPUPS = 3
KEY = "vendo_sk_bench_0123456789"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


class Listener:
    """The UI side of the monitor: forwards notices to the notifier, timing each call."""

    def __init__(self, notifier) -> None:
        self.notifier = notifier
        self.recorded = 0
        self.recorded_at: list[float] = []
        self.calls: list[float] = []
        self.changed = asyncio.Event()
        self.live = asyncio.Event()

    def state_changed(self, state) -> None:
        if state.phase.value == "live":
            self.live.set()

    def event_recorded(self, event) -> None:
        self.recorded_at.append(time.perf_counter())
        self.recorded += 1
        self.changed.set()

    def notice(self, item) -> None:
        from vendo_tray.core.notices import Withdraw

        self.calls.append(time.perf_counter())
        if isinstance(item, Withdraw):
            self.notifier.withdraw(item.subject)
        else:
            self.notifier.show(item)
        self.changed.set()


async def wait_until(predicate, changed: asyncio.Event, timeout: float = 10.0) -> None:
    """Sleep until ``predicate()`` holds, woken by ``changed`` (set by the listener).

    Never a busy-wait: a spinning qasync loop starves the simulator's thread of
    the GIL (see the module docstring).  The figures are timestamps taken in
    the callbacks, so when this waiter wakes does not change them.
    """
    try:
        async with asyncio.timeout(timeout):
            while True:
                changed.clear()
                if predicate():
                    return
                await changed.wait()
    except TimeoutError:
        raise TimeoutError("benchmark step timed out") from None


def decode_baseline(n: int) -> float:
    """µs per frame to decode one SSE frame and normalize it, in process (no I/O)."""
    from vendo_tray.client.sse import SSEDecoder
    from vendo_tray.core.kinds import normalize

    frames = []
    for i in range(n):
        data = {"id": f"evt_{i}", "at": "2026-01-01T00:00:00Z", "kind": "connection.status_changed",
                "slug": "slack", "connection_id": "conn_1", "status": "needs_reauth" if i % 2 else "connected"}
        frames.append(f"id: {i}\nevent: connection.status_changed\ndata: {json.dumps(data)}\n\n".encode())
    decoder = SSEDecoder()
    start = time.perf_counter()
    for frame in frames:
        for ev in decoder.feed(frame):
            normalize(ev.event, json.loads(ev.data), ev.id)
    return (time.perf_counter() - start) / n * 1e6


async def run(args: argparse.Namespace, server: NotificationServer, workdir: Path) -> dict:
    from vendo_tray.core.monitor import Monitor
    from vendo_tray.core.settings import Settings
    from vendo_tray.core.store import Store
    from vendo_tray.simulator import Simulator
    from vendo_tray.ui.notifier import Notifier

    offset = [0.0]
    clock = lambda: time.monotonic() + offset[0]  # noqa: E731
    results: dict = {}
    with Simulator(key=KEY, ping_interval=25.0) as sim:
        notifier = Notifier("Vendo Tray", None, on_action=lambda a: None)
        listener = Listener(notifier)
        store = Store.open(workdir / "history.sqlite3", max_events=100_000)
        monitor = Monitor(settings=Settings(base_url=sim.base_url), key=KEY, key_source="env",
                          store=store, clock=clock)
        monitor.add_listener(listener)
        task = asyncio.create_task(monitor.run())
        await asyncio.wait_for(listener.live.wait(), 15)
        await asyncio.sleep(0.5)   # let the reconciler's first snapshot land

        # --- baseline: an event that notifies nothing -------------------------------
        base: list[float] = []
        for i in range(args.events // 4):
            before = listener.recorded
            t0 = time.perf_counter()
            sim.emit("billing.usage_recorded", {"provider": "openai", "micros": 1000 + i})
            await wait_until(lambda: listener.recorded > before, listener.changed)
            base.append((listener.recorded_at[before] - t0) * 1000)

        # --- latency: every event a notifier call ------------------------------------
        to_call: list[float] = []
        to_bus: list[float] = []
        status = ["needs_reauth", "connected"]
        for i in range(args.events):
            offset[0] += 3.0
            calls_before = len(listener.calls)
            notify_before = len(server.calls)
            t0 = time.perf_counter()
            sim.set_connection_status("slack", status[i % 2])
            await wait_until(lambda: len(listener.calls) > calls_before, listener.changed)
            to_call.append((listener.calls[calls_before] - t0) * 1000)
            if i % 2 == 0:   # a show: wait for Notify on the bus
                # The server records its own arrival time; a worker thread blocks on it.
                await asyncio.to_thread(server.wait_calls, notify_before + 1, 10.0)
                to_bus.append((server.calls[notify_before].at - t0) * 1000)
        await notifier.flush()
        results["latency"] = {"base": base, "call": to_call, "bus": to_bus}

        # --- burst: 10,000 notifiable events in one second --------------------------
        await asyncio.sleep(2.5)             # let the burst window from above close
        lags: list[float] = []
        stop = asyncio.Event()

        async def probe(period: float = 0.01) -> None:
            while not stop.is_set():
                t = time.perf_counter()
                await asyncio.sleep(period)
                lags.append((time.perf_counter() - t - period) * 1000)

        probe_task = asyncio.create_task(probe())
        await asyncio.sleep(1.0)
        idle_lag = max(lags) if lags else 0.0
        lags.clear()
        notify_before = len(server.calls)
        recorded_before = store.count()

        def publish() -> None:
            start = time.perf_counter()
            for i in range(args.burst):
                due = start + i / args.burst          # spread evenly over one second
                delay = due - time.perf_counter()
                if delay > 0.002:
                    time.sleep(delay)
                sim.emit("connection.status_changed", {"slug": f"app-{i:05d}", "connection_id": f"c{i}",
                                                       "status": "needs_reauth"})

        publisher = threading.Thread(target=publish)
        t0 = time.perf_counter()
        publisher.start()
        await asyncio.to_thread(publisher.join)
        publish_s = time.perf_counter() - t0
        await wait_until(lambda: store.count() - recorded_before >= args.burst, listener.changed, timeout=60)
        drained_s = time.perf_counter() - t0
        # The policy flushes the burst once it settles (1 s) on its 1 s tick.
        await asyncio.sleep(3.5)
        await notifier.flush()
        stop.set()
        await probe_task
        results["burst"] = {
            "idle_lag": idle_lag, "lag": max(lags) if lags else 0.0,
            "popups": len(server.calls) - notify_before,
            "summaries": [c.summary for c in server.calls[notify_before:]],
            "recorded": store.count() - recorded_before, "publish_s": publish_s, "drained_s": drained_s,
        }
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
        await monitor.aclose()
        await notifier.aclose()
    return results


def report(res: dict, decode_us: float, args: argparse.Namespace) -> None:
    lat = res["latency"]
    b50, b99 = pct(lat["base"], 50), pct(lat["base"], 99)
    c50, c99 = pct(lat["call"], 50), pct(lat["call"], 99)
    d50, d99 = pct(lat["bus"], 50), pct(lat["bus"], 99)
    print(f"\nEvent → notification latency over {len(lat['call'])} events (ms)")
    print(f"  {'path':<46}{'p50':>8}{'p99':>8}{'max':>8}{'p50 ×base':>11}")
    print(f"  {'baseline: decode only, in process':<46}{decode_us / 1000:>8.3f}{'':>8}{'':>8}")
    print(f"  {'baseline: send → recorded (no notice)':<46}{b50:>8.2f}{b99:>8.2f}{max(lat['base']):>8.2f}"
          f"{1.0:>10.2f}×")
    print(f"  {'send → notifier call':<46}{c50:>8.2f}{c99:>8.2f}{max(lat['call']):>8.2f}{c50 / b50:>10.2f}×")
    print(f"  {'send → Notify received on D-Bus':<46}{d50:>8.2f}{d99:>8.2f}{max(lat['bus']):>8.2f}"
          f"{d50 / b50:>10.2f}×")
    print(f"  target p99 < {TARGET_P99_MS:g} ms (notifier call): "
          f"{'MET' if c99 < TARGET_P99_MS else 'MISSED'} ({c99 / TARGET_P99_MS:.2f}× of target)")

    burst = res["burst"]
    print(f"\nBurst: {args.burst:,} needs_reauth events (+ aliases) published in {burst['publish_s']:.2f} s, "
          f"all stored after {burst['drained_s']:.2f} s")
    print(f"  largest event-loop lag: {burst['lag']:.1f} ms (idle baseline {burst['idle_lag']:.1f} ms, "
          f"{burst['lag'] / max(burst['idle_lag'], 0.1):.1f}×) — target < {TARGET_LAG_MS:g} ms: "
          f"{'MET' if burst['lag'] < TARGET_LAG_MS else 'MISSED'}")
    print(f"  popups shown (Notify calls): {burst['popups']} — target ≤ {TARGET_POPUPS}: "
          f"{'MET' if burst['popups'] <= TARGET_POPUPS else 'MISSED'}")
    for s in burst["summaries"]:
        print(f"    · {s}")
    print(f"  events recorded: {burst['recorded']:,} / {args.burst:,} — target all: "
          f"{'MET' if burst['recorded'] >= args.burst else 'MISSED'}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--burst", type=int, default=10_000)
    parser.add_argument("--loop", choices=("qasync", "asyncio"), default="qasync",
                        help="qasync (as the app runs) or a plain asyncio loop")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    bus = desktop.start_session_bus()
    os.environ["DBUS_SESSION_BUS_ADDRESS"] = bus.address
    try:
        with NotificationServer(bus.address) as server, tempfile.TemporaryDirectory() as tmp:
            if args.loop == "qasync":
                from PySide6.QtWidgets import QApplication

                from vendo_tray.ui.qloop import QEventLoop

                app = QApplication.instance() or QApplication(sys.argv[:1])
                loop = QEventLoop(app)  # the app's qasync loop
            else:
                loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            decode_us = decode_baseline(args.events)
            try:
                res = loop.run_until_complete(run(args, server, Path(tmp)))
            finally:
                loop.close()
            print(f"loop: {args.loop}")
            report(res, decode_us, args)
    finally:
        bus.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
