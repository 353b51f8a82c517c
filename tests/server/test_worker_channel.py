"""The channel between worker processes: calls both ways, failures carried, a closed end."""

import asyncio
import socket

import pytest

from server.worker_channel import Channel, ChannelClosedError, PeerError


async def pair(left_handler, right_handler):
    a, b = socket.socketpair()
    left, right = Channel(a, left_handler, "left"), Channel(b, right_handler, "right")
    await left.start()
    await right.start()
    return left, right


async def test_calls_go_both_ways_and_answers_find_their_callers():
    async def double(message):
        await asyncio.sleep(0.01 * (3 - message["n"]))  # answers come back out of order
        return {"n": message["n"] * 2, "raw": message["raw"]}

    async def echo(message):
        return {"seen": message["t"]}

    left, right = await pair(echo, double)
    answers = await asyncio.gather(*(left.call({"n": n, "raw": bytes([n]) * 3}) for n in range(3)))
    assert [(a["n"], a["raw"]) for a in answers] == [(0, b"\x00" * 3), (2, b"\x01" * 3), (4, b"\x02" * 3)]
    assert (await right.call({"t": "hello"}))["seen"] == "hello"
    left.close()
    right.close()


async def test_a_failing_handler_is_a_peer_error_not_a_hang():
    async def fail(message):
        if message["t"] == "typed":
            raise PeerError("primary", "refused")
        raise KeyError("boom")

    left, right = await pair(fail, fail)
    with pytest.raises(PeerError) as typed:
        await left.call({"t": "typed"})
    assert (typed.value.kind, str(typed.value)) == ("primary", "refused")
    with pytest.raises(PeerError) as internal:
        await left.call({"t": "other"})
    assert internal.value.kind == "internal" and "boom" not in str(internal.value)
    left.close()
    right.close()


async def test_when_the_other_end_goes_callers_fail_and_on_close_runs_once():
    gone = []
    stuck = asyncio.Event()

    async def never(message):
        await stuck.wait()
        return {}

    a, b = socket.socketpair()
    left = Channel(a, never, "left", on_close=lambda: gone.append("left"))
    right = Channel(b, never, "right")
    await left.start()
    await right.start()
    waiting = asyncio.ensure_future(left.call({"t": "x"}))
    await asyncio.sleep(0.05)
    right.close()
    with pytest.raises(ChannelClosedError):
        await asyncio.wait_for(waiting, 5)
    await asyncio.sleep(0.05)
    assert gone == ["left"]
    with pytest.raises(ChannelClosedError):
        await left.call({"t": "y"})
    stuck.set()
