"""Stopping child tasks without swallowing the caller's own cancellation.

The tempting idiom ::

    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task

is wrong whenever the *caller* can itself be cancelled while it waits: the
``CancelledError`` meant for the caller arrives at that ``await`` and is
suppressed, so the caller carries on as if nobody had asked it to stop.  The
reconciler did exactly that in its wait loop; a restart of the stream that
landed in that window left a reconciler nobody could stop, the monitor waited
for it forever and never opened the stream again (issue 9: "it can go deaf").

:func:`cancel_and_wait` is the one way this codebase stops child tasks, and
:func:`wait_set` the one way it waits for an event with a timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Iterator
from typing import Any

log = logging.getLogger(__name__)


async def cancel_and_wait(*tasks: asyncio.Future[Any], timeout: float | None = None) -> set[asyncio.Future[Any]]:
    """Cancel ``tasks`` and wait until they have finished; return those still running.

    A cancellation of the caller while it waits propagates (``asyncio.wait``
    never swallows it, and never raises the children's exceptions either).
    The children's results and exceptions are left on the tasks for the
    caller to read.  ``timeout`` bounds the wait for children that take their
    time unwinding; what is still running then is returned, already cancelled.
    """
    for task in tasks:
        task.cancel()
    if not tasks:
        return set()
    done, pending = await asyncio.wait(tasks, timeout=timeout)
    for task in done:
        failure_of(task)  # marks the exception seen: asyncio then never logs it as lost
    return pending


async def wait_set(event: asyncio.Event, timeout: float) -> bool:
    """Wait until ``event`` is set or ``timeout`` seconds have passed; return whether it is set.

    WHY not ``asyncio.wait_for(event.wait(), timeout)``: under Python 3.11, when
    the event is set in the same loop turn as the caller is cancelled, ``wait_for``
    returns instead of raising, and the stop is lost.  The monitor's timer loop did
    that when the monitor stopped in the turn it emitted a notice (a crash while
    emitting one): the loop never stopped, the monitor waited for it forever, and
    nobody could start it again.  Its offline wait did it on a "Reconnect now" just
    before a stop, and opened a new stream instead of stopping.
    ``asyncio.timeout`` runs in the caller's own task and tells its own expiry
    from anybody else's cancel.
    """
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout):
            await event.wait()
    return event.is_set()


def failure_of(task: asyncio.Future[Any]) -> BaseException | None:
    """The exception a finished task ended with (None for a result or a cancellation)."""
    if not task.done() or task.cancelled():
        return None
    return task.exception()


class TaskSet:
    """Fire-and-forget tasks (a dialog's Save, Test, Add), each kept until it is done.

    The event loop holds only a weak reference to a task: one nobody keeps can be
    collected mid-flight, and its work (a key half-saved) silently never finishes.
    """

    def __init__(self) -> None:
        self._running: set[asyncio.Future[Any]] = set()

    def spawn(self, coro: Awaitable[Any]) -> asyncio.Future[Any]:
        task = asyncio.ensure_future(coro)
        self._running.add(task)
        task.add_done_callback(self._running.discard)
        return task

    def __iter__(self) -> Iterator[asyncio.Future[Any]]:
        """The tasks still running."""
        return iter(set(self._running))
