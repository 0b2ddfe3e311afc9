"""Faults the simulator can inject, and the queue that hands them out.

Two families, because they hit a client at different moments:

* **request faults** answer the next ``count`` matching requests instead of
  the normal handler: ``status`` (an HTTP error, e.g. 503), ``unauthorized``
  (401 app_revoked), ``rate_limit`` (429 + Retry-After), ``stall`` (200 and
  headers, then not one byte until the client hangs up) and ``flap`` (200,
  then the response ends at once).  ``status``, ``unauthorized`` and
  ``rate_limit`` take a ``path`` (default: the events stream; ``"*"`` = any
  path), so REST retries can be tested too.  They are checked before the
  Bearer check, like a proxy in front of the API would answer.
* **stream faults** are taken by an open stream at once (or, if none is
  open, by the next stream right after its replay), one unit per stream:
  ``drop_mid_frame`` (the stream's next event frame is cut in half, then the
  TCP connection is cut; ``clean=True`` ends the response normally instead),
  ``malformed_json``, ``invalid_utf8``, ``oversized_line`` (``size`` bytes,
  default 2 MiB), ``burst`` (``n`` real events at once, default 100),
  ``retry`` (a ``retry: ms`` field) and ``raw`` (``data`` bytes as they are).
  The injected frames carry no ``id:``, so they never move a client's
  Last-Event-ID, and they are not events: they are not in the ring buffer.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from vendo_tray.simulator.wire import EVENTS_PATH

REQUEST_FAULTS = frozenset({"status", "unauthorized", "rate_limit", "stall", "flap"})
STREAM_FAULTS = frozenset({"drop_mid_frame", "malformed_json", "invalid_utf8", "oversized_line",
                           "burst", "retry", "raw"})
ALL_FAULTS = REQUEST_FAULTS | STREAM_FAULTS

#: Parameters each fault accepts, with defaults.
DEFAULTS: dict[str, dict[str, Any]] = {
    "status": {"status": 503, "code": None, "retry_after": None, "path": EVENTS_PATH},
    "unauthorized": {"status": 401, "code": "app_revoked", "path": EVENTS_PATH},
    "rate_limit": {"retry_after": 1, "code": "rate_limited", "path": EVENTS_PATH},
    "stall": {},
    "flap": {},
    "drop_mid_frame": {"clean": False},
    "malformed_json": {},
    "invalid_utf8": {},
    "oversized_line": {"size": 2 * 1024 * 1024},
    "burst": {"n": 100},
    "retry": {"ms": 3000},
    "raw": {"data": b""},
}


@dataclass
class Fault:
    """One armed fault with the units it has left."""

    name: str
    remaining: int
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def path(self) -> str:
        return str(self.params.get("path", EVENTS_PATH))

    def applies_to(self, path: str) -> bool:
        """Request faults only: stall and flap only make sense on the stream."""
        if self.name in ("stall", "flap"):
            return path == EVENTS_PATH
        return self.path == "*" or self.path == path


def make_fault(name: str, count: int, params: dict[str, Any]) -> Fault:
    """Validate a fault request (unknown names and parameters are errors, not no-ops)."""
    if name not in ALL_FAULTS:
        raise ValueError(f"unknown fault {name!r}; known: {', '.join(sorted(ALL_FAULTS))}")
    if not isinstance(count, int) or count < 1:
        raise ValueError("count must be a positive int")
    unknown = set(params) - set(DEFAULTS[name])
    if unknown:
        raise ValueError(f"fault {name!r} takes no parameter(s) {sorted(unknown)}")
    merged = {**DEFAULTS[name], **params}
    if name == "raw" and not isinstance(merged["data"], (bytes, bytearray)):
        raise ValueError("raw fault needs data=bytes")
    return Fault(name=name, remaining=count, params=merged)


class FaultBook:
    """Armed faults in arrival order; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def take_request(self, path: str) -> Fault | None:
        """One unit of the first request fault that applies to ``path``."""
        with self._lock:
            for fault in self._faults:
                if fault.name in REQUEST_FAULTS and fault.applies_to(path):
                    return self._consume(fault)
        return None

    def take_stream(self, skip: frozenset[str] = frozenset()) -> Fault | None:
        """One unit of the first stream fault not in ``skip``."""
        with self._lock:
            for fault in self._faults:
                if fault.name in STREAM_FAULTS and fault.name not in skip:
                    return self._consume(fault)
        return None

    def _consume(self, fault: Fault) -> Fault:
        fault.remaining -= 1
        if fault.remaining <= 0:
            self._faults.remove(fault)
        return Fault(name=fault.name, remaining=1, params=dict(fault.params))

    def pending(self) -> list[tuple[str, int]]:
        """(name, units left) of every armed fault, oldest first."""
        with self._lock:
            return [(f.name, f.remaining) for f in self._faults]

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()
