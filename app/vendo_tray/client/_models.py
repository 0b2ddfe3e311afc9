"""Plain data the client hands out: events off the stream and REST shapes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal


@dataclass(frozen=True, slots=True)
class Event:
    """One dispatched server-sent event, shaped like Vendo's SDK's.

    ``kind`` is the SSE ``event:`` name ("message" when absent); ``data`` is
    the parsed JSON value when it parses, else the raw string; ``id`` is the
    stream's last event id at dispatch time.
    """

    kind: str
    data: Any
    id: str | None = None

    @property
    def type(self) -> str:
        """The same value as ``kind`` (the TS and Swift SDKs call it type)."""
        return self.kind


StreamPhase = Literal["connecting", "open", "backoff", "closed"]


@dataclass(frozen=True, slots=True)
class StreamStatus:
    """What the subscription is doing, for a UI that shows it.

    ``delay`` is the wait before the next attempt (phase "backoff");
    ``failures`` counts consecutive failed attempts.
    """

    phase: StreamPhase
    failures: int = 0
    delay: float | None = None
    http_status: int | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Connection:
    """One entry of ``GET /api/deployments/me/connections``."""

    id: str | None
    slug: str
    display_name: str
    status: str
    category: str | None = None
    error_message: str | None = None
    setup_url: str | None = None
    logo_url: str | None = None
    brand_color: str | None = None
    docs_url: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Balance:
    """``GET /api/billing/balance``."""

    credits_remaining_micros: int
    currency: str = "USD"
    top_up_url: str | None = None


@dataclass(frozen=True, slots=True)
class SpendCaps:
    """``GET /api/billing/spend-caps``; a cap of None means no cap."""

    daily_micros: int | None
    monthly_micros: int | None
    used_today_micros: int
    used_month_micros: int
