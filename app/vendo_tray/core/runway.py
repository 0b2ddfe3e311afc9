"""How long the balance lasts at the recent burn rate (issue 13).

The burn is read from the balance itself: what it dropped by over the last
24 hours and over the last 7 days, top-ups (rises) left out.  WHY the balance
and not the usage events: a balance reading is absolute, so spend that
happened while the app was closed (beyond the server's 100-event replay)
still shows as the drop between the reading before and the one after, and
the seed's wire, which has no usage event, reports balances too.

Two windows, and the faster of their rates wins: a warning about money
running out should come early rather than late, so a burst today is not
averaged away by a quiet week, and a quiet day does not hide a busy week.
The estimate names which rate it used ("at today's rate").

A window counts only when the history covers at least a quarter of it (6 of
the 24 hours, 42 of the 168): a fresh install with two readings ten minutes
apart says "too little history" instead of extrapolating a day from them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from itertools import pairwise
from typing import TYPE_CHECKING

from vendo_tray.core.spend import BALANCE_KINDS, BalancePoint, balance_points

if TYPE_CHECKING:  # the tray renders runway text before the store (and sqlite3) is loaded
    from vendo_tray.core.store import Store

DAY = timedelta(days=1)
WEEK = timedelta(days=7)
#: The share of a window the history must cover before its rate is believed.
MIN_COVER = 0.25


class Basis(StrEnum):
    """Which window's rate an estimate uses; the value is how the UI says it."""

    TODAY = "today's rate"
    WEEK = "this week's rate"


@dataclass(frozen=True, slots=True)
class Runway:
    """The balance, the burn it is measured against and, from both, the time left.

    ``per_day`` is None when the history is too short to say (see the module
    docstring); 0 when nothing was spent in the windows that count.
    """

    balance_micros: int | None
    per_day: float | None = None
    basis: Basis | None = None

    def with_balance(self, balance_micros: int | None) -> Runway:
        """The same burn against a newer balance (cheap: no history is read again)."""
        return replace(self, balance_micros=balance_micros)

    @property
    def known(self) -> bool:
        """Whether there is an estimate at all (a balance and enough history)."""
        return self.balance_micros is not None and self.per_day is not None

    @property
    def left(self) -> timedelta | None:
        """Time until the balance reaches zero; None when unknown or while nothing is spent."""
        if self.balance_micros is None:
            return None
        if self.balance_micros <= 0:
            return timedelta(0)  # used up, however little history there is
        if self.per_day is None or self.per_day <= 0:
            return None
        return DAY * (self.balance_micros / self.per_day)


def burn_per_day(points: Sequence[BalancePoint], *, now: datetime, window: timedelta) -> float | None:
    """Micro-dollars spent per day over the ``window`` before ``now``; None if it is covered too little.

    ``points`` are balance readings oldest first.  The last reading at or
    before the window's start is the baseline (the history then covers the
    whole window); without one, coverage starts at the first reading inside it.
    """
    start = now - window
    before = [p for p in points if p.at <= start]
    inside = [p for p in points if start < p.at <= now]
    series = before[-1:] + inside
    if not series:
        return None
    covered = now - max(series[0].at, start)
    if covered < window * MIN_COVER:
        return None
    spent = sum(max(0, a.micros - b.micros) for a, b in pairwise(series))
    return spent / (covered / DAY)


def estimate(points: Sequence[BalancePoint], *, balance_micros: int | None, now: datetime) -> Runway:
    """The runway for ``balance_micros`` from the readings' last 24 hours and 7 days.

    ``balance_micros`` is the freshest balance (the REST snapshot's); it is
    also taken as a reading at ``now``, so a drop it shows counts as burn.
    """
    if balance_micros is None and points:
        balance_micros = points[-1].micros
    readings = [*points, BalancePoint(now, balance_micros)] if balance_micros is not None else list(points)
    rates = {basis: rate for basis, window in ((Basis.TODAY, DAY), (Basis.WEEK, WEEK))
             if (rate := burn_per_day(readings, now=now, window=window)) is not None}
    if not rates:
        return Runway(balance_micros)
    basis = max(rates, key=lambda b: (rates[b], b is Basis.WEEK))  # a tie: the longer window says more
    return Runway(balance_micros, per_day=rates[basis], basis=basis)


def runway_from(store: Store, *, balance_micros: int | None, now: datetime, app: str | None = None) -> Runway:
    """:func:`estimate` over the last week of ``store``'s readings (of ``app``: each app has its own
    balance) and the one before it (the baseline)."""
    since = now - WEEK
    baseline = store.last_amount(BALANCE_KINDS, since, app)
    events = ([baseline] if baseline is not None else []) + store.amounts(BALANCE_KINDS, since, app)
    return estimate(balance_points(events), balance_micros=balance_micros, now=now)
