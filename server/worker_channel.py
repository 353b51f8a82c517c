"""The private channel between the server's processes: msgpack messages over a socketpair.

The pair is made before fork and inherited, so no other process can reach it: it has no
path and no port. That is why key material (the root key) may cross it and nothing else.
Either end may call the other: `call(message)` sends it with an id and waits for the frame
answering that id; a frame without an answer id is a call from the other end, which runs
`handler(message)` and sends back what it returns. A call is handled in place as it
arrives (server/eager.py) and moves into a task only if it waits, so calls that do not wait
(an invalidation, a grant's bookkeeping) are applied in the order they were sent.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import socket
from typing import Any, Awaitable, Callable

import msgpack

from server import eager

log = logging.getLogger("strongroom.workers")

MAX_MESSAGE = 512 * 1024 * 1024  # request bodies are bounded by the listener; replies can be lists
Message = dict[str, Any]
Handler = Callable[[Message], Awaitable[Message]]


class ChannelClosedError(Exception):
    """The other process is gone (or the channel broke); nothing more will be answered."""


class PeerError(Exception):
    """The other end's handler failed; kind says how, for the caller to decide."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class Channel(asyncio.Protocol):
    """One end of a socketpair, speaking msgpack: each message is one msgpack map."""

    def __init__(self, sock: socket.socket, handler: Handler, name: str,
                 on_close: Callable[[], None] | None = None) -> None:
        self._sock = sock
        self.on_close = on_close  # told once when the other end goes (not after close())
        self._handler = handler
        self.name = name
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future] = {}
        self._transport: asyncio.Transport | None = None
        self._packer = msgpack.Packer(use_bin_type=True)
        self._unpacker = msgpack.Unpacker(raw=False, max_buffer_size=MAX_MESSAGE)
        self._tasks: set[asyncio.Task] = set()
        self.closed = asyncio.Event()

    def __repr__(self) -> str:
        return f"Channel({self.name!r}, {'closed' if self.closed.is_set() else 'open'})"

    async def start(self) -> None:
        await asyncio.get_running_loop().create_unix_connection(lambda: self, sock=self._sock)

    async def call(self, message: Message, timeout: float | None = None) -> Message:
        """Send message and wait for its answer; PeerError if the handler there failed."""
        if self.closed.is_set() or self._transport is None:
            raise ChannelClosedError(f"{self.name} is closed")
        ident = next(self._ids)
        future = asyncio.get_running_loop().create_future()
        self._waiting[ident] = future
        try:
            self._send({**message, "id": ident})
            answer = await asyncio.wait_for(future, timeout) if timeout else await future
        finally:
            self._waiting.pop(ident, None)
        if "error" in answer:
            raise PeerError(answer.get("kind", ""), answer["error"])
        return answer

    def close(self) -> None:
        self.on_close = None
        if self._transport is not None:
            self._transport.close()
        self._closed()

    def _send(self, message: Message) -> None:
        body = self._packer.pack(message)
        if len(body) > MAX_MESSAGE:
            raise ValueError("message too large for the worker channel")
        assert self._transport is not None
        self._transport.write(body)

    # -- asyncio.Protocol ----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        try:
            self._unpacker.feed(data)
            for message in self._unpacker:
                self._received(message)
        except Exception:  # noqa: BLE001 - a garbled channel is a dead one
            log.exception("the channel %s broke", self.name)
            if self._transport is not None:
                self._transport.abort()
            self._closed()

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed()

    def _received(self, message: Message) -> None:
        answered = message.get("re")
        if answered is not None:
            future = self._waiting.get(answered)
            if future is not None and not future.done():
                future.set_result(message)
            return
        task = eager.start(self._answer(message))
        if task is not None:
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _answer(self, message: Message) -> None:
        ident = message.get("id")
        try:
            answer = await self._handler(message)
        except PeerError as exc:
            answer = {"error": str(exc), "kind": exc.kind}
        except Exception as exc:  # noqa: BLE001 - the caller must hear of every failure
            log.exception("handling %r from %s failed", message.get("t"), self.name)
            answer = {"error": type(exc).__name__, "kind": "internal"}
        if ident is not None and not self.closed.is_set():
            try:
                self._send({**answer, "re": ident})
            except (ConnectionError, RuntimeError):
                self._closed()
            except Exception as exc:  # noqa: BLE001 - an answer that cannot be packed is still answered
                log.error("the answer to %r could not be sent (%s)", message.get("t"), type(exc).__name__)
                self._send({"error": type(exc).__name__, "kind": "internal", "re": ident})

    def _closed(self) -> None:
        if self.closed.is_set():
            return
        self.closed.set()
        for future in self._waiting.values():
            if not future.done():
                future.set_exception(ChannelClosedError(f"{self.name} closed"))
        if self.on_close is not None:
            self.on_close()
