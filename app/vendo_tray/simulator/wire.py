"""How the simulator puts events on the wire, for both generations of Vendo.

Kept apart from the server so the exact bytes a client sees are decided in
one small place that can be read against ``docs/wire.md``:

* **live** (today's server): every ``data`` object carries ``id``, ``at`` and
  ``kind``; each connection event is followed by a second block under its
  legacy underscore alias with the *same* data (same ``data.id``).  The alias
  block repeats the primary block's SSE ``id:`` too, so one logical event has
  one id however many blocks it takes, and a client resuming with
  ``Last-Event-ID`` never gets half of a pair.
* **seed** (the first edition, docs/wire.md): ``data`` is just the documented fields, no
  alias blocks.  The SSE ``id:`` line is still sent so resumption works.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Literal

Wire = Literal["live", "seed"]
WIRES: tuple[Wire, ...] = ("live", "seed")

EVENTS_PATH = "/api/deployments/me/events"

#: Live kinds that the server sends a second time under an underscore name.
LEGACY_ALIASES: dict[str, str] = {
    "connection.connected": "connection_created",
    "connection.disconnected": "connection_deleted",
    "connection.status_changed": "connection_updated",
    "connection.changed": "connection_updated",
}

#: The heartbeat comment, terminated by a blank line (which dispatches nothing).
PING = b": ping\n\n"


@dataclass(frozen=True, slots=True)
class WireEvent:
    """One emitted event as it sits in the ring buffer: its id and its bytes.

    ``primary_len`` is the length of the first block, so a fault can cut the
    frame in the middle of the *event*, not in the middle of its alias.
    """

    sse_id: str
    kind: str
    data: Any
    frame: bytes
    primary_len: int
    wire: Wire


def now_iso() -> str:
    """The current UTC time as ISO 8601 with milliseconds and a ``Z``."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def check_kind(kind: str) -> str:
    """Refuse event names that would break the framing (a CR or LF ends a field)."""
    if not isinstance(kind, str) or not kind or "\n" in kind or "\r" in kind:
        raise ValueError(f"invalid event kind {kind!r}")
    return kind


def encode_block(sse_id: str | None, kind: str, data: Any) -> bytes:
    """One SSE block: ``id:``, ``event:``, one ``data:`` line of compact JSON, blank line.

    ``json.dumps`` escapes newlines inside strings, so the JSON is always one line.
    """
    payload = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    head = f"id: {sse_id}\n" if sse_id is not None else ""
    return f"{head}event: {kind}\ndata: {payload}\n\n".encode()


def build_event(sse_id: str, kind: str, data: dict[str, Any] | None, wire: Wire) -> WireEvent:
    """Stamp ``data`` as the chosen wire does and encode the block(s)."""
    check_kind(kind)
    fields = dict(data or {})
    if wire == "live":
        stamp = {"id": sse_id, "at": now_iso(), "kind": kind}
        fields = {**stamp, **{k: v for k, v in fields.items() if k not in stamp}}
    primary = encode_block(sse_id, kind, fields)
    frame = primary
    alias = LEGACY_ALIASES.get(kind) if wire == "live" else None
    if alias is not None:
        frame += encode_block(sse_id, alias, fields)
    return WireEvent(sse_id=sse_id, kind=kind, data=fields, frame=frame,
                     primary_len=len(primary), wire=wire)


def malformed_json_frame() -> bytes:
    """A block whose data line is cut-off JSON; a client must keep it as a string."""
    return b'event: connection.changed\ndata: {"slug": "gmail", "status": \n\n'


def invalid_utf8_frame() -> bytes:
    """A block with bytes that are not UTF-8; a client must decode with U+FFFD."""
    return b'event: connection.changed\ndata: {"slug": "gm\xff\xfeail", "note": "bad \xc3\x28 byte"}\n\n'


def oversized_prefix() -> bytes:
    """The start of the oversized block; the caller streams the padding and the end."""
    return b'event: connection.changed\ndata: {"pad": "'


OVERSIZED_SUFFIX = b'"}\n\n'


def retry_frame(ms: int) -> bytes:
    """A ``retry:`` field on its own (the blank line after it dispatches nothing)."""
    return f"retry: {int(ms)}\n\n".encode()
