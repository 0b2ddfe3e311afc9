"""Realistic event history for window tests and screenshots.

The story is played on the simulator's own state (its connections catalog,
balance and caps), so every event has the shape the live server sends:
stamped with ``id``/``at``/``kind``, normalized by ``core.kinds.normalize``
exactly as the monitor does, and stored through a real ``Store``.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from typing import Any

from vendo_tray.client import Balance, Connection, SpendCaps
from vendo_tray.core.kinds import VendoEvent, normalize
from vendo_tray.core.state import Snapshot
from vendo_tray.simulator.state import SimState

BASE_URL = "https://vendo.run"
PROVIDERS = ("openai", "anthropic", "gmail", "slack", "notion")


def wire_event(seq: int, kind: str, data: dict[str, Any], at: datetime) -> VendoEvent:
    """One live-wire event as the monitor would record it."""
    sse_id = f"evt_k2x9_{seq:06d}"
    stamped = {**data, "id": sse_id, "at": at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
               "kind": kind}
    return normalize(kind, stamped, sse_id=sse_id, received_at=at + timedelta(milliseconds=120))


def story(count: int = 200, *, now: datetime | None = None, seed: int = 7,
          span: timedelta = timedelta(days=3)) -> tuple[list[VendoEvent], SimState]:
    """About ``count`` events, oldest first, spread over ``span`` before ``now``.

    Mostly usage and balance changes, with the connection trouble a real
    deployment sees: Slack needing re-authorization, a GitHub error, Notion
    revoked, a spend-cap warning, a deployment update.
    """
    now = now or datetime.now(timezone.utc)
    rng = random.Random(seed)
    sim = SimState()
    sim.used_today_micros = 0
    emissions: list[tuple[str, dict[str, Any]]] = []
    scripted = {
        count // 6: lambda: sim.set_status("github", "error", "GitHub API returned 401: token expired", "live"),
        count // 4: lambda: sim.set_status("linear", "connected", None, "live"),
        count // 3: lambda: sim.set_status("github", "connected", None, "live"),
        count // 2: lambda: [("deployment.updated", {})],
        (2 * count) // 3: lambda: sim.touch("hubspot"),
        (3 * count) // 4: lambda: sim.set_status("notion", "revoked", None, "live"),
        count - 12: lambda: sim.set_status("github", "error", "GitHub API returned 401: token expired", "live"),
        count - 5: lambda: sim.set_status("slack", "needs_reauth", None, "live"),
    }
    while len(emissions) < count:
        step = scripted.pop(len(emissions), None)
        if step is None:
            for key in list(scripted):
                if key < len(emissions):
                    step = scripted.pop(key)
                    break
        if step is not None:
            emissions += step()
            continue
        provider = rng.choice(PROVIDERS)
        emissions += sim.record_usage(provider, rng.randrange(2_000, 90_000), "live")
    emissions = emissions[:count]
    start = now - span
    gaps = sorted(rng.random() for _ in emissions)
    events = [wire_event(i + 1, kind, data, start + span * gap * 0.995)
              for i, ((kind, data), gap) in enumerate(zip(emissions, gaps, strict=True))]
    return events, sim


def snapshot_of(sim: SimState, *, taken_at: datetime | None = None) -> Snapshot:
    """The reconciler's view of the simulator's state."""
    connections = tuple(
        Connection(id=c["id"], slug=c["slug"], display_name=c["display_name"], status=c["status"],
                   category=c["category"], error_message=c["error_message"], setup_url=c["setup_url"],
                   logo_url=c["logo_url"], brand_color=c["brand_color"], docs_url=c["docs_url"], raw=c)
        for c in sim.connections_json(BASE_URL)
    )
    balance = sim.balance_json(BASE_URL)
    caps = sim.spend_caps_json()
    return Snapshot(
        connections=connections,
        balance=Balance(credits_remaining_micros=balance["credits_remaining_micros"],
                        currency=balance["currency"], top_up_url=balance["top_up_url"]),
        caps=SpendCaps(**caps),
        taken_at=taken_at or datetime.now(timezone.utc),
    )
