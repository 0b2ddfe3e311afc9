"""Benchmark core.store: inserts/s, window-open time at 100,000 rows, RSS growth.

Each figure is printed with a ratio against a baseline measured in the same
run (never against an absolute number from another machine) and against the
issue's target:

* inserts/s — baseline: a bare ``sqlite3`` executemany of the same rows
  (pre-serialized) into a minimal table in the same WAL/NORMAL settings; the
  ceiling of what any store on this machine can do.  Target ≥ 20,000/s.
* page open — ``Store.open`` + ``count()`` + the first page of 100, plus a deep
  page and a search; baseline: count + first page on the minimal table.
  Target: the window opens in < 300 ms (the store's share is printed).
* RSS growth — in a fresh process: open the 100,000-event store, count, read
  the first pages; baseline: the same 100,000 events held in a plain Python
  list (what a naive in-memory model would cost).  Target < 30 MB.

Run: ``.venv/bin/python bench/bench_store.py [--rows 100000]``
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from vendo_tray.core.kinds import VendoEvent, normalize
from vendo_tray.core.store import Store

TARGET_INSERTS = 20_000
TARGET_OPEN_MS = 300.0
TARGET_RSS_MB = 30.0
BURST = 500
SLUGS = [f"{name}" for name in ("gmail", "slack", "github", "notion", "linear", "stripe",
                                "hubspot", "drive", "calendar", "jira", "zendesk", "asana")]


def make_events(n: int, seed: int = 7) -> list[VendoEvent]:
    """Realistic live-wire events: mostly usage, some connection and balance changes."""
    rng = random.Random(seed)
    start = datetime.now(timezone.utc) - timedelta(days=7)
    out: list[VendoEvent] = []
    for i in range(n):
        at = start + timedelta(seconds=i * 5)
        base = {"id": f"evt_{i:08d}", "at": at.isoformat()}
        r = rng.random()
        if r < 0.6:
            wire, data = "billing.usage_recorded", {"provider": rng.choice(["openai", "anthropic"]),
                                                    "micros": rng.randrange(1, 50_000)}
        elif r < 0.8:
            slug = rng.choice(SLUGS)
            wire, data = "connection.status_changed", {
                "slug": slug, "connection_id": f"conn_{slug}",
                "status": rng.choice(["connected", "needs_reauth", "error", "available"])}
        elif r < 0.95:
            wire, data = "billing.balance_changed", {"remaining_micros": rng.randrange(0, 10**8)}
        else:
            wire, data = "billing.cap_warned", {"window": "daily", "pct": 80}
        data = {**base, "kind": wire, **data}
        out.append(normalize(wire, data, sse_id=str(i), received_at=at))
    return out


def rss_kib() -> int:
    """Current resident set size (Linux /proc; falls back to the peak elsewhere)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    import resource
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak // 1024 if sys.platform == "darwin" else peak


def bare_insert(path: Path, events: list[VendoEvent]) -> float:
    """The ceiling: pre-serialized rows, one executemany per burst, minimal table."""
    rows = [(e.key, e.kind.value, json.dumps(e.data), e.received_at.isoformat()) for e in events]
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("CREATE TABLE ev (id INTEGER PRIMARY KEY, key TEXT UNIQUE, kind TEXT, data TEXT, t TEXT)")
    t0 = time.perf_counter()
    for i in range(0, len(rows), BURST):
        conn.execute("BEGIN")
        conn.executemany("INSERT OR IGNORE INTO ev (key, kind, data, t) VALUES (?, ?, ?, ?)",
                         rows[i:i + BURST])
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - t0
    conn.close()
    return len(rows) / elapsed


def store_insert(path: Path, events: list[VendoEvent]) -> float:
    store = Store.open(path, max_events=len(events) * 2)
    t0 = time.perf_counter()
    for i in range(0, len(events), BURST):
        store.add_many(events[i:i + BURST], last_event_id=str(i))
    elapsed = time.perf_counter() - t0
    store.close()
    return len(events) / elapsed


def bare_open_ms(path: Path) -> float:
    t0 = time.perf_counter()
    conn = sqlite3.connect(path)
    conn.execute("SELECT count(*) FROM ev").fetchone()
    conn.execute("SELECT * FROM ev ORDER BY id DESC LIMIT 100").fetchall()
    ms = (time.perf_counter() - t0) * 1000
    conn.close()
    return ms


def timed_ms(fn) -> tuple[float, object]:
    t0 = time.perf_counter()
    value = fn()
    return (time.perf_counter() - t0) * 1000, value


def rss_child(mode: str, path: str, rows: int) -> None:
    """Runs in a fresh process; prints the RSS growth in KiB as JSON."""
    before = rss_kib()
    if mode == "store":
        store = Store.open(Path(path), max_events=rows * 2)
        total = store.count()
        shown = []
        for offset in range(0, 1_000, 100):      # what a window scrolled a little would read
            shown.extend(store.page(offset, 100))
        keep = (store, total, shown)
    else:
        keep = make_events(rows)
    after = rss_kib()
    print(json.dumps({"kib": after - before, "held": len(keep)}))


def measure_rss(mode: str, path: Path, rows: int) -> float:
    out = subprocess.run([sys.executable, __file__, "--rss-child", mode, str(path), "--rows", str(rows)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])["kib"] / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--rss-child", nargs=2, metavar=("MODE", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rss_child:
        rss_child(args.rss_child[0], args.rss_child[1], args.rows)
        return 0

    print(f"core.store benchmark, {args.rows:,} events, bursts of {BURST} (sqlite {sqlite3.sqlite_version})")
    events = make_events(args.rows)
    with tempfile.TemporaryDirectory() as tmp:
        bare_db, store_db = Path(tmp) / "bare.sqlite3", Path(tmp) / "store.sqlite3"
        ceiling = bare_insert(bare_db, events)
        rate = store_insert(store_db, events)
        print(f"inserts/s      store {rate:>10,.0f}   bare sqlite {ceiling:>10,.0f}   "
              f"ratio {rate / ceiling:5.2f} of ceiling   target {TARGET_INSERTS:,}: "
              f"{rate / TARGET_INSERTS:5.2f}x {'OK' if rate >= TARGET_INSERTS else 'MISSED'}")

        bare_ms = bare_open_ms(bare_db)
        open_ms, store = timed_ms(lambda: Store.open(store_db, max_events=args.rows * 2))
        count_ms, total = timed_ms(store.count)
        first_ms, _ = timed_ms(lambda: store.page(0, 100))
        page_open = open_ms + count_ms + first_ms
        print(f"page open      store {page_open:8.1f} ms (open {open_ms:.1f} + count {count_ms:.1f} + "
              f"first page {first_ms:.1f})   bare sqlite {bare_ms:6.1f} ms   ratio {page_open / bare_ms:5.1f}x   "
              f"target {TARGET_OPEN_MS:.0f} ms: {page_open / TARGET_OPEN_MS:4.2f} of budget "
              f"{'OK' if page_open < TARGET_OPEN_MS else 'MISSED'}   ({total:,} rows)")

        deep = args.rows // 2
        offset_ms, _ = timed_ms(lambda: store.page(deep, 100))
        next_ms, _ = timed_ms(lambda: store.page(deep + 100, 100))
        print(f"deep page      OFFSET {deep:,}: {offset_ms:6.1f} ms   next page by key: {next_ms:6.2f} ms   "
              f"ratio {offset_ms / max(next_ms, 1e-6):5.1f}x")
        search_ms, hits = timed_ms(lambda: store.count(text="needs re-auth"))
        action_ms, acts = timed_ms(lambda: store.count(needs_action=True))
        slug_ms, _ = timed_ms(lambda: store.page(0, 100, slug="gmail"))
        print(f"filters        text search count {search_ms:6.1f} ms ({hits:,} hits)   needs-action count "
              f"{action_ms:5.1f} ms ({acts:,})   slug first page {slug_ms:5.2f} ms   "
              f"vs first page {first_ms:5.2f} ms")
        store.close()

        store_mb = measure_rss("store", store_db, args.rows)
        list_mb = measure_rss("list", store_db, args.rows)
        print(f"RSS growth     store {store_mb:6.1f} MB   python list of the events {list_mb:6.1f} MB   "
              f"ratio {store_mb / list_mb:4.2f}   target {TARGET_RSS_MB:.0f} MB: "
              f"{store_mb / TARGET_RSS_MB:4.2f} of budget {'OK' if store_mb < TARGET_RSS_MB else 'MISSED'}")
        print(f"file size      {store_db.stat().st_size / 2**20:6.1f} MB for {total:,} events")
    return 0


if __name__ == "__main__":
    sys.exit(main())
