"""Worker processes: one port (SO_REUSEPORT), one LMDB store, one seal.

With `workers = N` the server forks N-1 followers at startup, before it opens the store or
starts a thread or an event loop, and runs the primary in the original process. Each
process opens the LMDB environment itself after the fork (as LMDB requires) and binds the
listeners with SO_REUSEPORT, so the kernel spreads connections over all of them. The data
directory's flock is taken once, before the fork, and held by all of them together. Each
follower is joined to the primary by a socketpair (server/worker_channel.py) over which the
root key travels; it never goes through storage or the environment. A second, datagram
socketpair carries only the names of the keys each commit changed, sent by the primary's
committer thread itself, so a follower hears of a change without waiting for the primary's
event loop (server/worker_changes.py).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
import socket
import sys
import time
from typing import Callable

from config.settings import Settings, StorageSettings
from server.worker_follower import ForwardedAudit, PrimaryLink
from server.worker_generation import Generation
from server.worker_primary import Followers
from storage import Backend, GroupCommitBackend, LMDBBackend, ReadOnlyBackend
from storage.data_directory import DataDirectory

log = logging.getLogger("strongroom.workers")

STOP_GRACE = 40.0  # seconds followers get to drain after SIGTERM before they are killed


def _open_lmdb(storage: StorageSettings) -> LMDBBackend:
    # The whole map is reserved at once (address space, not disk): a map that grew in one
    # process would have to be re-adopted by every other one before its next transaction.
    return LMDBBackend(storage.path, map_size=storage.max_map_size, max_map_size=storage.max_map_size,
                       directory_locked_by_parent=True)


class PrimaryRole:
    """The process that writes: its followers' channels, and their lifetimes."""

    index = 0

    def __init__(self, followers: list[tuple[int, socket.socket, socket.socket]], generation: Generation) -> None:
        self._followers = followers
        self._generation = generation
        self.core = None

    def open_backend(self, storage: StorageSettings) -> Backend:
        return GroupCommitBackend(_open_lmdb(storage))

    async def attach(self, core) -> None:
        core.followers = Followers(core, self._followers, self._generation)
        core.backend.on_commit = core.followers.commit_hook
        self.core = core
        await core.followers.start()

    def detach(self, core) -> None:
        core.backend.on_commit = None
        core.followers.stop()

    def stop_followers(self) -> None:
        if self.core is not None:
            self.core.followers.stopping = True
        for pid, _, _ in self._followers:
            _signal(pid, signal.SIGTERM)

    async def wait_followers(self, grace: float = STOP_GRACE) -> None:
        """Until every follower has exited (they may forward requests while they drain)."""
        alive = {pid for pid, _, _ in self._followers}
        deadline = time.monotonic() + grace
        while alive:
            alive = {pid for pid in alive if not _reaped(pid)}
            if alive and time.monotonic() > deadline:
                for pid in alive:
                    _signal(pid, signal.SIGKILL)
                deadline = float("inf")
            if alive:
                await asyncio.sleep(0.05)


class FollowerRole:
    """A process that reads the store and hands every write to the primary."""

    def __init__(self, index: int, sock: socket.socket, changes: socket.socket, generation: Generation) -> None:
        self.index = index
        self._sock = sock
        self._changes = changes
        self._generation = generation

    def open_backend(self, storage: StorageSettings) -> Backend:
        return ReadOnlyBackend(_open_lmdb(storage))

    async def attach(self, core) -> None:
        core.link = PrimaryLink(core, self.index, self._sock, self._generation, changes=self._changes)
        core.audit = ForwardedAudit(core.link)
        await core.link.start()

    def detach(self, core) -> None:
        core.link.stop()


def run_workers(settings: Settings, run: Callable[[object], None]) -> None:
    """Fork the followers, run the primary here with run(role), and reap them all."""
    directory = DataDirectory(settings.storage.path)
    directory.open()
    children: list[tuple[int, socket.socket, socket.socket]] = []
    try:
        pairs = [socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM) for _ in range(settings.workers - 1)]
        changes = [socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM) for _ in range(settings.workers - 1)]
        generation = Generation()
        # Objects that exist now stay out of the collector's reach, so its bookkeeping writes
        # do not copy the pages the children share with this process.
        gc.freeze()
        for index, ((ours, theirs), (tell, hear)) in enumerate(zip(pairs, changes), start=1):
            sys.stdout.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:
                _run_follower(run, index, pairs + changes, (theirs, hear), generation)
            theirs.close()
            hear.close()
            children.append((pid, ours, tell))
        run(PrimaryRole(children, generation))
    finally:
        for pid, _, _ in children:
            if not _reaped(pid):
                _signal(pid, signal.SIGKILL)
                _reaped(pid, block=True)
        directory.release()


def _run_follower(run: Callable[[object], None], index: int, pairs: list,
                  mine: tuple[socket.socket, socket.socket], generation: Generation) -> None:
    code = 1
    try:
        for ours, theirs in pairs:
            ours.close()
            if theirs not in mine:
                theirs.close()
        run(FollowerRole(index, *mine, generation))
        code = 0
    except BaseException:  # noqa: BLE001 - a follower must never return into the parent's code
        log.exception("worker %d failed", index)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _signal(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass


def _reaped(pid: int, block: bool = False) -> bool:
    try:
        done, _ = os.waitpid(pid, 0 if block else os.WNOHANG)
    except ChildProcessError:
        return True
    return done == pid
