"""core.runway: how long the balance lasts, on synthetic histories (no Qt, no clock)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from vendo_tray.client import Balance
from vendo_tray.core.display import balance_runway_text, duration_text, runway_text
from vendo_tray.core.kinds import normalize
from vendo_tray.core.runway import Basis, Runway, burn_per_day, estimate, runway_from
from vendo_tray.core.spend import BalancePoint
from vendo_tray.core.store import Store

NOW = datetime(2026, 5, 20, 18, 0, tzinfo=timezone.utc)
DOLLAR = 1_000_000


def steady(start_dollars: float, per_day_dollars: float, days: float, every: timedelta = timedelta(hours=1),
           end: datetime = NOW) -> list[BalancePoint]:
    """A balance falling evenly for ``days`` up to ``end``, read every ``every``."""
    steps = int(timedelta(days=days) / every)
    per_step = per_day_dollars * DOLLAR * (every / timedelta(days=1))
    first = end - every * steps
    return [BalancePoint(first + every * n, round(start_dollars * DOLLAR - per_step * n)) for n in range(steps + 1)]


def test_steady_burn_is_the_rate_and_the_days_left() -> None:
    points = steady(52, 4, days=10)  # $52 falling $4 a day for 10 days: $12 left
    runway = estimate(points, balance_micros=points[-1].micros, now=NOW)
    assert runway.per_day == pytest.approx(4 * DOLLAR, rel=1e-3)
    assert runway.basis is Basis.WEEK  # both windows agree: the longer one says it
    assert runway.left / timedelta(days=1) == pytest.approx(3, rel=1e-3)
    assert runway_text(runway) == "about 3 days left at this week's rate"


def test_bursty_burn_today_wins_over_a_quiet_week() -> None:
    quiet = steady(30, 0.5, days=7, end=NOW - timedelta(hours=3))  # $0.50 a day all week
    burst = [BalancePoint(NOW - timedelta(hours=2, minutes=m), quiet[-1].micros - m * 200_000)
             for m in range(1, 31)]  # $6 within half an hour, two hours ago
    points = quiet + sorted(burst, key=lambda p: p.at)
    balance = points[-1].micros
    runway = estimate(points, balance_micros=balance, now=NOW)
    assert runway.basis is Basis.TODAY
    today = burn_per_day(points, now=NOW, window=timedelta(days=1))
    week = burn_per_day(points, now=NOW, window=timedelta(days=7))
    assert today == pytest.approx(6.5 * DOLLAR, rel=0.02) and week < today
    assert runway.per_day == today
    assert runway_text(runway).endswith("left at today's rate")


def test_bursty_burn_a_busy_week_is_not_hidden_by_a_quiet_day() -> None:
    busy = steady(100, 10, days=5, end=NOW - timedelta(days=2))  # $10 a day, then two quiet days
    runway = estimate(busy, balance_micros=busy[-1].micros, now=NOW)
    assert runway.basis is Basis.WEEK
    assert runway.per_day == pytest.approx(50 / 7 * DOLLAR, rel=0.01)  # $50 over the week


def test_no_burn_says_nothing_is_spent_rather_than_infinity() -> None:
    flat = [BalancePoint(NOW - timedelta(days=9), 12 * DOLLAR)]  # one reading, long before the week
    runway = estimate(flat, balance_micros=12 * DOLLAR, now=NOW)
    assert runway.per_day == 0 and runway.left is None
    assert runway_text(runway) == "no spending in the last 7 days"


def test_top_up_in_the_window_is_not_negative_spend() -> None:
    points, balance = [], 10 * DOLLAR
    for hours_ago in range(72, -1, -1):  # hourly readings over three days, $3 a day
        points.append(BalancePoint(NOW - timedelta(hours=hours_ago), balance))
        if hours_ago == 11:  # a $25 top-up eleven hours ago
            balance += 25 * DOLLAR
            points.append(BalancePoint(NOW - timedelta(hours=hours_ago, minutes=-30), balance))
        balance -= DOLLAR // 8
    runway = estimate(points, balance_micros=points[-1].micros, now=NOW)
    # Spend is only the drops: $3 a day in both windows, whatever the top-up added.
    assert burn_per_day(points, now=NOW, window=timedelta(days=1)) == pytest.approx(3 * DOLLAR)
    assert runway.per_day == pytest.approx(3 * DOLLAR)
    assert runway.balance_micros == (10 - 9 + 25) * DOLLAR
    assert runway.left / timedelta(days=1) == pytest.approx(runway.balance_micros / (3 * DOLLAR))


def test_too_little_history_says_so_instead_of_guessing() -> None:
    fresh = [BalancePoint(NOW - timedelta(minutes=40), 9 * DOLLAR),
             BalancePoint(NOW - timedelta(minutes=10), 8 * DOLLAR)]  # "$1 in 30 min" is no daily rate
    runway = estimate(fresh, balance_micros=8 * DOLLAR, now=NOW)
    assert runway == Runway(8 * DOLLAR)
    assert runway_text(runway) == "too little history yet to say how long it lasts"
    assert estimate([], balance_micros=None, now=NOW) == Runway(None)
    assert runway_text(Runway(None)) == "balance not known yet"


def test_a_day_of_history_gives_today_s_rate_before_the_week_counts() -> None:
    day = steady(10, 2, days=0.5)  # 12 hours: enough for the 24 h window, not for the week's 42 h
    runway = estimate(day, balance_micros=day[-1].micros, now=NOW)
    assert runway.basis is Basis.TODAY
    assert runway.per_day == pytest.approx(2 * DOLLAR, rel=1e-3)


def test_the_fresher_balance_counts_as_a_reading_now() -> None:
    points = steady(20, 1, days=3, end=NOW - timedelta(hours=1))
    runway = estimate(points, balance_micros=points[-1].micros - 2 * DOLLAR, now=NOW)
    assert runway.per_day == pytest.approx(1 * DOLLAR + 2 * DOLLAR, rel=0.02)  # the last hour's $2 counts
    assert runway.balance_micros == points[-1].micros - 2 * DOLLAR


def test_exhausted_reads_used_up_whatever_the_history() -> None:
    assert runway_text(Runway(0)) == "used up"
    assert Runway(-5).left == timedelta(0)


@pytest.mark.parametrize(("span", "text"), [
    (timedelta(minutes=20), "less than an hour"),
    (timedelta(minutes=70), "about 1 hour"),
    (timedelta(hours=30), "about 30 hours"),
    (timedelta(days=3, hours=2), "about 3 days"),
    (timedelta(days=90), "more than 2 months"),
])
def test_duration_words(span: timedelta, text: str) -> None:
    assert duration_text(span) == text


def test_the_one_line_for_header_and_tooltip() -> None:
    balance = Balance(credits_remaining_micros=7_860_000, currency="USD", top_up_url=None)
    runway = Runway(7_860_000, per_day=2_500_000, basis=Basis.TODAY)
    assert balance_runway_text(balance, runway) == "$7.86 · about 3 days left at today's rate"
    assert balance_runway_text(None, runway) == "—"


def test_runway_from_the_store_reads_the_baseline_before_the_week(tmp_path: Path) -> None:
    def reading(n: int, micros: int, at: datetime):
        return normalize("billing.balance_changed", {"id": f"b{n}", "remaining_micros": micros,
                                                     "at": at.isoformat()}, received_at=at)

    with Store.open(tmp_path / "h.sqlite3", retention_days=3650) as store:
        store.add_many([reading(1, 30 * DOLLAR, NOW - timedelta(days=20)),  # the baseline, long ago
                        reading(2, 26 * DOLLAR, NOW - timedelta(days=1, hours=12)),
                        normalize("billing.balance_low", {"credits_remaining_micros": 400_000},
                                  received_at=NOW - timedelta(hours=1))])  # the seed's kind counts too
        runway = runway_from(store, balance_micros=400_000, now=NOW)
    assert runway.basis is Basis.TODAY
    assert runway.per_day == pytest.approx(25.6 * DOLLAR, rel=1e-3)  # $26 → $0.40 within the last day
