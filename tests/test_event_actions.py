"""core.event_actions: which buttons an event or connection offers, and their URLs (no Qt)."""

from __future__ import annotations

from vendo_tray.client import Balance, Connection
from vendo_tray.core.event_actions import (
    MANAGE,
    OPEN_DASHBOARD,
    REAUTHORIZE,
    TOP_UP,
    LinkAction,
    connection_action,
    event_actions,
)
from vendo_tray.core.kinds import normalize
from vendo_tray.core.links import Links
from vendo_tray.core.state import Snapshot

BASE = "https://vendo.run"
KEY = "vendo_sk_test_abc"
GMAIL = Connection(id="conn_g", slug="gmail", display_name="Gmail", status="needs_reauth")


def test_reauth_event_offers_reauthorize_while_still_needed() -> None:
    links = Links(BASE, lambda: KEY)
    event = normalize("connection.status_changed",
                      {"id": "e1", "slug": "gmail", "connection_id": "conn_g", "status": "needs_reauth"})
    actions = event_actions(event, Snapshot(connections=(GMAIL,)), links)
    assert [a.label for a in actions] == [REAUTHORIZE, OPEN_DASHBOARD]
    assert actions[0].url == links.reauthorize("gmail", "conn_g")
    assert actions[1].url == f"{BASE}/dashboard/connections/conn_g"
    healthy = Snapshot(connections=(Connection(id="conn_g", slug="gmail", display_name="Gmail",
                                               status="connected"),))
    assert [a.label for a in event_actions(event, healthy, links)] == [OPEN_DASHBOARD]


def test_unknown_connection_goes_by_the_event_and_keeps_the_key_out_when_asked() -> None:
    links = Links(BASE, lambda: KEY, keep_key_out=True)
    event = normalize("connection.error", {"slug": "jira", "message": "boom"}, sse_id="7")
    actions = event_actions(event, Snapshot(), links)
    assert [a.label for a in actions] == [REAUTHORIZE, OPEN_DASHBOARD]
    assert all(KEY not in a.url for a in actions)


def test_balance_events_offer_top_up_through_the_allowlist() -> None:
    links = Links(BASE, lambda: KEY)
    low = normalize("billing.balance_changed", {"id": "b1", "remaining_micros": 100})
    good = Snapshot(balance=Balance(credits_remaining_micros=100, top_up_url=f"{BASE}/billing?from=tray"))
    evil = Snapshot(balance=Balance(credits_remaining_micros=100, top_up_url="https://evil.example/pay"))
    assert event_actions(low, good, links)[0] == LinkAction(TOP_UP, f"{BASE}/billing?from=tray")
    assert event_actions(low, evil, links)[0] == LinkAction(TOP_UP, f"{BASE}/billing")
    cap = normalize("billing.cap_tripped", {"id": "c1", "window": "daily"})
    assert event_actions(cap, good, links) == [LinkAction(OPEN_DASHBOARD, f"{BASE}/dashboard")]


def test_connection_rows_and_an_unusable_base_url() -> None:
    links = Links(BASE, lambda: KEY)
    assert connection_action(GMAIL, links).label == REAUTHORIZE
    fine = Connection(id="conn_s", slug="slack", display_name="Slack", status="connected")
    assert connection_action(fine, links) == LinkAction(MANAGE, f"{BASE}/dashboard/connections/conn_s")
    broken = Links("ftp://nowhere", lambda: KEY)
    assert connection_action(fine, broken) is None
    event = normalize("deployment.updated", {"id": "d1"})
    assert event_actions(event, Snapshot(), broken) == []
