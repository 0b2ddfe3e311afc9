"""One normalized event for every generation of Vendo's wire.

The first ("seed") edition of the wire (docs/wire.md § Kinds) sends ``connection.needs_reauth``; the live server sends
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
from datetime import datetime, timedelta, timezone
from enum import StrEnum
from itertools import islice
from typing import Any

from vendo_tray.core.apps import DEFAULT_APP_ID

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
        return KIND_FACTS[self].label

    @property
    def facts(self) -> KindFacts:
        """Everything the product says about this kind: its row of :data:`KIND_FACTS`."""
        return KIND_FACTS[self]


class Severity(StrEnum):
    """How much an event or status should catch the eye (one colour each)."""

    OK = "ok"
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class Refetch(StrEnum):
    """Which REST snapshot an event makes stale (the reconciler confirms it soon after)."""

    CONNECTIONS = "connections"
    BILLING = "billing"


#: The details pane's buttons (``core.event_actions`` turns them into allowlisted links).
REAUTHORIZE = "Re-authorize"
OPEN_DASHBOARD = "Open in dashboard"
TOP_UP = "Top up"


@dataclass(frozen=True, slots=True)
class KindFacts:
    """One row of :data:`KIND_FACTS`: what one kind means to every part of the product.

    ``needs_action``: the event asks the user to do something (the window's "Needs action"
    view). ``buttons``: what its details pane may offer, most useful first ("Re-authorize"
    only while the connection still needs it). ``refetch``: the REST part it makes stale.
    Whether and how it pops up is the rule module's business (``core.notify``).
    """

    label: str
    severity: Severity
    needs_action: bool = False
    buttons: tuple[str, ...] = (OPEN_DASHBOARD,)
    refetch: Refetch | None = None


_CONN = (REAUTHORIZE, OPEN_DASHBOARD)
_MONEY = (TOP_UP, OPEN_DASHBOARD)
_C, _B = Refetch.CONNECTIONS, Refetch.BILLING

#: The one table of facts per kind: read it to know what a kind means anywhere in the app.
KIND_FACTS: dict[Kind, KindFacts] = {
    Kind.CONNECTED: KindFacts("Connected", Severity.OK, buttons=_CONN, refetch=_C),
    Kind.DISCONNECTED: KindFacts("Disconnected", Severity.INFO, buttons=_CONN, refetch=_C),
    Kind.NEEDS_REAUTH: KindFacts("Needs re-authorization", Severity.WARNING, True, _CONN, _C),
    Kind.ERROR: KindFacts("Error", Severity.CRITICAL, True, _CONN, _C),
    #: status_changed to a status without a kind of its own: as bad as that status (STATUS_FACTS).
    Kind.STATUS: KindFacts("Status changed", Severity.INFO, buttons=_CONN, refetch=_C),
    Kind.CHANGED: KindFacts("Changed", Severity.INFO, buttons=_CONN, refetch=_C),
    Kind.BALANCE: KindFacts("Balance changed", Severity.INFO, buttons=_MONEY, refetch=_B),
    Kind.BALANCE_LOW: KindFacts("Balance low", Severity.WARNING, True, _MONEY, _B),
    Kind.BALANCE_EXHAUSTED: KindFacts("Balance exhausted", Severity.CRITICAL, True, _MONEY, _B),
    Kind.USAGE: KindFacts("Usage recorded", Severity.INFO, buttons=_MONEY, refetch=_B),
    Kind.CAP_WARNED: KindFacts("Spend cap warning", Severity.WARNING, refetch=_B),
    Kind.CAP_TRIPPED: KindFacts("Spend cap reached", Severity.CRITICAL, True, refetch=_B),
    Kind.DEPLOYMENT_UPDATED: KindFacts("Deployment updated", Severity.INFO),
    Kind.STREAM_ERROR: KindFacts("Stream error", Severity.WARNING),
    Kind.UNKNOWN: KindFacts("Unknown event", Severity.INFO),
}


class ConnectionStatus(StrEnum):
    """A connection's ``status`` as Vendo sends it (REST lists and status_changed events)."""

    CONNECTED = "connected"
    AVAILABLE = "available"
    PENDING_SETUP = "pending_setup"
    NEEDS_REAUTH = "needs_reauth"
    ERROR = "error"
    REVOKED = "revoked"

    @classmethod
    def of(cls, status: str | None) -> ConnectionStatus | None:
        """The known status ``status`` names, else None (a newer server may send others)."""
        try:
            return cls(status) if status else None
        except ValueError:
            return None


@dataclass(frozen=True, slots=True)
class StatusFacts:
    """One row of :data:`STATUS_FACTS`: what a connection status means to the product."""

    label: str
    severity: Severity
    needs_action: bool = False


STATUS_FACTS: dict[ConnectionStatus, StatusFacts] = {
    ConnectionStatus.CONNECTED: StatusFacts("Connected", Severity.OK),
    ConnectionStatus.AVAILABLE: StatusFacts("Available", Severity.INFO),
    ConnectionStatus.PENDING_SETUP: StatusFacts("Pending setup", Severity.INFO),
    ConnectionStatus.NEEDS_REAUTH: StatusFacts("Needs re-authorization", Severity.WARNING, True),
    ConnectionStatus.ERROR: StatusFacts("Error", Severity.CRITICAL, True),
    ConnectionStatus.REVOKED: StatusFacts("Revoked", Severity.CRITICAL, True),
}


def status_needs_action(status: str | None) -> bool:
    """Whether a connection in ``status`` needs the user (an unknown status does not)."""
    known = ConnectionStatus.of(status)
    return known is not None and STATUS_FACTS[known].needs_action


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

#: The statuses with a kind of their own; the others are Kind.STATUS.
STATUS_KINDS: dict[ConnectionStatus, Kind] = {
    ConnectionStatus.CONNECTED: Kind.CONNECTED,
    ConnectionStatus.NEEDS_REAUTH: Kind.NEEDS_REAUTH,
    ConnectionStatus.ERROR: Kind.ERROR,
}

#: Legacy underscore aliases the live server sends beside the dotted names.
LEGACY_ALIASES = frozenset({"connection_created", "connection_deleted", "connection_updated"})


def connection_subject(slug_or_id: str) -> str:
    """What a connection's notices are about (one live notification per subject), by its slug."""
    return f"connection:{slug_or_id}"


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
    #: The Vendo app (``core.apps.AppProfile.id``) whose stream sent it; the monitor tags it.
    app: str = DEFAULT_APP_ID

    @property
    def subject(self) -> str:
        """What the event is about, for "one live notification per subject"."""
        if self.kind.group == "connection":
            return connection_subject(self.slug or self.connection_id or "?")
        if self.kind in (Kind.CAP_WARNED, Kind.CAP_TRIPPED):
            return f"cap:{self.window or '?'}"
        if self.kind.group == "billing":
            return "balance"
        return self.kind.group

    @property
    def needs_action(self) -> bool:
        """Whether the event asks the user to act: its kind says so, or the status it reports."""
        return self.kind.facts.needs_action or status_needs_action(self.status)

    @property
    def severity(self) -> Severity:
        """How bad it is; a bare status change is as bad as its new status."""
        known = ConnectionStatus.of(self.status) if self.kind is Kind.STATUS else None
        return STATUS_FACTS[known].severity if known is not None else self.kind.facts.severity

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
        known = ConnectionStatus.of(status)
        kind = STATUS_KINDS[known] if known in STATUS_KINDS else Kind.STATUS if status else Kind.CHANGED
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


#: Server times outside this are no times: within a day of datetime's ends, showing one in
#: the local zone (``astimezone``) raises OverflowError wherever it is shown.
_TIME_RANGE = (datetime.min.replace(tzinfo=timezone.utc) + timedelta(days=1),
               datetime.max.replace(tzinfo=timezone.utc) - timedelta(days=1))


def _time(value: Any) -> datetime | None:
    text = _text(value)
    if text is None:
        return None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (ValueError, OverflowError):
        return None
    parsed = parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
    return parsed if _TIME_RANGE[0] <= parsed <= _TIME_RANGE[1] else None


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
