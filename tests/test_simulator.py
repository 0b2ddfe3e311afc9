"""The simulator speaks the live Vendo wire: checked with plain httpx on 127.0.0.1.

Frames are parsed here with a deliberately tiny reader (split on blank
lines), independent of the project's own SSE client, so a bug in one cannot
hide a bug in the other.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

import desktop
from vendo_tray.simulator import DEMO_KEY, EVENTS_PATH, SCENARIOS, Simulator

KEY = "vendo_sk_test_simulator"
AUTH = {"Authorization": f"Bearer {KEY}", "Accept": "text/event-stream"}
PING_INTERVAL = 0.2
TIMEOUT = httpx.Timeout(5.0, read=3.0)

CONNECTION_FIELDS = {"id", "slug", "display_name", "category", "profile", "status", "error_message",
                     "setup_url", "logo_url", "brand_color", "docs_url"}


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(key=KEY, ping_interval=PING_INTERVAL) as server:
        yield server


@pytest.fixture
def client(sim: Simulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sim.base_url, timeout=TIMEOUT) as c:
        yield c


def parse_block(raw: bytes) -> dict[str, Any]:
    """One SSE block as {"id", "event", "data", "comments"} (data JSON-decoded when it parses)."""
    block: dict[str, Any] = {"id": None, "event": None, "data": None, "retry": None, "comments": []}
    data_lines = []
    for line in raw.decode("utf-8", "replace").split("\n"):
        if line.startswith(":"):
            block["comments"].append(line[1:].strip())
            continue
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "data":
            data_lines.append(value)
        elif name in ("id", "event", "retry"):
            block[name] = value
    if data_lines:
        text = "\n".join(data_lines)
        try:
            block["data"] = json.loads(text)
        except ValueError:
            block["data"] = text
    return block


class Frames:
    """Blocks off an open streaming response, in order."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.chunks = response.iter_raw()
        self.buffer = b""
        self.raw_seen = b""

    def next_raw(self) -> bytes:
        while b"\n\n" not in self.buffer:
            chunk = next(self.chunks)  # StopIteration at a clean end of the response
            self.buffer += chunk
            self.raw_seen += chunk
        raw, self.buffer = self.buffer.split(b"\n\n", 1)
        return raw

    def next(self, pings: bool = False) -> dict[str, Any]:
        while True:
            block = parse_block(self.next_raw())
            if pings or block["comments"] != ["ping"]:
                return block

    def take(self, n: int) -> list[dict[str, Any]]:
        return [self.next() for _ in range(n)]

    def events(self, n: int) -> list[dict[str, Any]]:
        """The next ``n`` dotted-kind events, skipping legacy alias blocks."""
        out = []
        while len(out) < n:
            block = self.next()
            if block["event"] and "." in block["event"]:
                out.append(block)
        return out


def open_stream(client: httpx.Client, headers: dict[str, str] | None = None):
    return client.stream("GET", EVENTS_PATH, headers={**AUTH, **(headers or {})})


def wait_until(predicate, timeout: float = 3.0) -> None:
    done = threading.Event()
    for _ in range(int(timeout / 0.01)):
        if predicate():
            return
        done.wait(0.01)
    raise AssertionError("condition not reached")


def assert_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status
    assert response.headers["vendo-error-code"] == code
    body = response.json()
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]


# -- auth and REST ---------------------------------------------------------------------------------

@pytest.mark.parametrize("path", [EVENTS_PATH, "/api/deployments/me/connections",
                                  "/api/billing/balance", "/api/billing/spend-caps"])
def test_bearer_check_answers_with_documented_401_bodies(sim: Simulator, client: httpx.Client,
                                                         path: str) -> None:
    assert_error(client.get(path), 401, "app_unknown")
    assert_error(client.get(path, headers={"Authorization": "Bearer vendo_sk_wrong"}), 401, "app_unknown")
    assert_error(client.get(path, headers={"Authorization": KEY}), 401, "app_unknown")  # no scheme
    sim.set_key_state("revoked")
    assert_error(client.get(path, headers=AUTH), 401, "app_revoked")
    sim.set_key_state("expired")
    assert_error(client.get(path, headers=AUTH), 401, "app_expired")
    assert sim.stats.open_streams == 0


def test_connections_list_has_the_documented_shape(sim: Simulator, client: httpx.Client) -> None:
    response = client.get("/api/deployments/me/connections", headers=AUTH)
    assert response.status_code == 200
    connections = response.json()["connections"]
    assert len(connections) >= 8
    slugs = {c["slug"] for c in connections}
    assert {"gmail", "slack", "openai", "github", "notion", "linear", "stripe", "hubspot"} <= slugs
    for conn in connections:
        assert CONNECTION_FIELDS <= set(conn)
        assert conn["status"] in {"connected", "available", "needs_reauth", "error"}
        assert (conn["id"] is None) == (conn["status"] == "available")
        assert conn["setup_url"] == f"{sim.base_url}/connections/connect/{conn['slug']}"
        assert conn["brand_color"].startswith("#")
    assert connections == sim.connections


def test_balance_and_spend_caps_have_the_documented_shape(sim: Simulator, client: httpx.Client) -> None:
    balance = client.get("/api/billing/balance", headers=AUTH).json()
    assert balance == {"credits_remaining_micros": 12_400_000, "currency": "USD",
                       "top_up_url": f"{sim.base_url}/billing"}
    sim.set_balance(420_000)
    assert client.get("/api/billing/balance", headers=AUTH).json()["credits_remaining_micros"] == 420_000
    caps = client.get("/api/billing/spend-caps", headers=AUTH).json()
    assert set(caps) == {"daily_micros", "monthly_micros", "used_today_micros", "used_month_micros"}
    assert all(isinstance(v, int) for v in caps.values())


def test_unknown_api_path_is_a_json_404(client: httpx.Client) -> None:
    assert_error(client.get("/api/nope", headers=AUTH), 404, "not_found")


# -- the stream ---------------------------------------------------------------------------------------

def test_stream_sends_stamped_events_alias_blocks_and_pings(sim: Simulator, client: httpx.Client) -> None:
    with open_stream(client) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        frames = Frames(response)
        assert frames.next(pings=True)["comments"] == ["ping"]  # heartbeat before any event

        event_id = sim.set_connection_status("slack", "needs_reauth")
        primary, alias = frames.take(2)
        assert primary["event"] == "connection.status_changed"
        assert primary["id"] == event_id
        data = primary["data"]
        assert data["id"] == event_id and data["kind"] == "connection.status_changed"
        assert data["slug"] == "slack" and data["status"] == "needs_reauth" and data["connection_id"]
        assert data["at"].endswith("Z")
        assert alias == {**primary, "event": "connection_updated"}  # same data, same SSE id

        sim.set_connection_status("linear", "connected")
        assert [b["event"] for b in frames.take(2)] == ["connection.connected", "connection_created"]
        sim.set_connection_status("linear", "available")
        assert [b["event"] for b in frames.take(2)] == ["connection.disconnected", "connection_deleted"]
        sim.touch_connection("github")
        assert [b["event"] for b in frames.take(2)] == ["connection.changed", "connection_updated"]

        sim.set_balance(0)
        balance = frames.next()
        assert balance["event"] == "billing.balance_changed"
        assert balance["data"]["remaining_micros"] == 0
        sim.emit("deployment.updated")
        assert frames.next()["event"] == "deployment.updated"  # no alias for non-connection kinds


def test_changes_in_state_emit_the_matching_live_kinds(sim: Simulator) -> None:
    assert sim.set_connection_status("slack", "connected") is None  # unchanged: nothing to say
    sim.set_connection_status("notion", "error", "boom")
    sim.set_spend_caps(daily_micros=2_000_000, used_today_micros=1_500_000)
    sim.record_usage("openai", 200_000)
    sim.record_usage("openai", 400_000)
    kinds = [(e["kind"], e["data"].get("window")) for e in sim.history]
    assert kinds == [("connection.status_changed", None),
                     ("billing.usage_recorded", None), ("billing.balance_changed", None),
                     ("billing.cap_warned", "daily"),
                     ("billing.usage_recorded", None), ("billing.balance_changed", None),
                     ("billing.cap_tripped", "daily")]
    assert sim.connection("notion")["error_message"] == "boom"


def test_seed_wire_sends_the_seed_kinds_without_stamps_or_aliases(client: httpx.Client) -> None:
    with Simulator(key=KEY, ping_interval=PING_INTERVAL, wire="seed") as seed, \
            httpx.Client(base_url=seed.base_url, timeout=TIMEOUT) as c, open_stream(c) as response:
        frames = Frames(response)
        seed.set_connection_status("slack", "needs_reauth")
        seed.set_connection_status("notion", "error", "Token refresh failed")
        seed.set_balance(300_000)
        seed.set_balance(0)
        seed.emit("deployment.updated")
        seed.set_connection_status("slack", "connected")
        seed.set_connection_status("linear", "connected")
        seed.set_connection_status("linear", "available")
        blocks = frames.take(8)
    assert [(b["event"], b["data"]) for b in blocks] == [
        ("connection.needs_reauth", {"slug": "slack", "connection_id": blocks[0]["data"]["connection_id"]}),
        ("connection.error", {"slug": "notion", "message": "Token refresh failed"}),
        ("billing.balance_low", {"credits_remaining_micros": 300_000}),
        ("billing.balance_exhausted", {}),
        ("deployment.updated", {}),
        ("connection.connected", {"slug": "slack", "connection_id": blocks[0]["data"]["connection_id"]}),
        ("connection.connected", {"slug": "linear", "connection_id": blocks[6]["data"]["connection_id"]}),
        ("connection.disconnected", {"slug": "linear", "connection_id": blocks[6]["data"]["connection_id"]}),
    ]
    assert all(b["id"] for b in blocks)  # ids still let a client resume


def test_last_event_id_replays_from_the_ring_buffer(sim: Simulator, client: httpx.Client) -> None:
    ids = [sim.emit("billing.usage_recorded", {"provider": "openai", "micros": i}) for i in range(5)]
    slack = sim.set_connection_status("slack", "needs_reauth")
    with open_stream(client, {"Last-Event-ID": ids[1]}) as response:
        frames = Frames(response)
        replayed = frames.take(5)
        assert [b["id"] for b in replayed] == ids[2:] + [slack, slack]
        assert replayed[-1]["event"] == "connection_updated"
        live = sim.emit("deployment.updated")
        assert frames.next()["id"] == live
    assert sim.stats.last_event_ids == [ids[1]]



def test_ids_with_spaces_and_non_ascii_go_out_verbatim_and_resume_from_their_header_form() -> None:
    with Simulator(key=KEY, ping_interval=PING_INTERVAL, id_format=" évt {seq} ") as server, \
            httpx.Client(base_url=server.base_url, timeout=TIMEOUT) as client:
        ids = [server.emit("deployment.updated") for _ in range(3)]
        assert ids[0] == " évt 1 "
        # HTTP carries no leading/trailing spaces; the header is UTF-8 bytes.
        header = ids[0].strip().encode()
        with open_stream(client, {"Last-Event-ID": header}) as response:  # type: ignore[dict-item]
            frames = Frames(response)
            assert [b["id"] for b in frames.take(2)] == ids[1:]    # `id:  évt 2 ` → " évt 2 "
        assert server.stats.last_event_ids == ["évt 1"]


@pytest.mark.parametrize("bad", ["evt_{boot}", "{seq}\n", "a\x00{seq}", "{nope}{seq}"])
def test_an_id_format_that_cannot_make_sse_ids_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="id format"):
        Simulator(key=KEY, id_format=bad)

def test_replay_is_limited_to_the_last_100_events(sim: Simulator, client: httpx.Client) -> None:
    ids = [sim.emit("billing.usage_recorded", {"provider": "openai", "micros": i}) for i in range(150)]
    assert len(sim.history) == 100
    with open_stream(client, {"Last-Event-ID": ids[10]}) as response:  # fell out of the ring
        frames = Frames(response)
        live = sim.emit("deployment.updated")
        assert frames.next()["id"] == live
    with open_stream(client, {"Last-Event-ID": ids[120]}) as response:
        assert [b["id"] for b in Frames(response).take(29)] == ids[121:]


def test_sixth_concurrent_stream_gets_the_exact_429(sim: Simulator, client: httpx.Client) -> None:
    streams = [open_stream(client) for _ in range(5)]
    responses = [s.__enter__() for s in streams]
    try:
        assert all(r.status_code == 200 for r in responses)
        assert sim.stats.open_streams == 5
        sixth = client.get(EVENTS_PATH, headers=AUTH)
        assert sixth.status_code == 429
        assert sixth.headers["vendo-error-code"] == "rate_limit_sse_streams"
        assert sixth.json() == {"error": {"code": "rate_limit_sse_streams",
                                          "message": "Too many concurrent SSE streams."}}
        streams.pop().__exit__(None, None, None)
        wait_until(lambda: sim.stats.open_streams == 4)
        with open_stream(client) as again:
            assert again.status_code == 200
    finally:
        for s in streams:
            s.__exit__(None, None, None)
    wait_until(lambda: sim.stats.open_streams == 0)


def test_emits_from_many_threads_arrive_once_and_in_id_order(sim: Simulator, client: httpx.Client) -> None:
    with open_stream(client) as response:
        frames = Frames(response)
        threads = [threading.Thread(target=lambda: [sim.emit("deployment.updated") for _ in range(25)])
                   for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        got = [b["id"] for b in frames.take(100)]
    assert got == [e["id"] for e in sim.history]
    assert len(set(got)) == 100


# -- faults -----------------------------------------------------------------------------------------------

def test_drop_mid_frame_cuts_the_connection_and_replay_recovers_the_event(
        sim: Simulator, client: httpx.Client) -> None:
    with open_stream(client) as response:
        frames = Frames(response)
        first = sim.emit("deployment.updated")
        assert frames.next()["id"] == first
        sim.add_fault("drop_mid_frame")
        cut = sim.touch_connection("github")
        with pytest.raises(httpx.RemoteProtocolError):
            frames.next()
        assert frames.buffer and b"\n\n" not in frames.buffer  # half a frame, then nothing
        assert frames.buffer.startswith(f"id: {cut}".encode())
    wait_until(lambda: sim.stats.open_streams == 0)
    with open_stream(client, {"Last-Event-ID": first}) as response:
        primary, alias = Frames(response).take(2)
    assert primary["id"] == cut and primary["event"] == "connection.changed"
    assert alias["event"] == "connection_updated"


def test_drop_mid_frame_clean_ends_the_response_after_half_a_frame(
        sim: Simulator, client: httpx.Client) -> None:
    sim.add_fault("drop_mid_frame", clean=True)
    with open_stream(client) as response:
        frames = Frames(response)
        sim.emit("deployment.updated")
        with pytest.raises(StopIteration):
            frames.next()
        assert frames.buffer.startswith(b"id: ")


def test_status_fault_answers_n_requests_then_recovers(sim: Simulator, client: httpx.Client) -> None:
    sim.add_fault("status", count=2, status=503, retry_after=2)
    for _ in range(2):
        response = client.get(EVENTS_PATH, headers=AUTH)
        assert_error(response, 503, "service_unavailable")
        assert response.headers["retry-after"] == "2"
    with open_stream(client) as response:
        assert response.status_code == 200
    sim.add_fault("status", status=502, path="/api/billing/balance")
    assert_error(client.get("/api/billing/balance", headers=AUTH), 502, "upstream_error")
    assert client.get("/api/billing/balance", headers=AUTH).status_code == 200
    assert sim.faults == []


def test_unauthorized_and_rate_limit_faults(sim: Simulator, client: httpx.Client) -> None:
    sim.add_fault("unauthorized")
    assert_error(client.get(EVENTS_PATH, headers=AUTH), 401, "app_revoked")
    sim.add_fault("rate_limit", retry_after=7)
    response = client.get(EVENTS_PATH, headers=AUTH)
    assert_error(response, 429, "rate_limited")
    assert response.headers["retry-after"] == "7"
    assert sim.stats.responses[(EVENTS_PATH, 401)] == 1
    assert sim.stats.responses[(EVENTS_PATH, 429)] == 1


def test_stall_sends_headers_then_nothing_until_the_client_leaves(sim: Simulator) -> None:
    sim.add_fault("stall")
    with httpx.Client(base_url=sim.base_url, timeout=httpx.Timeout(5.0, read=4 * PING_INTERVAL)) as c:
        with open_stream(c) as response:
            assert response.status_code == 200
            sim.emit("deployment.updated")
            with pytest.raises(httpx.ReadTimeout):  # not even a ping in four ping intervals
                next(response.iter_raw())
            assert sim.stats.open_streams == 1
    wait_until(lambda: sim.stats.open_streams == 0)


def test_flap_accepts_then_ends_at_once(sim: Simulator, client: httpx.Client) -> None:
    sim.add_fault("flap", count=2)
    for _ in range(2):
        with open_stream(client) as response:
            assert response.status_code == 200
            assert response.read() == b""
    with open_stream(client) as response:
        assert Frames(response).next(pings=True)["comments"] == ["ping"]


def test_malformed_json_and_invalid_utf8_frames_then_the_stream_goes_on(
        sim: Simulator, client: httpx.Client) -> None:
    with open_stream(client) as response:
        frames = Frames(response)
        sim.add_fault("malformed_json")
        bad_json = frames.next()
        assert isinstance(bad_json["data"], str) and bad_json["id"] is None
        sim.add_fault("invalid_utf8")
        raw = frames.next_raw()
        with pytest.raises(UnicodeDecodeError):
            raw.decode("utf-8")
        assert parse_block(raw)["data"]["slug"] == "gm\ufffd\ufffdail"
        event = sim.emit("deployment.updated")
        assert frames.next()["id"] == event


def test_oversized_line_burst_retry_and_raw(sim: Simulator, client: httpx.Client) -> None:
    with open_stream(client) as response:
        frames = Frames(response)
        sim.add_fault("oversized_line", size=300_000)
        huge = frames.next_raw()
        assert len(huge) > 300_000 and huge.count(b"\n") == 1
        sim.add_fault("burst", n=40)
        burst = frames.events(40)
        assert len({b["id"] for b in burst}) == 40
        sim.add_fault("retry", ms=1234)
        block = frames.next()
        while block["event"] == "connection_updated":  # the last burst event's alias
            block = frames.next()
        assert block["retry"] == "1234" and block["data"] is None
        sim.add_fault("raw", data=b"\xef\xbb\xbfdata: hello\n\n")
        assert frames.next_raw() == b"\xef\xbb\xbfdata: hello"


def test_stream_fault_waits_for_the_next_stream_when_none_is_open(
        sim: Simulator, client: httpx.Client) -> None:
    sim.add_fault("malformed_json")
    assert sim.faults == [("malformed_json", 1)]
    with open_stream(client) as response:
        assert isinstance(Frames(response).next()["data"], str)
    assert sim.faults == []


def test_unknown_fault_or_parameter_is_refused(sim: Simulator) -> None:
    with pytest.raises(ValueError):
        sim.add_fault("explode")
    with pytest.raises(ValueError):
        sim.add_fault("burst", size=3)


def test_drop_streams_ends_every_open_stream(sim: Simulator, client: httpx.Client) -> None:
    with open_stream(client) as a, open_stream(client) as b:
        wait_until(lambda: sim.stats.open_streams == 2)
        assert sim.drop_streams() == 2
        for response in (a, b):
            response.read()  # returns: the response ended cleanly (a hang would raise ReadTimeout)
    wait_until(lambda: sim.stats.open_streams == 0)


# -- lifecycle ------------------------------------------------------------------------------------------------

def test_stop_ends_streams_releases_the_port_and_can_restart() -> None:
    sim = Simulator(key=KEY, ping_interval=PING_INTERVAL).start()
    port = sim.port
    with httpx.Client(base_url=sim.base_url, timeout=TIMEOUT) as c, open_stream(c) as response:
        frames = Frames(response)
        sim.stop()
        with pytest.raises((StopIteration, httpx.RemoteProtocolError)):
            while True:
                frames.next(pings=True)
    assert not sim.running
    assert not any(t.name.startswith("vendo-simulator") and t.is_alive() for t in threading.enumerate())
    probe = socket.socket()
    probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    probe.bind(("127.0.0.1", port))  # free again
    probe.close()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/api/billing/balance", headers=AUTH)
    sim.start()
    try:
        assert sim.port == port
        assert httpx.get(f"{sim.base_url}/api/billing/balance", headers=AUTH).status_code == 200
    finally:
        sim.stop()


def test_a_busy_port_is_an_error_not_a_silent_second_server() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(OSError):
            Simulator(port=taken.getsockname()[1]).start()


def test_events_endpoint_only_answers_get(client: httpx.Client) -> None:
    assert_error(client.post(EVENTS_PATH, headers=AUTH), 405, "method_not_allowed")


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "::", "example.com"])
def test_only_loopback_addresses_are_accepted(host: str) -> None:
    with pytest.raises(ValueError, match="loopback"):
        Simulator(host=host)


def test_localhost_means_ipv4_loopback() -> None:
    assert Simulator(host="localhost").host == "127.0.0.1"


# -- web pages ------------------------------------------------------------------------------------------------

def test_pages_land_somewhere_real_and_connect_never_echoes_the_key(
        sim: Simulator, client: httpx.Client) -> None:
    sim.set_connection_status("slack", "needs_reauth")
    slack = sim.connection("slack")
    for path in ("/dashboard", f"/dashboard/connections/{slack['id']}", f"/connections/{slack['id']}",
                 "/billing", "/docs/integrations/slack"):
        page = client.get(path)
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html"), path
    assert client.get("/logos/slack.svg").headers["content-type"].startswith("image/svg+xml")
    secret = "vendo_sk_live_DO_NOT_ECHO"
    page = client.get("/connections/connect/slack", params={"app_key": secret, "return_to": "x"})
    assert page.status_code == 200 and "Slack" in page.text and secret not in page.text
    assert client.post("/connections/connect/slack").status_code == 200
    assert sim.connection("slack")["status"] == "connected"
    assert sim.history[-1]["data"]["status"] == "connected"
    assert client.get("/dashboard/connections/conn_nope").status_code == 404
    before = sim.balance_micros
    client.post("/billing/top-up?amount_micros=20000000")
    assert sim.balance_micros == before + 20_000_000


# -- scenarios ------------------------------------------------------------------------------------------------

def test_demo_story_plays_fast_and_a_resuming_client_loses_nothing(
        sim: Simulator, client: httpx.Client) -> None:
    seen: list[str] = []
    with open_stream(client) as response:
        frames = Frames(response)
        done = sim.run_scenario("demo", speed=40, rounds=1)
        with pytest.raises(httpx.RemoteProtocolError):  # the story's mid-frame drop
            while True:
                block = frames.next()
                if block["event"] and "." in block["event"]:
                    seen.append(block["id"])
    with open_stream(client, {"Last-Event-ID": seen[-1]}) as response:
        frames = Frames(response)
        done.result(timeout=10)
        final = sim.last_event_id
        while not seen or seen[-1] != final:
            block = frames.next()
            if block["event"] and "." in block["event"]:
                seen.append(block["id"])
    history = sim.history
    assert seen == [e["id"] for e in history]  # every event once, in order, across the drop
    story = [(e["kind"], e["data"].get("slug"), e["data"].get("status"),
              e["data"].get("remaining_micros")) for e in history]
    assert ("connection.connected", "linear", None, None) in story
    assert ("connection.status_changed", "slack", "needs_reauth", None) in story
    assert ("connection.status_changed", "notion", "error", None) in story
    assert ("billing.balance_changed", None, None, 420_000) in story
    assert ("billing.balance_changed", None, None, 0) in story
    assert ("connection.status_changed", "slack", "connected", None) in story
    assert story[-1] == ("connection.disconnected", "linear", None, None)
    assert sim.connection("notion")["status"] == "connected"
    assert sim.balance_micros == 25_000_000


def test_seed_scenario_emits_only_seed_kinds(sim: Simulator) -> None:
    sim.run_scenario("seed", speed=200, rounds=1).result(timeout=10)
    kinds = [e["kind"] for e in sim.history]
    assert set(kinds) == {"connection.connected", "connection.needs_reauth", "connection.error",
                          "billing.balance_low", "billing.balance_exhausted", "deployment.updated",
                          "connection.disconnected"}
    assert all("id" not in e["data"] for e in sim.history)


@pytest.mark.parametrize("name", ["quiet", "burst", "flapping", "faults"])
def test_every_scenario_plays_a_round(sim: Simulator, name: str) -> None:
    sim.run_scenario(name, speed=400, rounds=1).result(timeout=10)
    assert sim.scenario is None


def test_scenario_can_be_replaced_and_stopped(sim: Simulator) -> None:
    first = sim.run_scenario("quiet")
    second = sim.run_scenario("burst", speed=1000)
    wait_until(first.cancelled)
    assert sim.scenario == "burst"
    sim.stop_scenario()
    wait_until(second.done)
    with pytest.raises(ValueError):
        sim.run_scenario("nope")


# -- command line ------------------------------------------------------------------------------------------------

def _cli(*args: str, **kw: Any) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "vendo_tray", "simulate", *args], text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=desktop.like_a_terminal_command, **kw)


def test_cli_lists_scenarios() -> None:
    out, _ = _cli("--list-scenarios").communicate(timeout=20)
    names = [line.split()[0] for line in out.splitlines() if line.strip()]
    assert names == list(SCENARIOS)


def test_cli_serves_prints_url_and_demo_key_and_exits_0_on_ctrl_c() -> None:
    proc = _cli("--port", "0", "--ping", "0.2", "--scenario", "burst")
    try:
        first = proc.stdout.readline()
        assert "http://127.0.0.1:" in first, first
        url = first.split()[4]
        assert f"API key: {DEMO_KEY}" in proc.stdout.readline()
        balance = httpx.get(f"{url}/api/billing/balance",
                            headers={"Authorization": f"Bearer {DEMO_KEY}"}, timeout=5)
        assert balance.status_code == 200
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert "simulator stopped" in out


def test_cli_refuses_an_unknown_scenario() -> None:
    proc = _cli("--scenario", "nope", env={**os.environ})
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 2 and "unknown scenario" in err
