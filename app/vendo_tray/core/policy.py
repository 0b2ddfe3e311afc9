"""What deserves a notification, and when: the one place that decides.

Pure and Qt-free.  Time is injected (``clock``: monotonic seconds for
windows and timers; ``now``: aware wall time for "pause until"), so every
rule below is tested without waiting.  The policy never drops *state*: muted,
paused or coalesced events still move the per-subject state machines, so what
the tray shows stays true; it only decides which popups to raise.

Rules
-----
Same event once
    An event whose ``key`` (``data.id``, else the SSE id) was seen among the
    last :data:`SEEN_KEYS` keys is ignored: the live server's legacy alias
    block and a replay after reconnect carry the same id.  Events without a
    key are not deduplicated by key, only by state (next rule).

One live notification per subject
    A subject is a connection, the balance, a spend-cap window or the stream.
    Each subject remembers its last state; a repeat of the same state raises
    nothing (``status_changed`` + alias without ids, a seed ``needs_reauth``
    sent twice).  A new bad state is a notice with the same subject, which the
    notifier shows *in place of* the old one.  A return to healthy
    (connection → connected, balance back at or above the threshold, stream
    live) emits :class:`Withdraw` when a notice for that subject is showing.

What is notified (topic → :class:`PolicyPrefs` toggle)
    needs_reauth: ``connection.needs_reauth`` or a status of needs_reauth;
    "Re-authorize" opens :meth:`Links.reauthorize`.  error: ``connection.error``
    or a status of error; the message from the event, else the snapshot's
    ``error_message`` (when neither has one yet, :meth:`on_snapshot` updates
    the notice in place once REST knows); "Details" opens the window at the
    event.
    balance: three levels, OK / LOW (below ``low_balance_micros``, or the
    seed's ``balance_low``) / EXHAUSTED (0, or ``balance_exhausted``,
    critical).  Only a move to a *worse* level notifies, so a balance sliding
    from $0.40 to $0.10 says "low" once; going back to OK re-arms it.
    caps: ``cap_warned`` / ``cap_tripped`` (critical), once per window, kind,
    percentage and period (day or month).  stream: offline for more than
    :data:`OFFLINE_AFTER` seconds (once per outage), key rejected (once, until
    the stream is live again; opens Settings).  connected / disconnected: only
    when enabled (off by default).  Usage, deployment.updated, "changed",
    other statuses and unknown kinds are never notified.

Quiet start
    For :data:`QUIET_SECONDS` after construction and after :meth:`on_wake`,
    "disconnected" and "offline" raise nothing (reconnecting is expected).
    Wake also restarts the offline timer: sleep is not an outage.

Bursts (the exact rule)
    A notifiable event goes out *immediately* unless
    :data:`IMMEDIATE_PER_WINDOW` (2) popups were already raised in the last
    :data:`BURST_WINDOW` (2 s) or a burst is open.  Otherwise it opens (or
    joins) a burst and is held.  :meth:`tick` flushes a burst once it has
    *settled* (no new event for :data:`SETTLE` s) or, in an endless storm,
    every :data:`MAX_HOLD` s.  At a flush, if the held subjects fit in what is
    left of the burst's budget of :data:`BURST_POPUPS` (3) popups, counting the
    immediate ones, they are shown one by one (3 events in 2 s → 3 popups, the
    third a moment late); otherwise — more than 3 within 2 s — ONE summary
    notice (subject ``"summary"``, "5 connections need re-authorization" /
    "7 alerts", click opens the window) replaces them: the immediate popups it
    covers are withdrawn.  So 10,000 events in one second cost 2 immediate
    popups + 1 summary, however often :meth:`tick` runs; a storm that never
    settles updates the summary in place at most every :data:`MAX_HOLD` s.

Pause and toggles
    A topic switched off raises nothing (its state still moves).  While paused
    (:meth:`pause` until a wall time), would-be popups are remembered per
    subject instead; when the pause ends (:meth:`tick` or :meth:`resume`) the
    ones still unhealthy become ONE notice: the notice itself when only one
    subject was missed, else a "While paused: …" summary.

Catch-up
    Between :meth:`begin_catch_up` and :meth:`end_catch_up` (the monitor
    brackets the replay after a restart or a gap) events move state as while
    paused, and the end brings ONE notice about what is still unhealthy
    ("While Vendo Tray was away: …"); what broke and healed meanwhile says nothing.

Text
    Titles and bodies are plain text: control and format characters (bidi
    overrides, zero-width) dropped, whitespace collapsed, capped at
    :data:`TITLE_MAX` / :data:`BODY_MAX` characters.  They are deliberately
    NOT markup-escaped here: ``ui.notifier`` escapes for the back ends that
    parse markup, and escaping twice would show "&amp;lt;" on the others.

Sound
    ``Notice.sound`` is True only for urgencies listed in ``PolicyPrefs.sounds``
    (empty by default).
"""

from __future__ import annotations

import logging
import time
import unicodedata
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from datetime import time as wall_time
from enum import IntEnum
from typing import Any

from vendo_tray.core.kinds import Kind, RecentKeys, VendoEvent, format_micros
from vendo_tray.core.links import Links
from vendo_tray.core.notices import Action, ActionKind, Notice, Urgency, Withdraw
from vendo_tray.core.settings import DEFAULT_NOTIFY
from vendo_tray.core.state import Phase, Snapshot

log = logging.getLogger(__name__)

#: Popups allowed at once within BURST_WINDOW before events are held.
IMMEDIATE_PER_WINDOW = 2
BURST_WINDOW = 2.0
#: Most popups one burst may cost, the immediate ones included.
BURST_POPUPS = 3
#: A burst is flushed once no event joined it for this long ...
SETTLE = 1.0
#: ... or, while it never settles, this often.
MAX_HOLD = 5.0
QUIET_SECONDS = 15.0
OFFLINE_AFTER = 60.0
SEEN_KEYS = 4096
#: Subjects whose state (or visible notice) we remember; a hostile stream of
#: unique slugs must not grow memory without bound.
MAX_SUBJECTS = 4096
#: Subjects a burst or a pause keeps in detail; beyond, they are only counted.
MAX_HELD = 1000
TITLE_MAX = 80
BODY_MAX = 300
NAME_MAX = 40
#: Names a summary lists before "and N more".
SUMMARY_NAMES = 4
SUMMARY_SUBJECT = "summary"
STREAM_SUBJECT = "stream"
BALANCE_SUBJECT = "balance"
#: "Until tomorrow" ends at this local hour.
MORNING_HOUR = 8



@dataclass(frozen=True)
class PolicyPrefs:
    """The user's choices the policy honours (built from core.settings)."""

    low_balance_micros: int = 500_000
    #: topic → on/off; a missing topic takes its DEFAULT_NOTIFY value.
    notify: Mapping[str, bool] = field(default_factory=lambda: dict(DEFAULT_NOTIFY))
    #: Urgencies ("low", "normal", "critical") whose notices play a sound.
    sounds: frozenset[str] = frozenset()

    def wants(self, topic: str) -> bool:
        return bool(self.notify.get(topic, DEFAULT_NOTIFY.get(topic, True)))

    def sound_for(self, urgency: Urgency) -> bool:
        return str(urgency) in self.sounds


class _Level(IntEnum):
    OK = 0
    LOW = 1
    EXHAUSTED = 2


_URGENCY_RANK = {Urgency.LOW: 0, Urgency.NORMAL: 1, Urgency.CRITICAL: 2}


@dataclass(slots=True)
class _Alert:
    """A would-be popup with what the summaries need to describe it."""

    topic: str
    notice: Notice
    name: str

    @property
    def subject(self) -> str:
        return self.notice.subject


class _Held:
    """Alerts kept per subject (latest wins), bounded; the rest only counted."""

    def __init__(self) -> None:
        self.items: OrderedDict[str, _Alert] = OrderedDict()
        self.overflow = 0
        self.overflow_topics: set[str] = set()

    def add(self, alert: _Alert) -> bool:
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

    def replace(self, alert: _Alert) -> None:
        """Swap in a better version of an alert already kept (no-op otherwise)."""
        if alert.subject in self.items:
            self.items[alert.subject] = alert

    def __bool__(self) -> bool:
        return bool(self.items) or self.overflow > 0


@dataclass(slots=True)
class _Burst:
    since: float                   # opened, or last flushed
    last_at: float                 # last event that joined
    popups: int                    # popups this burst has cost (immediate ones included)
    held: _Held = field(default_factory=_Held)       # every subject of the burst
    fresh: set[str] = field(default_factory=set)    # subjects not shown since they joined
    dirty: bool = False            # anything (even only counted) joined since the last flush
    summarized: bool = False


def local_now() -> datetime:
    """Aware local wall time: what "until tomorrow" and "for an hour" count from."""
    return datetime.now().astimezone()


def in_one_hour(now: datetime) -> datetime:
    """When a one-hour pause started at ``now`` ends."""
    return now + timedelta(hours=1)


def next_morning(now: datetime, hour: int = MORNING_HOUR) -> datetime:
    """When "until tomorrow" ends: tomorrow at ``hour`` local time.

    Before 04:00 "tomorrow" means the coming morning (a pause set at 1 am
    ends at 8 am the same day, not 31 hours later).  The result keeps
    ``now``'s tzinfo; on a night with a DST change it may be an hour off,
    which is harmless for a pause.
    """
    day = now.date() if now.hour < 4 else now.date() + timedelta(days=1)
    return datetime.combine(day, wall_time(hour), tzinfo=now.tzinfo)


class Policy:
    """Turns normalized events and stream phases into notices and withdrawals.

    Call :meth:`on_event` for every recorded event, :meth:`on_stream` on every
    phase change, :meth:`tick` about once a second and :meth:`on_wake` after
    sleep; each returns what to show or withdraw, in order.
    """

    def __init__(self, prefs: PolicyPrefs, links: Links, clock: Callable[[], float] = time.monotonic,
                 now: Callable[[], datetime] = local_now) -> None:
        self.prefs = prefs
        self.links = links
        self._clock = clock
        self._now = now
        self._seen = RecentKeys(SEEN_KEYS)
        self._states: OrderedDict[str, Any] = OrderedDict()
        self._shown: OrderedDict[str, Notice] = OrderedDict()
        self._balance: _Level | None = None
        self._recent: deque[tuple[float, _Alert]] = deque()
        self._burst: _Burst | None = None
        self._paused_until: datetime | None = None
        self._missed = _Held()
        self._catching_up = False
        self._quiet_until = clock() + QUIET_SECONDS
        self._offline_since: float | None = None
        self._offline_detail: str | None = None
        self._offline_told = False
        self._key_told = False
        #: Error notices raised without a message (the live wire's status_changed carries
        #: none): subject -> the event, until a REST snapshot supplies error_message.
        self._awaiting_detail: OrderedDict[str, VendoEvent] = OrderedDict()
        #: Every Notice emitted so far (for benchmarks and the self-test).
        self.popups = 0

    # ================================================================ inputs
    def on_event(self, event: VendoEvent, snapshot: Snapshot | None = None) -> list[Notice | Withdraw]:
        """Decide on one recorded event.  Never raises."""
        try:
            if self._seen.seen(event.key):
                log.debug("event %s (%s) already seen: not notified again", event.key, event.wire_kind)
                return []
            return self._decide(event, snapshot)
        except Exception:  # a policy bug must cost one popup, not the stream
            log.exception("policy failed on a %s event", event.wire_kind)
            return []

    def on_stream(self, phase: Phase, detail: str | None = None) -> list[Notice | Withdraw]:
        """The subscription's phase changed."""
        t = self._clock()
        if phase is Phase.LIVE:
            self._offline_since = None
            self._offline_detail = None
            self._offline_told = False
            self._key_told = False
            return self._heal(STREAM_SUBJECT)
        if phase is Phase.KEY_REJECTED:
            self._offline_since = None  # the key is the problem, not the network
            if self._key_told:
                return []
            self._key_told = True
            return self._offer(self._key_rejected_alert(detail))
        if phase is Phase.KEY_MISSING:
            self._offline_since = None
            self._key_told = False
            return []
        # CONNECTING, RECONNECTING, OFFLINE: not live; the clock runs from the first of them.
        if self._offline_since is None:
            self._offline_since = t
        if detail:
            self._offline_detail = detail
        return self._check_offline(t)

    def on_wake(self) -> None:
        """After sleep: quiet again, and the offline timer restarts (sleep is not an outage)."""
        t = self._clock()
        self._quiet_until = t + QUIET_SECONDS
        if self._offline_since is not None:
            self._offline_since = t

    def on_snapshot(self, snapshot: Snapshot) -> list[Notice | Withdraw]:
        """A fresh REST snapshot: complete error notices the stream sent without a message.

        The live wire says only ``status: error``; the reason arrives with the
        next connections list (about a second later).  A notice still on
        screen is updated in place (same subject, no sound); one still held by
        a burst or a pause gets the message before it is ever shown.
        """
        out: list[Notice | Withdraw] = []
        for subject, event in list(self._awaiting_detail.items()):
            conn = snapshot.connection(event.slug)
            if conn is None:
                continue
            message = _snapshot_error(event, snapshot)
            if conn.status != "error" or not message:
                # A list fetched before the event, or the stream's own update of the snapshot:
                # neither knows the reason yet. Healing arrives as an event and ends the wait.
                continue
            del self._awaiting_detail[subject]
            if self._states.get(subject) != ("error", None):
                continue  # a newer state already replaced it
            self._states[subject] = ("error", message)
            alert = self._error_alert(event, _display_name(event, snapshot), message)
            if subject in self._shown:
                self._shown[subject] = alert.notice
                self.popups += 1
                out.append(alert.notice)
            self._missed.replace(alert)
            if self._burst is not None:
                self._burst.held.replace(alert)
        return out

    def tick(self) -> list[Notice | Withdraw]:
        """Timers: the end of a pause, the offline threshold, burst flushes."""
        t = self._clock()
        return self._expire_pause() + self._check_offline(t) + self._flush(t)

    def pause(self, until: datetime) -> list[Notice | Withdraw]:
        """Mute popups until ``until`` (naive means local time); a time already past resumes."""
        until = until if until.tzinfo else until.astimezone()
        if until <= self._now():
            log.info("pause end %s is already past; not pausing", until.isoformat(timespec="minutes"))
            return self.resume()
        log.info("notifications paused until %s", until.isoformat(timespec="minutes"))
        self._paused_until = until
        return []

    def pause_for(self, duration: timedelta) -> list[Notice | Withdraw]:
        return self.pause(self._now() + duration)

    def pause_until_morning(self, hour: int = MORNING_HOUR) -> list[Notice | Withdraw]:
        return self.pause(next_morning(self._now(), hour))

    def resume(self) -> list[Notice | Withdraw]:
        """End the pause now: one notice about what was missed, if anything still matters."""
        if self._paused_until is None:
            return []
        self._paused_until = None
        log.info("notifications resumed")
        if self._catching_up:
            return []  # the catch-up's own summary will include what the pause held
        return self._deliver_missed("While paused")

    def begin_catch_up(self) -> None:
        """Events now arriving happened while we were away (a replay after a restart or gap).

        Like a pause: they move state but raise no popups; :meth:`end_catch_up`
        then says in ONE notice what still matters, so a restart after a night
        away does not replay the night popup by popup, and a connection that
        broke and healed while we were gone raises nothing.
        """
        self._catching_up = True

    def end_catch_up(self) -> list[Notice | Withdraw]:
        """The replay is over: one notice about what is still unhealthy (unless paused)."""
        if not self._catching_up:
            return []
        self._catching_up = False
        if self._paused_until is not None:
            return []  # the pause's summary will carry it
        return self._deliver_missed("While Vendo Tray was away")

    @property
    def catching_up(self) -> bool:
        return self._catching_up

    def _deliver_missed(self, prefix: str) -> list[Notice | Withdraw]:
        missed, self._missed = self._missed, _Held()
        if not missed:
            return []
        t = self._clock()
        alerts = list(missed.items.values())
        if len(alerts) == 1 and not missed.overflow:
            return self._show(alerts[0], t)
        return self._show_summary(alerts, missed.overflow, missed.overflow_topics, t, prefix=prefix)

    @property
    def paused_until(self) -> datetime | None:
        return self._paused_until

    def update_prefs(self, prefs: PolicyPrefs) -> None:
        """New settings apply to the next decision (a new threshold at the next balance event)."""
        self.prefs = prefs

    def dismissed(self, subject: str) -> None:
        """The user closed the popup for ``subject``: nothing to withdraw later."""
        self._shown.pop(subject, None)

    @property
    def shown(self) -> tuple[str, ...]:
        """Subjects whose notice we believe is visible."""
        return tuple(self._shown)

    # ============================================================ decisions
    def _decide(self, event: VendoEvent, snapshot: Snapshot | None) -> list[Notice | Withdraw]:
        kind = event.kind
        if kind in (Kind.NEEDS_REAUTH, Kind.ERROR, Kind.CONNECTED, Kind.DISCONNECTED, Kind.STATUS):
            return self._connection(event, snapshot)
        if kind in (Kind.BALANCE, Kind.BALANCE_LOW, Kind.BALANCE_EXHAUSTED):
            return self._balance_event(event, snapshot)
        if kind in (Kind.CAP_WARNED, Kind.CAP_TRIPPED):
            return self._cap(event)
        return []  # usage, changed, deployment.updated, stream.error, unknown: history only

    def _connection(self, event: VendoEvent, snapshot: Snapshot | None) -> list[Notice | Withdraw]:
        subject = event.subject
        name = _display_name(event, snapshot)
        kind = event.kind
        if kind is Kind.NEEDS_REAUTH:
            state: tuple[Any, ...] = ("needs_reauth",)
        elif kind is Kind.ERROR:
            state = ("error", event.message or _snapshot_error(event, snapshot))
        elif kind is Kind.CONNECTED:
            state = ("connected",)
        elif kind is Kind.DISCONNECTED:
            state = ("disconnected",)
        else:
            state = ("status", event.status)
        if not self._transition(subject, state):
            log.debug("%s: still %s, nothing new to say", subject, state[0])
            return []
        self._awaiting_detail.pop(subject, None)
        if kind is Kind.ERROR and state[1] is None and event.slug:
            self._awaiting_detail[subject] = event
            while len(self._awaiting_detail) > MAX_HELD:
                self._awaiting_detail.popitem(last=False)
        if kind is Kind.NEEDS_REAUTH:
            return self._offer(self._reauth_alert(event, name))
        if kind is Kind.ERROR:
            return self._offer(self._error_alert(event, name, state[1]))
        if kind is Kind.CONNECTED:
            out = self._heal(subject)
            if self.prefs.wants("connected"):
                out += self._offer(_Alert("connected", self._notice(
                    subject, f"{name} connected", f"{name} is connected and working.",
                    Urgency.LOW, default=Action("Open", ActionKind.OPEN_WINDOW, event_key=event.key),
                    event_key=event.key), name))
            return out
        if kind is Kind.DISCONNECTED:
            if self._quiet():
                log.debug("%s disconnected during the quiet period: no popup", subject)
                return []
            return self._offer(_Alert("disconnected", self._notice(
                subject, f"{name} disconnected", f"{name} was disconnected from your Vendo app.",
                Urgency.NORMAL, default=Action("Open", ActionKind.OPEN_WINDOW, event_key=event.key),
                event_key=event.key), name))
        return []  # available / pending_setup / revoked: shown in the window, not popped up

    def _balance_event(self, event: VendoEvent, snapshot: Snapshot | None) -> list[Notice | Withdraw]:
        level = self._level(event)
        if level is None:
            return []
        previous, self._balance = self._balance, level
        if level is _Level.OK:
            return self._heal(BALANCE_SUBJECT) if previous not in (None, _Level.OK) else []
        if previous is not None and level <= previous:
            if level < previous and BALANCE_SUBJECT in self._shown:
                # Exhausted → low after a small top-up: correct the visible notice in place.
                return self._offer(self._balance_alert(level, event, snapshot))
            return []
        return self._offer(self._balance_alert(level, event, snapshot))

    def _level(self, event: VendoEvent) -> _Level | None:
        remaining = event.remaining_micros
        if event.kind is Kind.BALANCE_EXHAUSTED:
            return _Level.EXHAUSTED
        if event.kind is Kind.BALANCE_LOW:  # the server judged it low by its own threshold
            return _Level.EXHAUSTED if remaining is not None and remaining <= 0 else _Level.LOW
        if remaining is None:
            return None
        if remaining <= 0:
            return _Level.EXHAUSTED
        return _Level.LOW if remaining < self.prefs.low_balance_micros else _Level.OK

    def _cap(self, event: VendoEvent) -> list[Notice | Withdraw]:
        window = event.window or "spend"
        when = event.when
        period: Any = when.date() if window == "daily" else (when.year, when.month) if window == "monthly" else None
        if not self._transition(event.subject, (event.kind.value, event.pct, period)):
            return []
        title_window = window.capitalize()
        if event.kind is Kind.CAP_WARNED:
            pct = f"{event.pct:g}%" if event.pct is not None else "near its limit"
            notice = self._notice(
                event.subject, f"{title_window} spend cap at {pct}",
                f"Spending has reached {pct} of the {window} cap.", Urgency.NORMAL,
                default=Action("Details", ActionKind.OPEN_WINDOW, event_key=event.key),
                buttons=(Action("Details", ActionKind.OPEN_WINDOW, event_key=event.key),),
                event_key=event.key)
        else:
            dashboard = _url_action("Open dashboard", self.links.dashboard(), event.key)
            notice = self._notice(
                event.subject, f"{title_window} spend cap reached",
                f"Vendo refuses paid calls until the {window} cap resets or you raise it.", Urgency.CRITICAL,
                default=Action("Details", ActionKind.OPEN_WINDOW, event_key=event.key),
                buttons=(dashboard,), event_key=event.key)
        return self._offer(_Alert("caps", notice, f"{title_window} cap"))

    def _check_offline(self, t: float) -> list[Notice | Withdraw]:
        if self._offline_since is None or self._offline_told or self._quiet(t):
            return []
        if t - self._offline_since <= OFFLINE_AFTER:
            return []
        self._offline_told = True
        reason = f" ({self._offline_detail})" if self._offline_detail else ""
        return self._offer(_Alert("stream", self._notice(
            STREAM_SUBJECT, "Vendo Tray is offline",
            f"No connection to Vendo for over a minute{reason}. Still retrying; "
            "notifications resume when it is back.", Urgency.NORMAL,
            default=Action("Open", ActionKind.OPEN_WINDOW)), "Vendo connection"))

    # ============================================================ alerts
    def _reauth_alert(self, event: VendoEvent, name: str) -> _Alert:
        connect_url = event.data.get("connect_url") if isinstance(event.data, dict) else None
        url = self.links.reauthorize(event.slug, event.connection_id,
                                     connect_url if isinstance(connect_url, str) else None)
        action = _url_action("Re-authorize", url, event.key)
        return _Alert("needs_reauth", self._notice(
            event.subject, f"{name} needs re-authorization",
            f"Your app can no longer use {name} until you re-authorize it.", Urgency.NORMAL,
            default=action, buttons=(action,), event_key=event.key), name)

    def _error_alert(self, event: VendoEvent, name: str, message: str | None) -> _Alert:
        details = Action("Details", ActionKind.OPEN_WINDOW, event_key=event.key)
        return _Alert("error", self._notice(
            event.subject, f"{name}: connection error", message or f"{name} is in an error state.",
            Urgency.NORMAL, default=details, buttons=(details,), event_key=event.key), name)

    def _balance_alert(self, level: _Level, event: VendoEvent, snapshot: Snapshot | None) -> _Alert:
        balance = snapshot.balance if snapshot is not None else None
        top_up = _url_action("Top up", self.links.top_up(balance.top_up_url if balance else None), event.key)
        remaining = event.remaining_micros
        if level is _Level.EXHAUSTED:
            title, urgency = "Vendo balance exhausted", Urgency.CRITICAL
            body = "No credits left: calls that need credits fail until you top up."
        else:
            title, urgency = "Vendo balance low", Urgency.NORMAL
            if remaining is not None:
                body = (f"{format_micros(remaining)} left, below your "
                        f"{format_micros(self.prefs.low_balance_micros)} alert level.")
            else:
                body = "Your Vendo credits are running low."
        return _Alert("balance", self._notice(BALANCE_SUBJECT, title, body, urgency, default=top_up,
                                              buttons=(top_up,), event_key=event.key), "Balance")

    def _key_rejected_alert(self, detail: str | None) -> _Alert:
        settings = Action("Settings", ActionKind.OPEN_SETTINGS)
        return _Alert("stream", self._notice(
            STREAM_SUBJECT, "Vendo rejected the API key",
            f"{detail}. Enter a valid key in Settings." if detail else "Enter a valid key in Settings.",
            Urgency.NORMAL, default=settings, buttons=(settings,)), "API key")

    @staticmethod
    def _notice(subject: str, title: str, body: str, urgency: Urgency, *, default: Action | None = None,
                buttons: tuple[Action, ...] = (), event_key: str | None = None) -> Notice:
        return Notice(subject=subject, title=plain(title, TITLE_MAX), body=plain(body, BODY_MAX),
                      urgency=urgency, default=default, buttons=buttons, event_key=event_key)

    # ============================================================ delivery
    def _offer(self, alert: _Alert) -> list[Notice | Withdraw]:
        """Toggles, pause, then the burst rule decide whether ``alert`` pops up now."""
        if not self.prefs.wants(alert.topic):
            log.debug("%s not shown: %s notifications are off", alert.subject, alert.topic)
            return []
        out = self._expire_pause()
        if self._paused_until is not None or self._catching_up:
            self._missed.add(alert)
            log.debug("%s not shown: %s", alert.subject, "catching up" if self._catching_up else "paused")
            return out
        t = self._clock()
        while self._recent and t - self._recent[0][0] >= BURST_WINDOW:
            self._recent.popleft()
        if self._burst is None and len(self._recent) < IMMEDIATE_PER_WINDOW:
            return out + self._show(alert, t)
        if self._burst is None:
            self._burst = _Burst(since=t, last_at=t, popups=len(self._recent))
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

    def _flush(self, t: float) -> list[Notice | Withdraw]:
        burst = self._burst
        if burst is None:
            return []
        settled = t - burst.last_at >= SETTLE
        if not settled and t - burst.since < MAX_HOLD:
            return []
        out: list[Notice | Withdraw] = []
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

    def _show(self, alert: _Alert, t: float) -> list[Notice | Withdraw]:
        notice = replace(alert.notice, sound=self.prefs.sound_for(alert.notice.urgency))
        self._shown[notice.subject] = notice
        self._shown.move_to_end(notice.subject)
        while len(self._shown) > MAX_SUBJECTS:
            self._shown.popitem(last=False)
        self._recent.append((t, alert))
        self.popups += 1
        return [notice]

    def _show_summary(self, alerts: list[_Alert], overflow: int, overflow_topics: Iterable[str], t: float,
                      *, prefix: str | None = None) -> list[Notice | Withdraw]:
        count = len(alerts) + overflow
        topics = {a.topic for a in alerts} | set(overflow_topics)
        if topics == {"needs_reauth"}:
            what = f"{count} connections need re-authorization"
        elif topics <= {"needs_reauth", "error"}:
            what = f"{count} connections need attention"
        else:
            what = f"{count} alerts"
        names = [a.name for a in alerts[:SUMMARY_NAMES]]
        more = count - len(names)
        listed = ", ".join(names) + (f" and {more} more" if more > 0 else "")
        urgency = max((a.notice.urgency for a in alerts), key=_URGENCY_RANK.__getitem__, default=Urgency.NORMAL)
        open_window = Action("Open Vendo Tray", ActionKind.OPEN_WINDOW)
        notice = self._notice(SUMMARY_SUBJECT, f"{prefix}: {what}" if prefix else what,
                              f"{listed}. Open Vendo Tray to see them all.", urgency,
                              default=open_window, buttons=(open_window,))
        log.info("summary notice: %s", what)
        return self._show(_Alert("summary", notice, "summary"), t)

    def _heal(self, subject: str) -> list[Notice | Withdraw]:
        """``subject`` is healthy again: forget held popups, withdraw a visible one."""
        self._missed.discard(subject)
        if self._burst is not None:
            self._burst.held.discard(subject)
            self._burst.fresh.discard(subject)
        if self._shown.pop(subject, None) is not None:
            return [Withdraw(subject)]
        return []

    def _expire_pause(self) -> list[Notice | Withdraw]:
        if self._paused_until is not None and self._now() >= self._paused_until:
            return self.resume()
        return []

    # ============================================================ state
    def _transition(self, subject: str, state: Any) -> bool:
        """Record ``state`` for ``subject``; False when it is the state we already had."""
        if self._states.get(subject) == state:
            self._states.move_to_end(subject)
            return False
        self._states[subject] = state
        self._states.move_to_end(subject)
        while len(self._states) > MAX_SUBJECTS:
            self._states.popitem(last=False)
        return True

    def _quiet(self, t: float | None = None) -> bool:
        return (self._clock() if t is None else t) < self._quiet_until


# ================================================================ helpers
def plain(text: str, limit: int) -> str:
    """One line of plain text: no control/format characters, collapsed spaces, at most ``limit``."""
    kept = []
    for ch in text:
        category = unicodedata.category(ch)
        if ch.isspace() or category in ("Zl", "Zp"):
            kept.append(" ")
        elif category[0] != "C":  # Cc control, Cf format (bidi, zero-width), Cs, Co, Cn
            kept.append(ch)
    line = " ".join("".join(kept).split())
    if len(line) > limit:
        line = line[: max(limit - 1, 0)].rstrip() + "…"
    return line


def _display_name(event: VendoEvent, snapshot: Snapshot | None) -> str:
    conn = snapshot.connection(event.slug) if snapshot is not None and event.slug else None
    name = (conn.display_name if conn is not None and isinstance(conn.display_name, str) else None) \
        or _name_from_slug(event.slug) or event.connection_id or "A connection"
    return plain(name, NAME_MAX) or "A connection"


def _name_from_slug(slug: str | None) -> str | None:
    """"google-calendar" → "Google Calendar": readable before the connections list arrives."""
    if not slug:
        return None
    words = slug.replace("_", " ").replace("-", " ").split()
    return " ".join(w[:1].upper() + w[1:] for w in words) or slug


def _snapshot_error(event: VendoEvent, snapshot: Snapshot | None) -> str | None:
    conn = snapshot.connection(event.slug) if snapshot is not None and event.slug else None
    message = conn.error_message if conn is not None else None
    return message if isinstance(message, str) and message.strip() else None


def _url_action(label: str, url: str | None, event_key: str | None) -> Action:
    """Open ``url``; with no safe URL, the window at the event instead (never a dead button)."""
    if url is None:
        return Action(label, ActionKind.OPEN_WINDOW, event_key=event_key)
    return Action(label, ActionKind.OPEN_URL, url=url)
