"""The change generation the primary publishes to its followers through shared memory.

Each change a follower must see (a commit, a seal, an unseal) moves the generation before the
request that made it is answered; each message that carries a change carries its generation,
and a follower answers from what it holds only while it has applied every generation there is.
So no follower can answer from before an acknowledged change, and the primary never waits for
a follower. A follower that is behind waits a moment for the change to arrive (it is on its
way), and forwards its requests only if the change is late (server/worker_follower.py).
"""

from __future__ import annotations

import mmap
import struct
import threading

_SLOT = struct.Struct("=Q")  # one aligned 64-bit word: its reads and writes do not tear


class Generation:
    """A counter in an anonymous shared mapping, made before fork; the primary advances it."""

    def __init__(self) -> None:
        self._map = mmap.mmap(-1, mmap.PAGESIZE)  # MAP_SHARED: the same page in every process
        self._lock = threading.Lock()  # the committer thread and the event loop both advance it

    def __repr__(self) -> str:
        return f"Generation({self.value})"

    @property
    def value(self) -> int:
        return _SLOT.unpack_from(self._map, 0)[0]

    def advance(self) -> int:
        with self._lock:
            current = _SLOT.unpack_from(self._map, 0)[0] + 1
            _SLOT.pack_into(self._map, 0, current)
            return current
