"""The event hub: ring buffer, ids, and fan-out to open streams.

Any thread may publish (tests, the Qt thread, scenarios in the server loop).
A single lock makes "assign id, append to the ring, hand to every open
stream" one step, and a stream registers under the same lock while it takes
its replay, so a stream that resumes with ``Last-Event-ID`` gets every event
exactly once: either in its replay or live, never both, never neither.

Delivery into a stream's :class:`asyncio.Queue` goes through
``loop.call_soon_threadsafe``, whose callbacks run in FIFO order, so events
reach each stream in id order whichever thread emitted them.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from vendo_tray.simulator.wire import WireEvent

log = logging.getLogger(__name__)


class Signal:
    """A control item in a stream's queue (not an event)."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"<{self.name}>"


#: Hub and server signals a stream reacts to.
PING = Signal("ping")
WAKE = Signal("wake")  # a stream-level fault is waiting to be taken
STOP = Signal("stop")  # the simulator is shutting down: end cleanly
CLOSE = Signal("close")  # drop_streams(): end cleanly now
ABORT = Signal("abort")  # drop_streams(abort=True): cut the TCP connection
DISCONNECT = Signal("disconnect")  # the client went away


@dataclass(eq=False)
class Subscriber:
    """One open stream's inbox, owned by the server loop.

    ``live`` is False for a stalled stream: it must still hear STOP and
    DISCONNECT but never events.
    """

    loop: asyncio.AbstractEventLoop
    live: bool = True
    queue: asyncio.Queue[Any] = field(default_factory=asyncio.Queue)

    def put(self, item: Any) -> None:
        """Queue ``item`` from any thread; a closed loop means the stream is gone."""
        try:
            self.loop.call_soon_threadsafe(self.queue.put_nowait, item)
        except RuntimeError:
            pass


def _base36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        number, rest = divmod(number, 36)
        out = digits[rest] + out
        if not number:
            return out


#: How the hub spells ids unless told otherwise: ``{boot}`` is unique per hub, ``{seq}`` counts.
ID_FORMAT = "evt_{boot}_{seq:06d}"


def check_id_format(id_format: str) -> str:
    """Refuse a format whose ids could not travel as an SSE ``id:`` field or would repeat.

    Anything else the spec allows is fair game (leading and trailing spaces,
    non-ASCII, control characters): a client must resume from all of them.
    """
    try:
        first, second = (id_format.format(boot="b", seq=n) for n in (1, 2))
    except (KeyError, IndexError, ValueError, AttributeError) as exc:
        raise ValueError(f"bad id format {id_format!r}: {exc}") from None
    if first == second:
        raise ValueError(f"id format {id_format!r} gives every event the same id: use {{seq}}")
    if any(ch in first for ch in "\0\r\n"):
        raise ValueError(f"id format {id_format!r}: an SSE id cannot carry NUL, CR or LF")
    return id_format


class EventHub:
    """Ids, the replay ring buffer and the set of open streams."""

    def __init__(self, ring_size: int = 100, id_format: str = ID_FORMAT) -> None:
        self._lock = threading.Lock()
        self._ring: deque[WireEvent] = deque(maxlen=ring_size)
        self._subs: set[Subscriber] = set()
        self._seq = 0
        self._id_format = check_id_format(id_format)
        # Ids must not repeat across simulator runs: a client persists the
        # ids it has seen and would drop a reused one as a duplicate.
        self._boot = _base36(time.time_ns() // 1_000_000)

    def publish(self, build: Callable[[str], WireEvent]) -> WireEvent:
        """Give the next id to ``build``, keep the result and hand it to every live stream."""
        with self._lock:
            self._seq += 1
            event = build(self._id_format.format(boot=self._boot, seq=self._seq))
            self._ring.append(event)
            for sub in self._subs:
                if sub.live:
                    sub.put(event)
        return event

    def subscribe(self, loop: asyncio.AbstractEventLoop, last_event_id: str | None,
                  live: bool = True) -> tuple[Subscriber, list[WireEvent]]:
        """Register a stream; return it with the events it missed after ``last_event_id``.

        An id that is not in the ring (too old, or from another run) gives no
        replay: the client only gets live events and must re-read state.  The
        header arrives as HTTP delivers a field value, without leading or
        trailing spaces and tabs, so it is compared with each issued id in
        that form (the latest match wins).  This is the server's side of the
        rule, written here on purpose rather than borrowed from the client:
        a test against the simulator must be able to catch the client
        getting it wrong.
        """
        sub = Subscriber(loop=loop, live=live)
        with self._lock:
            replay: list[WireEvent] = []
            if live and last_event_id is not None:
                ring = list(self._ring)
                at = [i for i, e in enumerate(ring) if e.sse_id.strip(" \t") == last_event_id]
                if at:
                    replay = ring[at[-1] + 1:]
                else:
                    log.info("Last-Event-ID not in the ring buffer (%d events): live only", len(ring))
            self._subs.add(sub)
        return sub, replay

    def unsubscribe(self, sub: Subscriber) -> None:
        with self._lock:
            self._subs.discard(sub)

    def signal_all(self, signal: Signal, live_only: bool = False) -> int:
        """Put ``signal`` in every open stream's queue; return how many got it."""
        with self._lock:
            targets = [s for s in self._subs if s.live or not live_only]
        for sub in targets:
            sub.put(signal)
        return len(targets)

    def history(self) -> list[WireEvent]:
        """The ring buffer, oldest first."""
        with self._lock:
            return list(self._ring)

    @property
    def last_id(self) -> str | None:
        with self._lock:
            return self._ring[-1].sse_id if self._ring else None
