"""REST calls, typed errors and the shared request plumbing.

The calls run against the simulator; the hostile-response cases the
simulator cannot produce (junk entries, non-JSON 200s) use httpx's
MockTransport, which exercises the same client code path.
"""

from __future__ import annotations

import json
import logging
import pickle
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from vendo_tray import __version__
from vendo_tray.client import (
    API_VERSION,
    APIConnectionError,
    AsyncVendo,
    AuthError,
    Balance,
    Connection,
    PaymentRequired,
    RateLimited,
    ServerError,
    SpendCaps,
    VendoError,
    VendoOnlyFeature,
)
from vendo_tray.client._http import ApiKey, error_from_response, parse_retry_after, resolve_base_url
from vendo_tray.simulator import Simulator

pytestmark = pytest.mark.timeout(30)

CONNECTIONS = "/api/deployments/me/connections"
BALANCE = "/api/billing/balance"
CAPS = "/api/billing/spend-caps"


class Sleeps:
    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.calls.append(delay)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
async def client(simulator: Simulator, api_key: str, sleeps: Sleeps) -> Any:
    async with AsyncVendo(api_key=api_key, base_url=simulator.base_url, sleep=sleeps) as c:
        yield c


def mock_client(handler: Any, **kw: Any) -> AsyncVendo:
    return AsyncVendo(api_key="vendo_sk_mock_secret", base_url="https://vendo.test",
                      transport=httpx.MockTransport(handler), **kw)


# --- shapes ---------------------------------------------------------------------

async def test_connections_list_matches_the_server(simulator: Simulator, client: AsyncVendo,
                                                   api_key: str) -> None:
    connections = await client.connections.list()
    assert [c.slug for c in connections] == [c["slug"] for c in simulator.connections]
    by_slug = {c.slug: c for c in connections}
    for raw in simulator.connections:
        got = by_slug[raw["slug"]]
        assert isinstance(got, Connection)
        assert (got.id, got.display_name, got.status, got.category) == (
            raw["id"], raw["display_name"], raw["status"], raw["category"])
        assert got.setup_url == raw["setup_url"] and got.raw == raw
    assert any(c.id is None for c in connections)         # "available" ones have no id yet
    headers = simulator.stats.headers_by_path[CONNECTIONS]
    assert headers["authorization"] == f"Bearer {api_key}"
    assert headers["accept"] == "application/json"
    assert headers["vendo-api-version"] == API_VERSION
    assert headers["user-agent"].startswith(f"vendo-tray/{__version__}")


async def test_get_filters_the_list(simulator: Simulator, client: AsyncVendo) -> None:
    simulator.set_connection_status("slack", "needs_reauth")
    slack = await client.connections.get("slack")
    assert slack is not None and slack.status == "needs_reauth"
    assert await client.connections.get("no-such-integration") is None
    assert simulator.stats.requests[CONNECTIONS] == 2


async def test_balance_and_spend_caps(simulator: Simulator, client: AsyncVendo) -> None:
    simulator.set_balance(420_000)
    simulator.set_spend_caps(daily_micros=None, used_today_micros=7)
    balance = await client.billing.balance()
    caps = await client.billing.spend_caps()
    assert balance == Balance(credits_remaining_micros=420_000, currency="USD",
                              top_up_url=f"{simulator.base_url}/billing")
    expected = simulator.spend_caps
    assert caps == SpendCaps(daily_micros=None, monthly_micros=expected["monthly_micros"],
                             used_today_micros=7, used_month_micros=expected["used_month_micros"])


# --- typed errors -------------------------------------------------------------------

@pytest.mark.parametrize(("state", "code"), [("revoked", "app_revoked"), ("expired", "app_expired")])
async def test_rejected_key_is_an_auth_error(simulator: Simulator, client: AsyncVendo, api_key: str,
                                             state: str, code: str) -> None:
    simulator.set_key_state(state)
    with pytest.raises(AuthError) as info:
        await client.connections.list()
    assert (info.value.status, info.value.code) == (401, code)
    assert api_key not in str(info.value)
    assert simulator.stats.requests[CONNECTIONS] == 1


async def test_unknown_key(simulator: Simulator) -> None:
    async with AsyncVendo(api_key="vendo_sk_nope_nope", base_url=simulator.base_url) as client:
        with pytest.raises(AuthError) as info:
            await client.billing.balance()
    assert info.value.code == "app_unknown"


async def test_402_is_payment_required(simulator: Simulator, client: AsyncVendo) -> None:
    simulator.add_fault("status", status=402, path=BALANCE)
    with pytest.raises(PaymentRequired) as info:
        await client.billing.balance()
    assert info.value.code == "insufficient_credits"


async def test_429_is_rate_limited_with_retry_after_and_not_retried(simulator: Simulator, client: AsyncVendo,
                                                                     sleeps: Sleeps) -> None:
    simulator.add_fault("rate_limit", retry_after=2, path=BALANCE)
    with pytest.raises(RateLimited) as info:
        await client.billing.balance()
    assert info.value.retry_after == 2.0 and info.value.code == "rate_limited"
    assert simulator.stats.requests[BALANCE] == 1 and sleeps.calls == []


@pytest.mark.parametrize("status", [502, 503, 504])
async def test_gateway_errors_are_retried_with_backoff(simulator: Simulator, client: AsyncVendo,
                                                       sleeps: Sleeps, status: int) -> None:
    simulator.add_fault("status", count=2, status=status, path=CAPS)
    caps = await client.billing.spend_caps()
    assert isinstance(caps, SpendCaps)
    assert simulator.stats.requests[CAPS] == 3
    assert sleeps.calls == [0.5, 1.0]


async def test_gateway_errors_give_up_after_the_retries(simulator: Simulator, client: AsyncVendo,
                                                         sleeps: Sleeps) -> None:
    simulator.add_fault("status", count=10, status=503, path=CONNECTIONS)
    with pytest.raises(ServerError) as info:
        await client.connections.list()
    assert (info.value.status, info.value.code) == (503, "service_unavailable")
    assert simulator.stats.requests[CONNECTIONS] == 3
    simulator.clear_faults()


async def test_retry_after_on_a_503_is_used(simulator: Simulator, client: AsyncVendo, sleeps: Sleeps) -> None:
    simulator.add_fault("status", count=1, status=503, retry_after=3, path=CONNECTIONS)
    await client.connections.list()
    assert sleeps.calls == [3.0]


async def test_500_is_not_retried(simulator: Simulator, client: AsyncVendo, sleeps: Sleeps) -> None:
    simulator.add_fault("status", count=1, status=500, path=CONNECTIONS)
    with pytest.raises(ServerError):
        await client.connections.list()
    assert simulator.stats.requests[CONNECTIONS] == 1 and sleeps.calls == []


async def test_unreachable_server_is_a_connection_error() -> None:
    async with AsyncVendo(api_key="vendo_sk_unreachable_secret", base_url="http://127.0.0.1:9") as client:
        with pytest.raises(APIConnectionError) as info:
            await client.connections.list()
    assert "127.0.0.1:9" in str(info.value)
    assert "vendo_sk_unreachable_secret" not in str(info.value)
    assert info.value.__cause__ is None    # the httpx error (holding the request headers) is not chained


async def test_every_client_shares_one_tls_context_and_it_still_refuses_an_untrusted_server(tmp_path) -> None:
    """httpx built a context per client, parsing certifi's whole bundle (~15 ms, ~1 MB) at every
    reconnect; the one shared context must verify as httpx's default does."""
    import asyncio
    import ssl
    import subprocess

    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
                    "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    server_side = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_side.load_cert_chain(cert, key)

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0, ssl=server_side)
    port = server.sockets[0].getsockname()[1]
    first = AsyncVendo(api_key="vendo_sk_tls_secret", base_url=f"https://127.0.0.1:{port}")
    second = AsyncVendo(api_key="vendo_sk_tls_secret", base_url="https://vendo.run")
    try:
        context = first._http._transport._pool._ssl_context
        assert context is second._http._transport._pool._ssl_context
        assert context.verify_mode is ssl.CERT_REQUIRED and context.check_hostname
        with pytest.raises(APIConnectionError):  # self-signed: refused, as before
            await first.connections.list()
    finally:
        await first.aclose()
        await second.aclose()
        server.close()
        await server.wait_closed()


async def test_no_key_is_vendo_only_feature() -> None:
    async with AsyncVendo(base_url="http://127.0.0.1:9") as client:
        assert not client.has_key
        with pytest.raises(VendoOnlyFeature, match="VENDO_API_KEY"):
            await client.connections.list()


# --- hostile responses ------------------------------------------------------------------

async def test_malformed_connection_entries_are_skipped(caplog: pytest.LogCaptureFixture) -> None:
    body = {"connections": [
        {"slug": "ok", "display_name": "OK", "status": "connected", "id": "c1"},
        "not an object",
        {"display_name": "no slug"},
        {"slug": "weird", "id": 42, "display_name": ["x"], "status": None,
         "setup_url": "javascript:alert(1)", "error_message": "line\nbreak\x1b[31m" + "x" * 5000},
    ]}
    async with mock_client(lambda r: httpx.Response(200, json=body)) as client:
        with caplog.at_level(logging.WARNING):
            got = await client.connections.list()
    assert [c.slug for c in got] == ["ok", "weird"]
    weird = got[1]
    assert weird.id == "42" and weird.display_name == "weird" and weird.status == "unknown"
    assert weird.setup_url is None
    assert weird.error_message is not None and len(weird.error_message) <= 500
    assert "\x1b" not in weird.error_message and "\n" not in weird.error_message
    assert sum("malformed entry" in r.message for r in caplog.records) == 2


@pytest.mark.parametrize(("body", "path"), [
    (b"<html>proxy</html>", CONNECTIONS),
    (b'{"connections": "nope"}', CONNECTIONS),
    (b"[" * 100_000, CONNECTIONS),
    (b'{"currency": "USD"}', BALANCE),
    (b'{"credits_remaining_micros": true}', BALANCE),
    (b'[1, 2]', CAPS),
])
async def test_unexpected_shapes_are_vendo_errors(body: bytes, path: str) -> None:
    async with mock_client(lambda r: httpx.Response(200, content=body)) as client:
        call = {CONNECTIONS: client.connections.list, BALANCE: client.billing.balance,
                CAPS: client.billing.spend_caps}[path]
        with pytest.raises(VendoError):
            await call()


# --- error parsing ----------------------------------------------------------------------------

KEY = ApiKey("vendo_sk_live_secret_123")


def err(status: int, body: Any, headers: dict[str, str] | None = None) -> VendoError:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return error_from_response(status, httpx.Headers(headers or {}), raw, key=KEY, reason="Reason")


def test_three_body_shapes() -> None:
    a = err(403, {"error": {"code": "binding_missing", "message": "No binding."}})
    b = err(401, {"error": {"message": "Bad key."}})
    c = err(502, {"message": "Upstream failed.", "code": "upstream_error"})
    assert (type(a), a.code, a.message) == (AuthError, "binding_missing", "No binding.")
    assert (type(b), b.code, b.message) == (AuthError, None, "Bad key.")
    assert (type(c), c.code, c.message) == (ServerError, "upstream_error", "Upstream failed.")


def test_header_code_wins_and_connect_url_is_kept() -> None:
    e = err(401, {"error": {"code": "body_code", "message": "m",
                            "connect_url": "https://vendo.run/connections/connect/slack"}},
            {"Vendo-Error-Code": "connection_needs_reauth"})
    assert e.code == "connection_needs_reauth"
    assert e.connect_url == "https://vendo.run/connections/connect/slack"
    top = err(403, {"message": "m", "connect_url": "https://vendo.run/x"})
    assert top.connect_url == "https://vendo.run/x"
    assert err(403, {"message": "m", "connect_url": "javascript:alert(1)"}).connect_url is None


def test_non_json_and_empty_bodies_fall_back_to_the_reason() -> None:
    assert err(503, b"<html>oops</html>").message == "Reason"
    assert err(500, b"").message == "Reason"
    assert error_from_response(500, httpx.Headers(), b"", key=None).message == "HTTP 500"


def test_server_text_is_cleaned_and_the_key_redacted() -> None:
    e = err(401, {"error": {"code": "app_unknown",
                            "message": "Key vendo_sk_live_secret_123 unknown\x1b[2J\n" + "y" * 5000}})
    assert "vendo_sk_live_secret_123" not in str(e)
    assert "vendo_sk_[redacted]" in e.message
    assert "\x1b" not in e.message and "\n" not in e.message
    assert len(e.message) <= 300



@pytest.mark.parametrize("at", [270, 285, 295])
def test_a_key_cut_by_the_length_cap_leaks_no_part_of_it(at: int) -> None:
    # Redacting after the cap would miss a key the cap cut in two, leaving its head
    # (vendo_sk_ plus secret characters) in a message the UI shows.
    e = err(401, {"error": {"code": "app_unknown", "message": "y" * at + " vendo_sk_live_secret_123 z"}})
    assert "vendo_sk_l" not in e.message and "vendo_sk_live" not in str(e)
    e = err(401, {"message": "y" * at + " vendo_sk_live_secret_123 z"},
            {"Vendo-Error-Code": "y" * at + "vendo_sk_live_secret_123"})
    assert "vendo_sk_l" not in e.message and "vendo_sk_l" not in (e.code or "")

def test_rate_limited_carries_retry_after() -> None:
    e = err(429, {"error": {"code": "rate_limit_sse_streams", "message": "Too many concurrent SSE streams."}},
            {"Retry-After": "5", "Vendo-Error-Code": "rate_limit_sse_streams"})
    assert isinstance(e, RateLimited) and e.retry_after == 5.0 and e.code == "rate_limit_sse_streams"


def test_parse_retry_after() -> None:
    now = datetime(2026, 5, 2, 12, 0, 0, tzinfo=timezone.utc)
    assert parse_retry_after("7") == 7.0
    later = (now + timedelta(seconds=90)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    assert parse_retry_after(later, now=now) == 90.0
    earlier = (now - timedelta(seconds=90)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    assert parse_retry_after(earlier, now=now) == 0.0
    for junk in (None, "", "soon", "-3", "1.5"):
        assert parse_retry_after(junk, now=now) is None


# --- configuration and secrecy -------------------------------------------------------------------

def test_base_url_resolution(monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve_base_url(None) == "https://vendo.run"
    monkeypatch.setenv("VENDO_BASE_URL", "http://127.0.0.1:8765/")
    assert resolve_base_url(None) == "http://127.0.0.1:8765"
    assert resolve_base_url("https://eu.vendo.run/") == "https://eu.vendo.run"
    for bad in ("vendo.run", "ftp://vendo.run", "https://user:pw@vendo.run", "http://",
                "https://vendo.run:99999", "https://vendo.run:x", "https://bad host", "https://vendo.run/\x00"):
        with pytest.raises(ValueError):
            resolve_base_url(bad)


def test_key_precedence_and_blank_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VENDO_API_KEY", "vendo_sk_env")
    assert AsyncVendo(base_url="https://x.test").has_key
    assert not AsyncVendo(api_key="", base_url="https://x.test").has_key   # explicit blank = OSS mode
    monkeypatch.setenv("VENDO_API_KEY", "   ")
    assert not AsyncVendo(base_url="https://x.test").has_key


def test_the_key_does_not_show_in_reprs() -> None:
    client = AsyncVendo(api_key="vendo_sk_repr_secret", base_url="https://x.test")
    for text in (repr(client), str(client), repr(client._key), str(client._key), repr(vars(client))):
        assert "vendo_sk_repr_secret" not in text
    with pytest.raises(TypeError):
        pickle.dumps(client._key)
