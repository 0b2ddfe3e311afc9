"""core.policy: every notification rule, table-driven, for the seed's and the live wire.

Time is fake throughout (a monotonic ``Clock`` and an aware ``Wall``), so no
test waits and none asserts on absolute times.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from vendo_tray.client import Balance, Connection
from vendo_tray.core import policy as policy_module
from vendo_tray.core.kinds import VendoEvent, normalize
from vendo_tray.core.links import Links
from vendo_tray.core.notices import ActionKind, Notice, Urgency, Withdraw
from vendo_tray.core.notify.gate import CATCH_UP_SECONDS
from vendo_tray.core.policy import (
    BODY_MAX,
    BURST_POPUPS,
    BURST_WINDOW,
    DEFAULT_NOTIFY,
    MAX_HOLD,
    MUTE_CHOICES,
    OFFLINE_AFTER,
    QUIET_SECONDS,
    SETTLE,
    TITLE_MAX,
    Policy,
    PolicyPrefs,
    in_one_day,
    in_one_hour,
    next_morning,
    plain,
)
from vendo_tray.core.runway import Basis, Runway
from vendo_tray.core.state import Mute, Phase, Snapshot

KEY = "vendo_sk_test_KEY"
TZ = timezone(timedelta(hours=2))


class Clock:
    """Monotonic seconds that move only when told."""

    def __init__(self) -> None:
        self.t = 5_000.0

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


class Wall:
    """Aware wall time that moves only when told."""

    def __init__(self) -> None:
        self.dt = datetime(2026, 5, 2, 14, 30, tzinfo=TZ)

    def __call__(self) -> datetime:
        return self.dt

    def advance(self, delta: timedelta) -> None:
        self.dt += delta


@dataclass
class Rig:
    policy: Policy
    clock: Clock
    wall: Wall
    out: list[Notice | Withdraw] = field(default_factory=list)

    def event(self, event: VendoEvent, snapshot: Snapshot | None = None) -> list[Notice | Withdraw]:
        got = self.policy.on_event(event, snapshot)
        self.out += got
        return got

    def spaced(self, events: Iterable[VendoEvent], snapshot: Snapshot | None = None,
               gap: float = BURST_WINDOW + 0.1) -> list[Notice | Withdraw]:
        """Feed events far enough apart that the burst rule never applies."""
        got: list[Notice | Withdraw] = []
        for event in events:
            got += self.event(event, snapshot)
            self.clock.advance(gap)
            got += self.tick()
        return got

    def tick(self) -> list[Notice | Withdraw]:
        got = self.policy.tick()
        self.out += got
        return got

    def run(self, seconds: float, step: float = 0.25) -> list[Notice | Withdraw]:
        got: list[Notice | Withdraw] = []
        for _ in range(int(seconds / step)):
            self.clock.advance(step)
            got += self.tick()
        return got


def rig(prefs: PolicyPrefs | None = None, *, links: Links | None = None, quiet: bool = False) -> Rig:
    clock, wall = Clock(), Wall()
    policy = Policy(prefs or PolicyPrefs(), links or Links("https://vendo.run", lambda: KEY, False),
                    clock=clock, now=wall)
    r = Rig(policy, clock, wall)
    if not quiet:
        clock.advance(QUIET_SECONDS + 1)
    return r


def notices(items: Iterable[Notice | Withdraw]) -> list[Notice]:
    return [i for i in items if isinstance(i, Notice)]


def prefs(**notify: bool) -> PolicyPrefs:
    return PolicyPrefs(notify={**DEFAULT_NOTIFY, **notify})


# ---------------------------------------------------------------- wire factories
_ids = itertools.count(1)


def seed(kind: str, **data: Any) -> VendoEvent:
    """A seed-edition event: the data the seed's table lists, and no id at all."""
    return normalize(kind, data)


def live(kind: str, **data: Any) -> VendoEvent:
    """A live event (data carries id, at and kind)."""
    return normalize(kind, {"id": f"evt_{next(_ids)}", "at": "2026-05-02T12:00:00Z", "kind": kind, **data})


def live_with_alias(kind: str, alias: str, **data: Any) -> list[VendoEvent]:
    """The live server's dotted event and its legacy alias block: same data, same id."""
    body = {"id": f"evt_{next(_ids)}", "at": "2026-05-02T12:00:00Z", **data}
    return [normalize(kind, {**body, "kind": kind}, sse_id="1"), normalize(alias, {**body, "kind": alias}, sse_id="2")]


def reauth(gen: str, slug: str = "slack", cid: str = "conn_1") -> list[VendoEvent]:
    if gen == "seed":
        return [seed("connection.needs_reauth", slug=slug, connection_id=cid)]
    return live_with_alias("connection.status_changed", "connection_updated",
                           slug=slug, connection_id=cid, status="needs_reauth")


def error(gen: str, slug: str = "github", message: str | None = "token revoked") -> list[VendoEvent]:
    if gen == "seed":
        return [seed("connection.error", slug=slug, message=message)]
    return live_with_alias("connection.status_changed", "connection_updated",
                           slug=slug, connection_id="conn_2", status="error")


def connected(gen: str, slug: str = "slack", cid: str = "conn_1") -> list[VendoEvent]:
    if gen == "seed":
        return [seed("connection.connected", slug=slug, connection_id=cid)]
    return (live_with_alias("connection.status_changed", "connection_updated",
                            slug=slug, connection_id=cid, status="connected")
            + live_with_alias("connection.connected", "connection_created", slug=slug, connection_id=cid))


def disconnected(gen: str, slug: str = "slack") -> list[VendoEvent]:
    if gen == "seed":
        return [seed("connection.disconnected", slug=slug, connection_id="conn_1")]
    return live_with_alias("connection.disconnected", "connection_deleted", slug=slug, connection_id="conn_1")


def low(gen: str, micros: int = 420_000) -> list[VendoEvent]:
    if gen == "seed":
        return [seed("billing.balance_low", credits_remaining_micros=micros)]
    return [live("billing.balance_changed", remaining_micros=micros)]


def exhausted(gen: str) -> list[VendoEvent]:
    if gen == "seed":
        return [seed("billing.balance_exhausted")]
    return [live("billing.balance_changed", remaining_micros=0)]


GENS = ["seed", "live"]
SNAPSHOT = Snapshot(
    connections=(
        Connection(id="conn_1", slug="slack", display_name="Slack", status="needs_reauth"),
        Connection(id="conn_2", slug="github", display_name="GitHub", status="error",
                   error_message="Bad credentials"),
    ),
    balance=Balance(credits_remaining_micros=0, top_up_url="https://vendo.run/billing/top-up"),
)


# ================================================================ what is notified
@pytest.mark.parametrize("gen", GENS)
def test_needs_reauth_notifies_once_with_a_reauthorize_button(gen: str) -> None:
    r = rig()
    got = []
    for event in reauth(gen):                         # live: the alias block comes right after
        got += r.event(event, SNAPSHOT)
    assert len(got) == 1
    notice = got[0]
    assert isinstance(notice, Notice)
    assert notice.subject == "connection:slack"
    assert notice.title == "Slack needs re-authorization"
    assert notice.urgency is Urgency.NORMAL
    assert [b.label for b in notice.buttons] == ["Re-authorize"]
    assert notice.default == notice.buttons[0]
    assert notice.default.kind is ActionKind.OPEN_URL
    url = urlsplit(notice.default.url)
    assert (url.netloc, url.path) == ("vendo.run", "/connections/connect/slack")
    assert parse_qs(url.query)["app_key"] == [KEY]
    assert notice.sound is False


@pytest.mark.parametrize("gen", GENS)
def test_reauth_link_keeps_the_key_out_when_asked(gen: str) -> None:
    r = rig(links=Links("https://vendo.run", lambda: KEY, keep_key_out=True))
    notice = notices(r.spaced(reauth(gen)))[0]
    assert notice.default.url == "https://vendo.run/dashboard/connections/conn_1"


def test_a_hostile_connect_url_in_the_event_is_never_used() -> None:
    r = rig()
    for n, hostile in enumerate(("https://evil.com/connect", "javascript:alert(1)", "https://vendo.run@evil.com/",
                                 "file:///etc/passwd", "https://vendo.run.evil.com/connect")):
        event = live("connection.status_changed", slug=f"slack{n}", connection_id="c",
                     status="needs_reauth", connect_url=hostile)
        notice = notices(r.spaced([event]))[0]
        url = urlsplit(notice.default.url)
        assert (url.scheme, url.netloc, url.path) == ("https", "vendo.run", f"/connections/connect/slack{n}")


def test_a_good_server_connect_url_is_used() -> None:
    r = rig()
    good = "https://vendo.run/connections/connect/slack?state=abc"
    event = live("connection.status_changed", slug="slack", connection_id="c", status="needs_reauth",
                 connect_url=good)
    assert notices(r.spaced([event]))[0].default.url == good


def test_no_safe_link_falls_back_to_the_window_not_a_dead_button() -> None:
    r = rig(links=Links("http://evil.example", lambda: KEY))      # untrustworthy base: no links at all
    notice = notices(r.spaced(reauth("live")))[0]
    assert notice.default.kind is ActionKind.OPEN_WINDOW
    assert notice.default.event_key == notice.event_key


@pytest.mark.parametrize(("gen", "snapshot", "body"), [
    ("seed", None, "token revoked"),
    ("seed", SNAPSHOT, "token revoked"),                     # the event's own message wins
    ("live", SNAPSHOT, "Bad credentials"),                   # else the connections list's error_message
    ("live", None, "Github is in an error state."),
])
def test_connection_error_message_and_details_button(gen: str, snapshot: Snapshot | None, body: str) -> None:
    r = rig()
    got = notices(r.spaced(error(gen), snapshot))
    assert len(got) == 1
    notice = got[0]
    assert notice.title.endswith(": connection error")
    assert notice.body == body
    assert [b.label for b in notice.buttons] == ["Details"]
    assert notice.buttons[0].kind is ActionKind.OPEN_WINDOW
    assert notice.buttons[0].event_key == notice.event_key
    if gen == "live":
        assert notice.event_key is not None          # the window opens at that event


def _errored(message: str | None, status: str = "error") -> Snapshot:
    return Snapshot(connections=(Connection(id="conn_2", slug="github", display_name="GitHub", status=status,
                                            error_message=message),))


def test_a_live_error_without_a_message_is_completed_in_place_by_the_next_snapshot() -> None:
    r = rig(PolicyPrefs(sounds=frozenset({"normal"})))
    first = notices(r.spaced(error("live"), Snapshot()))[0]
    assert first.body == "Github is in an error state." and first.sound is True
    got = r.policy.on_snapshot(_errored("Bad credentials (HTTP 401)"))
    assert len(got) == 1
    update = got[0]
    assert isinstance(update, Notice) and update.subject == first.subject      # replaces, never stacks
    assert update.title == "GitHub: connection error" and update.body == "Bad credentials (HTTP 401)"
    assert update.sound is False                                             # an update does not ding twice
    assert r.policy.on_snapshot(_errored("Bad credentials (HTTP 401)")) == []   # once
    # The alias / a later status_changed error saying the same is not news.
    assert r.spaced(error("live"), _errored("Bad credentials (HTTP 401)")) == []


@pytest.mark.parametrize(("snapshot", "then"), [
    (_errored(None), "nothing to add"),
    (_errored("old message", status="connected"), "healed meanwhile"),
    (Snapshot(), "connection not listed"),
])
def test_snapshot_without_a_usable_message_changes_nothing(snapshot: Snapshot, then: str) -> None:
    r = rig()
    r.spaced(error("live"), Snapshot())
    assert r.policy.on_snapshot(snapshot) == [], then


def test_snapshot_detail_after_a_newer_state_is_ignored() -> None:
    r = rig()
    r.spaced(error("live") + reauth("live", slug="github"), Snapshot())
    assert r.policy.on_snapshot(_errored("stale")) == []


def test_snapshot_detail_reaches_an_error_held_by_a_pause() -> None:
    r = rig()
    r.policy.pause_for(timedelta(hours=1))
    r.spaced(error("live"), Snapshot())
    assert r.policy.on_snapshot(_errored("Bad credentials")) == []
    assert r.policy.resume()[0].body == "Bad credentials"


def test_seed_errors_carry_their_message_and_wait_for_nothing() -> None:
    r = rig()
    r.spaced(error("seed"), Snapshot())
    assert r.policy.on_snapshot(_errored("other")) == []


# Balance: (generation, remaining balances in order, expected notice titles (None = nothing) per step)
BALANCE_STEPS = [
    ("live", [900_000, 600_000, 499_999, 300_000, 100_000, 700_000, 200_000, 0, 0, 800_000],
     [None, None, "low", None, None, "withdraw", "low", "exhausted", None, "withdraw"]),
    ("live", [0, 100_000, 600_000], ["exhausted", "low-update", "withdraw"]),
    ("live", [500_000, 499_999], [None, "low"]),              # "below" the threshold, not "at"
    ("seed", ["low", "low", "exhausted", "exhausted"], ["low", None, "exhausted", None]),
    ("seed", ["exhausted", "low"], ["exhausted", "low-update"]),
    # a seed server without balance_changed: the reconciler's synthesized balance_changed re-arms
    ("seed", ["low", 2_000_000, "low"], ["low", "withdraw", "low"]),
]


@pytest.mark.parametrize(("gen", "steps", "expected"), BALANCE_STEPS)
def test_balance_low_once_per_crossing_and_exhausted_is_critical(gen: str, steps: list[Any],
                                                                   expected: list[str | None]) -> None:
    r = rig()
    for step, want in zip(steps, expected, strict=True):
        if step == "low":
            events = low("seed")
        elif step == "exhausted":
            events = exhausted("seed")
        else:
            events = [live("billing.balance_changed", remaining_micros=step)]
        got = r.spaced(events, SNAPSHOT)
        if want is None:
            assert got == [], step
        elif want == "withdraw":
            assert got == [Withdraw("balance")], step
        else:
            assert len(got) == 1 and isinstance(got[0], Notice), step
            notice = got[0]
            assert notice.subject == "balance"
            if want == "exhausted":
                assert notice.title == "Vendo balance exhausted" and notice.urgency is Urgency.CRITICAL
            else:
                assert notice.title == "Vendo balance low" and notice.urgency is Urgency.NORMAL
            assert [b.label for b in notice.buttons] == ["Top up"]
            assert notice.default.url == "https://vendo.run/billing/top-up"     # the balance's top_up_url


def test_top_up_falls_back_to_links_top_up_without_a_snapshot_or_with_a_hostile_url() -> None:
    hostile = Snapshot(balance=Balance(credits_remaining_micros=0, top_up_url="https://evil.com/pay"))
    for snapshot in (None, Snapshot(), hostile):
        r = rig()
        notice = notices(r.spaced(exhausted("live"), snapshot))[0]
        assert notice.default.url == "https://vendo.run/billing"


def test_low_balance_body_names_the_amount_and_the_threshold() -> None:
    r = rig(PolicyPrefs(low_balance_micros=1_000_000))
    notice = notices(r.spaced([live("billing.balance_changed", remaining_micros=420_000)]))[0]
    assert notice.body == "$0.42 left, below your $1.00 alert level."


def test_a_new_threshold_applies_from_the_next_balance_event() -> None:
    r = rig()
    assert r.spaced([live("billing.balance_changed", remaining_micros=800_000)]) == []
    r.policy.update_prefs(PolicyPrefs(low_balance_micros=1_000_000))
    assert len(notices(r.spaced([live("billing.balance_changed", remaining_micros=790_000)]))) == 1


CAPS = [
    # (events as (kind, window, pct, day offset), expected titles)
    ([("billing.cap_warned", "daily", 80, 0)], ["Daily spend cap at 80%"]),
    ([("billing.cap_warned", "daily", 80, 0), ("billing.cap_warned", "daily", 80, 0)], ["Daily spend cap at 80%"]),
    ([("billing.cap_warned", "daily", 80, 0), ("billing.cap_warned", "daily", 95, 0)],
     ["Daily spend cap at 80%", "Daily spend cap at 95%"]),
    ([("billing.cap_warned", "daily", 80, 0), ("billing.cap_warned", "daily", 80, 1)],     # the next day again
     ["Daily spend cap at 80%", "Daily spend cap at 80%"]),
    ([("billing.cap_warned", "monthly", 90, 0), ("billing.cap_tripped", "monthly", None, 0)],
     ["Monthly spend cap at 90%", "Monthly spend cap reached"]),
    ([("billing.cap_tripped", "daily", None, 0), ("billing.cap_tripped", "daily", None, 0)],
     ["Daily spend cap reached"]),
]


@pytest.mark.parametrize(("steps", "titles"), CAPS)
def test_spend_caps(steps: list[tuple[str, str, float | None, int]], titles: list[str]) -> None:
    r = rig()
    for kind, window, pct, day in steps:
        data: dict[str, Any] = {"window": window, "at": f"2026-05-{2 + day:02d}T12:00:00Z"}
        if pct is not None:
            data["pct"] = pct
        r.spaced([live(kind, **data)])
    got = notices(r.out)
    assert [n.title for n in got] == titles
    for notice in got:
        assert notice.subject.startswith("cap:")
        want = Urgency.CRITICAL if notice.title.endswith("reached") else Urgency.NORMAL
        assert notice.urgency is want


NEVER = [
    ("seed", seed("deployment.updated")),
    ("live", live("deployment.updated")),
    ("live", live("billing.usage_recorded", provider="openai", micros=5)),
    ("live", live("connection.changed", slug="slack", connection_id="c")),
    ("live", live("connection_updated", slug="slack", connection_id="c")),        # alias without status
    ("live", live("connection.status_changed", slug="slack", status="available")),
    ("live", live("connection.status_changed", slug="slack", status="pending_setup")),
    ("live", live("connection.status_changed", slug="slack", status="revoked")),
    ("live", live("billing.balance_changed")),                                    # no amount
    ("live", live("billing.balance_changed", remaining_micros="5")),
    ("live", live("something.brand_new", slug="x")),
    ("seed", seed("message", text="hi")),
    ("seed", seed("stream.error", message="gave up")),
    ("seed", seed("connection.connected", slug="slack")),                         # off by default
    ("seed", seed("connection.disconnected", slug="slack")),
]


@pytest.mark.parametrize(("gen", "event"), NEVER)
def test_never_notified(gen: str, event: VendoEvent) -> None:
    r = rig()
    assert r.spaced([event]) == []


# ================================================================ toggles
TOGGLES = [
    ("needs_reauth", lambda gen: reauth(gen)),
    ("error", lambda gen: error(gen)),
    ("balance", lambda gen: low(gen)),
    ("balance", lambda gen: exhausted(gen)),
    ("connected", lambda gen: connected(gen)),
    ("disconnected", lambda gen: disconnected(gen)),
]


@pytest.mark.parametrize("gen", GENS)
@pytest.mark.parametrize(("topic", "make"), TOGGLES)
def test_each_topic_toggle(gen: str, topic: str, make: Callable[[str], list[VendoEvent]]) -> None:
    on, off = rig(prefs(**{topic: True})), rig(prefs(**{topic: False}))
    assert len(notices(on.spaced(make(gen)))) == 1
    assert off.spaced(make(gen)) == []


@pytest.mark.parametrize(("topic", "event"), [
    ("caps", lambda: live("billing.cap_warned", window="daily", pct=80)),
    ("caps", lambda: live("billing.cap_tripped", window="daily")),
])
def test_caps_toggle(topic: str, event: Callable[[], VendoEvent]) -> None:
    assert len(notices(rig(prefs(caps=True)).spaced([event()]))) == 1
    assert rig(prefs(caps=False)).spaced([event()]) == []


def test_a_muted_topic_still_moves_state() -> None:
    """Muted needs_reauth, then the topic is switched on: the same state is not news."""
    r = rig(prefs(needs_reauth=False))
    r.spaced(reauth("seed"))
    r.policy.update_prefs(prefs(needs_reauth=True))
    assert r.spaced(reauth("seed")) == []


# ================================================================ dedupe and subjects
@pytest.mark.parametrize("gen", GENS)
def test_same_state_twice_counts_once(gen: str) -> None:
    r = rig()
    r.spaced(reauth(gen) + reauth(gen) + reauth(gen))
    assert len(notices(r.out)) == 1


def test_same_event_key_counts_once_even_with_different_content() -> None:
    r = rig()
    first = normalize("connection.status_changed", {"id": "dup", "slug": "a", "status": "needs_reauth"})
    replay = normalize("connection.status_changed", {"id": "dup", "slug": "b", "status": "needs_reauth"})
    assert len(r.spaced([first, replay])) == 1


def test_events_without_keys_are_not_deduped_by_key() -> None:
    r = rig()
    r.spaced([seed("connection.needs_reauth", slug="a"), seed("connection.needs_reauth", slug="b")])
    assert [n.subject for n in notices(r.out)] == ["connection:a", "connection:b"]


def test_dedupe_memory_is_bounded() -> None:
    r = rig()
    for i in range(policy_module.SEEN_KEYS + 10):
        r.policy.on_event(normalize("billing.usage_recorded", {"id": f"u{i}", "micros": 1}))
    assert len(r.policy._seen) == policy_module.SEEN_KEYS


@pytest.mark.parametrize("gen", GENS)
def test_return_to_healthy_withdraws(gen: str) -> None:
    r = rig()
    r.spaced(reauth(gen))
    got = r.spaced(connected(gen))
    assert got == [Withdraw("connection:slack")]
    assert r.spaced(reauth(gen))[0].title == "Slack needs re-authorization"      # re-armed


@pytest.mark.parametrize("gen", GENS)
def test_newer_state_replaces_in_place(gen: str) -> None:
    r = rig()
    r.spaced(reauth(gen, slug="github"))
    got = r.spaced(error(gen, slug="github"))
    assert [type(i) for i in got] == [Notice]             # no withdraw: the same subject is updated
    assert got[0].subject == "connection:github"


def test_healthy_without_a_visible_notice_withdraws_nothing() -> None:
    r = rig()
    assert r.spaced(connected("live")) == []
    r.spaced(reauth("live"))
    r.policy.dismissed("connection:slack")                 # the user closed it
    assert r.spaced(connected("live")) == []


@pytest.mark.parametrize("gen", GENS)
def test_connected_notice_when_enabled_replaces_the_problem(gen: str) -> None:
    r = rig(prefs(connected=True))
    r.spaced(reauth(gen))
    got = r.spaced(connected(gen))
    assert got[0] == Withdraw("connection:slack")
    assert isinstance(got[1], Notice) and got[1].title == "Slack connected" and got[1].urgency is Urgency.LOW
    assert len(got) == 2


# ================================================================ quiet start and wake
@pytest.mark.parametrize("gen", GENS)
def test_no_disconnected_noise_in_the_quiet_period(gen: str) -> None:
    r = rig(prefs(disconnected=True), quiet=True)
    r.clock.advance(QUIET_SECONDS - 1)
    assert r.event(disconnected(gen, slug="a")[0]) == []
    r.clock.advance(2)
    assert len(notices(r.spaced(disconnected(gen, slug="b")))) == 1
    r.policy.on_wake()
    assert r.event(disconnected(gen, slug="c")[0]) == []


@pytest.mark.parametrize("gen", GENS)
def test_real_problems_are_not_muted_by_the_quiet_period(gen: str) -> None:
    r = rig(quiet=True)
    assert len(notices(r.spaced(reauth(gen)))) == 1


# ================================================================ stream
def test_offline_over_a_minute_notifies_once_and_live_withdraws() -> None:
    r = rig()
    assert r.policy.on_stream(Phase.RECONNECTING, "connection refused") == []
    assert r.run(OFFLINE_AFTER - 1) == []
    r.policy.on_stream(Phase.OFFLINE, "gave up after 3 attempts")
    got = r.run(2)
    assert len(got) == 1 and got[0].subject == "stream" and "offline" in got[0].title
    assert "gave up after 3 attempts" in got[0].body
    assert r.run(600) == []
    assert r.policy.on_stream(Phase.RECONNECTING) == []
    assert r.policy.on_stream(Phase.LIVE) == [Withdraw("stream")]
    r.policy.on_stream(Phase.RECONNECTING)
    again = r.run(OFFLINE_AFTER + 1)                                 # a new outage is news again
    assert len(again) == 1 and "gave up" not in again[0].body        # without the old outage's reason


def test_short_outages_say_nothing() -> None:
    r = rig()
    for _ in range(5):
        r.policy.on_stream(Phase.RECONNECTING)
        assert r.run(OFFLINE_AFTER / 2) == []
        assert r.policy.on_stream(Phase.LIVE) == []


def test_never_live_since_start_counts_as_offline() -> None:
    r = rig(quiet=True)
    r.policy.on_stream(Phase.CONNECTING)
    assert len(r.run(OFFLINE_AFTER + 1)) == 1


def test_sleep_is_not_an_outage() -> None:
    r = rig()
    r.policy.on_stream(Phase.RECONNECTING)
    r.run(OFFLINE_AFTER - 5)
    r.policy.on_wake()
    assert r.run(30) == []                                          # timer restarted at wake
    assert len(r.run(OFFLINE_AFTER)) == 1


def test_key_rejected_once_opens_settings() -> None:
    r = rig()
    got = r.policy.on_stream(Phase.KEY_REJECTED, "Key rejected: app_revoked")
    assert len(got) == 1
    notice = got[0]
    assert notice.subject == "stream" and notice.default.kind is ActionKind.OPEN_SETTINGS
    assert "app_revoked" in notice.body
    assert r.policy.on_stream(Phase.KEY_REJECTED, "again") == []
    assert r.run(OFFLINE_AFTER * 3) == []                          # a rejected key is not "offline"
    assert r.policy.on_stream(Phase.LIVE) == [Withdraw("stream")]
    assert len(r.policy.on_stream(Phase.KEY_REJECTED)) == 1


def test_stream_toggle_mutes_offline_and_key() -> None:
    r = rig(prefs(stream=False))
    assert r.policy.on_stream(Phase.KEY_REJECTED) == []
    r.policy.on_stream(Phase.OFFLINE)
    assert r.run(OFFLINE_AFTER * 2) == []


# ================================================================ bursts
def slugs(n: int, prefix: str = "s") -> list[str]:
    return [f"{prefix}{i}" for i in range(n)]


@pytest.mark.parametrize("gen", GENS)
def test_first_events_of_a_quiet_period_go_out_immediately(gen: str) -> None:
    r = rig()
    first = r.event(reauth(gen, slug="a")[0])
    assert len(first) == 1 and isinstance(first[0], Notice)     # returned by on_event itself, no waiting
    second = r.event(reauth(gen, slug="b")[0])
    assert len(second) == 1


@pytest.mark.parametrize("gen", GENS)
def test_three_within_two_seconds_are_three_popups(gen: str) -> None:
    r = rig()
    for slug in slugs(3):
        for event in reauth(gen, slug=slug):
            r.event(event)
        r.clock.advance(0.3)
    assert len(notices(r.out)) == 2                              # the third is held for a moment
    r.run(SETTLE + 1)
    assert [n.subject for n in notices(r.out)] == ["connection:s0", "connection:s1", "connection:s2"]


@pytest.mark.parametrize("gen", GENS)
@pytest.mark.parametrize("count", [4, 5, 12])
def test_more_than_three_within_two_seconds_become_one_summary(gen: str, count: int) -> None:
    r = rig()
    for slug in slugs(count):
        for event in reauth(gen, slug=slug):
            r.event(event)
        r.clock.advance(0.1)
    r.run(SETTLE + MAX_HOLD)
    shown = notices(r.out)
    assert len(shown) == BURST_POPUPS
    summary = shown[-1]
    assert summary.subject == "summary"
    assert summary.title == f"{count} connections need re-authorization"
    assert summary.default.kind is ActionKind.OPEN_WINDOW
    assert "S0, S1, S2, S3" in summary.body
    # The immediate popups it covers are withdrawn before the summary appears.
    withdrawn = [i.subject for i in r.out if isinstance(i, Withdraw)]
    assert withdrawn == ["connection:s0", "connection:s1"]
    assert r.out.index(summary) > max(r.out.index(Withdraw(s)) for s in withdrawn)


def test_a_mixed_burst_is_counted_as_alerts_and_is_as_urgent_as_its_worst() -> None:
    r = rig()
    events = (reauth("live", slug="a") + error("live", slug="b") + low("live", 100_000) + exhausted("seed")
              + [live("billing.cap_warned", window="daily", pct=90)])
    for event in events:
        r.event(event)
    r.run(SETTLE + 1)
    summary = notices(r.out)[-1]
    assert summary.title == "4 alerts"                  # a, b, balance (low then exhausted), daily cap
    assert summary.urgency is Urgency.CRITICAL


def test_errors_and_reauth_together_need_attention() -> None:
    r = rig()
    for i in range(3):
        r.event(reauth("seed", slug=f"r{i}")[0])
        r.event(error("seed", slug=f"e{i}")[0])
    r.run(SETTLE + 1)
    assert notices(r.out)[-1].title == "6 connections need attention"


@pytest.mark.parametrize("gen", GENS)
@pytest.mark.parametrize("tick_every", [0.01, 1.0])
def test_ten_thousand_events_in_one_second_cost_at_most_three_popups(gen: str, tick_every: float) -> None:
    r = rig()
    n = 10_000
    ticks_per_event = max(1, round(tick_every / (1.0 / n)))
    for i in range(n):
        for event in reauth(gen, slug=f"c{i}", cid=f"id{i}"):
            r.event(event)
        r.clock.advance(1.0 / n)
        if i % ticks_per_event == 0:
            r.tick()
    r.run(10, step=tick_every)
    shown = notices(r.out)
    assert len(shown) <= BURST_POPUPS
    assert r.policy.popups == len(shown)
    summary = shown[-1]
    assert summary.subject == "summary"
    assert summary.title == f"{n} connections need re-authorization"
    assert "and 9996 more" in summary.body


def test_a_storm_that_never_settles_updates_the_summary_at_most_every_max_hold() -> None:
    r = rig()
    duration, step = 30.0, 0.1
    for i in range(int(duration / step)):
        r.event(reauth("seed", slug=f"c{i}")[0])
        r.clock.advance(step)
        r.tick()
    r.run(SETTLE + 1)
    shown = notices(r.out)
    assert all(n.subject == "summary" for n in shown[2:])
    assert len(shown) <= 2 + math.ceil(duration / MAX_HOLD) + 1
    assert shown[-1].title == f"{int(duration / step)} connections need re-authorization"


def test_after_a_burst_settles_the_next_event_is_immediate_again() -> None:
    r = rig()
    for slug in slugs(6):
        r.event(reauth("seed", slug=slug)[0])
    r.run(SETTLE + BURST_WINDOW + 1)
    assert len(r.event(reauth("seed", slug="late")[0])) == 1


def test_a_subject_that_heals_during_a_burst_drops_out_of_it() -> None:
    r = rig()
    for slug in ("a", "b", "c", "d"):
        r.event(reauth("seed", slug=slug)[0])
    r.event(connected("seed", slug="c")[0])
    r.event(connected("seed", slug="d")[0])
    r.run(SETTLE + 1)
    # a, b immediate; c and d healed before the flush, so nothing is left to show
    assert [n.subject for n in notices(r.out)] == ["connection:a", "connection:b"]


def test_burst_memory_is_bounded_but_the_count_is_exact() -> None:
    r = rig()
    n = policy_module.MAX_HELD * 3
    for i in range(n):
        r.event(reauth("seed", slug=f"c{i}")[0])
    assert len(r.policy.gate._burst.held.items) <= policy_module.MAX_HELD
    r.run(SETTLE + 1)
    assert notices(r.out)[-1].title == f"{n} connections need re-authorization"


# ================================================================ pause
@pytest.mark.parametrize("gen", GENS)
def test_pause_mutes_and_ends_with_one_summary(gen: str) -> None:
    r = rig()
    assert r.policy.pause(in_one_hour(r.wall())) == []
    assert r.policy.paused_until == r.wall() + timedelta(hours=1)
    r.spaced(reauth(gen, slug="a") + reauth(gen, slug="b") + error(gen, slug="c") + low(gen))
    assert r.out == []
    r.wall.advance(timedelta(minutes=59))
    assert r.tick() == []
    r.wall.advance(timedelta(minutes=2))
    got = r.tick()
    assert len(got) == 1
    summary = got[0]
    assert summary.subject == "summary" and summary.title == "While paused: 4 alerts"
    assert summary.default.kind is ActionKind.OPEN_WINDOW
    assert r.policy.paused_until is None
    assert r.run(10) == []


def test_pause_summary_wording_for_reauth_only() -> None:
    r = rig()
    r.policy.pause_for(timedelta(hours=1))
    r.spaced(reauth("seed", slug="a") + reauth("seed", slug="b"))
    assert r.policy.resume()[0].title == "While paused: 2 connections need re-authorization"


def test_one_missed_subject_comes_back_as_itself() -> None:
    r = rig()
    r.policy.pause_for(timedelta(hours=1))
    r.spaced(low("live", 300_000) + low("live", 100_000) + exhausted("live"))
    got = r.policy.resume()
    assert len(got) == 1 and got[0].subject == "balance" and got[0].urgency is Urgency.CRITICAL
    assert got[0].buttons[0].label == "Top up"


def test_what_healed_during_the_pause_is_not_reported() -> None:
    r = rig()
    r.policy.pause_for(timedelta(hours=1))
    r.spaced(reauth("live", slug="a") + connected("live", slug="a") + low("live", 100_000)
             + [live("billing.balance_changed", remaining_micros=5_000_000)])
    assert r.policy.resume() == []


def test_nothing_missed_means_no_summary_and_resume_when_not_paused_is_harmless() -> None:
    r = rig()
    r.policy.pause_for(timedelta(hours=1))
    assert r.policy.resume() == []
    assert r.policy.resume() == []


def test_withdrawals_still_happen_while_paused() -> None:
    r = rig()
    r.spaced(reauth("live"))
    r.policy.pause_for(timedelta(hours=1))
    assert r.spaced(connected("live")) == [Withdraw("connection:slack")]


def test_toggled_off_topics_are_not_in_the_pause_summary() -> None:
    r = rig(prefs(balance=False))
    r.policy.pause_for(timedelta(hours=1))
    r.spaced(exhausted("seed") + reauth("seed"))
    got = r.policy.resume()
    assert len(got) == 1 and got[0].subject == "connection:slack"


def test_a_pause_that_starts_during_a_burst_keeps_the_held_events_for_its_summary() -> None:
    r = rig()
    for slug in slugs(5):
        r.event(reauth("seed", slug=slug)[0])
    r.policy.pause_for(timedelta(hours=1))
    assert r.run(SETTLE + MAX_HOLD) == []
    got = r.policy.resume()
    assert len(got) == 1 and got[0].title == "While paused: 3 connections need re-authorization"


def test_pause_in_the_past_does_not_pause() -> None:
    r = rig()
    assert r.policy.pause(r.wall() - timedelta(minutes=1)) == []
    assert r.policy.paused_until is None


def test_an_event_after_the_pause_ended_but_before_the_tick_shows_the_summary_first() -> None:
    r = rig()
    r.policy.pause_for(timedelta(hours=1))
    r.spaced(reauth("seed", slug="a") + reauth("seed", slug="b"))
    r.wall.advance(timedelta(hours=2))
    got = r.event(reauth("seed", slug="c")[0])
    assert [n.subject for n in notices(got)] == ["summary", "connection:c"]


def test_naive_pause_times_are_local() -> None:
    r = rig()
    r.policy.pause(datetime.now() + timedelta(days=400))
    assert r.policy.paused_until is not None and r.policy.paused_until.tzinfo is not None


@pytest.mark.parametrize(("now", "expected"), [
    (datetime(2026, 5, 2, 14, 30, tzinfo=TZ), datetime(2026, 5, 3, 8, 0, tzinfo=TZ)),
    (datetime(2026, 5, 2, 23, 59, tzinfo=TZ), datetime(2026, 5, 3, 8, 0, tzinfo=TZ)),
    (datetime(2026, 5, 3, 1, 0, tzinfo=TZ), datetime(2026, 5, 3, 8, 0, tzinfo=TZ)),   # after midnight
    (datetime(2026, 5, 3, 8, 0, tzinfo=TZ), datetime(2026, 5, 4, 8, 0, tzinfo=TZ)),
    (datetime(2026, 12, 31, 22, 0, tzinfo=TZ), datetime(2027, 1, 1, 8, 0, tzinfo=TZ)),
])
def test_until_tomorrow_morning(now: datetime, expected: datetime) -> None:
    assert next_morning(now) == expected


def test_pause_until_morning_uses_the_injected_wall_clock() -> None:
    r = rig()
    r.policy.pause_until_morning()
    assert r.policy.paused_until == datetime(2026, 5, 3, 8, 0, tzinfo=TZ)


# ================================================================ muted connections
@pytest.mark.parametrize("gen", GENS)
def test_a_muted_connection_raises_nothing_and_the_others_still_do(gen: str) -> None:
    r = rig(prefs(connected=True, disconnected=True))
    assert r.policy.mute("slack", None) == []
    assert r.policy.mutes == (Mute("slack", None),)
    assert r.spaced(reauth(gen) + connected(gen) + disconnected(gen) + error(gen, slug="slack")) == []
    got = notices(r.spaced(reauth(gen, slug="github") + low(gen)))
    assert [n.subject for n in got] == ["connection:github", "balance"]


def test_muting_withdraws_the_visible_notice_and_what_a_burst_holds() -> None:
    r = rig()
    r.spaced(reauth("live"))
    assert r.policy.mute("slack", in_one_hour(r.wall())) == [Withdraw("connection:slack")]
    assert r.policy.shown == ()
    for slug in slugs(5):                                     # a burst holding github ...
        r.event(reauth("seed", slug=slug)[0])
    r.policy.mute("s4", None)                                 # ... loses the one muted meanwhile
    r.run(SETTLE + 1)
    assert notices(r.out)[-1].title == "4 connections need re-authorization"


def test_withdraw_all_withdraws_each_visible_notice_as_healing_does() -> None:
    # What a removed app's monitor does (core.fleet): nothing of it may stay on screen.
    r = rig()
    r.spaced(reauth("live") + low("live"))
    assert r.policy.shown == ("connection:slack", "balance")
    assert r.policy.withdraw_all() == [Withdraw("connection:slack"), Withdraw("balance")]
    assert r.policy.shown == () and r.policy.withdraw_all() == []


def test_a_one_hour_mute_ends_after_the_hour_and_announces_nothing_old() -> None:
    r = rig()
    r.policy.mute("slack", in_one_hour(r.wall()))
    assert r.policy.next_deadline() == r.clock() + 3600       # the policy's own sleep wakes for the end
    r.spaced(reauth("live"))                                  # broke while muted: recorded, not shown
    r.wall.advance(timedelta(minutes=59))
    assert r.tick() == [] and r.policy.mutes != ()
    r.wall.advance(timedelta(minutes=1))
    r.clock.advance(3600)
    assert r.tick() == []                                     # the end says nothing about the old problem
    assert r.policy.mutes == () and r.policy.next_deadline() is None
    assert r.spaced(reauth("live")) == []                     # the same state again is nothing new
    r.spaced(connected("live"))
    assert [n.title for n in notices(r.spaced(reauth("live")))] == ["Slack needs re-authorization"]


def test_a_mute_that_ended_before_the_tick_no_longer_holds_anything_back() -> None:
    r = rig()
    r.policy.mute("slack", in_one_hour(r.wall()))
    r.wall.advance(timedelta(hours=2))
    assert len(notices(r.spaced(reauth("seed")))) == 1


def test_until_unmuted_lasts_until_unmuted() -> None:
    r = rig()
    r.policy.mute("slack", None)
    assert r.policy.next_deadline() is None                   # nothing to wake up for
    r.wall.advance(timedelta(days=400))
    r.clock.advance(400 * 86_400)
    assert r.tick() == [] and r.spaced(reauth("seed")) == []
    r.policy.unmute("slack")
    assert r.policy.mutes == ()
    r.spaced(connected("seed"))
    assert len(notices(r.spaced(reauth("seed")))) == 1


def test_a_mute_that_ends_in_the_past_unmutes() -> None:
    r = rig()
    r.policy.mute("slack", None)
    assert r.policy.mute("slack", r.wall() - timedelta(minutes=1)) == []
    assert r.policy.mutes == ()
    assert len(notices(r.spaced(reauth("seed")))) == 1


def test_muted_connections_are_not_in_a_pause_or_catch_up_summary() -> None:
    r = rig()
    r.policy.mute("a", None)
    r.policy.pause_for(timedelta(hours=1))
    r.spaced(reauth("seed", slug="a") + reauth("seed", slug="b"))
    got = r.policy.resume()
    assert [n.subject for n in notices(got)] == ["connection:b"]
    r.policy.begin_catch_up()
    for event in error("seed", slug="a") + error("seed", slug="c"):
        r.event(event)
    assert [n.subject for n in notices(r.policy.end_catch_up())] == ["connection:c"]


def test_mute_choices_are_core_rules_from_the_given_time() -> None:
    now = datetime(2026, 5, 2, 14, 30, tzinfo=TZ)
    assert [(label, rule(now)) for label, rule in MUTE_CHOICES] == [
        ("For 1 hour", in_one_hour(now)), ("For 1 day", in_one_day(now)), ("Until unmuted", None)]
    assert in_one_day(now) - now == timedelta(days=1)


# ================================================================ text and sound
HOSTILE_SLUGS = [
    "<b>bold</b> & <a href='https://evil.com'>click</a>",
    "\x1b[31mred\x1b[0m\x00\x07",
    "right\u202eto-left\u200bzero\ufeffwidth",
    "multi\nline\r\nslug\u2028sep",
    "x" * 10_000,
    "",
]


@pytest.mark.parametrize("slug", HOSTILE_SLUGS)
@pytest.mark.parametrize("gen", GENS)
def test_notice_text_is_plain_and_capped(slug: str, gen: str) -> None:
    r = rig()
    message = "<script>alert(1)</script>\x00" + "m" * 5000
    events = reauth(gen, slug=slug) + error(gen, slug=slug + "e", message=message)
    for notice in notices(r.spaced(events)):
        for text, cap in ((notice.title, TITLE_MAX), (notice.body, BODY_MAX)):
            assert 0 < len(text) <= cap
            assert text.isprintable(), repr(text)                    # no control, bidi or zero-width chars
            assert "\n" not in text and "  " not in text


def test_markup_is_kept_as_plain_characters_for_the_notifier_to_escape() -> None:
    r = rig()
    notice = notices(r.spaced(reauth("seed", slug="a<b>&c")))[0]
    assert notice.title == "A<b>&c needs re-authorization"


@pytest.mark.parametrize(("text", "limit", "expected"), [
    ("hello", 80, "hello"),
    ("  a \t b \n c  ", 80, "a b c"),
    ("abcdef", 4, "abc…"),
    ("\u202eabc\u200d", 80, "abc"),
    ("", 10, ""),
])
def test_plain(text: str, limit: int, expected: str) -> None:
    assert plain(text, limit) == expected


@pytest.mark.parametrize(("sounds", "expected"), [
    (frozenset(), {"low": False, "exhausted": False}),
    (frozenset({"critical"}), {"low": False, "exhausted": True}),
    (frozenset({"normal", "critical"}), {"low": True, "exhausted": True}),
])
def test_sound_per_urgency_off_by_default(sounds: frozenset[str], expected: dict[str, bool]) -> None:
    r = rig(PolicyPrefs(sounds=sounds))
    low_notice = notices(r.spaced(low("live", 100_000)))[0]
    exhausted_notice = notices(r.spaced(exhausted("live")))[0]
    assert low_notice.sound is expected["low"]
    assert exhausted_notice.sound is expected["exhausted"]


def test_default_prefs_match_the_settings_defaults() -> None:
    from vendo_tray.core.settings import DEFAULT_NOTIFY as SETTINGS_NOTIFY

    assert DEFAULT_NOTIFY == SETTINGS_NOTIFY
    assert PolicyPrefs().sounds == frozenset()


# ================================================================ robustness
@pytest.mark.parametrize("data", [None, "text", [1], {"slug": 5, "status": ["x"]}, {"remaining_micros": True},
                                  {"pct": "nan", "window": 3}, {"connect_url": 7, "status": "needs_reauth"}])
@pytest.mark.parametrize("wire", ["connection.needs_reauth", "connection.status_changed", "connection.error",
                                  "billing.balance_changed", "billing.balance_low", "billing.cap_warned",
                                  "billing.cap_tripped", "nonsense"])
def test_hostile_events_never_raise(wire: str, data: Any) -> None:
    r = rig()
    got = r.spaced([normalize(wire, data)])
    assert all(isinstance(i, (Notice, Withdraw)) for i in got)


def test_a_bug_inside_the_policy_costs_one_popup_not_the_stream(caplog: pytest.LogCaptureFixture) -> None:
    class Broken(Links):
        def reauthorize(self, *args: Any, **kwargs: Any) -> str | None:
            raise RuntimeError("boom")

    r = rig(links=Broken("https://vendo.run"))
    assert r.event(reauth("live")[0]) == []
    assert "policy failed" in caplog.text
    assert len(notices(r.spaced(error("live")))) == 1


def test_key_never_appears_in_the_repr_of_a_notice() -> None:
    r = rig()
    notice = notices(r.spaced(reauth("live")))[0]
    assert KEY in notice.default.url
    assert KEY not in repr(notice)


def test_before_the_connections_list_arrives_titles_use_a_readable_slug() -> None:
    from vendo_tray.core.notify.text import name_from_slug

    assert name_from_slug("google-calendar") == "Google Calendar"
    assert name_from_slug("hub_spot") == "Hub Spot"
    assert name_from_slug(None) is None


def test_every_notification_toggle_is_a_topic_and_every_topic_but_summary_a_toggle() -> None:
    from vendo_tray.core.notices import Topic

    assert set(DEFAULT_NOTIFY) == set(Topic) - {Topic.SUMMARY}


# ================================================================ catch-up
#: A replay after Last-Event-ID arrives at once, well within CATCH_UP_SECONDS.
REPLAY_GAP = 0.1


def test_a_catch_up_that_no_live_event_ends_ends_by_itself_after_its_window() -> None:
    r = rig()
    began = r.clock.t
    r.policy.begin_catch_up()
    assert r.policy.next_deadline() == began + CATCH_UP_SECONDS
    r.spaced(reauth("live", slug="a") + reauth("live", slug="b"), gap=REPLAY_GAP)
    r.clock.advance(began + CATCH_UP_SECONDS - 0.01 - r.clock.t)
    assert r.tick() == [] and r.policy.catching_up
    r.clock.advance(0.02)
    [notice] = r.tick()
    assert notice.title == "While Vendo Tray was away: 2 connections need re-authorization"
    assert not r.policy.catching_up and r.policy.next_deadline() is None


@pytest.mark.parametrize("gen", GENS)
def test_a_replay_ends_in_one_notice_about_what_still_matters(gen: str) -> None:
    r = rig()
    r.policy.begin_catch_up()
    r.spaced(reauth(gen, slug="a", cid="c_a") + error(gen, slug="b")
             + reauth(gen, slug="c", cid="c_c") + connected(gen, slug="c", cid="c_c"), gap=REPLAY_GAP)
    assert notices(r.out) == [] and r.policy.catching_up
    got = r.policy.end_catch_up()
    assert len(got) == 1
    assert got[0].subject == "summary" and got[0].title == "While Vendo Tray was away: 2 connections need attention"
    assert got[0].body.startswith("A, B. "), "C broke and healed while away: not reported"
    assert r.policy.end_catch_up() == [], "ending twice says nothing more"


def test_one_thing_missed_comes_back_as_its_own_notice_and_live_events_pop_again() -> None:
    r = rig()
    r.policy.begin_catch_up()
    r.spaced(reauth("live", slug="slack"), gap=REPLAY_GAP)
    [notice] = r.policy.end_catch_up()
    assert notice.subject == "connection:slack" and notice.buttons[0].label == "Re-authorize"
    r.spaced(error("live", slug="notion"))
    assert [n.subject for n in notices(r.out)] == ["connection:notion"]


def test_catch_up_while_paused_leaves_the_summary_to_the_pause() -> None:
    r = rig()
    r.policy.pause_for(timedelta(hours=1))
    r.policy.begin_catch_up()
    r.spaced(reauth("live", slug="a") + reauth("live", slug="b"))
    assert r.policy.end_catch_up() == []
    assert r.policy.resume()[0].title == "While paused: 2 connections need re-authorization"


# ---------------------------------------------------------------- deadlines
def _tick_checking_deadlines(r: Rig, seconds: float, step: float = 0.05) -> None:
    """Tick often, checking what lets the monitor sleep between deadlines instead:
    a tick before next_deadline() has nothing to say, and one at or after it moves
    the deadline ahead (so a monitor waking then never spins)."""
    end = r.clock.t + seconds
    while r.clock.t < end:
        due = r.policy.next_deadline()
        r.clock.advance(step)
        got = r.tick()
        if due is None or r.clock.t < due:
            assert got == [], f"tick() acted {due and due - r.clock.t:.3f} s before its deadline"
        else:
            after = r.policy.next_deadline()
            assert after is None or after > r.clock.t, "a deadline that stays due would spin the monitor"


def test_tick_has_nothing_to_do_before_next_deadline_and_moves_it_when_due() -> None:
    """Bursts that settle, a storm that never does, an outage: everything tick() times."""
    r = rig()
    for n in range(5):
        r.event(reauth("live", slug=f"app{n}", cid=f"conn_{n}")[0])
        r.clock.advance(0.1)
    _tick_checking_deadlines(r, 10)
    for n in range(30):  # an event every 0.4 s for 12 s: flushed every MAX_HOLD seconds
        r.event(error("live", slug=f"svc{n}")[0])
        _tick_checking_deadlines(r, 0.4)
    _tick_checking_deadlines(r, 10)
    r.policy.on_stream(Phase.RECONNECTING, "HTTP 503")
    _tick_checking_deadlines(r, OFFLINE_AFTER + 5)
    titles = [n.title for n in notices(r.out)]
    assert "5 connections need re-authorization" in titles
    assert "30 connections need attention" in titles
    assert titles[-1] == "Vendo Tray is offline"


def test_nothing_pending_means_no_deadline_and_a_pause_is_due_when_it_ends() -> None:
    r = rig()
    assert r.policy.next_deadline() is None
    r.policy.pause(r.wall() + timedelta(hours=1))
    assert r.policy.next_deadline() == r.clock.t + 3600
    r.policy.resume()
    assert r.policy.next_deadline() is None


# ---------------------------------------------------------------- runway


def _lasting(days: float | None, balance: int = 4_000_000) -> Runway:
    """A runway of ``days`` at today's rate (None: too little history)."""
    if days is None:
        return Runway(balance)
    return Runway(balance, per_day=balance / days, basis=Basis.TODAY)


def _runways(r: Rig, *runways: Runway) -> list[list[Notice | Withdraw]]:
    said = []
    for runway in runways:
        said.append(r.policy.on_runway(runway, SNAPSHOT))
        r.clock.advance(BURST_WINDOW + 0.1)
        said[-1] += r.tick()
    return said


def test_runway_warns_once_per_crossing_and_rearms_only_well_above_the_threshold() -> None:
    r = rig()
    said = _runways(r, *map(_lasting, (5, 1.8, 1.5, 2.2, 1.9, None, 2.6, 1.7)))
    assert [len(s) for s in said] == [0, 1, 0, 0, 0, 0, 1, 1]
    first, healed, again = said[1][0], said[6][0], said[7][0]
    assert first.subject == "balance" and first.title == "Vendo balance lasts about 43 hours"
    assert first.body == "$4.00 left, spending $2.22 a day at today's rate: below your 2-day warning."
    assert [b.label for b in first.buttons] == ["Top up"] and first.urgency is Urgency.NORMAL
    assert first.default.url == "https://vendo.run/billing/top-up"
    assert healed == Withdraw("balance")  # 2.6 days is above 2 × 1.25: the next crossing may warn
    assert again.title == "Vendo balance lasts about 41 hours"


def test_runway_no_spending_rearms_and_too_little_history_changes_nothing() -> None:
    r = rig()
    idle = Runway(4_000_000, per_day=0.0, basis=Basis.WEEK)
    said = _runways(r, _lasting(1), _lasting(None), _lasting(1.5), idle, _lasting(1))
    assert [len(s) for s in said] == [1, 0, 0, 1, 1]
    assert said[3] == [Withdraw("balance")]


def test_runway_comes_before_the_balance_low_one_and_never_withdraws_it() -> None:
    r = rig()
    said = _runways(r, _lasting(1.5))
    assert notices(said[0])[0].title.startswith("Vendo balance lasts")
    low_notice = notices(r.spaced([live("billing.balance_changed", remaining_micros=300_000)], SNAPSHOT))
    assert [n.title for n in low_notice] == ["Vendo balance low"]  # replaces it in place (same subject)
    assert low_notice[0].subject == "balance"
    # While the balance is low the runway says nothing, and a rising runway is not its healing.
    assert _runways(r, _lasting(0.5, 300_000), _lasting(5, 300_000), _lasting(1, 300_000)) == [[], [], []]
    assert r.policy.shown == ("balance",)


def test_runway_respects_its_toggle_and_threshold() -> None:
    off = rig(PolicyPrefs(notify={**DEFAULT_NOTIFY, "runway": False}))
    assert _runways(off, _lasting(1)) == [[]]
    week = rig(PolicyPrefs(runway_days=7))
    said = _runways(week, _lasting(6))
    assert notices(said[0])[0].body.endswith("below your 7-day warning.")
