"""Muted connections: the user silenced one connection's notifications for a while.

What a mute covers
    Every notice whose subject is that connection (``kinds.connection_subject``): needs
    re-authorization, error, connected, disconnected.  The gate asks :meth:`Mutes.covers`
    before anything else it decides, so a muted alert never pops up, never joins a burst
    and is never remembered for a pause's or a catch-up's summary.  Only popups are muted:
    the connection's events are still stored and shown, and its rule state still moves,
    so the window, the tray's count and the next notice stay true.
Muting
    Withdraws the connection's notice if one is on screen and drops any held copy (the
    user has just said they do not want to see it).
When a mute ends (by its time, or "Unmute")
    Nothing is said.  The connection's current problem is not announced again: the user
    muted it knowing it, the window and the tray still show it, and a reminder at the end
    of the hour would be the very noise they silenced.  The next *change* of the
    connection pops up as usual.  Ending needs no timer of its own: the end is one of the
    gate's deadlines (:meth:`Mutes.next_end`), and a covered subject is checked against
    the wall clock each time anyway.
Times
    Aware wall times (``Context.now``), like a pause; a naive one is local time.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from vendo_tray.core.kinds import connection_subject
from vendo_tray.core.state import Mute

log = logging.getLogger(__name__)


class Mutes:
    """The muted connections and when each mute ends."""

    def __init__(self, now: Callable[[], datetime]) -> None:
        self._now = now
        self._mutes: dict[str, Mute] = {}  # by subject

    def mute(self, slug: str, until: datetime | None) -> bool:
        """Mute ``slug`` until ``until`` (None: until unmuted); False (and unmuted) when that is already past."""
        until = until if until is None or until.tzinfo else until.astimezone()
        subject = connection_subject(slug)
        if until is not None and until <= self._now():
            self._mutes.pop(subject, None)
            return False
        self._mutes[subject] = Mute(slug, until)
        log.info("notifications of connection %s muted %s", slug,
                 f"until {until.isoformat(timespec='minutes')}" if until else "until unmuted")
        return True

    def unmute(self, slug: str) -> None:
        if self._mutes.pop(connection_subject(slug), None) is not None:
            log.info("notifications of connection %s unmuted", slug)

    def covers(self, subject: str) -> bool:
        """Is ``subject`` muted right now?"""
        mute = self._mutes.get(subject)
        return mute is not None and not self._ended(mute)

    def expire(self) -> None:
        """Forget the mutes whose time has come (so :meth:`next_end` moves on)."""
        for subject, mute in list(self._mutes.items()):
            if self._ended(mute):
                del self._mutes[subject]
                log.info("mute of connection %s ended", mute.slug)

    def next_end(self) -> datetime | None:
        """When the next mute ends (wall time), or None."""
        return min((m.until for m in self._mutes.values() if m.until is not None), default=None)

    @property
    def active(self) -> tuple[Mute, ...]:
        """The mutes in force now, by slug."""
        return tuple(sorted((m for m in self._mutes.values() if not self._ended(m)), key=lambda m: m.slug))

    def _ended(self, mute: Mute) -> bool:
        return mute.until is not None and self._now() >= mute.until
