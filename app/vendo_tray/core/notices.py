"""What the policy asks the UI to show: plain data, no Qt.

The policy produces these; ``ui.notifier`` renders them natively.  Titles and
bodies are plain text (control characters dropped, length capped, NOT
markup-escaped): escaping belongs to the one back end that parses markup.  A notice
with the same ``subject`` as a visible one replaces it in place, and a
:class:`Withdraw` removes it (the subject became healthy again).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from vendo_tray.core.links import redact_url


class Urgency(StrEnum):
    LOW = "low"
    NORMAL = "normal"
    CRITICAL = "critical"


class Topic(StrEnum):
    """What a notice is about, as the user switches it on or off (``Settings.notify``'s keys)."""

    NEEDS_REAUTH = "needs_reauth"
    ERROR = "error"
    BALANCE = "balance"
    RUNWAY = "runway"
    CAPS = "caps"
    STREAM = "stream"
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"
    #: Several alerts in one notice (a burst, a pause, a catch-up): not a toggle of its own.
    SUMMARY = "summary"


class ActionKind(StrEnum):
    OPEN_URL = "open_url"          # open ``url`` in the browser (after the allowlist)
    OPEN_WINDOW = "open_window"    # show the window, at ``event_key`` when set
    OPEN_SETTINGS = "open_settings"


@dataclass(frozen=True, slots=True)
class Action:
    """A button (or the default click) on a notice."""

    label: str
    kind: ActionKind
    url: str | None = None
    event_key: str | None = None
    #: The Vendo app (``AppProfile.id``) it belongs to: its URL is checked against that app's host.
    app: str | None = None

    def __repr__(self) -> str:
        # A re-authorize URL may carry the API key (app_key=); a logged or
        # printed action must never show it.
        url = redact_url(self.url) if self.url is not None else None
        return (f"Action(label={self.label!r}, kind={self.kind!s}, url={url!r}, "
                f"event_key={self.event_key!r}, app={self.app!r})")


@dataclass(frozen=True, slots=True)
class Notice:
    """One notification to show (or to update in place, by ``subject``)."""

    subject: str
    title: str
    body: str
    urgency: Urgency = Urgency.NORMAL
    default: Action | None = None
    buttons: tuple[Action, ...] = field(default_factory=tuple)
    event_key: str | None = None
    #: Play the platform's notification sound (the user's per-urgency choice; off by default).
    sound: bool = False


@dataclass(frozen=True, slots=True)
class Withdraw:
    """Remove the visible notice for ``subject``: it is healthy again."""

    subject: str
