"""core.spend: the Spend view's balance line and per-day bars, from stored billing events (no Qt)."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from event_samples import story
from vendo_tray.core.kinds import Kind, normalize
from vendo_tray.core.spend import NO_PROVIDER, BalancePoint, history_from, spend_history
from vendo_tray.core.store import Store

UTC = timezone.utc
NOW = datetime(2026, 5, 20, 18, 0, tzinfo=UTC)


def usage(n: int, provider: str | None, micros: object, at: datetime):
    data = {"id": f"u{n}", "micros": micros, "at": at.isoformat()}
    if provider:
        data["provider"] = provider
    return normalize("billing.usage_recorded", data, received_at=at)


def balance(n: int, micros: int, at: datetime, wire: str = "billing.balance_changed"):
    field = "credits_remaining_micros" if wire == "billing.balance_low" else "remaining_micros"
    return normalize(wire, {"id": f"b{n}", field: micros, "at": at.isoformat()}, received_at=at)


def test_spend_per_day_by_provider_biggest_first() -> None:
    events = [
        usage(1, "openai", 300_000, NOW - timedelta(hours=1)),
        usage(2, "anthropic", 100_000, NOW - timedelta(hours=2)),
        usage(3, "openai", 200_000, NOW - timedelta(days=1, hours=1)),
        usage(4, None, 50_000, NOW - timedelta(days=1, hours=2)),
        usage(5, "anthropic", -7, NOW - timedelta(hours=3)),  # nonsense amounts are left out
        usage(6, "openai", None, NOW - timedelta(hours=3)),
        usage(7, "openai", 999_000, NOW - timedelta(days=45)),  # before the window
    ]
    history = spend_history(events, now=NOW, tz=UTC)
    assert len(history.days) == 30 and history.days[-1].day == date(2026, 5, 20)
    assert history.days[0].day == date(2026, 4, 21)
    assert history.start == datetime(2026, 4, 21, tzinfo=UTC)
    assert history.providers == ("openai", "anthropic", NO_PROVIDER)
    assert history.days[-1].by_provider == (("openai", 300_000), ("anthropic", 100_000))
    assert history.days[-2].by_provider == (("openai", 200_000), (NO_PROVIDER, 50_000))
    assert history.days[-2].total == 250_000
    assert all(d.total == 0 for d in history.days[:-2])
    assert not history.balance and not history.empty


def test_days_follow_the_local_midnight() -> None:
    berlin_evening = timezone(timedelta(hours=2))
    late = usage(1, "openai", 100, datetime(2026, 5, 19, 23, 30, tzinfo=UTC))  # 01:30 on the 20th in UTC+2
    assert spend_history([late], now=NOW, tz=UTC).days[-2].total == 100
    assert spend_history([late], now=NOW, tz=berlin_evening).days[-1].total == 100


def test_balance_line_from_both_wire_generations_ends_at_now() -> None:
    events = [
        balance(1, 2_000_000, NOW - timedelta(days=3)),
        balance(2, 400_000, NOW - timedelta(days=2), wire="billing.balance_low"),  # the seed's kind
        normalize("billing.balance_exhausted", {}, received_at=NOW - timedelta(days=1)),
        balance(3, 25_000_000, NOW - timedelta(hours=5)),
    ]
    history = spend_history(events, now=NOW, current_balance=24_500_000, tz=UTC)
    assert [p.micros for p in history.balance] == [2_000_000, 400_000, 0, 25_000_000, 24_500_000]
    assert history.balance[-1] == BalancePoint(NOW, 24_500_000)
    assert not history.providers and not history.empty


def test_nothing_recorded_is_empty_even_with_a_known_balance() -> None:
    history = spend_history([], now=NOW, current_balance=5_000_000, tz=UTC)
    assert history.empty and history.balance == ()
    assert len(history.days) == 30


def test_history_from_a_real_store_reads_only_billing_and_no_raw_data(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    events, sim = story(200, now=now)
    with Store.open(tmp_path / "h.sqlite3") as store:
        store.add_many(events)
        lean = store.amounts({Kind.USAGE}, now - timedelta(days=4))
        history = history_from(store, now=now, current_balance=sim.balance_micros)
        assert store.last_amount({Kind.USAGE}, now - timedelta(days=30)) is None
        assert store.last_amount({Kind.USAGE}, now) == lean[-1]
        assert store.amounts(set(), now - timedelta(days=4)) == []
    stored = [e for e in events if e.kind is Kind.USAGE]
    assert lean == [(e.kind, e.when, e.provider, e.micros, e.remaining_micros) for e in stored]
    assert sum(d.total for d in history.days) == sum(e.micros for e in stored)
    assert history.balance[-1].micros == sim.balance_micros
    assert len(history.balance) == sum(1 for e in events if e.kind is Kind.BALANCE) + 1


def test_hover_words_for_a_day_and_the_balance_it_closed_at() -> None:
    from vendo_tray.core.display import day_spend_lines

    events = [balance(1, 9_000_000, NOW - timedelta(days=1, hours=3)),
              balance(2, 8_000_000, NOW - timedelta(hours=1))]
    events += [usage(10 + n, f"p{n}", (n + 1) * 10_000, NOW - timedelta(hours=2)) for n in range(8)]
    history = spend_history(events, now=NOW, tz=UTC)
    yesterday_end = datetime(2026, 5, 20, tzinfo=UTC)
    assert history.balance_at(yesterday_end) == 9_000_000
    assert history.balance_at(NOW - timedelta(days=2)) is None
    assert history.total == sum((n + 1) * 10_000 for n in range(8))
    lines = day_spend_lines(history.days[-1], history.balance_at(NOW), most=3)
    assert lines == ["Wed 20 May", "Spent $0.36", "  p7: $0.08", "  p6: $0.07", "  p5: $0.06",
                     "  5 more: $0.15", "Balance $8.00"]
    assert day_spend_lines(history.days[0], None)[1:] == ["Nothing spent"]
