"""The desktop-notifier back end for this platform, taught to replace in place.

desktop-notifier 6 hides D-Bus (Linux), WinRT (Windows) and
UNUserNotificationCenter (macOS) behind one ``DesktopNotifierBackend``
interface.  On Windows and macOS a notification sent with the identifier of a
visible one replaces it (the identifier is the toast's tag / the request's
identifier).  Its D-Bus back end, however, always passes ``replaces_id = 0`` to
``org.freedesktop.Notifications.Notify``, so every update would stack a new
popup.  :class:`ReplacingDBusNotifier` closes that gap: when the identifier is
already showing, it passes that popup's server id as ``replaces_id`` and the
server updates the popup where it is.

It also remembers the server's raw capability strings (``body-markup``
decides whether the body must be escaped) and its name, and disconnects a
half-opened bus connection when the server cannot be reached, so retrying
later does not leak connections.

Nothing here imports Qt.
"""

from __future__ import annotations

import contextvars
import logging
import platform
from typing import Any

from desktop_notifier.backends.base import DesktopNotifierBackend
from desktop_notifier.common import DEFAULT_SOUND, Capability, Icon, Notification, Sound

log = logging.getLogger(__name__)

#: The server id of the popup the Notify call in flight replaces (0 = a new one).
#: A context variable, not an attribute, so it belongs to the one send awaiting it.
_REPLACES_ID: contextvars.ContextVar[int] = contextvars.ContextVar("replaces_id", default=0)


def create_backend(app_name: str, app_icon: Icon | None) -> DesktopNotifierBackend:
    """The native back end for this platform (the replacing one on Linux)."""
    if platform.system() == "Linux":
        return ReplacingDBusNotifier(app_name, app_icon)
    from desktop_notifier.main import get_backend_class

    return get_backend_class()(app_name, app_icon)


def is_dummy(backend: DesktopNotifierBackend) -> bool:
    """True for desktop-notifier's do-nothing back end (macOS outside an app bundle,
    unsupported systems): it "succeeds" without showing anything, so we must not
    trust it and use the tray's balloon instead."""
    from desktop_notifier.backends.dummy import DummyNotificationCenter

    return isinstance(backend, DummyNotificationCenter)


def body_takes_markup(backend: DesktopNotifierBackend) -> bool:
    """Whether the server parses the body as markup (so text must be escaped).

    Only freedesktop servers that advertise ``body-markup`` do; WinRT builds
    its toast XML with ElementTree (escaped) and macOS shows plain text.
    """
    return "body-markup" in getattr(backend, "server_capabilities", frozenset())


#: The freedesktop sound theme's name for a new message.  desktop-notifier's
#: DEFAULT_SOUND is named "default", which Windows and macOS understand and
#: freedesktop sound themes do not.
FREEDESKTOP_SOUND = Sound(name="message-new-instant")


def sound_for(backend: DesktopNotifierBackend) -> Sound:
    """The platform's ordinary notification sound for this back end."""
    if ReplacingDBusNotifier is not None and isinstance(backend, ReplacingDBusNotifier):
        return FREEDESKTOP_SOUND
    return DEFAULT_SOUND


try:
    from desktop_notifier.backends.dbus import DBusDesktopNotifier
except ImportError:  # pragma: no cover - dbus-fast is only installed on Linux
    DBusDesktopNotifier = None  # type: ignore[assignment,misc]  # the class, or None off Linux


if DBusDesktopNotifier is not None:

    class ReplacingDBusNotifier(DBusDesktopNotifier):
        """desktop-notifier's D-Bus back end, plus in-place replacement."""

        def __init__(self, app_name: str, app_icon: Icon | None = None) -> None:
            super().__init__(app_name, app_icon)
            #: The server's GetCapabilities strings, once known.
            self.server_capabilities: frozenset[str] = frozenset()
            #: "name version" from GetServerInformation, once known (for logs).
            self.server_name: str | None = None

        async def _init_dbus(self) -> Any:
            try:
                interface = await super()._init_dbus()
            except BaseException:
                # The bus may be connected while the server is missing; drop it so
                # a later retry starts clean instead of piling up connections.
                bus = getattr(self, "bus", None)
                if bus is not None:
                    bus.disconnect()
                    self.bus = None  # type: ignore[assignment]  # typed MessageBus, None until reconnected
                raise
            # dbus-fast generates a proxy's call_* methods at runtime, so no type knows them.
            notify = interface.call_notify  # type: ignore[attr-defined]

            async def call_notify_replacing(app_name: str, _replaces_id: int, *rest: Any,
                                            **kwargs: Any) -> Any:
                return await notify(app_name, _REPLACES_ID.get(), *rest, **kwargs)

            # The proxy's methods are plain attributes generated at runtime; wrapping
            # this one is the narrowest change that keeps the library's Notify logic.
            interface.call_notify = call_notify_replacing  # type: ignore[attr-defined]  # as above
            return interface

        async def _send(self, notification: Notification) -> None:
            ids = self._platform_to_interface_notification_identifier
            # Forget the old popup's id first: the server may answer with the same id
            # (spec) or a new one, and the bidict refuses a second key for one value.
            previous = ids.inverse.pop(notification.identifier, 0)
            token = _REPLACES_ID.set(previous)
            try:
                await super()._send(notification)
            except BaseException:
                if previous:  # the old popup is still up; keep being able to close it
                    ids.forceput(previous, notification.identifier)
                raise
            finally:
                _REPLACES_ID.reset(token)

        async def _get_capabilities(self) -> frozenset[Capability]:
            capabilities = await super()._get_capabilities()
            assert self.interface is not None  # set by super()
            raw = await self.interface.call_get_capabilities()  # type: ignore[attr-defined]  # generated call_*
            self.server_capabilities = frozenset(str(c) for c in raw)
            info = await self.interface.call_get_server_information()  # type: ignore[attr-defined]  # generated call_*
            self.server_name = f"{info[0]} {info[2]}".strip()
            log.info("notification server: %s, capabilities %s", self.server_name,
                     ", ".join(sorted(self.server_capabilities)) or "none")
            return capabilities

        async def disconnect(self) -> None:
            """Close our bus connection (the app is quitting)."""
            bus = getattr(self, "bus", None)
            if bus is not None:
                bus.disconnect()
                self.bus = None  # type: ignore[assignment]  # typed MessageBus, None until reconnected
            self.interface = None
            self._capabilities = None

else:  # pragma: no cover
    ReplacingDBusNotifier = None  # type: ignore[assignment,misc]  # the class, or None off Linux
