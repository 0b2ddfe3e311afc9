"""ui.window.MainWindow with a real store, real links and a realistic history."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import json
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication, QPushButton

from event_samples import BASE_URL, snapshot_of, story, wire_event
from vendo_tray.core.kinds import Kind, VendoEvent
from vendo_tray.core.links import Links
from vendo_tray.core.runway import Basis, Runway
from vendo_tray.core.state import AppState, Phase
from vendo_tray.core.store import Store
from vendo_tray.ui import connection_model as cm
from vendo_tray.ui import event_model as em
from vendo_tray.ui.event_model import EVENT_ROLE
from vendo_tray.ui.window import MainWindow

KEY = "vendo_sk_test_0123456789abcdef"


@dataclass
class Parts:
    """What the window reads from the monitor (``ui.window.WindowSource``), built from real core parts."""

    store: Store
    state: AppState
    links: Links


@pytest.fixture
def parts(tmp_path: Path):
    now = datetime.now(timezone.utc)
    events, sim = story(200, now=now)
    with Store.open(tmp_path / "history.sqlite3") as store:
        assert all(store.add_many(events))
        state = AppState(phase=Phase.LIVE, key_source="keyring", snapshot=snapshot_of(sim, taken_at=now))
        yield Parts(store=store, state=state, links=Links(BASE_URL, lambda: KEY)), events


@pytest.fixture
def settings(tmp_path: Path) -> QSettings:
    return QSettings(str(tmp_path / "window.ini"), QSettings.Format.IniFormat)


@pytest.fixture
def window(qtbot, parts, settings):
    source, _ = parts
    win = MainWindow(source, window_settings=settings)
    qtbot.addWidget(win)
    return win


def _row_where(win: MainWindow, predicate) -> int:
    model = win.events_model
    for row in range(model.rowCount()):
        if predicate(model.data(model.index(row, 0), EVENT_ROLE)):
            return row
    raise AssertionError("no such row")


def _select(win: MainWindow, row: int) -> VendoEvent:
    win.events_view.setCurrentIndex(win.events_model.index(row, em.SUMMARY))
    return win.events_model.event_at(row)


def test_header_shows_balance_caps_and_phase(window: MainWindow, parts) -> None:
    source, _ = parts
    snap = source.state.snapshot
    assert window.balance_value.text() == f"${snap.balance.credits_remaining_micros / 1e6:,.2f}"
    assert window.daily_value.text().endswith("of $5.00")
    assert window.monthly_value.text().endswith("of $100.00")
    assert window.phase_label.text() == "Live"
    window.on_state(replace(source.state, phase=Phase.RECONNECTING, retry_in=4, detail="connection refused"))
    assert window.phase_label.text() == "Reconnecting in 4 s — connection refused"
    assert window.tabs.tabText(1) == "C&onnections (3 need action)"  # github error, notion revoked, slack
    assert window.runway_label.text() == ""  # not estimated yet: nothing rather than a guess
    window.on_state(replace(source.state, runway=Runway(snap.balance.credits_remaining_micros)))
    assert window.runway_label.text() == "· too little history yet to say how long it lasts"
    burn = snap.balance.credits_remaining_micros / 3
    window.on_state(replace(source.state, runway=Runway(snap.balance.credits_remaining_micros, burn, Basis.TODAY)))
    assert window.runway_label.text() == "· about 3 days left at today's rate"


def test_filter_controls_drive_the_model(qtbot, window: MainWindow, parts) -> None:
    source, _ = parts
    store = source.store
    assert window.events_model.rowCount() == 200
    assert window.count_label.text() == "200 events"

    window.kind_combo.setCurrentIndex(window.kind_combo.findData("billing"))
    assert window.events_model.rowCount() == store.count(groups=["billing"])
    assert window.count_label.text().endswith("events shown")

    names = [window.connection_combo.itemText(i) for i in range(window.connection_combo.count())]
    assert names[0] == "All connections" and {"GitHub", "Slack", "Notion"} <= set(names)
    window.kind_combo.setCurrentIndex(0)
    window.connection_combo.setCurrentIndex(window.connection_combo.findData("github"))
    assert window.events_model.rowCount() == store.count(slug="github") > 0

    window.connection_combo.setCurrentIndex(0)
    window.needs_action_button.click()
    assert window.events_model.rowCount() == store.count(needs_action=True) > 0
    window.needs_action_button.click()
    assert window.events_model.rowCount() == 200


def test_search_is_debounced(qtbot, window: MainWindow, parts) -> None:
    source, _ = parts
    qtbot.keyClicks(window.search_edit, "anthropic")
    assert window.events_model.rowCount() == 200  # not yet: the user is still typing
    expected = source.store.count(text="anthropic")
    assert 0 < expected < 200
    qtbot.waitUntil(lambda: window.events_model.rowCount() == expected, timeout=2000)
    window.search_edit.clear()
    qtbot.waitUntil(lambda: window.events_model.rowCount() == 200, timeout=2000)


def test_live_events_are_prepended_and_new_connections_filterable(qtbot, window: MainWindow, parts) -> None:
    source, _ = parts
    fresh = wire_event(9001, "connection.connected", {"slug": "zendesk", "connection_id": "conn_z"},
                       datetime.now(timezone.utc))
    source.store.add(fresh)
    window.on_event(fresh)
    qtbot.waitUntil(lambda: window.events_model.rowCount() == 201, timeout=2000)
    assert window.events_model.event_at(0).key == fresh.key
    assert window.connection_combo.findData("zendesk") > 0
    assert window.count_label.text() == "201 events"


def test_details_pane_shows_the_json_and_copies_it(qtbot, window: MainWindow) -> None:
    row = _row_where(window, lambda e: e.kind is Kind.USAGE)
    event = _select(window, row)
    details = window.details
    assert details.title.text() == "Usage recorded"
    assert details.summary.text() == event.summary
    assert details.event_id.text() == event.key
    assert details.wire_kind.text() == "billing.usage_recorded"
    text = details.json_view.toPlainText()
    assert json.loads(text) == event.data
    assert "\n  " in text  # pretty, not one line
    details.copy_button.click()
    assert QGuiApplication.clipboard().text() == text


def test_server_text_is_never_rendered_as_html(qtbot, window: MainWindow, parts) -> None:
    source, _ = parts
    hostile = wire_event(9002, "connection.status_changed",
                         {"slug": "<img src=x>", "connection_id": "c<b>", "status": "error",
                          "message": "<a href='https://evil.example'>click</a>"},
                         datetime.now(timezone.utc))
    source.store.add(hostile)
    window.events_model.sync()
    _select(window, 0)
    for label in (window.details.title, window.details.summary, window.details.connection):
        assert label.textFormat() == Qt.TextFormat.PlainText
    assert "<a href=" in window.details.summary.text()


def test_event_actions_emit_checked_urls(qtbot, window: MainWindow, parts) -> None:
    source, _ = parts
    links = source.links
    slack = source.state.snapshot.connection("slack")
    _select(window, _row_where(window, lambda e: e.kind is Kind.NEEDS_REAUTH and e.slug == "slack"))
    labels = [b.text() for b in window.details.action_buttons]
    assert labels == ["Re-authorize", "Open in dashboard"]
    with qtbot.waitSignal(window.open_url_requested) as opened:
        window.details.action_buttons[0].click()
    url = opened.args[0]
    assert url == links.reauthorize("slack", slack.id)
    assert url.startswith(f"{BASE_URL}/connections/connect/slack?") and links.allowed(url)

    _select(window, _row_where(window, lambda e: e.kind is Kind.BALANCE))
    assert [b.text() for b in window.details.action_buttons] == ["Top up", "Open in dashboard"]
    with qtbot.waitSignal(window.open_url_requested) as opened:
        window.details.action_buttons[0].click()
    assert opened.args[0] == f"{BASE_URL}/billing"


def test_a_hostile_top_up_url_is_never_emitted(qtbot, window: MainWindow, parts) -> None:
    source, _ = parts
    snap = source.state.snapshot
    evil = replace(snap, balance=replace(snap.balance, top_up_url="https://vendo.run.evil.example/pay"))
    window.on_state(replace(source.state, snapshot=evil))
    _select(window, _row_where(window, lambda e: e.kind is Kind.BALANCE))
    with qtbot.waitSignal(window.open_url_requested) as opened:
        window.details.action_buttons[0].click()
    assert opened.args[0] == f"{BASE_URL}/billing"


def test_an_old_reauth_event_for_a_healthy_connection_offers_no_reauthorize(qtbot, window, parts) -> None:
    source, _ = parts
    row = _row_where(window, lambda e: e.kind is Kind.ERROR and e.slug == "github")
    snap = source.state.snapshot
    healthy = tuple(replace(c, status="connected", error_message=None) if c.slug == "github" else c
                    for c in snap.connections)
    window.on_state(replace(source.state, snapshot=replace(snap, connections=healthy)))
    _select(window, row)
    assert [b.text() for b in window.details.action_buttons] == ["Open in dashboard"]


def test_connections_tab_lists_status_message_and_action(qtbot, window: MainWindow, parts) -> None:
    source, _ = parts
    model = window.connections_model
    assert model.rowCount() == len(source.state.snapshot.connections)
    first = [model.data(model.index(r, cm.NAME)) for r in range(3)]
    assert set(first) == {"GitHub", "Notion", "Slack"}  # the ones needing action come first
    github = model.row_of("github")
    assert model.data(model.index(github, cm.STATUS)) == "Error"
    assert model.data(model.index(github, cm.MESSAGE)) == "GitHub API returned 401: token expired"
    button = window.connections_view.indexWidget(model.index(github, cm.ACTION)).findChild(QPushButton)
    assert button.text() == "Re-authorize"
    with qtbot.waitSignal(window.open_url_requested) as opened:
        button.click()
    assert "/connections/connect/github?" in opened.args[0]

    gmail = source.state.snapshot.connection("gmail")
    cell = window.connections_view.indexWidget(model.index(model.row_of("gmail"), cm.ACTION))
    assert cell.findChild(QPushButton).text() == "Manage"
    with qtbot.waitSignal(window.open_url_requested) as opened:
        cell.findChild(QPushButton).click()
    assert opened.args[0] == f"{BASE_URL}/dashboard/connections/{gmail.id}"


def test_connections_tab_counts_what_needs_action_in_good_english(window: MainWindow, parts) -> None:
    source, _ = parts
    snap = source.state.snapshot
    assert window.tabs.tabText(1) == f"C&onnections ({len(snap.needing_action)} need action)"
    first = snap.needing_action[0].slug
    one = tuple(c if c.slug == first or c not in snap.needing_action
                else replace(c, status="connected", error_message=None) for c in snap.connections)
    window.on_state(replace(source.state, snapshot=replace(snap, connections=one)))
    assert window.tabs.tabText(1) == "C&onnections (1 needs action)"


def test_show_event_clears_a_hiding_filter_and_selects_it(qtbot, window: MainWindow, parts) -> None:
    _, events = parts
    target = next(e for e in reversed(events) if e.kind is Kind.NEEDS_REAUTH)
    window.kind_combo.setCurrentIndex(window.kind_combo.findData("billing"))
    window.show_event(target.key)
    assert window.isVisible()
    assert window.tabs.currentIndex() == 0
    assert window.kind_combo.currentIndex() == 0
    current = window.events_view.currentIndex()
    assert window.events_model.event_at(current.row()).key == target.key
    assert window.details.shown_event.key == target.key
    window.show_event("evt_not_stored")
    assert window.details.shown_event is None


def test_close_hides_and_geometry_is_remembered(qtbot, parts, settings: QSettings) -> None:
    source, _ = parts
    first = MainWindow(source, window_settings=settings)
    qtbot.addWidget(first)
    first.show()
    qtbot.waitExposed(first)
    first.resize(720, 480)  # fits the offscreen 800x600 screen too
    first.move(40, 50)
    qtbot.waitUntil(lambda: first.size().width() == 720)
    first.splitter.setSizes([300, 150])
    sizes = first.splitter.sizes()
    assert first.close() is False  # closing is refused: the app lives in the tray
    assert not first.isVisible()

    second = MainWindow(source, window_settings=settings)
    qtbot.addWidget(second)
    assert (second.width(), second.height()) == (720, 480)
    second.show()
    qtbot.waitExposed(second)
    assert second.splitter.sizes() == sizes
    if QGuiApplication.platformName() != "offscreen":
        assert second.pos() == first.pos()


def test_keyboard_shortcuts_and_tab_order(qtbot, window: MainWindow) -> None:
    window.show()
    qtbot.waitExposed(window)
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=2000)
    qtbot.keyClick(window, Qt.Key.Key_2, Qt.KeyboardModifier.ControlModifier)
    assert window.tabs.currentIndex() == 1
    qtbot.keyClick(window, Qt.Key.Key_1, Qt.KeyboardModifier.ControlModifier)
    assert window.tabs.currentIndex() == 0
    qtbot.keyClick(window, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    assert window.search_edit.hasFocus()
    qtbot.keyClick(window.search_edit, Qt.Key.Key_Tab)
    assert window.kind_combo.hasFocus()
    qtbot.keyClick(window.kind_combo, Qt.Key.Key_Tab)
    assert window.connection_combo.hasFocus()
    qtbot.keyClick(window.connection_combo, Qt.Key.Key_Tab)
    assert window.needs_action_button.hasFocus()
    qtbot.keyClick(window.needs_action_button, Qt.Key.Key_Tab)
    assert window.events_view.hasFocus()
    qtbot.keyClick(window.events_view, Qt.Key.Key_Down)
    assert window.details.shown_event is not None
    qtbot.keyClick(window.events_view, Qt.Key.Key_Escape)
    assert not window.isVisible()


def test_escape_in_search_clears_it_first(qtbot, window: MainWindow) -> None:
    window.show()
    qtbot.waitExposed(window)
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=2000)
    window.search_edit.setFocus()
    qtbot.keyClicks(window.search_edit, "slack")
    qtbot.keyClick(window.search_edit, Qt.Key.Key_Escape)
    assert window.search_edit.text() == ""
    assert window.isVisible()


def test_screenshots_of_both_tabs(qtbot, window: MainWindow, screenshots_dir: Path) -> None:
    """docs/screenshots/window-*.png, from the realistic history (for the README)."""
    window.resize(1100, 720)
    window.show()
    qtbot.waitExposed(window)
    _select(window, _row_where(window, lambda e: e.kind is Kind.NEEDS_REAUTH and e.slug == "slack"))
    window.events_view.scrollToTop()
    QApplication.processEvents()
    shots = {"window-events.png": 0, "window-connections.png": 1}
    for name, tab in shots.items():
        window.tabs.setCurrentIndex(tab)
        QApplication.processEvents()
        image = window.grab().toImage()
        assert image.width() >= 1100 and image.height() >= 720
        assert image.save(str(screenshots_dir / name))
        assert (screenshots_dir / name).stat().st_size > 20_000


def test_the_real_monitor_is_a_window_source(qtbot, tmp_path: Path, settings: QSettings) -> None:
    """The app hands the window its Monitor: store, state and links are read from it."""
    from vendo_tray.core.monitor import Monitor
    from vendo_tray.core.settings import Settings

    events, _ = story(30)
    with Store.open(tmp_path / "monitor.sqlite3") as store:
        store.add_many(events)
        monitor = Monitor(settings=Settings(base_url=BASE_URL), key=KEY, key_source="env", store=store)
        win = MainWindow(monitor, window_settings=settings)
        qtbot.addWidget(win)
        assert win.events_model.rowCount() == 30
        assert win.phase_label.text() == "Connecting…"
        _select(win, _row_where(win, lambda e: e.kind is Kind.USAGE))
        with qtbot.waitSignal(win.open_url_requested) as opened:
            win.details.action_buttons[0].click()
        assert opened.args[0] == monitor.links.top_up(None)


def test_rows_arriving_on_top_do_not_move_what_the_user_reads(qtbot, window: MainWindow, parts) -> None:
    source, _ = parts
    window.show()
    qtbot.waitExposed(window)
    view = window.events_view
    view.scrollTo(window.events_model.index(120, 0), view.ScrollHint.PositionAtTop)
    top_key = window.events_model.event_at(view.rowAt(0)).key
    fresh = [wire_event(9100 + i, "billing.usage_recorded", {"provider": "openai", "micros": 10},
                        datetime.now(timezone.utc) + timedelta(seconds=i)) for i in range(4)]
    source.store.add_many(fresh)
    for event in fresh:
        window.on_event(event)
    qtbot.waitUntil(lambda: window.events_model.rowCount() == 204, timeout=2000)
    assert window.events_model.event_at(view.rowAt(0)).key == top_key


def test_json_too_deep_to_write_back_is_described_not_raised() -> None:
    from vendo_tray.ui.details_pane import pretty_json

    nested: list = []
    cursor = nested
    for _ in range(100_000):  # deeper than json.dumps can recurse
        inner: list = []
        cursor.append(inner)
        cursor = inner
    assert "nested too deeply" in pretty_json({"a": nested})
    assert pretty_json({"slug": "slack"}) == '{\n  "slug": "slack"\n}'


# ----------------------------------------------------------------- the Spend tab


def _spend_window(qtbot, store: Store, state: AppState, settings: QSettings) -> MainWindow:
    win = MainWindow(Parts(store=store, state=state, links=Links(BASE_URL, lambda: KEY)), window_settings=settings)
    qtbot.addWidget(win)
    return win


def test_the_spend_tab_draws_the_stored_billing_events_and_follows_new_ones(qtbot, window: MainWindow,
                                                                            parts) -> None:
    source, events = parts
    assert window.spend_view is None  # nothing is built before the tab is first shown
    window.tabs.setCurrentIndex(2)
    chart = window.spend_view.chart
    usage = [e for e in events if e.kind is Kind.USAGE]
    assert chart.history.total == sum(e.micros for e in usage) > 0
    assert set(chart.history.providers) == {e.provider for e in usage}
    assert chart.history.balance[-1].micros == source.state.snapshot.balance.credits_remaining_micros
    assert window.spend_view.summary.text().startswith("Last 30 days: $")

    window.resize(1000, 640)
    window.show()
    qtbot.waitExposed(window)
    from PySide6.QtCore import QPoint
    qtbot.waitUntil(lambda: chart.width() > 900, timeout=2000)
    _, bars, _ = chart._plot()
    qtbot.mouseMove(chart, QPoint(int(bars.right()) - 3, int(bars.center().y())))
    qtbot.waitUntil(lambda: chart.hover == 29, timeout=2000)
    lines = chart.callout_lines()
    assert lines[1].startswith("Spent $") and lines[-1].startswith("Balance $")

    newest = wire_event(9001, "billing.usage_recorded", {"provider": "brand-new", "micros": 4_200_000},
                        datetime.now(timezone.utc))
    assert source.store.add(newest)
    window.on_event(newest)
    qtbot.waitUntil(lambda: "brand-new" in chart.history.providers, timeout=3000)
    assert chart.history.providers[0] == "brand-new"  # the biggest spender stacks first


def test_a_busy_stream_does_not_postpone_the_spend_tab_forever(qtbot, window: MainWindow, parts) -> None:
    """States arriving more often than the refresh delay used to restart it again and again."""
    source, _ = parts
    window.tabs.setCurrentIndex(2)
    chart = window.spend_view.chart
    newest = wire_event(9002, "billing.usage_recorded", {"provider": "late-comer", "micros": 1_000},
                        datetime.now(timezone.utc))
    assert source.store.add(newest)
    window.on_event(newest)
    busy = [replace(source.state, retry_in=n) for n in range(20)]  # a state every 200 ms for 4 s
    for state in busy:
        window.on_state(state)
        qtbot.wait(200)
        if "late-comer" in chart.history.providers:
            break
    assert "late-comer" in chart.history.providers


def test_the_spend_tab_says_what_will_appear_when_nothing_is_recorded(qtbot, tmp_path: Path,
                                                                       settings: QSettings) -> None:
    from vendo_tray.ui.spend_view import EMPTY_TEXT

    with Store.open(tmp_path / "empty.sqlite3") as store:
        win = _spend_window(qtbot, store, AppState(phase=Phase.LIVE), settings)
        win.tabs.setCurrentIndex(2)
        assert win.spend_view.chart.history.empty
        assert "balance over time" in EMPTY_TEXT and "per day" in EMPTY_TEXT
        assert win.spend_view.summary.text() == "Last 30 days: $0.00 spent"


def test_the_spend_module_is_loaded_only_when_its_tab_is_first_shown(tmp_path: Path) -> None:
    """A fresh interpreter: building the window must not import the charts."""
    import subprocess
    import sys

    script = f"""
import sys
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication
from vendo_tray.core.links import Links
from vendo_tray.core.state import AppState
from vendo_tray.core.store import Store
from vendo_tray.ui.window import MainWindow
app = QApplication([])
class Parts:
    store = Store.open({str(tmp_path / "h.sqlite3")!r})
    state = AppState()
    links = Links("https://vendo.run", lambda: None)
win = MainWindow(Parts(), window_settings=QSettings({str(tmp_path / "w.ini")!r}, QSettings.Format.IniFormat))
print("before", "vendo_tray.ui.spend_view" in sys.modules)
win.tabs.setCurrentIndex(2)
print("after", "vendo_tray.ui.spend_view" in sys.modules)
"""
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=60)
    assert out.stdout.split() == ["before", "False", "after", "True"], out.stderr


def test_screenshot_of_the_spend_tab(qtbot, tmp_path: Path, settings: QSettings, screenshots_dir: Path) -> None:
    """docs/screenshots/window-spend.png: a month of usage with a top-up, a day under the pointer."""
    from PySide6.QtCore import QPoint

    from vendo_tray.core.runway import runway_from

    now = datetime.now(timezone.utc)
    events, sim = story(900, now=now, span=timedelta(days=28), seed=11)
    # The balance as a real account sees it: $18 spent down, a $10 top-up nine days ago.
    top_up_at, balance = now - timedelta(days=9, hours=5), 18_000_000
    month: list[VendoEvent] = []
    for event in events:
        if event.when > top_up_at >= (month[-1].when if month else event.when):
            balance += 10_000_000
            month.append(wire_event(9000, "billing.balance_changed", {"remaining_micros": balance}, top_up_at))
        if event.kind is Kind.USAGE:
            balance -= event.micros
        month.append(replace(event, remaining_micros=balance) if event.kind is Kind.BALANCE else event)
    today = sum(e.micros for e in month if e.kind is Kind.USAGE and e.when.date() == now.date())
    with Store.open(tmp_path / "month.sqlite3") as store:
        store.add_many(month)
        snapshot = snapshot_of(sim, taken_at=now)
        snapshot = replace(snapshot, balance=replace(snapshot.balance, credits_remaining_micros=balance),
                           caps=replace(snapshot.caps, used_today_micros=today, used_month_micros=18_000_000))
        runway = runway_from(store, balance_micros=balance, now=now)
        win = _spend_window(qtbot, store, AppState(phase=Phase.LIVE, snapshot=snapshot, runway=runway), settings)
        win.resize(1100, 720)
        win.show()
        qtbot.waitExposed(win)
        win.tabs.setCurrentIndex(2)
        chart = win.spend_view.chart
        assert chart.history.total > 0 and len(chart.history.providers) >= 4
        qtbot.waitUntil(lambda: chart.width() > 1000, timeout=2000)  # laid out in the shown window
        _, bars, _ = chart._plot()
        qtbot.mouseMove(chart, QPoint(int(bars.left() + bars.width() * 24.5 / 30), int(bars.center().y())))
        qtbot.waitUntil(lambda: chart.hover is not None, timeout=2000)
        assert chart.hover == 24, (chart.hover, bars, chart.size())
        QApplication.processEvents()
        image = win.grab().toImage()
        assert image.width() >= 1100 and image.height() >= 720
        assert image.save(str(screenshots_dir / "window-spend.png"))
        assert (screenshots_dir / "window-spend.png").stat().st_size > 20_000


def test_relative_times_tick_only_while_the_window_is_shown(qtbot, window: MainWindow) -> None:
    """A window once opened lives on hidden all day: its 30 s redraw must not."""
    ticking = window.events_model._tick_timer
    assert not ticking.isActive()
    window.show()
    qtbot.waitExposed(window)
    assert ticking.isActive()
    window.close()  # hides: the app lives on in the tray
    assert not window.isVisible() and not ticking.isActive()
