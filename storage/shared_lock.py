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

    @contextmanager
    def shared(self) -> Iterator[None]:
        with self._condition:
            while self._exclusive or self._exclusive_waiting:
                self._condition.wait()
            self._shared += 1
        try:
            yield
        finally:
            with self._condition:
                self._shared -= 1
                if not self._shared:
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
