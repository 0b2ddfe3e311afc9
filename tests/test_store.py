"""core.store: dedupe, exact round trip, retention, resume id, damaged files, paging and filters."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from vendo_tray.core.kinds import Kind, VendoEvent, normalize
from vendo_tray.core.store import MAX_RAW_CHARS, Store, StoreReadOnly, escape_like

NOW = datetime.now(timezone.utc).replace(microsecond=123456)


def status_event(n: int, slug: str, status: str, *, received: datetime | None = None) -> VendoEvent:
    return normalize(
        "connection.status_changed",
        {"id": f"evt_{n}", "at": "2026-05-09T11:59:00.5+02:00", "kind": "connection.status_changed",
         "slug": slug, "connection_id": f"conn_{slug}", "status": status},
        sse_id=str(n), received_at=received or NOW,
    )


def balance_event(n: int, micros: int, *, received: datetime | None = None) -> VendoEvent:
    return normalize("billing.balance_changed", {"id": f"evt_{n}", "remaining_micros": micros},
                     sse_id=str(n), received_at=received or NOW)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "data" / "history.sqlite3"


@pytest.fixture
def store(db: Path):
    s = Store.open(db, max_events=1_000_000)
    yield s
    s.close()


def assert_same(a: VendoEvent, b: VendoEvent) -> None:
    assert a == b
    assert a.data == b.data
    # Equality of aware datetimes ignores the offset; the round trip keeps it too.
    assert a.received_at.utcoffset() == b.received_at.utcoffset()
    assert (a.at.utcoffset() if a.at else None) == (b.at.utcoffset() if b.at else None)


def test_round_trip_is_exact_for_every_field(store: Store) -> None:
    class Odd:
        def __repr__(self) -> str:
            return "Odd(\u00e9\ud800)"

    events = [
        status_event(1, "gmail", "needs_reauth"),
        normalize("connection.error", {"slug": "slack", "message": "token expired"}, sse_id="2",
                  received_at=datetime(2026, 5, 9, 8, 0, tzinfo=timezone(timedelta(hours=-7)))),
        normalize("billing.cap_warned", {"id": "evt_3", "window": "daily", "pct": 80.5}, received_at=NOW),
        normalize("billing.usage_recorded", {"id": "evt_4", "provider": "openai", "micros": 1234},
                  received_at=NOW),
        normalize("mystery.kind", "not json at all", received_at=NOW),       # key None, str data
        normalize("mystery.kind", [1, "two", None, 3.5, {"n": "\u2603"}], received_at=NOW),
        VendoEvent(kind=Kind.UNKNOWN, wire_kind="x", key="evt_7", received_at=NOW, data={1, 2}),
        VendoEvent(kind=Kind.UNKNOWN, wire_kind="x", key="evt_8", received_at=NOW, data=Odd()),
        VendoEvent(kind=Kind.BALANCE, wire_kind="billing.balance_changed", key="evt_9",
                   received_at=datetime(2026, 5, 9, 12, 0)),                 # naive stays naive
    ]
    assert store.add_many(events) == [True] * len(events)
    stored = list(reversed(store.page(0, 100)))
    assert len(stored) == len(events)
    for original, back in zip(events[:6], stored[:6]):
        assert_same(original, back)
    # Not JSON-serializable data comes back as its (ASCII-safe) repr.
    assert stored[6].data == repr({1, 2})
    assert stored[7].data == ascii(Odd()) and "\\ud800" in stored[7].data
    assert stored[8].received_at == datetime(2026, 5, 9, 12, 0) and stored[8].received_at.tzinfo is None
    assert store.get("evt_1") == events[0] and store.get("evt_1").data == events[0].data


def test_dedupe_on_key_and_none_keys_always_stored(store: Store) -> None:
    first = status_event(1, "gmail", "needs_reauth")
    alias = normalize("connection_updated", first.data, sse_id="2", received_at=NOW)  # same data.id
    assert alias.key == first.key
    assert store.add(first) is True
    assert store.add(alias) is False
    keyless = normalize("mystery", "x", received_at=NOW)
    assert store.add(keyless) is True and store.add(keyless) is True
    assert store.add_many([status_event(3, "a", "connected"), status_event(3, "a", "connected"),
                           first, status_event(4, "b", "error")]) == [True, False, False, True]
    assert store.count() == 5


def test_resume_id_persists_across_reopen_and_commits_with_the_event(db: Path) -> None:
    with Store.open(db) as s:
        assert s.last_event_id() is None
        s.set_last_event_id("41")
        assert s.last_event_id() == "41"
        s.add(status_event(42, "gmail", "connected"), last_event_id="42")
    with Store.open(db) as s:
        assert s.last_event_id() == "42"
        assert s.get("evt_42") is not None



def test_resume_id_is_kept_exactly_whatever_the_spec_allows(db: Path) -> None:
    # Leading/trailing spaces, tabs, non-ASCII, control characters: the server matches what it issued.
    odd = " évt\t1\x01 "
    with Store.open(db) as s:
        s.add(status_event(1, "gmail", "connected"), last_event_id=odd)
    with Store.open(db) as s:
        assert s.last_event_id() == odd


def test_a_resume_id_that_cannot_be_kept_never_costs_the_event(db: Path,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    with Store.open(db) as s:
        s.set_last_event_id("41")
        for n, junk in enumerate(("lone \ud800 surrogate", "x" * (MAX_RAW_CHARS + 1), b"bytes"), start=42):
            assert s.add(status_event(n, "gmail", "connected"), last_event_id=junk)  # type: ignore[arg-type]
            s.set_last_event_id(junk)  # type: ignore[arg-type]
        assert s.last_event_id() == "41" and s.count() == 3
    assert sum("resume id" in r.getMessage() for r in caplog.records) == 6


@pytest.mark.parametrize("junk", [b"evt_7", b"\xff\xfe"])  # TEXT affinity turns numbers into text
def test_a_stored_resume_id_that_is_not_text_is_no_resume_point(db: Path, junk: object,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    with Store.open(db) as s:
        s.set_last_event_id("41")
    with sqlite3.connect(db) as conn:  # someone else's hand on the file
        conn.execute("UPDATE meta SET value = ? WHERE name = 'last_event_id'", (junk,))
    with Store.open(db) as s:
        assert s.last_event_id() is None
    assert any("not text" in r.getMessage() for r in caplog.records)

def test_mutes_persist_across_reopen_per_app(db: Path) -> None:
    later = datetime.now(timezone.utc) + timedelta(hours=1)
    with Store.open(db) as s:
        s.set_mute("default", "slack", later)
        s.set_mute("default", "github", None)              # until unmuted
        s.set_mute("staging", "slack", None)               # another app's slack is another connection
        s.set_mute("default", "notion", later)
        s.clear_mute("default", "notion")
        s.clear_mute("default", "never-muted")             # harmless
    with Store.open(db) as s:
        assert s.mutes("default") == {"slack": later, "github": None}
        assert s.mutes("staging") == {"slack": None}
        assert s.mutes("prod") == {}
        s.set_mute("default", "slack", None)               # a new choice replaces the old one
        assert s.mutes("default")["slack"] is None


def test_ended_mutes_are_forgotten_by_prune(db: Path) -> None:
    now = datetime.now(timezone.utc)
    with Store.open(db) as s:
        s.set_mute("default", "slack", now - timedelta(minutes=1))
        s.set_mute("default", "github", now + timedelta(days=1))
        s.set_mute("default", "notion", None)
        assert set(s.mutes("default")) == {"slack", "github", "notion"}  # reported as stored
        s.prune()
        assert set(s.mutes("default")) == {"github", "notion"}


def test_a_history_from_before_mutes_is_upgraded_and_keeps_everything(db: Path) -> None:
    with Store.open(db) as s:
        s.add(status_event(1, "gmail", "connected"), last_event_id="1")
    with sqlite3.connect(db) as conn:  # what version 1 wrote: no mutes table
        conn.execute("DROP TABLE mutes")
        conn.execute("PRAGMA user_version = 1")
    with Store.open(db) as s:
        assert s.recovered_from is None and s.problem is None
        assert s.count() == 1 and s.last_event_id() == "1"
        s.set_mute("default", "gmail", None)
    with Store.open(db) as s:
        assert s.mutes("default") == {"gmail": None}


def test_a_stored_mute_that_cannot_be_read_is_ignored(db: Path, caplog: pytest.LogCaptureFixture) -> None:
    with Store.open(db) as s:
        s.set_mute("default", "slack", None)
    with sqlite3.connect(db) as conn:  # someone else's hand on the file
        conn.execute("INSERT INTO mutes VALUES ('default', 'github', 'soon')")
        conn.execute("INSERT INTO mutes VALUES ('default', 'notion', ?)", (2**62,))
    with Store.open(db) as s:
        assert s.mutes("default") == {"slack": None}
    assert sum("stored mute cannot be read" in r.getMessage() for r in caplog.records) == 2


def test_retention_by_count_keeps_the_newest(db: Path) -> None:
    with Store.open(db, max_events=10) as s:
        s.add_many(status_event(n, f"s{n}", "connected") for n in range(25))
        assert s.prune() == 15
        assert s.count() == 10
        assert [e.key for e in s.page(0, 3)] == ["evt_24", "evt_23", "evt_22"]
        assert s.get("evt_14") is None and s.get("evt_15") is not None


def test_retention_by_age_runs_at_open(db: Path) -> None:
    now = datetime.now(timezone.utc)
    with Store.open(db, retention_days=30) as s:
        s.add(status_event(1, "old", "connected", received=now - timedelta(days=31)))
        s.add(status_event(2, "new", "connected", received=now - timedelta(days=29)))
        assert s.count() == 2  # pruning only at open, every 1,000 inserts, or on request
    with Store.open(db, retention_days=30) as s:
        assert [e.key for e in s.page(0, 10)] == ["evt_2"]


def test_automatic_prune_during_bursts(db: Path) -> None:
    with Store.open(db, max_events=500) as s:
        for start in range(0, 3_000, 250):
            s.add_many(status_event(n, "s", "connected") for n in range(start, start + 250))
        assert s.count() <= 1_000  # pruned at least every 1,000 inserts
        s.prune()
        assert s.count() == 500


def test_garbage_file_is_moved_aside_and_history_starts_fresh(db: Path, caplog) -> None:
    db.parent.mkdir(parents=True)
    garbage = b"this is not sqlite \x00\xff" * 500
    db.write_bytes(garbage)
    with Store.open(db) as s:
        assert s.recovered_from is not None
        assert s.recovered_from.name.startswith(db.name + ".corrupt-")
        assert s.recovered_from.read_bytes() == garbage
        assert s.problem and s.recovered_from.name in s.problem
        assert s.add(status_event(1, "gmail", "connected")) is True
        assert s.count() == 1
    assert "moved it aside" in caplog.text
    with Store.open(db) as s:  # the fresh file is healthy: no second recovery
        assert s.recovered_from is None and s.count() == 1


def test_damaged_pages_are_detected_at_open(db: Path) -> None:
    with Store.open(db, max_events=100_000) as s:
        s.add_many(status_event(n, f"slug{n % 50}", "connected") for n in range(3_000))
    size = db.stat().st_size
    with db.open("r+b") as f:  # keep the header valid, wreck the pages after it
        f.seek(4096)
        f.write(b"\xde\xad\xbe\xef" * ((size - 8192) // 4))
    with Store.open(db) as s:
        assert s.recovered_from is not None
        assert s.count() == 0
        assert s.add(status_event(1, "gmail", "connected")) is True



def wreck_page(db: Path, name: str, pagetype: str) -> int:
    """Overwrite one real page of ``name`` (as SQLite's dbstat lists it) with junk; return its number."""
    conn = sqlite3.connect(db)
    try:
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        pages = [r[0] for r in conn.execute(
            "SELECT pageno FROM dbstat WHERE name = ? AND pagetype = ? ORDER BY pageno", (name, pagetype))]
    finally:
        conn.close()
    assert len(pages) >= 2, f"{name} has too few {pagetype} pages to damage one in the middle"
    page = pages[len(pages) // 2]
    with db.open("r+b") as f:
        f.seek((page - 1) * page_size)
        f.write(b"\xde\xad\xbe\xef" * (page_size // 4))
    return page


def three_hundred_events(db: Path) -> list[VendoEvent]:
    events = [status_event(n, f"slug{n % 7}", "connected") for n in range(1, 301)]
    with Store.open(db) as s:
        s.add_many(events, last_event_id="evt 300 ✓")
    return events


def test_a_damaged_index_page_is_repaired_and_nothing_is_lost(db: Path, caplog) -> None:
    events = three_hundred_events(db)
    wreck_page(db, "events_received", "leaf")
    with Store.open(db) as s:
        assert s.count() == 300
        assert [e.key for e in s.recent(NOW - timedelta(hours=1))] == [e.key for e in events]
        assert s.last_event_id() == "evt 300 ✓"                    # resumes where it was
        assert s.recovered_from is not None and s.recovered_from.exists()
        assert s.problem and "repaired" in s.problem and s.recovered_from.name in s.problem
        assert s.add(status_event(301, "gmail", "connected")) is True
    with Store.open(db, read_only=True) as reader:                  # `events --since` sees it all
        assert len(reader.recent(NOW - timedelta(hours=1))) == 301 and reader.problem is None
    assert "repaired" in caplog.text
    damaged = sqlite3.connect(s.recovered_from)                     # kept aside as it was
    try:
        assert damaged.execute("PRAGMA quick_check(1)").fetchone()[0] != "ok"
    finally:
        damaged.close()


def test_a_damaged_table_page_keeps_every_readable_row_the_resume_id_and_the_mutes(db: Path, caplog) -> None:
    events = three_hundred_events(db)
    with Store.open(db) as s:
        s.set_mute("default", "slack", None)
    wreck_page(db, "events", "leaf")
    with Store.open(db) as s:
        kept = {e.key: e for e in s.page(0, 1000)}
        assert s.last_event_id() == "evt 300 ✓"
        assert s.mutes("default") == {"slack": None}
        assert s.recovered_from is not None and s.problem and "readable events" in s.problem
        assert s.add(status_event(301, "gmail", "connected")) is True
    # One leaf page holds a few dozen rows: those are gone, every other row is kept exactly.
    assert 200 < len(kept) < 300
    for event in events:
        if event.key in kept:
            assert_same(kept[event.key], event)
    lost = sorted(int(e.key.split("_")[1]) for e in events if e.key not in kept)
    assert lost == list(range(lost[0], lost[-1] + 1))               # one contiguous stretch
    assert "copied into a fresh file" in caplog.text


def test_a_reader_of_a_damaged_history_sees_every_readable_row_and_changes_nothing(db: Path) -> None:
    # `vendo-tray events --since` while the app is not running: it must not repair, only read.
    events = three_hundred_events(db)
    wreck_page(db, "events", "leaf")
    before = db.read_bytes()
    with Store.open(db, read_only=True) as reader:
        shown = reader.recent(NOW - timedelta(hours=1))
        assert 200 < len(shown) < 300 and reader.last_event_id() == "evt 300 ✓"
        assert reader.problem and "damaged" in reader.problem and str(len(shown)) in reader.problem
    assert {e.key for e in shown} <= {e.key for e in events}
    assert db.read_bytes() == before and not list(db.parent.glob("*.corrupt-*"))

def test_foreign_sqlite_file_is_not_written_into(db: Path) -> None:
    db.parent.mkdir(parents=True)
    other = sqlite3.connect(db)
    other.execute("CREATE TABLE photos (id INTEGER)")
    other.commit()
    other.close()
    with Store.open(db) as s:
        assert s.recovered_from is not None
        assert s.add(status_event(1, "gmail", "connected")) is True
    check = sqlite3.connect(s.recovered_from)
    assert [r[0] for r in check.execute("SELECT name FROM sqlite_master")] == ["photos"]
    check.close()


def test_locked_database_is_moved_aside_with_its_companions(db: Path) -> None:
    with Store.open(db) as s:
        s.add(status_event(1, "gmail", "connected"))
    locker = sqlite3.connect(db, isolation_level=None)
    locker.execute("PRAGMA locking_mode = EXCLUSIVE")
    locker.execute("BEGIN EXCLUSIVE")
    locker.execute("INSERT INTO meta VALUES ('x', 'y')")
    try:
        with Store.open(db, busy_timeout=0.1) as s:
            assert s.recovered_from is not None
            assert s.count() == 0
            assert s.add(status_event(2, "slack", "connected")) is True
            assert s.count() == 1
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    # The locked file kept its event under its new name.
    with Store.open(s.recovered_from, read_only=True) as old:
        assert [e.key for e in old.page(0, 10)] == ["evt_1"]


def test_write_refused_at_runtime_still_delivers_and_dedupes_in_memory(db: Path, caplog) -> None:
    with Store.open(db, busy_timeout=0.05) as s:
        blocker = sqlite3.connect(db, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")  # holds the write lock
        try:
            e = status_event(1, "gmail", "needs_reauth")
            assert s.add(e) is True           # not saved, but delivered
            assert s.add(e) is False          # and still not delivered twice
            assert s.problem is not None
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        assert "not saved but still delivered" in caplog.text
        assert s.add(status_event(2, "slack", "connected")) is True
        assert s.count() == 1


def test_paging_filters_and_search(store: Store) -> None:
    events = []
    for n in range(300):
        if n % 3 == 0:
            events.append(status_event(n, f"slug_{n % 4}", "needs_reauth" if n % 9 == 0 else "connected"))
        elif n % 3 == 1:
            events.append(balance_event(n, n * 1000))
        else:
            events.append(normalize("connection.error", {"id": f"evt_{n}", "slug": "weird%name",
                                                         "message": f"boom {n}"}, received_at=NOW))
    events.append(status_event(1000, "gmail", "revoked"))
    store.add_many(events)
    assert store.count() == 301
    assert store.count(groups=["billing"]) == 100
    assert store.count(groups=["billing", "connection"]) == 301
    assert store.count(groups=[]) == 0
    assert store.count(slug="slug_0") == sum(1 for e in events if e.slug == "slug_0")
    expected_action = [e for e in events if e.needs_action]
    assert store.count(needs_action=True) == len(expected_action) == 34 + 100 + 1
    # % and _ are literal in search, not wildcards.
    assert store.count(text="weird%name") == 100
    assert store.count(text="slug_") == 100
    assert store.count(text="d%n") == 100
    assert store.count(text="lug_0") == sum(1 for e in events if e.slug == "slug_0")
    assert store.count(text="BOOM 2") == sum(1 for e in events if e.message and "boom 2" in e.message)
    assert store.count(text="needs re-auth") == 34  # via the summary
    assert store.count(text="billing.balance") == 100  # via the wire kind
    assert store.count(text="100%_") == 0

    newest_first = list(reversed(events))
    assert [e.key for e in store.page(0, 5)] == [e.key for e in newest_first[:5]]
    # Walking pages (keyset continuation) gives exactly what OFFSET would.
    walked = []
    for offset in range(0, 400, 37):
        walked.extend(store.page(offset, 37, groups=["connection"]))
    assert [e.key for e in walked] == [e.key for e in newest_first if e.kind.group == "connection"]
    # A write between pages invalidates the continuation instead of skipping rows.
    store.page(0, 10)
    store.add(status_event(2000, "late", "connected"))
    assert [e.key for e in store.page(10, 2)] == [e.key for e in newest_first[9:11]]
    # Out of order access uses OFFSET.
    assert [e.key for e in store.page(250, 3)] == [e.key for e in ([status_event(2000, "late", "x")]
                                                                  + newest_first)[250:253]]
    assert store.page(10_000, 5) == [] and store.page(0, 0) == []

    pairs = store.page_before(None, 4, needs_action=True)
    more = store.page_before(pairs[-1][0], 4, needs_action=True)
    keys = [e.key for _, e in pairs + more]
    assert keys == [e.key for e in newest_first if e.needs_action][:8]
    assert store.get(pairs[0][0]).key == pairs[0][1].key
    assert store.get("nope") is None and store.get(10**9) is None

    assert store.slugs() == ["gmail", "late", "slug_0", "slug_1", "slug_2", "slug_3", "weird%name"]


def test_recent_is_oldest_first_and_bounded(store: Store) -> None:
    base = datetime.now(timezone.utc)
    store.add(status_event(1, "a", "connected", received=base - timedelta(hours=2)))
    store.add(status_event(2, "b", "connected", received=base - timedelta(minutes=30)))
    store.add(status_event(3, "c", "connected", received=base - timedelta(minutes=5)))
    assert [e.key for e in store.recent(base - timedelta(hours=1))] == ["evt_2", "evt_3"]


def test_hostile_values_do_not_break_a_batch(store: Store, caplog) -> None:
    huge = normalize("billing.balance_changed", {"id": "evt_h", "remaining_micros": 10**30,
                                                 "blob": "x" * (MAX_RAW_CHARS * 3)}, received_at=NOW)
    fine = balance_event(2, 5)
    assert store.add_many([huge, fine]) == [True, True]
    back = store.get("evt_h")
    assert back.remaining_micros is None
    assert isinstance(back.data, str) and len(back.data) == MAX_RAW_CHARS
    assert store.get("evt_2").remaining_micros == 5
    assert "truncated" in caplog.text



def test_data_nested_too_deep_to_encode_does_not_lose_the_batch(store: Store, caplog) -> None:
    # json.loads accepts nesting that json.dumps (called deeper in the stack) refuses
    # with RecursionError; the event and its batch mates must still be stored.
    deep: list = []
    for _ in range(100_000):
        deep = [deep]
    nested = normalize("connection.status_changed", {"id": "evt_deep", "slug": "gmail",
                                                     "status": "needs_reauth", "x": deep}, received_at=NOW)
    assert store.add_many([balance_event(1, 5), nested, balance_event(2, 6)]) == [True, True, True]
    back = store.get("evt_deep")
    assert back.kind is Kind.NEEDS_REAUTH and back.slug == "gmail"
    assert isinstance(back.data, str)
    assert "nested too deeply" in caplog.text

def test_escape_like() -> None:
    assert escape_like(r"a%b_c\d") == r"a\%b\_c\\d"


def test_read_only_store_in_another_process_sees_the_writers_events(db: Path) -> None:
    with Store.open(db) as writer:
        writer.add_many(status_event(n, "gmail", "connected") for n in range(5))
        writer.set_last_event_id("4")
        script = textwrap.dedent(f"""
            from pathlib import Path
            from vendo_tray.core.store import Store
            s = Store.open(Path({str(db)!r}), read_only=True)
            print(s.count(), s.last_event_id(), s.prune())
            s.close()
        """)
        out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        assert out.stdout.split() == ["5", "4", "0"]
        # The writer keeps writing while (and after) the reader ran.
        assert writer.add(status_event(9, "gmail", "connected")) is True


def test_read_only_never_creates_or_writes(tmp_path: Path) -> None:
    missing = tmp_path / "nope" / "history.sqlite3"
    with Store.open(missing, read_only=True) as s:
        assert s.count() == 0 and s.recent(NOW - timedelta(days=1)) == []
        with pytest.raises(StoreReadOnly):
            s.add(status_event(1, "a", "connected"))
    assert not missing.parent.exists()
    garbage = tmp_path / "garbage.sqlite3"
    garbage.write_bytes(b"nope" * 100)
    with Store.open(garbage, read_only=True) as s:
        assert s.count() == 0 and s.problem
    assert garbage.read_bytes() == b"nope" * 100  # a reader never moves the writer's file
