"""One normalized event for every generation of Vendo's wire.

The seed edition sends ``connection.needs_reauth``; the live server sends
``connection.status_changed`` with ``status == "needs_reauth"`` and then the
same thing again as the legacy alias ``connection_updated``.  Everything
downstream (store, policy, window) sees only :class:`VendoEvent`, so it never
has to know which generation spoke.

Normalizing is defensive: the data is whatever the server (or an attacker in
the middle) sent, so every field is type-checked and length-capped, and
anything unexpected degrades to ``None`` rather than raising.
"""

from __future__ import annotations

import logging
import math
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from enum import StrEnum
from itertools import islice
from typing import Any

log = logging.getLogger(__name__)

#: Longest text we keep from any single field; hostile servers send megabytes.
MAX_TEXT = 500


class Kind(StrEnum):
    """What happened, independent of the wire generation."""

    CONNECTED = "connection.connected"
    DISCONNECTED = "connection.disconnected"
    NEEDS_REAUTH = "connection.needs_reauth"
    ERROR = "connection.error"
    #: status_changed to a status without a kind of its own (available, pending_setup, revoked)
    STATUS = "connection.status"
    CHANGED = "connection.changed"
    BALANCE = "billing.balance"
    BALANCE_LOW = "billing.balance_low"
    BALANCE_EXHAUSTED = "billing.balance_exhausted"
    USAGE = "billing.usage"
    CAP_WARNED = "billing.cap_warned"
    CAP_TRIPPED = "billing.cap_tripped"
    DEPLOYMENT_UPDATED = "deployment.updated"
    STREAM_ERROR = "stream.error"
    UNKNOWN = "unknown"

    @property
    def group(self) -> str:
        """"connection", "billing", "deployment", "stream" or "other"."""
        head = self.value.split(".", 1)[0]
        return head if head in {"connection", "billing", "deployment", "stream"} else "other"

    @property
    def label(self) -> str:
        """A short human label for lists and filters."""
        return _LABELS[self]


_LABELS: dict[Kind, str] = {
    Kind.CONNECTED: "Connected",
    Kind.DISCONNECTED: "Disconnected",
    Kind.NEEDS_REAUTH: "Needs re-authorization",
    Kind.ERROR: "Error",
    Kind.STATUS: "Status changed",
    Kind.CHANGED: "Changed",
    Kind.BALANCE: "Balance changed",
    Kind.BALANCE_LOW: "Balance low",
    Kind.BALANCE_EXHAUSTED: "Balance exhausted",
    Kind.USAGE: "Usage recorded",
    Kind.CAP_WARNED: "Spend cap warning",
    Kind.CAP_TRIPPED: "Spend cap reached",
    Kind.DEPLOYMENT_UPDATED: "Deployment updated",
    Kind.STREAM_ERROR: "Stream error",
    Kind.UNKNOWN: "Unknown event",
}

#: Wire names that map to one kind whatever the data says.
_FIXED: dict[str, Kind] = {
    "connection.connected": Kind.CONNECTED,
    "connection_created": Kind.CONNECTED,
    "connection.disconnected": Kind.DISCONNECTED,
    "connection_deleted": Kind.DISCONNECTED,
    "connection.needs_reauth": Kind.NEEDS_REAUTH,
    "connection.error": Kind.ERROR,
    "connection.changed": Kind.CHANGED,
    "billing.balance_low": Kind.BALANCE_LOW,
    "billing.balance_exhausted": Kind.BALANCE_EXHAUSTED,
    "billing.balance_changed": Kind.BALANCE,
    "billing.usage_recorded": Kind.USAGE,
    "billing.cap_warned": Kind.CAP_WARNED,
    "billing.cap_tripped": Kind.CAP_TRIPPED,
    "deployment.updated": Kind.DEPLOYMENT_UPDATED,
    "stream.error": Kind.STREAM_ERROR,
}

#: Wire names whose kind depends on ``data.status``.
_BY_STATUS_NAMES = {"connection.status_changed", "connection_updated"}

_STATUS_KINDS: dict[str, Kind] = {
    "connected": Kind.CONNECTED,
    "needs_reauth": Kind.NEEDS_REAUTH,
    "error": Kind.ERROR,
}

#: Legacy underscore aliases the live server sends beside the dotted names.
LEGACY_ALIASES = frozenset({"connection_created", "connection_deleted", "connection_updated"})

#: Connection statuses that mean the user has to act.
ACTION_STATUSES = frozenset({"needs_reauth", "error", "revoked"})


@dataclass(frozen=True, slots=True)
class VendoEvent:
    """A stream event, normalized.

    ``key`` identifies the event for deduplication: ``data.id`` when the
    server sent one (the live wire does, identically in alias blocks and
    replays), else the SSE id, else ``None`` (cannot be deduplicated).
    """

    kind: Kind
    wire_kind: str
    key: str | None
    received_at: datetime
    at: datetime | None = None
    slug: str | None = None
    connection_id: str | None = None
    status: str | None = None
    message: str | None = None
    remaining_micros: int | None = None
    provider: str | None = None
    micros: int | None = None
    window: str | None = None
    pct: float | None = None
    data: Any = field(default=None, compare=False, repr=False)

    @property
    def subject(self) -> str:
        """What the event is about, for "one live notification per subject"."""
        if self.kind.group == "connection":
            return f"connection:{self.slug or self.connection_id or '?'}"
        if self.kind in (Kind.CAP_WARNED, Kind.CAP_TRIPPED):
            return f"cap:{self.window or '?'}"
        if self.kind.group == "billing":
            return "balance"
        return self.kind.group

    @property
    def when(self) -> datetime:
        """The server's time when known, else when we received it."""
        return self.at or self.received_at

    @property
    def summary(self) -> str:
        """One plain-text line for the history list, naming the connection by its slug."""
        return self.describe()

    def describe(self, name: str | None = None) -> str:
        """The summary line, naming the connection ``name`` (its display name) when known."""
        name = name or self.slug or self.connection_id or "A connection"
        k = self.kind
        if k is Kind.CONNECTED:
            return f"{name} connected"
        if k is Kind.DISCONNECTED:
            return f"{name} disconnected"
        if k is Kind.NEEDS_REAUTH:
            return f"{name} needs re-authorization"
        if k is Kind.ERROR:
            return f"{name} error: {self.message}" if self.message else f"{name} is in an error state"
        if k is Kind.STATUS:
            return f"{name} is now {self.status or 'unknown'}"
        if k is Kind.CHANGED:
            return f"{name} changed"
        if k is Kind.BALANCE:
            return f"Balance {format_micros(self.remaining_micros)}"
        if k is Kind.BALANCE_LOW:
            rest = format_micros(self.remaining_micros) if self.remaining_micros is not None else "low"
            return f"Balance low: {rest}"
        if k is Kind.BALANCE_EXHAUSTED:
            return "Balance exhausted"
        if k is Kind.USAGE:
            return f"{self.provider or 'Usage'}: {format_micros(self.micros)}"
        if k is Kind.CAP_WARNED:
            pct = f"{self.pct:g}%" if self.pct is not None else "near"
            return f"{(self.window or 'spend').capitalize()} cap at {pct}"
        if k is Kind.CAP_TRIPPED:
            return f"{(self.window or 'spend').capitalize()} cap reached"
        if k is Kind.DEPLOYMENT_UPDATED:
            return "Deployment settings changed"
        if k is Kind.STREAM_ERROR:
            return f"Stream error: {self.message or 'gave up reconnecting'}"
        return f"Unknown event {self.wire_kind!r}"


def format_micros(micros: int | None) -> str:
    """Micro-dollars as "$4.20" (or "?" when unknown)."""
    if micros is None:
        return "?"
    sign = "-" if micros < 0 else ""  # a debt reads "-$1.00", not "$-1.00"
    return f"{sign}${abs(micros) / 1_000_000:,.2f}"


def normalize(wire_kind: str, data: Any, sse_id: str | None = None,
              received_at: datetime | None = None) -> VendoEvent:
    """Turn one wire event into a :class:`VendoEvent`; never raises."""
    received = received_at or datetime.now(timezone.utc)
    wire = _text(wire_kind) or "message"
    d = data if isinstance(data, dict) else {}
    status = _text(d.get("status"))
    if wire in _BY_STATUS_NAMES:
        kind = _STATUS_KINDS.get(status or "", Kind.STATUS if status else Kind.CHANGED)
    else:
        kind = _FIXED.get(wire, Kind.UNKNOWN)
    if kind is Kind.UNKNOWN:
        log.info("unknown event kind %r kept, not notified", wire)
    key = _ident(d.get("id")) or _text(sse_id)
    return VendoEvent(
        kind=kind,
        wire_kind=wire,
        key=key,
        received_at=received,
        at=_time(d.get("at")),
        slug=_text(d.get("slug")),
        connection_id=_text(d.get("connection_id")),
        status=status,
        message=_text(d.get("message")) or _text(d.get("error_message")),
        remaining_micros=_first_int(d.get("remaining_micros"), d.get("credits_remaining_micros")),
        provider=_text(d.get("provider")),
        micros=_int(d.get("micros")),
        window=_text(d.get("window")),
        pct=_number(d.get("pct")),
        data=data,
    )


def _text(value: Any) -> str | None:
    if not isinstance(value, str) or not value:
        return None
    # islice stops at MAX_TEXT kept characters, so a megabyte string costs no more than needed.
    clean = "".join(islice((ch for ch in value if ch.isprintable()), MAX_TEXT))
    return clean or None


def _ident(value: Any) -> str | None:
    """An event id: servers send strings, but an integer id is an id too (a bool is not)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value) if abs(value) <= _MAX_INT else None
    return _text(value)


#: Amounts beyond a signed 64-bit integer are nonsense (and overflow float formatting).
_MAX_INT = 2**63 - 1


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():  # False for inf and nan
        value = int(value)
    if isinstance(value, int) and abs(value) <= _MAX_INT:
        return value
    return None


def _first_int(*values: Any) -> int | None:
    """The first usable integer: the live name wins, the seed's name is the fallback."""
    for value in values:
        number = _int(value)
        if number is not None:
            return number
    return None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        number = float(value)
    except OverflowError:  # an int too large for a float
        return None
    # Python's json accepts NaN and Infinity; neither is a percentage.
    return number if math.isfinite(number) else None


def _time(value: Any) -> datetime | None:
    text = _text(value)
    if text is None:
        return None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (ValueError, OverflowError):
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


class RecentKeys:
    """The last ``size`` event keys seen, for "the same event counts once".

    WHY bounded: the live server repeats each connection event under a legacy
    alias and replays up to 100 events on reconnect, so duplicates arrive
    close together; remembering a few thousand keys catches them all while a
    hostile stream of unique ids cannot grow memory without limit.
    """

    def __init__(self, size: int = 4096) -> None:
        self._size = max(1, size)
        self._keys: OrderedDict[str, None] = OrderedDict()

    def seen(self, key: str | None) -> bool:
        """True when ``key`` was seen before; otherwise remember it and return False.

        ``None`` (an event without any id) is never a duplicate.
        """
        if key is None:
            return False
        if key in self._keys:
            self._keys.move_to_end(key)
            return True
        self._keys[key] = None
        if len(self._keys) > self._size:
            self._keys.popitem(last=False)
        return False

    def __len__(self) -> int:
        return len(self._keys)
