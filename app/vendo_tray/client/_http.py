"""What every request to Vendo shares: where, who, which API version, and
how a failed response becomes a typed error.

Kept apart from rest.py and events.py so both speak to the server the same
way (same headers, same error reading), and so the one place that touches the
API key in plain text is small enough to audit.
"""

from __future__ import annotations

import functools
import json
import os
import platform
import re
import ssl
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from vendo_tray import __version__
from vendo_tray.client.errors import (
    AuthError,
    PaymentRequired,
    RateLimited,
    ServerError,
    VendoError,
)
from vendo_tray.client.safety import DEFAULT_BASE_URL, base_url_problem, mask, plain

API_VERSION = "2026-05-02"
ENV_API_KEY = "VENDO_API_KEY"
ENV_BASE_URL = "VENDO_BASE_URL"

#: Longest server-supplied message we carry; error bodies can be anything.
MAX_MESSAGE = 300
#: Most of an error body we read; a hostile server may send gigabytes.
MAX_ERROR_BODY = 64 * 1024
#: Longest ``Last-Event-ID`` we send: servers cap a request's headers (uvicorn at
#: 16 KiB in all), and a request refused for its size would fail every reconnect.
MAX_RESUME_ID_BYTES = 4096
#: What HTTP allows in a field value (RFC 9110 5.5): visible bytes, obs-text
#: (so UTF-8 passes), and spaces or tabs only between them.
_FIELD_VALUE = re.compile(rb"[\x21-\x7e\x80-\xff]+(?:[ \t]+[\x21-\x7e\x80-\xff]+)*")


class ApiKey:
    """The API key, wrapped so that printing it, logging it or dumping the
    locals of a crashed frame shows a mask instead of the secret.

    Only :meth:`reveal` returns the text, and only request headers call it.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def redact(self, text: str) -> str:
        """``text`` with every copy of the key masked (for server-echoed messages)."""
        return text.replace(self._value, mask(self._value)) if self._value and self._value in text else text

    def __repr__(self) -> str:
        return f"ApiKey({mask(self._value)!r})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ApiKey) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __reduce__(self) -> Any:
        raise TypeError("an API key is not picklable")


def resolve_api_key(api_key: str | None) -> ApiKey | None:
    """The argument, else ``VENDO_API_KEY``; blank counts as absent (OSS mode)."""
    value = api_key if api_key is not None else os.environ.get(ENV_API_KEY)
    value = (value or "").strip()
    return ApiKey(value) if value else None


def resolve_base_url(base_url: str | None) -> str:
    """The argument, else ``VENDO_BASE_URL``, else https://vendo.run; no trailing slash.

    Raises ValueError for anything that is not an absolute https URL (http on
    loopback only: the key travels in every request), so a typo fails at start-up
    with a clear message instead of as a stream of connection errors.
    """
    value = (base_url or os.environ.get(ENV_BASE_URL) or DEFAULT_BASE_URL).strip()
    problem = base_url_problem(value)
    if problem is not None:
        raise ValueError(f"Vendo base URL {value[:100]!r}: {problem}")
    return value.rstrip("/")


@functools.cache
def tls_context() -> ssl.SSLContext:
    """The one TLS context every client of this process verifies servers with.

    httpx's default, built once: certifi's CA bundle (or SSL_CERT_FILE /
    SSL_CERT_DIR), full verification.  WHY shared: httpx builds one per client,
    parsing the whole bundle (~15 ms and ~1 MB each), and the monitor makes a new
    client for every stream lifetime (every reconnect), the settings dialog one
    per key test.  An SSLContext is made to be shared by many connections.
    """
    return httpx.create_ssl_context()


def user_agent() -> str:
    py = f"{sys.version_info.major}.{sys.version_info.minor}"
    return f"vendo-tray/{__version__} (Python {py}; httpx {httpx.__version__}; {platform.system() or 'unknown'})"


def request_headers(key: ApiKey, accept: str) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {key.reveal()}",
        "Accept": accept,
        "Vendo-API-Version": API_VERSION,
        "User-Agent": user_agent(),
    }


def resume_header(last_event_id: object) -> bytes | None:
    """``Last-Event-ID`` as it can go on the wire, or None when it cannot.

    An SSE id is any string without NUL (spaces, non-ASCII, control
    characters), and it comes from the server or back from disk: untrusted.
    It goes out as UTF-8 bytes, trimmed of spaces and tabs as HTTP trims every
    field value (a server never sees them anyway, so it matches its ids in
    that form).  What still is not a legal field value (a control character,
    a lone surrogate, an absurd length, not text at all) gives None: the
    caller resumes without it rather than fail every reconnect.
    """
    if not isinstance(last_event_id, str):
        return None
    try:
        value = last_event_id.encode("utf-8").strip(b" \t")
    except UnicodeEncodeError:
        return None
    if len(value) > MAX_RESUME_ID_BYTES or not _FIELD_VALUE.fullmatch(value):
        return None
    return value


async def read_capped(response: httpx.Response, limit: int = MAX_ERROR_BODY) -> bytes:
    """Up to ``limit`` bytes of a streamed response body (the rest is never read)."""
    body = bytearray()
    async for chunk in response.aiter_bytes():
        body += chunk
        if len(body) >= limit:
            break
    return bytes(body[:limit])


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """``Retry-After`` as seconds: delta-seconds or an HTTP date; None if absent or junk."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - (now or datetime.now(timezone.utc))).total_seconds())


def error_from_response(status: int, headers: httpx.Headers, body: bytes, *,
                        key: ApiKey | None, reason: str = "") -> VendoError:
    """The typed error for a failed response.

    The code comes from the ``Vendo-Error-Code`` header, else the body; the
    body comes in three shapes (``{error:{code,message}}``, ``{error:{message}}``,
    ``{message}``).  Anything the server says is cleaned (printable, capped)
    and has the key masked in case the server echoes it.  The key is masked in
    the raw body and header, before anything is capped: a cap that cut the key
    in two would leave its head where a later redaction cannot recognise it.
    """
    code = headers.get("vendo-error-code") or None
    if key is not None:
        secret = key.reveal().encode()
        if secret and secret in body:
            body = body.replace(secret, mask(key.reveal()).encode())
        code = key.redact(code) if code else code
    payload: Any = None
    try:
        payload = json.loads(body) if body else None
    except (ValueError, RecursionError):
        payload = None
    err = payload.get("error") if isinstance(payload, dict) else None
    message = None
    connect_url = None
    if isinstance(err, dict):
        code = code or _clean(err.get("code"))
        message = _clean(err.get("message"))
        connect_url = _clean_url(err.get("connect_url"))
    elif isinstance(err, str):
        message = _clean(err)
    if isinstance(payload, dict):
        message = message or _clean(payload.get("message"))
        code = code or _clean(payload.get("code"))
        connect_url = connect_url or _clean_url(payload.get("connect_url"))
    code = _clean(code)
    message = message or reason or f"HTTP {status}"
    if key is not None:
        message = key.redact(message)  # the reason phrase is server text too
    kw: dict[str, Any] = {"status": status, "code": code, "connect_url": connect_url}
    if status in (401, 403):
        return AuthError(message, **kw)
    if status == 402:
        return PaymentRequired(message, **kw)
    if status == 429:
        return RateLimited(message, retry_after=parse_retry_after(headers.get("retry-after")), **kw)
    if status >= 500:
        return ServerError(message, **kw)
    return VendoError(message, **kw)


def _clean(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    return plain(value[: MAX_MESSAGE * 2], MAX_MESSAGE) or None


def _clean_url(value: Any) -> str | None:
    """A ``connect_url`` is kept only if it is a plain http(s) URL; links.py vets it again before opening."""
    if not isinstance(value, str) or len(value) > 2048 or not value.isprintable() or " " in value:
        return None
    return value if urlsplit(value).scheme in ("http", "https") else None


@dataclass(frozen=True, slots=True)
class Transport:
    """What AsyncVendo hands its sub-APIs (events, connections, billing): the key, the base
    URL, the one connection pool and the retry settings, so none reads another object's
    private fields.  Its repr is safe to log: :class:`ApiKey` masks itself."""

    key: ApiKey | None
    base_url: str
    http: httpx.AsyncClient
    timeout: httpx.Timeout
    connect_timeout: float
    max_retries: int
    retry_backoff: float
    sleep: Callable[[float], Awaitable[object]]
