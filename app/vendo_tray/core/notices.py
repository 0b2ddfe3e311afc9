"""What the policy asks the UI to show: plain data, no Qt.

The policy produces these; ``ui.notifier`` renders them natively.  A notice
with the same ``subject`` as a visible one replaces it in place, and a
:class:`Withdraw` removes it (the subject became healthy again).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Urgency(StrEnum):
    LOW = "low"
    NORMAL = "normal"
    CRITICAL = "critical"


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


@dataclass(frozen=True, slots=True)
class Withdraw:
    """Remove the visible notice for ``subject``: it is healthy again."""

    subject: str
