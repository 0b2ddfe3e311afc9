"""The :class:`Simulator`: a Vendo-compatible server on loopback, in a thread.

It runs uvicorn with its own asyncio loop in a background thread, so the
same object serves pytest, the Qt app's demo mode and ``vendo-tray
simulate``.  Every control method is safe from any thread: state changes
and event publication happen under one lock, and events reach open streams
through ``loop.call_soon_threadsafe`` (see :mod:`.hub`), so the server loop
is never touched directly from outside.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hmac
import ipaddress
import json
import logging
import socket
import threading
import time
from typing import Any

import uvicorn
from starlette.requests import Request
from starlette.responses import Response

from vendo_tray.simulator.app import build_app
from vendo_tray.simulator.faults import STREAM_FAULTS, FaultBook, make_fault
from vendo_tray.simulator.hub import ABORT, CLOSE, ID_FORMAT, STOP, WAKE, EventHub
from vendo_tray.simulator.responses import error_response
from vendo_tray.simulator.scenarios import SCENARIOS, run_scenario
from vendo_tray.simulator.state import LOW_BALANCE_MICROS, SimState
from vendo_tray.simulator.stats import SimStats
from vendo_tray.simulator.stream import install_abort_log_filter
from vendo_tray.simulator.wire import WIRES, Wire, build_event

log = logging.getLogger(__name__)

KEY_STATES = {"active": None, "revoked": "app_revoked", "expired": "app_expired"}


def loopback_host(host: str) -> str:
    """``host`` as a loopback IP literal, or ValueError: the simulator is never reachable off-box."""
    if host == "localhost":
        return "127.0.0.1"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"the simulator binds loopback addresses only, not {host!r}") from None
    if not address.is_loopback:
        raise ValueError(f"the simulator binds loopback addresses only, not {host!r}")
    return str(address)


class Simulator:
    """A Vendo-compatible HTTP server for demo mode, tests and benchmarks.

    ``wire`` chooses how events are encoded ("live": today's kinds, stamped
    data and legacy alias blocks; "seed": the older edition's kinds).
    ``id_format`` spells the event ids (``{boot}``, ``{seq}``; see
    :data:`.hub.ID_FORMAT`): ids with spaces, non-ASCII or control
    characters are all valid SSE and a client must resume from them.
    """

    def __init__(self, key: str = "vendo_sk_test", ping_interval: float = 25.0, wire: Wire = "live",
                 host: str = "127.0.0.1", port: int = 0, *, ring_size: int = 100,
                 max_streams: int = 5, low_balance_micros: int = LOW_BALANCE_MICROS,
                 id_format: str = ID_FORMAT) -> None:
        if wire not in WIRES:
            raise ValueError(f"wire must be one of {WIRES}")
        if not key:
            raise ValueError("the simulator needs a key to accept")
        if ping_interval <= 0:
            raise ValueError("ping_interval must be > 0")
        self.host = loopback_host(host)
        self.key = key
        self.ping_interval = float(ping_interval)
        self.wire: Wire = wire
        self.max_streams = max_streams
        self.stats = SimStats()
        self._port = port
        self._lock = threading.RLock()
        self._state = SimState(low_balance_micros)
        self.hub = EventHub(ring_size, id_format)
        self.fault_book = FaultBook()
        self._key_state = "active"
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: uvicorn.Server | None = None
        self._sock: socket.socket | None = None
        self._error: BaseException | None = None
        self._scenario: concurrent.futures.Future[None] | None = None
        self._scenario_name: str | None = None
        self._app = build_app(self)

    # -- lifecycle -----------------------------------------------------------

    @property
    def port(self) -> int:
        return self._port

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self._port}"

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, timeout: float = 10.0) -> Simulator:
        """Bind, start serving in a background thread, return once it accepts connections.

        After :meth:`stop` it can start again; it then reuses its port, so a
        client sees the server "come back" where it was.
        """
        if self._thread is not None:
            return self
        install_abort_log_filter()
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self._port))
        except OSError:
            sock.close()
            raise
        self._port = sock.getsockname()[1]
        config = uvicorn.Config(
            self._app, log_config=None, log_level="warning", access_log=False, lifespan="off",
            loop="asyncio", http="h11", ws="none", timeout_graceful_shutdown=1,
            timeout_keep_alive=5)
        self._sock, self._server, self._error = sock, uvicorn.Server(config), None
        self._thread = threading.Thread(target=self._serve, name=f"vendo-simulator:{self._port}",
                                        daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                error = self._error
                self.stop()
                raise RuntimeError(f"simulator failed to start on {self.base_url}") from error
            time.sleep(0.005)
        log.info("simulator listening on %s (wire %s)", self.base_url, self.wire)
        return self

    def _serve(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        assert self._server is not None and self._sock is not None
        try:
            loop.run_until_complete(self._server.serve(sockets=[self._sock]))
        except BaseException as exc:  # noqa: BLE001 - reported through start()/stop()
            self._error = exc
            log.exception("simulator server failed")
        finally:
            pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
            for task in pending:
                task.cancel()
            if pending:
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    def stop(self, timeout: float = 5.0) -> None:
        """End every stream, stop the server thread and release the port (quickly)."""
        thread, loop = self._thread, self._loop
        if thread is None:
            return
        if loop is not None and thread.is_alive():
            try:
                loop.call_soon_threadsafe(self._begin_shutdown)
            except RuntimeError:
                pass  # the loop already closed
        thread.join(timeout)
        if thread.is_alive() and self._server is not None:
            log.warning("simulator did not stop in %.1f s; forcing", timeout)
            self._server.force_exit = True
            thread.join(timeout)
        if self._sock is not None:
            self._sock.close()
        self._thread = self._loop = self._server = self._sock = None
        self._scenario = None
        self._scenario_name = None

    def _begin_shutdown(self) -> None:
        if self._scenario is not None:
            self._scenario.cancel()
        self.hub.signal_all(STOP)
        if self._server is not None:
            self._server.should_exit = True

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- events ----------------------------------------------------------------

    def emit(self, kind: str, data: dict[str, Any] | None = None, *, wire: Wire | None = None) -> str:
        """Publish one event (to the ring buffer and every open stream); return its id.

        On the live wire ``data`` gets ``id``, ``at`` and ``kind``, and a
        connection kind is followed by its legacy alias block.
        """
        with self._lock:
            return self._publish(kind, data, wire or self.wire)

    def _publish(self, kind: str, data: dict[str, Any] | None, wire: Wire) -> str:
        event = self.hub.publish(lambda sse_id: build_event(sse_id, kind, data, wire))
        log.info("event %s %s %s", event.sse_id, kind,
                 json.dumps(event.data, ensure_ascii=False, separators=(",", ":")))
        return event.sse_id

    def _publish_all(self, emissions: list[tuple[str, dict[str, Any]]], wire: Wire) -> list[str]:
        return [self._publish(kind, data, wire) for kind, data in emissions]

    @property
    def history(self) -> list[dict[str, Any]]:
        """The ring buffer, oldest first: ``{"id", "kind", "data"}`` per event."""
        return [{"id": e.sse_id, "kind": e.kind, "data": e.data} for e in self.hub.history()]

    @property
    def last_event_id(self) -> str | None:
        return self.hub.last_id

    def burst(self, n: int) -> list[str]:
        """Publish ``n`` plausible events at once without changing state; return their ids."""
        providers = ("openai", "anthropic", "google", "mistral")
        with self._lock:
            linked = [c.slug for c in self._state.connections.values() if c.id] or ["gmail"]
            ids = []
            for i in range(n):
                if self.wire == "seed":
                    ids.append(self._publish("deployment.updated", {}, "seed"))
                elif i % 4 == 3:
                    slug = linked[i % len(linked)]
                    ids.append(self._publish("connection.changed", {
                        "slug": slug, "connection_id": self._state.connections[slug].id}, "live"))
                else:
                    ids.append(self._publish("billing.usage_recorded", {
                        "provider": providers[i % len(providers)], "micros": 1_000 + 37 * i}, "live"))
            return ids

    # -- state -----------------------------------------------------------------

    @property
    def connections(self) -> list[dict[str, Any]]:
        """The connections list exactly as ``GET …/connections`` returns it (a copy)."""
        with self._lock:
            return self._state.connections_json(self.base_url)

    def connection(self, slug: str) -> dict[str, Any]:
        with self._lock:
            return self._state.get(slug).as_json(self.base_url)

    def set_connection_status(self, slug: str, status: str, error_message: str | None = None, *,
                              wire: Wire | None = None) -> str | None:
        """Change a connection and emit what Vendo would; return the event id (None if unchanged)."""
        with self._lock:
            ids = self._publish_all(self._state.set_status(slug, status, error_message,
                                                           wire or self.wire), wire or self.wire)
        return ids[0] if ids else None

    def touch_connection(self, slug: str) -> str:
        """Emit ``connection.changed`` (settings changed, status did not)."""
        with self._lock:
            return self._publish_all(self._state.touch(slug), self.wire)[0]

    @property
    def balance_micros(self) -> int:
        return self._state.balance_micros

    def set_balance(self, micros: int, *, wire: Wire | None = None) -> str | None:
        """Set the balance; emits billing.balance_changed (live) or low/exhausted (seed)."""
        with self._lock:
            ids = self._publish_all(self._state.set_balance(micros, wire or self.wire), wire or self.wire)
        return ids[0] if ids else None

    def record_usage(self, provider: str, micros: int, *, wire: Wire | None = None) -> list[str]:
        """Spend money: usage, balance and spend-cap events, as they cross thresholds."""
        with self._lock:
            w = wire or self.wire
            return self._publish_all(self._state.record_usage(provider, micros, w), w)

    @property
    def spend_caps(self) -> dict[str, Any]:
        with self._lock:
            return self._state.spend_caps_json()

    def set_spend_caps(self, **values: int | None) -> None:
        """Change caps or usage (daily_micros, monthly_micros, used_today_micros, used_month_micros)."""
        with self._lock:
            for name, value in values.items():
                if name in ("daily_micros", "monthly_micros"):
                    self._state.caps[name] = value
                elif name in ("used_today_micros", "used_month_micros"):
                    setattr(self._state, name, int(value or 0))
                else:
                    raise ValueError(f"unknown spend-cap field {name!r}")

    def balance_json(self) -> dict[str, Any]:
        with self._lock:
            return self._state.balance_json(self.base_url)

    # -- auth --------------------------------------------------------------------

    def set_key_state(self, state: str) -> None:
        """"active", "revoked" or "expired": how the Bearer check answers the right key."""
        if state not in KEY_STATES:
            raise ValueError(f"key state must be one of {sorted(KEY_STATES)}")
        self._key_state = state

    def auth_error(self, request: Request) -> Response | None:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return error_response(None, status=401, code="app_unknown",
                                  message="Missing bearer token: send Authorization: Bearer <app key>.")
        if not hmac.compare_digest(token.encode(), self.key.encode()):
            return error_response(None, status=401, code="app_unknown")
        code = KEY_STATES[self._key_state]
        return error_response(None, status=401, code=code) if code else None

    # -- faults --------------------------------------------------------------------

    def add_fault(self, name: str, count: int = 1, **params: Any) -> None:
        """Arm a fault (see :mod:`.faults` for names, parameters and when each applies)."""
        fault = make_fault(name, count, params)
        self.fault_book.add(fault)
        log.info("fault armed: %s x%d %s", name, count,
                 {k: v for k, v in fault.params.items() if k != "data"})
        if name in STREAM_FAULTS:
            self.hub.signal_all(WAKE, live_only=True)

    @property
    def faults(self) -> list[tuple[str, int]]:
        """Armed faults as (name, units left), oldest first."""
        return self.fault_book.pending()

    def clear_faults(self) -> None:
        self.fault_book.clear()

    def drop_streams(self, abort: bool = False) -> int:
        """End every open stream now (``abort``: cut TCP instead); return how many."""
        return self.hub.signal_all(ABORT if abort else CLOSE)

    # -- scenarios -------------------------------------------------------------------

    @property
    def scenarios(self) -> dict[str, str]:
        """Scenario names with their one-line descriptions."""
        return {name: s.description for name, s in SCENARIOS.items()}

    @property
    def scenario(self) -> str | None:
        """The scenario playing now, if any."""
        if self._scenario is not None and self._scenario.done():
            return None
        return self._scenario_name

    def run_scenario(self, name: str, *, speed: float = 1.0,
                     rounds: int | None = None) -> concurrent.futures.Future[None]:
        """Play a scenario in the server loop (replacing any playing one).

        ``speed`` > 1 plays faster (tests use 20-50); ``rounds`` None loops
        forever.  The returned future completes after the last round.
        """
        if name not in SCENARIOS:
            raise ValueError(f"unknown scenario {name!r}; known: {', '.join(SCENARIOS)}")
        if speed <= 0:
            raise ValueError("speed must be > 0")
        if self._loop is None or not self.running:
            raise RuntimeError("start the simulator before running a scenario")
        self.stop_scenario()
        self._scenario_name = name
        future = asyncio.run_coroutine_threadsafe(run_scenario(self, SCENARIOS[name], speed, rounds),
                                                  self._loop)
        self._scenario = future
        return future

    def stop_scenario(self) -> None:
        if self._scenario is not None:
            self._scenario.cancel()
            self._scenario = None
            self._scenario_name = None
