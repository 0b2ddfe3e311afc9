"""core.store with several Vendo apps: rows tagged with their app, a resume id and dedupe per app,
and a history file written before apps existed (version 1) opening with its rows and resume id."""

from __future__ import annotations

import dataclasses
import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest

from test_store import NOW, balance_event, status_event
from vendo_tray.core import store as store_module
from vendo_tray.core.kinds import Kind
from vendo_tray.core.store import SCHEMA_VERSION, Store

#: The history file as Vendo Tray wrote it before apps (version 1), verbatim.
SCHEMA_1 = """
CREATE TABLE events (
    id INTEGER PRIMARY KEY, key TEXT UNIQUE, kind TEXT NOT NULL, grp TEXT NOT NULL,
    wire_kind TEXT NOT NULL, slug TEXT, connection_id TEXT, status TEXT, message TEXT,
    remaining_micros INTEGER, provider TEXT, micros INTEGER, win TEXT, pct REAL,
    summary TEXT NOT NULL, needs_action INTEGER NOT NULL, data TEXT, data_fmt INTEGER NOT NULL,
    at TEXT, received_at TEXT NOT NULL, received_us INTEGER NOT NULL
);
CREATE INDEX events_received ON events(received_us);
CREATE INDEX events_grp ON events(grp);
CREATE INDEX events_slug ON events(slug);
CREATE INDEX events_action ON events(needs_action) WHERE needs_action = 1;
CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT);
PRAGMA user_version = 1;
"""


def on(app: str, event):
    return dataclasses.replace(event, app=app)


def write_schema_1(path: Path, events, resume_id: str) -> None:
    """A pre-apps history: the rows as version 1 stored them (no app column)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.executescript(SCHEMA_1)
    v1 = store_module._V1_COLUMNS
    for event in events:
        row = store_module._to_row(event)[:-1]  # every column but the app
        conn.execute(f"INSERT INTO events ({v1}) VALUES ({', '.join('?' * len(row))})", row)
    conn.execute("INSERT INTO meta VALUES ('last_event_id', ?)", (resume_id,))
    conn.close()


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "data" / "history.sqlite3"


def test_a_pre_apps_history_keeps_its_rows_and_resume_id_as_the_default_apps(db: Path) -> None:
    old = [status_event(1, "gmail", "needs_reauth"), balance_event(2, 4_200_000)]
    write_schema_1(db, old, "evt 2 ✓")
    with Store.open(db) as s:
        assert s.problem is None and s.recovered_from is None
        assert [(e.key, e.app) for e in s.page(0, 10)] == [("evt_2", "default"), ("evt_1", "default")]
        assert s.page(0, 10)[1] == old[0]
        assert s.last_event_id() == "evt 2 ✓" and s.last_event_id("prod") is None
        assert s.add(old[0]) is False                    # still deduplicated after the upgrade
        assert s.add(on("prod", old[0])) is True         # another server's evt_1 is its own event
        assert s.count() == 3 and s.count(needs_action=True) == 2
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 3
    indexes = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert {"events_received", "events_grp", "events_slug", "events_action"} <= indexes
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()
    with Store.open(db) as s:  # opened again: nothing to upgrade, nothing lost
        assert s.count() == 3 and s.last_event_id() == "evt 2 ✓"


def test_a_reader_of_a_pre_apps_history_sees_it_and_leaves_the_file_as_it_was(db: Path) -> None:
    write_schema_1(db, [status_event(1, "gmail", "connected")], "1")
    before = db.read_bytes()
    with Store.open(db, read_only=True) as reader:
        assert [(e.key, e.app) for e in reader.recent(NOW - timedelta(hours=1))] == [("evt_1", "default")]
        assert reader.last_event_id() == "1" and reader.problem is None
    assert db.read_bytes() == before


def test_a_damaged_pre_apps_history_is_salvaged_into_the_default_app(db: Path) -> None:
    write_schema_1(db, [status_event(n, "s", "connected") for n in range(50)], "49")
    src, dst = sqlite3.connect(db), sqlite3.connect(":memory:", isolation_level=None)
    assert store_module._salvage(src, dst) == 50
    assert dst.execute("SELECT DISTINCT app FROM events").fetchall() == [("default",)]
    assert dst.execute("SELECT value FROM meta WHERE name = 'last_event_id'").fetchone() == ("49",)


def test_each_app_has_its_own_resume_id_and_dedupe(db: Path) -> None:
    with Store.open(db) as s:
        assert s.add_many([on("prod", status_event(1, "slack", "connected"))], last_event_id="p1",
                          app="prod") == [True]
        assert s.add_many([on("staging", status_event(1, "slack", "error"))], last_event_id="s1",
                          app="staging") == [True]
        assert s.add_many([on("prod", status_event(1, "slack", "connected"))], app="prod") == [False]
        assert (s.last_event_id("prod"), s.last_event_id("staging"), s.last_event_id()) == ("p1", "s1", None)
        s.set_last_event_id("s2", "staging")
        assert (s.last_event_id("prod"), s.last_event_id("staging")) == ("p1", "s2")
        assert s.get("evt_1", "staging").status == "error" and s.get("evt_1", "prod").status == "connected"


def test_every_read_narrows_to_one_app_or_reads_them_all(db: Path) -> None:
    with Store.open(db) as s:
        s.add(on("prod", status_event(1, "slack", "needs_reauth")))
        s.add(on("prod", balance_event(2, 5_000_000)))
        s.add(on("staging", status_event(3, "linear", "connected")))
        s.add(on("staging", balance_event(4, 1_000_000)))
        assert s.count() == 4 and s.count(app="prod") == 2 and s.count(app="nope") == 0
        assert [e.key for e in s.page(0, 10, app="staging")] == ["evt_4", "evt_3"]
        assert [e.key for _, e in s.page_before(None, 10, app="prod")] == ["evt_2", "evt_1"]
        assert s.slugs() == ["linear", "slack"] and s.slugs("prod") == ["slack"]
        since = NOW - timedelta(hours=1)
        assert [a.remaining_micros for a in s.amounts([Kind.BALANCE], since, app="staging")] == [1_000_000]
        assert len(s.amounts([Kind.BALANCE], since)) == 2
        assert s.last_amount([Kind.BALANCE], NOW + timedelta(1), app="prod").remaining_micros == 5_000_000
        assert [e.app for e in s.recent(since, app="staging")] == ["staging", "staging"]
