"""server/eager.py: coroutines run at once, and carried on by a task only when they wait."""

from __future__ import annotations

import asyncio

import pytest

from server import eager


async def from_callback(call):
    """call() as a protocol's data_received runs it: from the loop, outside any task."""
    loop = asyncio.get_running_loop()
    outcome = loop.create_future()
    loop.call_soon(lambda: outcome.set_result(call()))
    return await outcome


async def test_a_coroutine_that_never_waits_finishes_in_start_without_a_task():
    seen = []

    async def work():
        seen.append(asyncio.current_task())
        return 1

    assert await from_callback(lambda: eager.start(work())) is None
    assert seen == [None]  # it ran there and then, outside any task


async def test_a_coroutine_that_waits_goes_on_in_a_task_with_what_it_was_sent():
    loop = asyncio.get_running_loop()
    future = loop.create_future()
    steps = []

    async def work():
        steps.append("before")
        value = await future
        steps.append(value)
        steps.append(asyncio.current_task() is not None)
        return value * 2

    task = eager.start(work())
    assert steps == ["before"]  # the first step ran inside start()
    assert isinstance(task, asyncio.Task)
    future.set_result(21)
    assert await task == 42
    assert steps == ["before", 21, True]


async def test_an_error_after_the_first_wait_is_the_tasks():
    future = asyncio.get_running_loop().create_future()

    async def work():
        await future
        raise ValueError("late")

    task = eager.start(work())
    future.set_result(None)
    with pytest.raises(ValueError, match="late"):
        await task


async def test_an_error_in_the_first_step_is_raised_by_start():
    async def work():
        raise KeyError("early")

    with pytest.raises(KeyError):
        eager.start(work())


async def test_cancelling_the_task_reaches_the_coroutine():
    cleaned = []

    async def work():
        try:
            await asyncio.sleep(30)
        finally:
            cleaned.append(True)

    task = eager.start(work())
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert cleaned == [True]


async def test_a_cancellation_the_coroutine_absorbs_lets_it_finish():
    async def work():
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            return "stopped cleanly"

    task = eager.start(work())
    await asyncio.sleep(0)
    task.cancel()
    assert await task == "stopped cleanly"


async def test_in_task_makes_asyncio_timeout_usable():
    async def work():
        await eager.in_task()
        async with asyncio.timeout(5):  # raises RuntimeError outside a task
            await asyncio.sleep(0)
        return asyncio.current_task() is not None

    task = await from_callback(lambda: eager.start(work()))
    assert task is not None  # in_task waited once, so a task took over
    assert await task is True


async def test_in_task_inside_a_task_does_not_wait():
    async def work():
        await eager.in_task()
        return "done"

    assert await asyncio.create_task(work()) == "done"
