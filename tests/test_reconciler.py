"""core.reconciler: poll, debounce, balance rate limit, gap catch-up, surviving failures.

Timing is driven by a fake clock whose ``sleep`` only returns when the test
advances time, so "30 seconds" take microseconds and every wake-up is
deterministic.  The in-test source is a plain object answering from fields.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from vendo_tray.client import Balance, Connection, SpendCaps
from vendo_tray.client.errors import APIConnectionError, AuthError, RateLimited, ServerError
from vendo_tray.core.kinds import Kind, normalize
from vendo_tray.core.reconciler import (
    RECONCILER_SOURCE,
    Reconciler,
    is_synthesized,
    missed_events,
)
from vendo_tray.core.state import Snapshot


class FakeTime:
    """A monotonic clock plus a sleep that waits for :meth:`advance`."""

    def __init__(self) -> None:
        self.now = 1000.0
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def clock(self) -> float:
        return self.now

    async def sleep(self, delay: float) -> None:
        fut = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.now + max(delay, 0.0), next(self._seq), fut))
        await fut

    async def advance(self, seconds: float) -> None:
        target = self.now + seconds
        await settle()
        while self._sleepers and self._sleepers[0][0] <= target:
            deadline, _, fut = heapq.heappop(self._sleepers)
            self.now = max(self.now, deadline)
            if not fut.done():
                fut.set_result(None)
            await settle()
        self.now = target
        await settle()


async def settle() -> None:
    for _ in range(30):
        await asyncio.sleep(0)


def conn(slug: str, status: str = "connected", **kw) -> Connection:
    return Connection(id=f"conn_{slug}", slug=slug, display_name=slug.title(), status=status, **kw)


class FakeSource:
    """Answers from its fields; records (endpoint, fake time) per call; can be told to fail."""

    def __init__(self, time: FakeTime) -> None:
        self.time = time
        self.connections = [conn("gmail"), conn("slack")]
        self.micros = 5_000_000
        self.calls: list[tuple[str, float]] = []
        self.fail: dict[str, Exception] = {}

    def _call(self, name: str) -> None:
        self.calls.append((name, self.time.now))
        if name in self.fail:
            raise self.fail[name]

    async def connections_list(self) -> list[Connection]:
        self._call("connections")
        return list(self.connections)

    async def balance(self) -> Balance:
        self._call("balance")
        return Balance(credits_remaining_micros=self.micros)

    async def spend_caps(self) -> SpendCaps:
        self._call("caps")
        return SpendCaps(daily_micros=None, monthly_micros=None, used_today_micros=0, used_month_micros=0)

    def times(self, name: str) -> list[float]:
        return [t for n, t in self.calls if n == name]


class Harness:
    def __init__(self, **kw) -> None:
        self.time = FakeTime()
        self.source = FakeSource(self.time)
        self.rec = Reconciler(self.source, clock=self.time.clock, sleep=self.time.sleep, **kw)
        self.snapshots: list[Snapshot] = []
        self.missed: list = []
        self.task: asyncio.Task | None = None

    async def start(self) -> None:
        self.task = asyncio.create_task(self.rec.run(self.snapshots.append, self.missed.extend))
        await settle()

    async def stop(self) -> None:
        assert self.task is not None
        assert not self.task.done(), self.task  # the loop must still be alive
        self.task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await self.task


@pytest.fixture
async def h():
    harness = Harness()
    await harness.start()
    yield harness
    await harness.stop()


def status_event(slug: str, status: str, n: int = 1, at: datetime | None = None):
    data = {"id": f"evt_{slug}_{n}", "slug": slug, "connection_id": f"conn_{slug}", "status": status}
    if at is not None:
        data["at"] = at.isoformat()
    return normalize("connection.status_changed", data, sse_id=str(n))


def balance_event(micros: int, n: int = 1):
    return normalize("billing.balance_changed", {"id": f"evt_b{n}", "remaining_micros": micros})


async def test_first_refresh_then_one_poll_every_interval(h: Harness) -> None:
    start = h.time.now
    assert h.source.times("connections") == [start]
    assert h.source.times("balance") == [start] and h.source.times("caps") == [start]
    assert h.rec.snapshot.connection("gmail").status == "connected"
    assert h.rec.snapshot.balance.credits_remaining_micros == 5_000_000
    assert len(h.snapshots) == 1
    await h.time.advance(29.9)
    assert len(h.source.times("connections")) == 1
    await h.time.advance(0.1)
    assert h.source.times("connections") == [start, start + 30]
    await h.time.advance(60)
    assert h.source.times("connections") == [start, start + 30, start + 60, start + 90]
    assert h.source.times("balance") == h.source.times("connections")
    # A plain poll picks up a change but reports no "missed" events: there was no gap.
    h.source.connections = [conn("gmail", "needs_reauth"), conn("slack")]
    await h.time.advance(30)
    assert h.rec.snapshot.connection("gmail").status == "needs_reauth"
    assert h.missed == []


async def test_a_burst_of_connection_events_is_one_refresh(h: Harness) -> None:
    t0 = h.time.now
    for n in range(10):
        h.rec.on_event(status_event("gmail", "connected", n))
        await h.time.advance(0.03)
    assert len(h.source.times("connections")) == 1  # still debouncing
    await h.time.advance(0.5)
    assert h.source.times("connections") == [t0, pytest.approx(t0 + 0.5)]  # first event + debounce
    assert h.source.times("balance") == [t0]  # connection events do not touch billing
    # Unrelated kinds trigger nothing.
    h.rec.on_event(normalize("deployment.updated", {"id": "d1"}))
    await h.time.advance(1)
    assert len(h.source.times("connections")) == 2


async def test_an_event_refresh_postpones_the_next_poll_only_when_everything_was_read(h: Harness) -> None:
    t0 = h.time.now
    await h.time.advance(10)
    h.rec.on_event(status_event("gmail", "connected"))
    await h.time.advance(0.5)
    await h.time.advance(19.5)  # t0 + 30: the poll is not postponed by a partial refresh
    assert h.source.times("connections") == [t0, pytest.approx(t0 + 10.5), t0 + 30]


async def test_balance_is_never_read_more_often_than_the_limit(h: Harness) -> None:
    t0 = h.time.now
    # Billing events every 0.2 s for 20 s: a usage-heavy app.
    for n in range(100):
        h.rec.on_event(balance_event(4_000_000 - n, n))
        await h.time.advance(0.2)
    await h.time.advance(6)
    times = h.source.times("balance")
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert min(gaps) >= 5.0 - 1e-9
    assert len(times) <= 1 + 26 // 5 + 1
    assert times[-1] > t0 + 19  # the last request of the burst was deferred, not dropped
    assert h.source.times("caps") == times  # caps ride along with the balance
    # A poll right after a balance read waits for the limit instead of calling early.
    assert all(b - a >= 5.0 - 1e-9 for a, b in zip(times, times[1:]))


async def test_retry_after_from_the_balance_endpoint_is_honoured(h: Harness) -> None:
    h.source.fail["balance"] = RateLimited("slow down", status=429, retry_after=20)
    await h.time.advance(30)  # poll: balance fails with Retry-After 20
    failed_at = h.source.times("balance")[-1]
    del h.source.fail["balance"]
    h.rec.on_event(balance_event(1))
    await h.time.advance(19)
    assert h.source.times("balance")[-1] == failed_at
    await h.time.advance(1.5)
    assert h.source.times("balance")[-1] == pytest.approx(failed_at + 20)


async def test_gap_catch_up_reports_what_the_stream_missed(h: Harness) -> None:
    old_taken = h.rec.snapshot.taken_at
    # While we were offline: gmail needs re-auth, notion appeared, slack was removed, balance dropped.
    h.source.connections = [conn("gmail", "needs_reauth"), conn("notion", "error", error_message="bad token")]
    h.source.micros = 200_000
    h.rec.on_gap()
    await h.time.advance(0.5)
    by_slug = {e.slug: e for e in h.missed if e.slug}
    assert set(by_slug) == {"gmail", "notion", "slack"}
    reauth = by_slug["gmail"]
    assert reauth.kind is Kind.NEEDS_REAUTH and reauth.status == "needs_reauth"
    assert reauth.key.startswith("reconcile:gmail:needs_reauth:")
    assert reauth.data["source"] == RECONCILER_SOURCE and reauth.data["previous_status"] == "connected"
    assert is_synthesized(reauth)
    assert by_slug["notion"].kind is Kind.ERROR and by_slug["notion"].message == "bad token"
    assert by_slug["slack"].kind is Kind.DISCONNECTED
    # The balance was read < 5 s ago (at start): its catch-up waits for the rate limit.
    assert not [e for e in h.missed if e.kind is Kind.BALANCE]
    await h.time.advance(4.5)
    [bal] = [e for e in h.missed if e.kind is Kind.BALANCE]
    assert bal.remaining_micros == 200_000 and bal.data["previous_micros"] == 5_000_000
    assert h.rec.snapshot.taken_at >= old_taken
    # Catching up once is enough: the next poll reports nothing again.
    count = len(h.missed)
    await h.time.advance(30)
    assert len(h.missed) == count
    # Our own events coming back through the pipeline do not trigger refreshes.
    calls = len(h.source.calls)
    for e in h.missed:
        h.rec.on_event(e)
    await h.time.advance(1)
    assert len(h.source.calls) == calls


async def test_replayed_events_are_not_reported_twice_by_the_catch_up(h: Harness) -> None:
    h.source.connections = [conn("gmail", "needs_reauth"), conn("slack", "error")]
    h.rec.on_gap()
    # The replay after the reconnect says gmail needs re-auth (but not slack's error).
    h.rec.on_event(status_event("gmail", "needs_reauth", at=datetime.now(timezone.utc) + timedelta(seconds=1)))
    assert h.rec.snapshot.connection("gmail").status == "needs_reauth"  # applied at once
    assert h.snapshots[-1].connection("gmail").status == "needs_reauth"
    await h.time.advance(0.5)
    assert [(e.slug, e.status) for e in h.missed] == [("slack", "error")]


async def test_an_event_older_than_the_snapshot_does_not_roll_it_back(h: Harness) -> None:
    stale = status_event("gmail", "needs_reauth", at=h.rec.snapshot.taken_at - timedelta(minutes=5))
    h.rec.on_event(stale)
    assert h.rec.snapshot.connection("gmail").status == "connected"
    exhausted = normalize("billing.balance_exhausted", {"id": "x"})
    h.rec.on_event(exhausted)
    assert h.rec.snapshot.balance.credits_remaining_micros == 0


@pytest.mark.parametrize("error", [
    APIConnectionError("connection refused"),
    ServerError("bad gateway", status=502, code="upstream_error"),
    AuthError("key revoked", status=401, code="app_revoked"),
    ValueError("garbage JSON"),
])
async def test_fetch_failures_keep_the_snapshot_and_the_loop(h: Harness, error: Exception, caplog) -> None:
    before = h.rec.snapshot
    h.source.fail = {"connections": error, "balance": error, "caps": error}
    h.source.connections = [conn("gmail", "needs_reauth")]
    h.rec.on_gap()
    await h.time.advance(0.5)
    await h.time.advance(30)
    assert h.rec.snapshot == before
    assert h.missed == []
    assert "keeping the last snapshot" in caplog.text
    assert caplog.text.count(str(error)) >= 1
    # Recovery: the catch-up owed since the gap is delivered with the first good fetch.
    h.source.fail = {}
    await h.time.advance(30)
    assert [(e.slug, e.kind) for e in h.missed if e.slug] == [("gmail", Kind.NEEDS_REAUTH), ("slack", Kind.DISCONNECTED)]
    assert "works again" in caplog.text


async def test_partial_failure_updates_what_was_read(h: Harness) -> None:
    h.source.fail = {"caps": ServerError("boom", status=500)}
    h.source.micros = 1
    await h.time.advance(30)
    assert h.rec.snapshot.balance.credits_remaining_micros == 1
    assert h.rec.snapshot.caps is not None  # the earlier caps are kept


async def test_a_failing_callback_does_not_stop_the_loop() -> None:
    harness = Harness()

    def boom(_snapshot: Snapshot) -> None:
        raise RuntimeError("listener bug")

    harness.task = asyncio.create_task(harness.rec.run(boom, harness.missed.extend))
    await settle()
    await harness.time.advance(60)
    assert len(harness.source.times("connections")) == 3
    await harness.stop()


async def test_initial_snapshot_from_a_previous_client_is_diffed_after_the_replay() -> None:
    previous = Snapshot(connections=(conn("gmail"), conn("slack")), balance=Balance(3_000_000),
                        taken_at=datetime.now(timezone.utc) - timedelta(minutes=3))
    harness = Harness(initial=previous)
    harness.source.connections = [conn("gmail", "needs_reauth"), conn("slack", "error")]
    harness.source.micros = 3_000_000
    await harness.start()
    # The new stream's replay lands before the first (debounced) refresh...
    harness.rec.on_event(status_event("slack", "error", at=datetime.now(timezone.utc) + timedelta(seconds=1)))
    assert harness.source.calls == []
    await harness.time.advance(0.5)
    # ...so only what the replay did not say is reported.
    assert [(e.slug, e.kind) for e in harness.missed] == [("gmail", Kind.NEEDS_REAUTH)]
    await harness.stop()


async def test_direct_refresh_respects_the_balance_limit(h: Harness) -> None:
    snap = await h.rec.refresh(diff=False)
    assert len(h.source.times("connections")) == 2
    assert len(h.source.times("balance")) == 1  # too soon: deferred to the loop
    assert snap is h.rec.snapshot
    await h.time.advance(5)
    assert len(h.source.times("balance")) == 2


def test_missed_events_needs_a_baseline() -> None:
    now = datetime.now(timezone.utc)
    new = Snapshot(connections=(conn("gmail", "needs_reauth"),), balance=Balance(1), taken_at=now)
    assert missed_events(Snapshot(), new, at=now) == []
    old = replace(new, connections=(conn("gmail"),), balance=None, taken_at=now - timedelta(seconds=1))
    [event] = missed_events(old, new, at=now)
    assert event.kind is Kind.NEEDS_REAUTH and event.key == f"reconcile:gmail:needs_reauth:{now.isoformat()}"
    assert event.at == now and event.received_at == now


# --------------------------------------------------------------------------------------
# Against the real simulator, through the real client (ClientSource(AsyncVendo)).

CONNECTIONS_PATH = "/api/deployments/me/connections"
BALANCE_PATH = "/api/billing/balance"


async def eventually(predicate, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


class Live:
    """A reconciler on real time against the simulator; poll long enough never to fire."""

    def __init__(self, simulator, api_key: str, **kw) -> None:
        from vendo_tray.client import AsyncVendo
        from vendo_tray.core.reconciler import ClientSource

        self.sim = simulator
        self.client = AsyncVendo(api_key=api_key, base_url=simulator.base_url, max_retries=0)
        self.rec = Reconciler(ClientSource(self.client), **{"poll_interval": 600, "debounce": 0.05,
                                                           "balance_min_interval": 0.5, **kw})
        self.snapshots: list[Snapshot] = []
        self.missed: list = []

    async def __aenter__(self) -> Live:
        self.task = asyncio.create_task(self.rec.run(self.snapshots.append, self.missed.extend))
        await eventually(lambda: self.snapshots)
        return self

    async def __aexit__(self, *exc) -> None:
        assert not self.task.done()
        self.task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await self.task
        await self.client.aclose()

    def requests(self, path: str) -> int:
        return self.sim.stats.requests[path]


async def test_snapshot_matches_the_simulator(simulator, api_key) -> None:
    async with Live(simulator, api_key) as live:
        snap = live.rec.snapshot
        assert [c.slug for c in snap.connections] == [c["slug"] for c in simulator.connections]
        assert snap.balance.credits_remaining_micros == simulator.balance_micros
        assert snap.caps.daily_micros == simulator.spend_caps["daily_micros"]
        assert snap.taken_at is not None


async def test_gap_catch_up_against_the_simulator_produces_the_missed_needs_reauth(simulator, api_key) -> None:
    async with Live(simulator, api_key) as live:
        slug = next(c.slug for c in live.rec.snapshot.connections if c.status == "connected")
        # Offline: the server changes, nobody streams it to us.
        simulator.set_connection_status(slug, "needs_reauth")
        simulator.set_balance(120_000)
        await asyncio.sleep(0.2)
        assert live.missed == []  # without a gap nothing is synthesized
        live.rec.on_gap()
        await eventually(lambda: any(e.kind is Kind.BALANCE for e in live.missed))
        reauth = [e for e in live.missed if e.kind is Kind.NEEDS_REAUTH]
        assert [e.slug for e in reauth] == [slug]
        assert reauth[0].key.startswith(f"reconcile:{slug}:needs_reauth:") and is_synthesized(reauth[0])
        assert [e.remaining_micros for e in live.missed if e.kind is Kind.BALANCE] == [120_000]
        assert live.rec.snapshot.connection(slug).status == "needs_reauth"
        assert live.snapshots[-1] == live.rec.snapshot


async def test_event_bursts_are_one_request_and_the_balance_limit_holds(simulator, api_key) -> None:
    async with Live(simulator, api_key) as live:
        conns, balances = live.requests(CONNECTIONS_PATH), live.requests(BALANCE_PATH)
        for n in range(20):
            live.rec.on_event(status_event("gmail", "connected", n))
        await eventually(lambda: live.requests(CONNECTIONS_PATH) == conns + 1)
        await asyncio.sleep(0.3)
        assert live.requests(CONNECTIONS_PATH) == conns + 1
        assert live.requests(BALANCE_PATH) == balances
        # Billing events for 1.5 s with the limit at 0.5 s: at most one read per 0.5 s.
        loop = asyncio.get_running_loop()
        start = loop.time()
        while loop.time() - start < 1.5:
            live.rec.on_event(balance_event(1))
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.6)
        made = live.requests(BALANCE_PATH) - balances
        assert 2 <= made <= 1 + int(2.1 / 0.5)


async def test_server_down_keeps_the_snapshot_and_catches_up_when_back(simulator, api_key, caplog) -> None:
    async with Live(simulator, api_key) as live:
        before = live.rec.snapshot
        slug = next(c.slug for c in before.connections if c.status == "connected")
        simulator.stop()
        live.rec.on_gap()
        await eventually(lambda: "keeping the last snapshot" in caplog.text)
        assert live.rec.snapshot == before and live.missed == []
        simulator.start()  # same port: the server "comes back"
        simulator.set_connection_status(slug, "needs_reauth")
        live.rec.on_gap()
        await eventually(lambda: any(e.kind is Kind.NEEDS_REAUTH for e in live.missed))
        assert [e.slug for e in live.missed if e.kind is Kind.NEEDS_REAUTH] == [slug]


@pytest.mark.parametrize("turns", range(8))
async def test_a_stop_right_after_a_wake_up_is_never_swallowed(turns: int) -> None:
    """The monitor stops the reconciler on every restart; a stop arriving while the wait
    loop unwinds its waker (a few loop turns after a trigger) was swallowed, the reconciler
    ran on forever and the monitor, waiting for it, never reopened the stream (issue 9)."""
    harness = Harness()
    await harness.start()
    harness.rec.on_gap()  # wakes the wait loop, as the stream's reopening does
    for _ in range(turns):
        await asyncio.sleep(0)
    harness.task.cancel()
    done, _ = await asyncio.wait({harness.task}, timeout=2)
    assert done, f"the reconciler ignored a stop {turns} loop turns after a wake-up"
    assert harness.task.cancelled()
