"""ui.event_model over a real Store: counts, filters, search, paging, live prepend."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from PySide6.QtCore import QPersistentModelIndex, Qt

from event_samples import snapshot_of, story, wire_event
from vendo_tray.core.kinds import Kind
from vendo_tray.core.store import Store
from vendo_tray.ui import event_model as em
from vendo_tray.ui.event_model import EVENT_ROLE, EventFilter, EventTableModel

#: Recent, so that the store's 30-day retention keeps everything.
NOW = datetime.now(timezone.utc).replace(microsecond=0)


class Clock:
    """The model's notion of "now", moved by the test."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def store(tmp_path: Path):
    with Store.open(tmp_path / "history.sqlite3", max_events=100_000) as s:
        yield s


@pytest.fixture
def filled(store: Store):
    events, sim = story(200, now=NOW)
    assert all(store.add_many(events))
    return store, events, sim


def _texts(model: EventTableModel, column: int) -> list[str]:
    return [model.data(model.index(r, column)) for r in range(model.rowCount())]


def test_rows_are_the_store_newest_first(qtbot, filled) -> None:
    store, events, sim = filled
    model = EventTableModel(store, clock=Clock(NOW))
    assert model.rowCount() == 200 == store.count()
    assert model.columnCount() == 5  # the App column is the window's to hide while one app is watched
    assert [model.data(model.index(r, 0), EVENT_ROLE).key for r in range(200)] == \
        [e.key for e in reversed(events)]
    newest = events[-1]
    assert model.data(model.index(0, em.KIND)) == newest.kind.label
    assert model.data(model.index(0, em.SUMMARY)) == newest.summary
    assert model.headerData(em.SUMMARY, Qt.Orientation.Horizontal) == "Summary"


def test_connection_column_uses_snapshot_names(qtbot, filled) -> None:
    store, events, sim = filled
    model = EventTableModel(store, clock=Clock(NOW))
    row = next(r for r in range(model.rowCount())
               if model.data(model.index(r, 0), EVENT_ROLE).slug == "slack")
    assert model.data(model.index(row, em.CONNECTION)) == "slack"  # no snapshot yet: the slug
    assert model.data(model.index(row, em.SUMMARY)).startswith("slack ")
    with qtbot.waitSignal(model.dataChanged):
        model.set_connections(snapshot_of(sim).connections)
    assert model.data(model.index(row, em.CONNECTION)) == "Slack"
    assert model.data(model.index(row, em.SUMMARY)).startswith("Slack ")  # the summary names it too
    assert model.data(model.index(row, em.CONNECTION), Qt.ItemDataRole.DecorationRole) is not None
    billing = next(r for r in range(model.rowCount())
                   if model.data(model.index(r, 0), EVENT_ROLE).kind is Kind.USAGE)
    assert model.data(model.index(billing, em.CONNECTION)) == ""


def test_relative_time_exact_on_hover_and_ticks(qtbot, store: Store) -> None:
    clock = Clock(NOW)
    store.add(wire_event(1, "billing.usage_recorded", {"provider": "openai", "micros": 5_000},
                         NOW - timedelta(seconds=10)))
    model = EventTableModel(store, clock=clock)
    index = model.index(0, em.TIME)
    assert model.data(index) == "just now"
    tooltip = model.data(index, Qt.ItemDataRole.ToolTipRole)
    assert str((NOW - timedelta(seconds=10)).astimezone().year) in tooltip
    assert ":" in tooltip  # hours:minutes:seconds
    clock.now = NOW + timedelta(minutes=5)
    with qtbot.waitSignal(model.dataChanged):
        model.tick()
    assert model.data(index) == "5 min ago"


@pytest.mark.parametrize(
    ("flt", "check"),
    [
        (EventFilter(groups=("billing",)), lambda e: e.kind.group == "billing"),
        (EventFilter(groups=("connection",)), lambda e: e.kind.group == "connection"),
        (EventFilter(slug="github"), lambda e: e.slug == "github"),
        (EventFilter(needs_action=True),
         lambda e: e.kind in (Kind.NEEDS_REAUTH, Kind.ERROR, Kind.BALANCE_LOW,
                              Kind.BALANCE_EXHAUSTED, Kind.CAP_TRIPPED) or e.status == "revoked"),
        (EventFilter(text="anthropic"), lambda e: "anthropic" in e.summary),
        (EventFilter(groups=("connection",), slug="github", needs_action=True),
         lambda e: e.slug == "github" and e.kind is Kind.ERROR),
    ],
    ids=["billing", "connection", "slug", "needs-action", "search", "combined"],
)
def test_filters_match_the_store(qtbot, filled, flt: EventFilter, check) -> None:
    store, events, _ = filled
    model = EventTableModel(store, clock=Clock(NOW))
    with qtbot.waitSignal(model.modelReset):
        model.set_filter(flt)
    expected = [e.key for e in reversed(events) if check(e)]
    assert expected, "the story must contain matching events"
    assert model.rowCount() == len(expected) == store.count(**flt.store_kwargs())
    assert [model.data(model.index(r, 0), EVENT_ROLE).key for r in range(model.rowCount())] == expected


def test_search_is_literal_and_can_match_nothing(qtbot, filled) -> None:
    store, _, _ = filled
    model = EventTableModel(store, clock=Clock(NOW))
    model.set_filter(EventFilter(text="100%_sure"))
    assert model.rowCount() == 0
    assert model.event_at(0) is None
    model.set_filter(EventFilter())
    assert model.rowCount() == 200


def test_pages_are_read_lazily_and_memory_stays_bounded(qtbot, store: Store) -> None:
    events = [wire_event(i, "billing.usage_recorded", {"provider": "openai", "micros": i},
                         NOW - timedelta(seconds=3000 - i)) for i in range(1, 3001)]
    store.add_many(events)
    model = EventTableModel(store, clock=Clock(NOW), page_size=50)
    assert model.rowCount() == 3000
    assert len(model._pages) == 1  # only the first page was read to open
    for row in range(0, 3000, 7):
        assert model.event_at(row).key == events[-1 - row].key
    assert len(model._pages) <= em.MAX_PAGES
    assert model.event_at(2999).key == events[0].key
    assert model.row_of(events[-120].key) == 119
    assert model.row_of("evt_nope") is None


def test_live_events_are_prepended(qtbot, filled) -> None:
    store, events, _ = filled
    model = EventTableModel(store, clock=Clock(NOW))
    watched = QPersistentModelIndex(model.index(5, em.SUMMARY))
    key_at_5 = model.data(model.index(5, 0), EVENT_ROLE).key
    fresh = [wire_event(1000 + i, "billing.balance_changed", {"remaining_micros": 1_000_000 + i},
                        NOW + timedelta(seconds=i)) for i in range(3)]
    store.add_many(fresh)
    with qtbot.waitSignal(model.rowsInserted, timeout=2000) as inserted:
        for event in fresh:
            model.note_new_event(event)  # a burst: one sync
    assert inserted.args[1:] == [0, 2]
    assert model.rowCount() == 203
    assert [model.data(model.index(r, 0), EVENT_ROLE).key for r in range(3)] == [e.key for e in reversed(fresh)]
    assert watched.row() == 8  # what the user had selected moved with its row
    assert model.data(model.index(8, 0), EVENT_ROLE).key == key_at_5


def test_live_events_outside_the_filter_add_no_rows(qtbot, filled) -> None:
    store, _, _ = filled
    model = EventTableModel(store, clock=Clock(NOW))
    model.set_filter(EventFilter(groups=("connection",)))
    before = model.rowCount()
    usage = wire_event(2000, "billing.usage_recorded", {"provider": "openai", "micros": 10}, NOW)
    reauth = wire_event(2001, "connection.status_changed",
                        {"slug": "gmail", "connection_id": "conn_1", "status": "needs_reauth"}, NOW)
    store.add(usage)
    model.sync()
    assert model.rowCount() == before
    store.add(reauth)
    with qtbot.waitSignal(model.rowsInserted):
        model.sync()
    assert model.rowCount() == before + 1
    assert model.data(model.index(0, em.SUMMARY)) == "gmail needs re-authorization"


def test_retention_removes_rows_at_the_bottom(qtbot, tmp_path: Path) -> None:
    events, _ = story(200, now=NOW)
    with Store.open(tmp_path / "h.sqlite3", max_events=250) as store:
        store.add_many(events[:150])
        model = EventTableModel(store, clock=Clock(NOW))
        assert model.rowCount() == 150
        store.add_many(events[150:])
        assert store.prune() == 0  # 200 stored, the limit is 250
        more = [wire_event(5000 + i, "billing.usage_recorded", {"provider": "openai", "micros": 1},
                           NOW + timedelta(seconds=i)) for i in range(80)]
        store.add_many(more)
        assert store.prune() == 30  # 280 stored: the 30 oldest go
        with qtbot.waitSignals([model.rowsRemoved, model.rowsInserted]):
            model.sync()
        assert model.rowCount() == 250 == store.count()
        keys = [model.data(model.index(r, 0), EVENT_ROLE).key for r in range(250)]
        assert keys == [e.key for e in reversed(events[30:] + more)]


def test_a_burst_larger_than_a_page_resets_cleanly(qtbot, filled) -> None:
    store, _, _ = filled
    model = EventTableModel(store, clock=Clock(NOW), page_size=20)
    burst = [wire_event(7000 + i, "billing.usage_recorded", {"provider": "openai", "micros": 1},
                        NOW + timedelta(seconds=i)) for i in range(45)]
    store.add_many(burst)
    with qtbot.waitSignal(model.modelReset):
        model.sync()
    assert model.rowCount() == 245
    assert model.event_at(0).key == burst[-1].key
