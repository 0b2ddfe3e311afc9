"""Spend caps as subjects (one per window): warned at a percentage, tripped at the cap.

``cap_warned`` / ``cap_tripped`` (critical) pop up once per window, kind, percentage and
period (the day for a daily cap, the month for a monthly one): the same warning replayed
says nothing, the next day's does.  "Details" opens the window; a tripped cap also offers
"Open dashboard", where the cap is raised.
"""

from __future__ import annotations

from dataclasses import dataclass

from vendo_tray.core.kinds import Kind, VendoEvent
from vendo_tray.core.notices import Action, ActionKind, Topic, Urgency
from vendo_tray.core.notify.context import Context, LastStates
from vendo_tray.core.notify.gate import Gate, Out
from vendo_tray.core.notify.text import Alert, notice, url_action


@dataclass(frozen=True, slots=True)
class CapState:
    """What was last said about one cap window."""

    kind: Kind
    pct: float | None
    #: "2026-05-02" for a daily cap, "2026-05" for a monthly one, None for another window.
    period: str | None


def _period(event: VendoEvent, window: str) -> str | None:
    when = event.when
    if window == "daily":
        return when.date().isoformat()
    if window == "monthly":
        return f"{when.year:04d}-{when.month:02d}"
    return None


class CapRules:
    """Remembers each cap window's last state; raises on a new one."""

    KINDS = frozenset({Kind.CAP_WARNED, Kind.CAP_TRIPPED})

    def __init__(self, ctx: Context, gate: Gate) -> None:
        self.ctx = ctx
        self.gate = gate
        self._states: LastStates[CapState] = LastStates()

    def on_event(self, event: VendoEvent) -> Out:
        window = event.window or "spend"
        if not self._states.transition(event.subject, CapState(event.kind, event.pct, _period(event, window))):
            return []
        title_window = window.capitalize()
        details = Action("Details", ActionKind.OPEN_WINDOW, event_key=event.key)
        if event.kind is Kind.CAP_WARNED:
            pct = f"{event.pct:g}%" if event.pct is not None else "near its limit"
            alert = notice(
                event.subject, f"{title_window} spend cap at {pct}",
                f"Spending has reached {pct} of the {window} cap.", Urgency.NORMAL,
                default=details, buttons=(details,), event_key=event.key)
        else:
            dashboard = url_action("Open dashboard", self.ctx.links.dashboard(), event.key)
            alert = notice(
                event.subject, f"{title_window} spend cap reached",
                f"Vendo refuses paid calls until the {window} cap resets or you raise it.", Urgency.CRITICAL,
                default=details, buttons=(dashboard,), event_key=event.key)
        return self.gate.offer(Alert(Topic.CAPS, alert, f"{title_window} cap"))
