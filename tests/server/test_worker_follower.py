"""A follower behind the primary's change generation: it waits for the change, then answers
itself; a change that does not come in time sends the request to the primary instead."""

from __future__ import annotations

import asyncio
import socket
import time
from types import SimpleNamespace

from server import worker_follower
from server.routing import Reply
from server.worker_follower import CATCH_UP_WAIT, PrimaryLink
from server.worker_generation import Generation


def follower(monkeypatch) -> tuple[PrimaryLink, Generation, list[str]]:
    generation = Generation()
    table = SimpleNamespace(entries=lambda: [])
    core = SimpleNamespace(seal=SimpleNamespace(sealed=False), mounts=table, auth_mounts=table,
                           engines={}, auth_engines={})
    ours, _theirs = socket.socketpair()
    link = PrimaryLink(core, 1, ours, generation)
    answered: list[str] = []

    async def local(core, req):
        answered.append("local")
        return Reply(200, {})

    async def forward(req):
        answered.append("forwarded")
        return Reply(200, {})

    monkeypatch.setattr(worker_follower, "respond", local)
    monkeypatch.setattr(link, "forward", forward)
    # Every call here is one a follower answers itself when it is up to date ("local"), but
    # the one whose path is "elsewhere", which always goes to the primary.
    monkeypatch.setattr(link, "_answerable", lambda req: req.path != "elsewhere")
    return link, generation, answered


async def test_a_follower_behind_waits_for_the_change_and_then_answers_itself(monkeypatch):
    link, generation, answered = follower(monkeypatch)
    generation.advance()  # the primary committed; the change is on its way over the channel
    pending = asyncio.ensure_future(link.respond(SimpleNamespace(operation="read", path="kv/data/x")))
    await asyncio.sleep(0.05)
    assert not pending.done() and answered == []
    await link._handle({"t": "inval", "keys": [], "gen": generation.value})
    reply = await asyncio.wait_for(pending, 1)
    assert reply.status == 200 and answered == ["local"]


async def test_a_change_that_does_not_come_in_time_sends_the_request_to_the_primary(monkeypatch):
    link, generation, answered = follower(monkeypatch)
    generation.advance()
    started = time.monotonic()
    await link.respond(SimpleNamespace(operation="read", path="kv/data/x"))
    assert answered == ["forwarded"] and CATCH_UP_WAIT <= time.monotonic() - started < CATCH_UP_WAIT + 1
    assert link._catching_up == [] or all(w.done() for _, w in link._catching_up)


async def test_a_follower_up_to_date_answers_at_once(monkeypatch):
    link, generation, answered = follower(monkeypatch)
    generation.advance()
    await link._handle({"t": "inval", "keys": [], "gen": generation.value})
    started = time.monotonic()
    await link.respond(SimpleNamespace(operation="read", path="kv/data/x"))
    assert answered == ["local"] and time.monotonic() - started < CATCH_UP_WAIT


async def test_a_call_that_goes_to_the_primary_anyway_does_not_wait_for_changes(monkeypatch):
    link, generation, answered = follower(monkeypatch)
    generation.advance()
    started = time.monotonic()
    await link.respond(SimpleNamespace(operation="update", path="elsewhere"))
    assert answered == ["forwarded"] and time.monotonic() - started < CATCH_UP_WAIT


async def test_waits_that_ran_out_do_not_pile_up_while_no_change_comes(monkeypatch):
    link, generation, answered = follower(monkeypatch)
    monkeypatch.setattr(worker_follower, "CATCH_UP_WAIT", 0.02)
    generation.advance()  # a change that never arrives
    for _ in range(3):
        await asyncio.gather(*(link.respond(SimpleNamespace(operation="read", path="kv/data/x")) for _ in range(50)))
    assert answered == ["forwarded"] * 150
    assert len(link._catching_up) <= 100
