"""Benchmark the main window over a large history: open time, scrolling, RSS growth.

What is measured, each in a fresh process (so one scenario's caches and
allocations cannot flatter the next):

* open — ``MainWindow(...)`` constructed, shown, and the events table's first
  paint finished (the user sees rows).  Target < 300 ms with 100,000 events.
* jumps — the table scrolled to the very end, then to 50 random places, each
  followed by a paint: what dragging the scrollbar costs.  Printed as the mean
  and the worst jump.
* filters — the kind filter, then a free-text search on top, each with a paint
  (the search runs after a 250 ms typing pause in the app; that pause is not
  included).
* RSS growth — resident memory after the first paint (and again after all the
  jumps) minus before the window was built.  Target < 30 MB.

The baseline, measured in the same run with the same code, is the same window
over an EMPTY store: the ratios say what 100,000 events add on top of Qt
building and painting the window at all.

Run: ``.venv/bin/python bench/bench_window.py [--rows 100000]``
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from bench_store import make_events, rss_kib

TARGET_OPEN_MS = 300.0
TARGET_RSS_MB = 30.0
JUMPS = 50


def fill(path: Path, rows: int) -> float:
    """Store ``rows`` realistic events at ``path``; returns seconds taken."""
    from vendo_tray.core.store import Store

    events = make_events(rows)
    started = time.perf_counter()
    with Store.open(path, max_events=rows + 1) as store:
        for i in range(0, rows, 1000):
            store.add_many(events[i:i + 1000])
        assert store.count() == rows, store.count()
    return time.perf_counter() - started


def _child(db: Path, settings_dir: Path) -> dict[str, float]:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QEvent, QObject, QSettings
    from PySide6.QtWidgets import QApplication

    from vendo_tray.client import Balance, Connection, SpendCaps
    from vendo_tray.core.links import Links
    from vendo_tray.core.state import AppState, Phase, Snapshot
    from vendo_tray.core.store import Store
    from vendo_tray.ui.window import MainWindow

    app = QApplication([])

    @dataclass
    class Source:
        store: Store
        state: AppState
        links: Links

    class PaintWatch(QObject):
        def __init__(self) -> None:
            super().__init__()
            self.painted = False

        def eventFilter(self, _obj: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt override
            if event.type() == QEvent.Type.Paint:
                self.painted = True
            return False

    def wait_for_paint(watch: PaintWatch, limit: float = 10.0) -> None:
        watch.painted = False
        deadline = time.perf_counter() + limit
        while not watch.painted:
            app.processEvents()
            if time.perf_counter() > deadline:
                raise RuntimeError("the table never painted")

    store = Store.open(db, max_events=1_000_000)
    slugs = ("gmail", "slack", "github", "notion", "linear", "stripe", "hubspot", "drive")
    snapshot = Snapshot(
        connections=tuple(Connection(id=f"conn_{s}", slug=s, display_name=s.capitalize(),
                                     status="connected", brand_color="#336699") for s in slugs),
        balance=Balance(credits_remaining_micros=7_860_000, top_up_url="https://vendo.run/billing"),
        caps=SpendCaps(daily_micros=5_000_000, monthly_micros=100_000_000,
                       used_today_micros=1_200_000, used_month_micros=43_000_000),
        taken_at=datetime.now(timezone.utc),
    )
    source = Source(store, AppState(phase=Phase.LIVE, snapshot=snapshot), Links("https://vendo.run"))
    settings = QSettings(str(settings_dir / "window.ini"), QSettings.Format.IniFormat)
    app.processEvents()

    rss_before = rss_kib()
    started = time.perf_counter()
    window = MainWindow(source, window_settings=settings)
    watch = PaintWatch()
    window.events_view.viewport().installEventFilter(watch)
    window.show()
    wait_for_paint(watch)
    open_ms = (time.perf_counter() - started) * 1000
    rss_open = rss_kib()

    view = window.events_view
    rows = window.events_model.rowCount()
    rng = random.Random(3)
    jump_ms: list[float] = []
    targets = [rows - 1] + [rng.randrange(rows) for _ in range(JUMPS)] if rows else []
    for row in targets:
        t0 = time.perf_counter()
        view.scrollTo(window.events_model.index(row, 0))
        view.viewport().update()
        wait_for_paint(watch)
        jump_ms.append((time.perf_counter() - t0) * 1000)
    rss_scrolled = rss_kib()

    def filtered_ms(apply) -> float:  # noqa: ANN001
        t0 = time.perf_counter()
        apply()
        view.viewport().update()
        wait_for_paint(watch)
        return (time.perf_counter() - t0) * 1000

    kind_ms = filtered_ms(lambda: window.kind_combo.setCurrentIndex(window.kind_combo.findData("connection")))
    window.search_edit.setText("needs_reauth")
    search_ms = filtered_ms(window.search_edit.returnPressed.emit)
    window.close()
    store.close()
    return {
        "rows": rows,
        "open_ms": open_ms,
        "jump_mean_ms": sum(jump_ms) / len(jump_ms) if jump_ms else 0.0,
        "jump_max_ms": max(jump_ms) if jump_ms else 0.0,
        "rss_open_mb": (rss_open - rss_before) / 1024,
        "rss_scrolled_mb": (rss_scrolled - rss_before) / 1024,
        "kind_filter_ms": kind_ms,
        "search_ms": search_ms,
    }


def run_child(db: Path, work: Path) -> dict[str, float]:
    env = {**os.environ, "QT_QPA_PLATFORM": os.environ.get("BENCH_QPA", "offscreen")}
    out = subprocess.run([sys.executable, __file__, "--child", str(db), "--work", str(work)],
                         check=True, capture_output=True, text=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def ratio(value: float, base: float) -> str:
    return f"{value / base:6.2f}x" if base > 0 else "   n/a "


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_child(args.child, args.work)))
        return 0

    with tempfile.TemporaryDirectory(prefix="bench-window-") as tmp:
        work = Path(tmp)
        empty, full = work / "empty.sqlite3", work / "full.sqlite3"
        fill(empty, 0)
        seconds = fill(full, args.rows)
        print(f"filled a store with {args.rows:,} events in {seconds:.1f} s")
        base = run_child(empty, work)
        big = run_child(full, work)

    print()
    print(f"{'figure':34} {'empty store':>12} {f'{args.rows:,} events':>15} {'ratio':>8}   target")
    print(f"{'open (construct + first paint)':34} {base['open_ms']:10.1f}ms {big['open_ms']:13.1f}ms "
          f"{ratio(big['open_ms'], base['open_ms'])}   < {TARGET_OPEN_MS:.0f} ms: "
          f"{'PASS' if big['open_ms'] < TARGET_OPEN_MS else 'FAIL'}")
    print(f"{'RSS growth at first paint':34} {base['rss_open_mb']:10.1f}MB {big['rss_open_mb']:13.1f}MB "
          f"{ratio(big['rss_open_mb'], base['rss_open_mb'])}   < {TARGET_RSS_MB:.0f} MB: "
          f"{'PASS' if big['rss_open_mb'] < TARGET_RSS_MB else 'FAIL'}")
    print(f"{'RSS growth after 51 jumps':34} {base['rss_scrolled_mb']:10.1f}MB "
          f"{big['rss_scrolled_mb']:13.1f}MB {ratio(big['rss_scrolled_mb'], base['rss_scrolled_mb'])}   "
          f"< {TARGET_RSS_MB:.0f} MB: {'PASS' if big['rss_scrolled_mb'] < TARGET_RSS_MB else 'FAIL'}")
    print(f"{'scrollbar jump + paint, mean':34} {'—':>12} {big['jump_mean_ms']:13.1f}ms")
    print(f"{'scrollbar jump + paint, worst':34} {'—':>12} {big['jump_max_ms']:13.1f}ms")
    print(f"{'kind filter (connections) + paint':34} {base['kind_filter_ms']:10.1f}ms "
          f"{big['kind_filter_ms']:13.1f}ms {ratio(big['kind_filter_ms'], base['kind_filter_ms'])}")
    print(f"{'search + kind filter + paint':34} {base['search_ms']:10.1f}ms "
          f"{big['search_ms']:13.1f}ms {ratio(big['search_ms'], base['search_ms'])}")
    print(f"(growth with {args.rows:,} events beyond the empty window: "
          f"{big['rss_open_mb'] - base['rss_open_mb']:+.1f} MB, "
          f"{big['open_ms'] - base['open_ms']:+.1f} ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
