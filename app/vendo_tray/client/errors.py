"""Typed errors for the Vendo API.

Callers branch on the class (retry or not, ask the user or not); the wire's
own ``code`` and ``message`` ride along so the UI can show exactly what the
server said.  None of these ever carries the API key.
"""

from __future__ import annotations

from typing import Any


class VendoError(Exception):
    """Any failure talking to Vendo."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        connect_url: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.connect_url = connect_url

    def __str__(self) -> str:
        parts = [self.message]
        if self.code:
            parts.append(f"[{self.code}]")
        if self.status is not None:
            parts.append(f"(HTTP {self.status})")
        return " ".join(parts)


class VendoOnlyFeature(VendoError):
    """The call needs Vendo mode, i.e. an API key (VENDO_API_KEY)."""


class AuthError(VendoError):
    """401/403: the key is unknown, revoked or expired, or lacks a binding.

    Never retried: retrying a rejected key only hammers the server.
    """


class PaymentRequired(VendoError):
    """402: the app has no credits left."""


class RateLimited(VendoError):
    """429: too many requests or too many concurrent streams."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.retry_after = retry_after


class ServerError(VendoError):
    """5xx from Vendo (or the upstream it proxies)."""


class APIConnectionError(VendoError):
    """The server could not be reached, or the connection broke."""
