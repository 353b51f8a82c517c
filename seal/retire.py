"""Retiring a keyring term: re-encrypt every entry still under it, then destroy its key.

Vault never re-encrypts barrier entries, so an old term's key lives as long as the oldest
entry written under it (hashicorp/vault#5545). Here a retirement walks the raw backend in
key order, a bounded batch per tick, and moves each entry still under the term to the
active term (Barrier.reseal: same path as associated data, plaintext carried byte for
byte). A batch reads every raw value and writes its re-encrypted entries and the progress
(the last path done) in one transaction, all while holding the barrier's write lock: a
concurrent write waits, so it is never overwritten with stale data, and a restart resumes
where the last stored batch stopped. Only a complete pass that meets no readable entry
under the term destroys its key, so the pass after the one that re-encrypted everything
checks that nothing was lost (say, a group commit that failed and took a batch with it).

The module also keeps a census of entries per term for sys/keyring: taken from the job's
passes, or by a scan on demand bounded per call and continued by later ticks.

Boundary: seal-level. Storage only through the Backend interface, keys only through the
Barrier; nothing here knows of HTTP. Logs carry counts, never paths.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Callable, Iterator

from seal.barrier import RESERVED_PATHS, Barrier
from seal.entry import entry_term
from seal.errors import IntegrityError, SealedError, SealError
from seal.keyring import Retirement
from storage import Backend, Put

log = logging.getLogger("strongroom.seal.retire")

FOLDER = "/"
CENSUS_TTL = 60.0  # seconds a complete census is shown before a read recounts
CENSUS_SCAN_LIMIT = 5000  # keys a read may count before it answers with a partial census


class RetirementIncompleteError(SealError):
    """run() gave up: a retirement was still pending after the ticks it was allowed."""


@dataclass(frozen=True)
class RetireLimits:
    """What one tick may do: the request path shares the event loop with it."""

    max_entries: int = 500  # entries re-encrypted
    max_visits: int = 5000  # keys examined (a header read each)
    budget: float = 0.020  # seconds

    def __post_init__(self) -> None:
        if self.max_entries < 1 or self.max_visits < 1 or self.budget <= 0:
            raise ValueError("retirement limits must be positive")


@dataclass(frozen=True)
class BatchReport:
    """What one tick of a retirement did (counts only, no paths)."""

    term: int
    visited: int
    reencrypted: int
    unreadable: int
    pass_finished: bool
    destroyed: bool


@dataclass(frozen=True)
class Census:
    """Stored entries per keyring term, as of a scan.

    complete is False while the scan is under way: counts are then a lower bound.
    """

    counts: dict[int, int]
    complete: bool
    finished: float | None

    def entries(self, term: int) -> int:
        return self.counts.get(term, 0)


def walk_keys(backend: Backend, after: str | None = None, prefix: str = "") -> Iterator[str]:
    """Every key under prefix in code point order, starting after `after`.

    backend.list is one level deep, so each folder is listed when the walk reaches it (the
    sorted children, folders ending in '/', give the keys in order), and a folder whose
    keys all sort at or before `after` is never listed.
    """
    for name in backend.list(prefix):
        path = prefix + name
        if not name.endswith(FOLDER):
            if name and (after is None or path > after):
                yield path
        elif after is not None and after.startswith(path):
            yield from walk_keys(backend, after, path)
        elif after is None or path > after:
            yield from walk_keys(backend, None, path)


@dataclass
class _Walk:
    """The job's place in storage, valid while it matches the stored progress."""

    term: int
    passes: int
    position: str | None
    keys: Iterator[str]
    whole: bool  # began at the start of the pass, so counts cover every key walked
    counts: Counter = field(default_factory=Counter)


@dataclass
class _CensusScan:
    counts: Counter
    cursor: str | None
    keys: Iterator[str] | None
    finished: float | None = None


class TermRetirement:
    """Drives retirements, one batch per tick(), and answers the census."""

    def __init__(
        self,
        barrier: Barrier,
        *,
        limits: RetireLimits = RetireLimits(),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._barrier = barrier
        self._limits = limits
        self._clock = clock
        self._lock = threading.Lock()
        self._epoch = -1
        self._walk: _Walk | None = None
        self._census: _CensusScan | None = None

    def __repr__(self) -> str:
        return f"TermRetirement(walking={self._walk is not None})"

    @property
    def _backend(self) -> Backend:
        return self._barrier.backend

    # -- the job ---------------------------------------------------------------------

    def tick(self, now: float | None = None) -> BatchReport | None:
        """One bounded batch of the first retirement asked for; or, with none pending, a
        bounded step of an unfinished census. None when there was nothing to do."""
        now = time.time() if now is None else now
        with self._lock:
            if not self._current():
                return None
            try:
                with self._barrier.exclusive():
                    pending = self._barrier.retirements()
                    if pending:
                        return self._batch(pending[0], now)
            except SealedError:
                self._forget()
                return None
            except BaseException:
                # The walk may be past keys whose batch was not stored: the next tick
                # starts again from the stored cursor.
                self._walk = None
                raise
            if self._census is not None and self._census.finished is None:
                self._advance_census(self._census, self._limits.max_visits, self._clock() + self._limits.budget, now)
            return None

    def run(self, max_ticks: int = 1_000_000) -> int:
        """Tick until no retirement is pending (tests, tools); returns the ticks taken."""
        for ticks in range(1, max_ticks + 1):
            self.tick()
            if not self._barrier.retirements():
                return ticks
        raise RetirementIncompleteError(f"a retirement is still pending after {max_ticks} ticks")

    def _batch(self, retirement: Retirement, now: float) -> BatchReport:
        walk = self._walk_for(retirement)
        limits = self._limits
        deadline = self._clock() + limits.budget
        writes: list[Put] = []
        visited = found = unreadable = 0
        moved: list[tuple[str, int]] = []
        cursor, exhausted = retirement.cursor, False
        while visited < limits.max_visits and len(writes) < limits.max_entries:
            if visited and self._clock() >= deadline:
                break
            path = next(walk.keys, None)
            if path is None:
                exhausted = True
                break
            visited += 1
            cursor = path
            # The seal's own records are term 0 and sealed under the root or unseal key.
            if path in RESERVED_PATHS:
                continue
            # Read right before the rewrite, under the write lock: this is the value the
            # rewrite replaces, and no write can slip in between.
            blob = self._backend.get(path)
            if blob is None:
                continue
            try:
                number = entry_term(blob)
            except IntegrityError:
                continue  # not a barrier entry; never under any term
            if number != retirement.term:
                walk.counts[number] += 1
                continue
            try:
                fresh = self._barrier.reseal(path, blob)
            except IntegrityError:
                unreadable += 1  # already unreadable: the key cannot make it readable
                walk.counts[number] += 1
                continue
            found += 1
            new_term = entry_term(fresh)
            walk.counts[new_term] += 1
            moved.append((path, new_term))
            writes.append(Put(path, fresh))

        progress = replace(
            retirement,
            started=retirement.started if retirement.started is not None else now,
            cursor=cursor,
            found=retirement.found + found,
            unreadable=retirement.unreadable + unreadable,
            reencrypted=retirement.reencrypted + found,
        )
        destroyed = exhausted and progress.found == 0
        if destroyed:
            # A whole pass met no readable entry under the term: nothing needs its key.
            self._barrier.destroy_term(retirement.term, now)
        elif exhausted:
            self._barrier.commit_retirement(
                writes, replace(progress, cursor=None, passes=progress.passes + 1, found=0, unreadable=0)
            )
        else:
            self._barrier.commit_retirement(writes, progress)
        walk.position = cursor
        self._after_batch(walk, retirement.term, moved, exhausted, now)

        report = BatchReport(retirement.term, visited, found, unreadable, exhausted, destroyed)
        log.info(
            "keyring term %d retirement: pass %d, %d keys examined, %d entries re-encrypted, %d unreadable%s",
            report.term, progress.passes + 1, visited, found, unreadable,
            "; pass finished" if exhausted else "",
        )
        if destroyed:
            if progress.unreadable:
                log.warning("keyring term %d destroyed with %d unreadable entries still naming it",
                            report.term, progress.unreadable)
            else:
                log.info("keyring term %d destroyed: no stored entry is under it", report.term)
        return report

    def _walk_for(self, retirement: Retirement) -> _Walk:
        walk = self._walk
        if (
            walk is None
            or walk.term != retirement.term
            or walk.passes != retirement.passes
            or walk.position != retirement.cursor
        ):
            walk = _Walk(
                retirement.term, retirement.passes, retirement.cursor,
                walk_keys(self._backend, retirement.cursor), whole=retirement.cursor is None,
            )
            self._walk = walk
        return walk

    def _after_batch(self, walk: _Walk, term: int, moved: list[tuple[str, int]], exhausted: bool, now: float) -> None:
        scan = self._census
        if scan is not None:
            for path, new_term in moved:
                # Only entries the census already counted (under the old term) move in it;
                # the rest it will count where they now are.
                if scan.finished is not None or (scan.cursor is not None and path <= scan.cursor):
                    scan.counts[term] -= 1
                    scan.counts[new_term] += 1
        if exhausted:
            self._walk = None
            if walk.whole:
                self._census = _CensusScan(walk.counts, None, None, now)

    # -- the census ------------------------------------------------------------------

    def census(self, now: float | None = None, limit: int = CENSUS_SCAN_LIMIT) -> Census:
        """Entries per term: a recent complete count, or a scan of at most `limit` more keys
        (later ticks go on with it). SealedError while sealed."""
        now = time.time() if now is None else now
        with self._lock:
            if not self._current():
                raise SealedError("strongroom is sealed")
            scan = self._census
            if scan is None or (scan.finished is not None and now - scan.finished > CENSUS_TTL):
                scan = self._census = _CensusScan(Counter(), None, None)
            if scan.finished is None:
                self._advance_census(scan, limit, None, now)
            # A complete census adjusted by later moves can be stale; never show below zero.
            counts = {term: n for term, n in scan.counts.items() if n > 0}
            return Census(counts, scan.finished is not None, scan.finished)

    def _advance_census(self, scan: _CensusScan, limit: int, deadline: float | None, now: float) -> None:
        if scan.keys is None:
            scan.keys = walk_keys(self._backend, scan.cursor)
        for done in range(limit):
            if done and deadline is not None and self._clock() >= deadline:
                return
            path = next(scan.keys, None)
            if path is None:
                scan.finished, scan.keys = now, None
                return
            scan.cursor = path
            blob = None if path in RESERVED_PATHS else self._backend.get(path)
            if blob is None:
                continue
            try:
                scan.counts[entry_term(blob)] += 1
            except IntegrityError:
                continue

    # -- lifecycle -------------------------------------------------------------------

    def _current(self) -> bool:
        """Whether the barrier is open; what was walked or counted in an earlier opening is
        dropped (another process may have written storage in between)."""
        if self._barrier.sealed:
            self._forget()
            return False
        if self._epoch != self._barrier.epoch:
            self._forget()
            self._epoch = self._barrier.epoch
        return True

    def _forget(self) -> None:
        self._walk = None
        self._census = None
