"""Locked memory for key bytes, and the process settings that keep keys out of core dumps.

Key bytes live in anonymous private mmap regions that are mlock'd (never swapped) and marked
MADV_DONTDUMP. A key is small and mlock works in whole pages, so buffers are carved from a
shared arena: chunks of a few pages, locked once, split into slots of one size class. A
freed slot is zeroed at once and reused; a chunk with no live slot is zeroed, unlocked and
unmapped. Thousands of keys then fit in a few hundred KiB of RLIMIT_MEMLOCK.

Only these regions are locked, never the whole process: LMDB maps the database into
memory, and mlockall would pin all of it (why OpenBao dropped mlock).

What Python cannot promise: bytes() copies, ints and library contexts made from a key live
in ordinary memory and are not wiped. This module keeps the long-lived copy safe; callers
keep short-lived copies in bytearrays and zero them (zero_bytearray).

Linux first; on other POSIX systems locking works where libc has mlock, and the Linux-only
prctl step of disable_core_dumps is skipped.
"""

from __future__ import annotations

import ctypes
import errno
import mmap
import os
import resource
import sys
import threading

from seal.errors import BufferClosedError, CoreDumpError, MemoryLockError

PAGE_SIZE = mmap.PAGESIZE
_SLOT_SIZES = (32, 64, 128, 256, 512, 1024, 2048, 4096)  # larger buffers get their own pages
_CHUNK_BYTES = max(4 * 4096, PAGE_SIZE)
_PR_SET_DUMPABLE = 4  # <linux/prctl.h>

_libc = ctypes.CDLL(None, use_errno=True)
for _name in ("mlock", "munlock"):
    if hasattr(_libc, _name):
        getattr(_libc, _name).argtypes = (ctypes.c_void_p, ctypes.c_size_t)
        getattr(_libc, _name).restype = ctypes.c_int


def _address(writable) -> int:
    """The address of a writable buffer; the ctypes export is dropped at once so the
    buffer can still be closed or resized later."""
    anchor = ctypes.c_char.from_buffer(writable)
    try:
        return ctypes.addressof(anchor)
    finally:
        del anchor


def _memlock_limit_text() -> str:
    soft, hard = resource.getrlimit(resource.RLIMIT_MEMLOCK)

    def show(value: int) -> str:
        return "unlimited" if value == resource.RLIM_INFINITY else f"{value} bytes"

    return f"RLIMIT_MEMLOCK is {show(soft)} (hard limit {show(hard)})"


class _Chunk:
    """One mapped region cut into equal slots; locked as a whole or not at all."""

    def __init__(self, nbytes: int, slot_size: int, lock: bool) -> None:
        # MAP_PRIVATE: a forked child gets copy-on-write pages, never a shared view of keys
        self.region = mmap.mmap(-1, nbytes, flags=mmap.MAP_PRIVATE)
        self.address = _address(self.region)
        self.nbytes, self.slot_size, self.locked = nbytes, slot_size, lock
        if hasattr(mmap, "MADV_DONTDUMP"):
            try:
                self.region.madvise(mmap.MADV_DONTDUMP)
            except OSError as exc:
                if exc.errno != errno.EINVAL:  # EINVAL: the kernel predates MADV_DONTDUMP
                    raise
        if lock:
            self._lock()
        self.free = list(range(nbytes - slot_size, -1, -slot_size))  # pop() hands out offset 0 first
        self.live = 0

    def _lock(self) -> None:
        if not hasattr(_libc, "mlock") or _libc.mlock(self.address, self.nbytes) != 0:
            code = ctypes.get_errno() if hasattr(_libc, "mlock") else errno.ENOSYS
            self.region.close()
            raise MemoryLockError(
                f"could not lock {self.nbytes} bytes of key memory (mlock: {os.strerror(code)}); "
                f"{_memlock_limit_text()}. Raise the limit (ulimit -l, or LimitMEMLOCK= under "
                "systemd) or set disable_mlock = true in the configuration to run unlocked"
            )

    def wipe(self, offset: int, length: int) -> None:
        ctypes.memset(self.address + offset, 0, length)

    def release(self) -> None:
        self.wipe(0, self.nbytes)
        if self.locked:
            _libc.munlock(self.address, self.nbytes)
        try:
            self.region.close()
        except BufferError:
            # a caller still holds a slice of a view; the zeroed pages are unmapped when it goes
            pass


class _Arena:
    """Chunks per (slot size, locked) pool; slots handed out and taken back under a lock."""

    def __init__(self) -> None:
        self._pools: dict[tuple[int, bool], list[_Chunk]] = {}
        self._mutex = threading.RLock()  # re-entrant: __del__ may free during an allocation

    def allocate(self, size: int, lock: bool) -> tuple[_Chunk, int]:
        slot_size = next((s for s in _SLOT_SIZES if s >= size), None)
        if slot_size is None:
            nbytes = -(-size // PAGE_SIZE) * PAGE_SIZE
            chunk = _Chunk(nbytes, nbytes, lock)
            chunk.free.clear()
            chunk.live = 1
            return chunk, 0
        with self._mutex:
            pool = self._pools.setdefault((slot_size, lock), [])
            chunk = next((c for c in pool if c.free), None)
            if chunk is None:
                chunk = _Chunk(_CHUNK_BYTES, slot_size, lock)
                pool.append(chunk)
            chunk.live += 1
            return chunk, chunk.free.pop()

    def free(self, chunk: _Chunk, offset: int) -> None:
        with self._mutex:
            chunk.wipe(offset, chunk.slot_size)
            chunk.live -= 1
            if chunk.live:
                chunk.free.append(offset)
                return
            pool = self._pools.get((chunk.slot_size, chunk.locked), [])
            if chunk in pool:
                pool.remove(chunk)
            chunk.release()


_ARENA = _Arena()


class LockedBuffer:
    """`size` bytes of key material in locked memory, zeroed on close.

    No __bytes__, and str/repr show only the size and state. Pickling and copying are
    refused. The memoryview from view() is released by close(); slices made from it must
    not outlive the buffer, because a freed slot is reused for another key.
    """

    __slots__ = ("_chunk", "_offset", "_size", "_locked", "_view")

    def __init__(self, size: int, lock: bool = True) -> None:
        self._chunk: _Chunk | None = None
        if not isinstance(size, int) or isinstance(size, bool):
            raise TypeError("size must be an int")
        if size <= 0:
            raise ValueError("a locked buffer holds at least one byte")
        self._size, self._locked, self._view = size, bool(lock), None
        self._chunk, self._offset = _ARENA.allocate(size, self._locked)

    @classmethod
    def from_bytes(cls, data: bytes | bytearray | memoryview, lock: bool = True) -> LockedBuffer:
        """A buffer holding a copy of data. The caller still zeroes its own bytearray."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError("data must be bytes, bytearray or memoryview")
        source = memoryview(data).cast("B")
        buffer = cls(source.nbytes, lock=lock)
        buffer.view()[:] = source
        return buffer

    def _open_chunk(self) -> _Chunk:
        if self._chunk is None:
            raise BufferClosedError("the locked buffer is closed and its bytes are zeroed")
        return self._chunk

    def view(self) -> memoryview:
        """A writable memoryview of exactly the buffer's bytes (no copy)."""
        chunk = self._open_chunk()
        if self._view is not None:
            try:
                self._view.nbytes  # raises once a caller has released the view
                return self._view
            except ValueError:
                pass
        self._view = memoryview(chunk.region)[self._offset : self._offset + self._size]
        return self._view

    def bytes(self) -> bytes:
        """An immutable copy for APIs that demand bytes. That copy lives in ordinary
        memory and can never be wiped: prefer view() wherever the API takes a buffer."""
        return bytes(self.view())

    def zero(self) -> None:
        """Overwrite the key bytes with zeros; the buffer stays open."""
        self._open_chunk().wipe(self._offset, self._size)

    def close(self) -> None:
        """Zero the bytes and give the memory back (unlocked and unmapped once unused).
        Safe to call more than once."""
        chunk, self._chunk = getattr(self, "_chunk", None), None
        if chunk is None:
            return
        view, self._view = self._view, None
        if view is not None:
            try:
                view.release()
            except BufferError:
                pass  # something still exports it; the slot is zeroed below all the same
        _ARENA.free(chunk, self._offset)

    @property
    def closed(self) -> bool:
        return self._chunk is None

    @property
    def locked(self) -> bool:
        """Whether the memory is mlock'd (False under disable_mlock)."""
        return self._locked

    def __len__(self) -> int:
        return self._size

    def __enter__(self) -> LockedBuffer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __del__(self) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._chunk is None else ("locked" if self._locked else "unlocked")
        return f"LockedBuffer({self._size} bytes, {state})"

    __str__ = __repr__

    def __reduce_ex__(self, protocol: object) -> object:
        raise TypeError("a LockedBuffer holds key material and cannot be pickled or copied")

    def __reduce__(self) -> object:
        raise TypeError("a LockedBuffer holds key material and cannot be pickled or copied")

    def __copy__(self) -> LockedBuffer:
        raise TypeError("a LockedBuffer holds key material and cannot be copied")

    def __deepcopy__(self, memo: object) -> LockedBuffer:
        raise TypeError("a LockedBuffer holds key material and cannot be copied")


def zero_bytearray(b: bytearray) -> None:
    """Overwrite a bytearray with zeros in place (its length is kept)."""
    if not isinstance(b, bytearray):
        raise TypeError("zero_bytearray takes a bytearray")
    if b:
        ctypes.memset(_address(b), 0, len(b))


def disable_core_dumps() -> None:
    """Keep key memory out of core dumps for the rest of the process's life.

    Sets RLIMIT_CORE to (0, 0) and, on Linux, PR_SET_DUMPABLE to 0 (which also stops
    other non-root processes from ptrace-attaching). CoreDumpError if either fails.
    """
    try:
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    except (OSError, ValueError) as exc:
        raise CoreDumpError(f"could not set RLIMIT_CORE to 0: {exc}") from exc
    if not sys.platform.startswith("linux"):
        return
    if _libc.prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
        code = ctypes.get_errno()
        raise CoreDumpError(f"prctl(PR_SET_DUMPABLE, 0) failed: {os.strerror(code)}")
