"""KV v2 keys as last read, decrypted and decoded, so that reading a key again costs no
barrier decrypt and no msgpack decode.

A cache that ever answered with data older than an acknowledged write would be worse than
none, so it is exact, by four rules:

- the store forgets a key after every write to it, once the write is in storage;
- an entry is kept only if no write was made while it was read (`writes` counts them), so a
  read that overlapped a write can never put back what the write replaced;
- an entry counts only under the barrier stamp it was read under: a seal, an unseal and a
  failed group commit (whose writes vanish from storage) all change the stamp;
- close() empties it: at seal, and in a worker process whenever the primary commits under
  the mount (server/worker_follower.py closes the engine).

It holds plaintext, so its repr shows counts only, and it is bounded in bytes per mount: the
oldest entries leave first, and a version's data above MAX_VALUE_BYTES is never kept. That
plaintext sits in ordinary (swappable) memory until it is evicted or the barrier seals, as
Python's copies of a request's secrets do until they are collected (see README).
"""

from __future__ import annotations

import threading
from typing import Any

from server.engines.kv_model import KeyMetadata

MAX_BYTES = 16 * 1024 * 1024
MAX_VALUE_BYTES = 64 * 1024
ENTRY_BYTES = 512  # what an entry costs besides its path and data, roughly: dicts, objects
VERSION_BYTES = 160  # and each version its metadata lists


class KeyEntry:
    """One key as read under `stamp`: its stored metadata record (None: no such key), and
    the stored data of the versions read since."""

    __slots__ = ("stamp", "record", "versions", "size", "_meta")

    def __init__(self, stamp: tuple[int, int], record: dict[str, Any] | None) -> None:
        self.stamp = stamp
        self.record = record
        self.versions: dict[int, bytes] = {}
        self.size = ENTRY_BYTES
        self._meta: KeyMetadata | None = None

    def __repr__(self) -> str:
        return f"KeyEntry(exists={self.record is not None}, versions={len(self.versions)})"

    @property
    def meta(self) -> KeyMetadata | None:
        """The metadata every reader of this entry shares (built on first use): never change it."""
        if self._meta is None and self.record is not None:
            self._meta = KeyMetadata.from_record(self.record)
        return self._meta


class KeyCache:
    """Entries by secret path, filled by reads and emptied by writes (see the module's rules)."""

    def __init__(self, max_bytes: int = MAX_BYTES) -> None:
        self._max_bytes = max_bytes
        self._entries: dict[str, KeyEntry] = {}
        self._bytes = 0
        self._writes = 0
        self._lock = threading.Lock()  # a read's check of `writes` and its fill are one step

    def __repr__(self) -> str:
        return f"KeyCache({len(self._entries)} keys, {self._bytes} bytes)"

    @property
    def writes(self) -> int:
        """How many writes so far: a reader notes it before it reads storage."""
        return self._writes

    def get(self, path: str, stamp: tuple[int, int]) -> KeyEntry | None:
        entry = self._entries.get(path)
        return entry if entry is not None and entry.stamp == stamp else None

    def keep(self, path: str, entry: KeyEntry, writes: int) -> None:
        """Keep an entry read from storage, unless a write was made since `writes` was noted."""
        entry.size += len(path) + (VERSION_BYTES * len(entry.record["versions"]) if entry.record else 0)
        with self._lock:
            if writes != self._writes:
                return
            self._drop(path)
            self._entries[path] = entry
            self._bytes += entry.size
            self._trim()

    def keep_version(self, path: str, entry: KeyEntry, number: int, data: bytes, writes: int) -> None:
        """Add a version's stored data to the key's entry, on the same condition as keep()."""
        if len(data) > MAX_VALUE_BYTES:
            return
        with self._lock:
            if writes != self._writes or self._entries.get(path) is not entry or number in entry.versions:
                return
            entry.versions[number] = data
            entry.size += len(data)
            self._bytes += len(data)
            self._trim()

    def forget(self, path: str) -> None:
        """After a write to path: its entry goes, and reads under way are not kept."""
        with self._lock:
            self._writes += 1
            self._drop(path)

    def clear(self) -> None:
        with self._lock:
            self._writes += 1
            self._entries.clear()
            self._bytes = 0

    def _drop(self, path: str) -> None:
        entry = self._entries.pop(path, None)
        if entry is not None:
            self._bytes -= entry.size

    def _trim(self) -> None:
        while self._bytes > self._max_bytes and self._entries:
            self._drop(next(iter(self._entries)))
