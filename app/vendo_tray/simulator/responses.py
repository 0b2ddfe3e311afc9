"""Vendo-shaped error responses: ``{"error":{"code","message"}}`` + ``Vendo-Error-Code``."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from starlette.responses import JSONResponse

from vendo_tray.simulator.faults import Fault

#: The documented 401/403 codes and the messages the simulator gives them.
AUTH_MESSAGES: dict[str, str] = {
    "app_unknown": "No app matches this key.",
    "app_revoked": "This app key has been revoked.",
    "app_expired": "This app key has expired.",
    "connection_needs_reauth": "The connection needs to be re-authorized.",
    "binding_missing": "This app has no binding for the requested connection.",
    "connection_revoked": "The connection was revoked.",
}

_STATUS_CODES: dict[int, str] = {
    402: "insufficient_credits",
    404: "not_found",
    500: "internal_error",
    502: "upstream_error",
    503: "service_unavailable",
    504: "gateway_timeout",
}


def _retry_after(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)


def error_response(fault: Fault | None, *, status: int | None = None, code: str | None = None,
                   message: str | None = None, retry_after: Any = None) -> JSONResponse:
    """An error body in the first of Vendo's three shapes, from a fault or explicit values."""
    if fault is not None:
        params = fault.params
        if fault.name == "unauthorized":
            status, code = int(params["status"]), str(params["code"])
        elif fault.name == "rate_limit":
            status, code = 429, str(params["code"])
            message = "Too many requests."
            retry_after = params["retry_after"]
        else:  # "status"
            status = int(params["status"])
            code = params["code"] or _STATUS_CODES.get(status, f"http_{status}")
            retry_after = params["retry_after"]
    assert status is not None and code is not None
    if message is None:
        message = AUTH_MESSAGES.get(code) or _phrase(status)
    headers = {"Vendo-Error-Code": code}
    if retry_after is not None:
        headers["Retry-After"] = _retry_after(retry_after)
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="vendo"'
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status,
                        headers=headers)


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase + "."
    except ValueError:
        return f"HTTP {status}."
