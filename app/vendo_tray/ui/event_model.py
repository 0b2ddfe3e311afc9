"""The "Recent events" table model: a window onto the store, never a copy of it.

WHY windowed paging instead of ``fetchMore``: with ``fetchMore`` the
scrollbar only covers what was loaded, so reaching an event from last week
means dragging through thousands of rows, and everything scrolled past stays
in memory.  Here ``rowCount`` is the store's filtered count (one SQLite
``count``), and rows are read on demand in pages of :data:`PAGE_SIZE`, keeping
at most :data:`MAX_PAGES` pages; memory stays flat at 100,000 rows and the
scrollbar is honest.

Live events: the store orders by row id, newest first, so new events are
always at the top.  :meth:`EventTableModel.note_new_event` schedules one
:meth:`sync` per burst; it reads the newest page with row ids and counts how
many rows are above the previously newest one, inserting exactly those at row
0 (and removing rows retention pruned from the bottom), so the selection and
the scroll position follow the rows the user was looking at.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from typing import Any

from PySide6.QtCore import (
    QModelIndex,
    QObject,
    Qt,
    QTimer,
    Signal,
)

from vendo_tray.client import Connection
from vendo_tray.core.display import (
    event_severity,
    exact_time,
    relative_time,
    status_label,
)
from vendo_tray.core.kinds import VendoEvent
from vendo_tray.core.store import EventFilter, Store
from vendo_tray.ui.palette import SEVERITY_COLORS, brand_color, dot_icon
from vendo_tray.ui.table_model import HeaderedTableModel, Index

log = logging.getLogger(__name__)

PAGE_SIZE = 200
MAX_PAGES = 20
#: Live updates arriving within this many ms are applied as one sync.
SYNC_DELAY_MS = 100
#: How often the "2 min ago" column is refreshed.
TICK_MS = 30_000


EVENT_ROLE = Qt.ItemDataRole.UserRole + 1
KEY_ROLE = Qt.ItemDataRole.UserRole + 2

TIME, KIND, CONNECTION, SUMMARY, APP = range(5)
#: The App column is last: the window hides it while one app is watched.
HEADERS = ("Time", "Kind", "Connection", "Summary", "App")

#: Dot for an event whose connection has no (usable) brand colour.
_NEUTRAL_CONNECTION = "#a0a7b3"


class EventTableModel(HeaderedTableModel):
    """Rows = the store's filtered events, newest first; see the module docstring."""

    HEADERS = HEADERS

    #: Emitted after a reset or sync with the new total, for a "1,234 events" label.
    count_changed = Signal(int)

    def __init__(self, store: Store, parent: QObject | None = None, *,
                 clock: Callable[[], datetime] | None = None, page_size: int = PAGE_SIZE) -> None:
        super().__init__(parent)
        self._store = store
        self._clock = clock or (lambda: datetime.now(timezone.utc))
        self._page_size = page_size
        self._filter = EventFilter()
        self._count = 0
        self._pages: OrderedDict[int, list[VendoEvent]] = OrderedDict()
        self._top_id: int | None = None
        self._now = self._clock()
        self._connections: dict[str, Connection] = {}
        self._app_names: dict[str, str] = {}
        self._sync_timer = QTimer(self)
        self._sync_timer.setSingleShot(True)
        self._sync_timer.setInterval(SYNC_DELAY_MS)
        self._sync_timer.timeout.connect(self.sync)
        self._tick_timer = QTimer(self)
        self._tick_timer.setInterval(TICK_MS)
        self._tick_timer.timeout.connect(self.tick)  # started by set_shown(True)
        self._load()

    # ------------------------------------------------------------------ public API

    @property
    def filter(self) -> EventFilter:
        return self._filter

    @property
    def store(self) -> Store:
        return self._store

    def set_filter(self, new: EventFilter) -> None:
        """Show only matching events (a model reset: selections do not carry over)."""
        if new == self._filter:
            return
        self._filter = new
        self.reload()

    def reload(self) -> None:
        """Re-read everything (after a filter change, or when the store was replaced)."""
        self.beginResetModel()
        self._load()
        self.endResetModel()
        self.count_changed.emit(self._count)

    def set_connections(self, connections: Iterable[Connection]) -> None:
        """Display names and brand colours for the connection column (from the snapshot)."""
        fresh = {c.slug: c for c in connections}
        if fresh == self._connections:
            return
        self._connections = fresh
        if self._count:
            # Names show in the connection column and in the summary.
            self.dataChanged.emit(self.index(0, CONNECTION), self.index(self._count - 1, SUMMARY))

    def set_app_names(self, names: dict[str, str]) -> None:
        """Each app's name by id, for the App column."""
        if names == self._app_names:
            return
        self._app_names = dict(names)
        if self._count:
            self.dataChanged.emit(self.index(0, APP), self.index(self._count - 1, APP))

    def connection_name(self, slug: str | None) -> str:
        if not slug:
            return ""
        conn = self._connections.get(slug)
        return conn.display_name if conn is not None and conn.display_name else slug

    def note_new_event(self, event: VendoEvent | None = None) -> None:
        """The store got (or may have got) new events: sync once the burst settles."""
        if not self._sync_timer.isActive():
            self._sync_timer.start()

    def event_at(self, row: int) -> VendoEvent | None:
        """The event shown in ``row`` (reading its page from the store if needed)."""
        if row < 0 or row >= self._count:
            return None
        number, within = divmod(row, self._page_size)
        page = self._pages.get(number)
        if page is None:
            page = self._store.page(number * self._page_size, self._page_size,
                                    **self._filter.store_kwargs())
            self._remember(number, page)
        else:
            self._pages.move_to_end(number)
        return page[within] if within < len(page) else None

    def row_of(self, key: str, *, limit: int = 2_000, app: str | None = None) -> int | None:
        """The row showing the event ``key`` (of ``app``: two apps may both have ``evt_1``)
        among the newest ``limit`` rows, or None.

        Bounded because callers (a click on a notification) look for recent
        events; an event deeper than that is shown in the details pane alone.
        """
        for row in range(min(limit, self._count)):
            event = self.event_at(row)
            if event is not None and event.key == key and app in (None, event.app):
                return row
        return None

    def now(self) -> datetime:
        """The model's clock (injected in tests)."""
        return self._clock()

    def set_shown(self, shown: bool) -> None:
        """Keep relative times ticking only while a view shows them.

        WHY: a window once opened stays alive hidden for the rest of the day;
        a 30 s timer redrawing nobody's "2 min ago" would wake the app all day.
        """
        if shown:
            self.tick()
            self._tick_timer.start()
        else:
            self._tick_timer.stop()

    def tick(self) -> None:
        """Advance "now" so relative times ("2 min ago") stay true."""
        self._now = self._clock()
        if self._count:
            self.dataChanged.emit(self.index(0, TIME), self.index(self._count - 1, TIME),
                                  [Qt.ItemDataRole.DisplayRole])

    def sync(self) -> None:
        """Apply what the store gained (at the top) and lost (pruned, at the bottom)."""
        self._sync_timer.stop()
        kwargs = self._filter.store_kwargs()
        head = self._store.page_before(None, self._page_size, **kwargs)
        new_count = self._store.count(**kwargs)
        if self._top_id is None:
            added = len(head) if self._count == 0 else -1
        else:
            added = sum(1 for row_id, _ in head if row_id > self._top_id)
            if added == len(head) and head:
                added = -1  # more new rows than one page: we cannot place them exactly
        removed = self._count + added - new_count
        if added < 0 or removed < 0 or removed > self._count:
            log.debug("event list resynced from scratch (%d -> %d rows)", self._count, new_count)
            self.reload()
            return
        self._now = self._clock()
        self._pages.clear()
        if removed:
            self.beginRemoveRows(QModelIndex(), self._count - removed, self._count - 1)
            self._count -= removed
            self.endRemoveRows()
        if added:
            self.beginInsertRows(QModelIndex(), 0, added - 1)
            self._count += added
            self._remember(0, [event for _, event in head])
            self._top_id = head[0][0]
            self.endInsertRows()
        else:
            self._remember(0, [event for _, event in head])
        if added or removed:
            self.count_changed.emit(self._count)

    @property
    def total(self) -> int:
        return self._count

    # ------------------------------------------------------------------ Qt model API

    def row_total(self) -> int:
        return self._count

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        event = self.event_at(index.row())
        if event is None:
            return None
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(event, column)
        if role == Qt.ItemDataRole.DecorationRole:
            return self._decoration(event, column)
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(event, column)
        if role == EVENT_ROLE:
            return event
        if role == KEY_ROLE:
            return event.key
        return None

    # ------------------------------------------------------------------ internals

    def _load(self) -> None:
        kwargs = self._filter.store_kwargs()
        self._pages.clear()
        self._now = self._clock()
        self._count = self._store.count(**kwargs)
        head = self._store.page_before(None, self._page_size, **kwargs)
        self._top_id = head[0][0] if head else None
        self._remember(0, [event for _, event in head])

    def _remember(self, number: int, page: list[VendoEvent]) -> None:
        self._pages[number] = page
        self._pages.move_to_end(number)
        while len(self._pages) > MAX_PAGES:
            self._pages.popitem(last=False)

    def _display(self, event: VendoEvent, column: int) -> str:
        if column == TIME:
            return relative_time(event.when, self._now)
        if column == KIND:
            return event.kind.label
        if column == CONNECTION:
            return self.connection_name(event.slug) or ("—" if event.kind.group == "connection" else "")
        if column == APP:
            return self._app_names.get(event.app, event.app)
        return event.describe(self.connection_name(event.slug))

    def _decoration(self, event: VendoEvent, column: int) -> Any:
        if column == KIND:
            return dot_icon(SEVERITY_COLORS[event_severity(event)])
        if column == CONNECTION and event.slug:
            conn = self._connections.get(event.slug)
            color = brand_color(conn.brand_color) if conn is not None else None
            return dot_icon(color.name() if color is not None else _NEUTRAL_CONNECTION)
        return None

    def _tooltip(self, event: VendoEvent, column: int) -> str | None:
        if column == TIME:
            text = exact_time(event.when)
            if event.at is not None and abs((event.received_at - event.at).total_seconds()) >= 60:
                text += f"\nreceived {exact_time(event.received_at)}"
            return text
        if column == KIND:
            return f"{event.kind.label} ({event.wire_kind})"
        if column == CONNECTION and event.slug:
            conn = self._connections.get(event.slug)
            if conn is None:
                return event.slug
            return f"{conn.display_name} ({conn.slug}) — now {status_label(conn.status).lower()}"
        if column == SUMMARY:
            return event.describe(self.connection_name(event.slug))
        return None
