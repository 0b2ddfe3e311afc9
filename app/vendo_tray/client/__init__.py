"""The Vendo API client, Qt-free and shaped like Vendo's Python SDK (docs/wire.md)::

    from vendo_tray.client import AsyncVendo

    async with AsyncVendo() as client:          # VENDO_API_KEY, VENDO_BASE_URL
        async with client.events.subscribe() as stream:
            async for event in stream:
                print(event.kind, event.data)

Public surface: :class:`AsyncVendo`, the models, the typed errors.  The
modules with a leading underscore are private.
"""

from __future__ import annotations

import sys

# httpx's __init__ imports its command-line tool, and with it click and pygments
# whenever those happen to be installed (uvicorn brings click): about 6 MB and 20 ms
# at every start for a tool we never run. A None entry makes that import fail, and
# httpx then defines a stub ``main`` instead (its documented fallback).
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]

from vendo_tray.client._client import AsyncVendo
from vendo_tray.client._http import API_VERSION, DEFAULT_BASE_URL
from vendo_tray.client._models import Balance, Connection, Event, SpendCaps, StreamPhase, StreamStatus
from vendo_tray.client.errors import (
    APIConnectionError,
    AuthError,
    PaymentRequired,
    RateLimited,
    ServerError,
    VendoError,
    VendoOnlyFeature,
)
from vendo_tray.client.events import EventStream, ReconnectPolicy

__all__ = [
    "API_VERSION",
    "DEFAULT_BASE_URL",
    "APIConnectionError",
    "AsyncVendo",
    "AuthError",
    "Balance",
    "Connection",
    "Event",
    "EventStream",
    "PaymentRequired",
    "RateLimited",
    "ReconnectPolicy",
    "ServerError",
    "SpendCaps",
    "StreamPhase",
    "StreamStatus",
    "VendoError",
    "VendoOnlyFeature",
]
