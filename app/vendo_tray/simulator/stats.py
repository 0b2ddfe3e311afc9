"""What the simulator saw, so tests can assert on the server side of the wire."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass
class SimStats:
    """Counters updated by the server loop; read them from any thread.

    ``last_event_ids`` has one entry per events-stream request: the
    ``Last-Event-ID`` header it carried, or None.  Header names are lower case.
    ``open_streams`` counts event streams whose response is still open, which
    is how a test proves a client leaks no connection.
    """

    open_streams: int = 0
    streams_opened: int = 0
    requests: Counter[str] = field(default_factory=Counter)
    responses: Counter[tuple[str, int]] = field(default_factory=Counter)
    last_event_ids: list[str | None] = field(default_factory=list)
    last_headers: dict[str, str] = field(default_factory=dict)
    headers_by_path: dict[str, dict[str, str]] = field(default_factory=dict)

    def reset(self) -> None:
        """Forget history (not the open stream count, which reflects live sockets)."""
        self.streams_opened = 0
        self.requests.clear()
        self.responses.clear()
        self.last_event_ids.clear()
        self.last_headers = {}
        self.headers_by_path.clear()
