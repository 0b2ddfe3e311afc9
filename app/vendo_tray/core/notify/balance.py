"""The balance as a subject: three levels, and only a move to a worse one pops up.

OK / LOW (below ``PolicyPrefs.low_balance_micros``, or the server's own ``balance_low``) /
EXHAUSTED (0, or ``balance_exhausted``; critical).  A balance sliding from $0.40 to $0.10
says "low" once; going back to OK withdraws the notice and re-arms it.  Exhausted → low
after a small top-up corrects a visible notice in place.  "Top up" opens Vendo's billing.
"""

from __future__ import annotations

from enum import IntEnum

from vendo_tray.core.kinds import Kind, VendoEvent, format_micros
from vendo_tray.core.notices import Topic, Urgency
from vendo_tray.core.notify.context import Context
from vendo_tray.core.notify.gate import Gate, Out
from vendo_tray.core.notify.text import Alert, notice, url_action
from vendo_tray.core.state import Snapshot

BALANCE_SUBJECT = "balance"


class Level(IntEnum):
    OK = 0
    LOW = 1
    EXHAUSTED = 2


class BalanceRule:
    """Remembers the balance's level; raises on a worse one, withdraws on OK."""

    KINDS = frozenset({Kind.BALANCE, Kind.BALANCE_LOW, Kind.BALANCE_EXHAUSTED})

    def __init__(self, ctx: Context, gate: Gate) -> None:
        self.ctx = ctx
        self.gate = gate
        self._level: Level | None = None

    @property
    def level(self) -> Level | None:
        """The balance's last level (None before the first balance event)."""
        return self._level

    def on_event(self, event: VendoEvent, snapshot: Snapshot | None) -> Out:
        level = self.level_of(event)
        if level is None:
            return []
        previous, self._level = self._level, level
        if level is Level.OK:
            return self.gate.heal(BALANCE_SUBJECT) if previous not in (None, Level.OK) else []
        if previous is not None and level <= previous:
            if level < previous and self.gate.is_shown(BALANCE_SUBJECT):
                # Exhausted → low after a small top-up: correct the visible notice in place.
                return self.gate.offer(self._alert(level, event, snapshot))
            return []
        return self.gate.offer(self._alert(level, event, snapshot))

    def level_of(self, event: VendoEvent) -> Level | None:
        remaining = event.remaining_micros
        if event.kind is Kind.BALANCE_EXHAUSTED:
            return Level.EXHAUSTED
        if event.kind is Kind.BALANCE_LOW:  # the server judged it low by its own threshold
            return Level.EXHAUSTED if remaining is not None and remaining <= 0 else Level.LOW
        if remaining is None:
            return None
        if remaining <= 0:
            return Level.EXHAUSTED
        return Level.LOW if remaining < self.ctx.prefs.low_balance_micros else Level.OK

    def _alert(self, level: Level, event: VendoEvent, snapshot: Snapshot | None) -> Alert:
        balance = snapshot.balance if snapshot is not None else None
        top_up = url_action("Top up", self.ctx.links.top_up(balance.top_up_url if balance else None), event.key)
        remaining = event.remaining_micros
        if level is Level.EXHAUSTED:
            title, urgency = "Vendo balance exhausted", Urgency.CRITICAL
            body = "No credits left: calls that need credits fail until you top up."
        else:
            title, urgency = "Vendo balance low", Urgency.NORMAL
            if remaining is not None:
                body = (f"{format_micros(remaining)} left, below your "
                        f"{format_micros(self.ctx.prefs.low_balance_micros)} alert level.")
            else:
                body = "Your Vendo credits are running low."
        return Alert(Topic.BALANCE, notice(BALANCE_SUBJECT, title, body, urgency, default=top_up,
                                           buttons=(top_up,), event_key=event.key), "Balance")
