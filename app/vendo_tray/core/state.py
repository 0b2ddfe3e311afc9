"""The app's observable state, as plain data the UI renders.

``core.monitor.Monitor`` owns these and hands fresh (immutable) copies to its
listeners; the UI never computes them itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from vendo_tray.client import Balance, Connection, SpendCaps
from vendo_tray.core.apps import DEFAULT_APP_ID, DEFAULT_APP_NAME, AppProfile
from vendo_tray.core.kinds import VendoEvent, status_needs_action
from vendo_tray.core.notices import Notice, Withdraw
from vendo_tray.core.runway import Runway
from vendo_tray.core.secrets import KeySource


class Phase(StrEnum):
    """Where the events subscription stands; each has its own tray icon."""

    CONNECTING = "connecting"
    LIVE = "live"
    RECONNECTING = "reconnecting"
    OFFLINE = "offline"
    KEY_MISSING = "key_missing"
    KEY_REJECTED = "key_rejected"


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The last known connections, balance and spend caps (from REST)."""

    connections: tuple[Connection, ...] = ()
    balance: Balance | None = None
    caps: SpendCaps | None = None
    taken_at: datetime | None = None

    @property
    def needing_action(self) -> tuple[Connection, ...]:
        return tuple(c for c in self.connections if status_needs_action(c.status))

    def connection(self, slug: str | None) -> Connection | None:
        return next((c for c in self.connections if c.slug == slug), None)


@dataclass(frozen=True, slots=True)
class Mute:
    """A connection (by slug) whose notifications the user silenced, and until when (None: until unmuted)."""

    slug: str
    until: datetime | None = None


@dataclass(frozen=True, slots=True)
class AppState:
    """Everything the tray icon, tooltip and status line show."""

    phase: Phase = Phase.CONNECTING
    #: One line on why we are not live (the exact error), or None.
    detail: str | None = None
    #: Seconds until the next attempt when reconnecting/offline.
    retry_in: float | None = None
    paused_until: datetime | None = None
    demo: bool = False
    #: Where the key in use came from; None without a key.
    key_source: KeySource | None = None
    snapshot: Snapshot = field(default_factory=Snapshot)
    #: How long the balance lasts at the recent burn rate (None until first estimated).
    runway: Runway | None = None
    #: Connections whose notifications are muted now, by slug.
    mutes: tuple[Mute, ...] = ()

    @property
    def attention(self) -> int:
        """How many connections need the user's action."""
        return len(self.snapshot.needing_action)

    @property
    def paused(self) -> bool:
        return self.paused_until is not None

    def mute_of(self, slug: str | None) -> Mute | None:
        """The mute of connection ``slug``, or None when its notifications are on."""
        return next((m for m in self.mutes if m.slug == slug), None)


#: How much each phase needs the user, most first; the tray's icon ranks them the same way.
_PHASE_CONCERN = {Phase.KEY_REJECTED: 6, Phase.KEY_MISSING: 6, Phase.OFFLINE: 5,
                  Phase.RECONNECTING: 4, Phase.CONNECTING: 3}
_ATTENTION_CONCERN = 2
_PAUSED_CONCERN = 1


def concern(state: AppState) -> int:
    """How much one app's state needs the user: the worst app is the one the tray shows.

    A key problem first (nothing works without it), then the stream's health,
    then connections that need action, then a pause; a healthy app is 0.
    """
    if state.phase in _PHASE_CONCERN:
        return _PHASE_CONCERN[state.phase]
    if state.attention:
        return _ATTENTION_CONCERN
    return _PAUSED_CONCERN if state.paused else 0


@dataclass(frozen=True, slots=True)
class AppStatus:
    """One watched app and its state."""

    app: AppProfile
    state: AppState


@dataclass(frozen=True, slots=True)
class FleetState:
    """Every watched app's state, in the list's order, and which needs the user most."""

    apps: tuple[AppStatus, ...] = ()
    demo: bool = False

    @property
    def several(self) -> bool:
        """More than one app is watched: the UI names apps, and notices do."""
        return len(self.apps) > 1

    @property
    def worst(self) -> AppStatus | None:
        """The app that needs the user most (the first of equals), None with no app."""
        return max(self.apps, key=lambda s: concern(s.state), default=None)

    @property
    def state(self) -> AppState:
        """The worst app's state; with no app at all, "no key" (add one in Settings)."""
        worst = self.worst
        return worst.state if worst is not None else AppState(phase=Phase.KEY_MISSING, demo=self.demo)

    @classmethod
    def of_one(cls, state: AppState) -> FleetState:
        """The default app alone in ``state`` (a pre-apps setup, as the tray's tests draw it)."""
        return cls((AppStatus(AppProfile(DEFAULT_APP_ID, DEFAULT_APP_NAME, ""), state),), state.demo)

    def of(self, app_id: str | None) -> AppStatus | None:
        """App ``app_id``'s status, or the first app's when ``app_id`` is None."""
        if app_id is None:
            return self.apps[0] if self.apps else None
        return next((s for s in self.apps if s.app.id == app_id), None)


class MonitorListener(Protocol):
    """What the UI implements to follow the monitor (called on the loop thread)."""

    def state_changed(self, state: AppState) -> None: ...

    def event_recorded(self, event: VendoEvent) -> None: ...

    def notice(self, item: Notice | Withdraw) -> None: ...
