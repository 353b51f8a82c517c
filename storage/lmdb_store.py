"""The LMDB backend, strongroom's default: one environment per data directory.

Crash safety: the environment is opened with sync=True, metasync=True, writemap=False, under
which an LMDB commit survives a crash once it returns, so put/delete/transaction are durable
when they return. Every lmdb.Error is translated here; none leaves storage/.

Threads: reads run concurrently, each in its own read transaction; writes are serialised by
`_write_lock`. A full map (MDB_MAP_FULL) is grown by doubling up to max_map_size and the whole
write transaction retried. mdb_env_set_mapsize is allowed only while this process has no
transaction open, so every transaction holds `_gate` shared and the resize holds it exclusive
(as do close and a write abort, see _write); the directory flock means no other process has
the environment open, so "this process" is everyone.

After a fatal LMDB error (MDB_PANIC, MDB_CORRUPTED, a missing page) the backend refuses every
later call with StoragePanicError: the server stops rather than serve from a damaged store.
"""

from __future__ import annotations

import mmap
import os
import threading
from typing import Any, Callable, Sequence, TypeVar

import lmdb

from storage import lmdb_layout
from storage.backend import (
    Op,
    Put,
    StorageClosedError,
    StorageError,
    StorageFormatError,
    StorageFullError,
    StoragePanicError,
)
from storage.data_directory import DIRECTORY_MODE, DataDirectory
from storage.keys import check_ops, check_value, encode_key, encode_prefix
from storage.shared_lock import SharedExclusiveLock

FORMAT = b"strongroom-lmdb-1"
FORMAT_KEY = b"format"
META_DB = b"meta"
DATA_DB = b"data"
DEFAULT_MAP_SIZE = 64 * 1024 * 1024
DEFAULT_MAX_MAP_SIZE = 16 * 1024 * 1024 * 1024
DEFAULT_MAX_READERS = 126
# Room for LMDB's meta pages, the two sub-dbs and the format record, with a margin.
MIN_MAP_SIZE = 64 * 1024

# Errors after which LMDB's own state can no longer be trusted.
_FATAL = (lmdb.PanicError, lmdb.CorruptedError, lmdb.PageNotFoundError)
_T = TypeVar("_T")


class LMDBBackend:
    """Backend on an LMDB environment in the directory `path` (created 0700 if missing).

    map_size is the initial map, grown on demand up to max_map_size; both are rounded up to
    whole pages. Raises StorageInUseError if the directory is already open, StorageFormatError
    if it holds another format.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        map_size: int = DEFAULT_MAP_SIZE,
        max_map_size: int = DEFAULT_MAX_MAP_SIZE,
        max_readers: int = DEFAULT_MAX_READERS,
        directory_locked_by_parent: bool = False,
    ) -> None:
        self._map_size = _pages(map_size, "map_size")
        self._max_map_size = _pages(max_map_size, "max_map_size")
        if self._map_size < MIN_MAP_SIZE:
            raise ValueError(f"map_size must be at least {MIN_MAP_SIZE} bytes")
        if self._max_map_size < self._map_size:
            raise ValueError("max_map_size must be at least map_size")
        if not isinstance(max_readers, int) or isinstance(max_readers, bool) or max_readers < 1:
            raise ValueError("max_readers must be a positive int")
        self._directory = DataDirectory(os.fsdecode(path))
        self._write_lock = threading.Lock()
        self._gate = SharedExclusiveLock()
        self._closed = False
        self._panicked = False
        # A worker process shares the flock its parent took before forking: a flock of its
        # own on the same file would conflict with that one.
        self._directory.open(take_lock=not directory_locked_by_parent)
        try:
            self._env = self._open_env(max_readers)
        except BaseException:
            self._directory.release()
            raise
        try:
            self._data = self._check_format()
        except BaseException:
            self._env.close()
            self._directory.release()
            raise

    def __repr__(self) -> str:
        state = "panicked" if self._panicked else "closed" if self._closed else "open"
        return f"LMDBBackend({self._directory.path!r}, {state})"

    @property
    def map_size(self) -> int:
        """The current size of the map in bytes (grows as data is written)."""
        return self._run(lambda: self._env.info()["map_size"])

    def get(self, key: str) -> bytes | None:
        path = encode_key(key)
        gate = self._gate  # what _run does, inline: this is every read of every request
        gate.acquire_shared()
        try:
            self._check_usable()
            with self._env.begin(db=self._data) as txn:
                return lmdb_layout.read(txn, self._data, path)
        except lmdb.Error as exc:
            raise self._translate(exc) from exc
        finally:
            gate.release_shared()

    def put(self, key: str, value: bytes) -> None:
        self._write([(encode_key(key), check_value(value))])

    def delete(self, key: str) -> None:
        self._write([(encode_key(key), None)])

    def list(self, prefix: str) -> list[str]:
        raw_prefix = encode_prefix(prefix)

        def scan() -> set[bytes]:
            with self._env.begin(db=self._data) as txn:
                return lmdb_layout.children(txn, self._data, raw_prefix)

        names = self._run(scan)
        try:
            return sorted(name.decode("utf-8") for name in names)
        except UnicodeDecodeError:
            raise StorageError("a key in the data sub-db is not UTF-8") from None

    def transaction(self, ops: Sequence[Op]) -> None:
        writes = []
        for op in check_ops(ops):
            value = op.value if isinstance(op, Put) else None
            writes.append((op.key.encode("utf-8"), value))
        self._write(writes)

    def close(self) -> None:
        """Close the environment and release the directory; safe to call twice, and after a
        panic (later calls still raise StoragePanicError)."""
        with self._write_lock, self._gate.exclusive():
            if self._closed:
                return
            self._closed = True
            try:
                self._env.close()
            finally:
                self._directory.release()

    def _write(self, writes: list[tuple[bytes, bytes | None]]) -> None:
        """Apply writes (value None deletes) in one transaction, growing the map as needed."""
        with self._write_lock:
            while True:
                txn = None
                try:
                    with self._gate.shared():
                        self._check_usable()
                        txn = self._env.begin(db=self._data, write=True)
                        for path, value in writes:
                            if value is None:
                                lmdb_layout.remove(txn, self._data, path)
                            else:
                                lmdb_layout.write(txn, self._data, path, value)
                        txn.commit()
                        txn = None
                    return
                except lmdb.MapFullError:
                    pass  # aborted below; then grow and retry the whole transaction
                except lmdb.Error as exc:
                    raise self._translate(exc) from exc
                finally:
                    if txn is not None:
                        # py-lmdb's abort of a write transaction waits until no operation
                        # is in flight anywhere in the environment, which a steady stream
                        # of readers can postpone for minutes: hold them off meanwhile.
                        with self._gate.exclusive():
                            txn.abort()
                self._grow()

    def _grow(self) -> None:
        with self._gate.exclusive():
            self._check_usable()
            try:
                current = self._env.info()["map_size"]
                if current >= self._max_map_size:
                    raise StorageFullError(
                        f"storage is full: the map reached its ceiling of {self._max_map_size} "
                        "bytes (max_map_size); the write was not applied"
                    )
                self._env.set_mapsize(min(current * 2, self._max_map_size))
            except lmdb.Error as exc:
                raise self._translate(exc) from exc

    def _run(self, call: Callable[[], _T]) -> _T:
        """call() inside a transaction slot, with lmdb errors translated."""
        with self._gate.shared():
            self._check_usable()
            try:
                return call()
            except lmdb.Error as exc:
                raise self._translate(exc) from exc

    def _check_usable(self) -> None:
        if self._panicked:
            raise StoragePanicError("the LMDB store hit a fatal error earlier and is unusable")
        if self._closed:
            raise StorageClosedError("the LMDB backend is closed")

    def _translate(self, exc: lmdb.Error) -> StorageError:
        name = type(exc).__name__
        if isinstance(exc, _FATAL):
            self._panicked = True
            return StoragePanicError(f"LMDB reported a fatal error ({name}); stop serving")
        if isinstance(exc, lmdb.DiskError):
            return StorageFullError("the disk holding the data directory is full (ENOSPC)")
        # lmdb messages carry the C call and strerror, never keys or values.
        return StorageError(f"LMDB error {name}: {exc}")

    def _open_env(self, max_readers: int) -> Any:
        try:
            return lmdb.Environment(
                self._directory.path,
                map_size=self._map_size,
                subdir=True,
                readonly=False,
                create=False,
                mode=DIRECTORY_MODE,
                sync=True,
                metasync=True,
                writemap=False,
                map_async=False,
                lock=True,
                max_readers=max_readers,
                max_dbs=2,
            )
        except (lmdb.InvalidError, lmdb.VersionMismatchError) as exc:
            raise StorageFormatError(
                f"{self._directory.path!r} is not an LMDB environment strongroom can open "
                f"({type(exc).__name__}); expected format {FORMAT.decode()}"
            ) from exc
        except lmdb.Error as exc:
            raise StorageError(f"cannot open LMDB in {self._directory.path!r}: {exc}") from exc

    def _check_format(self) -> Any:
        """The data sub-db, after checking (or, in an empty environment, writing) the format."""
        if self._env.max_key_size() < lmdb_layout.LONG_KEY_BYTES:
            raise StorageFormatError(
                f"this LMDB build takes keys of at most {self._env.max_key_size()} bytes; "
                f"strongroom's layout needs {lmdb_layout.LONG_KEY_BYTES}"
            )
        try:
            with self._env.begin(write=True) as txn:
                names = [key for key, _ in txn.cursor()]
                if not names:
                    meta = self._env.open_db(META_DB, txn=txn)
                    txn.put(FORMAT_KEY, FORMAT, db=meta)
                    return self._env.open_db(DATA_DB, txn=txn)
                found = None
                if META_DB in names:
                    meta = self._env.open_db(META_DB, txn=txn, create=False)
                    found = txn.get(FORMAT_KEY, db=meta)
                if found != FORMAT:
                    raise StorageFormatError(self._format_message(found))
                return self._env.open_db(DATA_DB, txn=txn)
        except lmdb.IncompatibleError as exc:
            raise StorageFormatError(self._format_message(None)) from exc
        except _FATAL as exc:
            raise StoragePanicError(f"LMDB reported a fatal error ({type(exc).__name__})") from exc
        except lmdb.Error as exc:
            raise StorageError(f"cannot read the format of {self._directory.path!r}: {exc}") from exc

    def _format_message(self, found: bytes | None) -> str:
        shown = "no format record" if found is None else f"format {found[:64]!r}"
        return (
            f"the data directory {self._directory.path!r} holds {shown}; "
            f"this strongroom reads format {FORMAT.decode()!r}"
        )


def _pages(size: int, name: str) -> int:
    if not isinstance(size, int) or isinstance(size, bool) or size < 1:
        raise ValueError(f"{name} must be a positive int (bytes)")
    return -(-size // mmap.PAGESIZE) * mmap.PAGESIZE
