"""What every rule module shares: the user's choices, the link builder and the two clocks."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Generic, TypeVar

from vendo_tray.core.links import Links
from vendo_tray.core.notices import Topic, Urgency
from vendo_tray.core.settings import DEFAULT_NOTIFY

#: Subjects whose state (or visible notice) we remember; a hostile stream of
#: unique slugs must not grow memory without bound.
MAX_SUBJECTS = 4096


@dataclass(frozen=True)
class PolicyPrefs:
    """The user's choices the policy honours (built from core.settings)."""

    low_balance_micros: int = 500_000
    #: Warn when the balance lasts fewer days than this at the recent rate.
    runway_days: float = 2.0
    #: topic → on/off; a missing topic takes its DEFAULT_NOTIFY value.
    notify: Mapping[str, bool] = field(default_factory=lambda: dict(DEFAULT_NOTIFY))
    #: Urgencies ("low", "normal", "critical") whose notices play a sound.
    sounds: frozenset[str] = frozenset()

    def wants(self, topic: str) -> bool:
        return bool(self.notify.get(topic, DEFAULT_NOTIFY.get(topic, True)))

    def sound_for(self, urgency: Urgency) -> bool:
        return str(urgency) in self.sounds


def local_now() -> datetime:
    """Aware local wall time: what "until tomorrow" and "for an hour" count from."""
    return datetime.now().astimezone()


@dataclass
class Context:
    """Shared by the rule modules and the gate; the facade swaps ``prefs`` and ``links`` in place."""

    prefs: PolicyPrefs
    links: Links
    clock: Callable[[], float] = time.monotonic
    now: Callable[[], datetime] = local_now

    def wants(self, topic: Topic) -> bool:
        return self.prefs.wants(topic)


S = TypeVar("S")


class LastStates(Generic[S]):
    """Each subject's last state, bounded (oldest forgotten first)."""

    def __init__(self, size: int = MAX_SUBJECTS) -> None:
        self._size = size
        self._states: OrderedDict[str, S] = OrderedDict()

    def transition(self, subject: str, state: S) -> bool:
        """Record ``state`` for ``subject``; False when it is the state we already had."""
        if self._states.get(subject) == state:
            self._states.move_to_end(subject)
            return False
        self._states[subject] = state
        self._states.move_to_end(subject)
        while len(self._states) > self._size:
            self._states.popitem(last=False)
        return True

    def get(self, subject: str) -> S | None:
        return self._states.get(subject)

    def set(self, subject: str, state: S) -> None:
        self._states[subject] = state
