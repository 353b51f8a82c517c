"""Failed logins on one auth mount: counted, logged, and slowed per client address.

After THRESHOLD failures from one address within WINDOW seconds, every further login from
that address waits BASE * 2**(n - THRESHOLD) seconds (at most CAP) before it is looked at,
and such attempts run one at a time. The wait comes before the credentials are checked,
not before the answer to a failure: otherwise a client could abandon each guess after a few
milliseconds and read "no quick success" as "wrong". The wait is an await, so the event loop
serves every other client meanwhile. Successes do not reset the count (a caller holding one
valid credential must not be able to wipe its record between guesses); failures age out.

The count is in memory, per mount, and lost on seal: it throttles guessing, the audit log
is the durable record. Each failure is logged with the mount and the client address, never
with the credentials.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict, deque
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import AsyncIterator, Awaitable, Callable

log = logging.getLogger("strongroom.auth")

THRESHOLD = 5
WINDOW = 60.0
BASE = 0.1
CAP = 5.0
MAX_TRACKED = 10_000  # addresses remembered; the stalest is forgotten first


@dataclass
class _Queue:
    """The attempts of one backing-off address, let through one at a time."""

    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    users: int = 0


class LoginGuard:
    """Per-address backoff and the failure counter of one auth mount."""

    def __init__(self, mount_label: str, *, threshold: int = THRESHOLD, window: float = WINDOW, base: float = BASE,
                 cap: float = CAP, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep, max_tracked: int = MAX_TRACKED) -> None:
        self.mount_label = mount_label
        self.threshold = threshold
        self.window = window
        self.base = base
        self.cap = cap
        self.failed_logins = 0  # every failure on this mount since it was opened
        self._clock = clock
        self._sleep = sleep
        self._max_tracked = max_tracked
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._queues: dict[str, _Queue] = {}

    def recent_failures(self, address: str) -> int:
        """Failures from address within the window."""
        times = self._failures.get(address)
        if times is None:
            return 0
        horizon = self._clock() - self.window
        while times and times[0] <= horizon:
            times.popleft()
        if not times:
            del self._failures[address]
            return 0
        return len(times)

    def delay_for(self, address: str) -> float:
        """How long the next login from address waits before it is looked at."""
        n = self.recent_failures(address)
        if n < self.threshold:
            return 0.0
        return min(self.base * 2 ** (n - self.threshold), self.cap)

    @asynccontextmanager
    async def attempt(self, address: str) -> AsyncIterator[None]:
        """Wrap the credential check of one login: waits first if address is backing off."""
        if self.delay_for(address) <= 0:
            yield
            return
        queue = self._queues.get(address)
        if queue is None:
            queue = self._queues[address] = _Queue()
        queue.users += 1
        try:
            async with queue.lock:
                delay = self.delay_for(address)  # again: failures may have landed while queued
                if delay > 0:
                    await self._sleep(delay)
                yield
        finally:
            queue.users -= 1
            if queue.users == 0 and self._queues.get(address) is queue:
                del self._queues[address]

    def record_failure(self, address: str) -> int:
        """Count a refused login from address; returns its failures within the window."""
        self.failed_logins += 1
        times = self._failures.pop(address, None) or deque()
        times.append(self._clock())
        self._failures[address] = times  # re-inserted last: the most recently active
        while len(self._failures) > self._max_tracked:
            self._failures.popitem(last=False)
        recent = self.recent_failures(address)
        log.warning("login failed on %s from %s (%d from this address in the last %ds, %d on this mount)",
                    self.mount_label, address or "unknown address", recent, int(self.window), self.failed_logins)
        return recent

    def prune(self) -> None:
        """Forget addresses whose failures have all aged out (called from the engine's tick)."""
        for address in list(self._failures):
            self.recent_failures(address)

    def clear(self) -> None:
        self._failures.clear()
        self._queues.clear()
