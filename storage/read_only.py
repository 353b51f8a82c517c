"""A backend that reads and refuses every write: a worker process's view of the store.

Worker processes of one server read the shared LMDB environment directly, but only the
primary process writes, so that every read-modify-write happens in one place. A write
attempted in a worker raises ReadOnlyStorageError before anything changes; the server then
hands the whole request to the primary.
"""

from __future__ import annotations

from typing import Sequence

from storage.backend import Backend, Op, StorageError


class ReadOnlyStorageError(StorageError):
    """A write reached a backend that only reads (the request belongs to the primary)."""


class ReadOnlyBackend:
    """Reads pass through to inner; put, delete and transaction raise ReadOnlyStorageError."""

    def __init__(self, inner: Backend) -> None:
        self._inner = inner

    def __repr__(self) -> str:
        return f"ReadOnlyBackend({self._inner!r})"

    def get(self, key: str) -> bytes | None:
        return self._inner.get(key)

    def list(self, prefix: str) -> list[str]:
        return self._inner.list(prefix)

    def put(self, key: str, value: bytes) -> None:
        raise ReadOnlyStorageError(f"this process does not write (put {key!r})")

    def delete(self, key: str) -> None:
        raise ReadOnlyStorageError(f"this process does not write (delete {key!r})")

    def transaction(self, ops: Sequence[Op]) -> None:
        raise ReadOnlyStorageError("this process does not write (transaction)")

    def close(self) -> None:
        self._inner.close()
