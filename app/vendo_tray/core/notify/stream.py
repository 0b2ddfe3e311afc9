"""Stream health: offline for over a minute, the key rejected, and the quiet start.

Offline
    Not live (connecting, reconnecting, offline) for more than :data:`OFFLINE_AFTER`
    seconds raises "Vendo Tray is offline" once per outage; live again withdraws it.
Key rejected
    Once, until the stream is live again; its button opens Settings.
Quiet start
    For :data:`QUIET_SECONDS` after construction and after :meth:`StreamHealth.on_wake`,
    "disconnected" (``connections``) and "offline" raise nothing: reconnecting is
    expected then.  Wake also restarts the offline timer: sleep is not an outage.
"""

from __future__ import annotations

from vendo_tray.core.notices import Action, ActionKind, Topic, Urgency
from vendo_tray.core.notify.context import Context
from vendo_tray.core.notify.gate import Gate, Out
from vendo_tray.core.notify.text import Alert, notice
from vendo_tray.core.state import Phase

QUIET_SECONDS = 15.0
OFFLINE_AFTER = 60.0
STREAM_SUBJECT = "stream"


class StreamHealth:
    """The stream as a subject: its outage timer, the key and the quiet period."""

    def __init__(self, ctx: Context, gate: Gate) -> None:
        self.ctx = ctx
        self.gate = gate
        self._quiet_until = ctx.clock() + QUIET_SECONDS
        self._offline_since: float | None = None
        self._offline_detail: str | None = None
        self._offline_told = False
        self._key_told = False

    def on_stream(self, phase: Phase, detail: str | None = None) -> Out:
        """The subscription's phase changed."""
        t = self.ctx.clock()
        if phase is Phase.LIVE:
            self._offline_since = None
            self._offline_detail = None
            self._offline_told = False
            self._key_told = False
            return self.gate.heal(STREAM_SUBJECT)
        if phase is Phase.KEY_REJECTED:
            self._offline_since = None  # the key is the problem, not the network
            if self._key_told:
                return []
            self._key_told = True
            return self.gate.offer(self._key_rejected_alert(detail))
        if phase is Phase.KEY_MISSING:
            self._offline_since = None
            self._key_told = False
            return []
        # CONNECTING, RECONNECTING, OFFLINE: not live; the clock runs from the first of them.
        if self._offline_since is None:
            self._offline_since = t
        if detail:
            self._offline_detail = detail
        return self.check(t)

    def on_wake(self) -> None:
        """After sleep: quiet again, and the offline timer restarts (sleep is not an outage)."""
        t = self.ctx.clock()
        self._quiet_until = t + QUIET_SECONDS
        if self._offline_since is not None:
            self._offline_since = t

    def quiet(self, t: float | None = None) -> bool:
        """Still within the quiet period after launch or wake."""
        return (self.ctx.clock() if t is None else t) < self._quiet_until

    def next_deadline(self) -> float | None:
        """When :meth:`check` may next raise the offline notice (not within the quiet period)."""
        if self._offline_since is None or self._offline_told:
            return None
        return max(self._offline_since + OFFLINE_AFTER, self._quiet_until)

    def check(self, t: float) -> Out:
        """The offline threshold (called on every phase change and every tick)."""
        if self._offline_since is None or self._offline_told or self.quiet(t):
            return []
        if t - self._offline_since <= OFFLINE_AFTER:
            return []
        self._offline_told = True
        reason = f" ({self._offline_detail})" if self._offline_detail else ""
        return self.gate.offer(Alert(Topic.STREAM, notice(
            STREAM_SUBJECT, "Vendo Tray is offline",
            f"No connection to Vendo for over a minute{reason}. Still retrying; "
            "notifications resume when it is back.", Urgency.NORMAL,
            default=Action("Open", ActionKind.OPEN_WINDOW)), "Vendo connection"))

    @staticmethod
    def _key_rejected_alert(detail: str | None) -> Alert:
        settings = Action("Settings", ActionKind.OPEN_SETTINGS)
        return Alert(Topic.STREAM, notice(
            STREAM_SUBJECT, "Vendo rejected the API key",
            f"{detail}. Enter a valid key in Settings." if detail else "Enter a valid key in Settings.",
            Urgency.NORMAL, default=settings, buttons=(settings,)), "API key")
