"""Spend at a glance: the balance over time and the spend per day, from stored billing events.

The Spend view draws a :class:`SpendHistory` and nothing else; every sum and
every day boundary is decided here, Qt-free, so it is unit-tested without a
QApplication and the runway estimate (``core.runway``) reads the same
balance readings the chart shows.

Both wire generations count, through ``core.kinds.normalize``: the live wire's
``billing.balance_changed`` (``remaining_micros``) and the seed's
``billing.balance_low`` (``credits_remaining_micros``) are balance readings,
and ``billing.balance_exhausted`` reads zero.  Spend by provider comes from
``billing.usage_recorded``; the seed sends no usage event, so with a seed
server only the balance line appears.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from typing import TYPE_CHECKING, Protocol

from vendo_tray.core.kinds import Kind

if TYPE_CHECKING:  # the tray renders runway text before the store (and sqlite3) is loaded
    from vendo_tray.core.store import Store

log = logging.getLogger(__name__)

#: How far back the Spend view looks (the history's default retention, too).
DAYS = 30
#: Kinds whose event says what the balance is.
BALANCE_KINDS = frozenset({Kind.BALANCE, Kind.BALANCE_LOW, Kind.BALANCE_EXHAUSTED})
#: Every kind the Spend view and the runway read from the history.
SPEND_KINDS = BALANCE_KINDS | {Kind.USAGE}
#: The bar segment for usage that names no provider.
NO_PROVIDER = "other"


class Billed(Protocol):
    """What is read of a billing event: a ``VendoEvent``, or the store's lighter ``Amount``."""

    @property
    def kind(self) -> Kind: ...
    @property
    def when(self) -> datetime: ...
    @property
    def provider(self) -> str | None: ...
    @property
    def micros(self) -> int | None: ...
    @property
    def remaining_micros(self) -> int | None: ...


@dataclass(frozen=True, slots=True)
class BalancePoint:
    """The balance was ``micros`` at ``at``."""

    at: datetime
    micros: int


@dataclass(frozen=True, slots=True)
class DaySpend:
    """What was spent on one local day, per provider (in :attr:`SpendHistory.providers` order)."""

    day: date
    by_provider: tuple[tuple[str, int], ...] = ()

    @property
    def total(self) -> int:
        return sum(micros for _, micros in self.by_provider)


@dataclass(frozen=True, slots=True)
class SpendHistory:
    """What the Spend view draws: a balance line and one stacked bar per day."""

    start: datetime
    end: datetime
    balance: tuple[BalancePoint, ...] = ()
    days: tuple[DaySpend, ...] = ()
    #: Every provider seen, biggest spender first (the stacking and legend order).
    providers: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        """Nothing recorded yet: the view shows what will appear instead of an empty chart."""
        return not self.balance and not self.providers

    @property
    def total(self) -> int:
        """Everything spent in the window."""
        return sum(day.total for day in self.days)

    def balance_at(self, when: datetime) -> int | None:
        """The balance last read at or before ``when`` (None before the first reading)."""
        known = [p.micros for p in self.balance if p.at <= when]
        return known[-1] if known else None


def balance_reading(event: Billed) -> int | None:
    """The balance an event reports, or None (not a balance event, or a value we do not have)."""
    if event.kind is Kind.BALANCE_EXHAUSTED:
        return event.remaining_micros if event.remaining_micros is not None else 0
    if event.kind in BALANCE_KINDS:
        return event.remaining_micros
    return None


def balance_points(events: Iterable[Billed]) -> list[BalancePoint]:
    """Every balance reading among ``events``, oldest first by the server's time."""
    points = [BalancePoint(e.when, micros) for e in events if (micros := balance_reading(e)) is not None]
    points.sort(key=lambda p: p.at)
    return points


def spend_history(events: Iterable[Billed], *, now: datetime, current_balance: int | None = None,
                  days: int = DAYS, tz: tzinfo | None = None) -> SpendHistory:
    """Aggregate billing events into the last ``days`` local days (today included).

    ``current_balance`` (the REST snapshot's, fresher than any event) carries
    the line on to ``now`` once there is a line.  ``tz`` is the zone whose midnights
    separate days: the machine's by default, explicit in tests.
    """
    first_day = now.astimezone(tz).date() - timedelta(days=days - 1)
    start = datetime.combine(first_day, datetime.min.time(), tzinfo=now.astimezone(tz).tzinfo)
    events = [e for e in events if start <= e.when <= now]
    points = balance_points(events)
    if points and current_balance is not None:
        points.append(BalancePoint(now, current_balance))
    spent: dict[date, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    totals: dict[str, int] = defaultdict(int)
    for event in events:
        if event.kind is not Kind.USAGE:
            continue
        if event.micros is None or event.micros < 0:
            log.info("usage at %s without a usable amount (%r) left out of the spend chart",
                     event.when, event.micros)
            continue
        provider = event.provider or NO_PROVIDER
        spent[event.when.astimezone(tz).date()][provider] += event.micros
        totals[provider] += event.micros
    providers = tuple(sorted(totals, key=lambda p: (-totals[p], p)))
    per_day = tuple(
        DaySpend(day, tuple((p, spent[day][p]) for p in providers if spent[day].get(p)))
        for day in (first_day + timedelta(days=n) for n in range(days))
    )
    return SpendHistory(start=start, end=now, balance=tuple(points), days=per_day, providers=providers)


def history_from(store: Store, *, now: datetime, current_balance: int | None = None,
                 days: int = DAYS, tz: tzinfo | None = None, app: str | None = None) -> SpendHistory:
    """:func:`spend_history` over what ``store`` holds for the last ``days`` days (of ``app``, else of all)."""
    events = store.amounts(SPEND_KINDS, now - timedelta(days=days + 1), app)
    return spend_history(events, now=now, current_balance=current_balance, days=days, tz=tz)
