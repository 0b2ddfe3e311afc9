"""The events endpoint: one SSE response per request, as a raw ASGI app.

Raw ASGI rather than Starlette's ``StreamingResponse`` because a simulator
of a flaky server needs what a well-behaved response hides: noticing the
client hang up while we send nothing (stall), ending a response at once
(flap), and cutting the TCP connection in the middle of a frame
(drop_mid_frame).  The last is done by raising :class:`AbortConnection`
after the headers went out, which makes uvicorn close the transport without
the final chunk; :func:`install_abort_log_filter` keeps that deliberate
cut out of uvicorn's error log.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from vendo_tray.simulator import wire
from vendo_tray.simulator.faults import Fault
from vendo_tray.simulator.hub import ABORT, CLOSE, DISCONNECT, PING, STOP, WAKE, Subscriber
from vendo_tray.simulator.responses import error_response

if TYPE_CHECKING:
    from vendo_tray.simulator.server import Simulator

log = logging.getLogger(__name__)

SSE_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]

#: How much padding an oversized line writes per send.
_CHUNK = 64 * 1024


class AbortConnection(Exception):
    """Raised inside the app to make uvicorn cut the connection mid-response."""


class _AbortLogFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, AbortConnection)


_ABORT_FILTER = _AbortLogFilter()


def install_abort_log_filter() -> None:
    """Hide our own deliberate connection cuts from uvicorn's error log (idempotent)."""
    logging.getLogger("uvicorn.error").addFilter(_ABORT_FILTER)


class EventsEndpoint:
    """``GET /api/deployments/me/events`` for one simulator."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        sim = self.sim
        request = Request(scope, receive)
        if request.method != "GET":
            await error_response(None, status=405, code="method_not_allowed")(scope, receive, send)
            return
        last_id = _last_event_id(scope)
        sim.stats.last_event_ids.append(last_id)
        fault = sim.fault_book.take_request(wire.EVENTS_PATH)
        if fault is not None and fault.name not in ("stall", "flap"):
            log.info("fault %s answers a stream request", fault.name)
            await error_response(fault)(scope, receive, send)
            return
        denied = sim.auth_error(request)
        if denied is not None:
            await denied(scope, receive, send)
            return
        if sim.stats.open_streams >= sim.max_streams:
            await error_response(None, status=429, code="rate_limit_sse_streams",
                                 message="Too many concurrent SSE streams.")(scope, receive, send)
            return
        mode = fault.name if fault is not None else None
        await _Stream(sim, receive, send, last_id, mode).run()


class _Stream:
    """The life of one open event stream."""

    def __init__(self, sim: Simulator, receive: Receive, send: Send,
                 last_id: str | None, mode: str | None) -> None:
        self.sim = sim
        self.receive = receive
        self.send = send
        self.last_id = last_id
        self.mode = mode  # None, "stall" or "flap"
        self.cut: dict[str, Any] | None = None  # an armed drop_mid_frame
        self.gone = False  # the client hung up

    async def run(self) -> None:
        sim = self.sim
        loop = asyncio.get_running_loop()
        sub, replay = sim.hub.subscribe(loop, self.last_id, live=self.mode != "stall")
        sim.stats.open_streams += 1
        sim.stats.streams_opened += 1
        watcher = asyncio.create_task(self._watch_disconnect(sub))
        pinger: asyncio.Task[None] | None = None
        ending = "clean"
        try:
            await self.send({"type": "http.response.start", "status": 200, "headers": SSE_HEADERS})
            if self.mode == "flap":
                log.info("fault flap: stream accepted and ended at once")
            elif self.mode == "stall":
                log.info("fault stall: headers sent, now silent until the client leaves")
                ending = await self._stall(sub)
            else:
                if replay:
                    log.info("replaying %d event(s) after Last-Event-ID", len(replay))
                pinger = asyncio.create_task(self._ping(sub))
                ending = await self._pump(sub, replay)
        finally:
            sim.hub.unsubscribe(sub)
            watcher.cancel()
            if pinger is not None:
                pinger.cancel()
            sim.stats.open_streams -= 1
        if ending == "abort":
            raise AbortConnection("simulated connection drop")
        if ending == "clean" and not self.gone:
            await self.send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _pump(self, sub: Subscriber, replay: list[wire.WireEvent]) -> str:
        """Write events, pings and faults until the stream ends; say how it ended."""
        for event in replay:
            if (ending := await self._write_event(event)) is not None:
                return ending
        if (ending := await self._take_faults()) is not None:
            return ending
        while True:
            item = await sub.queue.get()
            if item is PING:
                await self._write(wire.PING)
            elif item is WAKE:
                ending = await self._take_faults()
            elif (end := _ending(item)) is not None:
                return end
            else:
                ending = await self._write_event(item)
            if ending is not None:
                return ending

    async def _stall(self, sub: Subscriber) -> str:
        while True:
            if (end := _ending(await sub.queue.get())) is not None:
                return end

    async def _write_event(self, event: wire.WireEvent) -> str | None:
        if self.cut is None:
            await self._write(event.frame)
            return None
        half = max(1, event.primary_len // 2)
        log.info("fault drop_mid_frame: cutting %s after %d of %d bytes", event.sse_id, half,
                 event.primary_len)
        await self._write(event.frame[:half])
        clean = bool(self.cut.get("clean"))
        self.cut = None
        return "clean" if clean else "abort"

    async def _take_faults(self) -> str | None:
        """Apply every stream fault waiting for a stream (at most one armed cut at a time)."""
        while True:
            skip = frozenset({"drop_mid_frame"}) if self.cut is not None else frozenset()
            fault = self.sim.fault_book.take_stream(skip)
            if fault is None:
                return None
            await self._apply(fault)

    async def _apply(self, fault: Fault) -> None:
        name, params = fault.name, fault.params
        log.info("fault %s on an open stream %s", name,
                 {k: v for k, v in params.items() if k != "data"})
        if name == "drop_mid_frame":
            self.cut = params
        elif name == "malformed_json":
            await self._write(wire.malformed_json_frame())
        elif name == "invalid_utf8":
            await self._write(wire.invalid_utf8_frame())
        elif name == "retry":
            await self._write(wire.retry_frame(params["ms"]))
        elif name == "raw":
            await self._write(bytes(params["data"]))
        elif name == "oversized_line":
            await self._write(wire.oversized_prefix())
            left = int(params["size"])
            while left > 0 and not self.gone:
                step = min(left, _CHUNK)
                await self._write(b"x" * step)
                left -= step
            await self._write(wire.OVERSIZED_SUFFIX)
        elif name == "burst":
            self.sim.burst(int(params["n"]))

    async def _write(self, data: bytes) -> None:
        if not self.gone:
            await self.send({"type": "http.response.body", "body": data, "more_body": True})

    async def _watch_disconnect(self, sub: Subscriber) -> None:
        while True:
            message = await self.receive()
            if message["type"] == "http.disconnect":
                self.gone = True
                sub.queue.put_nowait(DISCONNECT)
                return

    async def _ping(self, sub: Subscriber) -> None:
        while True:
            await asyncio.sleep(self.sim.ping_interval)
            sub.queue.put_nowait(PING)


def _last_event_id(scope: Scope) -> str | None:
    """The ``Last-Event-ID`` header as UTF-8 text (Starlette would read it as Latin-1)."""
    for name, value in scope["headers"]:
        if name.lower() == b"last-event-id":
            return bytes(value).decode("utf-8", "replace")
    return None


def _ending(item: object) -> str | None:
    """How a stream ends on a hub signal ("gone", "clean", "abort"), or None to go on."""
    if item is DISCONNECT:
        return "gone"
    if item is STOP or item is CLOSE:
        return "clean"
    if item is ABORT:
        return "abort"
    return None
