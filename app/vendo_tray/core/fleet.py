"""Several Vendo apps at once: one :class:`~vendo_tray.core.monitor.Monitor` per watched app.

The fleet is the engine the app shell talks to.  Each monitor keeps its own
subscription, reconnects, resume id, reconciler, policy and links (so every
notice's link goes to its own app's host with its own key), and the
never-deaf invariant holds per monitor; the fleet only

* starts, stops and updates monitors when the list or a key changes
  (:meth:`Fleet.apply`, with what ``core.apps.lookup_apps`` found); a removed
  app's monitor is stopped with :func:`~vendo_tray.core.aio.cancel_and_wait`,
  which closes its stream, and its notices on screen are withdrawn (their
  links went with it);
* supervises them: a monitor's :meth:`~Monitor.run` never ends by design, so
  when it does (a bug in a rule, an error nobody foresaw) the fleet logs it with
  its traceback, shows that app offline with the countdown, and starts it again
  after :data:`RESTARTS`' backoff; the restart waits in the app's own task, so
  removing the app or stopping the fleet cancels it with the monitor;
* fans the machine's news (network back, wake) and the user's "reconnect" and
  "pause" out to every app, or to one;
* hands its listeners one :class:`FleetState`: every app's :class:`AppState`
  and the worst of them (``core.state.concern``, the one rule), which the tray shows.

Qt-free, like every engine part; all monitors share one store (rows tagged by app).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from datetime import datetime
from typing import Any, Protocol

from vendo_tray.client import ReconnectPolicy
from vendo_tray.core.aio import cancel_and_wait
from vendo_tray.core.apps import AppKey
from vendo_tray.core.kinds import VendoEvent
from vendo_tray.core.links import Links
from vendo_tray.core.monitor import Monitor, check_key, safely
from vendo_tray.core.notices import Notice, Withdraw
from vendo_tray.core.settings import Settings
from vendo_tray.core.state import AppState, AppStatus, FleetState
from vendo_tray.core.store import Store

log = logging.getLogger(__name__)

#: A monitor that ended on its own starts again after 1 s, doubling to 1 min while it
#: keeps failing; one that had run for a minute first starts the count over.
RESTARTS = ReconnectPolicy(max_failures=None, backoff_base=1.0, max_backoff=60.0, stable_after=60.0)


class FleetListener(Protocol):
    """What the UI implements to follow the fleet (called on the loop thread)."""

    def state_changed(self, state: FleetState) -> None: ...

    def event_recorded(self, event: VendoEvent) -> None: ...

    def notice(self, item: Notice | Withdraw) -> None: ...


class _Relay:
    """One monitor's listener: passes its news on while that monitor is still the fleet's."""

    def __init__(self, fleet: Fleet, monitor: Monitor) -> None:
        self._fleet, self._monitor = fleet, monitor

    def _current(self) -> bool:
        return self._fleet.monitor(self._monitor.app.id) is self._monitor

    def state_changed(self, state: AppState) -> None:
        if self._current():
            self._fleet._publish()

    def event_recorded(self, event: VendoEvent) -> None:
        if self._current():
            for listener in self._fleet._listeners:
                safely(listener.event_recorded, event)

    def notice(self, item: Notice | Withdraw) -> None:
        if self._current():
            for listener in self._fleet._listeners:
                safely(listener.notice, item)


class Fleet:
    """One monitor per watched app; see the module docstring.

    ``monitor_options`` go to every :class:`Monitor` and ``restarts`` paces the
    restart of one that ended on its own (tests shorten both).
    """

    def __init__(self, *, settings: Settings, store: Store, demo: bool = False,
                 monitor_options: dict[str, Any] | None = None, restarts: ReconnectPolicy = RESTARTS) -> None:
        self.store = store
        self._restarts = restarts
        self._settings = settings
        self._demo = demo
        self._options = monitor_options or {}
        self._monitors: dict[str, Monitor] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._stopping: set[asyncio.Task[None]] = set()
        self._listeners: list[FleetListener] = []
        self._running = False
        self.state = FleetState(demo=demo)

    # ------------------------------------------------------------------ the list
    @property
    def monitors(self) -> list[Monitor]:
        """The running monitors, in the list's order."""
        return list(self._monitors.values())

    def monitor(self, app_id: str | None = None) -> Monitor | None:
        """App ``app_id``'s monitor (the first app's when None)."""
        if app_id is None:
            return next(iter(self._monitors.values()), None)
        return self._monitors.get(app_id)

    def links(self, app_id: str | None = None) -> Links | None:
        """The link rules of app ``app_id``: its host, its key."""
        monitor = self.monitor(app_id)
        return monitor.links if monitor is not None else None

    @property
    def settings(self) -> Settings:
        return self._settings

    def apply(self, watched: Iterable[AppKey]) -> None:
        """Watch exactly ``watched`` (``core.apps.lookup_apps``'s answer), in its order.

        A new app gets a monitor; a removed one is cancelled at once (its
        stream is closed by the time :meth:`settle` returns); a renamed or moved
        one is updated in place, and a changed key restarts only that app's stream.
        """
        wanted = {w.app.id: w for w in watched}
        for app_id in [app_id for app_id in self._monitors if app_id not in wanted]:
            self._stop(app_id)
        for app_id, found in wanted.items():
            monitor = self._monitors.get(app_id)
            if monitor is None:
                self._start(found)
                continue
            if monitor.app != found.app:
                monitor.apply_app(found.app)
            if (monitor.key, monitor.state.key_source) != (found.key, found.source):
                monitor.set_key(found.key, found.source)
        self._monitors = {app_id: self._monitors[app_id] for app_id in wanted}
        for monitor in self._monitors.values():
            monitor.named = len(self._monitors) > 1
        self._publish()

    async def settle(self) -> None:
        """Wait until the monitors of removed apps have stopped (their streams closed)."""
        while self._stopping:
            await cancel_and_wait(*self._stopping)

    def _start(self, found: AppKey) -> None:
        log.info("watching app %s (%s)", found.app.id, found.app.base_url)
        monitor = Monitor(settings=self._settings, key=found.key, key_source=found.source, store=self.store,
                          demo=self._demo, app=found.app, **self._options)
        monitor.add_listener(_Relay(self, monitor))
        self._monitors[found.app.id] = monitor
        if self._running:
            self._launch(monitor)

    def _launch(self, monitor: Monitor) -> None:
        self._tasks[monitor.app.id] = asyncio.create_task(self._supervise(monitor),
                                                          name=f"vendo-monitor-{monitor.app.id}")

    async def _supervise(self, monitor: Monitor) -> None:
        """Run ``monitor`` until this task is cancelled, and again whenever it ends on its own."""
        loop = asyncio.get_running_loop()
        failures = 0
        while True:
            started, error = loop.time(), None
            try:
                await monitor.run()
            except Exception as exc:  # a bug: logged below, and the app listens again
                error = exc
            if (task := asyncio.current_task()) is not None and task.cancelling():  # the fleet stopped it
                if error is not None:
                    log.error("the monitor of app %s failed while stopping", monitor.app.id, exc_info=error)
                raise asyncio.CancelledError
            failures = 1 if loop.time() - started >= self._restarts.stable_after else failures + 1
            delay = self._restarts.backoff(failures)
            log.error("the monitor of app %s %s; starting it again in %g s", monitor.app.id,
                      "failed" if error is not None else "ended", delay, exc_info=error)
            monitor.restart_due(error, delay)
            await asyncio.sleep(delay)

    def _stop(self, app_id: str) -> None:
        log.info("no longer watching app %s", app_id)
        self._monitors[app_id].withdraw_notices()  # while it is still ours: its relay passes them on
        del self._monitors[app_id]
        task = self._tasks.pop(app_id, None)
        if task is not None:
            task.cancel()
            self._stopping.add(task)
            task.add_done_callback(self._stopping.discard)

    # ------------------------------------------------------------------ running
    async def run(self) -> None:
        """Run every monitor until cancelled; apps added meanwhile start at once."""
        self._running = True
        for monitor in self._monitors.values():
            self._launch(monitor)
        try:
            await asyncio.Event().wait()  # the monitors run in their own tasks; this one only owns them
        finally:
            self._running = False
            tasks, self._tasks = [*self._tasks.values(), *self._stopping], {}
            await cancel_and_wait(*tasks)

    async def aclose(self) -> None:
        """After :meth:`run` ended: close the shared store."""
        self.store.close()

    # ------------------------------------------------------------------ controls
    def _chosen(self, app_id: str | None) -> list[Monitor]:
        if app_id is None:
            return self.monitors
        monitor = self._monitors.get(app_id)
        return [monitor] if monitor is not None else []

    def reconnect_now(self, app_id: str | None = None) -> None:
        for monitor in self._chosen(app_id):
            monitor.reconnect_now()

    def pause(self, until: datetime, app_id: str | None = None) -> None:
        for monitor in self._chosen(app_id):
            monitor.pause(until)

    def resume(self, app_id: str | None = None) -> None:
        for monitor in self._chosen(app_id):
            monitor.resume()

    def network_changed(self, online: bool) -> None:
        for monitor in self.monitors:
            monitor.network_changed(online)

    def woke_up(self) -> None:
        for monitor in self.monitors:
            monitor.woke_up()

    def apply_settings(self, settings: Settings) -> None:
        """Every app's notification and link preferences (each keeps its own base URL)."""
        self._settings = settings
        for monitor in self.monitors:
            monitor.apply_settings(settings)

    async def test_key(self, key: str, base_url: str) -> str:
        """The settings dialog's Test: the one key check, with the monitors' client options."""
        return await check_key(key, base_url, **self._options.get("client_options", {}))

    # ------------------------------------------------------------------ listeners
    def add_listener(self, listener: FleetListener) -> None:
        self._listeners.append(listener)

    def _publish(self) -> None:
        state = FleetState(tuple(AppStatus(m.app, m.state) for m in self._monitors.values()), self._demo)
        if state == self.state:
            return
        self.state = state
        for listener in self._listeners:
            safely(listener.state_changed, state)

