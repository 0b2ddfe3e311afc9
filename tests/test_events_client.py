"""client.events.subscribe() against the real simulator on 127.0.0.1.

Timelines use an injected clock and sleep (the stream's only notion of time
besides the heartbeat watchdog), so "reconnect at once, then 1 s, 2 s" is
asserted exactly without waiting for it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from conftest import stop_task
from vendo_tray import __version__
from vendo_tray.client import (
    API_VERSION,
    AsyncVendo,
    AuthError,
    Event,
    EventStream,
    ReconnectPolicy,
    StreamStatus,
    VendoError,
    VendoOnlyFeature,
)
from vendo_tray.simulator import EVENTS_PATH, LEGACY_ALIASES, Simulator

pytestmark = pytest.mark.timeout(30)


class FakeTime:
    """A clock that moves only when the stream sleeps or the test says so."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, delay: float) -> None:
        self.sleeps.append(delay)
        self.now += delay
        await asyncio.sleep(0)


class Recorder:
    """on_status sink with a way to wait for a phase."""

    def __init__(self) -> None:
        self.statuses: list[StreamStatus] = []
        self._changed = asyncio.Event()

    def __call__(self, status: StreamStatus) -> None:
        self.statuses.append(status)
        self._changed.set()

    @property
    def phases(self) -> list[str]:
        return [s.phase for s in self.statuses]

    @property
    def delays(self) -> list[float | None]:
        return [s.delay for s in self.statuses if s.phase == "backoff"]

    async def wait_for(self, pred: Callable[[list[StreamStatus]], bool], timeout: float = 5.0) -> None:
        async with asyncio.timeout(timeout):
            while not pred(self.statuses):
                self._changed.clear()
                await self._changed.wait()

    async def opened(self, times: int = 1) -> None:
        await self.wait_for(lambda s: sum(x.phase == "open" for x in s) >= times)


async def wait_until(pred: Callable[[], bool], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not pred():
            await asyncio.sleep(0.01)


class Consumer:
    """Iterates a stream in a background task, the way the app does, so the
    test can drive the server while the stream runs.  Leaving the ``async
    with`` cancels the task (the supported way to stop) and closes the stream."""

    def __init__(self, stream: EventStream) -> None:
        self.stream = stream
        self.queue: asyncio.Queue[Event | None] = asyncio.Queue()
        self.ended = False
        self.task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Consumer:
        self.task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.task is not None
        await stop_task(self.task)
        await self.stream.aclose()

    async def _run(self) -> None:
        try:
            async for event in self.stream:
                await self.queue.put(event)
        finally:
            await self.queue.put(None)

    async def take(self, n: int, timeout: float = 5.0) -> list[Event]:
        """The next ``n`` events, fewer if the stream ends; re-raises what the stream raised."""
        out: list[Event] = []
        async with asyncio.timeout(timeout):
            while len(out) < n and not self.ended:
                event = await self.queue.get()
                if event is None:
                    self.ended = True
                else:
                    out.append(event)
        if self.ended and self.task is not None and self.task.done() and not self.task.cancelled():
            error = self.task.exception()
            if error is not None:
                raise error
        return out


async def take(stream: EventStream, n: int, timeout: float = 5.0) -> list[Event]:
    """Iterate in the current task: the first ``n`` events, fewer if the stream ends."""
    out: list[Event] = []
    async with asyncio.timeout(timeout):
        async with stream:
            async for event in stream:
                out.append(event)
                if len(out) >= n:
                    break
    return out


ALIASES = frozenset(LEGACY_ALIASES.values())


def primary(events: list[Event]) -> list[Event]:
    """Drop the live wire's legacy alias blocks (same data, underscore names)."""
    return [e for e in events if e.kind not in ALIASES]


@pytest.fixture
async def client(simulator: Simulator, api_key: str) -> Any:
    async with AsyncVendo(api_key=api_key, base_url=simulator.base_url) as c:
        yield c


# --- OSS mode ----------------------------------------------------------------

def test_subscribe_without_key_raises_vendo_only_feature_at_call_time() -> None:
    client = AsyncVendo(base_url="http://127.0.0.1:9")
    with pytest.raises(VendoOnlyFeature, match="VENDO_API_KEY"):
        client.events.subscribe()


def test_key_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VENDO_API_KEY", "vendo_sk_from_env")
    monkeypatch.setenv("VENDO_BASE_URL", "http://127.0.0.1:9/")
    client = AsyncVendo()
    assert client.has_key and client.base_url == "http://127.0.0.1:9"
    assert "vendo_sk_from_env" not in repr(client)
    client.events.subscribe()  # no raise: Vendo mode


# --- the happy path ------------------------------------------------------------

async def test_events_arrive_with_kind_data_id_and_headers(simulator: Simulator, client: AsyncVendo,
                                                           api_key: str) -> None:
    rec = Recorder()
    async with Consumer(client.events.subscribe(on_status=rec)) as c:
        await rec.opened()
        ids = [simulator.emit("connection.connected", {"slug": "github", "connection_id": "c1"}),
               simulator.emit("billing.balance_changed", {"remaining_micros": 400_000}),
               simulator.emit("vendo.future_kind", {"x": 1})]
        events = await c.take(4)  # the connection event comes twice (legacy alias)
        assert c.stream.last_event_id == ids[2]
    assert [(e.kind, e.id) for e in events] == [
        ("connection.connected", ids[0]), ("connection_created", ids[0]),
        ("billing.balance_changed", ids[1]), ("vendo.future_kind", ids[2])]
    assert events[0].type == "connection.connected"
    assert events[0].data["slug"] == "github" and events[0].data["id"] == ids[0]
    assert events[2].data["remaining_micros"] == 400_000
    headers = simulator.stats.headers_by_path[EVENTS_PATH]
    assert headers["authorization"] == f"Bearer {api_key}"
    assert headers["accept"] == "text/event-stream"
    assert headers["vendo-api-version"] == API_VERSION
    assert headers["user-agent"].startswith(f"vendo-tray/{__version__}")
    assert simulator.stats.last_event_ids == [None]   # a fresh subscription sends none
    assert rec.phases[:2] == ["connecting", "open"] and rec.phases[-1] == "closed"


async def test_given_last_event_id_is_sent_and_replayed(simulator: Simulator, client: AsyncVendo) -> None:
    first = simulator.emit("billing.usage_recorded", {"provider": "openai", "micros": 1})
    second = simulator.emit("billing.usage_recorded", {"provider": "openai", "micros": 2})
    events = await take(client.events.subscribe(last_event_id=first), 1)
    assert [e.id for e in events] == [second]
    assert simulator.stats.last_event_ids == [first]


async def test_seed_wire_kinds_arrive_as_sent(api_key: str) -> None:
    with Simulator(key=api_key, ping_interval=0.5, wire="seed") as sim:
        async with AsyncVendo(api_key=api_key, base_url=sim.base_url) as client:
            rec = Recorder()
            async with Consumer(client.events.subscribe(on_status=rec)) as c:
                await rec.opened()
                sid = sim.emit("connection.needs_reauth", {"slug": "slack", "connection_id": "c1"})
                sim.emit("billing.balance_exhausted", {})
                events = await c.take(2)
    assert [(e.kind, e.id) for e in events][0] == ("connection.needs_reauth", sid)
    assert events[0].data == {"slug": "slack", "connection_id": "c1"}     # the seed stamps nothing
    assert events[1].kind == "billing.balance_exhausted"


# --- resume across drops -------------------------------------------------------

@pytest.mark.parametrize("how", ["drop_mid_frame", "clean_end", "tcp_abort"])
async def test_resume_after_a_drop_loses_nothing_and_duplicates_nothing(
        simulator: Simulator, client: AsyncVendo, how: str) -> None:
    rec = Recorder()
    sent: list[str] = []
    async with Consumer(client.events.subscribe(on_status=rec, min_interval=0.0)) as c:
        await rec.opened()
        sent.append(simulator.emit("billing.usage_recorded", {"provider": "a", "micros": 1}))
        got = await c.take(1)
        if how == "drop_mid_frame":
            simulator.add_fault("drop_mid_frame")   # the next frame is cut in half, then TCP
        elif how == "clean_end":
            simulator.drop_streams()
        else:
            simulator.drop_streams(abort=True)
        for i in range(2, 6):
            sent.append(simulator.emit("billing.usage_recorded", {"provider": "a", "micros": i}))
        got += await c.take(4)
    assert [e.id for e in got] == sent
    assert [e.data["micros"] for e in got] == [1, 2, 3, 4, 5]
    assert simulator.stats.last_event_ids[0] is None
    assert simulator.stats.last_event_ids[1] in sent[:2]      # resumed from the last complete event
    assert rec.delays[0] == 0.0                                 # a drop reconnects at once


async def test_last_event_id_is_sent_on_every_reconnect(simulator: Simulator, client: AsyncVendo) -> None:
    fake, rec = FakeTime(), Recorder()
    async with Consumer(client.events.subscribe(on_status=rec, sleep=fake.sleep, clock=fake.clock)) as c:
        await rec.opened()
        a = simulator.emit("deployment.updated", {})
        await c.take(1)
        simulator.drop_streams()
        await rec.opened(2)
        simulator.drop_streams()
        await rec.opened(3)
    assert simulator.stats.last_event_ids == [None, a, a]


# --- any id the spec allows ---------------------------------------------------------
# An SSE id is any string without NUL.  Last-Event-ID goes out as UTF-8, trimmed of
# spaces and tabs as HTTP trims every field value; the server compares the ids it
# issued in that same form.

SENDABLE_IDS = {
    "leading space": " {seq}",          # `id:  3` on the wire: the value is " 3"
    "trailing spaces": "evt {seq}  ",
    "non-ascii": "événement—{seq}…",
    "tab inside": "a\t{seq}",
    "leading tab": "\t{boot}-{seq}",
}


async def resume_once(sim: Simulator, api_key: str) -> tuple[list[Event], list[str], Recorder]:
    """One event, a dropped stream, two events the reconnect must deliver."""
    rec = Recorder()
    async with AsyncVendo(api_key=api_key, base_url=sim.base_url) as client:
        async with Consumer(client.events.subscribe(on_status=rec, min_interval=0.0)) as c:
            await rec.opened()
            sent = [sim.emit("billing.usage_recorded", {"provider": "a", "micros": 1})]
            got = await c.take(1)
            sim.drop_streams()
            sent += [sim.emit("billing.usage_recorded", {"provider": "a", "micros": m}) for m in (2, 3)]
            got += await c.take(2)
            await rec.opened(2)
    return got, sent, rec


@pytest.mark.parametrize("id_format", SENDABLE_IDS.values(), ids=SENDABLE_IDS.keys())
async def test_any_id_the_spec_allows_resumes(api_key: str, id_format: str) -> None:
    with Simulator(key=api_key, ping_interval=0.5, id_format=id_format) as sim:
        got, sent, rec = await resume_once(sim, api_key)
        assert [e.id for e in got] == sent                     # the ids arrive exactly as sent
        assert sim.stats.last_event_ids == [None, sent[0].strip(" \t")]
    assert "closed" not in rec.phases[:-1] and not any(s.failures for s in rec.statuses)


@pytest.mark.parametrize("id_format", ["x\x01{seq}", "del\x7f{seq}", "{seq}" + "y" * 5000],
                         ids=["control char", "DEL", "too long"])
async def test_an_id_that_cannot_be_a_header_resumes_without_it_saying_so_once(
        api_key: str, id_format: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="vendo_tray.client")
    with Simulator(key=api_key, ping_interval=0.5, id_format=id_format) as sim:
        rec = Recorder()
        async with AsyncVendo(api_key=api_key, base_url=sim.base_url) as client:
            async with Consumer(client.events.subscribe(on_status=rec, min_interval=0.0)) as c:
                await rec.opened()
                first = sim.emit("deployment.updated", {})
                got = await c.take(1)
                for n in (2, 3):
                    sim.drop_streams()
                    await rec.opened(n)
                    sim.emit("deployment.updated", {})
                    got += await c.take(1)
        assert sim.stats.last_event_ids == [None, None, None]
    assert got[0].id == first and len(got) == 3
    said = [r for r in caplog.records if "cannot be sent" in r.getMessage()]
    assert len(said) == 1 and said[0].levelno == logging.WARNING
    assert not any(s.failures for s in rec.statuses)


@pytest.mark.parametrize("status", [400, 431])
async def test_a_resume_id_the_server_refuses_is_dropped_not_the_stream(
        simulator: Simulator, client: AsyncVendo, status: int, caplog: pytest.LogCaptureFixture) -> None:
    first = simulator.emit("deployment.updated", {})
    simulator.add_fault("status", count=1, status=status)          # e.g. a proxy's header rules
    rec = Recorder()
    async with Consumer(client.events.subscribe(last_event_id=first, on_status=rec, min_interval=0.0,
                                                backoff_base=0.01)) as c:
        await rec.opened()
        sent = simulator.emit("deployment.updated", {})
        [event] = await c.take(1)
    assert event.id == sent
    assert simulator.stats.last_event_ids == [first, None]
    assert sum("refused the request carrying the resume id" in r.getMessage() for r in caplog.records) == 1


async def test_a_400_without_a_resume_id_is_still_an_error(simulator: Simulator, client: AsyncVendo) -> None:
    simulator.add_fault("status", count=1, status=400)
    with pytest.raises(VendoError):
        await take(client.events.subscribe(), 1)

async def test_a_resume_id_that_is_not_text_is_ignored(simulator: Simulator, client: AsyncVendo) -> None:
    # The resume id comes back from disk: whatever a damaged store hands over must not stop us.
    for junk in (b"evt_1", 7, "\ud800lone surrogate"):
        rec = Recorder()
        async with Consumer(client.events.subscribe(last_event_id=junk, on_status=rec)) as c:  # type: ignore[arg-type]
            await rec.opened()
            sent = simulator.emit("deployment.updated", {})
            [event] = await c.take(1)
        assert event.id == sent
    assert simulator.stats.last_event_ids == [None, None, None]


# --- the reconnect timeline ------------------------------------------------------

async def test_timeline_immediate_then_1_then_2_seconds_then_stream_error(
        simulator: Simulator, client: AsyncVendo) -> None:
    fake, rec = FakeTime(), Recorder()
    async with Consumer(client.events.subscribe(on_status=rec, sleep=fake.sleep, clock=fake.clock)) as c:
        await rec.opened()
        simulator.emit("deployment.updated", {})
        await c.take(1)
        simulator.add_fault("status", count=3, status=503)
        fake.now += 30                      # the connection had been up for half a minute
        simulator.drop_streams()
        rest = await c.take(10)
    assert rec.delays == [0.0, 1.0, 2.0]
    assert fake.sleeps == [1.0, 2.0]
    assert len(rest) == 1 and rest[0].kind == "stream.error"
    assert rest[0].data["attempts"] == 3 and rest[0].data["status"] == 503
    assert "503" in rest[0].data["message"]
    assert simulator.stats.requests[EVENTS_PATH] == 4
    assert rec.phases[-1] == "closed"
    assert rec.statuses[-1].http_status == 503


async def test_a_successful_connection_resets_the_failure_count(simulator: Simulator, client: AsyncVendo) -> None:
    fake, rec = FakeTime(), Recorder()
    simulator.add_fault("status", count=2, status=502)
    async with Consumer(client.events.subscribe(on_status=rec, sleep=fake.sleep, clock=fake.clock)) as c:
        await rec.opened()
        simulator.emit("deployment.updated", {})
        await c.take(1)
        simulator.add_fault("status", count=2, status=504)
        fake.now += 30
        simulator.drop_streams()
        await rec.opened(2)
    assert [s.failures for s in rec.statuses if s.phase == "backoff"] == [1, 2, 0, 1, 2]
    assert rec.delays == [1.0, 2.0, 0.0, 1.0, 2.0]


async def test_never_give_up_with_capped_backoff(simulator: Simulator, client: AsyncVendo) -> None:
    fake, rec = FakeTime(), Recorder()
    simulator.add_fault("status", count=7, status=503)
    async with Consumer(client.events.subscribe(on_status=rec, sleep=fake.sleep, clock=fake.clock,
                                                max_failures=None, max_backoff=10.0)) as c:
        await rec.opened()
        simulator.emit("deployment.updated", {})
        events = await c.take(1)
    assert events[0].kind == "deployment.updated"
    assert fake.sleeps == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0, 10.0]


async def test_server_retry_replaces_the_base_delay(simulator: Simulator, client: AsyncVendo) -> None:
    fake, rec = FakeTime(), Recorder()
    async with Consumer(client.events.subscribe(on_status=rec, sleep=fake.sleep, clock=fake.clock,
                                                min_interval=0.1)) as c:
        await rec.opened()
        simulator.add_fault("retry", ms=250)
        simulator.emit("deployment.updated", {})
        await c.take(1)
        simulator.add_fault("status", count=2, status=503)
        fake.now += 30
        simulator.drop_streams()
        await rec.opened(2)
    assert rec.delays == [0.0, 0.25, 0.5]


async def test_min_interval_floors_a_zero_retry(simulator: Simulator, client: AsyncVendo) -> None:
    # "retry: 0" plus a flapping server must still not spin.
    fake, rec = FakeTime(), Recorder()
    async with Consumer(client.events.subscribe(on_status=rec, sleep=fake.sleep, clock=fake.clock,
                                                max_failures=4)) as c:
        await rec.opened()
        simulator.add_fault("retry", ms=0)
        simulator.emit("deployment.updated", {})
        await c.take(1)
        simulator.add_fault("flap", count=10)
        fake.now += 30
        simulator.drop_streams()
        events = await c.take(1)
    assert events[0].kind == "stream.error"
    assert rec.delays == [0.0, 1.0, 1.0, 1.0]


async def test_flapping_server_backs_off_instead_of_spinning(simulator: Simulator, client: AsyncVendo) -> None:
    fake = FakeTime()
    simulator.add_fault("flap", count=10)
    events = await take(client.events.subscribe(sleep=fake.sleep, clock=fake.clock), 5)
    # Each accept-and-close is a failure: 1 s, 2 s, then give up; never an immediate retry.
    assert fake.sleeps == [1.0, 2.0]
    assert [e.kind for e in events] == ["stream.error"]
    assert events[0].data["attempts"] == 3 and events[0].data["status"] == 200
    assert "stream ended" in events[0].data["message"]
    assert simulator.stats.requests[EVENTS_PATH] == 3


async def test_flapping_is_rate_limited_in_real_time_too(simulator: Simulator, client: AsyncVendo) -> None:
    simulator.add_fault("flap", count=1000)
    stream = client.events.subscribe(max_failures=None, backoff_base=0.05, max_backoff=0.1, min_interval=0.05)
    async with Consumer(stream):
        await asyncio.sleep(0.6)
    # 0.6 s at >= 0.05 s apart (most 0.1 s) bounds the attempts; a tight loop would make hundreds.
    assert 2 <= simulator.stats.requests[EVENTS_PATH] <= 13


async def test_min_interval_bounds_a_server_that_sends_one_event_per_connection(
        simulator: Simulator, client: AsyncVendo) -> None:
    fake, rec = FakeTime(), Recorder()
    async with Consumer(client.events.subscribe(on_status=rec, sleep=fake.sleep, clock=fake.clock,
                                                min_interval=1.0)) as c:
        for n in range(1, 4):
            await rec.opened(n)
            simulator.emit("deployment.updated", {})
            await c.take(1)
            simulator.drop_streams()
        await rec.opened(4)
    assert rec.delays == [1.0, 1.0, 1.0]
    assert [s.failures for s in rec.statuses if s.phase == "backoff"] == [0, 0, 0]


# --- heartbeat watchdog ------------------------------------------------------------

async def test_pings_keep_a_quiet_stream_alive(simulator: Simulator, client: AsyncVendo) -> None:
    simulator.ping_interval = 0.05
    rec = Recorder()
    async with Consumer(client.events.subscribe(on_status=rec, heartbeat_timeout=0.5)):
        await rec.opened()
        await asyncio.sleep(0.8)          # longer than the watchdog: only the pings keep it open
    assert simulator.stats.requests[EVENTS_PATH] == 1
    assert "backoff" not in rec.phases


async def test_a_silent_stream_is_dropped_and_resumed(simulator: Simulator, client: AsyncVendo) -> None:
    simulator.ping_interval = 0.05
    rec = Recorder()
    async with Consumer(client.events.subscribe(on_status=rec, heartbeat_timeout=0.5, backoff_base=0.01,
                                                min_interval=0.0)) as c:
        await rec.opened()
        first = simulator.emit("deployment.updated", {})
        await c.take(1)
        simulator.add_fault("stall")
        simulator.drop_streams()
        await rec.opened(3)               # the stalled one, then a healthy one
        second = simulator.emit("deployment.updated", {})
        events = await c.take(1)
    assert [e.id for e in events] == [second]
    assert simulator.stats.last_event_ids == [None, first, first]
    assert any(s.error == "no bytes for 0.5 s" for s in rec.statuses)


# --- refusals -------------------------------------------------------------------------

async def test_401_raises_auth_error_without_retrying(simulator: Simulator, client: AsyncVendo,
                                                       api_key: str) -> None:
    simulator.add_fault("unauthorized", code="app_revoked")
    with pytest.raises(AuthError) as info:
        await take(client.events.subscribe(), 1)
    err = info.value
    assert (err.status, err.code) == (401, "app_revoked")
    assert err.message == "This app key has been revoked."
    assert api_key not in str(err) and api_key not in repr(err)
    assert simulator.stats.requests[EVENTS_PATH] == 1


async def test_wrong_key_is_an_auth_error(simulator: Simulator) -> None:
    async with AsyncVendo(api_key="vendo_sk_wrong_key_123", base_url=simulator.base_url) as client:
        with pytest.raises(AuthError) as info:
            await take(client.events.subscribe(), 1)
    assert info.value.status == 401 and info.value.code
    assert "vendo_sk_wrong_key_123" not in str(info.value)


async def test_403_raises_auth_error(simulator: Simulator, client: AsyncVendo) -> None:
    simulator.add_fault("status", status=403, code="binding_missing")
    with pytest.raises(AuthError) as info:
        await take(client.events.subscribe(), 1)
    assert (info.value.status, info.value.code) == (403, "binding_missing")


async def test_429_waits_retry_after(simulator: Simulator, client: AsyncVendo) -> None:
    fake, rec = FakeTime(), Recorder()
    simulator.add_fault("rate_limit", retry_after=7, code="rate_limit_sse_streams")
    async with Consumer(client.events.subscribe(on_status=rec, sleep=fake.sleep, clock=fake.clock)) as c:
        await rec.opened()
        simulator.emit("deployment.updated", {})
        await c.take(1)
    assert fake.sleeps == [7.0]
    backoff = [s for s in rec.statuses if s.phase == "backoff"][0]
    assert backoff.http_status == 429 and "rate_limit_sse_streams" in (backoff.error or "")


async def test_a_stream_over_the_server_cap_is_refused_and_counted_as_a_failure(
        simulator: Simulator, client: AsyncVendo) -> None:
    simulator.max_streams = 1
    fake, rec = FakeTime(), Recorder()
    async with Consumer(client.events.subscribe(on_status=rec)):
        await rec.opened()
        events = await take(client.events.subscribe(sleep=fake.sleep, clock=fake.clock), 1)
    assert events[0].kind == "stream.error" and events[0].data["status"] == 429
    assert "rate_limit_sse_streams" in events[0].data["message"]
    assert fake.sleeps == [1.0, 2.0]            # no Retry-After on this 429: the normal backoff


async def test_404_is_not_retried(simulator: Simulator, client: AsyncVendo) -> None:
    simulator.add_fault("status", status=404)
    with pytest.raises(VendoError) as info:
        await take(client.events.subscribe(), 1)
    assert info.value.status == 404 and info.value.code == "not_found"
    assert simulator.stats.requests[EVENTS_PATH] == 1


async def test_unreachable_server_gives_up_with_stream_error() -> None:
    fake = FakeTime()
    async with AsyncVendo(api_key="vendo_sk_x", base_url="http://127.0.0.1:9") as client:
        events = await take(client.events.subscribe(sleep=fake.sleep, clock=fake.clock), 2)
    assert [e.kind for e in events] == ["stream.error"]
    assert events[0].data["status"] is None and events[0].data["attempts"] == 3
    assert fake.sleeps == [1.0, 2.0]


async def test_a_non_event_stream_answer_is_a_failure() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, html="<html>captive portal</html>")

    fake = FakeTime()
    async with AsyncVendo(api_key="vendo_sk_x", base_url="https://portal.test",
                          transport=httpx.MockTransport(handler)) as client:
        events = await take(client.events.subscribe(sleep=fake.sleep, clock=fake.clock, max_failures=2), 2)
    assert [e.kind for e in events] == ["stream.error"]
    assert "not an event stream" in events[0].data["message"]


# --- bad frames ---------------------------------------------------------------------------

async def test_bad_frames_are_survived(simulator: Simulator, client: AsyncVendo,
                                       caplog: pytest.LogCaptureFixture) -> None:
    rec = Recorder()
    async with Consumer(client.events.subscribe(on_status=rec, max_event_size=64 * 1024)) as c:
        await rec.opened()
        simulator.add_fault("malformed_json")
        simulator.add_fault("invalid_utf8")
        simulator.add_fault("oversized_line", size=200_000)
        simulator.add_fault("raw", data=b"event: deep\ndata: " + b"[" * 50_000 + b"\n\n")
        after = simulator.emit("deployment.updated", {})
        events = await c.take(4)
    assert events[0].kind == "connection.changed"
    assert events[0].data == '{"slug": "gmail", "status": '           # kept as the raw string
    assert events[1].kind == "connection.changed"
    assert isinstance(events[1].data, dict) and "\ufffd" in events[1].data["slug"]
    assert events[2].kind == "deep" and isinstance(events[2].data, str)  # too deep for json: raw
    assert events[3].id == after and events[3].kind == "deployment.updated"
    assert any("SSE frame dropped" in r.message for r in caplog.records)
    assert simulator.stats.requests[EVENTS_PATH] == 1


async def test_a_burst_arrives_complete_and_in_order(simulator: Simulator, client: AsyncVendo) -> None:
    rec = Recorder()
    async with Consumer(client.events.subscribe(on_status=rec)) as c:
        await rec.opened()
        ids = simulator.burst(300)
        got: list[Event] = []
        while len(primary(got)) < 300:
            got += await c.take(1, timeout=10)
    assert [e.id for e in primary(got)] == ids


# --- stopping -------------------------------------------------------------------------------

async def test_break_closes_the_connection(simulator: Simulator, client: AsyncVendo) -> None:
    rec = Recorder()
    simulator.emit("deployment.updated", {})
    first = simulator.last_event_id
    simulator.emit("deployment.updated", {})
    async with client.events.subscribe(on_status=rec, last_event_id=first) as stream:
        async for _ in stream:
            assert simulator.stats.open_streams == 1
            break
    await wait_until(lambda: simulator.stats.open_streams == 0)
    assert rec.phases[-1] == "closed"


async def test_task_cancel_closes_the_connection(simulator: Simulator, client: AsyncVendo) -> None:
    rec = Recorder()

    async def consume() -> None:
        async with client.events.subscribe(on_status=rec) as stream:
            async for _ in stream:
                pass

    task = asyncio.create_task(consume())
    await rec.opened()
    await wait_until(lambda: simulator.stats.open_streams == 1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await wait_until(lambda: simulator.stats.open_streams == 0)
    assert rec.phases[-1] == "closed"


async def test_cancel_during_backoff_stops_cleanly(simulator: Simulator, client: AsyncVendo) -> None:
    rec = Recorder()
    simulator.add_fault("status", count=5, status=503)

    async def consume() -> None:
        async with client.events.subscribe(on_status=rec, backoff_base=30.0) as stream:
            async for _ in stream:
                pass

    task = asyncio.create_task(consume())
    await rec.wait_for(lambda s: any(x.phase == "backoff" for x in s))
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert simulator.stats.open_streams == 0
    assert rec.phases[-1] == "closed"


async def test_iterating_after_close_ends_at_once(simulator: Simulator, client: AsyncVendo) -> None:
    stream = client.events.subscribe()
    await stream.aclose()
    assert [e async for e in stream] == []
    assert simulator.stats.requests[EVENTS_PATH] == 0


async def test_closing_the_client_ends_an_open_stream(simulator: Simulator, api_key: str) -> None:
    client = AsyncVendo(api_key=api_key, base_url=simulator.base_url)
    rec = Recorder()
    async with Consumer(client.events.subscribe(on_status=rec)):
        await rec.opened()
        await client.aclose()
        await wait_until(lambda: simulator.stats.open_streams == 0)


# --- the key stays secret --------------------------------------------------------------------------

async def test_the_key_never_reaches_a_log_line(simulator: Simulator, client: AsyncVendo, api_key: str,
                                                caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    fake, rec = FakeTime(), Recorder()
    simulator.add_fault("status", count=1, status=503)
    async with Consumer(client.events.subscribe(on_status=rec, sleep=fake.sleep, clock=fake.clock)) as c:
        await rec.opened()
        simulator.emit("deployment.updated", {})
        await c.take(1)
    simulator.add_fault("unauthorized")
    with pytest.raises(AuthError):
        await take(client.events.subscribe(), 1)
    assert len(caplog.records) > 5
    for record in caplog.records:
        assert api_key not in record.getMessage()
    assert all(api_key not in (s.error or "") for s in rec.statuses)


# --- the policy alone --------------------------------------------------------------------------------

def test_policy_backoff_sequence_and_limits() -> None:
    policy = ReconnectPolicy()
    assert [policy.backoff(n) for n in range(0, 9)] == [0.0, 1, 2, 4, 8, 16, 32, 60, 60]
    assert policy.backoff(3, base=0.5) == 2.0
    assert policy.backoff(10_000) == 60
    assert not policy.gives_up(2) and policy.gives_up(3)
    assert not ReconnectPolicy(max_failures=None).gives_up(10**9)
    with pytest.raises(ValueError):
        ReconnectPolicy(max_failures=0)
