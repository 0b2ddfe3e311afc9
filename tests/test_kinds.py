"""core.kinds.normalize: every wire kind of both generations, and hostile data."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone
from typing import Any

import pytest

from vendo_tray.core.kinds import (
    KIND_FACTS,
    MAX_TEXT,
    OPEN_DASHBOARD,
    REAUTHORIZE,
    STATUS_FACTS,
    TOP_UP,
    ConnectionStatus,
    Kind,
    RecentKeys,
    Refetch,
    Severity,
    VendoEvent,
    format_micros,
    normalize,
)

T0 = datetime(2026, 5, 2, 12, 0, tzinfo=timezone.utc)


def live(kind: str, **data: Any) -> dict[str, Any]:
    """A live-server data object: every one carries id, at and kind."""
    return {"id": "evt_1", "at": "2026-05-02T11:59:58Z", "kind": kind, **data}


# (wire kind, data, expected kind, expected fields)
SEED = [
    ("connection.connected", {"slug": "slack", "connection_id": "c1"}, Kind.CONNECTED,
     {"slug": "slack", "connection_id": "c1", "subject": "connection:slack"}),
    ("connection.disconnected", {"slug": "slack", "connection_id": "c1"}, Kind.DISCONNECTED,
     {"slug": "slack", "subject": "connection:slack"}),
    ("connection.needs_reauth", {"slug": "slack", "connection_id": "c1"}, Kind.NEEDS_REAUTH,
     {"slug": "slack", "connection_id": "c1", "summary": "slack needs re-authorization"}),
    ("connection.error", {"slug": "github", "message": "token revoked"}, Kind.ERROR,
     {"slug": "github", "message": "token revoked", "summary": "github error: token revoked"}),
    ("billing.balance_low", {"credits_remaining_micros": 420_000}, Kind.BALANCE_LOW,
     {"remaining_micros": 420_000, "subject": "balance", "summary": "Balance low: $0.42"}),
    ("billing.balance_exhausted", {}, Kind.BALANCE_EXHAUSTED, {"subject": "balance"}),
    ("billing.balance_exhausted", None, Kind.BALANCE_EXHAUSTED, {"key": None}),
    ("deployment.updated", {}, Kind.DEPLOYMENT_UPDATED, {"subject": "deployment"}),
]

LIVE = [
    ("connection.connected", live("connection.connected", slug="slack", connection_id="c1"),
     Kind.CONNECTED, {"key": "evt_1", "at": datetime(2026, 5, 2, 11, 59, 58, tzinfo=timezone.utc)}),
    ("connection.disconnected", live("connection.disconnected", slug="slack", connection_id="c1"),
     Kind.DISCONNECTED, {"key": "evt_1"}),
    ("connection.changed", live("connection.changed", slug="slack", connection_id="c1"),
     Kind.CHANGED, {"subject": "connection:slack"}),
    ("connection.status_changed", live("connection.status_changed", slug="s", connection_id="c", status="connected"),
     Kind.CONNECTED, {"status": "connected"}),
    ("connection.status_changed", live("connection.status_changed", slug="s", connection_id="c", status="needs_reauth"),
     Kind.NEEDS_REAUTH, {"status": "needs_reauth", "subject": "connection:s"}),
    ("connection.status_changed", live("connection.status_changed", slug="s", connection_id="c", status="error"),
     Kind.ERROR, {"status": "error"}),
    ("connection.status_changed", live("connection.status_changed", slug="s", status="available"),
     Kind.STATUS, {"status": "available", "summary": "s is now available"}),
    ("connection.status_changed", live("connection.status_changed", slug="s", status="pending_setup"),
     Kind.STATUS, {"status": "pending_setup"}),
    ("connection.status_changed", live("connection.status_changed", slug="s", status="revoked"),
     Kind.STATUS, {"status": "revoked"}),
    ("connection.status_changed", live("connection.status_changed", slug="s"), Kind.CHANGED, {"status": None}),
    ("billing.usage_recorded", live("billing.usage_recorded", provider="openai", micros=1234),
     Kind.USAGE, {"provider": "openai", "micros": 1234, "subject": "balance"}),
    ("billing.balance_changed", live("billing.balance_changed", remaining_micros=2_500_000),
     Kind.BALANCE, {"remaining_micros": 2_500_000, "summary": "Balance $2.50"}),
    ("billing.balance_changed", live("billing.balance_changed", remaining_micros=0),
     Kind.BALANCE, {"remaining_micros": 0}),
    ("billing.cap_warned", live("billing.cap_warned", window="daily", pct=80),
     Kind.CAP_WARNED, {"window": "daily", "pct": 80.0, "subject": "cap:daily", "summary": "Daily cap at 80%"}),
    ("billing.cap_tripped", live("billing.cap_tripped", window="monthly"),
     Kind.CAP_TRIPPED, {"window": "monthly", "subject": "cap:monthly", "summary": "Monthly cap reached"}),
]

ALIASES = [
    ("connection_created", live("connection_created", slug="slack", connection_id="c1"), Kind.CONNECTED, {}),
    ("connection_deleted", live("connection_deleted", slug="slack", connection_id="c1"), Kind.DISCONNECTED, {}),
    ("connection_updated", live("connection_updated", slug="s", status="needs_reauth"), Kind.NEEDS_REAUTH, {}),
    ("connection_updated", live("connection_updated", slug="s", status="error"), Kind.ERROR, {}),
    ("connection_updated", live("connection_updated", slug="s", status="connected"), Kind.CONNECTED, {}),
    ("connection_updated", live("connection_updated", slug="s", status="revoked"), Kind.STATUS, {}),
    ("connection_updated", live("connection_updated", slug="s"), Kind.CHANGED, {}),
]

UNKNOWN = [
    ("connection.exploded", {"slug": "x"}, Kind.UNKNOWN, {"summary": "Unknown event 'connection.exploded'"}),
    ("billing.something_new", {"remaining_micros": 0}, Kind.UNKNOWN, {}),
    ("message", "plain text data", Kind.UNKNOWN, {"data": "plain text data"}),
    ("", {}, Kind.UNKNOWN, {"wire_kind": "message"}),
    ("stream.error", {"message": "gave up"}, Kind.STREAM_ERROR, {"subject": "stream"}),
]


@pytest.mark.parametrize(("wire", "data", "kind", "fields"), SEED + LIVE + ALIASES + UNKNOWN)
def test_every_wire_kind_normalizes(wire: str, data: Any, kind: Kind, fields: dict[str, Any]) -> None:
    event = normalize(wire, data, received_at=T0)
    assert event.kind is kind
    if "wire_kind" not in fields:
        assert event.wire_kind == wire
    for name, expected in fields.items():
        assert getattr(event, name) == expected, name
    # Every kind has a label and a one-line summary.
    assert event.kind.label
    assert event.summary and "\n" not in event.summary


def test_unknown_kinds_are_kept_with_a_log_line(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="vendo_tray.core.kinds"):
        event = normalize("future.kind", {"id": "e9"})
    assert event.kind is Kind.UNKNOWN and event.key == "e9"
    assert "future.kind" in caplog.text


def test_an_alias_block_has_the_same_key_and_subject_as_the_dotted_event() -> None:
    data = live("connection.status_changed", slug="slack", connection_id="c1", status="needs_reauth")
    dotted = normalize("connection.status_changed", data, sse_id="41")
    alias = normalize("connection_updated", dict(data, kind="connection_updated"), sse_id="42")
    assert dotted.kind is alias.kind is Kind.NEEDS_REAUTH
    assert dotted.key == alias.key == "evt_1"        # data.id wins over the SSE id
    assert dotted.subject == alias.subject


@pytest.mark.parametrize(("data", "sse_id", "key"), [
    ({"id": "evt_7"}, "3", "evt_7"),
    ({}, "3", "3"),
    ({"id": ""}, "3", "3"),
    ({"id": None}, None, None),
    ({"id": 42}, None, "42"),          # an integer id is still an id
    ({"id": True}, "3", "3"),          # a bool is not
    ({"id": ["x"]}, "3", "3"),
    ({"id": 10**30}, "3", "3"),        # absurd ints are ignored
    ({"id": "a\x00b\nc"}, None, "abc"),
    (None, "5", "5"),
    ({}, 5, None),
])
def test_event_key(data: Any, sse_id: Any, key: str | None) -> None:
    assert normalize("connection.connected", data, sse_id=sse_id).key == key


HOSTILE = [
    # (data, attribute, expected)
    ({"slug": 123}, "slug", None),
    ({"slug": ["slack"]}, "slug", None),
    ({"slug": {"$ne": 1}}, "slug", None),
    ({"slug": True}, "slug", None),
    ({"slug": ""}, "slug", None),
    ({"slug": "\x00\x01\x1b[31m"}, "slug", "[31m"),
    ({"slug": "sla\nck\r\t"}, "slug", "slack"),
    ({"slug": "\u202eevil"}, "slug", "evil"),           # bidi override dropped
    ({"slug": "x" * 1_000_000}, "slug", "x" * MAX_TEXT),
    ({"message": "m" * 10_000}, "message", "m" * MAX_TEXT),
    ({"error_message": "from error_message"}, "message", "from error_message"),
    ({"message": 5, "error_message": "fallback"}, "message", "fallback"),
    ({"remaining_micros": "5"}, "remaining_micros", None),
    ({"remaining_micros": True}, "remaining_micros", None),
    ({"remaining_micros": False}, "remaining_micros", None),
    ({"remaining_micros": 5.0}, "remaining_micros", 5),
    ({"remaining_micros": 5.5}, "remaining_micros", None),
    ({"remaining_micros": float("nan")}, "remaining_micros", None),
    ({"remaining_micros": float("inf")}, "remaining_micros", None),
    ({"remaining_micros": 10**400}, "remaining_micros", None),
    ({"remaining_micros": 1e300}, "remaining_micros", None),
    ({"remaining_micros": -5}, "remaining_micros", -5),
    ({"remaining_micros": None, "credits_remaining_micros": 7}, "remaining_micros", 7),
    ({"remaining_micros": "x", "credits_remaining_micros": 7}, "remaining_micros", 7),
    ({"remaining_micros": 3, "credits_remaining_micros": 7}, "remaining_micros", 3),
    ({"pct": "80"}, "pct", None),
    ({"pct": True}, "pct", None),
    ({"pct": float("nan")}, "pct", None),
    ({"pct": float("-inf")}, "pct", None),
    ({"pct": 10**400}, "pct", None),
    ({"pct": 79.5}, "pct", 79.5),
    ({"at": "not a date"}, "at", None),
    ({"at": 1714650000}, "at", None),
    ({"at": "2026-05-02T12:00:00"}, "at", datetime(2026, 5, 2, 12, tzinfo=timezone.utc)),
    ({"at": "2026-05-02T14:00:00+02:00"}, "at", datetime(2026, 5, 2, 12, tzinfo=timezone.utc)),
    ({"at": "9" * 600}, "at", None),
    ({"at": "0001-01-01T00:00:00+05:00"}, "at", None),   # year 0 in UTC: no local time
    ({"at": "9999-12-31T23:59:59-05:00"}, "at", None),
    ({"status": 3}, "status", None),
    ({"window": ["daily"]}, "window", None),
]


@pytest.mark.parametrize(("data", "attribute", "expected"), HOSTILE)
def test_hostile_fields_degrade_to_safe_values(data: dict[str, Any], attribute: str, expected: Any) -> None:
    for wire in ("connection.error", "billing.balance_changed", "billing.cap_warned", "connection.status_changed"):
        event = normalize(wire, data)
        assert getattr(event, attribute) == expected, wire
        assert event.summary                     # never raises on what it got


@pytest.mark.parametrize("data", [
    None, 0, 1.5, "text", [], [1, 2], True, {"": ""}, {1: 2},
    {"slug": None, "status": None, "remaining_micros": None},
    json.loads('{"pct": NaN, "remaining_micros": Infinity, "micros": -Infinity}'),
])
@pytest.mark.parametrize("wire", ["connection.needs_reauth", "connection.status_changed", "connection_updated",
                                  "billing.balance_changed", "billing.balance_low", "billing.cap_warned",
                                  "billing.usage_recorded", "nonsense"])
def test_any_data_shape_normalizes_without_raising(wire: str, data: Any) -> None:
    event = normalize(wire, data)
    assert isinstance(event, VendoEvent)
    assert event.summary and event.subject and event.when


@pytest.mark.parametrize("wire", [None, 5, b"connection.connected", ["x"], "x" * 100_000, "a\x00b"])
def test_hostile_wire_kind(wire: Any) -> None:
    event = normalize(wire, {})
    assert event.kind is Kind.UNKNOWN
    assert len(event.wire_kind) <= MAX_TEXT and event.wire_kind.isprintable()


def test_subject_falls_back_to_connection_id_then_question_mark() -> None:
    assert normalize("connection.needs_reauth", {"connection_id": "c1"}).subject == "connection:c1"
    assert normalize("connection.needs_reauth", {}).subject == "connection:?"
    assert normalize("billing.cap_warned", {}).subject == "cap:?"


def test_when_prefers_the_server_time() -> None:
    assert normalize("connection.connected", {}, received_at=T0).when == T0
    assert normalize("connection.connected", {"at": "2026-01-01T00:00:00Z"}, received_at=T0).when.year == 2026


@pytest.mark.parametrize(("micros", "text"), [(None, "?"), (0, "$0.00"), (500_000, "$0.50"),
                                              (1_234_567_890, "$1,234.57"), (-2_500_000, "-$2.50")])
def test_format_micros(micros: int | None, text: str) -> None:
    assert format_micros(micros) == text


def test_recent_keys_dedupes_and_stays_bounded() -> None:
    keys = RecentKeys(size=3)
    assert keys.seen(None) is False and keys.seen(None) is False   # no id: never a duplicate
    assert [keys.seen(k) for k in ("a", "b", "a", "c", "d")] == [False, False, True, False, False]
    assert len(keys) == 3
    assert keys.seen("a") is True         # refreshed by its repeat, so kept
    assert keys.seen("b") is False        # evicted: the least recently seen goes first


# --------------------------------------------------------------- the table of facts per kind
@pytest.mark.parametrize("kind", list(Kind), ids=str)
def test_each_kind_has_complete_facts(kind: Kind) -> None:
    facts = KIND_FACTS[kind]
    assert facts.label.strip() and kind.label == facts.label
    assert isinstance(facts.severity, Severity)
    assert facts.buttons and set(facts.buttons) <= {REAUTHORIZE, OPEN_DASHBOARD, TOP_UP}
    # A kind makes the REST part of its group stale, and only that one.
    expected = {"connection": Refetch.CONNECTIONS, "billing": Refetch.BILLING}.get(kind.group)
    assert facts.refetch is expected
    assert (REAUTHORIZE in facts.buttons) == (kind.group == "connection")


def test_the_kinds_that_need_action_are_the_ones_the_user_must_fix() -> None:
    assert {k for k in Kind if k.facts.needs_action} == {
        Kind.NEEDS_REAUTH, Kind.ERROR, Kind.BALANCE_LOW, Kind.BALANCE_EXHAUSTED, Kind.CAP_TRIPPED}


@pytest.mark.parametrize("status", list(ConnectionStatus), ids=str)
def test_each_connection_status_has_complete_facts(status: ConnectionStatus) -> None:
    facts = STATUS_FACTS[status]
    assert facts.label.strip() and isinstance(facts.severity, Severity)
    assert facts.needs_action == (status in {ConnectionStatus.NEEDS_REAUTH, ConnectionStatus.ERROR,
                                             ConnectionStatus.REVOKED})


def test_a_status_change_to_revoked_needs_action_and_is_as_bad_as_revoked() -> None:
    event = normalize("connection.status_changed", {"slug": "slack", "status": "revoked"})
    assert event.kind is Kind.STATUS and event.needs_action
    assert event.severity is STATUS_FACTS[ConnectionStatus.REVOKED].severity
    unknown = normalize("connection.status_changed", {"slug": "slack", "status": "paused_by_vendo"})
    assert not unknown.needs_action and unknown.severity is Severity.INFO
