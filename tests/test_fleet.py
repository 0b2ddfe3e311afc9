"""core.fleet against two real simulators on 127.0.0.1 with different keys, at once.

Each app's events arrive tagged with that app and with links to that app's host
and key; one app's 401 marks only that app; removing an app closes its stream;
notices name the app only while more than one is watched; a monitor that ends on
its own is logged and started again.  No Qt here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from conftest import log_text, stop_task
from test_monitor import FAST_STREAM, Recorder, until
from vendo_tray.client import ReconnectPolicy
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
#: A crashed monitor starts again after 0.05 s, doubling to 0.2 s; one that ran 0.3 s starts the count over.
RESTARTS = ReconnectPolicy(max_failures=None, backoff_base=0.05, max_backoff=0.2, stable_after=0.3)


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
async def running(apps: list[AppKey], path: Path,
                  restarts: ReconnectPolicy = RESTARTS) -> AsyncIterator[tuple[Fleet, Recorder]]:
    fleet = Fleet(settings=Settings(), store=Store.open(path), monitor_options=OPTIONS, restarts=restarts)
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


def monitor_tasks() -> set[str]:
    """The fleet's tasks still running, one per app (a monitor's own are "vendo-monitor-tick" and the like)."""
    return {t.get_name() for t in asyncio.all_tasks()} & {"vendo-monitor-prod", "vendo-monitor-staging"}


def restarts_logged(caplog: pytest.LogCaptureFixture, app_id: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "vendo_tray.core.fleet" and r.levelno == logging.ERROR
            and r.getMessage().startswith(f"the monitor of app {app_id} ")]


def paced(delay: float) -> ReconnectPolicy:
    """Restarts always ``delay`` seconds apart."""
    return replace(RESTARTS, backoff_base=delay, max_backoff=delay)


class Unreadable:
    """What a buggy rule handed back instead of a notice: reading it fails, quoting a URL with the key."""

    def __init__(self, url: str) -> None:
        self._url = url

    def __getattr__(self, name: str) -> object:
        raise RuntimeError(f"a bug in a rule: GET {self._url} failed")


async def test_a_monitor_that_crashes_is_logged_once_redacted_shown_offline_and_listens_again(
        sims, tmp_path, log_file, caplog) -> None:
    """A monitor task that died used to be marked seen and forgotten: that app went deaf, and
    the tray went on showing its last state."""
    prod, staging = sims
    async with running(watched(prod, staging), tmp_path / "h.db", restarts=paced(0.5)) as (fleet, rec):
        await until(lambda: all_live(fleet), what="both apps live")
        seen = len(rec.states)
        monitor = fleet.monitor("staging")
        rule = monitor.policy.on_stream

        def broken(phase: Phase, detail: str | None) -> list:
            if phase is not Phase.OFFLINE:
                return rule(phase, detail)
            del monitor.policy.on_stream  # once: the restarted monitor gets the real rule
            # A rule's exception is caught; a malformed answer escapes run() (the fault under test).
            return [Unreadable(f"{staging.base_url}/x?app_key={STAGING_KEY}")]

        monitor.policy.on_stream = broken  # type: ignore[method-assign]
        staging.add_fault("status", count=6, status=503)
        staging.drop_streams()                     # the client gives up: offline, and the rule fails
        await until(lambda: restarts_logged(caplog, "staging"), what="the crash logged")
        down = AppState(phase=Phase.OFFLINE, detail="unexpected error: RuntimeError (see the log)", retry_in=0.5)
        assert any((s.phase, s.detail, s.retry_in) == (down.phase, down.detail, down.retry_in)
                   for s in (state.of("staging").state for state in rec.states)), "shown down, with the countdown"
        await until(lambda: phase(fleet, "staging") is Phase.LIVE, timeout=15, what="staging live again")
        staging.set_connection_status("slack", "needs_reauth")
        await until(lambda: any(e.app == "staging" and e.kind is Kind.NEEDS_REAUTH for e in rec.events),
                    what="staging's events recorded after the restart")
        assert all(state.of("prod").state.phase is Phase.LIVE for state in rec.states[seen:])
    [crash] = restarts_logged(caplog, "staging")
    assert crash.exc_info is not None
    text = log_text(log_file)
    assert text.count("the monitor of app staging failed; starting it again in 0.5 s") == 1
    assert "Traceback" in text and "a bug in a rule: GET " in text
    assert STAGING_KEY not in text and "app_key=[redacted]" in text
    assert not monitor_tasks()


async def test_a_monitor_that_keeps_ending_is_restarted_on_a_growing_bounded_schedule(
        sims, tmp_path, caplog) -> None:
    """Returning is the same fault as crashing: run() never ends by design."""
    prod, staging = sims
    async with running(watched(prod, staging), tmp_path / "h.db") as (fleet, rec):
        monitor = fleet.monitor("staging")
        real, starts = monitor.run, 0

        async def ending() -> None:  # in place before the fleet's task first runs
            nonlocal starts
            starts += 1
            if starts == 5:
                await asyncio.sleep(RESTARTS.stable_after * 1.5)  # up long enough: the count starts over
            elif starts == 6:
                await real()

        monitor.run = ending  # type: ignore[method-assign]
        await until(lambda: all_live(fleet), what="both apps live after the restarts")
        staging.set_connection_status("slack", "needs_reauth")
        await until(lambda: any(e.app == "staging" and e.kind is Kind.NEEDS_REAUTH for e in rec.events),
                    what="staging's events recorded")
        ended = restarts_logged(caplog, "staging")
        assert [r.getMessage() for r in ended] == [f"the monitor of app staging ended; starting it again in {d:g} s"
                                                   for d in (0.05, 0.1, 0.2, 0.2, 0.05)]
        assert all(r.exc_info is None for r in ended)
        assert not restarts_logged(caplog, "prod")


async def test_removing_an_app_or_stopping_the_fleet_cancels_its_pending_restart(sims, tmp_path, caplog) -> None:
    prod, staging = sims
    async with running(watched(prod, staging), tmp_path / "h.db", restarts=paced(1.0)) as (fleet, _rec):
        starts = {"prod": 0, "staging": 0}
        for app_id in starts:
            async def ending(app_id: str = app_id) -> None:  # in place before the fleet's task first runs
                starts[app_id] += 1

            fleet.monitor(app_id).run = ending  # type: ignore[method-assign]
        await until(lambda: starts == {"prod": 1, "staging": 1}
                    and phase(fleet, "staging") is phase(fleet, "prod") is Phase.OFFLINE,
                    what="both restarts pending")
        fleet.apply(watched(prod, staging)[:1])
        await fleet.settle()
        assert monitor_tasks() == {"vendo-monitor-prod"}
        await until(lambda: starts["prod"] == 2, what="prod's restart (staging's was due with it)")
        await asyncio.sleep(0.1)
        assert starts == {"prod": 2, "staging": 1} and len(restarts_logged(caplog, "staging")) == 1
    assert not monitor_tasks(), "the fleet stopped with a restart pending: nothing left running"



async def test_a_monitor_that_fails_while_it_is_stopped_is_logged_and_not_started_again(
        sims, tmp_path, caplog) -> None:
    prod, staging = sims
    both = watched(prod, staging)
    async with running(both, tmp_path / "h.db", restarts=paced(0.05)) as (fleet, _rec):
        starts = 0

        async def failing_teardown() -> None:  # in place before the fleet's task first runs
            nonlocal starts
            starts += 1
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                raise RuntimeError("a bug in a teardown") from None

        fleet.monitor("staging").run = failing_teardown  # type: ignore[method-assign]
        await until(lambda: starts == 1 and phase(fleet, "prod") is Phase.LIVE, what="both running")
        fleet.apply(both[:1])
        await fleet.settle()
        await asyncio.sleep(0.2)  # four restart delays
        assert starts == 1 and monitor_tasks() == {"vendo-monitor-prod"}
        [stopped] = restarts_logged(caplog, "staging")
        assert stopped.getMessage() == "the monitor of app staging failed while stopping" and stopped.exc_info
