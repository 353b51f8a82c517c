"""Coroutines started at once, outside any task, and moved into one only if they wait.

The fast path answers most requests (an encrypt, a read) without ever waiting, and a task
costs about 7 us of the 40-120 us such a request takes. So a request's coroutine is run
directly; if it waits on a future, a task takes it on from there.
"""

from __future__ import annotations

import asyncio
import types
from typing import Any, Coroutine, Generator


def start(coro: Coroutine[Any, Any, Any]) -> asyncio.Task | None:
    """Run coro until it first waits: None if it finished, else the task carrying it on.
    Whatever coro raises on its first steps is raised here."""
    try:
        waiting_on = coro.send(None)
    except StopIteration:
        return None
    return asyncio.get_running_loop().create_task(_go_on(coro, waiting_on))


async def in_task() -> None:
    """Go on inside a task: asyncio.timeout (the audit devices' deadlines) needs one. A step
    through the loop moves a coroutine begun by start() into the task that carries it."""
    if asyncio.current_task() is None:
        await asyncio.sleep(0)


async def _go_on(coro: Coroutine[Any, Any, Any], waiting_on: Any) -> Any:
    return await _resume(coro, waiting_on)


@types.coroutine
def _resume(coro: Coroutine[Any, Any, Any], waiting_on: Any) -> Generator[Any, Any, Any]:
    """Drive coro on from the future it first waited on: what it yields goes to the task
    running this, and what the task sends or throws (a result, a cancellation) back to it."""
    while True:
        try:
            sent = yield waiting_on
        except BaseException as exc:  # noqa: BLE001 - each is the coroutine's to handle
            try:
                waiting_on = coro.throw(exc)
            except StopIteration as stop:
                return stop.value
        else:
            try:
                waiting_on = coro.send(sent)
            except StopIteration as stop:
                return stop.value
