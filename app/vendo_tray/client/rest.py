"""The REST calls a tray needs: connections, balance, spend caps.

Shapes follow docs/wire.md § REST.  The server's JSON is read defensively: a
malformed entry in the connections list is skipped with a log line (the rest
still shows), while a response that is not the documented shape at all is a
:class:`VendoError`, never a ``KeyError`` deep in the UI.

Only 502/503/504 are retried, a few times with backoff: they are the
gateway's "try again", whereas repeating anything else (a rejected key, a
rate limit, a 500 from a bug) only adds load or hides the real problem.
"""

from __future__ import annotations

import builtins
import json
import logging
from typing import Any
from urllib.parse import urlsplit

import httpx

from vendo_tray.client._http import Transport, error_from_response, parse_retry_after, read_capped, request_headers
from vendo_tray.client._models import Balance, Connection, SpendCaps
from vendo_tray.client.errors import APIConnectionError, VendoError, VendoOnlyFeature

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({502, 503, 504})
#: Largest JSON body we accept from a REST call.
MAX_BODY = 8 * 1024 * 1024
#: Longest wait a 50x's Retry-After may impose on one REST call.
MAX_RETRY_WAIT = 30.0
#: Longest text kept from one field of a connection (names, messages).
MAX_TEXT = 500
MAX_URL = 2048


async def get_json(transport: Transport, path: str) -> Any:
    """GET ``path`` as JSON with the shared headers; typed errors; 50x retried."""
    key = transport.key
    if key is None:
        raise VendoOnlyFeature(f"{path} needs Vendo mode: set VENDO_API_KEY (or pass api_key)")
    url = transport.base_url + path
    host = urlsplit(url).netloc
    headers = request_headers(key, "application/json")
    attempt = 0
    while True:
        try:
            async with transport.http.stream("GET", url, headers=headers, timeout=transport.timeout) as response:
                body = await read_capped(response, MAX_BODY + 1)
        except httpx.TimeoutException:
            raise APIConnectionError(f"timed out talking to {host} ({path})") from None
        except httpx.TransportError as exc:
            raise APIConnectionError(f"cannot reach {host}: {type(exc).__name__}: {exc}") from None
        status = response.status_code
        if status in RETRY_STATUSES and attempt < transport.max_retries:
            delay = parse_retry_after(response.headers.get("retry-after"))
            if delay is None:
                delay = transport.retry_backoff * 2**attempt
            delay = min(delay, MAX_RETRY_WAIT)
            attempt += 1
            log.info("%s answered HTTP %d; retry %d/%d in %.1f s",
                     path, status, attempt, transport.max_retries, delay)
            await transport.sleep(delay)
            continue
        if not response.is_success:
            raise error_from_response(status, response.headers, body, key=key,
                                      reason=response.reason_phrase)
        if len(body) > MAX_BODY:
            raise VendoError(f"{path} answered with more than {MAX_BODY} bytes", status=status)
        try:
            return json.loads(body)
        except (ValueError, RecursionError):
            raise VendoError(f"{path} did not answer with JSON", status=status) from None


class ConnectionsAPI:
    """``client.connections``: the app's integrations and their status."""

    def __init__(self, transport: Transport) -> None:
        self._transport = transport

    async def list(self) -> builtins.list[Connection]:
        """``GET /api/deployments/me/connections``."""
        path = "/api/deployments/me/connections"
        payload = await get_json(self._transport, path)
        items = payload.get("connections") if isinstance(payload, dict) else payload
        if not isinstance(items, builtins.list):
            raise VendoError(f"{path} answered without a connections list")
        out: builtins.list[Connection] = []
        for index, item in enumerate(items):
            connection = parse_connection(item)
            if connection is None:
                log.warning("skipped malformed entry %d in the connections list", index)
            else:
                out.append(connection)
        return out

    async def get(self, slug: str) -> Connection | None:
        """The connection with ``slug``, or None.  Vendo has no single-connection
        endpoint, so this filters the list (as the official SDKs do)."""
        for connection in await self.list():
            if connection.slug == slug:
                return connection
        return None


class BillingAPI:
    """``client.billing``: balance and spend caps.  The balance endpoint allows
    60 requests a minute per IP, so callers should poll it rarely."""

    def __init__(self, transport: Transport) -> None:
        self._transport = transport

    async def balance(self) -> Balance:
        """``GET /api/billing/balance``."""
        path = "/api/billing/balance"
        payload = await get_json(self._transport, path)
        if not isinstance(payload, dict):
            raise VendoError(f"{path} answered with an unexpected shape")
        micros = _int(payload.get("credits_remaining_micros"))
        if micros is None:
            raise VendoError(f"{path} answered without credits_remaining_micros")
        return Balance(
            credits_remaining_micros=micros,
            currency=_text(payload.get("currency"), 16) or "USD",
            top_up_url=_url(payload.get("top_up_url")),
        )

    async def spend_caps(self) -> SpendCaps:
        """``GET /api/billing/spend-caps``; a missing or null cap means no cap."""
        path = "/api/billing/spend-caps"
        payload = await get_json(self._transport, path)
        if not isinstance(payload, dict):
            raise VendoError(f"{path} answered with an unexpected shape")
        return SpendCaps(
            daily_micros=_int(payload.get("daily_micros")),
            monthly_micros=_int(payload.get("monthly_micros")),
            used_today_micros=_int(payload.get("used_today_micros")) or 0,
            used_month_micros=_int(payload.get("used_month_micros")) or 0,
        )


def parse_connection(item: Any) -> Connection | None:
    """One list entry as a :class:`Connection`; None if it has no usable slug."""
    if not isinstance(item, dict):
        return None
    slug = _text(item.get("slug"), MAX_TEXT)
    if slug is None:
        return None
    raw_id = item.get("id")
    conn_id = _text(raw_id, MAX_TEXT) if isinstance(raw_id, str) else (
        str(raw_id) if isinstance(raw_id, int) and not isinstance(raw_id, bool) else None)
    return Connection(
        id=conn_id,
        slug=slug,
        display_name=_text(item.get("display_name"), MAX_TEXT) or slug,
        status=_text(item.get("status"), 64) or "unknown",
        category=_text(item.get("category"), MAX_TEXT),
        error_message=_text(item.get("error_message"), MAX_TEXT),
        setup_url=_url(item.get("setup_url")),
        logo_url=_url(item.get("logo_url")),
        brand_color=_text(item.get("brand_color"), 32),
        docs_url=_url(item.get("docs_url")),
        raw=item,
    )


def _text(value: Any, limit: int) -> str | None:
    if not isinstance(value, str):
        return None
    clean = "".join(ch for ch in value[: limit * 2] if ch.isprintable()).strip()
    return clean[:limit] or None


def _url(value: Any) -> str | None:
    if not isinstance(value, str) or len(value) > MAX_URL or not value.isprintable():
        return None
    return value if urlsplit(value).scheme in ("http", "https") else None


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None
