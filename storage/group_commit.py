"""Group commit: many callers' writes made durable by one transaction and one fsync.

An LMDB commit with sync on waits for the disk (milliseconds). Done on the server's event
loop, every request would queue behind every write. This wrapper applies writes at once to an
in-memory overlay, which reads consult first, and a committer thread writes everything pending
in one transaction. Each write gets a sequence number; `notify_when_durable(seq, callback)`
says when it (and all before it) reached disk. The server acknowledges a request only then, so
nothing acknowledged can be lost, and nothing acknowledged was built on a write that failed.

If a commit fails, every pending write is dropped from the overlay and every waiter is told:
later writes may have been computed from the failed ones, so none of them may survive.
"""

from __future__ import annotations

import logging
import threading
from typing import Callable, Sequence

from storage.backend import Backend, Delete, Op, Put, StorageClosedError, StorageError
from storage.keys import SEPARATOR, check_ops, encode_key, encode_prefix

log = logging.getLogger("strongroom.storage")
Callback = Callable[[BaseException | None], None]
_TOMBSTONE = None
_ABSENT = object()


class GroupCommitBackend:
    """A Backend whose writes return at once and become durable in batches."""

    def __init__(self, inner: Backend, max_batch: int = 4096,
                 on_commit: Callable[[list[str]], None] | None = None) -> None:
        self._inner = inner
        # Told the keys of each commit, on the committer thread, before any waiter hears it
        # is durable: worker processes drop what they cached of those keys first.
        self.on_commit = on_commit
        self._max_batch = max_batch
        self._overlay: dict[str, bytes | None] = {}
        self._pending: list[tuple[int, list[Op]]] = []
        self._sequence = 0
        self._durable = 0
        self._failure: tuple[int, BaseException, int] | None = None  # (last seq, error, generation)
        self._generation = 0  # how many commits have failed so far
        self._waiters: list[tuple[int, Callback]] = []
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._closed = False
        self._thread = threading.Thread(target=self._commit_loop, name="storage-commit", daemon=True)
        self._thread.start()

    def __repr__(self) -> str:
        return f"GroupCommitBackend({self._inner!r})"

    # -- reads -------------------------------------------------------------------------

    def get(self, key: str) -> bytes | None:
        self._check_open()
        # One dict lookup needs no lock: the committer drops an entry only once it is in the
        # inner store, and a failed commit's entries are meant to vanish. The inner get checks
        # the key.
        value = self._overlay.get(key, _ABSENT)
        if value is not _ABSENT:
            return value
        return self._inner.get(key)

    def list(self, prefix: str) -> list[str]:
        encode_prefix(prefix)
        with self._lock:
            self._check_open()
            overlay = {k: v for k, v in self._overlay.items() if k.startswith(prefix)}
        names = set(self._inner.list(prefix)) if not overlay else self._merged(prefix, overlay)
        return sorted(names)

    def _merged(self, prefix: str, overlay: dict[str, bytes | None]) -> set[str]:
        names = set(self._inner.list(prefix))
        for key, value in overlay.items():
            rest = key[len(prefix):]
            slash = rest.find(SEPARATOR)
            name = rest if slash == -1 else rest[: slash + 1]
            if value is not _TOMBSTONE:
                names.add(name)
            elif slash == -1:
                names.discard(name)
        # A folder whose every stored entry is pending deletion has gone.
        for name in [n for n in names if n.endswith(SEPARATOR)]:
            if not self._folder_alive(prefix + name, overlay):
                names.discard(name)
        return names

    def _folder_alive(self, folder: str, overlay: dict[str, bytes | None]) -> bool:
        if any(k.startswith(folder) and v is not _TOMBSTONE for k, v in overlay.items()):
            return True
        for child in self._inner.list(folder):
            if child.endswith(SEPARATOR):
                if self._folder_alive(folder + child, overlay):
                    return True
            elif overlay.get(folder + child, b"") is not _TOMBSTONE:
                return True
        return False

    # -- writes ------------------------------------------------------------------------

    def put(self, key: str, value: bytes) -> None:
        self.transaction([Put(key, value)])

    def delete(self, key: str) -> None:
        self.transaction([Delete(key)])

    def transaction(self, ops: Sequence[Op]) -> None:
        """Apply ops to the overlay now (all or none) and queue them for the next commit."""
        checked = check_ops(ops)
        with self._lock:
            self._check_open()
            self._sequence += 1
            for op in checked:
                self._overlay[op.key] = op.value if isinstance(op, Put) else _TOMBSTONE
            self._pending.append((self._sequence, checked))
            self._wake.notify()

    @property
    def sequence(self) -> int:
        """The number of the latest write accepted."""
        return self._sequence

    @property
    def generation(self) -> int:
        """How many commits have failed: a caller notes it before it starts reading."""
        return self._generation

    def settled(self, since_generation: int) -> bool:
        """True when nothing is pending and no commit has failed since since_generation: a
        caller that only read has nothing to wait for (the common case, answered without a
        callback)."""
        return self._durable == self._sequence and self._generation == since_generation

    def notify_when_durable(self, seq: int, callback: Callback, since_generation: int = -1) -> None:
        """callback(None) once write seq is on disk, or callback(error) if it never will be.

        A failure from before since_generation is not reported: the failed writes had left
        the overlay before the caller began, so it cannot have seen them. Runs at once when the
        answer is known; otherwise on the committer thread.
        """
        with self._lock:
            failure = self._failure
            if failure is not None and seq <= failure[0] and failure[2] > since_generation:
                error: BaseException | None = failure[1]
            elif seq <= self._durable or (failure is not None and seq <= failure[0]):
                error = None
            else:
                self._waiters.append((seq, callback))
                return
        callback(error)

    def flush(self, timeout: float | None = None) -> None:
        """Block until everything accepted so far is durable (or raise why not)."""
        done = threading.Event()
        outcome: list[BaseException | None] = []

        def record(error: BaseException | None) -> None:
            outcome.append(error)
            done.set()

        self.notify_when_durable(self.sequence, record)
        if not done.wait(timeout):
            raise StorageError("timed out waiting for storage to commit")
        if outcome[0] is not None:
            raise outcome[0]

    def close(self) -> None:
        """Commit what is pending, stop the committer, close the inner backend."""
        with self._lock:
            if self._closed:
                return
        try:
            self.flush(timeout=60)
        except StorageError:
            pass
        with self._lock:
            self._closed = True
            self._wake.notify()
        self._thread.join(60)
        self._inner.close()

    # -- committer ---------------------------------------------------------------------

    def _commit_loop(self) -> None:
        while True:
            with self._lock:
                while not self._pending and not self._closed:
                    self._wake.wait()
                if not self._pending and self._closed:
                    return
                batch = self._pending[: self._max_batch]
                del self._pending[: len(batch)]
            ops = [op for _, group in batch for op in group]
            last = batch[-1][0]
            try:
                self._inner.transaction(ops)
            except BaseException as exc:  # noqa: BLE001 - every waiter must hear of it
                self._fail(last, exc)
                continue
            if self.on_commit is not None:
                try:
                    self.on_commit([op.key for op in ops])
                except Exception:  # noqa: BLE001 - the writes are durable all the same
                    log.exception("the commit hook failed")
            self._succeed(last, ops)

    def _succeed(self, last: int, ops: list[Op]) -> None:
        with self._lock:
            self._durable = last
            pending_keys = {op.key for _, group in self._pending for op in group}
            for op in ops:
                if op.key not in pending_keys:
                    self._overlay.pop(op.key, None)
            ready = [(s, cb) for s, cb in self._waiters if s <= last]
            self._waiters = [(s, cb) for s, cb in self._waiters if s > last]
        for _, callback in ready:
            callback(None)

    def _fail(self, last: int, exc: BaseException) -> None:
        with self._lock:
            # Everything still pending may build on what failed: drop it all.
            if self._pending:
                last = self._pending[-1][0]
            self._pending.clear()
            self._overlay.clear()
            self._generation += 1
            self._failure = (last, exc, self._generation)
            ready = [(s, cb) for s, cb in self._waiters if s <= last]
            self._waiters = [(s, cb) for s, cb in self._waiters if s > last]
        for _, callback in ready:
            callback(exc)

    def _check_open(self) -> None:
        if self._closed:
            raise StorageClosedError("the storage backend is closed")
