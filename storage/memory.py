"""An in-memory backend: a dict behind a lock, for tests and for `server -dev` style runs.

Nothing is durable: the data lives exactly as long as the object. It refuses the same inputs
and lists the same way as the LMDB backend, so the conformance suite holds for both.
"""

from __future__ import annotations

import threading
from typing import Sequence

from storage.backend import Delete, Op, Put, StorageClosedError
from storage.keys import check_ops, check_value, child_name, encode_key, encode_prefix


class MemoryBackend:
    """Backend held in a dict; every call is serialised by one lock."""

    def __init__(self) -> None:
        self._entries: dict[str, bytes] = {}
        self._lock = threading.Lock()
        self._closed = False

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"{len(self._entries)} entries"
        return f"MemoryBackend({state})"

    def get(self, key: str) -> bytes | None:
        encode_key(key)
        with self._lock:
            self._check_open()
            return self._entries.get(key)

    def put(self, key: str, value: bytes) -> None:
        encode_key(key)
        check_value(value)
        with self._lock:
            self._check_open()
            self._entries[key] = value

    def delete(self, key: str) -> None:
        encode_key(key)
        with self._lock:
            self._check_open()
            self._entries.pop(key, None)

    def list(self, prefix: str) -> list[str]:
        raw_prefix = encode_prefix(prefix)
        with self._lock:
            self._check_open()
            keys = [key for key in self._entries if key.startswith(prefix)]
        children = {child_name(raw_prefix, key.encode("utf-8")) for key in keys}
        # UTF-8 byte order is code point order, so this matches the LMDB backend's order.
        return sorted(name.decode("utf-8") for name in children if name is not None)

    def transaction(self, ops: Sequence[Op]) -> None:
        # Every op is checked before the first is applied, and applying cannot fail.
        checked = check_ops(ops)
        with self._lock:
            self._check_open()
            for op in checked:
                if isinstance(op, Put):
                    self._entries[op.key] = op.value
                elif isinstance(op, Delete):
                    self._entries.pop(op.key, None)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._entries.clear()

    def _check_open(self) -> None:
        if self._closed:
            raise StorageClosedError("the memory backend is closed")
