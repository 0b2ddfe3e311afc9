"""ui.window.MainWindow with two Vendo apps: an app filter and column, each app's figures and links."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings, Qt

from event_samples import BASE_URL, snapshot_of, story, wire_event
from test_window import KEY, Parts, _row_where, _select
from vendo_tray.client import Balance
from vendo_tray.core.apps import AppProfile
from vendo_tray.core.kinds import Kind
from vendo_tray.core.links import Links
from vendo_tray.core.state import AppState, AppStatus, FleetState, Phase
from vendo_tray.core.store import Store
from vendo_tray.ui import connection_model as cm
from vendo_tray.ui import event_model as em
from vendo_tray.ui.window import MainWindow

STAGING_URL = "https://staging.vendo.run"
STAGING_KEY = "vendo_sk_staging_9876543210"
PROD = AppProfile("prod", "prod", BASE_URL)
STAGING = AppProfile("staging", "staging", STAGING_URL)


@pytest.fixture
def two_apps(qtbot, tmp_path: Path):
    """Prod's long story and staging's short one in one store; the window built as the shell builds it."""
    now = datetime.now(timezone.utc)
    prod_events, prod_sim = story(120, now=now)
    staging_events, staging_sim = story(30, now=now, seed=3)
    with Store.open(tmp_path / "history.sqlite3") as store:
        assert all(store.add_many([replace(e, app="prod") for e in prod_events], app="prod"))
        assert all(store.add_many([replace(e, app="staging") for e in staging_events], app="staging"))
        prod = AppState(phase=Phase.LIVE, snapshot=snapshot_of(prod_sim, taken_at=now))
        staging_snapshot = replace(snapshot_of(staging_sim, taken_at=now),
                                   connections=snapshot_of(staging_sim).connections[:2],
                                   balance=Balance(credits_remaining_micros=1_230_000))
        staging = AppState(phase=Phase.LIVE, snapshot=staging_snapshot)
        fleet = FleetState((AppStatus(PROD, prod), AppStatus(STAGING, staging)))
        links = {"prod": Links(BASE_URL, lambda: KEY), "staging": Links(STAGING_URL, lambda: STAGING_KEY)}
        win = MainWindow(Parts(store=store, state=prod, links=links["prod"]),
                         window_settings=QSettings(str(tmp_path / "w.ini"), QSettings.Format.IniFormat))
        qtbot.addWidget(win)
        win.on_fleet(fleet, links)
        yield win, fleet, links, store


def _choose(win: MainWindow, app_id: str | None) -> None:
    win.app_combo.setCurrentIndex(win.app_combo.findData(app_id))


def test_right_click_mutes_a_connection_of_its_own_app_and_the_row_shows_it(
        qtbot, tmp_path: Path) -> None:
    """Through the shell's real wiring (a Fleet of two monitors): the menu reaches the row's
    app's monitor, and the row and the details pane show the mute that comes back."""
    from datetime import timedelta

    from vendo_tray.core.apps import AppKey
    from vendo_tray.core.display import until_text
    from vendo_tray.core.fleet import Fleet
    from vendo_tray.core.policy import local_now
    from vendo_tray.core.secrets import KeySource
    from vendo_tray.core.settings import Settings
    from vendo_tray.ui.app import _WindowSource
    from vendo_tray.ui.bridge import MonitorBridge

    now = datetime.now(timezone.utc)
    events, sim = story(60, now=now)
    with Store.open(tmp_path / "history.sqlite3") as store:
        store.add_many([replace(e, app="staging") for e in events], app="staging")
        fleet = Fleet(settings=Settings(base_url=BASE_URL), store=store)
        fleet.apply([AppKey(PROD, KEY, KeySource.KEYRING), AppKey(STAGING, STAGING_KEY, KeySource.KEYRING)])
        for monitor in fleet.monitors:  # both apps list the same connections
            monitor.state = replace(monitor.state, phase=Phase.LIVE, snapshot=snapshot_of(sim, taken_at=now))
        links = {m.app.id: m.links for m in fleet.monitors}
        win = MainWindow(_WindowSource(fleet),
                         window_settings=QSettings(str(tmp_path / "w.ini"), QSettings.Format.IniFormat))
        qtbot.addWidget(win)
        bridge = MonitorBridge()
        fleet.add_listener(bridge)
        bridge.state_changed_signal.connect(lambda state: win.on_fleet(state, links))
        win.on_fleet(FleetState(tuple(AppStatus(m.app, m.state) for m in fleet.monitors)), links)
        win.show()
        win.tabs.setCurrentIndex(1)
        model, view = win.connections_model, win.connections_view

        def row(app_id: str, slug: str) -> int:
            return next(r for r in range(model.rowCount())
                        if model.app_at(r) == app_id and model.connection_at(r).slug == slug)

        def right_click(app_id: str, slug: str) -> list[str]:
            view.customContextMenuRequested.emit(view.visualRect(model.index(row(app_id, slug), cm.NAME)).center())
            assert win.row_menu is not None
            return [a.text() for a in win.row_menu.actions() if not a.isSeparator()]

        def choose(text: str) -> None:
            assert win.row_menu is not None
            next(a for a in win.row_menu.actions() if a.text() == text).trigger()
            win.row_menu.close()

        def message(app_id: str, slug: str) -> str:
            return model.data(model.index(row(app_id, slug), cm.MESSAGE))

        prod, staging = fleet.monitor("prod"), fleet.monitor("staging")
        assert right_click("staging", "github") == [
            "Mute notifications for 1 hour", "Mute notifications for 1 day", "Mute notifications until unmuted"]
        before = local_now()
        choose("Mute notifications for 1 hour")
        after = local_now()
        mute = staging.state.mute_of("github")
        assert mute is not None and before + timedelta(hours=1) <= mute.until <= after + timedelta(hours=1)
        assert prod.state.mutes == () and store.mutes("prod") == {}      # the other app's github is not muted
        assert store.mutes("staging") == {"github": mute.until}
        error = "GitHub API returned 401: token expired"
        assert message("staging", "github") == f"Muted until {until_text(mute.until)} · {error}"
        assert model.data(model.index(row("staging", "github"), cm.MESSAGE), Qt.ItemDataRole.DecorationRole)
        assert message("prod", "github") == error

        win.tabs.setCurrentIndex(0)
        _select(win, _row_where(win, lambda e: e.slug == "github"))   # staging's: the only app with events
        assert win.details.connection.text().endswith(f"· notifications muted until {until_text(mute.until)}")

        win.tabs.setCurrentIndex(1)
        assert right_click("staging", "github")[0] == "&Unmute notifications"
        choose("Mute notifications until unmuted")                        # a new choice replaces the old
        assert message("staging", "github") == f"Muted · {error}" and store.mutes("staging") == {"github": None}
        right_click("staging", "github")
        choose("&Unmute notifications")
        assert staging.state.mute_of("github") is None and store.mutes("staging") == {}
        assert message("staging", "github") == error
        assert not model.data(model.index(row("staging", "github"), cm.MESSAGE), Qt.ItemDataRole.DecorationRole)
        assert "muted" not in win.details.connection.text()


def test_one_app_shows_no_app_filter_or_column(two_apps) -> None:
    win, fleet, links, _store = two_apps
    win.on_fleet(FleetState(fleet.apps[:1]), links)
    assert win.app_combo.isHidden() and win.events_view.isColumnHidden(em.APP)
    assert win.connections_view.isColumnHidden(cm.APP)
    assert not win.phase_label.text().startswith("prod")


def test_the_app_filter_narrows_events_connections_and_figures(two_apps) -> None:
    win, fleet, _links, store = two_apps
    assert not win.app_combo.isHidden() and not win.events_view.isColumnHidden(em.APP)
    assert [win.app_combo.itemText(i) for i in range(win.app_combo.count())] == ["All apps", "prod", "staging"]
    assert win.events_model.rowCount() == store.count() == 150
    _choose(win, "staging")
    assert win.events_model.rowCount() == 30
    model = win.events_model
    assert {model.data(model.index(r, em.APP)) for r in range(model.rowCount())} == {"staging"}
    assert win.balance_value.text() == "$1.23" and win.phase_label.text().startswith("staging: ")
    assert win.connections_model.rowCount() == 2
    _choose(win, None)
    both = len(fleet.apps[0].state.snapshot.connections) + 2
    assert win.connections_model.rowCount() == both
    apps = {win.connections_model.data(win.connections_model.index(r, cm.APP)) for r in range(both)}
    assert apps == {"prod", "staging"}


def test_an_events_links_go_to_its_own_apps_host_with_its_key(qtbot, two_apps) -> None:
    win, _fleet, links, _store = two_apps
    _choose(win, "staging")
    event = _select(win, _row_where(win, lambda e: e.kind is Kind.NEEDS_REAUTH or e.kind is Kind.BALANCE))
    assert event.app == "staging"
    with qtbot.waitSignal(win.open_url_requested) as opened:
        win.details.action_buttons[0].click()
    url, app_id = opened.args
    assert app_id == "staging" and url.startswith(STAGING_URL) and links["staging"].allowed(url)
    assert not links["prod"].allowed(url)


def test_a_removed_app_leaves_the_filter_and_its_choice(two_apps) -> None:
    win, fleet, links, _store = two_apps
    _choose(win, "staging")
    win.on_fleet(FleetState(fleet.apps[:1]), {"prod": links["prod"]})
    assert win.app_combo.currentData() is None and win.events_model.filter.app is None


def test_a_clicked_notice_shows_its_own_apps_event_when_two_apps_share_an_id(two_apps) -> None:
    win, _fleet, _links, store = two_apps
    now = datetime.now(timezone.utc)
    same = wire_event(999_999, "connection.needs_reauth", {"slug": "slack", "connection_id": "c1"}, now)
    store.add(replace(same, app="prod"))
    store.add(replace(same, app="staging"))
    _choose(win, "prod")                                     # staging's row is filtered out
    win.show_event(same.key, "staging")
    shown = win.details.shown_event
    assert (shown.key, shown.app) == (same.key, "staging")
    assert win.app_combo.currentData() is None and win.events_model.filter.app is None
