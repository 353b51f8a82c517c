"""The backend interface every storage implementation satisfies, and its errors.

Keys are storage paths (str, '/'-separated); values are opaque bytes (already ciphertext
once the barrier sits on top). Third-party errors never leave storage/: they become these.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, Sequence, Union


class StorageError(Exception):
    """A backend could not do what was asked; nothing was half-written."""


class StorageFullError(StorageError):
    """The store reached its configured size ceiling; the write was not applied."""


class StorageInUseError(StorageError):
    """Another process already has this data directory open."""


class StorageFormatError(StorageError):
    """The data directory was written by another storage format version."""


class StoragePanicError(StorageError):
    """The store is damaged (MDB_PANIC and the like); serving must stop."""


class StorageClosedError(StorageError):
    """The backend was closed; open a new one to use the data again."""


class InvalidKeyError(StorageError, ValueError):
    """A storage path that no backend accepts (not a str, empty, ending in '/', too long)."""


class InvalidValueError(StorageError, TypeError):
    """A value that is not bytes, or a transaction item that is not a Put or a Delete."""


@dataclass(frozen=True, slots=True)
class Put:
    key: str
    value: bytes

    def __repr__(self) -> str:  # values may be secrets in tests using a raw backend
        return f"Put({self.key!r}, <{len(self.value)} bytes>)"


@dataclass(frozen=True, slots=True)
class Delete:
    key: str


Op = Union[Put, Delete]


class Backend(Protocol):
    """Vault's physical backend, reduced to what strongroom needs."""

    def get(self, key: str) -> bytes | None:
        """The value at key, or None when there is none."""

    def put(self, key: str, value: bytes) -> None:
        """Store value at key; durable when this returns."""

    def delete(self, key: str) -> None:
        """Remove key; deleting a missing key is not an error."""

    def list(self, prefix: str) -> list[str]:
        """Children of prefix, one level, sorted: leaves by name, sub-folders ending in '/'."""

    def transaction(self, ops: Sequence[Op]) -> None:
        """Apply every Put and Delete, in order, all or none."""

    def close(self) -> None:
        """Release the store (and its lock); later calls raise StorageError."""
