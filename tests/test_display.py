"""core.display: the words and severities the window and tray show (no Qt)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from vendo_tray.client import Balance, Connection, SpendCaps
from vendo_tray.core.display import (
    balance_text,
    cap_severity,
    caps_text,
    connection_action_label,
    event_severity,
    exact_time,
    mute_text,
    phase_severity,
    phase_text,
    relative_time,
    status_label,
    status_severity,
    until_text,
)
from vendo_tray.core.kinds import Kind, Severity, normalize
from vendo_tray.core.state import AppState, Mute, Phase

NOW = datetime(2026, 5, 2, 12, 0, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("ago", "text"),
    [
        (timedelta(seconds=0), "just now"),
        (timedelta(seconds=44), "just now"),
        (timedelta(seconds=-90), "just now"),  # server clock ahead of ours
        (timedelta(seconds=80), "1 min ago"),
        (timedelta(minutes=2), "2 min ago"),
        (timedelta(minutes=59), "59 min ago"),
        (timedelta(hours=1, minutes=5), "1 h ago"),
        (timedelta(hours=23, minutes=59), "23 h ago"),
        (timedelta(hours=30), "yesterday"),
        (timedelta(days=3, hours=1), "3 days ago"),
        (timedelta(days=10), "22 Apr"),
        (timedelta(days=400), "28 Mar 2025"),
    ],
)
def test_relative_time(ago: timedelta, text: str) -> None:
    assert relative_time(NOW - ago, NOW, tz=timezone.utc) == text


def test_relative_time_dates_use_the_given_zone() -> None:
    late = datetime(2026, 4, 20, 23, 30, tzinfo=timezone.utc)
    assert relative_time(late, NOW, tz=timezone.utc) == "20 Apr"
    assert relative_time(late, NOW, tz=timezone(timedelta(hours=2))) == "21 Apr"


def test_exact_time_is_local_with_zone() -> None:
    zone = timezone(timedelta(hours=2), "CEST")
    assert exact_time(NOW, tz=zone) == "Sat 2 May 2026, 14:00:00 CEST"


def test_event_severity_follows_kind_and_status() -> None:
    reauth = normalize("connection.status_changed", {"id": "e1", "slug": "gmail", "status": "needs_reauth"})
    revoked = normalize("connection.status_changed", {"id": "e2", "slug": "gmail", "status": "revoked"})
    usage = normalize("billing.usage_recorded", {"id": "e3", "provider": "openai", "micros": 1200})
    tripped = normalize("billing.cap_tripped", {"id": "e4", "window": "daily"})
    connected = normalize("connection.connected", {"id": "e5", "slug": "slack"})
    assert reauth.kind is Kind.NEEDS_REAUTH and event_severity(reauth) is Severity.WARNING
    assert revoked.kind is Kind.STATUS and event_severity(revoked) is Severity.CRITICAL
    assert event_severity(usage) is Severity.INFO
    assert event_severity(tripped) is Severity.CRITICAL
    assert event_severity(connected) is Severity.OK


def test_every_kind_has_a_severity() -> None:
    for kind in Kind:
        event = normalize(kind.value, {"id": kind.value})
        assert isinstance(event_severity(event), Severity)


def test_connection_status_words_and_action() -> None:
    def conn(status: str) -> Connection:
        return Connection(id="c1", slug="gmail", display_name="Gmail", status=status)

    assert status_severity("needs_reauth") is Severity.WARNING
    assert status_severity("error") is Severity.CRITICAL
    assert status_severity("brand_new_status") is Severity.INFO
    assert status_label("pending_setup") == "Pending setup"
    assert status_label("brand_new_status") == "Brand new status"
    assert status_label(None) == "Unknown"
    for status in ("needs_reauth", "error", "revoked"):
        assert connection_action_label(conn(status)) == "Re-authorize"
    for status in ("connected", "available", "pending_setup"):
        assert connection_action_label(conn(status)) == "Manage"


def test_balance_and_caps_text() -> None:
    assert balance_text(None) == "—"
    assert balance_text(Balance(credits_remaining_micros=4_200_000)) == "$4.20"
    assert balance_text(Balance(credits_remaining_micros=1_000_000, currency="EUR")) == "$1.00 EUR"
    caps = SpendCaps(daily_micros=5_000_000, monthly_micros=None,
                     used_today_micros=1_200_000, used_month_micros=30_000_000)
    assert caps_text(caps) == "today $1.20 of $5.00 · this month $30.00 (no cap)"
    assert caps_text(None) == "—"
    assert cap_severity(1, None) is Severity.INFO
    assert cap_severity(3_999_999, 5_000_000) is Severity.OK
    assert cap_severity(4_000_000, 5_000_000) is Severity.WARNING
    assert cap_severity(5_000_000, 5_000_000) is Severity.CRITICAL
    assert cap_severity(0, 0) is Severity.CRITICAL


def test_phase_text() -> None:
    assert phase_text(AppState(phase=Phase.LIVE)) == "Live"
    assert phase_severity(AppState(phase=Phase.LIVE)) is Severity.OK
    state = AppState(phase=Phase.RECONNECTING, retry_in=3.6, detail="connection refused", demo=True)
    assert phase_text(state) == "Reconnecting in 4 s — connection refused · demo"
    assert phase_severity(AppState(phase=Phase.KEY_REJECTED)) is Severity.CRITICAL


def test_need_action_wording_agrees_in_number() -> None:
    from vendo_tray.core.display import need_action_text

    assert need_action_text(1) == "1 needs action"
    assert need_action_text(3) == "3 need action"
    assert need_action_text(1, "connection") == "1 connection needs action"
    assert need_action_text(2, "connection") == "2 connections need action"


def test_mute_words_say_when_it_ends_from_now() -> None:
    now = datetime(2026, 5, 2, 9, 15).astimezone()
    assert mute_text(None, now) == ""
    assert mute_text(Mute("slack", None), now) == "muted"
    assert mute_text(Mute("slack", now.replace(hour=14, minute=30)), now) == "muted until 14:30"
    assert until_text(now + timedelta(days=1), now) == "tomorrow 09:15"
    assert until_text(now + timedelta(days=3), now) == f"{now + timedelta(days=3):%a %d %b} 09:15"


def test_a_pause_until_tomorrow_says_tomorrow() -> None:
    """A pause "until tomorrow" ends at 08:00 the next day; "paused until 08:00" read in the
    evening says this morning. The phase line uses the one wording of an end time."""
    now = datetime.now().astimezone()
    tomorrow_morning = (now + timedelta(days=1)).replace(hour=8, minute=0, second=0, microsecond=0)
    text = phase_text(AppState(phase=Phase.LIVE, paused_until=tomorrow_morning))
    assert text.endswith("notifications paused until tomorrow 08:00")
