"""A recording freedesktop notification server, and a private session bus for it.

Why a server of our own beside dunst: a test must assert the *exact* Notify
calls (app name, summary, body, actions, urgency hint, replaces_id) and
simulate clicks and closes deterministically; dunst can do neither without a
screen and timing.  This one owns ``org.freedesktop.Notifications`` on a bus,
implements the four methods the spec requires, records every call, and can
emit ``ActionInvoked`` / ``NotificationClosed`` on demand.

The trap it avoids: the name is D-Bus activatable (dunst ships a service
file), so a server must own it *before* the client's first call or the bus
starts dunst instead.  :meth:`NotificationServer.start` returns only once the
name is owned (and fails if someone else owns it); the tests' private bus
(``desktop.start_session_bus``) has no activation directory besides.

:class:`NotifyMonitor` is the other half, for end-to-end tests against a real
daemon (dunst): it becomes a D-Bus *monitor* (what ``dbus-monitor`` does) and
records every Notify/CloseNotification call and ActionInvoked/NotificationClosed
signal with its exact, typed arguments — no text parsing of dbus-monitor's
output.

Both run their own asyncio loop in a thread, so the code under test can
block or run a Qt loop without starving it.  Run as a script it serves the
current session bus and prints each call as a JSON line.

(No ``from __future__ import annotations`` here: dbus-fast reads the D-Bus
signatures from the annotations, which must stay the literal strings.)
"""

import argparse
import asyncio
import json
import os
import signal as signals
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Self

from dbus_fast import BusType, DBusError, Message, MessageType, NameFlag, RequestNameReply, Variant
from dbus_fast.aio import MessageBus
from dbus_fast.service import ServiceInterface, method, signal

BUS_NAME = "org.freedesktop.Notifications"
OBJECT_PATH = "/org/freedesktop/Notifications"

DEFAULT_CAPABILITIES = ("actions", "body", "body-markup", "icon-static")

#: NotificationClosed reasons (spec).
EXPIRED, DISMISSED, CLOSED_BY_CALL, UNDEFINED = 1, 2, 3, 4


@dataclass
class NotifyCall:
    """One Notify call as received, with the id the server answered."""

    id: int
    app_name: str
    replaces_id: int
    app_icon: str
    summary: str
    body: str
    actions: list[tuple[str, str]]
    hints: dict[str, Any]
    expire_timeout: int
    at: float = field(default_factory=time.perf_counter)

    @property
    def urgency(self) -> int | None:
        return self.hints.get("urgency")

    def action_key(self, label: str) -> str:
        """The action key of the button labelled ``label`` (KeyError if absent)."""
        for key, text in self.actions:
            if text == label:
                return key
        raise KeyError(f"no action labelled {label!r} in {self.actions}")

    @property
    def labels(self) -> list[str]:
        """Button labels, without the body-click ("default") action."""
        return [text for key, text in self.actions if key != "default"]


class _Interface(ServiceInterface):
    def __init__(self, server: "NotificationServer") -> None:
        super().__init__(BUS_NAME)
        self._server = server

    @method()
    def GetCapabilities(self) -> "as":  # noqa: N802 - D-Bus names
        return list(self._server.capabilities)

    @method()
    def GetServerInformation(self) -> "ssss":  # noqa: N802
        return [self._server.server_name, "vendo-tray tests", "1.0", "1.2"]

    @method()
    def Notify(self, app_name: "s", replaces_id: "u", app_icon: "s", summary: "s",  # noqa: N802
               body: "s", actions: "as", hints: "a{sv}", expire_timeout: "i") -> "u":
        return self._server._on_notify(app_name, replaces_id, app_icon, summary, body,
                                       actions, hints, expire_timeout)

    @method()
    def CloseNotification(self, id: "u") -> None:  # noqa: N802, A002
        self._server._on_close_call(id)

    @signal()
    def NotificationClosed(self, id: int, reason: int) -> "uu":  # noqa: N802, A002
        return [id, reason]

    @signal()
    def ActionInvoked(self, id: int, action_key: str) -> "us":  # noqa: N802, A002
        return [id, action_key]


class _BusThread:
    """A D-Bus client running on its own asyncio loop in a background thread.

    Subclasses connect in ``_connect`` (and set ``self._bus``); ``start`` returns
    once that succeeded, or raises what it raised.
    """

    thread_name = "bus-thread"
    _cond: threading.Condition  # set by subclasses; notified on every recorded change
    _loop: asyncio.AbstractEventLoop | None = None
    _thread: threading.Thread | None = None
    _bus: MessageBus | None = None

    async def _connect(self) -> None:
        raise NotImplementedError

    def start(self, timeout: float = 10.0) -> Self:
        """Connect; returns once connected (raises what connecting raised)."""
        ready = threading.Event()
        errors: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                loop.run_until_complete(self._connect())
            except BaseException as exc:  # noqa: BLE001 - reported to start()
                errors.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

        self._thread = threading.Thread(target=run, name=self.thread_name, daemon=True)
        self._thread.start()
        if not ready.wait(timeout):
            raise TimeoutError(f"{self.thread_name} did not start")
        if errors:
            raise errors[0]
        return self

    def stop(self) -> None:
        loop = self._loop
        if loop is None or self._thread is None:
            return

        def shutdown() -> None:
            if self._bus is not None:
                self._bus.disconnect()
            loop.stop()

        loop.call_soon_threadsafe(shutdown)
        self._thread.join(5)
        self._loop = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def wait_for(self, predicate: Callable[[Self], bool], timeout: float = 5.0) -> bool:
        """Wait until ``predicate(self)`` holds (checked whenever ``self._cond`` is notified)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate(self):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
            return True


class NotificationServer(_BusThread):
    """A test notification server in a background thread.

    ``capabilities`` and ``server_name`` shape what clients see (e.g. drop
    "actions", or pose as "Xfce Notify Daemon"); ``fail_notify`` makes Notify
    answer with a D-Bus error; ``notify_delay`` makes it slow.
    """

    thread_name = "notify-server"

    def __init__(self, bus_address: str | None = None, *,
                 capabilities: tuple[str, ...] = DEFAULT_CAPABILITIES,
                 server_name: str = "vendo-test-server",
                 fail_notify: bool = False, notify_delay: float = 0.0) -> None:
        self.bus_address = bus_address or os.environ.get("DBUS_SESSION_BUS_ADDRESS")
        self.capabilities = capabilities
        self.server_name = server_name
        self.fail_notify = fail_notify
        self.notify_delay = notify_delay
        self.calls: list[NotifyCall] = []
        self.close_calls: list[int] = []
        #: ids currently on "screen"
        self.open: dict[int, NotifyCall] = {}
        self.on_notify: Callable[[NotifyCall], None] | None = None
        self._next_id = 1
        self._cond = threading.Condition()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._bus: MessageBus | None = None
        self._iface: _Interface | None = None

    # ---------------------------------------------------------------- control

    async def _connect(self) -> None:
        if self.bus_address:
            bus = await MessageBus(bus_address=self.bus_address).connect()
        else:
            bus = await MessageBus(bus_type=BusType.SESSION).connect()
        self._iface = _Interface(self)
        bus.export(OBJECT_PATH, self._iface)
        reply = await bus.request_name(BUS_NAME, NameFlag.DO_NOT_QUEUE)
        if reply not in (RequestNameReply.PRIMARY_OWNER, RequestNameReply.ALREADY_OWNER):
            bus.disconnect()
            raise RuntimeError(f"{BUS_NAME} is already owned on this bus ({reply.name})")
        self._bus = bus

    # ------------------------------------------------------------ simulation

    def click(self, notification_id: int, action_key: str = "default") -> None:
        """What a user's click does on a real server: ActionInvoked, then closed."""
        self._emit(lambda iface: (iface.ActionInvoked(notification_id, action_key),
                                  iface.NotificationClosed(notification_id, DISMISSED)))
        with self._cond:
            self.open.pop(notification_id, None)

    def dismiss(self, notification_id: int, reason: int = DISMISSED) -> None:
        """The user closed it (or it expired, with ``reason=EXPIRED``)."""
        self._emit(lambda iface: iface.NotificationClosed(notification_id, reason))
        with self._cond:
            self.open.pop(notification_id, None)

    def _emit(self, fn: Callable[[_Interface], Any]) -> None:
        assert self._loop is not None and self._iface is not None, "server not started"
        done = threading.Event()

        def run() -> None:
            try:
                fn(self._iface)
            finally:
                done.set()

        self._loop.call_soon_threadsafe(run)
        done.wait(5)

    # ----------------------------------------------------------------- waits

    def wait_calls(self, count: int, timeout: float = 5.0) -> list[NotifyCall]:
        """Wait for at least ``count`` Notify calls; returns a copy of all of them."""
        if not self.wait_for(lambda s: len(s.calls) >= count, timeout):
            raise AssertionError(f"expected {count} Notify calls, got {len(self.calls)}: {self.calls}")
        with self._cond:
            return list(self.calls)

    # ------------------------------------------------------------- handlers

    def _on_notify(self, app_name: str, replaces_id: int, app_icon: str, summary: str, body: str,
                   actions: list[str], hints: dict[str, Variant], expire_timeout: int) -> int:
        if self.notify_delay:
            time.sleep(self.notify_delay)  # blocks this server's loop only, like a hung daemon
        if self.fail_notify:
            raise DBusError("org.freedesktop.DBus.Error.Failed", "test server refuses notifications")
        with self._cond:
            if replaces_id and replaces_id in self.open:
                nid = replaces_id
            else:
                nid = self._next_id
                self._next_id += 1
            call = NotifyCall(
                id=nid, app_name=app_name, replaces_id=replaces_id, app_icon=app_icon,
                summary=summary, body=body,
                actions=list(zip(actions[0::2], actions[1::2])),
                hints={k: (v.value if isinstance(v, Variant) else v) for k, v in hints.items()},
                expire_timeout=expire_timeout,
            )
            self.calls.append(call)
            self.open[nid] = call
            self._cond.notify_all()
        if self.on_notify is not None:
            self.on_notify(call)
        return nid

    def _on_close_call(self, nid: int) -> None:
        with self._cond:
            self.close_calls.append(nid)
            known = self.open.pop(nid, None)
            self._cond.notify_all()
        if known is not None and self._iface is not None:
            self._iface.NotificationClosed(nid, CLOSED_BY_CALL)


@dataclass
class MonitoredNotify:
    """A Notify call seen on the bus, and the id the server answered (once it has)."""

    sender: str
    serial: int
    app_name: str
    replaces_id: int
    app_icon: str
    summary: str
    body: str
    actions: list[tuple[str, str]]
    hints: dict[str, Any]
    expire_timeout: int
    at: float = field(default_factory=time.perf_counter)
    id: int | None = None

    @property
    def labels(self) -> list[str]:
        return [text for key, text in self.actions if key != "default"]

    @property
    def urgency(self) -> int | None:
        return self.hints.get("urgency")


class NotifyMonitor(_BusThread):
    """Watches org.freedesktop.Notifications traffic on a bus, like dbus-monitor."""

    thread_name = "notify-monitor"

    def __init__(self, bus_address: str | None = None) -> None:
        self.bus_address = bus_address or os.environ.get("DBUS_SESSION_BUS_ADDRESS")
        self.notifies: list[MonitoredNotify] = []
        self.close_calls: list[int] = []
        self.actions_invoked: list[tuple[int, str]] = []
        self.closed: list[tuple[int, int]] = []
        self._cond = threading.Condition()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._bus: MessageBus | None = None

    async def _connect(self) -> None:
        bus = await MessageBus(bus_address=self.bus_address).connect()
        bus.add_message_handler(self._on_message)
        rules = [f"interface='{BUS_NAME}'", "type='method_return'", "type='error'"]
        reply = await bus.call(Message(
            destination="org.freedesktop.DBus", path="/org/freedesktop/DBus",
            interface="org.freedesktop.DBus.Monitoring", member="BecomeMonitor",
            signature="asu", body=[rules, 0]))
        if reply is None or reply.message_type is MessageType.ERROR:
            bus.disconnect()
            raise RuntimeError(f"BecomeMonitor refused: {reply.body if reply else 'no reply'}")
        self._bus = bus

    def _on_message(self, msg: Message) -> bool:
        if self._bus is None:
            return False  # still setting up: let dbus-fast see BecomeMonitor's reply
        with self._cond:
            if msg.message_type is MessageType.METHOD_CALL and msg.interface == BUS_NAME:
                if msg.member == "Notify" and len(msg.body) == 8:
                    app, replaces, icon, summary, body, actions, hints, timeout = msg.body
                    self.notifies.append(MonitoredNotify(
                        sender=msg.sender, serial=msg.serial, app_name=app, replaces_id=replaces,
                        app_icon=icon, summary=summary, body=body,
                        actions=list(zip(actions[0::2], actions[1::2])),
                        hints={k: (v.value if isinstance(v, Variant) else v) for k, v in hints.items()},
                        expire_timeout=timeout))
                elif msg.member == "CloseNotification":
                    self.close_calls.append(msg.body[0])
            elif msg.message_type is MessageType.METHOD_RETURN:
                for call in reversed(self.notifies):
                    if call.id is None and call.serial == msg.reply_serial and call.sender == msg.destination:
                        call.id = msg.body[0]
                        break
            elif msg.message_type is MessageType.SIGNAL and msg.interface == BUS_NAME:
                if msg.member == "ActionInvoked":
                    self.actions_invoked.append((msg.body[0], msg.body[1]))
                elif msg.member == "NotificationClosed":
                    self.closed.append((msg.body[0], msg.body[1]))
            self._cond.notify_all()
        # Claim every message: dbus-fast would otherwise answer method calls with
        # an error, and a monitor that sends anything is thrown off the bus.
        return True

    def answered(self) -> list[MonitoredNotify]:
        """The Notify calls the server has answered, in order."""
        with self._cond:
            return [n for n in self.notifies if n.id is not None]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-actions", action="store_true", help="do not advertise the actions capability")
    args = parser.parse_args()
    caps = tuple(c for c in DEFAULT_CAPABILITIES if not (args.no_actions and c == "actions"))
    server = NotificationServer(capabilities=caps)
    server.on_notify = lambda call: print(json.dumps(asdict(call)), flush=True)
    server.start()
    stop = threading.Event()
    signals.signal(signals.SIGINT, lambda *_: stop.set())
    signals.signal(signals.SIGTERM, lambda *_: stop.set())
    stop.wait()
    server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
