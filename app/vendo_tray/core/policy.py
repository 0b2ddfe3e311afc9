"""The notification policy's facade: what the monitor calls, routed to ``core.notify``.

Call :meth:`Policy.on_event` for every recorded event, :meth:`Policy.on_stream` on every
phase change, :meth:`Policy.mute` / :meth:`Policy.unmute` when the user (un)mutes a connection, :meth:`Policy.tick` at :meth:`Policy.next_deadline` (earlier is harmless) and
:meth:`Policy.on_wake` after sleep; each returns what to show or withdraw, in order.  The rules themselves live in
``core.notify``: one module per subject (``connections``, ``balance``, ``caps``,
``stream``) and one delivery ``gate`` (toggles, bursts, pause, catch-up).

Same event once
    An event whose ``key`` (``data.id``, else the SSE id) was seen among the last
    :data:`SEEN_KEYS` keys is ignored: the live server's legacy alias block and a replay
    after reconnect carry the same id.  Events without a key are not deduplicated by key,
    only by state (each rule module's "same state says nothing").
Never raises
    A bug in a rule costs one popup, not the stream: it is logged and the event is kept.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from vendo_tray.client.safety import plain
from vendo_tray.core.kinds import RecentKeys, VendoEvent
from vendo_tray.core.links import Links
from vendo_tray.core.notices import Notice, Withdraw
from vendo_tray.core.notify.balance import BALANCE_SUBJECT, BalanceRule
from vendo_tray.core.notify.caps import CapRules
from vendo_tray.core.notify.connections import ConnectionRules
from vendo_tray.core.notify.context import MAX_SUBJECTS, Context, PolicyPrefs, local_now
from vendo_tray.core.notify.gate import (
    BURST_POPUPS,
    BURST_WINDOW,
    IMMEDIATE_PER_WINDOW,
    MAX_HELD,
    MAX_HOLD,
    MORNING_HOUR,
    MUTE_CHOICES,
    SETTLE,
    SUMMARY_SUBJECT,
    Gate,
    in_one_day,
    in_one_hour,
    next_morning,
)
from vendo_tray.core.notify.runway import RunwayRule
from vendo_tray.core.notify.stream import OFFLINE_AFTER, QUIET_SECONDS, STREAM_SUBJECT, StreamHealth
from vendo_tray.core.notify.text import BODY_MAX, NAME_MAX, TITLE_MAX
from vendo_tray.core.runway import Runway
from vendo_tray.core.settings import DEFAULT_NOTIFY
from vendo_tray.core.state import Mute, Phase, Snapshot

__all__ = [
    "BALANCE_SUBJECT", "BODY_MAX", "BURST_POPUPS", "BURST_WINDOW", "DEFAULT_NOTIFY", "IMMEDIATE_PER_WINDOW",
    "MAX_HELD", "MAX_HOLD", "MAX_SUBJECTS", "MORNING_HOUR", "MUTE_CHOICES", "NAME_MAX", "OFFLINE_AFTER",
    "QUIET_SECONDS", "SEEN_KEYS", "SETTLE", "STREAM_SUBJECT", "SUMMARY_SUBJECT", "TITLE_MAX", "Policy",
    "PolicyPrefs", "in_one_day", "in_one_hour", "local_now", "next_morning", "plain",
]

log = logging.getLogger(__name__)

SEEN_KEYS = 4096


class Policy:
    """Turns normalized events and stream phases into notices and withdrawals."""

    def __init__(self, prefs: PolicyPrefs, links: Links, clock: Callable[[], float] = time.monotonic,
                 now: Callable[[], datetime] = local_now) -> None:
        self._ctx = Context(prefs, links, clock, now)
        self._seen = RecentKeys(SEEN_KEYS)
        self.gate = Gate(self._ctx)
        self.stream = StreamHealth(self._ctx, self.gate)
        self.connections = ConnectionRules(self._ctx, self.gate, quiet=self.stream.quiet)
        self.balance = BalanceRule(self._ctx, self.gate)
        self.caps = CapRules(self._ctx, self.gate)
        self.runway = RunwayRule(self._ctx, self.gate, self.balance)

    # ================================================================ shared parts
    @property
    def prefs(self) -> PolicyPrefs:
        return self._ctx.prefs

    @prefs.setter
    def prefs(self, prefs: PolicyPrefs) -> None:
        self._ctx.prefs = prefs

    @property
    def links(self) -> Links:
        return self._ctx.links

    @links.setter
    def links(self, links: Links) -> None:
        self._ctx.links = links

    def update_prefs(self, prefs: PolicyPrefs) -> None:
        """New settings apply to the next decision (a new threshold at the next balance event)."""
        self.prefs = prefs

    # ================================================================ inputs
    def on_event(self, event: VendoEvent, snapshot: Snapshot | None = None) -> list[Notice | Withdraw]:
        """Decide on one recorded event.  Never raises."""
        try:
            if self._seen.seen(event.key):
                log.debug("event %s (%s) already seen: not notified again", event.key, event.wire_kind)
                return []
            return self._route(event, snapshot)
        except Exception:  # a policy bug must cost one popup, not the stream
            log.exception("policy failed on a %s event", event.wire_kind)
            return []

    def _route(self, event: VendoEvent, snapshot: Snapshot | None) -> list[Notice | Withdraw]:
        kind = event.kind
        if kind in ConnectionRules.KINDS:
            return self.connections.on_event(event, snapshot)
        if kind in BalanceRule.KINDS:
            return self.balance.on_event(event, snapshot)
        if kind in CapRules.KINDS:
            return self.caps.on_event(event)
        return []  # usage, changed, deployment.updated, stream.error, unknown: history only

    def on_runway(self, runway: Runway, snapshot: Snapshot | None = None) -> list[Notice | Withdraw]:
        """A new estimate of how long the balance lasts.  Never raises."""
        try:
            return self.runway.on_runway(runway, snapshot)
        except Exception:  # a policy bug must cost one popup, not the ticks
            log.exception("policy failed on a runway estimate")
            return []

    def on_stream(self, phase: Phase, detail: str | None = None) -> list[Notice | Withdraw]:
        """The subscription's phase changed."""
        return self.stream.on_stream(phase, detail)

    def on_wake(self) -> None:
        """After sleep: quiet again, and the offline timer restarts (sleep is not an outage)."""
        self.stream.on_wake()

    def on_snapshot(self, snapshot: Snapshot) -> list[Notice | Withdraw]:
        """A fresh REST snapshot: complete error notices the stream sent without a message."""
        return self.connections.on_snapshot(snapshot)

    def tick(self) -> list[Notice | Withdraw]:
        """Timers: the end of a catch-up, a pause or a mute, the offline threshold, burst flushes."""
        t = self._ctx.clock()
        self.gate.mutes.expire()
        return (self.gate.end_catch_up_if_due(t) + self.gate.expire_pause() + self.stream.check(t)
                + self.gate.tick(t))

    def next_deadline(self) -> float | None:
        """When :meth:`tick` next has something to do (on ``clock``), or None.

        The monitor sleeps until then instead of ticking every second: a burst to
        flush, the offline notice, the end of a pause, a catch-up or a mute.
        """
        return min((d for d in (self.gate.next_deadline(), self.stream.next_deadline()) if d is not None),
                   default=None)

    # ================================================================ muted connections
    def mute(self, slug: str, until: datetime | None) -> list[Notice | Withdraw]:
        """Mute connection ``slug``'s popups until ``until`` (None: until unmuted; past: unmuted).

        Its notice, if on screen, is withdrawn; see ``core.notify.mutes`` for what a mute covers.
        """
        return self.gate.mute(slug, until)

    def unmute(self, slug: str) -> None:
        """End connection ``slug``'s mute now; its current state is not announced again."""
        self.gate.unmute(slug)

    @property
    def mutes(self) -> tuple[Mute, ...]:
        """The connections muted now, by slug."""
        return self.gate.mutes.active

    # ================================================================ pause and catch-up
    def pause(self, until: datetime) -> list[Notice | Withdraw]:
        """Mute popups until ``until`` (naive means local time); a time already past resumes."""
        return self.gate.pause(until)

    def pause_for(self, duration: timedelta) -> list[Notice | Withdraw]:
        return self.pause(self._ctx.now() + duration)

    def pause_until_morning(self, hour: int = MORNING_HOUR) -> list[Notice | Withdraw]:
        return self.pause(next_morning(self._ctx.now(), hour))

    def resume(self) -> list[Notice | Withdraw]:
        """End the pause now: one notice about what was missed, if anything still matters."""
        return self.gate.resume()

    @property
    def paused_until(self) -> datetime | None:
        return self.gate.paused_until

    def begin_catch_up(self) -> None:
        """Events now arriving happened while we were away (a replay after a restart or gap).

        Like a pause: they move state but raise no popups; :meth:`end_catch_up`
        then says in ONE notice what still matters, so a restart after a night
        away does not replay the night popup by popup, and a connection that
        broke and healed while we were gone raises nothing.
        """
        self.gate.begin_catch_up()

    def end_catch_up(self) -> list[Notice | Withdraw]:
        """The replay is over: one notice about what is still unhealthy (unless paused)."""
        return self.gate.end_catch_up()

    @property
    def catching_up(self) -> bool:
        return self.gate.catching_up

    # ================================================================ what is on screen
    def dismissed(self, subject: str) -> None:
        """The user closed the popup for ``subject``: nothing to withdraw later."""
        self.gate.dismissed(subject)

    def withdraw_all(self) -> list[Notice | Withdraw]:
        """Withdraw every notice we believe is visible: the app is no longer watched."""
        return self.gate.withdraw_all()

    @property
    def shown(self) -> tuple[str, ...]:
        """Subjects whose notice we believe is visible."""
        return self.gate.shown

    @property
    def popups(self) -> int:
        """Every Notice emitted so far (for benchmarks and the self-test)."""
        return self.gate.popups
