"""Shows the policy's notices as native notifications, or as tray balloons.

The policy (core) decides *what* to say; this module only renders a
:class:`~vendo_tray.core.notices.Notice` and reports clicks back as the
notice's :class:`~vendo_tray.core.notices.Action` — it never opens anything
itself, so every URL still goes through the app's link allowlist.

Why it is shaped this way:

* **Never block the UI.**  desktop-notifier is asyncio and talks to a server
  that may hang (or be D-Bus-activated and take seconds to start).
  :meth:`Notifier.show` and :meth:`Notifier.withdraw` only queue work; one
  worker task on the (qasync) loop sends it, each call under a timeout.
* **Order is the truth.**  The queue is processed in order, and an operation
  is skipped when a newer one for the same subject is already queued, so a
  withdraw right after a show wins and a burst of updates sends only the last.
* **One popup per subject.**  Each subject maps to a stable notification
  identifier; sending it again replaces the visible popup in place (D-Bus
  ``replaces_id`` via :mod:`.notifier_backends`, the toast tag on Windows, the
  request identifier on macOS).
* **Degrade, don't vanish.**  With no usable notification server (no session
  bus, nobody owning ``org.freedesktop.Notifications``, a failing or hanging
  call, desktop-notifier's dummy back end) a notice becomes
  ``QSystemTrayIcon.showMessage``, and a click on that balloon performs what
  the last balloon's default click should.  The native server is tried again
  after :data:`NATIVE_RETRY_AFTER` seconds, since a daemon may start later.
* **Loaded when first needed.**  desktop-notifier and its D-Bus library cost
  about 15 MB and 50 ms to import (docs/performance.md); a tray that has
  nothing to say should not pay that, so the back end is created on the first
  notice (or withdraw).
* **Plain text.**  Text from the server can be hostile: control characters are
  dropped, lengths are capped, and the body is markup-escaped when the server
  parses markup.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

from vendo_tray.client.safety import plain
from vendo_tray.core.aio import cancel_and_wait
from vendo_tray.core.notices import Action, Notice, Urgency

if TYPE_CHECKING:
    from desktop_notifier.backends.base import DesktopNotifierBackend
    from desktop_notifier.common import Capability, Notification
    from PySide6.QtWidgets import QSystemTrayIcon

log = logging.getLogger(__name__)

MAX_TITLE = 100
MAX_BODY = 300
MAX_LABEL = 32
#: Longest we wait for the notification server on one call before falling back.
SEND_TIMEOUT = 5.0
#: After the server failed, use balloons this long before trying it again.
NATIVE_RETRY_AFTER = 60.0
#: How long a fallback balloon stays up (Qt's hint; platforms may ignore it).
BALLOON_MS = 10_000

#: Our urgency -> the name of desktop-notifier's (imported on first use).
_URGENCY = {Urgency.LOW: "Low", Urgency.NORMAL: "Normal", Urgency.CRITICAL: "Critical"}


class Mode(StrEnum):
    """How notices are currently shown (for the self-test and the window's status)."""

    UNKNOWN = "unknown"        # nothing sent yet
    NATIVE = "native"          # the platform's notification server
    FALLBACK = "fallback"      # QSystemTrayIcon balloons
    LOG_ONLY = "log_only"      # neither: notices only reach the log (and the history)


@dataclass(frozen=True, slots=True)
class _Op:
    """One queued show (``notice`` set) or withdraw (``notice`` None)."""

    seq: int
    subject: str
    notice: Notice | None


def notification_identifier(subject: str) -> str:
    """A stable, short identifier per subject (a WinRT toast tag allows 64 chars)."""
    return "vendo-" + hashlib.sha256(subject.encode("utf-8", "replace")).hexdigest()[:32]


class Notifier:
    """Renders notices natively, one live popup per subject; falls back to balloons.

    Create it on the loop thread; :meth:`show`/:meth:`withdraw` must be called
    there too (they schedule work on the running loop and return at once).
    ``on_action`` receives the :class:`Action` of a clicked button or body.
    """

    def __init__(
        self,
        app_name: str = "Vendo Tray",
        icon_path: str | Path | None = None,
        on_action: Callable[[Action], None] | None = None,
        tray: QSystemTrayIcon | None = None,
        *,
        backend: DesktopNotifierBackend | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._icon_path: Path | None = None
        if icon_path is not None and Path(icon_path).is_file():
            self._icon_path = Path(icon_path).resolve()
        elif icon_path is not None:
            log.warning("notification icon %s not found; notifications carry no icon", icon_path)
        self._app_name = app_name
        self._native: DesktopNotifierBackend | None = backend
        self._on_action = on_action
        self._tray = tray
        self._clock = clock
        self._pending: deque[_Op] = deque()
        self._latest: dict[str, int] = {}
        self._seq = 0
        self._worker: asyncio.Task[None] | None = None
        self._authorised = False
        #: Subjects whose popup we sent natively and have not withdrawn.
        self._native_shown: set[str] = set()
        self._native_down_until: float | None = None
        self._mode = Mode.UNKNOWN
        #: (subject, action) of the last balloon, for messageClicked.
        self._last_balloon: tuple[str, Action | None] | None = None
        self._closed = False
        if tray is not None:
            tray.messageClicked.connect(self._on_balloon_clicked)

    # ----------------------------------------------------------------- public

    @property
    def _backend(self) -> DesktopNotifierBackend:
        """The platform's back end, created (and desktop-notifier imported) on first use."""
        if self._native is None:
            from desktop_notifier.common import Icon

            from vendo_tray.ui.notifier_backends import create_backend

            icon = Icon(path=self._icon_path) if self._icon_path is not None else None
            self._native = create_backend(self._app_name, icon)
        return self._native

    @property
    def mode(self) -> Mode:
        return self._mode

    def show(self, notice: Notice) -> None:
        """Show ``notice``, replacing the visible one with the same subject."""
        self._enqueue(notice.subject, notice)

    def withdraw(self, subject: str) -> None:
        """Remove the visible notice for ``subject`` (it is healthy again)."""
        self._enqueue(subject, None)

    async def flush(self) -> None:
        """Wait until every queued show/withdraw has been handled (tests, quitting)."""
        while self._worker is not None and not self._worker.done():
            await asyncio.shield(self._worker)

    def close(self) -> None:
        """Stop: drop queued work and stop listening to balloon clicks.

        Popups already on screen stay (their clicks no longer reach us); use
        :meth:`aclose` to also withdraw them and close the bus connection.
        """
        if self._closed:
            return
        self._closed = True
        self._pending.clear()
        self._latest.clear()
        if self._worker is not None and not self._worker.done():
            self._worker.cancel()
        if self._tray is not None:
            try:
                self._tray.messageClicked.disconnect(self._on_balloon_clicked)
            except (RuntimeError, TypeError):  # already disconnected / tray deleted
                pass

    async def aclose(self) -> None:
        """Close, withdraw our visible popups, and disconnect from the server."""
        self.close()
        if self._worker is not None:  # cancelled by close(); a stop of aclose while it unwinds must stop aclose
            await cancel_and_wait(self._worker)
        for subject in sorted(self._native_shown):
            await self._withdraw_native(subject)
        disconnect = getattr(self._native, "disconnect", None)  # never created: nothing to close
        if disconnect is not None:
            try:
                await disconnect()
            except Exception:  # noqa: BLE001 - quitting; nothing left to protect
                log.debug("closing the notification bus connection failed", exc_info=True)

    # ------------------------------------------------------------------ queue

    def _enqueue(self, subject: str, notice: Notice | None) -> None:
        if self._closed:
            log.debug("notifier closed; dropping %s for %s", "show" if notice else "withdraw", subject)
            return
        self._seq += 1
        self._latest[subject] = self._seq
        self._pending.append(_Op(self._seq, subject, notice))
        if self._worker is None or self._worker.done():
            self._worker = _loop().create_task(self._drain(), name="notifier")

    async def _drain(self) -> None:
        while self._pending:
            op = self._pending.popleft()
            if self._latest.get(op.subject) != op.seq:
                continue  # a newer show/withdraw for this subject is queued: it wins
            del self._latest[op.subject]
            try:
                if op.notice is not None:
                    await self._show_now(op.notice)
                else:
                    await self._withdraw_now(op.subject)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - one bad notice must not stop the others
                log.exception("showing/withdrawing the notice for %s failed", op.subject)

    # ----------------------------------------------------------------- native

    def _native_allowed(self) -> bool:
        from vendo_tray.ui.notifier_backends import is_dummy

        if is_dummy(self._backend):
            return False
        return self._native_down_until is None or self._clock() >= self._native_down_until

    async def _show_now(self, notice: Notice) -> None:
        if self._native_allowed() and await self._send_native(notice):
            self._set_mode(Mode.NATIVE, None)
            return
        self._show_balloon(notice)

    async def _send_native(self, notice: Notice) -> bool:
        dispatched = False

        def mark_dispatched() -> None:
            nonlocal dispatched
            dispatched = True

        try:
            async with asyncio.timeout(SEND_TIMEOUT):
                if not self._authorised:
                    self._authorised = await self._backend.request_authorisation()
                    if not self._authorised:
                        log.warning("the system refused notification permission")
                capabilities = await self._backend.get_capabilities()
                notification = self._build(notice, capabilities, mark_dispatched)
                # send() logs and swallows delivery errors; on_dispatched tells us it worked.
                await self._backend.send(notification)
        except TimeoutError:
            self._native_failed(f"no answer within {SEND_TIMEOUT:g} s")
            return False
        except Exception as exc:  # noqa: BLE001 - no bus, no server, introspection failure…
            self._native_failed(f"{type(exc).__name__}: {exc}")
            return False
        if not dispatched:
            self._native_failed("the server did not accept the notification")
            return False
        self._native_down_until = None
        self._native_shown.add(notice.subject)
        return True

    def _native_failed(self, why: str) -> None:
        self._native_down_until = self._clock() + NATIVE_RETRY_AFTER
        if self._mode is not Mode.FALLBACK:
            log.warning("native notifications unavailable (%s); using tray balloons, retrying in %g s",
                        why, NATIVE_RETRY_AFTER)

    def _build(self, notice: Notice, capabilities: frozenset[Capability],
               on_dispatched: Callable[[], None]) -> Notification:
        """Turn a notice into a desktop-notifier Notification for this server."""
        import html  # with desktop-notifier, at the first notice: its entity table is ~0.5 MB

        from desktop_notifier.common import Button, Capability, Notification
        from desktop_notifier.common import Urgency as NativeUrgency

        from vendo_tray.ui.notifier_backends import body_takes_markup, sound_for

        title = plain(notice.title, MAX_TITLE) or "Vendo Tray"
        body = plain(notice.body, MAX_BODY, keep_newlines=True)
        if body_takes_markup(self._backend):
            body = html.escape(body, quote=False)
        default = notice.default
        buttons = list(notice.buttons)
        if Capability.BUTTONS not in capabilities:
            # No actions on this server: the body click (if any) gets the most important one.
            default = default or (buttons[0] if buttons else None)
            buttons = []
        elif default is not None and Capability.ON_CLICKED not in capabilities:
            # Body clicks are ignored here (e.g. xfce4-notifyd): offer it as a button.
            if all(b.label != default.label for b in buttons):
                buttons.insert(0, default)
        native_buttons = tuple(
            Button(title=plain(action.label, MAX_LABEL) or "Open",
                   on_pressed=self._invoker(action))
            for action in buttons
        )
        # Sounds are off unless the policy asked for one (settings.sounds, per urgency).
        sound = sound_for(self._backend) if getattr(notice, "sound", False) else None
        return Notification(
            title=title,
            message=body,
            urgency=NativeUrgency[_URGENCY.get(notice.urgency, "Normal")],
            buttons=native_buttons,
            on_clicked=self._invoker(default) if default is not None else None,
            on_dispatched=on_dispatched,
            sound=sound,
            identifier=notification_identifier(notice.subject),
        )

    async def _withdraw_now(self, subject: str) -> None:
        if self._last_balloon is not None and self._last_balloon[0] == subject:
            # The balloon's news is stale now; a click on it should do nothing.
            self._last_balloon = None
        if subject in self._native_shown:
            await self._withdraw_native(subject)

    async def _withdraw_native(self, subject: str) -> None:
        self._native_shown.discard(subject)
        try:
            async with asyncio.timeout(SEND_TIMEOUT):
                await self._backend.clear(notification_identifier(subject))
        except KeyError:
            pass  # already gone: clicked, dismissed or expired
        except Exception as exc:  # noqa: BLE001 - the popup may linger; nothing worse
            log.warning("could not withdraw the notification for %s: %s", subject, exc)

    # ---------------------------------------------------------------- balloon

    def _show_balloon(self, notice: Notice) -> None:
        from PySide6.QtWidgets import QSystemTrayIcon

        if self._tray is None:
            self._set_mode(Mode.LOG_ONLY, "no notification server and no tray icon")
            log.warning("notice not shown (no notification server, no tray): %s — %s",
                        plain(notice.title, MAX_TITLE), plain(notice.body, MAX_BODY))
            return
        self._set_mode(Mode.FALLBACK, None)
        action = notice.default or (notice.buttons[0] if notice.buttons else None)
        self._last_balloon = (notice.subject, action)
        icon = (QSystemTrayIcon.MessageIcon.Critical if notice.urgency is Urgency.CRITICAL
                else QSystemTrayIcon.MessageIcon.Information)
        # Qt's own X11 balloon renders text that looks like HTML as rich text; a
        # look-alike angle bracket keeps hostile tags inert and still readable.
        title = plain(notice.title, MAX_TITLE).replace("<", "‹")
        body = plain(notice.body, MAX_BODY, keep_newlines=True).replace("<", "‹")
        self._tray.showMessage(title or "Vendo Tray", body, icon, BALLOON_MS)

    def _on_balloon_clicked(self) -> None:
        if self._last_balloon is None:
            return
        _subject, action = self._last_balloon
        if action is not None:
            self._invoke(action)

    # ---------------------------------------------------------------- actions

    def _invoker(self, action: Action) -> Callable[[], None]:
        return lambda: self._invoke(action)

    def _invoke(self, action: Action) -> None:
        if self._on_action is None:
            log.info("notification action %r clicked; no handler set", action.label)
            return
        try:
            self._on_action(action)
        except Exception:  # noqa: BLE001 - a handler bug must not break the D-Bus loop
            log.exception("handling the notification action %r failed", action.label)

    def _set_mode(self, mode: Mode, why: str | None) -> None:
        if mode is not self._mode:
            log.info("notifications: %s%s", mode.value, f" ({why})" if why else "")
            self._mode = mode


def _loop() -> asyncio.AbstractEventLoop:
    """The running loop (qasync's, when called from Qt or loop callbacks)."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.get_event_loop_policy().get_event_loop()
