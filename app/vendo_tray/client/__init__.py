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

import importlib as _importlib
import sys as _sys
import typing as _typing

# httpx's __init__ imports its command-line tool, and with it click and pygments
# whenever those happen to be installed (uvicorn brings click): about 6 MB and 20 ms
# at every start for a tool we never run. A None entry makes that import fail, and
# httpx then defines a stub ``main`` instead (its documented fallback).
_sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]

if _typing.TYPE_CHECKING:
    from vendo_tray.client._client import AsyncVendo
    from vendo_tray.client._http import API_VERSION
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
    from vendo_tray.client.safety import DEFAULT_BASE_URL

#: Where each public name lives. WHY loaded on first use: the models and the
#: errors are plain data that the tray, the store and the log redactor need at
#: start, while AsyncVendo, the stream and the constants beside them pull in
#: httpx (with anyio, h11, httpcore, certifi: about 8 MB and 50 ms), which the
#: app loads only after its tray icon is up.
_WHERE = {
    "AsyncVendo": "_client",
    "API_VERSION": "_http", "DEFAULT_BASE_URL": "safety",
    "Balance": "_models", "Connection": "_models", "Event": "_models", "SpendCaps": "_models",
    "StreamPhase": "_models", "StreamStatus": "_models",
    "APIConnectionError": "errors", "AuthError": "errors", "PaymentRequired": "errors",
    "RateLimited": "errors", "ServerError": "errors", "VendoError": "errors", "VendoOnlyFeature": "errors",
    "EventStream": "events", "ReconnectPolicy": "events",
}


def __getattr__(name: str) -> object:
    """``from vendo_tray.client import X``: import X's module now (PEP 562), and keep X bound."""
    where = _WHERE.get(name)
    if where is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(_importlib.import_module(f"{__name__}.{where}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WHERE))


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
