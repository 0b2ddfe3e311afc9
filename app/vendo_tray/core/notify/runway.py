"""How long the balance lasts, as a subject: one warning when it drops below the user's threshold.

The estimate is ``core.runway``'s; the monitor hands each new one to
``Policy.on_runway``.  Below ``PolicyPrefs.runway_days`` (2 days by default) it
pops up once per crossing.  It is re-armed only when the runway climbs back
above the threshold by :data:`HYSTERESIS`, or when spending stops, so an
estimate wobbling around 2 days minute by minute does not pop up again and
again.  An estimate from too little history never warns.

It comes *before* the balance-low one and shares its subject ("balance"): when
the balance then falls below the low level, that notice replaces this one in
place, and while the balance is already low or out, the runway says nothing.
"""

from __future__ import annotations

from datetime import timedelta

from vendo_tray.core.display import duration_text
from vendo_tray.core.kinds import format_micros
from vendo_tray.core.notices import Topic, Urgency
from vendo_tray.core.notify.balance import BALANCE_SUBJECT, BalanceRule, Level
from vendo_tray.core.notify.context import Context
from vendo_tray.core.notify.gate import Gate, Out
from vendo_tray.core.notify.text import Alert, notice, url_action
from vendo_tray.core.runway import Runway
from vendo_tray.core.state import Snapshot

#: The runway must climb this far above the threshold (×) before a new crossing can warn.
HYSTERESIS = 1.25


class RunwayRule:
    """Remembers whether the runway is below the threshold; warns on the way down."""

    def __init__(self, ctx: Context, gate: Gate, balance: BalanceRule) -> None:
        self.ctx = ctx
        self.gate = gate
        self.balance = balance
        self.below = False

    def on_runway(self, runway: Runway, snapshot: Snapshot | None) -> Out:
        threshold = timedelta(days=self.ctx.prefs.runway_days)
        left = runway.left
        if left is None:
            # Too little history says nothing either way; nothing spent means no runway problem.
            return [] if runway.per_day is None else self._rearm()
        if left >= threshold * HYSTERESIS:
            return self._rearm()
        if left >= threshold or self.below:
            return []
        self.below = True
        if self.balance.level in (Level.LOW, Level.EXHAUSTED):
            return []  # the balance-low notice already said more than a runway can
        return self.gate.offer(self._alert(runway, left, snapshot))

    def _rearm(self) -> Out:
        was, self.below = self.below, False
        if was and self.balance.level in (None, Level.OK):  # a balance-low notice is not ours to withdraw
            return self.gate.heal(BALANCE_SUBJECT)
        return []

    def _alert(self, runway: Runway, left: timedelta, snapshot: Snapshot | None) -> Alert:
        balance = snapshot.balance if snapshot is not None else None
        top_up = url_action("Top up", self.ctx.links.top_up(balance.top_up_url if balance else None), None)
        per_day = format_micros(round(runway.per_day or 0))
        body = (f"{format_micros(runway.balance_micros)} left, spending {per_day} a day at {runway.basis}: "
                f"below your {self.ctx.prefs.runway_days:g}-day warning.")
        return Alert(Topic.RUNWAY, notice(BALANCE_SUBJECT, f"Vendo balance lasts {duration_text(left)}", body,
                                          Urgency.NORMAL, default=top_up, buttons=(top_up,)), "Balance")
