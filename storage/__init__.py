"""Bytes-in, bytes-out key-value backends. Knows nothing of crypto or of the rest of strongroom."""

from storage.backend import (
    Backend,
    Delete,
    InvalidKeyError,
    InvalidValueError,
    Op,
    Put,
    StorageClosedError,
    StorageError,
    StorageFormatError,
    StorageFullError,
    StorageInUseError,
    StoragePanicError,
)
from storage.group_commit import GroupCommitBackend
from storage.lmdb_store import LMDBBackend
from storage.memory import MemoryBackend
from storage.read_only import ReadOnlyBackend, ReadOnlyStorageError

__all__ = [
    "Backend",
    "Delete",
    "GroupCommitBackend",
    "InvalidKeyError",
    "InvalidValueError",
    "LMDBBackend",
    "MemoryBackend",
    "Op",
    "Put",
    "ReadOnlyBackend",
    "ReadOnlyStorageError",
    "StorageClosedError",
    "StorageError",
    "StorageFormatError",
    "StorageFullError",
    "StorageInUseError",
    "StoragePanicError",
]
