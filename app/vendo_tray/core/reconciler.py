"""Keeps the connections/balance snapshot fresh and turns gaps into events.

The stream tells us what changed; REST tells us what *is*.  The reconciler
reads REST (connections list, balance, spend caps):

* every ``poll_interval`` (30 s), as a safety net;
* soon after a ``connection.*`` or ``billing.*`` event (debounced: a burst of
  events costs one refresh), so the badge and window follow the stream
  instead of lagging up to 30 s — the seed's reconciler idea;
* after a *gap* (reconnect, resume beyond the server's 100-event replay,
  wake from sleep), when it also compares the new snapshot with the old one
  and synthesizes the events the stream missed — so a connection that went to
  ``needs_reauth`` while we were offline still gets its notification.

The balance endpoint allows 60 requests a minute per IP, shared with anything
else on the machine: it is never called more than once per
``balance_min_interval``, a ``Retry-After`` is honoured, and a request that
comes too early is deferred, never dropped.

Events the stream does deliver are applied to the snapshot at once (a status
or a remaining balance), which keeps the badge instant and means a catch-up
after a reconnect only reports what the replay did *not* already say.

Fetch failures (network, 5xx, a rejected key, anything) are logged and the
old snapshot is kept; the loop never dies.  Qt-free; time is injected
(``clock``/``sleep``) so tests never wait 30 real seconds.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any, Protocol

from vendo_tray.client import Balance, Connection, SpendCaps
from vendo_tray.client.errors import RateLimited
from vendo_tray.core.aio import cancel_and_wait
from vendo_tray.core.kinds import STATUS_KINDS, ConnectionStatus, Kind, Refetch, VendoEvent, normalize
from vendo_tray.core.state import Snapshot

log = logging.getLogger(__name__)

#: ``data["source"]`` of every event the reconciler synthesizes.
RECONCILER_SOURCE = "reconciler"

CONNECTIONS = Refetch.CONNECTIONS.value
BILLING = Refetch.BILLING.value
ALL_PARTS = frozenset({CONNECTIONS, BILLING})

#: The status a connection kind implies (the live wire also says it in data.status).
_STATUS_OF_KIND = {kind: status.value for status, kind in STATUS_KINDS.items()}


class SnapshotSource(Protocol):
    """Where snapshots come from: the REST client in the app, a fake in unit tests."""

    async def connections_list(self) -> list[Connection]: ...

    async def balance(self) -> Balance: ...

    async def spend_caps(self) -> SpendCaps: ...


class ClientSource:
    """Adapts ``AsyncVendo`` (``client.connections`` / ``client.billing``) to :class:`SnapshotSource`."""

    def __init__(self, client: Any) -> None:
        self._client = client

    async def connections_list(self) -> list[Connection]:
        return list(await self._client.connections.list())

    async def balance(self) -> Balance:
        balance: Balance = await self._client.billing.balance()
        return balance

    async def spend_caps(self) -> SpendCaps:
        caps: SpendCaps = await self._client.billing.spend_caps()
        return caps


def is_synthesized(event: VendoEvent) -> bool:
    """Whether the reconciler (not the stream) produced this event."""
    return isinstance(event.data, dict) and event.data.get("source") == RECONCILER_SOURCE


def missed_events(old: Snapshot, new: Snapshot, *, at: datetime,
                  parts: Iterable[str] = ALL_PARTS) -> list[VendoEvent]:
    """The state changes between two snapshots, as the events the stream would have sent.

    Only parts with a baseline are compared: a first-ever snapshot (``taken_at``
    None) or an unknown balance reports nothing, because "no news" is not a change.
    """
    parts = frozenset(parts)
    iso = at.isoformat()
    out: list[VendoEvent] = []
    if CONNECTIONS in parts and old.taken_at is not None:
        before = {c.slug: c for c in old.connections}
        seen: set[str] = set()
        for conn in new.connections:
            seen.add(conn.slug)
            prev = before.get(conn.slug)
            if prev is not None and prev.status == conn.status:
                continue
            out.append(_synthesize("connection.status_changed", f"{conn.slug}:{conn.status}", iso, at, {
                "slug": conn.slug, "connection_id": conn.id, "status": conn.status,
                "previous_status": prev.status if prev else None,
                "error_message": conn.error_message,
            }))
        for slug, prev in before.items():
            if slug not in seen:
                out.append(_synthesize("connection.disconnected", f"{slug}:removed", iso, at, {
                    "slug": slug, "connection_id": prev.id, "previous_status": prev.status,
                }))
    if BILLING in parts and old.balance is not None and new.balance is not None:
        was, now = old.balance.credits_remaining_micros, new.balance.credits_remaining_micros
        if was != now:
            out.append(_synthesize("billing.balance_changed", f"balance:{now}", iso, at, {
                "remaining_micros": now, "previous_micros": was, "currency": new.balance.currency,
            }))
    return out


def _synthesize(wire: str, subject: str, iso: str, at: datetime, fields: dict[str, Any]) -> VendoEvent:
    key = f"reconcile:{subject}:{iso}"
    data = {"id": key, "at": iso, "kind": wire, **fields, "source": RECONCILER_SOURCE}
    return normalize(wire, data, received_at=at)


SnapshotCallback = Callable[[Snapshot], None]
MissedCallback = Callable[[list[VendoEvent]], None]


class Reconciler:
    """See the module docstring.  One instance per client lifetime is fine.

    ``initial``: a snapshot from before (the previous client's).  A reconciler
    started from one is resuming after a break, so its first refresh compares
    against it and reports what changed meanwhile.
    """

    def __init__(
        self,
        fetch: SnapshotSource,
        *,
        poll_interval: float = 30.0,
        debounce: float = 0.5,
        balance_min_interval: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        wall: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
        initial: Snapshot | None = None,
    ) -> None:
        self._source = fetch
        self.poll_interval = poll_interval
        self.debounce = debounce
        self.balance_min_interval = balance_min_interval
        self._clock = clock
        self._sleep = sleep
        self._wall = wall
        self.snapshot: Snapshot = initial or Snapshot()
        #: part -> clock time it is due; a part is "pending" while it has an entry.
        self._due: dict[str, float] = {}
        #: parts whose next successful fetch must be diffed against the old snapshot.
        self._diff_parts: set[str] = set(ALL_PARTS) if self.snapshot.taken_at is not None else set()
        self._last_balance_call: float | None = None
        self._balance_not_before = -math.inf
        self._next_poll: float | None = None
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self._on_snapshot: SnapshotCallback | None = None
        self._on_missed: MissedCallback | None = None
        self._last_errors: dict[str, str] = {}

    # ------------------------------------------------------------------ triggers

    def on_event(self, event: VendoEvent) -> None:
        """A stream event: apply what it says now, confirm by REST soon (debounced)."""
        if is_synthesized(event):
            return  # our own catch-up coming back through the pipeline
        part = event.kind.facts.refetch
        if part is None:
            return
        self._apply(event)
        self._request({part.value}, delay=self.debounce)

    def on_gap(self) -> None:
        """The stream may have missed something: refresh everything and report the differences.

        Debounced like events, so the replay that follows a reconnect is applied
        first and the diff only reports what the replay did not say.
        """
        log.info("stream gap: catching up on connections and balance")
        self._diff_parts |= ALL_PARTS
        self._request(ALL_PARTS, delay=self.debounce)

    def _request(self, parts: Iterable[str], *, delay: float) -> None:
        due = self._clock() + delay
        for part in parts:
            # Keep the earliest deadline: a burst of events is one refresh, not a postponed one.
            self._due[part] = min(self._due.get(part, math.inf), due)
        self._wake.set()

    # ------------------------------------------------------------------ the loop

    async def run(self, on_snapshot: SnapshotCallback, on_missed: MissedCallback) -> None:
        """Refresh at once, then every ``poll_interval`` and on demand, until cancelled."""
        self._on_snapshot, self._on_missed = on_snapshot, on_missed
        try:
            # Resuming from an earlier snapshot: wait like after a gap, so the stream's
            # replay is applied before the comparison and not reported twice.
            self._request(ALL_PARTS, delay=self.debounce if self._diff_parts else 0)
            self._next_poll = self._clock() + self.poll_interval
            while True:
                self._wake.clear()
                now = self._clock()
                if now >= self._next_poll:
                    self._request(ALL_PARTS, delay=0)
                    self._next_poll = now + self.poll_interval
                ready = {p for p in self._due if self._ready_at(p) <= now}
                if ready:
                    await self._refresh_parts(ready)
                    continue
                wake_at = min([self._next_poll, *(self._ready_at(p) for p in self._due)])
                await self._wait(wake_at - now)
        finally:
            self._on_snapshot = self._on_missed = None

    def _ready_at(self, part: str) -> float:
        due = self._due[part]
        if part == BILLING:
            due = max(due, self._balance_allowed_at())
        return due

    def _balance_allowed_at(self) -> float:
        spaced = (self._last_balance_call + self.balance_min_interval
                  if self._last_balance_call is not None else -math.inf)
        return max(spaced, self._balance_not_before)

    async def _wait(self, timeout: float) -> None:
        """Sleep ``timeout`` (via the injected sleep) or until a trigger, whichever first."""
        if timeout <= 0:
            await asyncio.sleep(0)
            return
        waker = asyncio.ensure_future(self._wake.wait())
        sleeper = asyncio.ensure_future(self._sleep(timeout))
        try:
            await asyncio.wait({waker, sleeper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            # Not suppress(CancelledError) per task: a stop of the reconciler arriving
            # while these unwind would be swallowed and the reconciler never stop.
            await cancel_and_wait(waker, sleeper)

    async def refresh(self, *, diff: bool) -> Snapshot:
        """Refresh everything now (the balance only if the rate limit allows; else it is deferred).

        With ``diff``, changes since the previous snapshot are reported to the
        ``on_missed`` callback given to :meth:`run`.
        """
        if diff:
            self._diff_parts |= ALL_PARTS
        parts = set(ALL_PARTS)
        if self._balance_allowed_at() > self._clock():
            self._request({BILLING}, delay=0)  # the run loop fetches it when allowed
            parts.discard(BILLING)
        await self._refresh_parts(parts)
        return self.snapshot

    async def _refresh_parts(self, parts: set[str]) -> None:
        async with self._lock:
            for part in parts:
                self._due.pop(part, None)
            old = self.snapshot
            fetched: dict[str, Any] = {}
            if CONNECTIONS in parts:
                conns = await self._fetch(CONNECTIONS, self._source.connections_list)
                if conns is not None:
                    fetched["connections"] = tuple(conns)
            if BILLING in parts:
                self._last_balance_call = self._clock()
                balance = await self._fetch("balance", self._source.balance)
                if balance is not None:
                    fetched["balance"] = balance
                caps = await self._fetch("spend caps", self._source.spend_caps)
                if caps is not None:
                    fetched["caps"] = caps
            if not fetched:
                return
            taken_at = self._wall()
            new = replace(self.snapshot, **fetched, taken_at=taken_at)
            self.snapshot = new
            if ALL_PARTS <= parts:
                self._next_poll = self._clock() + self.poll_interval
            diffed = {p for p in self._diff_parts
                      if (p == CONNECTIONS and "connections" in fetched)
                      or (p == BILLING and "balance" in fetched)}
            missed = missed_events(old, new, at=taken_at, parts=diffed) if diffed else []
            self._diff_parts -= diffed
        self._deliver(self._on_snapshot, new)
        if missed:
            log.info("catch-up: %d change(s) the stream missed: %s", len(missed),
                     ", ".join(e.summary for e in missed))
            self._deliver(self._on_missed, missed)

    async def _fetch(self, what: str, call: Callable[[], Awaitable[Any]]) -> Any:
        """One REST call; None (and a log line, not a crash) on any failure."""
        try:
            value = await call()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - any failure keeps the old snapshot
            self._note_failure(what, exc)
            return None
        if what in self._last_errors:
            log.info("reconciler: %s fetch works again", what)
            del self._last_errors[what]
        return value

    def _note_failure(self, what: str, exc: Exception) -> None:
        text = f"{type(exc).__name__}: {exc}"
        level = logging.DEBUG if self._last_errors.get(what) == text else logging.WARNING
        log.log(level, "reconciler: %s fetch failed, keeping the last snapshot (%s)", what, text)
        self._last_errors[what] = text
        if isinstance(exc, RateLimited):
            wait = exc.retry_after if exc.retry_after is not None else self.poll_interval
            wait = min(max(wait, 0.0), self.poll_interval)
            if what in ("balance", "spend caps"):
                self._balance_not_before = max(self._balance_not_before, self._clock() + wait)
                self._request({BILLING}, delay=0)
            else:
                self._request({CONNECTIONS}, delay=wait)

    def _deliver(self, callback: Callable[[Any], None] | None, value: Any) -> None:
        if callback is None:
            return
        try:
            callback(value)
        except Exception:  # a listener's bug must not stop the loop
            log.exception("reconciler callback failed")

    # ------------------------------------------------------------ applying events

    def _apply(self, event: VendoEvent) -> None:
        """Patch the snapshot with what a stream event states, if it is news."""
        snap = self.snapshot
        if snap.taken_at is not None and event.at is not None and event.at < snap.taken_at:
            return  # the snapshot is newer than this event; the refresh will confirm
        new = snap
        if event.kind.group == "connection" and event.slug:
            status = event.status or _STATUS_OF_KIND.get(event.kind)
            current = snap.connection(event.slug)
            if status and current is not None and current.status != status:
                message = event.message if status == ConnectionStatus.ERROR else None
                patched = replace(current, status=status, error_message=message)
                new = replace(snap, connections=tuple(patched if c.slug == event.slug else c
                                                      for c in snap.connections))
        elif event.kind.group == "billing" and snap.balance is not None:
            remaining = event.remaining_micros
            if remaining is None and event.kind is Kind.BALANCE_EXHAUSTED:
                remaining = 0
            if remaining is not None and remaining != snap.balance.credits_remaining_micros:
                new = replace(snap, balance=replace(snap.balance, credits_remaining_micros=remaining))
        if new is not snap:
            self.snapshot = new
            self._deliver(self._on_snapshot, new)
