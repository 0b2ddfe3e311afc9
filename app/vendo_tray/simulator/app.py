"""The simulator's Starlette application: REST, the events stream, the web pages."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vendo_tray.simulator import pages
from vendo_tray.simulator.responses import error_response
from vendo_tray.simulator.stream import EventsEndpoint
from vendo_tray.simulator.wire import EVENTS_PATH

if TYPE_CHECKING:
    from vendo_tray.simulator.server import Simulator


class _Recorder:
    """ASGI middleware that counts requests and keeps their headers in ``sim.stats``."""

    def __init__(self, app: ASGIApp, sim: Simulator) -> None:
        self.app = app
        self.sim = sim

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        stats = self.sim.stats
        path = scope["path"]
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        stats.requests[path] += 1
        stats.last_headers = headers
        stats.headers_by_path[path] = headers

        async def recording_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                stats.responses[(path, int(message["status"]))] += 1
            await send(message)

        await self.app(scope, receive, recording_send)


def build_app(sim: Simulator) -> ASGIApp:
    """One Starlette app bound to ``sim`` (its state, hub, faults and stats)."""

    def gate(request: Request) -> Response | None:
        """A request fault for this path, else the Bearer check."""
        fault = sim.fault_book.take_request(request.url.path)
        if fault is not None:
            return error_response(fault)
        return sim.auth_error(request)

    async def connections(request: Request) -> Response:
        return gate(request) or JSONResponse({"connections": sim.connections})

    async def balance(request: Request) -> Response:
        return gate(request) or JSONResponse(sim.balance_json())

    async def spend_caps(request: Request) -> Response:
        return gate(request) or JSONResponse(sim.spend_caps)

    def find(request: Request, field: str) -> dict[str, Any]:
        value = request.path_params[field]
        for conn in sim.connections:
            if conn[field] == value:
                return conn
        raise HTTPException(404)

    async def dashboard(request: Request) -> Response:
        return HTMLResponse(pages.dashboard(sim.connections, sim.balance_micros))

    async def manage(request: Request) -> Response:
        return HTMLResponse(pages.connection(find(request, "id")))

    async def connect(request: Request) -> Response:
        conn = find(request, "slug")
        if request.method == "POST":
            sim.set_connection_status(conn["slug"], "connected")
            return HTMLResponse(pages.connected(conn))
        return HTMLResponse(pages.connect(conn))

    async def billing(request: Request) -> Response:
        return HTMLResponse(pages.billing(sim.balance_micros, sim.spend_caps))

    async def top_up(request: Request) -> Response:
        try:
            amount = int(request.query_params.get("amount_micros", "20000000"))
        except ValueError:
            amount = 0
        if 0 < amount <= 1_000_000_000:
            sim.set_balance(sim.balance_micros + amount)
        return RedirectResponse("/billing", status_code=303)

    async def logo(request: Request) -> Response:
        conn = find(request, "slug")
        return Response(pages.logo_svg(conn["slug"], conn["display_name"], conn["brand_color"]),
                        media_type="image/svg+xml")

    async def docs(request: Request) -> Response:
        return HTMLResponse(pages.docs(find(request, "slug")))

    async def home(request: Request) -> Response:
        return RedirectResponse("/dashboard")

    async def not_found(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 404
        if request.url.path.startswith("/api/"):
            return error_response(None, status=status, code="not_found" if status == 404
                                  else f"http_{status}")
        return HTMLResponse(pages.not_found(), status_code=status)

    routes = [
        Route(EVENTS_PATH, EventsEndpoint(sim)),
        Route("/api/deployments/me/connections", connections),
        Route("/api/billing/balance", balance),
        Route("/api/billing/spend-caps", spend_caps),
        Route("/", home),
        Route("/dashboard", dashboard),
        Route("/dashboard/connections/{id}", manage),
        Route("/connections/connect/{slug}", connect, methods=["GET", "POST"]),
        Route("/connections/{id}", manage),
        Route("/billing", billing),
        Route("/billing/top-up", top_up, methods=["POST"]),
        Route("/logos/{slug}.svg", logo),
        Route("/docs/integrations/{slug}", docs),
    ]
    app = Starlette(routes=routes, exception_handlers={404: not_found, 405: not_found})
    return _Recorder(app, sim)
