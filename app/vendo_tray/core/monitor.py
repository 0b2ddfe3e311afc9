"""The engine: one supervised events subscription feeding store, policy and UI.

Data flows one way::

    client.events → kinds.normalize → store (dedupe, persist) → policy → listeners (UI)
    reconciler (REST snapshot) ──────────────┘

The monitor is Qt-free and runs on whatever asyncio loop it is given (qasync
in the app, a plain loop in tests).  It owns the *supervision* the client
does not: after the client gives up (``stream.error``) it retries on a slower
schedule (30 s doubling to 5 min), at once when the user asks, the key or base
URL changes, or the network comes back; a rejected key parks it until the key
changes.

The invariant it keeps ("never deaf", issue 9): whenever a key is set and not
rejected, the base URL is usable and :meth:`Monitor.run` is running, the
monitor either has a stream open or has exactly one (re)connect scheduled
with a known deadline -- :attr:`Monitor.liveness` says which, and
``tests/test_supervisor.py`` checks it after every fault it throws.  Nothing
may wait on a child task without a way out: child tasks are stopped with
:func:`vendo_tray.core.aio.cancel_and_wait`, which never swallows a stop.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from enum import Enum
from typing import Any, Literal
from urllib.parse import urlsplit

from vendo_tray.client import AsyncVendo, StreamStatus
from vendo_tray.client.errors import AuthError, VendoError, VendoOnlyFeature
from vendo_tray.client.events import give_up_text
from vendo_tray.core.aio import cancel_and_wait, failure_of, wait_set
from vendo_tray.core.apps import DEFAULT_APP_ID, DEFAULT_APP_NAME, AppProfile
from vendo_tray.core.kinds import Kind, VendoEvent, normalize
from vendo_tray.core.links import Links
from vendo_tray.core.notices import Notice, Withdraw
from vendo_tray.core.notify.text import for_app
from vendo_tray.core.policy import Policy, PolicyPrefs
from vendo_tray.core.reconciler import ClientSource, Reconciler, is_synthesized
from vendo_tray.core.runway import runway_from
from vendo_tray.core.secrets import KeySource
from vendo_tray.core.settings import Settings
from vendo_tray.core.state import AppState, MonitorListener, Phase, Snapshot
from vendo_tray.core.store import Store

log = logging.getLogger(__name__)

#: After the client gives up: first retry after this long, doubling to the cap.
OFFLINE_RETRY_FIRST = 30.0
OFFLINE_RETRY_MAX = 300.0
#: With no policy timer pending, the monitor still looks this often for a wall-clock
#: jump (the machine slept); pending timers (Policy.next_deadline) wake it when due.
IDLE_TICK_SECONDS = 30.0
#: The shortest sleep between ticks, and the sleep after a tick that failed:
#: a deadline that stays due (a bug) must not spin the loop.
MIN_TICK_SECONDS = 0.01
FAILED_TICK_SECONDS = 1.0
#: A wall-clock jump this much larger than the monotonic one means we slept.
WAKE_JUMP_SECONDS = 30.0
#: An event dated this much before the connection opened is a replay (allows small clock skew).
REPLAY_SLACK_SECONDS = 1.0
#: The runway is estimated again this often even without news (its 24 h window slides),
RUNWAY_SECONDS = 60.0
#: and after a billing event or a new balance, no more often than this: an estimate over
#: a full history (25,000 readings) costs ~80 ms of the loop (docs/performance.md).
RUNWAY_MIN_SECONDS = 5.0
#: Most events handled per store transaction when a burst arrives: big enough to make
#: a 10,000-event burst cheap, small enough to keep each loop turn well under 100 ms.
MAX_BATCH = 200


class Outcome(Enum):
    """How one client lifetime (:meth:`Monitor._run_connected`) ended, and so what ``run`` does next."""

    #: The key, base URL or links changed, or "Reconnect now": start a new client at once.
    RESTART = "restart"
    #: The server refused the key, or the base URL is unusable: wait until the user changes it.
    REJECTED = "rejected"
    #: The client gave up reconnecting (or failed unexpectedly): retry on the slower schedule.
    OFFLINE = "offline"


@dataclass(frozen=True, slots=True)
class Liveness:
    """Where the subscription stands, in the terms of the never-deaf invariant.

    ``open``: a stream is open.  ``due``: exactly one (re)connect is scheduled for
    the monotonic time ``at`` (``at`` already past: the attempt is under way).
    ``parked``: only the user can help (no key, key rejected, unusable base URL).
    ``stopped``: :meth:`Monitor.run` is not running.
    """

    mode: Literal["open", "due", "parked", "stopped"]
    at: float | None = None


class StayedUp:
    """Whether a stream stayed open long enough that the next give-up starts the offline
    schedule over: at least ``threshold`` seconds (the schedule's first wait).

    WHY not "it opened": a server that answers 200 and ends at once (a flapping proxy,
    an overloaded pod) opens a stream on every attempt; ``vendo-tray events`` counted
    that as a new start and retried it every 30 s for ever instead of backing off to
    5 min.  One rule for the tray's monitor and ``vendo-tray events``: feed it every
    :class:`StreamStatus`, read :attr:`stayed`, reset it when a new count begins.
    """

    def __init__(self, threshold: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._threshold = threshold
        self._clock = clock
        self._open_since: float | None = None
        self.stayed = False

    def on_status(self, status: StreamStatus) -> None:
        if status.phase == "open":
            self._open_since = self._clock()
        elif self._open_since is not None:  # the stream that was open has ended
            self.stayed |= self._clock() - self._open_since >= self._threshold
            self._open_since = None


async def check_key(key: str, base_url: str, **client_options: Any) -> str:
    """A real call to the connections endpoint; returns what answered or raises VendoError.

    The one key test: the settings dialog's Test and ``vendo-tray apps add``
    both make it before a key is saved.
    """
    try:
        client = AsyncVendo(api_key=key, base_url=base_url, **client_options)
    except ValueError as exc:
        raise VendoError(str(exc)) from None
    async with client:
        connections = await client.connections.list()
    host = urlsplit(base_url).netloc
    return f"OK: {host} answered with {len(connections)} connections"


def policy_prefs(settings: Settings) -> PolicyPrefs:
    """The policy's view of the user's settings."""
    return PolicyPrefs(
        low_balance_micros=settings.low_balance_micros,
        runway_days=settings.runway_days,
        notify=dict(settings.notify),
        sounds=frozenset(settings.sounds),
    )


class Monitor:
    """Owns one app's subscription, its policy and its reconciler, and writes its rows to the store.

    ``app``: which Vendo app this is (``core.fleet`` runs one monitor per app); its
    id tags the stored rows and the resume id, its name goes into notices when
    :attr:`named`, and its base URL replaces ``settings.base_url``.  Without one,
    the monitor is the default app of a pre-apps setup, at ``settings.base_url``.
    """

    def __init__(
        self,
        *,
        settings: Settings,
        key: str | None,
        key_source: KeySource | None,
        store: Store,
        demo: bool = False,
        clock: Callable[[], float] = time.monotonic,
        offline_retry: tuple[float, float] = (OFFLINE_RETRY_FIRST, OFFLINE_RETRY_MAX),
        client_options: dict[str, Any] | None = None,
        stream_options: dict[str, Any] | None = None,
        app: AppProfile | None = None,
    ) -> None:
        self.store = store
        self._own_url = app is not None
        self.app = app or AppProfile(DEFAULT_APP_ID, DEFAULT_APP_NAME, settings.base_url)
        #: Notices start with the app's name (several apps are watched); the fleet sets it.
        self.named = False
        settings = self._bind(settings)
        self._settings = settings
        self._key = key
        self._clock = clock
        self._offline_retry = offline_retry
        # Passed through to AsyncVendo and events.subscribe (tests shorten the timings).
        self._client_options = client_options or {}
        self._stream_options = stream_options or {}
        self._listeners: list[MonitorListener] = []
        self.links = Links(settings.base_url, lambda: self._key, settings.keep_key_out_of_links)
        self.policy = Policy(policy_prefs(settings), self.links, clock=clock)
        for slug, until in store.mutes(self.app.id).items():  # an ended one is ignored
            self.policy.mute(slug, until)
        self.state = AppState(phase=Phase.CONNECTING if key else Phase.KEY_MISSING,
                              demo=demo, key_source=key_source if key else None, mutes=self.policy.mutes)
        self._wake = asyncio.Event()
        #: Set by every policy input (_emit_notices): a timer may have been set.
        self._timers_changed = asyncio.Event()
        self._restart = False
        self._client: AsyncVendo | None = None
        self._reconciler: Reconciler | None = None
        self._was_live = False
        self._opened_at: float | None = None  # wall time the current stream opened
        self.liveness = Liveness("stopped")
        #: Client lifetimes (stream + reconciler) running now: never more than one.
        self.lifetimes = 0
        #: Whether a stream stayed open long enough in this client lifetime that a later
        #: give-up starts the offline schedule over.
        self._stayed_up = StayedUp(self._offline_retry[0], clock)
        self._runway_at = -math.inf  # clock time of the last runway estimate
        self._runway_stale = True  # a billing event or a new balance since then

    # ----------------------------------------------------------------- listeners
    def add_listener(self, listener: MonitorListener) -> None:
        self._listeners.append(listener)

    def _emit_state(self, **changes: Any) -> None:
        new = replace(self.state, **changes)
        if new == self.state:
            return
        self.state = new
        for listener in self._listeners:
            safely(listener.state_changed, new)

    def _emit_notices(self, items: list[Notice | Withdraw]) -> None:
        self._timers_changed.set()  # every policy input ends here: look at its deadline again
        for item in items:
            item = for_app(item, self.app, named=self.named)
            for listener in self._listeners:
                safely(listener.notice, item)

    def _set_phase(self, phase: Phase, detail: str | None = None, retry_in: float | None = None) -> None:
        if phase is self.state.phase and detail == self.state.detail and retry_in == self.state.retry_in:
            return
        self._emit_state(phase=phase, detail=detail, retry_in=retry_in)
        try:
            notices = self.policy.on_stream(phase, detail)
        except Exception:  # a bug deciding on the stream's health must not stop the supervision
            log.exception("deciding on stream phase %s failed", phase.name)
            return
        self._emit_notices(notices)

    # ------------------------------------------------------------------ controls
    def reconnect_now(self) -> None:
        """Drop any wait and (re)subscribe at once."""
        log.info("reconnect requested")
        self._restart = True
        self._wake.set()

    def set_key(self, key: str | None, source: KeySource | None) -> None:
        """A new key (or none) restarts the stream."""
        self._key = key or None
        self._emit_state(key_source=source if key else None)
        self.reconnect_now()

    def _bind(self, settings: Settings) -> Settings:
        """``settings`` as this app runs with them: with its own base URL when it has one."""
        if self._own_url:
            return settings.with_changes(base_url=self.app.base_url)
        self.app = replace(self.app, base_url=settings.base_url)
        return settings

    def apply_app(self, app: AppProfile) -> None:
        """The app was renamed or moved to another base URL (its id, rows and resume id stay)."""
        if app.id != self.app.id:
            raise ValueError("a monitor watches one app for its whole life")
        self.app, self._own_url = app, True
        self.apply_settings(self._settings)

    def apply_settings(self, settings: Settings) -> None:
        """Apply at once; a new base URL or link style restarts or rebuilds what depends on it."""
        old = self._settings
        settings = self._bind(settings)
        self._settings = settings
        self.policy.update_prefs(policy_prefs(settings))
        if (settings.base_url, settings.keep_key_out_of_links) != (old.base_url, old.keep_key_out_of_links):
            self.links = Links(settings.base_url, lambda: self._key, settings.keep_key_out_of_links)
            self.policy.links = self.links
        if settings.base_url != old.base_url:
            self.reconnect_now()

    @property
    def settings(self) -> Settings:
        return self._settings

    @property
    def key(self) -> str | None:
        """The key in use (the settings dialog shows whether one is set; never logged)."""
        return self._key

    def pause(self, until: datetime) -> None:
        self._emit_notices(self.policy.pause(until))
        self._emit_state(paused_until=self.policy.paused_until)  # None when `until` is already past

    def resume(self) -> None:
        self._emit_notices(self.policy.resume())
        self._emit_state(paused_until=None)

    def mute_connection(self, slug: str, until: datetime | None) -> None:
        """Mute connection ``slug``'s notifications until ``until`` (None: until unmuted), across restarts.

        Its events are still stored and shown; ``core.notify.mutes`` says what a mute covers.
        """
        self._emit_notices(self.policy.mute(slug, until))
        self._keep_mute(slug)

    def unmute_connection(self, slug: str) -> None:
        self.policy.unmute(slug)
        self._keep_mute(slug)

    def _keep_mute(self, slug: str) -> None:
        """Store ``slug``'s mute as the policy now holds it, and show it."""
        mute = next((m for m in self.policy.mutes if m.slug == slug), None)
        if mute is None:
            self.store.clear_mute(self.app.id, slug)
        else:
            self.store.set_mute(self.app.id, slug, mute.until)
        self._emit_state(mutes=self.policy.mutes)

    def withdraw_notices(self) -> None:
        """Take this app's notices off the screen: it is no longer watched, and a click on
        one would be refused (its links went with it)."""
        self._emit_notices(self.policy.withdraw_all())

    def network_changed(self, online: bool) -> None:
        log.info("network %s", "back" if online else "gone")
        if online and self.state.phase in (Phase.OFFLINE, Phase.RECONNECTING):
            self.reconnect_now()

    def woke_up(self) -> None:
        """After sleep: quiet period for noise, a snapshot diff, a fresh stream."""
        log.info("woke up from sleep")
        self.policy.on_wake()
        if self._reconciler is not None:
            self._reconciler.on_gap()
        self.reconnect_now()

    async def test_key(self, key: str, base_url: str) -> str:
        """The settings dialog's Test: :func:`check_key` with this monitor's client options."""
        return await check_key(key, base_url, **self._client_options)

    # ----------------------------------------------------------------- main loop
    async def run(self) -> None:
        """Supervise forever (cancel the task to stop)."""
        ticker = asyncio.create_task(self._tick_forever(), name="vendo-monitor-tick")
        try:
            offline_delay = self._offline_retry[0]
            while True:
                self._restart = False
                self._wake.clear()
                if not self._key:
                    self._set_phase(Phase.KEY_MISSING, "No API key: add one in Settings")
                    self._set_liveness("parked")
                    await self._wake.wait()
                    continue
                self._set_liveness("due", self._clock())
                self._stayed_up.stayed = False
                try:
                    outcome = await self._run_connected()
                except Exception as exc:  # a bug in one client lifetime must not end the supervision
                    log.exception("client lifetime failed unexpectedly; retrying later")
                    self._emit_state(detail=unexpected(exc))
                    outcome = Outcome.OFFLINE
                if outcome is Outcome.RESTART or self._stayed_up.stayed:  # a new start: the schedule starts over
                    offline_delay = self._offline_retry[0]
                if outcome is Outcome.RESTART:
                    continue
                if outcome is Outcome.REJECTED:  # a bad key or base URL: only a change can help
                    self._set_liveness("parked")
                    await self._wake.wait()
                    continue
                # Offline: the client gave up; retry on the slower schedule.
                self._set_phase(Phase.OFFLINE, self.state.detail, retry_in=offline_delay)
                self._set_liveness("due", self._clock() + offline_delay)
                await wait_set(self._wake, offline_delay)
                if self._restart:
                    offline_delay = self._offline_retry[0]
                else:
                    offline_delay = min(offline_delay * 2, self._offline_retry[1])
        finally:
            self._set_liveness("stopped")
            await cancel_and_wait(ticker)

    def restart_due(self, error: BaseException | None, retry_in: float) -> None:
        """:meth:`run` ended on its own (``error``, or None when it returned); ``core.fleet``
        starts it again in ``retry_in`` seconds.

        WHY not leave the state as it was: the tray would go on saying "Live" over a
        monitor that no longer listens.  Straight to the state, not through the
        policy: its rules may be what failed.
        """
        self._emit_state(phase=Phase.OFFLINE, detail=unexpected(error), retry_in=retry_in)

    def _set_liveness(self, mode: Literal["open", "due", "parked", "stopped"], at: float | None = None) -> None:
        self.liveness = Liveness(mode, at)

    async def _run_connected(self) -> Outcome:
        """One client lifetime: stream + reconciler until restart, rejection or give-up."""
        try:
            client = AsyncVendo(api_key=self._key, base_url=self._settings.base_url, **self._client_options)
        except ValueError as exc:  # a hand-edited settings file or VENDO_BASE_URL
            log.error("cannot connect: %s", exc)
            self._set_phase(Phase.OFFLINE, str(exc))
            return Outcome.REJECTED
        self._set_phase(Phase.CONNECTING)
        self._client = client
        self.lifetimes += 1
        # Seeded with the last snapshot, so a change that happened while we were away
        # (asleep, restarting, offline) is diffed and notified once the replay is in.
        previous = self.state.snapshot if self.state.snapshot.taken_at else None
        reconciler = Reconciler(ClientSource(client), initial=previous)
        self._reconciler = reconciler
        recon_task = asyncio.create_task(
            reconciler.run(self._on_snapshot, self._on_missed), name="vendo-reconciler")
        stream_task = asyncio.create_task(self._consume(client), name="vendo-stream")
        wake_task = asyncio.create_task(self._wake.wait(), name="vendo-wake")
        done: set[asyncio.Task[Any]] = set()
        try:
            done, _ = await asyncio.wait({stream_task, wake_task}, return_when=asyncio.FIRST_COMPLETED)
            if stream_task in done:
                try:
                    return stream_task.result()
                except Exception as exc:  # a bug or an unforeseen library error: retry, never die
                    log.exception("events stream failed unexpectedly; retrying later")
                    self._emit_state(detail=unexpected(exc))
                    return Outcome.OFFLINE
            self._set_liveness("due", self._clock())  # a restart: the next stream is due now
            return Outcome.RESTART
        finally:
            tasks = (stream_task, wake_task, recon_task)
            try:
                # A cancel of *this* task arriving during the teardown (the app quitting)
                # propagates, or run() would carry on and open a new stream.
                await cancel_and_wait(*tasks)
                for task in tasks:
                    if task not in done and (error := failure_of(task)) is not None:
                        log.error("%s failed", task.get_name(), exc_info=error)
            finally:
                self._reconciler = None
                self._client = None
                self.lifetimes -= 1
                await client.aclose()

    async def _consume(self, client: AsyncVendo) -> Outcome:
        """Read the stream until the client gives up (OFFLINE) or refuses the key (REJECTED)."""
        queue: asyncio.Queue[tuple[VendoEvent, str | None]] = asyncio.Queue()
        worker = asyncio.create_task(self._process(queue), name="vendo-process")
        try:
            try:
                async with client.events.subscribe(
                    last_event_id=self.store.last_event_id(self.app.id),
                    on_status=self._on_stream_status,
                    **self._stream_options,
                ) as stream:
                    async for raw in stream:
                        # The resume id travels with its event: it is persisted only once
                        # everything up to it is stored, so a crash can never skip events.
                        queue.put_nowait((normalize(raw.kind, raw.data, raw.id), stream.last_event_id))
                        if raw.kind == "stream.error" and stream.gave_up:  # not a server-sent look-alike
                            detail = give_up_text(raw.data)
                            log.warning("events stream gave up: %s", detail)
                            await queue.join()
                            self._emit_state(detail=detail)
                            return Outcome.OFFLINE
            except AuthError as exc:
                await queue.join()
                return self._rejected(exc)
            except VendoOnlyFeature:
                self._set_phase(Phase.KEY_MISSING, "No API key: add one in Settings")
                return Outcome.REJECTED
            except VendoError as exc:
                log.warning("events stream failed: %s", exc)
                await queue.join()
                self._emit_state(detail=str(exc))
                return Outcome.OFFLINE
            await queue.join()
            return Outcome.OFFLINE
        finally:
            await cancel_and_wait(worker)

    def _rejected(self, exc: AuthError) -> Outcome:
        detail = f"Key rejected: {exc.message}" + (f" ({exc.code})" if exc.code else "")
        log.warning("API key rejected by the server: %s", exc)
        self._was_live = False
        self._set_phase(Phase.KEY_REJECTED, detail)
        return Outcome.REJECTED

    def _on_stream_status(self, status: StreamStatus) -> None:
        self._stayed_up.on_status(status)
        if status.phase == "open":
            if self._was_live and self._reconciler is not None:
                self._reconciler.on_gap()  # a reconnect: catch up on what the replay may not hold
            self._was_live = True
            self._opened_at = time.time()
            if self.store.last_event_id(self.app.id) is not None:  # resuming: a replay is on its way
                self.policy.begin_catch_up()
            self._set_liveness("open")
            self._set_phase(Phase.LIVE)
            return
        if status.phase == "backoff":
            detail = status.error or (f"HTTP {status.http_status}" if status.http_status else None)
            self._set_liveness("due", self._clock() + (status.delay or 0.0))
            self._set_phase(Phase.RECONNECTING, detail, retry_in=status.delay)
        elif status.phase == "connecting":
            self._set_liveness("due", self._clock())
            if self.state.phase is not Phase.LIVE:
                self._set_phase(Phase.RECONNECTING if self._was_live else Phase.CONNECTING)
        elif status.phase == "closed":
            self._set_liveness("due", self._clock())  # the monitor decides what comes next

    async def _process(self, queue: asyncio.Queue[tuple[VendoEvent, str | None]]) -> None:
        """Store, decide and publish events in batches, so a burst costs one transaction per batch."""
        while True:
            batch = [await queue.get()]
            while len(batch) < MAX_BATCH and not queue.empty():
                batch.append(queue.get_nowait())
            try:
                self._handle([event for event, _ in batch], resume_id=batch[-1][1])
            except Exception:  # one bad batch must not stop the stream
                log.exception("failed to handle %d events", len(batch))
            finally:
                for _ in batch:
                    queue.task_done()
            await asyncio.sleep(0)  # a queue that is never empty would otherwise starve the UI

    def _handle(self, events: list[VendoEvent], resume_id: str | None = None) -> None:
        app = self.app.id  # streamed and reconciler-made events alike are this app's
        events = [e if e.app == app else replace(e, app=app) for e in events]
        fresh = self.store.add_many(events, last_event_id=resume_id, app=app)
        snapshot = self.state.snapshot
        for event, is_new in zip(events, fresh):
            if not is_new:
                log.debug("duplicate event %s (%s) ignored", event.key, event.wire_kind)
                continue
            for listener in self._listeners:
                safely(listener.event_recorded, event)
            if event.kind.group == "billing":
                self._runway_stale = True
            try:
                if self._reconciler is not None and event.kind.group in ("connection", "billing"):
                    self._reconciler.on_event(event)
                if self.policy.catching_up and not self._is_catch_up(event):
                    self._emit_notices(self.policy.end_catch_up())  # the replay is over
                if event.kind is not Kind.STREAM_ERROR:
                    self._emit_notices(self.policy.on_event(event, snapshot))
            except Exception:  # a bug deciding on one event must not cost the rest of the batch
                log.exception("deciding on event %s (%s) failed; it is stored and shown",
                              event.key, event.wire_kind)

    def _is_catch_up(self, event: VendoEvent) -> bool:
        """Did this happen while we were away? (a replayed or reconciler-synthesized event)"""
        if is_synthesized(event):
            return True
        return (event.at is not None and self._opened_at is not None
                and event.at.timestamp() < self._opened_at - REPLAY_SLACK_SECONDS)

    def _on_snapshot(self, snapshot: Snapshot) -> None:
        runway = self.state.runway
        if snapshot.balance != self.state.snapshot.balance:
            # The shown balance and its runway never disagree ("$0.00 · about 2 days left"):
            # the last burn applies to the new balance now, a fresh estimate follows.
            self._runway_stale = True
            if runway is not None:
                runway = runway.with_balance(snapshot.balance.credits_remaining_micros
                                             if snapshot.balance is not None else None)
        self._emit_state(snapshot=snapshot, runway=runway)
        # The live wire's error event has no message; REST's error_message fills it in place.
        self._emit_notices(self.policy.on_snapshot(snapshot))

    def _on_missed(self, events: list[VendoEvent]) -> None:
        if events:
            log.info("reconciler found %d changes the stream missed", len(events))
            self._handle(events)

    async def _tick_forever(self) -> None:
        """The policy's timers, and noticing sleep: asleep until something is due.

        WHY not a fixed 1 s tick: a tray app idles all day, and a timer firing
        every second while nothing happens wakes the process 86,400 times a day.
        The policy says when its next timer is due; any policy input wakes this
        loop to ask again; with nothing due it wakes every IDLE_TICK_SECONDS to
        compare the wall clock with the monotonic one (a jump means we slept).
        """
        last_wall, last_mono = time.time(), time.monotonic()
        sleep = IDLE_TICK_SECONDS
        while True:
            await wait_set(self._timers_changed, sleep)
            wall, mono = time.time(), time.monotonic()
            slept = (wall - last_wall) - (mono - last_mono) > WAKE_JUMP_SECONDS
            last_wall, last_mono = wall, mono
            failed = False
            try:  # nothing may escape: this task's death would go unseen, and no timer fire again
                if slept:
                    self.woke_up()
                self._emit_notices(self.policy.tick())
            except Exception:
                log.exception("policy tick failed")
                failed = True  # its deadline may stay due: do not spin on it
            if self._clock() >= self._runway_due():
                self.refresh_runway()
            self._emit_state(paused_until=self.policy.paused_until, mutes=self.policy.mutes)
            self._timers_changed.clear()  # what this tick emitted set no new timer
            sleep = FAILED_TICK_SECONDS if failed else self._until_next_tick()

    def refresh_runway(self) -> None:
        """Estimate how long the balance lasts from the stored readings (``core.runway``)."""
        self._runway_at, self._runway_stale = self._clock(), False
        balance = self.state.snapshot.balance
        try:
            runway = runway_from(self.store, now=datetime.now(timezone.utc), app=self.app.id,
                                 balance_micros=balance.credits_remaining_micros if balance else None)
        except Exception:  # a bug in an estimate must not stop the ticks
            log.exception("estimating the runway failed")
            return
        self._emit_state(runway=runway)
        try:
            self._emit_notices(self.policy.on_runway(runway, self.state.snapshot))
        except Exception:  # nor a bug in its rule (this runs in the timer loop)
            log.exception("deciding on the runway failed")

    def _runway_due(self) -> float:
        """When the runway is estimated again: soon after news, else once its window has slid."""
        return self._runway_at + (RUNWAY_MIN_SECONDS if self._runway_stale else RUNWAY_SECONDS)

    def _until_next_tick(self) -> float:
        """Seconds until the next timer (the policy's, catch-up end included; runway), capped for sleep checks."""
        try:
            due = [self.policy.next_deadline(), self._runway_due()]
        except Exception:
            log.exception("policy deadline failed")
            return FAILED_TICK_SECONDS
        soonest = min(d for d in due if d is not None)
        return min(max(soonest - self._clock(), MIN_TICK_SECONDS), IDLE_TICK_SECONDS)

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
        self.store.close()


def unexpected(error: BaseException | None) -> str:
    """The status line for a failure nobody foresaw: its type only, since its message may quote a secret."""
    what = f"unexpected error: {type(error).__name__}" if error is not None else "stopped unexpectedly"
    return f"{what} (see the log)"


def safely(callback: Callable[..., Any], *args: Any) -> None:
    """A listener's bug is logged, never allowed to stop the engine."""
    try:
        callback(*args)
    except Exception:
        log.exception("listener %r failed", callback)
