"""The fast word of a commit to the followers: the keys it changed, as one datagram each.

The primary's committer thread sends it itself the moment a commit is durable, so a follower
(which answers nothing from before a change it has not applied) no longer waits for the
primary's busy event loop to send the same word over the channel. It is only a shortcut:
every change still goes over the channel too, in order, and a follower applies a datagram
only when it is the very next generation after the last it applied. A datagram lost, too
large, or overtaken changes nothing but the speed. A commit to the keyring goes only over
the channel, with the root key it may need. Key names are not secrets; the socketpair is
made before the fork, like the channel's.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import Callable

import msgpack

log = logging.getLogger("strongroom.workers")

MAX_DATAGRAM = 64 * 1024  # larger commits (thousands of keys) go only over the channel


def pack_change(generation: int, keys: list[str]) -> bytes | None:
    """A commit's datagram, or None if it is too large to send as one."""
    packed = msgpack.packb([generation, keys], use_bin_type=True)
    return packed if len(packed) <= MAX_DATAGRAM else None


def send_change(sock: socket.socket, packed: bytes) -> None:
    """Send without ever blocking the committer: a follower that is not reading loses the
    shortcut, not the change."""
    try:
        sock.send(packed, socket.MSG_DONTWAIT)
    except OSError:
        pass


class ChangeListener:
    """A follower's end: each datagram read is handed to apply(generation, keys)."""

    def __init__(self, sock: socket.socket, apply: Callable[[int, list[str]], None]) -> None:
        self._sock = sock
        self._apply = apply
        self._loop: asyncio.AbstractEventLoop | None = None

    def __repr__(self) -> str:
        return "ChangeListener()"

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._sock.setblocking(False)
        self._loop = loop
        loop.add_reader(self._sock.fileno(), self._read)

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.remove_reader(self._sock.fileno())
            self._loop: asyncio.AbstractEventLoop | None = None

    def _read(self) -> None:
        while True:
            try:
                data, _, flags, _ = self._sock.recvmsg(MAX_DATAGRAM + 1)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                self.stop()  # the primary is gone: the channel says so, and the follower stops
                return
            if flags & socket.MSG_TRUNC or not data:
                continue
            try:
                generation, keys = msgpack.unpackb(data, raw=False)
            except (ValueError, TypeError, msgpack.ExtraData):
                log.error("a change datagram could not be read; the channel carries it too")
                continue
            if isinstance(generation, int) and isinstance(keys, list):
                self._apply(generation, keys)
