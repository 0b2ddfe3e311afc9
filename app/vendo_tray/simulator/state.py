"""What the simulated Vendo app "has": connections, balance, spend caps.

Each change returns the events a real server would send for it, in the
chosen wire generation, and does no I/O: the :class:`~.server.Simulator`
publishes them.  Not thread-safe on its own; the simulator serializes calls.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from vendo_tray.simulator.wire import Wire

#: Every status the live wire uses for a connection.
STATUSES = frozenset({"connected", "available", "pending_setup", "needs_reauth", "error", "revoked"})

#: The balance floor Vendo's own recipe uses for "low" (= $0.50).
LOW_BALANCE_MICROS = 500_000

#: Percent of a spend cap at which the live server warns.
CAP_WARN_PCT = 80

Emission = tuple[str, dict[str, Any]]


@dataclass
class SimConnection:
    """One integration of the app, as the connections endpoint lists it."""

    slug: str
    display_name: str
    category: str
    brand_color: str
    status: str = "available"
    id: str | None = None
    error_message: str | None = None
    profile: str = "default"
    generation: int = 0
    updated_at: str = field(default_factory=lambda: _now())

    def as_json(self, base_url: str) -> dict[str, Any]:
        return {
            "id": self.id,
            "slug": self.slug,
            "display_name": self.display_name,
            "category": self.category,
            "profile": self.profile,
            "status": self.status,
            "error_message": self.error_message,
            "setup_url": f"{base_url}/connections/connect/{self.slug}",
            "logo_url": f"{base_url}/logos/{self.slug}.svg",
            "brand_color": self.brand_color,
            "docs_url": f"{base_url}/docs/integrations/{self.slug}",
            "updated_at": self.updated_at,
        }


#: slug, display name, category, brand colour, initial status.
CATALOG: tuple[tuple[str, str, str, str, str], ...] = (
    ("gmail", "Gmail", "email", "#EA4335", "connected"),
    ("slack", "Slack", "communication", "#4A154B", "connected"),
    ("openai", "OpenAI", "ai", "#10A37F", "connected"),
    ("github", "GitHub", "developer-tools", "#181717", "connected"),
    ("notion", "Notion", "productivity", "#000000", "connected"),
    ("linear", "Linear", "project-management", "#5E6AD2", "available"),
    ("stripe", "Stripe", "payments", "#635BFF", "available"),
    ("hubspot", "HubSpot", "crm", "#FF7A59", "connected"),
)

INITIAL_BALANCE_MICROS = 12_400_000


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def connection_id(slug: str, generation: int) -> str:
    """A stable-looking opaque id; a reconnect after a disconnect gets a new one."""
    digest = hashlib.sha256(f"{slug}:{generation}".encode()).hexdigest()
    return f"conn_{digest[:20]}"


class SimState:
    """Connections, balance and spend caps, with the events each change causes."""

    def __init__(self, low_balance_micros: int = LOW_BALANCE_MICROS) -> None:
        self.low_balance_micros = low_balance_micros
        self.connections: dict[str, SimConnection] = {}
        for slug, name, category, color, status in CATALOG:
            conn = SimConnection(slug=slug, display_name=name, category=category, brand_color=color)
            if status == "connected":
                conn.generation = 1
                conn.id = connection_id(slug, 1)
            conn.status = status
            self.connections[slug] = conn
        self.balance_micros = INITIAL_BALANCE_MICROS
        self.caps: dict[str, int | None] = {"daily_micros": 5_000_000, "monthly_micros": 100_000_000}
        self.used_today_micros = 1_250_000
        self.used_month_micros = 38_600_000

    # -- connections -------------------------------------------------------

    def get(self, slug: str) -> SimConnection:
        try:
            return self.connections[slug]
        except KeyError:
            raise KeyError(f"no connection {slug!r}; known: {', '.join(self.connections)}") from None

    def set_status(self, slug: str, status: str, error_message: str | None, wire: Wire) -> list[Emission]:
        """Move a connection to ``status``; an unchanged status and message emit nothing."""
        if status not in STATUSES:
            raise ValueError(f"unknown status {status!r}; known: {', '.join(sorted(STATUSES))}")
        conn = self.get(slug)
        message = error_message if status == "error" else None
        if status == "error" and not message:
            message = f"{conn.display_name} returned an unexpected error."
        if conn.status == status and conn.error_message == message:
            return []
        old_id, was_linked = conn.id, conn.id is not None
        conn.status, conn.error_message, conn.updated_at = status, message, _now()
        if status == "available":
            conn.id = None
        elif conn.id is None:
            conn.generation += 1
            conn.id = connection_id(slug, conn.generation)
        if wire == "seed":
            return self._seed_status_events(conn, old_id)
        if status == "connected" and not was_linked:
            return [("connection.connected", {"slug": slug, "connection_id": conn.id})]
        if status == "available" and was_linked:
            return [("connection.disconnected", {"slug": slug, "connection_id": old_id})]
        return [("connection.status_changed", {"slug": slug, "connection_id": conn.id, "status": status})]

    @staticmethod
    def _seed_status_events(conn: SimConnection, old_id: str | None) -> list[Emission]:
        """The seed edition has a kind per outcome and no generic status change."""
        cid = conn.id or old_id
        if conn.status == "connected":
            return [("connection.connected", {"slug": conn.slug, "connection_id": cid})]
        if conn.status in ("available", "revoked"):
            return [("connection.disconnected", {"slug": conn.slug, "connection_id": cid})]
        if conn.status == "needs_reauth":
            return [("connection.needs_reauth", {"slug": conn.slug, "connection_id": cid})]
        if conn.status == "error":
            return [("connection.error", {"slug": conn.slug, "message": conn.error_message})]
        return []  # pending_setup: the seed has no word for it

    def touch(self, slug: str) -> list[Emission]:
        """A connection's settings changed without a status change."""
        conn = self.get(slug)
        conn.updated_at = _now()
        return [("connection.changed", {"slug": slug, "connection_id": conn.id})]

    def connections_json(self, base_url: str) -> list[dict[str, Any]]:
        return [c.as_json(base_url) for c in self.connections.values()]

    # -- billing -------------------------------------------------------------

    def set_balance(self, micros: int, wire: Wire) -> list[Emission]:
        if isinstance(micros, bool) or not isinstance(micros, int) or micros < 0:
            raise ValueError("balance must be an int >= 0 (micro-dollars)")
        self.balance_micros = micros
        if wire == "live":
            return [("billing.balance_changed", {"remaining_micros": micros})]
        if micros == 0:
            return [("billing.balance_exhausted", {})]
        if micros < self.low_balance_micros:
            return [("billing.balance_low", {"credits_remaining_micros": micros})]
        return []

    def record_usage(self, provider: str, micros: int, wire: Wire) -> list[Emission]:
        """Spend ``micros``: usage, the new balance, and any spend-cap warning or trip."""
        if micros <= 0:
            raise ValueError("usage must be positive")
        out: list[Emission] = []
        if wire == "live":
            out.append(("billing.usage_recorded", {"provider": provider, "micros": micros}))
        before = {"daily": self.used_today_micros, "monthly": self.used_month_micros}
        self.used_today_micros += micros
        self.used_month_micros += micros
        after = {"daily": self.used_today_micros, "monthly": self.used_month_micros}
        out += self.set_balance(max(0, self.balance_micros - micros), wire)
        if wire == "live":
            for window in ("daily", "monthly"):
                cap = self.caps[f"{window}_micros"]
                if not cap:
                    continue
                if before[window] < cap <= after[window]:
                    out.append(("billing.cap_tripped", {"window": window}))
                elif before[window] < cap * CAP_WARN_PCT / 100 <= after[window]:
                    out.append(("billing.cap_warned", {"window": window, "pct": CAP_WARN_PCT}))
        return out

    def spend_caps_json(self) -> dict[str, Any]:
        return {
            "daily_micros": self.caps["daily_micros"],
            "monthly_micros": self.caps["monthly_micros"],
            "used_today_micros": self.used_today_micros,
            "used_month_micros": self.used_month_micros,
        }

    def balance_json(self, base_url: str) -> dict[str, Any]:
        return {"credits_remaining_micros": self.balance_micros, "currency": "USD",
                "top_up_url": f"{base_url}/billing"}
