"""Event history in SQLite: every event once, the resume id, retention, and muted connections.

Why SQLite (stdlib ``sqlite3``) in WAL mode: the window pages lazily through
up to 100,000 rows while the stream keeps writing, and the headless
``vendo-tray events --since`` may read the same file from another process
while the app runs.  WAL lets those readers proceed without blocking the one
writer, and ``synchronous=NORMAL`` keeps bursts fast (a power cut can lose the
last few commits, never corrupt the file).

The store is used from one thread (the asyncio loop).  It never crashes the
app, and it keeps what can be read: a damaged file is repaired on a copy
(``REINDEX``; if that is not enough, every readable row and the resume id
are copied into a fresh file) and the damaged original is moved aside
(``name.corrupt-<time>``, with its ``-wal``/``-shm`` companions).  A file
beyond repair, locked or foreign is moved aside and a fresh history is
started; if even that fails, history lives in memory for this session.
``recovered_from`` and ``problem`` tell the UI what happened, once.

A failed write never loses an event either: :meth:`Store.add` then answers
"new" (so the event is still delivered) and deduplicates against a small
in-memory set of recent keys instead.

Muted connections live here too (:meth:`Store.mutes`), keyed by app and
connection slug, so a mute outlasts a restart; ended mutes are deleted by
:meth:`Store.prune`.  WHY the slug and not the connection id: the slug is
what every connection event carries (``connection.error`` has no id, and
REST's id may be null) and what a connection's notices are keyed by.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import shutil
import sqlite3
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, NamedTuple

from vendo_tray.core.apps import DEFAULT_APP_ID
from vendo_tray.core.kinds import Kind, VendoEvent

log = logging.getLogger(__name__)

#: 1: events and meta.  2: mutes.  3: ``events.app``, the Vendo app that sent each row (keys
#: are unique per app, since two servers may both send ``evt_1``), and a resume id per app.
SCHEMA_VERSION = 3

#: Raw data longer than this (as JSON text) is stored truncated: a hostile or
#: broken server must not be able to grow the history by megabytes per event.
MAX_RAW_CHARS = 64_000

#: SQLite integers are signed 64-bit; larger values (only a hostile server
#: sends them) are stored as NULL rather than failing the whole batch.
_INT64 = (-(2**63), 2**63 - 1)

#: How many recent keys to remember for deduplication while the database
#: cannot be written (disk full, I/O error).
_FALLBACK_KEYS = 10_000

#: Prune automatically after this many inserts (the app may also call prune()).
_PRUNE_EVERY = 1_000

_DATA_JSON = 0   # ``data`` column holds JSON text
_DATA_TEXT = 1   # ``data`` column holds a repr or a truncated JSON text: read back as str

#: Version 1, as it was first written (an upgrade from 0 goes through every step).
_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id               INTEGER PRIMARY KEY,
    key              TEXT UNIQUE,
    kind             TEXT NOT NULL,
    grp              TEXT NOT NULL,
    wire_kind        TEXT NOT NULL,
    slug             TEXT,
    connection_id    TEXT,
    status           TEXT,
    message          TEXT,
    remaining_micros INTEGER,
    provider         TEXT,
    micros           INTEGER,
    win              TEXT,
    pct              REAL,
    summary          TEXT NOT NULL,
    needs_action     INTEGER NOT NULL,
    data             TEXT,
    data_fmt         INTEGER NOT NULL,
    at               TEXT,
    received_at      TEXT NOT NULL,
    received_us      INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS events_received ON events(received_us);
CREATE INDEX IF NOT EXISTS events_grp ON events(grp);
CREATE INDEX IF NOT EXISTS events_slug ON events(slug);
CREATE INDEX IF NOT EXISTS events_action ON events(needs_action) WHERE needs_action = 1;
CREATE TABLE IF NOT EXISTS meta (
    name  TEXT PRIMARY KEY,
    value TEXT
);
"""

#: Version 2: one row per muted connection; ``until_us`` NULL means "until unmuted".
_MUTES_SCHEMA = """
CREATE TABLE IF NOT EXISTS mutes (
    app_id   TEXT NOT NULL,
    slug     TEXT NOT NULL,
    until_us INTEGER,
    PRIMARY KEY (app_id, slug)
);
"""

#: The columns of versions 1 and 2; version 3 added ``app`` after them.
_V1_COLUMNS = (
    "key, kind, grp, wire_kind, slug, connection_id, status, message, remaining_micros, "
    "provider, micros, win, pct, summary, needs_action, data, data_fmt, at, received_at, received_us"
)
_COLUMNS = _V1_COLUMNS + ", app"
_INDEXES = ("events_received", "events_grp", "events_slug", "events_action")

#: Version 3: ``key`` was unique across the file, and SQLite cannot drop that in place, so the
#: table is rebuilt (one transaction; every row keeps its id and becomes the default app's).
_APP_SCHEMA = "".join(f"DROP INDEX IF EXISTS {name};" for name in _INDEXES) + f"""
ALTER TABLE events RENAME TO events_v2;
CREATE TABLE events (
    id               INTEGER PRIMARY KEY,
    key              TEXT,
    kind             TEXT NOT NULL,
    grp              TEXT NOT NULL,
    wire_kind        TEXT NOT NULL,
    slug             TEXT,
    connection_id    TEXT,
    status           TEXT,
    message          TEXT,
    remaining_micros INTEGER,
    provider         TEXT,
    micros           INTEGER,
    win              TEXT,
    pct              REAL,
    summary          TEXT NOT NULL,
    needs_action     INTEGER NOT NULL,
    data             TEXT,
    data_fmt         INTEGER NOT NULL,
    at               TEXT,
    received_at      TEXT NOT NULL,
    received_us      INTEGER NOT NULL,
    app              TEXT NOT NULL DEFAULT '{DEFAULT_APP_ID}',
    UNIQUE (app, key)
);
INSERT INTO events (id, {_COLUMNS}) SELECT id, {_V1_COLUMNS}, '{DEFAULT_APP_ID}' FROM events_v2;
DROP TABLE events_v2;
CREATE INDEX events_received ON events(received_us);
CREATE INDEX events_grp ON events(grp);
CREATE INDEX events_slug ON events(slug);
CREATE INDEX events_action ON events(needs_action) WHERE needs_action = 1;
"""

#: What takes a file from version N (the key) to N + 1.
_UPGRADES = {0: _SCHEMA, 1: _MUTES_SCHEMA, 2: _APP_SCHEMA}
_OUR_TABLES = ("events", "meta", "mutes")

_INSERT = f"INSERT OR IGNORE INTO events ({_COLUMNS}) VALUES ({', '.join('?' * 21)})"
_INSERT_WITH_ID = f"INSERT OR IGNORE INTO events (id, {_COLUMNS}) VALUES ({', '.join('?' * 22)})"
_SELECT = f"SELECT id, {_COLUMNS} FROM events"
_AMOUNTS = "SELECT kind, coalesce(at, received_at), provider, micros, remaining_micros FROM events"

_LAST_EVENT_ID = "last_event_id"


def _resume_name(app: str) -> str:
    """The meta row of ``app``'s resume id (the default app's is the one version 1 wrote)."""
    return _LAST_EVENT_ID if app == DEFAULT_APP_ID else f"{_LAST_EVENT_ID}:{app}"

_SET_MUTE = "INSERT OR REPLACE INTO mutes(app_id, slug, until_us) VALUES (?, ?, ?)"

# SQLite primary result codes that mean "this file is damaged or not ours".
_SQLITE_CORRUPT = 11
_SQLITE_NOTADB = 26
# ... and the ones that mean "you may not write here".
_SQLITE_PERM = 3
_SQLITE_READONLY = 8
_SQLITE_CANTOPEN = 14


class Amount(NamedTuple):
    """A billing event's figures, all the Spend view and the runway need of it."""

    kind: Kind
    #: The server's time when known, else when we received it (as ``VendoEvent.when``).
    when: datetime
    provider: str | None
    micros: int | None
    remaining_micros: int | None


class StoreReadOnly(RuntimeError):
    """A write was attempted on a store opened with ``read_only=True``."""


class _Damaged(sqlite3.DatabaseError):
    """The file opened but failed its integrity check: a repair may save what it holds."""


@dataclass(frozen=True, slots=True)
class EventFilter:
    """What a history view is narrowed to: the window's filter bar and :meth:`Store.count` /
    :meth:`Store.page` speak this one type (``None`` / ``False`` = not narrowed)."""

    groups: tuple[str, ...] | None = None
    slug: str | None = None
    text: str | None = None
    needs_action: bool = False
    #: One Vendo app's rows (``AppProfile.id``), or every app's.
    app: str | None = None

    def store_kwargs(self) -> dict[str, Any]:
        """As keyword arguments of :meth:`Store.count` and :meth:`Store.page`."""
        return {"groups": self.groups, "slug": self.slug, "text": self.text,
                "needs_action": self.needs_action, "app": self.app}

    @classmethod
    def of(cls, groups: Iterable[str] | None, slug: str | None, text: str | None,
           needs_action: bool, app: str | None = None) -> EventFilter:
        """Normalized, so two filters that select the same rows compare equal (the page hint)."""
        return cls(
            groups=tuple(sorted(set(groups))) if groups is not None else None,
            slug=slug or None,
            text=text.strip() or None if text else None,
            needs_action=bool(needs_action),
            app=app or None,
        )

    def where(self) -> tuple[list[str], list[Any]]:
        clauses: list[str] = []
        params: list[Any] = []
        if self.groups is not None:
            if not self.groups:
                clauses.append("0")
            else:
                clauses.append(f"grp IN ({', '.join('?' * len(self.groups))})")
                params.extend(self.groups)
        if self.slug is not None:
            clauses.append("slug = ?")
            params.append(self.slug)
        if self.needs_action:
            clauses.append("needs_action = 1")
        if self.app is not None:
            clauses.append("app = ?")
            params.append(self.app)
        if self.text is not None:
            pattern = "%" + escape_like(self.text) + "%"
            fields = ("summary", "wire_kind", "slug", "connection_id", "message", "status", "provider")
            clauses.append("(" + " OR ".join(f"{f} LIKE ? ESCAPE '\\'" for f in fields) + ")")
            params.extend([pattern] * len(fields))
        return clauses, params


def escape_like(text: str) -> str:
    """Make ``text`` match literally inside a LIKE pattern (escape char ``\\``)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class Store:
    """The event history and the stream's resume id; see the module docstring.

    Construct with :meth:`open`, never directly.
    """

    def __init__(self, conn: sqlite3.Connection, *, path: Path | None, read_only: bool,
                 retention_days: float, max_events: int) -> None:
        self._conn = conn
        self.path = path
        self.read_only = read_only
        self.retention_days = retention_days
        self.max_events = max_events
        #: Where a damaged database was moved to at open, for the UI to mention once.
        self.recovered_from: Path | None = None
        #: A one-line explanation when history is degraded (e.g. kept in memory only).
        self.problem: str | None = None
        self._fallback_keys: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._since_prune = 0
        # (filters, next offset, last id) of the previous page(), for keyset continuation.
        self._page_hint: tuple[EventFilter, int, int] | None = None

    # ------------------------------------------------------------------ opening

    @classmethod
    def open(cls, path: Path, *, retention_days: float = 30, max_events: int = 50_000,
             read_only: bool = False, busy_timeout: float = 2.0) -> Store:
        """Open (creating if needed) the history at ``path``; never raises.

        ``read_only`` is for a second process (``events --since``) reading while
        the app writes: it never creates, prunes or moves anything.
        ``busy_timeout`` is how long to wait for another process's lock before
        treating the file as locked.
        """
        path = Path(path)
        kwargs: dict[str, Any] = dict(retention_days=retention_days, max_events=max_events)
        try:
            store = cls._open_file(path, read_only=read_only, busy_timeout=busy_timeout, **kwargs)
        except (sqlite3.Error, OSError) as exc:
            if read_only:
                if isinstance(exc, _Damaged) and (salvaged := cls._open_salvaged(path, **kwargs)) is not None:
                    return salvaged
                log.warning("event history %s could not be read (%s); showing none", path, exc)
                store = cls._open_memory(**kwargs)
                store.path, store.read_only = path, True
                store.problem = f"history could not be read: {exc}"
                return store
            if _cannot_write(exc) and (snapshot := cls._open_snapshot(path, exc, **kwargs)) is not None:
                return snapshot
            return cls._recover(path, exc, busy_timeout=busy_timeout, **kwargs)
        if not read_only:
            store.prune()
        return store

    @classmethod
    def _open_file(cls, path: Path, *, read_only: bool, busy_timeout: float,
                   retention_days: float, max_events: int) -> Store:
        if read_only:
            if not path.is_file():
                store = cls._open_memory(retention_days=retention_days, max_events=max_events)
                store.path, store.read_only = path, True
                return store
            conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True,
                                   timeout=busy_timeout, isolation_level=None)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(path, timeout=busy_timeout, isolation_level=None)
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
            if read_only:
                conn.execute("PRAGMA query_only = 1")
                _check_readable(conn)
            else:
                mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                if str(mode).lower() != "wal":
                    log.warning("event history %s: journal mode is %s, not WAL", path, mode)
                conn.execute("PRAGMA synchronous = NORMAL")
                _check_readable(conn)
                _create_schema(conn)
        except BaseException:
            conn.close()
            raise
        if read_only and _older_schema(conn):
            conn.close()  # a reader must not upgrade the app's file: it reads an upgraded copy
            return cls._open_upgraded_copy(path, retention_days=retention_days, max_events=max_events)
        return cls(conn, path=path, read_only=read_only, retention_days=retention_days,
                   max_events=max_events)

    @classmethod
    def _open_upgraded_copy(cls, path: Path, *, retention_days: float, max_events: int) -> Store:
        """A file of an older schema, for a reader: copied into memory and upgraded there."""
        memory = sqlite3.connect(":memory:", isolation_level=None)
        try:
            _copy_readonly(path, memory)
            _create_schema(memory)
        except BaseException:
            memory.close()
            raise
        return cls(memory, path=path, read_only=True, retention_days=retention_days, max_events=max_events)

    @classmethod
    def _open_memory(cls, *, retention_days: float, max_events: int) -> Store:
        conn = sqlite3.connect(":memory:", isolation_level=None)
        _create_schema(conn)
        return cls(conn, path=None, read_only=False, retention_days=retention_days,
                   max_events=max_events)

    @classmethod
    def _open_salvaged(cls, path: Path, *, retention_days: float, max_events: int) -> Store | None:
        """A damaged history for a reader that must not repair it: what can be read, in memory."""
        memory = sqlite3.connect(":memory:", isolation_level=None)
        try:
            source = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None)
            try:
                copied = _salvage(source, memory)
            finally:
                source.close()
        except sqlite3.Error:
            memory.close()
            return None
        log.warning("event history %s is damaged; showing the %d events that could be read", path, copied)
        store = cls(memory, path=path, read_only=True, retention_days=retention_days, max_events=max_events)
        store.problem = (f"the history is damaged; showing the {copied} events that could be read "
                         "(Vendo Tray repairs it when it starts)")
        return store

    @classmethod
    def _open_snapshot(cls, path: Path, exc: BaseException, *, retention_days: float,
                       max_events: int) -> Store | None:
        """A history we may read but not write (a read-only data folder): copy it into memory.

        The window shows it, the stream resumes from its resume id, and new
        events are kept in memory alongside it; the file is never touched.
        None when the file cannot be read either.
        """
        if not path.is_file():
            return None
        memory = sqlite3.connect(":memory:", isolation_level=None)
        try:
            _copy_readonly(path, memory)
            _create_schema(memory)
        except sqlite3.Error as failed:
            memory.close()
            log.warning("event history %s cannot be written (%s) nor read (%s)", path, exc, failed)
            return None
        log.warning("event history %s cannot be written (%s); showing it and keeping new events in "
                    "memory for this session", path, exc)
        store = cls(memory, path=None, read_only=False, retention_days=retention_days, max_events=max_events)
        store.problem = (f"the data folder is read-only, so the saved history is shown but new events "
                         f"are kept in memory only until Vendo Tray quits ({path.parent})")
        return store

    @classmethod
    def _recover(cls, path: Path, exc: BaseException, *, busy_timeout: float,
                 retention_days: float, max_events: int) -> Store:
        """Move a damaged/locked file aside and start fresh; memory as the last resort."""
        kwargs: dict[str, Any] = dict(retention_days=retention_days, max_events=max_events)
        if path.is_file() and (isinstance(exc, _Damaged) or
                               (isinstance(exc, sqlite3.DatabaseError) and _is_corruption(exc))):
            repaired = cls._repair(path, exc, busy_timeout=busy_timeout, **kwargs)
            if repaired is not None:
                return repaired
        aside: Path | None = None
        if path.is_file():
            try:
                aside = move_aside(path)
            except OSError as move_exc:
                log.error("event history %s is unusable (%s) and could not be moved aside (%s); "
                          "keeping history in memory for this session", path, exc, move_exc)
                store = cls._open_memory(**kwargs)
                store.problem = f"history file unusable and not movable: {exc}"
                return store
            log.warning("event history %s was unusable (%s); moved it aside to %s and started a "
                        "fresh history", path, exc, aside)
        try:
            store = cls._open_file(path, read_only=False, busy_timeout=busy_timeout, **kwargs)
        except (sqlite3.Error, OSError) as again:
            log.error("event history %s cannot be created (%s); keeping history in memory for "
                      "this session", path, again)
            store = cls._open_memory(**kwargs)
            store.problem = f"history cannot be saved: {again}"
        store.recovered_from = aside
        if aside is not None and store.problem is None:
            store.problem = f"the previous history was unreadable and was moved to {aside.name}"
        return store

    @classmethod
    def _repair(cls, path: Path, exc: BaseException, *, busy_timeout: float, retention_days: float,
                max_events: int) -> Store | None:
        """Rebuild a damaged history beside it, then swap it in; None if that failed.

        The work happens on a copy and a fresh file; the damaged original is
        moved aside as it is, for whoever wants to look at it.
        """
        work = path.with_name(path.name + ".repair")
        try:
            _remove_db(work)
            how = _rebuild(path, work)
            aside = move_aside(path)
            work.rename(path)
            store = cls._open_file(path, read_only=False, busy_timeout=busy_timeout,
                                   retention_days=retention_days, max_events=max_events)
        except (sqlite3.Error, OSError) as failed:
            log.warning("event history %s is damaged (%s) and could not be repaired (%s)", path, exc, failed)
            with contextlib.suppress(OSError):
                _remove_db(work)
            return None
        log.warning("event history %s was damaged (%s); repaired (%s), the damaged file is kept as %s",
                    path, exc, how, aside)
        store.recovered_from = aside
        store.problem = f"the history was damaged and has been repaired ({how}); the damaged file is kept as {aside.name}"
        return store

    def close(self) -> None:
        """Close the database (checkpointing the WAL when we are the last user)."""
        try:
            self._conn.close()
        except sqlite3.Error as exc:  # pragma: no cover - close failing is not actionable
            log.warning("closing event history failed: %s", exc)

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ writing

    def add(self, event: VendoEvent, *, last_event_id: str | None = None) -> bool:
        """Store one event; False only if its app already has an event with its key.

        ``last_event_id``, when given, is persisted (as ``event.app``'s) in the same
        transaction, so after a crash the resume id never points past an event we did not keep.
        """
        return self.add_many((event,), last_event_id=last_event_id, app=event.app)[0]

    def add_many(self, events: Iterable[VendoEvent], *, last_event_id: str | None = None,
                 app: str = DEFAULT_APP_ID) -> list[bool]:
        """Store a burst in one transaction; per event, True if it was new (for its app).

        ``last_event_id`` is app ``app``'s resume id: each app's stream resumes on its own.
        """
        self._check_writable()
        batch = list(events)
        last_event_id = _keepable_id(last_event_id)
        if not batch and last_event_id is None:
            return []
        rows = [_to_row(e) for e in batch]
        try:
            result = self._insert(rows, last_event_id, app)
        except sqlite3.DatabaseError as exc:
            if not self._recover_in_place(exc):
                return self._remember_unstored(batch, exc)
            try:
                result = self._insert(rows, last_event_id, app)
            except sqlite3.DatabaseError as again:
                return self._remember_unstored(batch, again)
        self._page_hint = None
        self._since_prune += sum(result)
        if self._since_prune >= _PRUNE_EVERY:
            self.prune()
        return result

    def _insert(self, rows: list[tuple[Any, ...]], last_event_id: str | None, app: str) -> list[bool]:
        conn = self._conn
        result: list[bool] = []
        conn.execute("BEGIN IMMEDIATE")
        try:
            execute = conn.execute
            for row in rows:
                result.append(execute(_INSERT, row).rowcount == 1)
            if last_event_id is not None:
                execute("INSERT OR REPLACE INTO meta(name, value) VALUES (?, ?)",
                        (_resume_name(app), last_event_id))
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return result

    def _remember_unstored(self, batch: list[VendoEvent], exc: BaseException) -> list[bool]:
        """The database refused the write: keep delivering, dedupe in memory."""
        log.error("event history write failed (%s); %d event(s) not saved but still delivered",
                  exc, len(batch))
        if self.problem is None:
            self.problem = f"history cannot be saved: {exc}"
        result = []
        for event in batch:
            if event.key is None:
                result.append(True)
            elif (event.app, event.key) in self._fallback_keys:
                result.append(False)
            else:
                self._fallback_keys[(event.app, event.key)] = None
                if len(self._fallback_keys) > _FALLBACK_KEYS:
                    self._fallback_keys.popitem(last=False)
                result.append(True)
        return result

    def _recover_in_place(self, exc: sqlite3.DatabaseError) -> bool:
        """The file went bad under us: move it aside, reopen fresh; True if we did."""
        if self.read_only or self.path is None or not _is_corruption(exc):
            return False
        log.warning("event history %s became unreadable (%s)", self.path, exc)
        self.close()
        fresh = Store._recover(self.path, exc, busy_timeout=2.0, retention_days=self.retention_days,
                               max_events=self.max_events)
        self._conn = fresh._conn
        self.path = fresh.path
        self.recovered_from = fresh.recovered_from
        self.problem = fresh.problem
        self._page_hint = None
        return True

    def last_event_id(self, app: str = DEFAULT_APP_ID) -> str | None:
        """App ``app``'s stream resume id (``Last-Event-ID``), persisted across restarts.

        Read back as untrusted: a file edited or damaged by someone else may
        hold anything there, and only text is a resume point.
        """
        row = self._read_one("SELECT value FROM meta WHERE name = ?", (_resume_name(app),))
        value = row[0] if row else None
        if value is None or isinstance(value, str):
            return value
        log.warning("event history: the stored resume id is %s, not text; resuming without it",
                    type(value).__name__)
        return None

    def set_last_event_id(self, value: str, app: str = DEFAULT_APP_ID) -> None:
        """Persist app ``app``'s resume id (prefer ``add(..., last_event_id=)``: atomic with the event)."""
        self._check_writable()
        if _keepable_id(value) is None:
            return
        self._write("INSERT OR REPLACE INTO meta(name, value) VALUES (?, ?)", (_resume_name(app), value),
                    what="the stream resume id")

    def mutes(self, app_id: str) -> dict[str, datetime | None]:
        """The connections muted in app ``app_id``: slug → when the mute ends (None: until unmuted).

        Ended mutes that :meth:`prune` has not deleted yet are included: whoever
        applies them compares with its own clock.
        """
        mutes: dict[str, datetime | None] = {}
        for slug, until in self._read_all("SELECT slug, until_us FROM mutes WHERE app_id = ?", (app_id,)):
            try:  # read back as untrusted, like the resume id: a hand-edited file may hold anything
                if not isinstance(slug, str) or not isinstance(until, int | None):
                    raise TypeError(f"{type(slug).__name__}, {type(until).__name__}")
                mutes[slug] = _from_micros(until) if until is not None else None
            except (TypeError, OverflowError) as exc:
                log.warning("event history: a stored mute cannot be read (%s); ignoring it", exc)
        return mutes

    def set_mute(self, app_id: str, slug: str, until: datetime | None) -> None:
        """Mute connection ``slug`` of app ``app_id`` until ``until`` (None: until unmuted), replacing any mute."""
        self._check_writable()
        self._write(_SET_MUTE, (app_id, slug, _micros(until) if until is not None else None),
                    what=f"the mute of {slug}")

    def clear_mute(self, app_id: str, slug: str) -> None:
        """Unmute connection ``slug`` of app ``app_id`` (nothing happens when it was not muted)."""
        self._check_writable()
        self._write("DELETE FROM mutes WHERE app_id = ? AND slug = ?", (app_id, slug),
                    what=f"the unmute of {slug}")

    def _write(self, sql: str, params: Sequence[Any], *, what: str) -> None:
        """One small write outside the events table; a failure is logged, never raised.

        What was written still holds for this session (the caller keeps it in
        memory); only the next start would not see it.
        """
        for attempt in (1, 2):
            try:
                self._conn.execute(sql, params)
                return
            except sqlite3.DatabaseError as exc:
                if attempt == 1 and self._recover_in_place(exc):
                    continue
                log.error("could not save %s: %s", what, exc)
                return

    def prune(self) -> int:
        """Apply retention (age and count) and forget ended mutes; returns how many events were deleted."""
        if self.read_only:
            return 0
        self._since_prune = 0
        cutoff = _micros(datetime.now(timezone.utc) - timedelta(days=self.retention_days))
        try:
            conn = self._conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                deleted = conn.execute("DELETE FROM events WHERE received_us < ?", (cutoff,)).rowcount
                deleted += conn.execute(
                    "DELETE FROM events WHERE id <= "
                    "(SELECT id FROM events ORDER BY id DESC LIMIT 1 OFFSET ?)",
                    (max(self.max_events, 0),),
                ).rowcount
                conn.execute("DELETE FROM mutes WHERE until_us <= ?", (_micros(datetime.now(timezone.utc)),))
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        except sqlite3.DatabaseError as exc:
            if not self._recover_in_place(exc):
                log.error("pruning event history failed: %s", exc)
            return 0
        if deleted:
            self._page_hint = None
            log.info("pruned %d old event(s) from history", deleted)
        return deleted

    # ------------------------------------------------------------------ reading

    def count(self, *, groups: Iterable[str] | None = None, slug: str | None = None,
              text: str | None = None, needs_action: bool = False, app: str | None = None) -> int:
        """How many stored events match the filters."""
        clauses, params = EventFilter.of(groups, slug, text, needs_action, app).where()
        row = self._read_one("SELECT count(*) FROM events" + _where(clauses), params)
        return int(row[0]) if row else 0

    def page(self, offset: int, limit: int, *, groups: Iterable[str] | None = None,
             slug: str | None = None, text: str | None = None,
             needs_action: bool = False, app: str | None = None) -> list[VendoEvent]:
        """Events ``offset .. offset+limit`` of the filtered history, newest first.

        Consecutive pages (offset equal to the previous offset + its length,
        same filters, no write in between) continue by key (``id < last``)
        instead of making SQLite skip ``offset`` rows again.
        """
        if limit <= 0 or offset < 0:
            return []
        filters = EventFilter.of(groups, slug, text, needs_action, app)
        hint = self._page_hint
        if offset and hint is not None and hint[0] == filters and hint[1] == offset:
            rows = self._page_rows(filters, limit, before=hint[2], offset=0)
        else:
            rows = self._page_rows(filters, limit, before=None, offset=offset)
        self._page_hint = (filters, offset + len(rows), rows[-1][0]) if rows else None
        return [_from_row(r) for r in rows]

    def page_before(self, before_id: int | None, limit: int, *,
                    groups: Iterable[str] | None = None, slug: str | None = None,
                    text: str | None = None, needs_action: bool = False,
                    app: str | None = None) -> list[tuple[int, VendoEvent]]:
        """Keyset paging: up to ``limit`` (row id, event) pairs older than ``before_id``.

        ``before_id=None`` starts at the newest.  Cost does not grow with depth.
        """
        filters = EventFilter.of(groups, slug, text, needs_action, app)
        rows = self._page_rows(filters, limit, before=before_id, offset=0)
        return [(r[0], _from_row(r)) for r in rows]

    def _page_rows(self, filters: EventFilter, limit: int, *, before: int | None,
                   offset: int) -> list[tuple[Any, ...]]:
        clauses, params = filters.where()
        if before is not None:
            clauses.append("id < ?")
            params.append(before)
        sql = _SELECT + _where(clauses) + " ORDER BY id DESC LIMIT ? OFFSET ?"
        return self._read_all(sql, [*params, limit, offset])

    def get(self, key_or_rowid: str | int, app: str | None = None) -> VendoEvent | None:
        """One event by its row id (int), or by its key (str) within ``app`` (any app: the newest)."""
        if isinstance(key_or_rowid, bool):
            return None
        if isinstance(key_or_rowid, int):
            row = self._read_one(_SELECT + " WHERE id = ?", (key_or_rowid,))
        elif app is None:
            row = self._read_one(_SELECT + " WHERE key = ? ORDER BY id DESC LIMIT 1", (key_or_rowid,))
        else:
            row = self._read_one(_SELECT + " WHERE key = ? AND app = ?", (key_or_rowid, app))
        return _from_row(row) if row else None

    def recent(self, since: datetime, app: str | None = None) -> list[VendoEvent]:
        """Events (of ``app``, else of every app) received at or after ``since``, oldest first (``events --since``)."""
        clause, params = _app_is(app)
        rows = self._read_all(_SELECT + f" WHERE received_us >= ?{clause} ORDER BY id ASC",
                              (_micros(since), *params))
        return [_from_row(r) for r in rows]

    def amounts(self, kinds: Iterable[Kind], since: datetime, app: str | None = None) -> list[Amount]:
        """The figures of events of ``kinds`` received at or after ``since``, oldest first.

        WHY not whole events: the Spend view and the runway read weeks of billing
        events at a time; building full events (raw JSON, two timestamps) costs
        about 7× more per row, 350 ms for 50,000 rows against 50 ms.
        """
        clause, names = _kind_in(kinds)
        app_clause, app_params = _app_is(app)
        sql = _AMOUNTS + f" WHERE {clause} AND received_us >= ?{app_clause} ORDER BY id ASC"
        return [_amount(r) for r in self._read_all(sql, (*names, _micros(since), *app_params))]

    def last_amount(self, kinds: Iterable[Kind], before: datetime, app: str | None = None) -> Amount | None:
        """The figures of the newest event of ``kinds`` (of ``app``, else any) received before ``before``."""
        clause, names = _kind_in(kinds)
        app_clause, app_params = _app_is(app)
        sql = _AMOUNTS + f" WHERE {clause} AND received_us < ?{app_clause} ORDER BY received_us DESC LIMIT 1"
        row = self._read_one(sql, (*names, _micros(before), *app_params))
        return _amount(row) if row else None

    def slugs(self, app: str | None = None) -> list[str]:
        """Every connection slug seen in history (of ``app``, else of every app), sorted."""
        clause, params = _app_is(app)
        rows = self._read_all("SELECT DISTINCT slug FROM events WHERE slug IS NOT NULL"
                              f"{clause} ORDER BY slug", params)
        return [r[0] for r in rows]

    def _read_one(self, sql: str, params: Sequence[Any]) -> tuple[Any, ...] | None:
        rows = self._read(sql, params, one=True)
        return rows[0] if rows else None

    def _read_all(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        return self._read(sql, params, one=False)

    def _read(self, sql: str, params: Sequence[Any], *, one: bool) -> list[tuple[Any, ...]]:
        for attempt in (1, 2):
            try:
                cur = self._conn.execute(sql, params)
                if one:
                    row = cur.fetchone()
                    return [row] if row is not None else []
                return cur.fetchall()
            except sqlite3.DatabaseError as exc:
                if attempt == 1 and self._recover_in_place(exc):
                    continue
                log.error("reading event history failed: %s", exc)
                return []
        return []  # pragma: no cover - loop always returns

    def _check_writable(self) -> None:
        if self.read_only:
            raise StoreReadOnly("this event history was opened read-only")


# ---------------------------------------------------------------------- helpers


def move_aside(path: Path) -> Path:
    """Rename ``path`` (and its -wal/-shm/-journal) to ``path.corrupt-<UTC time>``."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    target = path.with_name(f"{path.name}.corrupt-{stamp}")
    n = 1
    while target.exists():
        n += 1
        target = path.with_name(f"{path.name}.corrupt-{stamp}-{n}")
    path.rename(target)
    for suffix in ("-wal", "-shm", "-journal"):
        companion = path.with_name(path.name + suffix)
        if companion.exists():
            try:
                companion.rename(target.with_name(target.name + suffix))
            except OSError as exc:
                # A stale WAL beside a fresh database would be replayed into it: remove it.
                log.warning("could not move %s aside (%s); deleting it", companion, exc)
                companion.unlink(missing_ok=True)
    return target


def _keepable_id(value: str | None) -> str | None:
    """The resume id if it can be kept as it is, else None with a log line.

    The id is server-sent and untrusted, but it is kept exactly (spaces,
    non-ASCII, control characters and all): the server matches what it
    issued.  Only what SQLite cannot hold as text, or an absurd length, is
    refused; the previous resume id then stays, which replays a little more
    and loses nothing (replayed events are deduplicated).
    """
    if value is None:
        return None
    try:
        if isinstance(value, str) and len(value) <= MAX_RAW_CHARS:
            value.encode("utf-8")
            return value
    except UnicodeEncodeError:
        pass
    log.warning("event history: a resume id of %s cannot be kept; keeping the previous one",
                f"{len(value)} characters" if isinstance(value, str) else type(value).__name__)
    return None


def _check_readable(conn: sqlite3.Connection) -> None:
    """Fail now (not on the first page) if the file is not a healthy database."""
    row = conn.execute("PRAGMA quick_check(1)").fetchone()
    if not row or row[0] != "ok":
        raise _Damaged(f"integrity check failed: {row[0] if row else 'no answer'}")


def _older_schema(conn: sqlite3.Connection) -> bool:
    version: int = conn.execute("PRAGMA user_version").fetchone()[0]
    return 0 < version < SCHEMA_VERSION


def _cannot_write(exc: BaseException) -> bool:
    """Did opening fail because we may not write there (read-only folder, file or disk)?"""
    if isinstance(exc, OSError):
        return exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM)
    code = getattr(exc, "sqlite_errorcode", None)
    return code is not None and (code & 0xFF) in (_SQLITE_PERM, _SQLITE_READONLY, _SQLITE_CANTOPEN)


def _copy_readonly(path: Path, into: sqlite3.Connection) -> None:
    """Copy a healthy database we may only read into ``into``; raises sqlite3.Error.

    ``mode=ro`` sees a WAL left by a crash, but needs its ``-shm``; where that
    cannot be created, ``immutable=1`` reads the main file as it is.
    """
    failure: sqlite3.Error | None = None
    for how in ("mode=ro", "immutable=1"):
        try:
            source = sqlite3.connect(f"{path.resolve().as_uri()}?{how}", uri=True)
        except sqlite3.Error as exc:
            failure = exc
            continue
        try:
            _check_readable(source)
            source.backup(into)
            return
        except sqlite3.Error as exc:
            failure = exc
        finally:
            source.close()
    assert failure is not None
    raise failure


#: While salvaging, give up stepping over unreadable row ids after this many in a row.
_SALVAGE_MAX_MISSES = 100_000


def _rebuild(damaged: Path, work: Path) -> str:
    """Make ``work`` a healthy copy of ``damaged``; say how.  Raises sqlite3.Error/OSError."""
    for suffix in ("", "-wal"):
        source = damaged.with_name(damaged.name + suffix)
        if source.exists():
            shutil.copyfile(source, work.with_name(work.name + suffix))
    conn = sqlite3.connect(work, isolation_level=None)
    try:
        conn.execute("REINDEX")           # a damaged index is rebuilt from the table
        _check_readable(conn)
        conn.execute("PRAGMA journal_mode = DELETE")  # one self-contained file to rename
        return "its indexes were rebuilt"
    except sqlite3.DatabaseError:
        pass
    finally:
        conn.close()
    _remove_db(work)
    src = sqlite3.connect(damaged, isolation_level=None)
    dst = sqlite3.connect(work, isolation_level=None)
    try:
        copied = _salvage(src, dst)
    finally:
        src.close()
        dst.close()
    return f"{copied} readable events were copied into a fresh file"


def _salvage(src: sqlite3.Connection, dst: sqlite3.Connection) -> int:
    """Copy every readable event, the meta rows (the resume id) and the mutes from a damaged ``src`` into an empty ``dst``."""
    src.execute("SELECT count(*) FROM sqlite_master").fetchone()  # not a database at all: raises
    _create_schema(dst)
    dst.execute("BEGIN IMMEDIATE")
    copied = 0
    for row in _readable_rows(src):
        copied += dst.execute(_INSERT_WITH_ID, row).rowcount
    meta = _readable_meta(src)
    if not copied and not meta:
        raise sqlite3.DatabaseError("nothing in it could be read")
    for name, value in meta:
        dst.execute("INSERT OR REPLACE INTO meta(name, value) VALUES (?, ?)", (name, value))
    with contextlib.suppress(sqlite3.DatabaseError):  # a mute is worth less than an event: best effort
        for row in src.execute("SELECT app_id, slug, until_us FROM mutes").fetchall():
            dst.execute(_SET_MUTE, row)
    dst.execute("COMMIT")
    return copied


def _readable_rows(conn: sqlite3.Connection) -> Iterator[tuple[Any, ...]]:
    """Every event row a damaged file still gives, in id order, stepping over damaged stretches."""
    columns = f"{_V1_COLUMNS}, {_app_column(conn)}"
    chunk = f"SELECT id, {columns} FROM events WHERE id > ? ORDER BY id LIMIT 500"
    one = f"SELECT id, {columns} FROM events WHERE id = ?"
    try:
        top = conn.execute("SELECT max(id) FROM events").fetchone()[0]
    except sqlite3.DatabaseError:
        top = None
    last, misses = 0, 0
    while True:
        try:
            rows = conn.execute(chunk, (last,)).fetchall()
        except sqlite3.DatabaseError:
            rows = None
        if rows:
            yield from rows
            last, misses = rows[-1][0], 0
            continue
        if rows is not None:
            return  # the end of the table
        # A damaged stretch: one id at a time until rows can be read again.
        last += 1
        misses += 1
        if (top is not None and last > top) or misses > _SALVAGE_MAX_MISSES:
            return
        with contextlib.suppress(sqlite3.DatabaseError):
            row = conn.execute(one, (last,)).fetchone()
            if row is not None:
                misses = 0
                yield row


def _app_column(conn: sqlite3.Connection) -> str:
    """How to read each row's app from a damaged file: its ``app`` column, or the one app before version 3."""
    try:
        names = {row[1] for row in conn.execute("PRAGMA table_info(events)")}
    except sqlite3.DatabaseError:
        names = set()
    return "app" if "app" in names else f"'{DEFAULT_APP_ID}'"


def _readable_meta(conn: sqlite3.Connection) -> list[tuple[Any, Any]]:
    """The meta rows, or at least the resume id, from a damaged file."""
    try:
        return conn.execute("SELECT name, value FROM meta").fetchall()
    except sqlite3.DatabaseError:
        pass
    try:
        return conn.execute("SELECT name, value FROM meta WHERE name = ?", (_LAST_EVENT_ID,)).fetchall()
    except sqlite3.DatabaseError:
        log.warning("the stream resume id could not be read from the damaged history")
        return []


def _remove_db(path: Path) -> None:
    """Delete a database file and its companions (a leftover of an interrupted repair)."""
    for suffix in ("", "-wal", "-shm", "-journal"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)


def _create_schema(conn: sqlite3.Connection) -> None:
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        log.warning("event history was written by a newer version (schema %d > %d); using it as is",
                    version, SCHEMA_VERSION)
        return
    if version == SCHEMA_VERSION:
        return
    ours = ", ".join(f"'{name}'" for name in _OUR_TABLES)
    foreign = conn.execute(
        f"SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT IN ({ours})"
    ).fetchone()
    if foreign is not None:
        # Someone else's SQLite file at our path: never write into it.
        raise sqlite3.DatabaseError(f"not a Vendo Tray history (has table {foreign[0]!r})")
    upgrade = "".join(_UPGRADES[v] for v in range(version, SCHEMA_VERSION))
    conn.executescript("BEGIN IMMEDIATE;" + upgrade + f"PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;")
    if version:
        log.info("event history upgraded from schema %d to %d", version, SCHEMA_VERSION)


def _is_corruption(exc: sqlite3.DatabaseError) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return (code & 0xFF) in (_SQLITE_CORRUPT, _SQLITE_NOTADB)
    text = str(exc).lower()
    return "malformed" in text or "not a database" in text


def _amount(row: tuple[Any, ...]) -> Amount:
    kind, when, provider, micros, remaining = row
    try:
        k = Kind(kind)
    except ValueError:
        k = Kind.UNKNOWN
    return Amount(k, datetime.fromisoformat(when), provider, micros, remaining)


def _kind_in(kinds: Iterable[Kind]) -> tuple[str, list[str]]:
    """A ``kind IN (...)`` clause and its parameters (an empty set matches nothing)."""
    names = sorted({Kind(k).value for k in kinds})
    return (f"kind IN ({', '.join('?' * len(names))})" if names else "0"), names


def _app_is(app: str | None) -> tuple[str, tuple[str, ...]]:
    """An ``AND app = ?`` clause and its parameter, or nothing for every app."""
    return ("", ()) if app is None else (" AND app = ?", (app,))


def _where(clauses: list[str]) -> str:
    return " WHERE " + " AND ".join(clauses) if clauses else ""


def _micros(when: datetime) -> int:
    """Microseconds since the epoch; naive datetimes are taken as UTC."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    delta = when - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def _from_micros(micros: int) -> datetime:
    """The aware UTC time ``micros`` microseconds after the epoch (:func:`_micros` backwards)."""
    return _EPOCH + timedelta(microseconds=micros)


def _int64(value: int | None) -> int | None:
    if value is None or _INT64[0] <= value <= _INT64[1]:
        return value
    log.warning("integer %d does not fit the history; stored as empty", value)
    return None


def _encode_data(data: Any) -> tuple[str, int]:
    try:
        text = json.dumps(data, separators=(",", ":"))
        fmt = _DATA_JSON
    except RecursionError:
        # json.loads accepted it, but encoding runs deeper in the stack; ascii() would
        # recurse just the same.  The normalized fields are still stored.
        log.warning("event data nested too deeply to store; keeping its normalized fields only")
        return "<data nested too deeply to store>", _DATA_TEXT
    except (TypeError, ValueError):
        text = ascii(data)
        fmt = _DATA_TEXT
    if len(text) > MAX_RAW_CHARS:
        log.warning("event data of %d characters stored truncated to %d", len(text), MAX_RAW_CHARS)
        return text[:MAX_RAW_CHARS], _DATA_TEXT
    return text, fmt


def _decode_data(text: str | None, fmt: int) -> Any:
    if text is None:
        return None
    if fmt == _DATA_JSON:
        try:
            return json.loads(text)
        except ValueError:
            return text
    return text


def _to_row(e: VendoEvent) -> tuple[Any, ...]:
    data, fmt = _encode_data(e.data)
    kind = e.kind if isinstance(e.kind, Kind) else Kind.UNKNOWN
    return (
        e.key, kind.value, kind.group, e.wire_kind, e.slug, e.connection_id, e.status, e.message,
        _int64(e.remaining_micros), e.provider, _int64(e.micros), e.window, e.pct, e.summary,
        1 if e.needs_action else 0, data, fmt,
        e.at.isoformat() if e.at is not None else None,
        e.received_at.isoformat(), _micros(e.received_at), e.app,
    )


def _from_row(r: tuple[Any, ...]) -> VendoEvent:
    (_id, key, kind, _grp, wire_kind, slug, connection_id, status, message, remaining, provider,
     micros, window, pct, _summary, _action, data, fmt, at, received_at, _received_us, app) = r
    try:
        k = Kind(kind)
    except ValueError:
        k = Kind.UNKNOWN
    return VendoEvent(
        kind=k, wire_kind=wire_kind, key=key, received_at=datetime.fromisoformat(received_at),
        at=datetime.fromisoformat(at) if at else None, slug=slug, connection_id=connection_id,
        status=status, message=message, remaining_micros=remaining, provider=provider,
        micros=micros, window=window, pct=pct, data=_decode_data(data, fmt), app=app,
    )
