"""``client.events.subscribe()``: one resilient subscription to the events stream.

The reconnect policy is the first edition's (docs/wire.md § Reconnecting), made precise:

- a dropped connection or a clean end of stream → reconnect at once;
- if that fails, back off 1 s, 2 s, 4 s, … capped at ``max_backoff`` (60 s);
  a 5xx backs off the same way, a 429 waits its ``Retry-After``;
- ``max_failures`` (3) consecutive failed attempts → yield ONE ``stream.error``
  event and close; ``None`` = never give up;
- a server ``retry:`` value replaces the 1 s base;
- 401/403 → :class:`AuthError` at once (retrying a rejected key only hammers
  the server); other 4xx and redirects → their typed error at once (retrying
  cannot fix them);
- no bytes for ``heartbeat_timeout`` (Vendo pings every 25 s) → the connection
  is dead even if the socket looks open: drop it and reconnect;
- every reconnect sends ``Last-Event-ID`` once an id has been seen, so the
  server replays what we missed; an id that cannot be a header value (see
  ``_http.resume_header``), or that the server answers 400/431 to, is left
  out with one log line: the resume id never stops the stream.

What counts as a *successful* connection is the subtle part.  A server that
accepts and closes at once (a flapping proxy, an overloaded pod) would turn
"reconnect at once, success resets the count" into a tight loop.  So a
connection only counts as established (resetting the failure count and
earning the immediate reconnect) once it delivered an event, or once it has
received bytes and stayed up for ``stable_after`` seconds.  An accept-and-close,
an accept-and-stall and an accept-and-ping-and-close are all failures and back
off.  On top of that no two attempts start less than ``min_interval`` apart,
which bounds even a server that sends one event per connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import httpx

from vendo_tray.client._http import Transport, error_from_response, read_capped, request_headers, resume_header
from vendo_tray.client._models import Event, StreamPhase, StreamStatus
from vendo_tray.client.errors import AuthError, RateLimited, VendoOnlyFeature
from vendo_tray.client.sse import DEFAULT_MAX_SIZE, SSEDecoder

log = logging.getLogger(__name__)

EVENTS_PATH = "/api/deployments/me/events"
STREAM_ERROR = "stream.error"


def give_up_text(data: Any) -> str:
    """Why the stream gave up, from its ``stream.error`` event's data: the one wording the
    tray's status (``core.monitor``) and ``vendo-tray events`` (``headless``) both show."""
    if not isinstance(data, dict):
        return "gave up reconnecting"
    message = str(data.get("message") or "gave up reconnecting")
    status = data.get("status")
    return f"{message} (HTTP {status})" if status else message
#: A 429's Retry-After is honoured up to this; a bogus far-future date must not park the stream for days.
MAX_RETRY_AFTER = 3600.0

Sleep = Callable[[float], Awaitable[object]]
Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class ReconnectPolicy:
    """When to try again and when to give up.  Pure, so it is tested alone."""

    max_failures: int | None = 3
    max_backoff: float = 60.0
    backoff_base: float = 1.0
    min_interval: float = 1.0
    stable_after: float = 5.0

    def __post_init__(self) -> None:
        if self.max_failures is not None and self.max_failures < 1:
            raise ValueError("max_failures must be at least 1, or None to never give up")
        if self.max_backoff < 0 or self.backoff_base < 0 or self.min_interval < 0:
            raise ValueError("delays must not be negative")

    def backoff(self, failures: int, base: float | None = None) -> float:
        """The wait after the ``failures``-th consecutive failure: base, 2·base, 4·base, … capped."""
        base = self.backoff_base if base is None else base
        if failures <= 0:
            return 0.0
        return min(base * 2.0 ** min(failures - 1, 62), self.max_backoff)

    def gives_up(self, failures: int) -> bool:
        return self.max_failures is not None and failures >= self.max_failures


class EventsAPI:
    """``client.events``."""

    def __init__(self, transport: Transport) -> None:
        self._transport = transport

    def subscribe(
        self,
        *,
        last_event_id: str | None = None,
        max_failures: int | None = 3,
        max_backoff: float = 60.0,
        heartbeat_timeout: float | None = 60.0,
        on_status: Callable[[StreamStatus], None] | None = None,
        backoff_base: float = 1.0,
        min_interval: float = 1.0,
        stable_after: float = 5.0,
        max_event_size: int = DEFAULT_MAX_SIZE,
        sleep: Sleep | None = None,
        clock: Clock | None = None,
    ) -> EventStream:
        """Subscribe to the app's events stream.

        Returns an async context manager that is also the async iterator of
        :class:`Event`.  Nothing is sent until iteration starts.  ``on_status``
        hears every phase change (connecting, open, backoff, closed) so a UI
        can show live/reconnecting.  ``backoff_base``, ``min_interval`` and
        ``stable_after`` tune the policy (see the module docstring);
        ``sleep``/``clock`` are injectable so tests can check the timeline
        without waiting.

        Raises :class:`VendoOnlyFeature` right here when no API key is set.
        """
        if self._transport.key is None:
            raise VendoOnlyFeature("events.subscribe() needs Vendo mode: set VENDO_API_KEY (or pass api_key)")
        policy = ReconnectPolicy(max_failures=max_failures, max_backoff=max_backoff,
                                 backoff_base=backoff_base, min_interval=min_interval,
                                 stable_after=stable_after)
        return EventStream(self._transport, policy=policy, last_event_id=last_event_id,
                           heartbeat_timeout=heartbeat_timeout, on_status=on_status,
                           max_event_size=max_event_size, sleep=sleep or asyncio.sleep,
                           clock=clock or time.monotonic)


class EventStream:
    """One subscription.  ``async with`` it and ``async for`` over it; leaving
    either (break, return, exception, task cancel) closes the HTTP response
    and its connection.

    :attr:`last_event_id` is the stream's resume point ("last event ID
    string"); while iterating it is the id of the event just yielded, so a
    consumer that persists it after handling each event can never skip one.
    """

    def __init__(self, transport: Transport, *, policy: ReconnectPolicy, last_event_id: str | None,
                 heartbeat_timeout: float | None, on_status: Callable[[StreamStatus], None] | None,
                 max_event_size: int, sleep: Sleep, clock: Clock) -> None:
        self._transport = transport
        self.policy = policy
        # The resume id comes back from disk too: anything but text is no resume point.
        self.last_event_id: str | None = last_event_id if isinstance(last_event_id, str) and last_event_id else None
        self._told_unsendable = False  # said once per stream; a server that mints such ids mints many
        self._refused_id: str | None = None  # a resume id the server answered 400/431 to
        self._heartbeat = heartbeat_timeout
        self._on_status = on_status
        self._max_size = max_event_size
        self._sleep = sleep
        self._clock = clock
        self._retry_base: float | None = None   # from the server's retry:, in seconds
        self._gen: AsyncGenerator[Event, None] | None = None
        self._closed = False
        #: True once the stream gave up and yielded its ``stream.error``; lets a caller tell
        #: that event from a server-sent event that merely has the same name.
        self.gave_up = False

    # -- the public face -----------------------------------------------------
    async def __aenter__(self) -> EventStream:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.aclose()

    def __aiter__(self) -> EventStream:
        return self

    async def __anext__(self) -> Event:
        if self._closed:
            raise StopAsyncIteration
        if self._gen is None:
            self._gen = self._run()
        return await self._gen.__anext__()

    async def aclose(self) -> None:
        """Stop: close the response and the connection.  Safe to call twice."""
        self._closed = True
        if self._gen is not None:
            await self._gen.aclose()

    # -- the loop ------------------------------------------------------------
    async def _run(self) -> AsyncGenerator[Event, None]:
        failures = 0
        final: _Attempt | None = None   # the attempt that made us give up
        try:
            while True:
                attempt = _Attempt(started=self._clock())
                self._report("connecting", failures)
                # aclosing: a break or cancel must close the response now, not when
                # the garbage collector gets round to the inner generators.
                async with contextlib.aclosing(self._connect_once(attempt, failures)) as events:
                    async for event in events:
                        yield event
                if attempt.established:
                    failures = 0
                    delay = 0.0
                else:
                    failures += 1
                    if self.policy.gives_up(failures):
                        message = f"gave up after {failures} failed attempts: {attempt.error or 'no connection'}"
                        # Logged quietly: the stream.error event is how the caller hears it.
                        log.debug("events stream %s", message)
                        final = attempt
                        self.gave_up = True
                        yield Event(STREAM_ERROR, {"message": message, "attempts": failures,
                                                   "status": attempt.http_status})
                        return
                    delay = (attempt.retry_after if attempt.retry_after is not None
                             else self.policy.backoff(failures, self._retry_base))
                # Never two attempts closer than min_interval, whatever the server does.
                delay = max(delay, self.policy.min_interval - (self._clock() - attempt.started))
                log.info("events stream: %s; reconnecting in %.1f s%s", attempt.error or "ended", delay,
                         f" (failure {failures})" if failures else "")
                self._report("backoff", failures, delay=delay, http_status=attempt.http_status,
                             error=attempt.error)
                if delay > 0:
                    await self._sleep(delay)
        finally:
            self._closed = True
            self._report("closed", failures, http_status=final.http_status if final else None,
                         error=final.error if final else None)

    async def _connect_once(self, attempt: _Attempt, failures: int) -> AsyncGenerator[Event, None]:
        """One HTTP request: yields its events and records in ``attempt`` how it ended."""
        client = self._transport
        key = client.key
        assert key is not None  # subscribe() checked
        # Bytes, as httpx would make them (ASCII), because the resume id is UTF-8.
        headers = {name.encode("ascii"): value.encode("ascii") for name, value in
                   {**request_headers(key, "text/event-stream"), "Cache-Control": "no-store"}.items()}
        if self.last_event_id and self.last_event_id != self._refused_id:
            resume = resume_header(self.last_event_id)
            if resume is not None:
                headers[b"Last-Event-ID"] = resume
            else:
                log.log(logging.DEBUG if self._told_unsendable else logging.WARNING,
                        "events stream: the resume id %.80r cannot be sent as a header; resuming "
                        "without it (events missed meanwhile will not be replayed)", self.last_event_id)
                self._told_unsendable = True
        # The read timeout covers the wait for the response headers; during the
        # body the heartbeat watchdog below takes over.
        timeout = httpx.Timeout(client.connect_timeout, read=self._heartbeat)
        try:
            async with client.http.stream("GET", client.base_url + EVENTS_PATH, headers=headers,
                                           timeout=timeout) as response:
                attempt.http_status = response.status_code
                if response.status_code != 200:
                    await self._refused(response, attempt)
                    return
                content_type = response.headers.get("content-type", "")
                if content_type.split(";", 1)[0].strip().lower() != "text/event-stream":
                    attempt.error = f"answered {content_type[:60]!r}, not an event stream"
                    return
                self._report("open", failures, http_status=200)
                async with contextlib.aclosing(self._read(response, attempt)) as events:
                    async for event in events:
                        yield event
        except httpx.TimeoutException:
            attempt.error = attempt.error or "timed out connecting"
        except httpx.RequestError as exc:
            attempt.error = attempt.error or f"connection failed: {type(exc).__name__}: {exc}"[:200]

    async def _refused(self, response: httpx.Response, attempt: _Attempt) -> None:
        """A non-200 answer: raise what cannot be retried, record the rest."""
        body = await read_capped(response)
        error = error_from_response(response.status_code, response.headers, body,
                                    key=self._transport.key, reason=response.reason_phrase)
        status = response.status_code
        # Raised errors are the caller's to report; logging them here too would say it twice.
        if isinstance(error, AuthError):
            log.debug("events stream refused: %s", error)
            raise error
        if isinstance(error, RateLimited):
            if error.retry_after is not None:
                attempt.retry_after = min(error.retry_after, MAX_RETRY_AFTER)
        elif status in (400, 431) and "last-event-id" in response.request.headers:
            # Our resume id is the one untrusted thing in the request: never let it stop the stream.
            self._refused_id = self.last_event_id
            log.warning("events stream: the server refused the request carrying the resume id %.80r "
                        "(HTTP %d); resuming without it", self.last_event_id, status)
        elif status < 500 and status not in (408, 425):
            log.debug("events stream refused: %s", error)
            raise error
        attempt.error = str(error)

    async def _read(self, response: httpx.Response, attempt: _Attempt) -> AsyncGenerator[Event, None]:
        """Decode the body into events, with the heartbeat watchdog on every read."""
        decoder = SSEDecoder(self.last_event_id or "", max_line=self._max_size, max_event=self._max_size)
        got_bytes = False
        # httpx annotates aiter_bytes() as an AsyncIterator; it is an async generator, with aclose().
        async with contextlib.aclosing(response.aiter_bytes()) as chunks:  # type: ignore[type-var]
            while True:
                try:
                    # The watchdog spans the read only, never the yield below: a slow
                    # consumer is not a dead server.
                    async with asyncio.timeout(self._heartbeat):
                        chunk = await anext(chunks)
                except StopAsyncIteration:
                    attempt.error = "stream ended"
                    break
                except (TimeoutError, httpx.ReadTimeout):
                    attempt.error = f"no bytes for {self._heartbeat:g} s"
                    break
                except httpx.RequestError as exc:
                    attempt.error = f"connection lost: {type(exc).__name__}: {exc}"[:200]
                    break
                got_bytes = True
                for sse in decoder.feed(chunk):
                    attempt.established = True
                    self.last_event_id = sse.id or None
                    yield Event(sse.event, _parse_data(sse.data), sse.id or None)
                self.last_event_id = decoder.last_event_id or None
                if decoder.retry is not None:
                    self._retry_base = decoder.retry / 1000
        if got_bytes and self._clock() - attempt.started >= self.policy.stable_after:
            attempt.established = True

    def _report(self, phase: StreamPhase, failures: int, *, delay: float | None = None,
                http_status: int | None = None, error: str | None = None) -> None:
        if self._on_status is None:
            return
        try:
            self._on_status(StreamStatus(phase=phase, failures=failures, delay=delay,
                                         http_status=http_status, error=error))
        except Exception:  # a UI callback must not kill the stream
            log.exception("on_status callback failed")


@dataclass(slots=True)
class _Attempt:
    """How one connection attempt went."""

    started: float
    established: bool = False
    http_status: int | None = None
    error: str | None = None
    retry_after: float | None = None


def _parse_data(text: str) -> Any:
    """The JSON value when ``text`` parses, else the raw string (never raises)."""
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return text
