"""The LMDB data directory on disk: its permissions and the lock that gives one owner at a time.

Vault CVE-2021-38553: storage files were created world-readable. Here the directory is 0700
and every file in it 0600 whatever the process umask, looser modes left by an earlier run are
tightened on open, and the files are made before LMDB opens them so it never creates them.

LMDB's own lock.mdb coordinates readers and writers; it does not keep a second process from
opening the same environment. A flock(2) on LOCK_FILE does: flock locks belong to the open
file description, so a second open from this same process is refused as well.
"""

from __future__ import annotations

import fcntl
import os
import stat

from storage.backend import StorageError, StorageInUseError

DIRECTORY_MODE = 0o700
FILE_MODE = 0o600
LOCK_FILE = "strongroom.lock"
# The two files LMDB opens in a subdir environment (mdb_env_open, MDB_NOSUBDIR unset).
LMDB_FILES = ("data.mdb", "lock.mdb")


class DataDirectory:
    """An owned data directory: locked and with tight modes from open() until release()."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._lock_fd: int | None = None

    def __repr__(self) -> str:
        state = "owned" if self._lock_fd is not None else "released"
        return f"DataDirectory({self.path!r}, {state})"

    def open(self, take_lock: bool = True) -> None:
        """Create the directory if needed, take its lock, and set every file's mode."""
        try:
            os.makedirs(self.path, mode=DIRECTORY_MODE, exist_ok=True)
            if stat.S_IMODE(os.stat(self.path).st_mode) != DIRECTORY_MODE:
                os.chmod(self.path, DIRECTORY_MODE)
        except FileExistsError:
            raise StorageError(f"the data path {self.path!r} is not a directory") from None
        except OSError as exc:
            raise StorageError(f"cannot prepare data directory {self.path!r}: {exc.strerror}") from exc
        if take_lock:
            self._lock_fd = self._take_lock()
        try:
            for name in LMDB_FILES:
                self._make_private(name)
        except BaseException:
            self.release()
            raise

    def release(self) -> None:
        """Drop the lock (closing its descriptor releases the flock); safe to call twice."""
        fd, self._lock_fd = self._lock_fd, None
        if fd is not None:
            os.close(fd)

    def _take_lock(self) -> int:
        fd = self._open_private(LOCK_FILE)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise StorageInUseError(
                f"the data directory {self.path!r} is already open (by this or another process)"
            ) from None
        except OSError as exc:
            os.close(fd)
            raise StorageError(f"cannot lock data directory {self.path!r}: {exc.strerror}") from exc
        return fd

    def _make_private(self, name: str) -> None:
        os.close(self._open_private(name))

    def _open_private(self, name: str) -> int:
        file_path = os.path.join(self.path, name)
        # O_NOFOLLOW: a planted symlink must not redirect the store or have its target chmod-ed.
        flags = os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW
        try:
            fd = os.open(file_path, flags, FILE_MODE)
        except OSError as exc:
            raise StorageError(f"cannot open {file_path!r}: {exc.strerror}") from exc
        try:
            # The umask may have narrowed the creation mode, and an old file may be looser.
            os.fchmod(fd, FILE_MODE)
        except OSError as exc:
            os.close(fd)
            raise StorageError(f"cannot set mode of {file_path!r}: {exc.strerror}") from exc
        return fd
