"""The primary process's side of the worker channels: what it tells its followers, and
what it does for them (forwarded requests, transit usage grants, their audit entries).

The primary is the only process that writes. It runs every request a follower forwards
through the same pipeline, grants followers blocks of counted transit encryptions, and tells
them, before anyone hears that a write is durable, which storage keys it changed (so they
drop what they cached) and, when the keyring or root key changed, the root key itself. Seal
and unseal reach every follower before the request that caused them is answered. A follower
that does not acknowledge in time is killed: a dead process cannot serve stale keys.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
from typing import TYPE_CHECKING, Any

from seal.barrier import KEYRING_PATH, ROOT_KEY_PATH
from seal.lockedmem import zero_bytearray
from server.audit.broker import AuditFailedError
from server.forwarding import PrimaryRequiredError, reply_to_wire, request_from_wire
from server.pipeline import durable, respond
from server.worker_changes import pack_change, send_change
from server.worker_channel import Channel, ChannelClosedError, Message, PeerError
from server.worker_generation import Generation

if TYPE_CHECKING:
    from server.core import Core

log = logging.getLogger("strongroom.workers")

HELLO_TIMEOUT = 60.0
KEYRING_KEYS = frozenset({KEYRING_PATH, ROOT_KEY_PATH})


class Follower:
    """One follower process as the primary sees it."""

    def __init__(self, index: int, pid: int, sock: socket.socket, changes: socket.socket,
                 followers: "Followers") -> None:
        self.index = index
        self.pid = pid
        self.ready = False
        self.channel = Channel(sock, followers.handle, f"worker {index}")
        self.changes = changes  # the datagram shortcut for commits (server/worker_changes.py)

    def __repr__(self) -> str:
        return f"Follower({self.index}, pid={self.pid}, ready={self.ready})"

    def kill(self) -> None:
        try:
            os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.channel.close()


class Followers:
    """Every follower of this primary, and the channel work with them."""

    def __init__(self, core: "Core", followers: list[tuple[int, socket.socket, socket.socket]],
                 generation: "Generation") -> None:
        self._core = core
        self.generation = generation
        self._all = [Follower(i, pid, sock, changes, self)
                     for i, (pid, sock, changes) in enumerate(followers, start=1)]
        self._loop: asyncio.AbstractEventLoop | None = None
        self._hello = asyncio.Event()
        self.stopping = False

    def __repr__(self) -> str:
        return f"Followers({self._all!r})"

    async def start(self) -> None:
        """Open the channels and wait until every follower has said hello (or gone)."""
        self._loop = asyncio.get_running_loop()
        for follower in self._all:
            await follower.channel.start()
            asyncio.create_task(self._watch(follower))
        try:
            async with asyncio.timeout(HELLO_TIMEOUT):
                while not all(f.ready or f.channel.closed.is_set() for f in self._all):
                    self._hello.clear()
                    await self._hello.wait()
        except TimeoutError:
            log.error("some worker processes did not start in time")

    def stop(self) -> None:
        self.stopping = True
        for follower in self._all:
            follower.channel.close()

    # -- what followers ask --------------------------------------------------------------

    async def handle(self, message: Message) -> Message:
        kind = message.get("t")
        if kind == "fwd":
            return await self._forwarded(message["req"])
        if kind == "grant":
            return await self._grant(message)
        if kind == "audit":
            try:
                await self._core.audit.log(message["entry"], message["prehashed"], message.get("bodies"))
            except AuditFailedError as exc:
                raise PeerError("audit", str(exc)) from None
            return {}
        if kind == "hello":
            follower = next(f for f in self._all if f.index == message["index"])
            # Every change up to `current` reached storage before this follower will read it;
            # every later one is told to it, after the open (it takes calls in order).
            current = self.generation.value
            follower.ready = True
            if not self._core.seal.sealed:
                await self._tell(follower, self._open_message(self.generation.advance()))
            self._hello.set()
            return {"gen": current}
        raise PeerError("unknown", f"unknown message {kind!r}")

    async def _forwarded(self, wire: dict[str, Any]) -> Message:
        return reply_to_wire(await respond(self._core, request_from_wire(wire)))

    async def _grant(self, message: Message) -> Message:
        """A block of counted encryptions of one transit key version, durable before it goes."""
        from server.engines.transit_lifecycle_usage import grant  # transit loads with its mounts

        engine = self._core.engines.get(message["mount"])
        store = getattr(engine, "store", None)
        if store is None:
            raise PeerError("primary", "no transit engine at that mount")
        generation = getattr(self._core.backend, "generation", 0)
        try:
            start, end = grant(store, message["name"], message["n"], message["created"], message["count"])
        except PrimaryRequiredError as exc:
            raise PeerError("primary", str(exc)) from None
        error = await durable(self._core, generation)
        if error is not None:
            raise PeerError("storage", type(error).__name__)
        return {"start": start, "end": end}

    # -- what followers are told ---------------------------------------------------------

    def opened(self) -> None:
        """The seal opened here: every follower opens with the same root key, once what the
        unseal wrote (the cluster record, say) is on disk and if the seal is still open. The
        generation moves now, so until then followers forward rather than answer sealed."""
        asyncio.ensure_future(self._open_when_durable(self.generation.advance()))

    def sealed(self) -> None:
        """Sealed here: followers stop answering at once (the generation moves before this
        returns) and zero their keys when the message reaches them."""
        asyncio.ensure_future(self._broadcast({"t": "seal", "gen": self.generation.advance()}))

    def commit_hook(self, keys: list[str]) -> None:
        """GroupCommitBackend's on_commit, on its committer thread, before any writer is
        answered: the generation moves, so no follower answers from what it read before
        until it has dropped what it cached of these keys. Nothing here waits for them."""
        loop = self._loop
        if loop is None or not any(f.ready for f in self._all):
            return
        generation = self.generation.advance()
        if not KEYRING_KEYS.intersection(keys):  # a keyring change needs the root key: channel only
            packed = pack_change(generation, keys)
            if packed is not None:
                for follower in self._all:
                    if follower.ready:
                        send_change(follower.changes, packed)
        asyncio.run_coroutine_threadsafe(self._invalidate(keys, generation), loop)

    async def _invalidate(self, keys: list[str], generation: int) -> None:
        message: Message = {"t": "inval", "keys": keys, "gen": generation}
        if KEYRING_KEYS.intersection(keys) and not self._core.seal.sealed:
            message["root"] = self._open_message(generation)["root"]
        await self._broadcast(message)

    async def _open_when_durable(self, generation: int) -> None:
        await durable(self._core, getattr(self._core.backend, "generation", 0))
        if not self._core.seal.sealed:  # a seal since is not overtaken by this open
            await self._broadcast(self._open_message(generation))

    def _open_message(self, generation: int) -> Message:
        root = self._core.seal.barrier.root_key_copy()
        try:
            return {"t": "open", "root": bytes(root), "gen": generation}
        finally:
            zero_bytearray(root)

    async def _broadcast(self, message: Message) -> None:
        await asyncio.gather(*(self._tell(f, message) for f in self._all if f.ready))

    async def _tell(self, follower: Follower, message: Message) -> None:
        try:
            await follower.channel.call(message)
        except ChannelClosedError:
            follower.ready = False
        except PeerError as exc:  # it could not apply a change: it must not answer from before it
            log.error("worker %d did not take %r (%s); stopping it", follower.index, message["t"], exc)
            follower.ready = False
            follower.kill()

    async def _watch(self, follower: Follower) -> None:
        await follower.channel.closed.wait()
        follower.ready = False
        self._hello.set()
        if not self.stopping:
            log.warning("worker %d (pid %d) has gone", follower.index, follower.pid)
