"""What must hold before strongroom serves a request: process hardening and self-tests.

Each check raises StartupError with a message for the operator; the CLI prints it and
exits non-zero rather than run in a state the design says is unsafe.
"""

from __future__ import annotations

import sys

from config.settings import Settings, StorageSettings
from seal.errors import AeadSelfTestError, CoreDumpError, MemoryLockError
from seal.lockedmem import LockedBuffer, disable_core_dumps
from seal.selftest import check_aead_copies_key
from storage import Backend, GroupCommitBackend, LMDBBackend, MemoryBackend, StorageError


class StartupError(Exception):
    """The server must not start; the message says why and what setting to look at."""


def harden_process(settings: Settings) -> None:
    """Core dumps off, key memory lockable (unless disable_mlock), AEAD copies its key."""
    try:
        if sys.platform.startswith("linux"):
            disable_core_dumps()
        check_aead_copies_key()
        if not settings.disable_mlock:
            LockedBuffer(32, lock=True).close()
    except (CoreDumpError, AeadSelfTestError, MemoryLockError) as exc:
        raise StartupError(str(exc)) from exc


def open_backend(storage: StorageSettings) -> Backend:
    if storage.backend == "inmem":
        return MemoryBackend()
    try:
        lmdb_backend = LMDBBackend(storage.path, map_size=storage.map_size, max_map_size=storage.max_map_size)
    except StorageError as exc:
        raise StartupError(f"cannot open storage at {storage.path}: {exc}") from exc
    # Requests are acknowledged once their writes are durable (server/pipeline.py), so
    # one fsync can serve every request that wrote meanwhile.
    return GroupCommitBackend(lmdb_backend)
