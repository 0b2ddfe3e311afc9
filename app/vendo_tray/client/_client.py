"""``AsyncVendo``: one object holding the key, the base URL and one HTTP
connection pool, with the API groups hanging off it like Vendo's own SDK."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from types import TracebackType

import httpx

from vendo_tray.client._http import Transport, resolve_api_key, resolve_base_url, tls_context
from vendo_tray.client.events import EventsAPI
from vendo_tray.client.rest import BillingAPI, ConnectionsAPI


class AsyncVendo:
    """The Vendo API client.

    ``api_key`` defaults to ``VENDO_API_KEY`` (none = OSS mode: REST calls and
    ``events.subscribe()`` raise :class:`VendoOnlyFeature`); ``base_url`` to
    ``VENDO_BASE_URL``, else https://vendo.run.  ``transport`` swaps the HTTP
    transport (tests); ``max_retries``/``retry_backoff`` shape the REST
    retries on 502/503/504; ``sleep`` is injectable so backoff tests do not wait.

    Use it as an async context manager, or call :meth:`aclose`.
    """

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        *,
        timeout: float = 15.0,
        transport: httpx.AsyncBaseTransport | None = None,
        max_retries: int = 2,
        retry_backoff: float = 0.5,
        sleep: Callable[[float], Awaitable[object]] | None = None,
    ) -> None:
        self._key = resolve_api_key(api_key)
        self.base_url = resolve_base_url(base_url)
        # The key goes into each request's headers, not the client's defaults,
        # so it sits in exactly one code path (client._http.request_headers).
        self._http = httpx.AsyncClient(transport=transport, follow_redirects=False, verify=tls_context())
        shared = Transport(key=self._key, base_url=self.base_url, http=self._http,
                           timeout=httpx.Timeout(timeout), connect_timeout=timeout,
                           max_retries=max(0, max_retries), retry_backoff=retry_backoff,
                           sleep=sleep or asyncio.sleep)
        self.events = EventsAPI(shared)
        self.connections = ConnectionsAPI(shared)
        self.billing = BillingAPI(shared)

    @property
    def has_key(self) -> bool:
        """True in Vendo mode (a key is set); False in OSS mode."""
        return self._key is not None

    def __repr__(self) -> str:
        return f"AsyncVendo(base_url={self.base_url!r}, key={'set' if self._key else 'unset'})"

    async def aclose(self) -> None:
        """Close the connection pool (and with it any open stream)."""
        await self._http.aclose()

    async def __aenter__(self) -> AsyncVendo:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.aclose()
