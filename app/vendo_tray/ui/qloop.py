"""The qasync event loop, without the wake-ups of timers nobody waits for any more.

qasync runs every ``call_later`` (``asyncio.sleep``, ``wait_for``, ``asyncio.timeout``,
httpx's timeouts) on a Qt timer and, when the handle is cancelled, leaves that timer
running: it fires at its original deadline, finds the handle cancelled and only then is
killed (qasync issue #35).  The stream's heartbeat watchdog arms a 60 s timeout on every
read and cancels it when the bytes arrive; every REST call arms and cancels a few more.
Each of them still woke the idle app once, long after it stopped mattering.  Here a
cancelled handle kills its Qt timer at once, and closing the loop kills them all.

The timers are QBasicTimers, not ``startTimer``/``killTimer``: PySide6 resolves
``killTimer``'s ``Qt.TimerId`` overload by building every enum of the ``Qt`` namespace
(about 1,200 members), 1.3 MB that a live idle tray used nowhere else (issue 11).
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import qasync
from PySide6.QtCore import QBasicTimer, QObject, QTimerEvent

#: Most threads the loop's executor runs at once (``asyncio.to_thread``, getaddrinfo).
WORKERS = 4


class _TimerHandle(asyncio.Handle):
    """A ``call_later`` handle that takes its Qt timer down when cancelled."""

    __slots__ = ("_timers", "timer_id")

    def __init__(self, timers: _Timers, callback: Callable[..., object], args: tuple[Any, ...],
                 loop: asyncio.AbstractEventLoop, context: contextvars.Context | None) -> None:
        super().__init__(callback, args, loop, context=context)
        self._timers = timers
        self.timer_id = 0

    def cancel(self) -> None:
        if not self.cancelled():
            self._timers.kill(self)
        super().cancel()


class _Timers(QObject):
    """One Qt timer per pending handle (qasync's ``_SimpleTimer``, plus :meth:`kill`)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self._loop = loop
        self._handles: dict[int, tuple[QBasicTimer, asyncio.Handle]] = {}

    def add_callback(self, handle: asyncio.Handle, delay: float = 0) -> asyncio.Handle:
        timer = QBasicTimer()
        timer.start(int(max(0.0, delay) * 1000), self)  # qasync's rounding
        self._handles[timer.timerId()] = (timer, handle)
        if isinstance(handle, _TimerHandle):
            handle.timer_id = timer.timerId()
        return handle

    def kill(self, handle: _TimerHandle) -> None:
        """Stop ``handle``'s timer, if it is still its own (Qt reuses the ids of fired timers)."""
        entry = self._handles.get(handle.timer_id)
        if entry is not None and entry[1] is handle:
            del self._handles[handle.timer_id]
            entry[0].stop()

    def timerEvent(self, event: QTimerEvent) -> None:  # noqa: N802 - Qt override
        entry = self._handles.pop(event.timerId(), None)
        if entry is None:
            return
        timer, handle = entry
        timer.stop()  # one shot, as call_later is
        if handle.cancelled():
            return
        # qasync ends run_until_complete() with one more processEvents() *after* it has
        # marked the loop as no longer running; a callback run there (an anyio cancel
        # scope, a task step) found no running loop and failed, so a quit while the
        # display went away (logout) logged tracebacks and lost task results. A
        # callback of this loop always runs with this loop running.
        if asyncio.events._get_running_loop() is not None:
            handle._run()
            return
        asyncio.events._set_running_loop(self._loop)
        try:
            handle._run()
        finally:
            asyncio.events._set_running_loop(None)

    def stop(self) -> None:
        """The loop closed: nothing it scheduled may run (or wake us) any more."""
        for timer, _ in self._handles.values():
            timer.stop()
        self._handles.clear()

    def set_debug(self, enabled: bool) -> None:
        """qasync's per-timer debug log is not kept; asyncio's own debug mode still works."""

    @property
    def pending(self) -> int:
        """Qt timers still running (for tests)."""
        return len(self._handles)


class QEventLoop(qasync.QEventLoop):  # type: ignore[misc]  # qasync is untyped
    """qasync's loop whose cancelled timers stop at once instead of firing for nothing,
    and whose worker threads start only when there is work for them.

    qasync's default executor starts ten QThreads at the first ``to_thread`` or DNS
    lookup, and they sit idle for the app's lifetime: the app needs a thread for the
    keyring read at start and for the name lookups of new connections, rarely two at once.
    """

    def __init__(self, app: Any = None) -> None:
        super().__init__(app)
        self._timer = _Timers(self)
        self.set_default_executor(ThreadPoolExecutor(WORKERS, thread_name_prefix="vendo-worker"))

    def call_later(self, delay: float, callback: Callable[..., object], *args: Any,
                   context: contextvars.Context | None = None) -> asyncio.Handle:
        if asyncio.iscoroutinefunction(callback):
            raise TypeError("coroutines cannot be used with call_later")
        if not callable(callback):
            raise TypeError(f"callback must be callable: {type(callback).__name__}")
        return self._timer.add_callback(_TimerHandle(self._timer, callback, args, self, context), delay)

    @property
    def pending_timers(self) -> int:
        """Qt timers this loop has running: what can still wake the app (for tests)."""
        return self._timer.pending
