"""conftest.stop_task, the tests' one way to stop a background task (monitor, fleet, stream).

Teardown is where a task that died mid-test is noticed: the helper must fail
the test then, and must never swallow the test's own cancellation.
"""

from __future__ import annotations

import asyncio

import pytest

from conftest import stop_task


async def test_a_task_that_crashed_before_teardown_fails_the_test() -> None:
    async def crash() -> None:
        raise RuntimeError("the monitor died")

    task = asyncio.create_task(crash())
    await asyncio.sleep(0)
    assert task.done()
    with pytest.raises(RuntimeError, match="the monitor died"):
        await stop_task(task)


async def test_a_task_that_crashes_while_it_is_stopped_fails_the_test() -> None:
    async def crash_on_cancel() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            raise RuntimeError("broken teardown")

    task = asyncio.create_task(crash_on_cancel())
    await asyncio.sleep(0)
    with pytest.raises(RuntimeError, match="broken teardown"):
        await stop_task(task)


async def test_a_task_that_stops_when_asked_passes() -> None:
    task = asyncio.create_task(asyncio.Event().wait())
    await asyncio.sleep(0)
    await stop_task(task)
    assert task.cancelled()


async def test_the_callers_own_cancellation_is_not_swallowed() -> None:
    # The idiom it replaces (cancel; suppress(CancelledError); await) would
    # carry on here, past a stop meant for the caller (a test timeout, say).
    unwinding = asyncio.Event()

    async def slow_to_stop() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            unwinding.set()
            await asyncio.sleep(0.2)

    carried_on = []

    async def teardown(child: asyncio.Task[None]) -> None:
        await stop_task(child)
        carried_on.append(True)

    child = asyncio.create_task(slow_to_stop())
    await asyncio.sleep(0)
    caller = asyncio.create_task(teardown(child))
    await unwinding.wait()
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    assert carried_on == []
    await stop_task(child)
