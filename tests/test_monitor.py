"""The engine end to end against the real simulator: stream → store → policy → listener.

No Qt here: the monitor must run on a plain asyncio loop.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from conftest import stop_task
from vendo_tray.client.events import give_up_text
from vendo_tray.core.kinds import Kind, VendoEvent
from vendo_tray.core.monitor import Monitor, Outcome
from vendo_tray.core.notices import ActionKind, Notice, Withdraw
from vendo_tray.core.settings import Settings
from vendo_tray.core.state import AppState, Phase
from vendo_tray.core.store import Store

FAST_STREAM = {"backoff_base": 0.05, "min_interval": 0.05, "max_backoff": 0.2, "heartbeat_timeout": 3.0}


@dataclass
class Recorder:
    """A MonitorListener that keeps everything it is told."""

    states: list[AppState] = field(default_factory=list)
    events: list[VendoEvent] = field(default_factory=list)
    notices: list[Notice | Withdraw] = field(default_factory=list)

    def state_changed(self, state: AppState) -> None:
        self.states.append(state)

    def event_recorded(self, event: VendoEvent) -> None:
        self.events.append(event)

    def notice(self, item: Notice | Withdraw) -> None:
        self.notices.append(item)

    def shown(self) -> list[Notice]:
        return [n for n in self.notices if isinstance(n, Notice)]


async def until(predicate: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


@contextlib.asynccontextmanager
async def running(sim, key: str | None, store_path: Path,
                  offline_retry: tuple[float, float] = (0.3, 0.6)) -> AsyncIterator[tuple[Monitor, Recorder]]:
    store = Store.open(store_path)
    monitor = Monitor(settings=Settings(base_url=sim.base_url), key=key, key_source="env", store=store,
                      offline_retry=offline_retry, stream_options=FAST_STREAM)
    recorder = Recorder()
    monitor.add_listener(recorder)
    task = asyncio.create_task(monitor.run())
    try:
        yield monitor, recorder
    finally:
        await stop_task(task)
        await monitor.aclose()


def live(monitor: Monitor) -> Callable[[], bool]:
    return lambda: monitor.state.phase is Phase.LIVE


async def test_needs_reauth_is_stored_once_and_notified_once_with_a_reauthorize_link(
        simulator, api_key, tmp_path) -> None:
    async with running(simulator, api_key, tmp_path / "h.db") as (monitor, rec):
        await until(live(monitor), what="live")
        await until(lambda: monitor.state.snapshot.taken_at is not None, what="first snapshot")
        simulator.set_connection_status("slack", "needs_reauth")
        await until(lambda: any(e.kind is Kind.NEEDS_REAUTH for e in rec.events), what="the event")
        await asyncio.sleep(0.3)  # the alias block arrives right after; it must not count twice

        reauth = [e for e in rec.events if e.kind is Kind.NEEDS_REAUTH]
        assert len(reauth) == 1, "the legacy alias block is the same event"
        assert monitor.store.count() == len(rec.events)
        popups = [n for n in rec.shown() if n.subject == "connection:slack"]
        assert len(popups) == 1
        button = popups[0].buttons[0]
        assert button.kind is ActionKind.OPEN_URL and button.label == "Re-authorize"
        assert button.url.startswith(f"{simulator.base_url}/connections/connect/slack?")
        assert monitor.links.check(button.url) == button.url

        simulator.set_connection_status("slack", "connected")
        await until(lambda: any(isinstance(n, Withdraw) and n.subject == "connection:slack"
                                for n in rec.notices), what="the withdraw on recovery")


async def test_wrong_key_is_rejected_once_and_a_new_key_goes_live(simulator, api_key, tmp_path) -> None:
    async with running(simulator, "vendo_sk_wrong_key_000", tmp_path / "h.db") as (monitor, rec):
        await until(lambda: monitor.state.phase is Phase.KEY_REJECTED, what="key rejected")
        assert "vendo_sk_wrong" not in (monitor.state.detail or "")
        rejected = [n for n in rec.shown() if n.default and n.default.kind is ActionKind.OPEN_SETTINGS]
        assert len(rejected) == 1
        streams_before = simulator.stats.requests["/api/deployments/me/events"]
        await asyncio.sleep(0.5)
        assert simulator.stats.requests["/api/deployments/me/events"] == streams_before, "no retry on 401"

        monitor.set_key(api_key, "keyring")
        await until(live(monitor), what="live with the right key")
        assert monitor.state.key_source == "keyring"


async def test_no_key_waits_for_one(simulator, api_key, tmp_path) -> None:
    async with running(simulator, None, tmp_path / "h.db") as (monitor, rec):
        await until(lambda: monitor.state.phase is Phase.KEY_MISSING, what="key missing")
        assert simulator.stats.requests["/api/deployments/me/events"] == 0
        monitor.set_key(api_key, "session")
        await until(live(monitor), what="live")


async def test_after_the_client_gives_up_it_goes_offline_and_recovers_on_its_own(
        simulator, api_key, tmp_path) -> None:
    async with running(simulator, api_key, tmp_path / "h.db") as (monitor, rec):
        await until(live(monitor), what="live")
        simulator.add_fault("status", count=6, status=503)
        simulator.drop_streams()
        await until(lambda: monitor.state.phase is Phase.OFFLINE, what="offline")
        assert monitor.state.retry_in is not None
        gave_up = [e for e in rec.events if e.kind is Kind.STREAM_ERROR]
        assert gave_up, "the give-up is recorded in history"
        assert monitor.state.detail == give_up_text(gave_up[-1].data), "the one stream-error wording"
        await until(live(monitor), timeout=15, what="live again on the slower schedule")


async def test_reconnect_now_skips_the_offline_wait(simulator, api_key, tmp_path) -> None:
    async with running(simulator, api_key, tmp_path / "h.db", offline_retry=(60.0, 60.0)) as (monitor, rec):
        await until(live(monitor), what="live")
        simulator.add_fault("status", count=4, status=503)
        simulator.drop_streams()
        await until(lambda: monitor.state.phase is Phase.OFFLINE, what="offline")
        monitor.reconnect_now()
        await until(live(monitor), what="live right after Reconnect now")


async def test_restart_resumes_with_last_event_id_and_records_every_event_exactly_once(
        simulator, api_key, tmp_path) -> None:
    path = tmp_path / "history.db"
    async with running(simulator, api_key, path) as (monitor, rec):
        await until(live(monitor), what="live")
        for micros in (9_000_000, 8_000_000):
            simulator.set_balance(micros)
        await until(lambda: len([e for e in rec.events if e.kind is Kind.BALANCE]) == 2, what="two events")
    # The app is gone; the server goes on.
    missed = [simulator.emit("billing.balance_changed", {"remaining_micros": m}) for m in (7, 6, 5)]
    async with running(simulator, api_key, path) as (monitor, rec):
        await until(lambda: all(monitor.store.get(k) for k in missed), what="the missed events")
        assert simulator.stats.last_event_ids[-1] is not None, "resumed with Last-Event-ID"
        simulator.set_balance(4_000_000)
        await until(lambda: any(e.remaining_micros == 4_000_000 for e in rec.events), what="a live event")

    store = Store.open(path)
    try:
        keys = [e.key for e in store.page(0, 1000) if e.kind is Kind.BALANCE]
    finally:
        store.close()
    assert len(keys) == len(set(keys)) == 6
    assert set(missed) <= set(keys)


@pytest.mark.parametrize("wire_kind, data, expected", [
    ("connection.needs_reauth", {"slug": "gmail", "connection_id": "c1"}, "Gmail"),
    ("billing.balance_exhausted", {}, "Balance"),
])
async def test_seed_kinds_notify_too(simulator, api_key, tmp_path, wire_kind, data, expected) -> None:
    async with running(simulator, api_key, tmp_path / "h.db") as (monitor, rec):
        await until(live(monitor), what="live")
        simulator.emit(wire_kind, data)
        await until(lambda: any(expected.lower() in n.title.lower() for n in rec.shown()),
                    what=f"a notice for {wire_kind}")


@pytest.mark.parametrize("bad_url", ["ftp://vendo.run", "https://bad host.example", "https://vendo.run:99999"])
async def test_an_unusable_base_url_parks_the_monitor_until_the_settings_change(
        simulator, api_key, tmp_path, bad_url) -> None:
    # A hand-edited settings file or VENDO_BASE_URL must not kill the engine: it says why
    # it is offline and goes live once the URL is fixed.
    store = Store.open(tmp_path / "h.db")
    monitor = Monitor(settings=Settings(base_url=bad_url), key=api_key, key_source="env", store=store,
                      offline_retry=(0.3, 0.6), stream_options=FAST_STREAM)
    task = asyncio.create_task(monitor.run())
    try:
        await until(lambda: monitor.state.phase is Phase.OFFLINE or task.done(), what="offline")
        assert not task.done(), task.exception()
        assert "base URL" in (monitor.state.detail or "")
        await asyncio.sleep(0.5)
        assert not task.done()
        monitor.apply_settings(Settings(base_url=simulator.base_url))
        await until(live(monitor), what="live after the fix")
    finally:
        await stop_task(task)
        await monitor.aclose()


async def test_cancel_during_a_restart_teardown_still_stops_the_monitor(
        simulator, api_key, tmp_path, monkeypatch) -> None:
    # Quitting while a restart tears the old stream down (closing a response takes a
    # moment) must stop the engine, not be swallowed so that it starts a new stream.
    entered = asyncio.Event()

    async def slow_teardown(self, client) -> Outcome:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            entered.set()
            await asyncio.sleep(0.3)
            raise
        return Outcome.OFFLINE

    monkeypatch.setattr(Monitor, "_consume", slow_teardown)
    store = Store.open(tmp_path / "h.db")
    monitor = Monitor(settings=Settings(base_url=simulator.base_url), key=api_key, key_source="env",
                      store=store, stream_options=FAST_STREAM)
    task = asyncio.create_task(monitor.run())
    try:
        await asyncio.sleep(0.05)
        monitor.reconnect_now()
        await asyncio.wait_for(entered.wait(), 5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(task, 5)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, TimeoutError):
            await asyncio.wait_for(task, 1)
        await monitor.aclose()


async def test_an_unexpected_stream_failure_is_logged_and_retried_not_fatal(
        simulator, api_key, tmp_path, monkeypatch, caplog) -> None:
    calls = 0

    async def broken(self, client) -> str:
        nonlocal calls
        calls += 1
        raise RuntimeError("a bug")

    monkeypatch.setattr(Monitor, "_consume", broken)
    store = Store.open(tmp_path / "h.db")
    monitor = Monitor(settings=Settings(base_url=simulator.base_url), key=api_key, key_source="env",
                      store=store, offline_retry=(0.1, 0.1), stream_options=FAST_STREAM)
    task = asyncio.create_task(monitor.run())
    try:
        await until(lambda: calls >= 2 or task.done(), what="a second attempt")
        assert not task.done(), task.exception()
        assert "events stream failed unexpectedly" in caplog.text
    finally:
        await stop_task(task)
        await monitor.aclose()


async def test_a_failure_deciding_on_one_event_costs_no_other_event(simulator, api_key, tmp_path) -> None:
    async with running(simulator, api_key, tmp_path / "h.db") as (monitor, rec):
        await until(live(monitor), what="live")
        decide = monitor.policy.on_event

        def flaky(event, snapshot=None):
            if event.remaining_micros == 13:
                raise RuntimeError("a policy bug")
            return decide(event, snapshot)

        monitor.policy.on_event = flaky
        keys = [simulator.emit("billing.balance_changed", {"remaining_micros": m}) for m in (13, 0)]
        await until(lambda: any(n.title.lower().startswith("vendo balance exhausted") for n in rec.shown()),
                    what="the next event's notice")
        assert all(monitor.store.get(k) for k in keys)
        assert [e.key for e in rec.events if e.key in keys] == keys


async def test_a_stop_in_the_same_turn_as_reconnect_now_stops_the_monitor(simulator, api_key, tmp_path) -> None:
    """``asyncio.wait_for`` (Python 3.11) returns instead of raising when what it waits for
    finishes in the same turn as the cancel: the offline wait lost the stop and the
    "stopped" monitor opened a new stream."""
    store = Store.open(tmp_path / "h.db")
    monitor = Monitor(settings=Settings(base_url=simulator.base_url), key=api_key, key_source="env",
                      store=store, offline_retry=(60.0, 60.0), stream_options=FAST_STREAM)
    task = asyncio.create_task(monitor.run())
    try:
        await until(live(monitor), what="live")
        simulator.add_fault("status", count=3, status=503)
        simulator.drop_streams()
        await until(lambda: monitor.state.phase is Phase.OFFLINE, what="offline, waiting a minute")
        monitor.reconnect_now()
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=5)
        assert done and task.cancelled(), "the monitor went on after it was stopped"
        assert monitor.liveness.mode == "stopped" and simulator.stats.streams_opened == 1
    finally:
        await stop_task(task)
        await monitor.aclose()


def test_pause_shows_in_state_and_a_time_already_past_does_not_pause(tmp_path) -> None:
    from datetime import datetime, timedelta

    store = Store.open(tmp_path / "h.db")
    monitor = Monitor(settings=Settings(), key=None, key_source=None, store=store)
    soon = datetime.now().astimezone() + timedelta(hours=1)
    monitor.pause(soon)
    assert monitor.state.paused_until == soon
    monitor.resume()
    assert monitor.state.paused_until is None
    monitor.pause(datetime.now().astimezone() - timedelta(minutes=1))
    assert monitor.state.paused_until is None and not monitor.state.paused
    store.close()


async def test_after_a_restart_what_happened_meanwhile_is_one_notice_about_what_still_matters(
        simulator, api_key, tmp_path) -> None:
    path = tmp_path / "history.db"
    async with running(simulator, api_key, path) as (monitor, rec):
        await until(live(monitor), what="live")
        simulator.set_balance(9_000_000)
        await until(lambda: any(e.kind is Kind.BALANCE for e in rec.events), what="a first event")
    # Away: two connections break for good, one breaks and heals.
    await asyncio.sleep(1.2)  # so the replayed events are dated well before the next connection
    simulator.set_connection_status("slack", "needs_reauth")
    simulator.set_connection_status("notion", "error", "Notion API timed out")
    simulator.set_connection_status("gmail", "needs_reauth")
    simulator.set_connection_status("gmail", "connected")
    await asyncio.sleep(1.2)
    async with running(simulator, api_key, path) as (monitor, rec):
        await until(lambda: any(n.subject == "summary" for n in rec.shown()), timeout=10,
                    what="the catch-up summary")
        shown = rec.shown()
        assert [n.subject for n in shown] == ["summary"], "no popup per replayed event"
        assert shown[0].title == "While Vendo Tray was away: 2 connections need attention"
        assert "Gmail" not in shown[0].body
        simulator.set_connection_status("linear", "needs_reauth")  # live again: pops at once
        await until(lambda: any(n.subject == "connection:linear" for n in rec.shown()), what="a live popup")


async def test_a_failure_deciding_on_the_stream_phase_never_stops_the_supervision(
        simulator, api_key, tmp_path, caplog) -> None:
    """A bug in the stream-health rules used to escape run(): the monitor task died and
    the tray, still showing its last state, never listened again."""
    async with running(simulator, api_key, tmp_path / "h.db") as (monitor, rec):
        def broken(*_args: object) -> list:
            raise RuntimeError("a bug in a rule")
        monitor.policy.on_stream = broken  # type: ignore[method-assign]  # the fault under test
        await until(live(monitor), what="live despite the failing rule")
        simulator.add_fault("status", count=6, status=503)
        simulator.drop_streams()
        await until(lambda: monitor.state.phase is Phase.OFFLINE, what="offline")
        await until(live(monitor), timeout=15, what="live again on the slower schedule")
        simulator.emit("connection.status_changed", {"slug": "slack", "status": "needs_reauth"})
        await until(lambda: any(e.slug == "slack" for e in rec.events), what="events still recorded")
    assert "deciding on stream phase" in caplog.text


async def test_a_failure_deciding_on_the_runway_never_stops_the_timers(simulator, api_key, tmp_path,
                                                                      monkeypatch, caplog) -> None:
    """A bug in the runway rule escaped the timer loop: its task died unseen and no timer
    fired after it -- a pause never ended, and every popup after it was held back."""
    from datetime import datetime, timedelta, timezone

    from vendo_tray.core import monitor as monitor_module

    monkeypatch.setattr(monitor_module, "RUNWAY_MIN_SECONDS", 0.0)  # estimated again at the next tick
    async with running(simulator, api_key, tmp_path / "h.db") as (monitor, rec):
        await until(live(monitor), what="live")

        def broken(*_args: object) -> list:
            raise RuntimeError("a bug in a rule")
        monitor.policy.on_runway = broken  # type: ignore[method-assign]  # the fault under test
        simulator.set_balance(9_000_000)  # a billing event: the runway is estimated again
        await until(lambda: any(e.kind is Kind.BALANCE for e in rec.events), what="the balance event")
        monitor.pause(datetime.now(timezone.utc) + timedelta(seconds=0.3))
        assert monitor.state.paused
        await until(lambda: not monitor.state.paused, what="the pause's end, from the timer loop")
    assert "deciding on the runway failed" in caplog.text


async def test_the_runway_follows_the_stored_readings_and_each_new_spend(simulator, api_key, tmp_path,
                                                                         monkeypatch) -> None:
    """Two days of history on disk, then live usage: the estimate is in the state within a tick."""
    from datetime import datetime, timedelta, timezone

    from vendo_tray.core import monitor as monitor_module
    from vendo_tray.core.kinds import normalize
    from vendo_tray.core.runway import Basis

    monkeypatch.setattr(monitor_module, "RUNWAY_MIN_SECONDS", 0.0)  # the throttle is not under test

    now = datetime.now(timezone.utc)
    start = simulator.balance_micros
    with Store.open(tmp_path / "h.db") as store:  # $2 a day for two days, ending at today's balance
        store.add_many([normalize("billing.balance_changed",
                                  {"id": f"old{h}", "remaining_micros": start + (48 - h) * 1_000_000 // 12},
                                  received_at=now - timedelta(hours=48 - h)) for h in range(0, 48, 2)])
    async with running(simulator, api_key, tmp_path / "h.db") as (monitor, rec):
        await until(lambda: monitor.state.snapshot.balance is not None, what="first snapshot")
        await until(lambda: monitor.state.runway is not None
                    and monitor.state.runway.balance_micros == start, what="the first estimate")
        assert monitor.state.runway.per_day == pytest.approx(2_000_000, rel=0.05)
        simulator.record_usage("openai", 3_000_000)  # today's rate is now the faster one
        await until(lambda: monitor.state.runway.per_day > 4_000_000, what="a new estimate")
        assert monitor.state.runway.basis is Basis.TODAY
        assert monitor.state.runway.per_day == pytest.approx(5_000_000, rel=0.05)
        assert monitor.state.runway.balance_micros == start - 3_000_000
        # Under two days left at $5 a day, with the balance still far above "low": one warning.
        assert (start - 3_000_000) / 5_000_000 < 2 and start - 3_000_000 > 500_000
        await until(lambda: any(n.title.startswith("Vendo balance lasts") for n in rec.shown()),
                    what="the runway warning")
        assert [n.subject for n in rec.shown()].count("balance") == 1
    # Never "$0.00 · about 2 days left": every state's runway is for the balance it shows.
    shown = [(s.snapshot.balance.credits_remaining_micros, s.runway.balance_micros)
             for s in rec.states if s.runway is not None and s.snapshot.balance is not None]
    assert shown and all(balance == runway for balance, runway in shown), shown


async def test_an_idle_live_monitor_sleeps_until_a_policy_timer_is_due(simulator, api_key, tmp_path,
                                                                       monkeypatch) -> None:
    """No fixed 1 s tick: idle means no policy tick at all; a pause still ends on time."""
    from datetime import datetime, timedelta

    from vendo_tray.core import monitor as monitor_module

    monkeypatch.setattr(monitor_module, "RUNWAY_SECONDS", 3600.0)  # the runway's own poll is
    monkeypatch.setattr(monitor_module, "RUNWAY_MIN_SECONDS", 3600.0)  # not under test here

    async with running(simulator, api_key, tmp_path / "h.db") as (monitor, rec):
        await until(live(monitor), what="live")
        await until(lambda: monitor.state.snapshot.taken_at is not None, what="first snapshot")
        await asyncio.sleep(0.3)  # the snapshot's own policy input is handled
        ticks = 0
        real_tick = monitor.policy.tick

        def counted_tick() -> list[Notice | Withdraw]:
            nonlocal ticks
            ticks += 1
            return real_tick()

        monitor.policy.tick = counted_tick  # type: ignore[method-assign]
        await asyncio.sleep(2.5)  # pings arrive every 0.5 s meanwhile
        assert ticks == 0, "the policy had nothing due, yet the monitor ticked"

        monitor.pause(datetime.now().astimezone() + timedelta(seconds=0.5))
        assert monitor.state.paused_until is not None
        await until(lambda: monitor.state.paused_until is None, what="the pause to end at its deadline")
        assert ticks >= 1


async def test_after_a_stream_that_stayed_up_the_offline_schedule_starts_over(simulator, api_key, tmp_path) -> None:
    """Hours of a healthy stream, then an outage: the first retry comes after the first
    delay again, not after the longest one an earlier outage had doubled up to."""
    async with running(simulator, api_key, tmp_path / "h.db", offline_retry=(0.3, 0.6)) as (monitor, rec):
        def offline_waits() -> list[float | None]:
            """The wait announced by each entry into OFFLINE."""
            phases = [None, *(s.phase for s in rec.states)]
            return [s.retry_in for before, s in zip(phases, rec.states)
                    if s.phase is Phase.OFFLINE and before is not Phase.OFFLINE]

        await until(live(monitor), what="live")
        simulator.add_fault("status", count=6, status=503)  # two give-ups in a row
        simulator.drop_streams()
        await until(lambda: len(offline_waits()) >= 2, what="two offline waits")
        await until(live(monitor), timeout=15, what="live again")
        assert offline_waits() == [0.3, 0.6], "an outage doubles the wait"
        await asyncio.sleep(0.5)  # stays up longer than the first delay
        simulator.add_fault("status", count=3, status=503)
        simulator.drop_streams()
        await until(lambda: len(offline_waits()) >= 3, what="the next outage")
        assert offline_waits()[2] == 0.3


def test_a_mute_outlasts_a_restart_and_belongs_to_its_app(tmp_path) -> None:
    from datetime import datetime, timedelta

    from vendo_tray.core.apps import AppProfile
    from vendo_tray.core.state import Mute

    later = datetime.now().astimezone() + timedelta(hours=1)
    with Store.open(tmp_path / "h.db") as store:
        monitor = Monitor(settings=Settings(), key=None, key_source=None, store=store)
        rec = Recorder()
        monitor.add_listener(rec)
        monitor.mute_connection("slack", later)
        monitor.mute_connection("github", None)
        monitor.mute_connection("notion", None)
        monitor.unmute_connection("notion")
        assert monitor.state.mutes == (Mute("github", None), Mute("slack", later))
        assert rec.states[-1].mutes == monitor.state.mutes
    with Store.open(tmp_path / "h.db") as store:
        again = Monitor(settings=Settings(), key=None, key_source=None, store=store)
        assert again.state.mutes == (Mute("github", None), Mute("slack", later))
        assert again.state.mute_of("slack") == Mute("slack", later) and again.state.mute_of("notion") is None
        staging = AppProfile("staging", "Staging", "https://vendo.run")
        other = Monitor(settings=Settings(), key=None, key_source=None, store=store, app=staging)
        assert other.state.mutes == ()
        again.mute_connection("slack", datetime.now().astimezone() - timedelta(minutes=1))  # already past
        assert again.state.mute_of("slack") is None
    with Store.open(tmp_path / "h.db") as store:
        assert store.mutes("default") == {"github": None}


async def test_a_muted_connection_is_recorded_but_raises_nothing_and_its_mute_ends_on_time(
        simulator, api_key, tmp_path) -> None:
    from datetime import datetime, timedelta

    async with running(simulator, api_key, tmp_path / "h.db") as (monitor, rec):
        await until(live(monitor), what="live")
        await until(lambda: monitor.state.snapshot.taken_at is not None, what="first snapshot")
        simulator.set_connection_status("slack", "needs_reauth")
        await until(lambda: any(n.subject == "connection:slack" for n in rec.shown()), what="slack's popup")
        monitor.mute_connection("slack", None)
        assert Withdraw("connection:slack") in rec.notices, "muting takes its popup off the screen"

        simulator.set_connection_status("slack", "error", "Slack API timed out")
        simulator.set_connection_status("notion", "needs_reauth")
        await until(lambda: any(n.subject == "connection:notion" for n in rec.shown()), what="notion's popup")
        slack_errors = [e for e in rec.events if e.slug == "slack" and e.kind is Kind.ERROR]
        assert slack_errors and all(monitor.store.get(e.key) for e in slack_errors), "still recorded"
        assert [n.subject for n in rec.shown()].count("connection:slack") == 1, "only the one before the mute"

        monitor.mute_connection("notion", datetime.now().astimezone() + timedelta(seconds=0.5))
        assert monitor.state.mute_of("notion") is not None
        await until(lambda: monitor.state.mute_of("notion") is None, timeout=5,
                    what="the mute to end at its deadline (no 30 s idle poll)")
