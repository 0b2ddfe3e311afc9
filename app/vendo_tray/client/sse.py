"""An incremental Server-Sent Events decoder: bytes in, events out.

It follows the WHATWG HTML standard, section "Event stream interpretation",
to the letter, because the off-the-shelf decoders we measured do not:
httpx-sse 0.4 turns a keep-alive comment after an ``id:`` into an empty
phantom event, keeps a leading BOM, and drops ``retry:`` between events.
The rules, each covered by tests/test_sse.py:

- lines end in CR, LF or CRLF, and a CR ending one read followed by an LF
  starting the next is ONE line end;
- one leading U+FEFF BOM is stripped;
- lines starting with ``:`` are comments (keep-alives) and ignored;
- ``field: value`` loses only the single space after the colon;
- a blank line dispatches; a block without any ``data`` line dispatches
  nothing (but still commits its ``id``), and the event type is reset;
- the last event id is kept across events; an ``id`` containing NUL is ignored;
- ``retry`` counts only when it is all ASCII digits;
- bytes are UTF-8 decoded with replacement characters whatever the
  Content-Type charset claims;
- an unterminated final block is discarded (nothing to do: it is simply
  never dispatched).

Hostile or broken servers can send endless lines, so each line and each
event is size-capped.  An oversized frame (a block with a line or data over
the cap) is dropped with a warning and the decoder resynchronises at the next
blank line; while it skips, it keeps no more than the current read in memory.
An oversized comment is merely skipped: it could not have changed the event.

Speed matters (this sits under every event the app sees), so the decoder
works on whole reads: it finds line ends with ``bytes.rfind``, normalises CR
and CRLF with two ``bytes.replace`` calls, decodes all complete lines with
one ``bytes.decode`` and splits them with ``str.split``.  Decoding per read
instead of per line gives the same text: CR and LF are ASCII and can never
sit inside a UTF-8 sequence, so replacement characters land identically.
"""

from __future__ import annotations

import logging
from typing import NamedTuple

log = logging.getLogger(__name__)

#: Default cap for one line (in bytes) and for one event's data (in decoded characters).
DEFAULT_MAX_SIZE = 1024 * 1024

_BOM = b"\xef\xbb\xbf"
#: Stands in for a line over the cap.  A decoded line can never contain LF, so this
#: cannot collide with real input; _interpret reaches it only after every real field name.
_OVERSIZED = b"\n"
_OVERSIZED_LINE = "\n"
_LF = 10
_CR = 13


class ServerSentEvent(NamedTuple):
    """One dispatched event, as the spec's MessageEvent would carry it.

    ``event`` is the type ("message" when the block had no ``event:`` line),
    ``data`` the data buffer without its final LF, ``id`` the last event id
    string at dispatch time ("" when the server never set one).  A NamedTuple
    because it is built once per event on the hot path and costs half a frozen
    dataclass.
    """

    event: str
    data: str
    id: str


# NamedTuple's generated __new__ is a Python function; calling tuple.__new__ directly
# builds the same object at half the cost, once per event.
_new_event = tuple.__new__


class SSEDecoder:
    """Feed it bytes as they arrive; it returns the events they complete.

    One decoder serves one HTTP response (the BOM rule applies to the start
    of each stream).  To resume after a reconnect, start a new decoder with
    the previous one's :attr:`last_event_id`.
    """

    __slots__ = (
        "_max_line", "_max_event", "_head", "_started", "_buf", "_skip_lf", "_skipping_line",
        "_dropping_block", "_data", "_more", "_size", "_event", "_id_buffer", "last_event_id",
        "retry", "dropped",
    )

    def __init__(self, last_event_id: str = "", *, max_line: int = DEFAULT_MAX_SIZE,
                 max_event: int = DEFAULT_MAX_SIZE) -> None:
        # An event can never be smaller than one of its lines; keeping the line cap at or
        # below the event cap lets the hot loop skip the size check for one-line events.
        self._max_line = min(max_line, max_event)
        self._max_event = max_event
        self._head = b""                 # bytes held back until we know whether a BOM starts the stream
        self._started = False            # BOM question settled
        self._buf = bytearray()          # the current, unterminated line
        self._skip_lf = False            # the last read ended in CR: an LF starting the next one is part of it
        self._skipping_line = False      # inside an oversized line: discard up to its line end
        self._dropping_block = False     # the current block had an oversized part: dispatch nothing
        self._data: str | None = None   # the data buffer; None until the block's first data line
        self._more: list[str] | None = None  # every data line, once there is a second one
        self._size = 0                   # characters in the joined data lines of ``_more``
        self._event = ""
        self._id_buffer = last_event_id
        #: The spec's "last event ID string": committed at each blank line, kept across
        #: events, and what a reconnect sends as ``Last-Event-ID``.
        self.last_event_id = last_event_id
        #: The last valid ``retry:`` value in milliseconds, or None if the server never sent one.
        self.retry: int | None = None
        #: How many oversized frames were dropped (a log line was written for each).
        self.dropped = 0

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        """Decode one read; returns the events whose blank line arrived in it."""
        if not self._started:
            chunk = self._head + chunk
            if len(chunk) < len(_BOM) and _BOM.startswith(chunk):
                self._head = chunk      # could still become a BOM: wait for more
                return []
            self._head = b""
            self._started = True
            if chunk.startswith(_BOM):
                chunk = chunk[len(_BOM):]
        if not chunk:
            return []
        if self._skip_lf:
            self._skip_lf = False
            if chunk[0] == _LF:
                chunk = chunk[1:]
                if not chunk:
                    return []
        if self._skipping_line:
            chunk = self._skip_oversized_line(chunk)
            if not chunk:
                return []

        end = max(chunk.rfind(b"\n"), chunk.rfind(b"\r"))
        if end < 0:
            self._buf += chunk
            if len(self._buf) > self._max_line:
                self._oversized_line(self._buf[:1] == b":")
                self._buf = bytearray()
            return []

        if self._buf:
            self._buf += chunk[: end + 1]
            complete = bytes(self._buf)
        else:
            complete = chunk[: end + 1]
        rest = chunk[end + 1:]
        rest_too_long = len(rest) > self._max_line
        self._buf = bytearray() if rest_too_long else bytearray(rest)
        if not rest and complete[-1] == _CR:
            self._skip_lf = True        # the read ended mid line end, perhaps: CR now, LF next
        if b"\r" in complete:
            complete = complete.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        if len(complete) > self._max_line:
            lines = [line.decode("utf-8", "replace") for line in self._cap_lines(complete)]
        else:
            lines = complete.decode("utf-8", "replace").split("\n")
            lines.pop()                 # the empty tail after the final line end
        events = self._interpret(lines)
        if rest_too_long:
            # The unterminated tail already breaks the cap: skip to its line end.
            self._oversized_line(rest[:1] == b":")
        return events

    def _oversized_line(self, is_comment: bool) -> None:
        """Skip the rest of a line over the cap; unless it is a comment, drop its block too."""
        self._skipping_line = True
        if is_comment:
            log.debug("SSE comment longer than %d bytes skipped", self._max_line)
        else:
            self._drop(f"line longer than {self._max_line} bytes")

    def _skip_oversized_line(self, chunk: bytes) -> bytes:
        """Discard the rest of an oversized line; return what follows its line end."""
        lf = chunk.find(b"\n")
        cr = chunk.find(b"\r")
        if lf < 0 and cr < 0:
            return b""
        end = lf if cr < 0 else cr if lf < 0 else min(lf, cr)
        self._skipping_line = False
        if chunk[end] == _CR:
            if end + 1 == len(chunk):
                self._skip_lf = True
            elif chunk[end + 1] == _LF:
                end += 1
        return chunk[end + 1:]

    def _cap_lines(self, complete: bytes) -> list[bytes]:
        """Split LF-terminated bytes into lines, replacing oversized ones.

        Only reached when one read holds more than a line's worth of bytes,
        so the fast path never pays for the per-line length check.
        """
        lines = complete.split(b"\n")
        lines.pop()
        # An oversized comment becomes an empty comment; anything else the drop marker.
        return [line if len(line) <= self._max_line else b":" if line[:1] == b":" else _OVERSIZED
                for line in lines]

    def _drop(self, why: str) -> None:
        """Throw away the block being assembled (its blank line will dispatch nothing)."""
        self._note_drop(why, self._dropping_block, self._event)
        self._dropping_block = True
        self._data = None
        self._more = None

    def _note_drop(self, why: str, already_dropping: bool, event: str) -> None:
        if not already_dropping:
            self.dropped += 1
            log.warning("SSE frame dropped: %s (event type %r so far); the stream goes on",
                        why, (event or "message")[:80])

    def _interpret(self, lines: list[str]) -> list[ServerSentEvent]:
        """Apply the spec's per-line steps to complete lines.

        This is the hot loop, so the state lives in locals, the data buffer of
        a one-line event is a plain string (None = no data line yet), and the
        common spellings ("data: ", "id: ", "event: ") are recognised by prefix
        before the general split-at-the-first-colon path.  A prefix test is
        exact: "data: " at the start means field "data" with its one space.  A single data line can
        not break the event cap (it already passed the line cap, which is no
        larger), so the event size is checked only from the second data line on.
        Those lines are collected in a list and joined once at dispatch: appending
        to a string would copy the whole buffer per line, quadratic in the number
        of lines, which a hostile server could use to freeze the loop for minutes.
        """
        out: list[ServerSentEvent] = []
        emit = out.append
        data = self._data
        more = self._more
        size = self._size
        event = self._event
        id_buffer = self._id_buffer
        committed = self.last_event_id
        dropping = self._dropping_block
        max_event = self._max_event
        for line in lines:
            if not line:
                # Blank line: dispatch.  The id buffer is committed even without data.
                committed = id_buffer
                if data is not None:
                    if more is not None:
                        data = "\n".join(more)
                        more = None
                    if not dropping:
                        emit(_new_event(ServerSentEvent, (event or "message", data, id_buffer)))
                    data = None
                event = ""
                dropping = False
                continue
            first = line[0]                 # one cheap index picks the one prefix worth testing
            if first == "d" and line.startswith("data: "):
                value = line[6:]
            elif first == "i" and line.startswith("id: "):
                value = line[4:]
                if "\x00" not in value:
                    id_buffer = value
                continue
            elif first == "e" and line.startswith("event: "):
                event = line[7:]
                continue
            elif first == ":":
                continue                    # a comment, e.g. the ": ping" keep-alive
            else:
                # The general rule: the field name runs to the first colon, and one
                # space after it is dropped.
                colon = line.find(":")
                if colon < 0:
                    name, value = line, ""
                else:
                    name = line[:colon]
                    value = line[colon + 2:] if line.startswith(" ", colon + 1) else line[colon + 1:]
                if name == "id":
                    if "\x00" not in value:
                        id_buffer = value
                    continue
                if name == "event":
                    event = value
                    continue
                if name == "retry":
                    if value.isascii() and value.isdigit():
                        self.retry = int(value)
                    continue
                if name == _OVERSIZED_LINE:
                    self._note_drop(f"line longer than {self._max_line} bytes", dropping, event)
                    dropping, data, more = True, None, None
                    continue
                if name != "data":
                    continue                # an unknown field: ignored, as the spec says
            # a data line
            if dropping:
                continue
            if data is None:
                data = value
                continue
            if more is None:
                more = [data]
                size = len(data)
            more.append(value)
            size += 1 + len(value)
            if size > max_event:
                self._note_drop(f"event data longer than {max_event} characters", dropping, event)
                dropping, data, more = True, None, None
        self._data = data
        self._more = more
        self._size = size
        self._event = event
        self._id_buffer = id_buffer
        self.last_event_id = committed
        self._dropping_block = dropping
        return out
