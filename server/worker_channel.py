"""The private channel between the server's processes: msgpack frames over a socketpair.

The pair is made before fork and inherited, so no other process can reach it: it has no
path and no port. That is why key material (the root key) may cross it and nothing else.
Either end may call the other: `call(message)` sends it with an id and waits for the frame
answering that id; a frame without an answer id is a call from the other end, which runs
`handler(message)` and sends back what it returns.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import socket
import struct
from typing import Any, Awaitable, Callable

import msgpack

log = logging.getLogger("strongroom.workers")

FRAME = struct.Struct("!I")
MAX_FRAME = 512 * 1024 * 1024  # request bodies are bounded by the listener; replies can be lists
Message = dict[str, Any]
Handler = Callable[[Message], Awaitable[Message]]


class ChannelClosedError(Exception):
    """The other process is gone (or the channel broke); nothing more will be answered."""


class PeerError(Exception):
    """The other end's handler failed; kind says how, for the caller to decide."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class Channel:
    """One end of a socketpair, speaking length-prefixed msgpack frames."""

    def __init__(self, sock: socket.socket, handler: Handler, name: str,
                 on_close: Callable[[], None] | None = None) -> None:
        self._sock = sock
        self.on_close = on_close  # told once when the other end goes (not after close())
        self._handler = handler
        self.name = name
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future] = {}
        self._writer: asyncio.StreamWriter | None = None
        self._reader_task: asyncio.Task | None = None
        self._tasks: set[asyncio.Task] = set()
        self.closed = asyncio.Event()

    def __repr__(self) -> str:
        return f"Channel({self.name!r}, {'closed' if self.closed.is_set() else 'open'})"

    async def start(self) -> None:
        reader, self._writer = await asyncio.open_unix_connection(sock=self._sock, limit=2 ** 20)
        self._reader_task = asyncio.create_task(self._read(reader))

    async def call(self, message: Message, timeout: float | None = None) -> Message:
        """Send message and wait for its answer; PeerError if the handler there failed."""
        if self.closed.is_set() or self._writer is None:
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
        if self._writer is not None:
            self._writer.close()
        self._closed()

    def _send(self, message: Message) -> None:
        body = msgpack.packb(message, use_bin_type=True)
        if len(body) > MAX_FRAME:
            raise ValueError("message too large for the worker channel")
        assert self._writer is not None
        self._writer.write(FRAME.pack(len(body)) + body)

    async def _read(self, reader: asyncio.StreamReader) -> None:
        try:
            while True:
                (size,) = FRAME.unpack(await reader.readexactly(FRAME.size))
                if size > MAX_FRAME:
                    raise ValueError("oversized frame on the worker channel")
                message = msgpack.unpackb(await reader.readexactly(size), raw=False)
                answered = message.get("re")
                if answered is not None:
                    future = self._waiting.get(answered)
                    if future is not None and not future.done():
                        future.set_result(message)
                    continue
                task = asyncio.create_task(self._answer(message))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        except Exception:  # noqa: BLE001 - a garbled channel is a dead one
            log.exception("the channel %s broke", self.name)
        finally:
            self._closed()

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
