"""core.fleet against two real simulators on 127.0.0.1 with different keys, at once.

Each app's events arrive tagged with that app and with links to that app's host
and key; one app's 401 marks only that app; removing an app closes its stream;
notices name the app only while more than one is watched.  No Qt here.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from conftest import stop_task
from test_monitor import FAST_STREAM, Recorder, until
from vendo_tray.core.apps import AppKey, AppProfile
from vendo_tray.core.fleet import Fleet
from vendo_tray.core.kinds import Kind
from vendo_tray.core.notices import ActionKind, Notice
from vendo_tray.core.secrets import KeySource
from vendo_tray.core.settings import Settings
from vendo_tray.core.state import AppState, AppStatus, FleetState, Phase, concern
from vendo_tray.core.store import Store
from vendo_tray.simulator import Simulator

PROD_KEY = "vendo_sk_prod_0123456789"
STAGING_KEY = "vendo_sk_staging_9876543210"
OPTIONS = {"offline_retry": (0.3, 0.6), "stream_options": FAST_STREAM}


@pytest.fixture
def sims() -> Iterator[tuple[Simulator, Simulator]]:
    prod, staging = Simulator(key=PROD_KEY, ping_interval=0.5), Simulator(key=STAGING_KEY, ping_interval=0.5)
    prod.start()
    staging.start()
    try:
        yield prod, staging
    finally:
        prod.stop()
        staging.stop()


def watched(prod: Simulator, staging: Simulator) -> list[AppKey]:
    return [AppKey(AppProfile("prod", "prod", prod.base_url), PROD_KEY, KeySource.KEYRING),
            AppKey(AppProfile("staging", "staging", staging.base_url), STAGING_KEY, KeySource.KEYRING)]


@contextlib.asynccontextmanager
async def running(apps: list[AppKey], path: Path) -> AsyncIterator[tuple[Fleet, Recorder]]:
    fleet = Fleet(settings=Settings(), store=Store.open(path), monitor_options=OPTIONS)
    recorder = Recorder()
    fleet.add_listener(recorder)
    fleet.apply(apps)
    task = asyncio.create_task(fleet.run())
    try:
        yield fleet, recorder
    finally:
        await stop_task(task)
        await fleet.aclose()


def phase(fleet: Fleet, app_id: str) -> Phase | None:
    status = fleet.state.of(app_id)
    return status.state.phase if status is not None else None


def all_live(fleet: Fleet) -> bool:
    return bool(fleet.state.apps) and all(s.state.phase is Phase.LIVE for s in fleet.state.apps)


def reauth_notice(rec: Recorder, app_name: str) -> Notice | None:
    return next((n for n in rec.shown() if n.title == f"{app_name} · Slack needs re-authorization"), None)


async def test_each_apps_events_arrive_tagged_with_that_apps_links(sims, tmp_path) -> None:
    prod, staging = sims
    async with running(watched(prod, staging), tmp_path / "h.db") as (fleet, rec):
        await until(lambda: all_live(fleet), what="both apps live")
        prod.set_connection_status("slack", "needs_reauth")
        staging.set_connection_status("slack", "needs_reauth")
        await until(lambda: reauth_notice(rec, "prod") and reauth_notice(rec, "staging"),
                    what="a named re-authorize notice from each app")
        for sim, app_id, key in ((prod, "prod", PROD_KEY), (staging, "staging", STAGING_KEY)):
            notice = reauth_notice(rec, app_id)
            button = notice.buttons[0]
            assert button.kind is ActionKind.OPEN_URL and button.app == app_id
            url = urlsplit(button.url)
            assert f"{url.scheme}://{url.netloc}" == sim.base_url            # that app's host ...
            assert parse_qs(url.query)["app_key"] == [key]                   # ... with that app's key
            assert fleet.links(app_id).check(button.url) == button.url
            other = "staging" if app_id == "prod" else "prod"
            assert fleet.links(other).check(button.url) is None              # never the other's
            assert notice.subject == f"{app_id}/connection:slack"
            stored = [e for e in fleet.store.page(0, 100, app=app_id) if e.kind is Kind.NEEDS_REAUTH]
            assert len(stored) == 1 and stored[0].app == app_id
        tags = {(e.app, e.kind) for e in rec.events if e.kind is Kind.NEEDS_REAUTH}
        assert tags == {("prod", Kind.NEEDS_REAUTH), ("staging", Kind.NEEDS_REAUTH)}
        assert fleet.store.last_event_id("prod") == prod.last_event_id
        assert fleet.store.last_event_id("staging") == staging.last_event_id


async def test_one_apps_401_marks_only_that_app(sims, tmp_path) -> None:
    prod, staging = sims
    async with running(watched(prod, staging), tmp_path / "h.db") as (fleet, rec):
        await until(lambda: all_live(fleet), what="both apps live")
        staging.set_key_state("revoked")
        staging.drop_streams()
        await until(lambda: phase(fleet, "staging") is Phase.KEY_REJECTED, what="staging rejected")
        assert phase(fleet, "prod") is Phase.LIVE
        assert fleet.state.worst.app.id == "staging" and fleet.state.state.phase is Phase.KEY_REJECTED
        prod.set_connection_status("slack", "error", "token expired")
        await until(lambda: any(e.app == "prod" and e.kind is Kind.ERROR for e in rec.events),
                    what="prod still streaming")
        rejected = [n for n in rec.shown() if n.default and n.default.kind is ActionKind.OPEN_SETTINGS]
        assert [n.default.app for n in rejected] == ["staging"]
        assert rejected[0].title.startswith("staging · ")


async def test_removing_an_app_closes_its_stream_and_keeps_the_other(sims, tmp_path) -> None:
    prod, staging = sims
    both = watched(prod, staging)
    async with running(both, tmp_path / "h.db") as (fleet, rec):
        await until(lambda: all_live(fleet), what="both apps live")
        assert staging.stats.open_streams == 1
        fleet.apply(both[:1])
        await fleet.settle()
        assert fleet.monitor("staging") is None and [s.app.id for s in fleet.state.apps] == ["prod"]
        await until(lambda: staging.stats.open_streams == 0, what="the simulator sees the stream close")
        staging.set_connection_status("slack", "needs_reauth")   # nobody listens to staging now
        prod.set_connection_status("slack", "needs_reauth")
        await until(lambda: any(e.kind is Kind.NEEDS_REAUTH for e in rec.events), what="prod's event")
        await asyncio.sleep(0.3)
        assert {e.app for e in rec.events if e.kind is Kind.NEEDS_REAUTH} == {"prod"}
        assert prod.stats.open_streams == 1 and phase(fleet, "prod") is Phase.LIVE


async def test_a_new_key_source_restarts_only_that_apps_stream_and_the_same_list_nothing(sims, tmp_path) -> None:
    # Every lookup (settings saved, a key stored) applies the whole list again: an app
    # whose key and source are unchanged keeps its stream.
    prod, staging = sims
    both = watched(prod, staging)
    async with running(both, tmp_path / "h.db") as (fleet, rec):
        await until(lambda: all_live(fleet), what="both apps live")
        seen = len(rec.states)
        fleet.apply(watched(prod, staging))                                   # found again, unchanged
        fleet.apply([both[0], replace(both[1], source=KeySource.SESSION)])    # staging's key, now from memory
        await until(lambda: staging.stats.streams_opened == 2 and all_live(fleet), what="staging restarted")
        assert fleet.monitor("staging").state.key_source is KeySource.SESSION
        # A restart of prod would have left LIVE before staging's new stream could open.
        assert prod.stats.streams_opened == 1
        assert all(state.of("prod").state.phase is Phase.LIVE for state in rec.states[seen:])


async def test_notices_name_the_app_only_while_several_are_watched(sims, tmp_path) -> None:
    prod, staging = sims
    both = watched(prod, staging)
    async with running(both[:1], tmp_path / "h.db") as (fleet, rec):
        await until(lambda: all_live(fleet), what="prod live")
        prod.set_connection_status("slack", "needs_reauth")
        await until(lambda: any(n.title == "Slack needs re-authorization" for n in rec.shown()),
                    what="an unnamed notice with one app")
        fleet.apply(both)
        await until(lambda: all_live(fleet), what="both apps live")
        staging.set_connection_status("slack", "needs_reauth")
        await until(lambda: reauth_notice(rec, "staging") is not None, what="a named notice with two apps")


async def test_pause_and_reconnect_reach_all_apps_or_one(sims, tmp_path) -> None:
    from datetime import datetime, timedelta, timezone

    prod, staging = sims
    async with running(watched(prod, staging), tmp_path / "h.db") as (fleet, _rec):
        await until(lambda: all_live(fleet), what="both apps live")
        later = datetime.now(timezone.utc) + timedelta(hours=1)
        fleet.pause(later, "staging")
        assert [s.state.paused for s in fleet.state.apps] == [False, True]
        fleet.pause(later)
        assert all(s.state.paused for s in fleet.state.apps)
        fleet.resume("prod")
        assert [s.state.paused for s in fleet.state.apps] == [False, True]
        before = prod.stats.requests["/api/deployments/me/events"]
        fleet.reconnect_now("prod")
        await until(lambda: prod.stats.requests["/api/deployments/me/events"] > before, what="prod reconnects")


def test_the_worst_app_is_the_one_that_needs_the_user_most() -> None:
    def status(app_id: str, **state: object) -> AppStatus:
        return AppStatus(AppProfile(app_id, app_id, "https://api.vendo.run"), AppState(**state))

    live, offline = status("a", phase=Phase.LIVE), status("b", phase=Phase.OFFLINE)
    rejected = status("c", phase=Phase.KEY_REJECTED)
    assert FleetState((live, offline, rejected)).worst.app.id == "c"
    assert FleetState((live, offline)).worst.app.id == "b"
    assert FleetState((live, status("d", phase=Phase.LIVE))).worst.app.id == "a"   # equals: the first
    assert FleetState().state.phase is Phase.KEY_MISSING                          # no app: add a key
    assert concern(AppState(phase=Phase.LIVE)) == 0
