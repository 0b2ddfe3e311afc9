"""Words and severities the UI shows, decided here so they stay Qt-free.

The window, the tray tooltip and the CLI all describe the same things (how
long ago an event happened, how bad a kind or a connection status is, what the
stream is doing, what the balance and caps are).  Keeping those decisions in
one plain module means they are unit-tested without a QApplication and the
widgets only map a :class:`Severity` to a colour.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta, tzinfo

from vendo_tray.client import Balance, Connection, SpendCaps
from vendo_tray.core.kinds import (
    REAUTHORIZE,
    STATUS_FACTS,
    ConnectionStatus,
    Severity,
    VendoEvent,
    format_micros,
    status_needs_action,
)
from vendo_tray.core.runway import Basis, Runway
from vendo_tray.core.spend import DaySpend
from vendo_tray.core.state import AppState, Mute, Phase

#: The kind groups a user can filter by, in display order, with their labels.
GROUP_LABELS: dict[str, str] = {
    "connection": "Connections",
    "billing": "Billing",
    "deployment": "Deployment",
    "stream": "Stream",
    "other": "Other",
}


def status_severity(status: str | None) -> Severity:
    """A connection status ("needs_reauth", "error", …) as a severity (unknown: INFO)."""
    known = ConnectionStatus.of(status)
    return STATUS_FACTS[known].severity if known is not None else Severity.INFO


def event_severity(event: VendoEvent) -> Severity:
    """An event's severity (its kind's, or for a bare status change its new status's)."""
    return event.severity


def status_label(status: str | None) -> str:
    """``"needs_reauth"`` → ``"Needs re-authorization"`` for lists."""
    if not status:
        return "Unknown"
    known = ConnectionStatus.of(status)
    return STATUS_FACTS[known].label if known is not None else status.replace("_", " ").capitalize()


def needs_action(connection: Connection) -> bool:
    """Whether the user has to do something about this connection."""
    return status_needs_action(connection.status)


def need_action_text(count: int, noun: str = "") -> str:
    """"3 need action", "1 connection needs action": one wording for tray, tooltip and window."""
    subject = f"{count} {noun}{'' if count == 1 else 's'}" if noun else str(count)
    return f"{subject} need{'s' if count == 1 else ''} action"


def connection_action_label(connection: Connection) -> str:
    """The one button a connection row offers."""
    return REAUTHORIZE if needs_action(connection) else "Manage"


def relative_time(when: datetime, now: datetime, tz: tzinfo | None = None) -> str:
    """"just now", "5 min ago", "3 h ago", "yesterday", "4 days ago", or a date.

    Dates older than a week are shown in ``tz`` (default: the machine's zone).
    A time slightly in the future (server clock skew) reads "just now" rather
    than a confusing "in 2 min".
    """
    seconds = (now - when).total_seconds()
    if seconds < 45:
        return "just now"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min ago"
    hours = int(seconds // 3600)
    if hours < 24:
        return f"{hours} h ago"
    days = int(seconds // 86400)
    if days < 2:
        return "yesterday"
    if days < 7:
        return f"{days} days ago"
    local = when.astimezone(tz)
    if local.year == now.astimezone(tz).year:
        return f"{local.day} {local:%b}"
    return f"{local.day} {local:%b} {local.year}"


def until_text(moment: datetime, now: datetime | None = None) -> str:
    """When something the user set ends, in local time: ``"14:30"``, ``"tomorrow 08:00"``, ``"Mon 04 May 14:30"``."""
    local = moment.astimezone()
    today = (now or datetime.now()).astimezone().date()
    if local.date() == today:
        return f"{local:%H:%M}"
    if local.date() == today + timedelta(days=1):
        return f"tomorrow {local:%H:%M}"
    return f"{local:%a %d %b %H:%M}"


def mute_text(mute: Mute | None, now: datetime | None = None) -> str:
    """A connection's mute for its row and the details pane: ``"muted until 14:30"``, ``"muted"``, or ``""``."""
    if mute is None:
        return ""
    return f"muted until {until_text(mute.until, now)}" if mute.until is not None else "muted"


def exact_time(when: datetime, tz: tzinfo | None = None) -> str:
    """The full local time for a tooltip: ``"Fri 2 May 2026, 14:03:07 CEST"``.

    ``tz`` defaults to the machine's zone; tests pass one explicitly.
    """
    local = when.astimezone(tz)
    zone = local.tzname() or ""
    return f"{local:%a} {local.day} {local:%b %Y, %H:%M:%S} {zone}".rstrip()


def balance_text(balance: Balance | None) -> str:
    """The header's balance, or a dash while unknown."""
    if balance is None:
        return "—"
    text = format_micros(balance.credits_remaining_micros)
    return text if balance.currency in ("", "USD") else f"{text} {balance.currency}"


def runway_text(runway: Runway) -> str:
    """"about 3 days left at today's rate", or why there is no estimate (never a guess)."""
    left = runway.left
    if left is not None:
        return "used up" if left <= timedelta(0) else f"{duration_text(left)} left at {runway.basis}"
    if runway.balance_micros is None:
        return "balance not known yet"
    if runway.per_day is None:
        return "too little history yet to say how long it lasts"
    return "no spending in the last 7 days" if runway.basis is Basis.WEEK else "no spending in the last 24 hours"


def balance_runway_text(balance: Balance | None, runway: Runway | None) -> str:
    """"$7.86 · about 3 days left at today's rate": the balance and how long it lasts, in one line."""
    text = balance_text(balance)
    return f"{text} · {runway_text(runway)}" if balance is not None and runway is not None else text


def day_spend_lines(day: DaySpend, balance_micros: int | None, *, most: int = 6) -> list[str]:
    """The Spend view's hover callout for one day: date, total, each provider, the day's closing balance."""
    lines = [f"{day.day:%a} {day.day.day} {day.day:%b}",
             f"Spent {format_micros(day.total)}" if day.total else "Nothing spent"]
    biggest = sorted(day.by_provider, key=lambda item: -item[1])
    lines += [f"  {provider}: {format_micros(micros)}" for provider, micros in biggest[:most]]
    if len(biggest) > most:
        lines.append(f"  {len(biggest) - most} more: {format_micros(sum(m for _, m in biggest[most:]))}")
    if balance_micros is not None:
        lines.append(f"Balance {format_micros(balance_micros)}")
    return lines


def duration_text(span: timedelta) -> str:
    """A rough span for an estimate: "less than an hour", "about 5 hours", "about 3 days"."""
    hours = span / timedelta(hours=1)
    if hours < 1:
        return "less than an hour"
    if hours < 47.5:
        return "about 1 hour" if round(hours) == 1 else f"about {round(hours)} hours"
    days = math.floor(hours / 24 + 0.5)  # 2.5 days reads "about 3 days", not round()'s "about 2"
    return f"about {days} days" if days <= 60 else "more than 2 months"


def cap_text(used: int, cap: int | None) -> str:
    """``"$1.20 of $5.00"`` or ``"$1.20 (no cap)"``."""
    if cap is None:
        return f"{format_micros(used)} (no cap)"
    return f"{format_micros(used)} of {format_micros(cap)}"


def cap_severity(used: int, cap: int | None) -> Severity:
    """Amber from 80 % of a cap, red at the cap (the server's own thresholds)."""
    if cap is None or cap <= 0:
        return Severity.INFO if cap is None else Severity.CRITICAL
    ratio = used / cap
    if ratio >= 1:
        return Severity.CRITICAL
    if ratio >= 0.8:
        return Severity.WARNING
    return Severity.OK


def caps_text(caps: SpendCaps | None) -> str:
    """Both caps on one line for the header."""
    if caps is None:
        return "—"
    return (f"today {cap_text(caps.used_today_micros, caps.daily_micros)}"
            f" · this month {cap_text(caps.used_month_micros, caps.monthly_micros)}")


#: The stream's state in a word or two: the tray's status line and the window's phase line.
_PHASE_WORDS: dict[Phase, str] = {
    Phase.CONNECTING: "Connecting…",
    Phase.LIVE: "Live",
    Phase.RECONNECTING: "Reconnecting…",
    Phase.OFFLINE: "Offline",
    Phase.KEY_MISSING: "No API key",
    Phase.KEY_REJECTED: "API key rejected",
}

_PHASE_SEVERITY: dict[Phase, Severity] = {
    Phase.CONNECTING: Severity.INFO,
    Phase.LIVE: Severity.OK,
    Phase.RECONNECTING: Severity.WARNING,
    Phase.OFFLINE: Severity.WARNING,
    Phase.KEY_MISSING: Severity.CRITICAL,
    Phase.KEY_REJECTED: Severity.CRITICAL,
}


def phase_word(phase: Phase) -> str:
    """``"Live"``, ``"Reconnecting…"``, ``"API key rejected"``: one wording for tray and window."""
    return _PHASE_WORDS.get(phase, str(phase))


def phase_severity(state: AppState) -> Severity:
    return _PHASE_SEVERITY.get(state.phase, Severity.INFO)


def phase_text(state: AppState) -> str:
    """One line on the stream: ``"Reconnecting in 4 s — connection refused"``."""
    words = phase_word(state.phase)
    if state.phase in (Phase.RECONNECTING, Phase.OFFLINE) and state.retry_in is not None:
        words = words.removesuffix("…") + f" in {max(0, round(state.retry_in))} s"
    if state.detail:
        words += f" — {state.detail}"
    extras = []
    if state.paused_until is not None:
        extras.append(f"notifications paused until {until_text(state.paused_until)}")
    if state.demo:
        extras.append("demo")
    if extras:
        words += " · " + " · ".join(extras)
    return words
