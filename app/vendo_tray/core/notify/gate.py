"""The one delivery gate: whether a would-be popup shows now, is held, or joins a summary.

Every rule module hands its alerts to :meth:`Gate.offer` and its healings to
:meth:`Gate.heal`; nothing else raises or withdraws a notice.

Toggles
    A topic switched off raises nothing (its state still moved in the rule module).

Mutes
    A muted connection raises nothing either, until its mute ends (:mod:`.mutes` says
    what a mute covers and why its end announces nothing); muting withdraws its notice.
    "For 1 hour", "For 1 day" and "Until unmuted" are :data:`MUTE_CHOICES`.

Bursts (the exact rule)
    An alert goes out *immediately* unless :data:`IMMEDIATE_PER_WINDOW` (2) popups were
    already raised in the last :data:`BURST_WINDOW` (2 s) or a burst is open.  Otherwise
    it opens (or joins) a burst and is held.  :meth:`Gate.tick` flushes a burst once it
    has *settled* (no new alert for :data:`SETTLE` s) or, in an endless storm, every
    :data:`MAX_HOLD` s.  At a flush, if the held subjects fit in what is left of the
    burst's budget of :data:`BURST_POPUPS` (3) popups, counting the immediate ones, they
    are shown one by one (3 events in 2 s → 3 popups, the third a moment late);
    otherwise — more than 3 within 2 s — ONE summary notice (subject ``"summary"``,
    "5 connections need re-authorization" / "7 alerts", click opens the window) replaces
    them: the immediate popups it covers are withdrawn.  So 10,000 events in one second
    cost 2 immediate popups + 1 summary, however often ``tick`` runs; a storm that never
    settles updates the summary in place at most every :data:`MAX_HOLD` s.

Pause
    While paused (:meth:`Gate.pause` until a wall time), would-be popups are remembered
    per subject instead; when the pause ends (``tick`` or :meth:`Gate.resume`) the ones
    still unhealthy become ONE notice: the notice itself when only one subject was
    missed, else a "While paused: …" summary.  "For 1 hour" and "Until tomorrow" are
    :func:`in_one_hour` and :func:`next_morning`, which the tray menu calls too.

Catch-up
    Between :meth:`Gate.begin_catch_up` (the monitor calls it when a stream resumes, with
    the replay on its way) and its end, alerts are held as while paused, and the end brings
    ONE notice about what is still unhealthy ("While Vendo Tray was away: …"); what broke
    and healed meanwhile says nothing.  It ends at the first live event (the monitor calls
    :meth:`Gate.end_catch_up`) or, when none comes, :data:`CATCH_UP_SECONDS` after it began
    (``tick``): a replay arrives at once.

Sound
    ``Notice.sound`` is True only for urgencies listed in ``PolicyPrefs.sounds``.
"""

from __future__ import annotations

import logging
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from datetime import time as wall_time

from vendo_tray.core.kinds import connection_subject
from vendo_tray.core.notices import Action, ActionKind, Notice, Topic, Urgency, Withdraw
from vendo_tray.core.notify.context import MAX_SUBJECTS, Context
from vendo_tray.core.notify.mutes import Mutes
from vendo_tray.core.notify.text import Alert, notice

log = logging.getLogger(__name__)

#: Popups allowed at once within BURST_WINDOW before alerts are held.
IMMEDIATE_PER_WINDOW = 2
BURST_WINDOW = 2.0
#: Most popups one burst may cost, the immediate ones included.
BURST_POPUPS = 3
#: A burst is flushed once no alert joined it for this long ...
SETTLE = 1.0
#: ... or, while it never settles, this often.
MAX_HOLD = 5.0
#: Subjects a burst or a pause keeps in detail; beyond, they are only counted.
MAX_HELD = 1000
#: Names a summary lists before "and N more".
SUMMARY_NAMES = 4
SUMMARY_SUBJECT = "summary"
#: A catch-up with no live event to end it ends this long after it began (the replay comes at once).
CATCH_UP_SECONDS = 3.0
#: "Until tomorrow" ends at this local hour.
MORNING_HOUR = 8

_URGENCY_RANK = {Urgency.LOW: 0, Urgency.NORMAL: 1, Urgency.CRITICAL: 2}

Out = list[Notice | Withdraw]


def in_one_hour(now: datetime) -> datetime:
    """When a one-hour pause started at ``now`` ends."""
    return now + timedelta(hours=1)


def in_one_day(now: datetime) -> datetime:
    """When a one-day mute started at ``now`` ends (24 hours later)."""
    return now + timedelta(days=1)


def until_unmuted(_now: datetime) -> None:
    """A mute that lasts until the user unmutes it."""
    return None


#: The window's mute menu: each choice's words beside the rule that says when it ends.
MUTE_CHOICES: tuple[tuple[str, Callable[[datetime], datetime | None]], ...] = (
    ("For 1 hour", in_one_hour),
    ("For 1 day", in_one_day),
    ("Until unmuted", until_unmuted),
)


def next_morning(now: datetime, hour: int = MORNING_HOUR) -> datetime:
    """When "until tomorrow" ends: tomorrow at ``hour`` local time.

    Before 04:00 "tomorrow" means the coming morning (a pause set at 1 am
    ends at 8 am the same day, not 31 hours later).  The result keeps
    ``now``'s tzinfo; on a night with a DST change it may be an hour off,
    which is harmless for a pause.
    """
    day = now.date() if now.hour < 4 else now.date() + timedelta(days=1)
    return datetime.combine(day, wall_time(hour), tzinfo=now.tzinfo)


class Held:
    """Alerts kept per subject (latest wins), bounded; the rest only counted."""

    def __init__(self) -> None:
        self.items: OrderedDict[str, Alert] = OrderedDict()
        self.overflow = 0
        self.overflow_topics: set[Topic] = set()

    def add(self, alert: Alert) -> bool:
        """Keep ``alert``; False when it was only counted."""
        if alert.subject in self.items or len(self.items) < MAX_HELD:
            self.items[alert.subject] = alert
            self.items.move_to_end(alert.subject)
            return True
        self.overflow += 1
        self.overflow_topics.add(alert.topic)
        return False

    def discard(self, subject: str) -> None:
        self.items.pop(subject, None)

    def replace(self, alert: Alert) -> None:
        """Swap in a better version of an alert already kept (no-op otherwise)."""
        if alert.subject in self.items:
            self.items[alert.subject] = alert

    def __bool__(self) -> bool:
        return bool(self.items) or self.overflow > 0


@dataclass(slots=True)
class Burst:
    since: float                   # opened, or last flushed
    last_at: float                 # last alert that joined
    popups: int                    # popups this burst has cost (immediate ones included)
    held: Held = field(default_factory=Held)         # every subject of the burst
    fresh: set[str] = field(default_factory=set)    # subjects not shown since they joined
    dirty: bool = False            # anything (even only counted) joined since the last flush
    summarized: bool = False


class Gate:
    """Decides when the alerts of every rule module reach the screen."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self._shown: OrderedDict[str, Notice] = OrderedDict()
        self._recent: deque[tuple[float, Alert]] = deque()
        self._burst: Burst | None = None
        self._paused_until: datetime | None = None
        self._missed = Held()
        self._catching_up = False
        self._catch_up_until: float | None = None
        self.mutes = Mutes(ctx.now)
        #: Every Notice emitted so far (for benchmarks and the self-test).
        self.popups = 0

    # ------------------------------------------------------------ what rules call
    def offer(self, alert: Alert) -> Out:
        """Toggles, mutes, pause, then the burst rule decide whether ``alert`` pops up now."""
        if not self.ctx.wants(alert.topic):
            log.debug("%s not shown: %s notifications are off", alert.subject, alert.topic)
            return []
        if self.mutes.covers(alert.subject):
            log.debug("%s not shown: muted", alert.subject)
            return []
        out = self.expire_pause()
        if self._paused_until is not None or self._catching_up:
            self._missed.add(alert)
            log.debug("%s not shown: %s", alert.subject, "catching up" if self._catching_up else "paused")
            return out
        t = self.ctx.clock()
        while self._recent and t - self._recent[0][0] >= BURST_WINDOW:
            self._recent.popleft()
        if self._burst is None and len(self._recent) < IMMEDIATE_PER_WINDOW:
            return out + self._show(alert, t)
        if self._burst is None:
            self._burst = Burst(since=t, last_at=t, popups=len(self._recent))
            for _, shown in self._recent:
                if shown.subject != SUMMARY_SUBJECT and shown.subject in self._shown:
                    self._burst.held.add(shown)
            log.info("notification burst: holding events for one summary")
        burst = self._burst
        burst.last_at = t
        burst.dirty = True
        if burst.held.add(alert):
            burst.fresh.add(alert.subject)
        return out

    def heal(self, subject: str) -> Out:
        """``subject`` is healthy again: forget held popups, withdraw a visible one."""
        self._missed.discard(subject)
        if self._burst is not None:
            self._burst.held.discard(subject)
            self._burst.fresh.discard(subject)
        if self._shown.pop(subject, None) is not None:
            return [Withdraw(subject)]
        return []

    def withdraw_all(self) -> Out:
        """Withdraw every notice on screen (its app is no longer watched), each as :meth:`heal` does."""
        return [item for subject in tuple(self._shown) for item in self.heal(subject)]

    def improve(self, alert: Alert) -> Out:
        """A better version of an alert (a reason found later): update it wherever it is, in place."""
        out: Out = []
        if alert.subject in self._shown:
            self._shown[alert.subject] = alert.notice
            self.popups += 1
            out.append(alert.notice)
        self._missed.replace(alert)
        if self._burst is not None:
            self._burst.held.replace(alert)
        return out

    # ------------------------------------------------------------ timers
    def tick(self, t: float) -> Out:
        """Flush a burst that settled or was held too long."""
        return self._flush(t)

    def end_catch_up_if_due(self, t: float) -> Out:
        """End a catch-up that no live event ended within :data:`CATCH_UP_SECONDS`."""
        if self._catch_up_until is not None and t >= self._catch_up_until:
            return self.end_catch_up()
        return []

    def next_deadline(self) -> float | None:
        """When :meth:`tick`, :meth:`expire_pause` or ``mutes.expire`` next has work (on the clock), or None.

        A pause and a mute end at a wall time: a clock change can move it, which is why
        whoever sleeps until this deadline also looks again now and then.
        """
        due: list[float] = []
        if self._catch_up_until is not None:
            due.append(self._catch_up_until)
        if self._burst is not None:
            due.append(min(self._burst.last_at + SETTLE, self._burst.since + MAX_HOLD))
        for wall in (self._paused_until, self.mutes.next_end()):
            if wall is not None:
                left = (wall - self.ctx.now()).total_seconds()
                due.append(self.ctx.clock() + max(left, 0.0))
        return min(due, default=None)

    def expire_pause(self) -> Out:
        if self._paused_until is not None and self.ctx.now() >= self._paused_until:
            return self.resume()
        return []

    # ------------------------------------------------------------ mutes
    def mute(self, slug: str, until: datetime | None) -> Out:
        """Mute connection ``slug`` (see :mod:`.mutes`): its notice, if on screen, is withdrawn."""
        if not self.mutes.mute(slug, until):
            return []
        return self.heal(connection_subject(slug))  # forget held copies, withdraw the visible one

    def unmute(self, slug: str) -> None:
        """End the mute now; nothing is announced again (see :mod:`.mutes`)."""
        self.mutes.unmute(slug)

    # ------------------------------------------------------------ pause and catch-up
    def pause(self, until: datetime) -> Out:
        """Mute popups until ``until`` (naive means local time); a time already past resumes."""
        until = until if until.tzinfo else until.astimezone()
        if until <= self.ctx.now():
            log.info("pause end %s is already past; not pausing", until.isoformat(timespec="minutes"))
            return self.resume()
        log.info("notifications paused until %s", until.isoformat(timespec="minutes"))
        self._paused_until = until
        return []

    def resume(self) -> Out:
        """End the pause now: one notice about what was missed, if anything still matters."""
        if self._paused_until is None:
            return []
        self._paused_until = None
        log.info("notifications resumed")
        if self._catching_up:
            return []  # the catch-up's own summary will include what the pause held
        return self._deliver_missed("While paused")

    @property
    def paused_until(self) -> datetime | None:
        return self._paused_until

    def begin_catch_up(self) -> None:
        """Alerts now arriving are about what happened while we were away (see the module doc)."""
        self._catching_up = True
        self._catch_up_until = self.ctx.clock() + CATCH_UP_SECONDS

    def end_catch_up(self) -> Out:
        """The replay is over: one notice about what is still unhealthy (unless paused)."""
        if not self._catching_up:
            return []
        self._catching_up = False
        self._catch_up_until = None
        if self._paused_until is not None:
            return []  # the pause's summary will carry it
        return self._deliver_missed("While Vendo Tray was away")

    @property
    def catching_up(self) -> bool:
        return self._catching_up

    # ------------------------------------------------------------ what is on screen
    def dismissed(self, subject: str) -> None:
        """The user closed the popup for ``subject``: nothing to withdraw later."""
        self._shown.pop(subject, None)

    @property
    def shown(self) -> tuple[str, ...]:
        """Subjects whose notice we believe is visible."""
        return tuple(self._shown)

    def is_shown(self, subject: str) -> bool:
        return subject in self._shown

    # ------------------------------------------------------------ inside
    def _deliver_missed(self, prefix: str) -> Out:
        missed, self._missed = self._missed, Held()
        if not missed:
            return []
        t = self.ctx.clock()
        alerts = list(missed.items.values())
        if len(alerts) == 1 and not missed.overflow:
            return self._show(alerts[0], t)
        return self._show_summary(alerts, missed.overflow, missed.overflow_topics, t, prefix=prefix)

    def _flush(self, t: float) -> Out:
        burst = self._burst
        if burst is None:
            return []
        settled = t - burst.last_at >= SETTLE
        if not settled and t - burst.since < MAX_HOLD:
            return []
        out: Out = []
        if self._paused_until is not None or self._catching_up:
            # Paused while the burst was held: what it never showed belongs to the pause summary.
            for subject in burst.fresh:
                if subject in burst.held.items:
                    self._missed.add(burst.held.items[subject])
            self._burst = None
            return out
        if burst.dirty:
            fresh = [burst.held.items[s] for s in burst.fresh if s in burst.held.items]
            if (not burst.summarized and not burst.held.overflow
                    and len(fresh) <= BURST_POPUPS - burst.popups):
                for alert in fresh:
                    out += self._show(alert, t)
                burst.popups += len(fresh)
            else:
                alerts = list(burst.held.items.values())
                for alert in alerts:
                    if alert.subject in self._shown:
                        del self._shown[alert.subject]
                        out.append(Withdraw(alert.subject))
                out += self._show_summary(alerts, burst.held.overflow, burst.held.overflow_topics, t)
                burst.popups += 1
                burst.summarized = True
            burst.fresh.clear()
            burst.dirty = False
        if settled:
            self._burst = None
        else:
            burst.since = t
        return out

    def _show(self, alert: Alert, t: float) -> Out:
        shown = replace(alert.notice, sound=self.ctx.prefs.sound_for(alert.notice.urgency))
        self._shown[shown.subject] = shown
        self._shown.move_to_end(shown.subject)
        while len(self._shown) > MAX_SUBJECTS:
            self._shown.popitem(last=False)
        self._recent.append((t, alert))
        self.popups += 1
        return [shown]

    def _show_summary(self, alerts: list[Alert], overflow: int, overflow_topics: Iterable[Topic], t: float,
                      *, prefix: str | None = None) -> Out:
        count = len(alerts) + overflow
        topics = {a.topic for a in alerts} | set(overflow_topics)
        if topics == {Topic.NEEDS_REAUTH}:
            what = f"{count} connections need re-authorization"
        elif topics <= {Topic.NEEDS_REAUTH, Topic.ERROR}:
            what = f"{count} connections need attention"
        else:
            what = f"{count} alerts"
        names = [a.name for a in alerts[:SUMMARY_NAMES]]
        more = count - len(names)
        listed = ", ".join(names) + (f" and {more} more" if more > 0 else "")
        urgency = max((a.notice.urgency for a in alerts), key=_URGENCY_RANK.__getitem__, default=Urgency.NORMAL)
        open_window = Action("Open Vendo Tray", ActionKind.OPEN_WINDOW)
        summary = notice(SUMMARY_SUBJECT, f"{prefix}: {what}" if prefix else what,
                         f"{listed}. Open Vendo Tray to see them all.", urgency,
                         default=open_window, buttons=(open_window,))
        log.info("summary notice: %s", what)
        return self._show(Alert(Topic.SUMMARY, summary, "summary"), t)
