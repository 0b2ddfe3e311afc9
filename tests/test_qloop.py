"""ui.qloop: the app's qasync loop stops a cancelled timer at once instead of letting it fire.

A timer that fires for a handle nobody waits for is a wake-up of an idle app:
the stream's heartbeat watchdog alone cancels one 60 s timeout per read.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

from PySide6.QtCore import QEvent, QObject


class TimerEvents(QObject):
    """Counts the Qt timer events the loop's timer object receives: each one woke the app."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt override
        if event.type() == QEvent.Type.Timer:
            self.count += 1
        return False


def test_a_cancelled_timer_never_fires(loop) -> None:
    counter = TimerEvents()
    loop._timer.installEventFilter(counter)
    loop.run_until_complete(asyncio.sleep(0.4))
    baseline, counter.count = counter.count, 0  # what running a sleep costs by itself
    ran: list[str] = []
    for _ in range(5):
        loop.call_later(0.1, ran.append, "cancelled").cancel()
    loop.run_until_complete(asyncio.sleep(0.4))
    assert ran == []
    assert counter.count == baseline, "a cancelled handle's timer still woke the loop"
    assert loop.pending_timers == 0


def test_timeouts_that_were_not_needed_leave_no_timer_running(loop) -> None:
    async def reads() -> None:
        for _ in range(100):  # the heartbeat watchdog's pattern: a long timeout per quick read
            async with asyncio.timeout(60):
                await asyncio.sleep(0)
            await asyncio.wait_for(asyncio.sleep(0), 60)

    loop.run_until_complete(reads())
    assert loop.pending_timers == 0


def test_cancelling_a_handle_that_already_ran_leaves_later_timers_alone(loop) -> None:
    ran: list[str] = []
    first = loop.call_later(0, ran.append, "first")
    loop.run_until_complete(asyncio.sleep(0.05))
    second = loop.call_later(0.05, ran.append, "second")  # Qt may give it the first one's timer id
    first.cancel()
    loop.run_until_complete(asyncio.sleep(0.2))
    assert ran == ["first", "second"] and not second.cancelled()


def test_timers_never_build_pysides_qt_namespace() -> None:
    """``killTimer(int)`` made PySide6 build every enum of ``Qt`` (1.3 MB) to resolve its
    ``Qt.TimerId`` overload; the loop's timers must not, or a live idle tray pays it."""
    code = (
        "import asyncio, enum, gc, sys\n"
        "from PySide6.QtCore import QCoreApplication\n"
        "from vendo_tray.ui.qloop import QEventLoop\n"
        "app = QCoreApplication(sys.argv[:1])\n"
        "loop = QEventLoop(app)\n"
        "async def main():\n"
        "    await asyncio.sleep(0.05)\n"
        "    try:\n"
        "        async with asyncio.timeout(0.01):\n"
        "            await asyncio.sleep(1)\n"
        "    except TimeoutError:\n"
        "        pass\n"
        "    loop.call_later(5, print).cancel()\n"
        "loop.run_until_complete(main())\n"
        "built = [t.__qualname__ for t in gc.get_objects() if isinstance(t, type)\n"
        "         and issubclass(t, enum.Enum) and t.__qualname__.startswith('Qt.')]\n"
        "print(len(built))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[-1] == "0", "the loop's timers built the Qt namespace's enums"
