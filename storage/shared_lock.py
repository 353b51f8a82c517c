"""A shared/exclusive lock for threads: many holders share it, one holder excludes all.

The LMDB backend holds it shared around every transaction and exclusively to resize the map or
close the environment, which LMDB allows only while this process has no transaction open.
A waiting exclusive holder stops new shared holders, so a stream of readers cannot starve it.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Iterator


class SharedExclusiveLock:
    def __init__(self) -> None:
        self._condition = threading.Condition(threading.Lock())
        self._shared = 0
        self._exclusive = False
        self._exclusive_waiting = 0
        self._hold = _SharedHold(self)

    def shared(self) -> "_SharedHold":
        """A context manager holding the lock shared. Every LMDB read passes here, so it is
        a plain object rather than a generator (a few microseconds less a read)."""
        return self._hold

    def acquire_shared(self) -> None:
        with self._condition:
            while self._exclusive or self._exclusive_waiting:
                self._condition.wait()
            self._shared += 1

    def release_shared(self) -> None:
        with self._condition:
            self._shared -= 1
            if not self._shared and self._exclusive_waiting:
                self._condition.notify_all()

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        with self._condition:
            self._exclusive_waiting += 1
            try:
                while self._exclusive or self._shared:
                    self._condition.wait()
            finally:
                self._exclusive_waiting -= 1
            self._exclusive = True
        try:
            yield
        finally:
            with self._condition:
                self._exclusive = False
                self._condition.notify_all()


class _SharedHold:
    __slots__ = ("_lock",)

    def __init__(self, lock: SharedExclusiveLock) -> None:
        self._lock = lock

    def __enter__(self) -> None:
        self._lock.acquire_shared()

    def __exit__(self, *exc_info: object) -> None:
        self._lock.release_shared()
