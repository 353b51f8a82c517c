"""A follower behind the primary's change generation: it waits for the change, then answers
itself; a change that does not come in time sends the request to the primary instead."""

from __future__ import annotations

import asyncio
import socket
import time
from types import SimpleNamespace

import pytest

from server import worker_follower
from server.routing import Reply
from server.worker_changes import ChangeListener, pack_change, send_change
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


def _listening(monkeypatch):
    """A follower whose change datagrams arrive on a socketpair; (link, generation, answered, tell)."""
    link, generation, answered = follower(monkeypatch)
    tell, hear = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    link._changes = ChangeListener(hear, link._change)
    link._changes.start(asyncio.get_running_loop())
    return link, generation, answered, tell


async def test_a_change_datagram_releases_a_waiting_request_before_the_channel_says_anything(monkeypatch):
    link, generation, answered, tell = _listening(monkeypatch)
    generation.advance()
    pending = asyncio.ensure_future(link.respond(SimpleNamespace(operation="read", path="kv/data/x")))
    await asyncio.sleep(0.01)
    assert not pending.done()
    send_change(tell, pack_change(generation.value, ["logical/abc/meta/x"]))
    await asyncio.wait_for(pending, CATCH_UP_WAIT / 2)  # well before the wait would run out
    assert answered == ["local"] and link._applied == 1
    link._changes.stop()


async def test_a_datagram_that_is_not_the_next_generation_is_left_to_the_channel(monkeypatch):
    link, generation, answered, tell = _listening(monkeypatch)
    generation.advance()
    generation.advance()  # generation 1 (a seal, say) comes only over the channel
    send_change(tell, pack_change(2, ["logical/abc/meta/x"]))
    await link.respond(SimpleNamespace(operation="read", path="kv/data/x"))
    assert answered == ["forwarded"] and link._applied == 0
    await link._handle({"t": "inval", "keys": [], "gen": 1})
    await link._handle({"t": "inval", "keys": ["logical/abc/meta/x"], "gen": 2})
    await link.respond(SimpleNamespace(operation="read", path="kv/data/x"))
    assert answered == ["forwarded", "local"]
    send_change(tell, b"\xc1 not msgpack")  # garbled: ignored, logged; the channel carries it too
    await asyncio.sleep(0.01)
    assert link._applied == 2
    link._changes.stop()


async def test_the_committer_sends_each_commit_by_datagram_but_a_keyring_change_only_over_the_channel(monkeypatch):
    import msgpack

    from server.worker_primary import KEYRING_KEYS, Followers

    tell, hear = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    stream, _peer = socket.socketpair()
    followers = Followers(SimpleNamespace(seal=SimpleNamespace(sealed=False)), [(1 << 22, stream, tell)],
                          Generation())
    loop = asyncio.get_running_loop()
    followers._loop = loop
    followers._all[0].ready = True
    told = []

    async def invalidate(keys, generation):
        told.append((generation, keys))

    monkeypatch.setattr(followers, "_invalidate", invalidate)
    keyring = sorted(KEYRING_KEYS)[0]
    huge = [f"logical/abc/meta/{n:06d}" for n in range(5000)]  # past one datagram: channel only
    for keys in (["logical/abc/meta/x"], [keyring, "logical/abc/meta/y"], huge):
        await loop.run_in_executor(None, followers.commit_hook, keys)  # as the committer thread
    await asyncio.sleep(0.05)
    assert [generation for generation, _ in told] == [1, 2, 3]  # the channel hears of every one
    hear.setblocking(False)
    assert msgpack.unpackb(hear.recv(1 << 17)) == [1, ["logical/abc/meta/x"]]
    with pytest.raises(BlockingIOError):
        hear.recv(1 << 17)
