"""The server's core: the seal, the token store and the mount table, and their lifecycle.

Handlers reach everything through one Core. It knows what must happen when the barrier
opens (load the mount table, the cluster identity) and when it closes (drop every cache
that was read through it).
"""

from __future__ import annotations

import functools
import logging
import secrets
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any, Sequence

from config.settings import ListenerSettings, Settings
from seal.retire import TermRetirement
from seal.state import IssuedShares, Seal, SealStatus
from server.audit.broker import AuditBroker
from server.audit.entries import event_entry
from server.engines import create_engine
from server.engines.base import Engine
from server.engines.cubbyhole import purge
from server.mounts import AUTH_MOUNTS, MountEntry, MountTable
from server.routing import Router
from server.policy_store import PolicyStore
from server.tokens import TokenStore
from storage import Backend

log = logging.getLogger("strongroom.core")

CLUSTER_PATH = "core/cluster"
VERSION = "0.1.0"
TOKEN_SWEEP_SECONDS = 60.0
MAX_QUEUED_EVENTS = 10_000


@dataclass(frozen=True)
class ClusterIdentity:
    name: str
    id: str


class Core:
    """Everything a request handler may touch, in one place."""

    def __init__(self, settings: Settings, backend: Backend, router: Router) -> None:
        self.settings = settings
        self.backend = backend
        self.seal = Seal(
            backend, lock_memory=not settings.disable_mlock, progress_ttl=settings.unseal_progress_ttl
        )
        self.tokens = TokenStore(self.seal.barrier, settings.default_lease_ttl, settings.max_lease_ttl)
        self.retirement = TermRetirement(self.seal.barrier)
        self.policies = PolicyStore(self.seal.barrier)
        self.audit = AuditBroker(settings)
        self.tokens.revoke_listeners.append(self._purge_cubbyholes)
        self.mounts = MountTable(self.seal.barrier)
        self.auth_mounts = MountTable(self.seal.barrier, AUTH_MOUNTS)
        self.router = router
        self.engines: dict[str, Engine] = {}
        self.auth_engines: dict[str, Engine] = {}
        self.events: list[dict[str, Any]] = []
        self.cluster: ClusterIdentity | None = None
        self.active_since: float | None = None
        self._lifecycle = threading.RLock()
        self._last_sweep = 0.0
        # With worker processes: the primary's view of its followers, or a follower's link
        # to the primary (server/worker_primary.py, server/worker_follower.py); else None.
        self.followers: Any = None
        self.link: Any = None

    def listener_for(self, sockname: object) -> ListenerSettings:
        """The listener block a connection arrived on (its limits apply to the request)."""
        if isinstance(sockname, tuple) and len(sockname) >= 2:
            for listener in self.settings.listeners:
                if listener.port == sockname[1] and listener.host in (sockname[0], "0.0.0.0", "::"):
                    return listener
        return self.settings.listeners[0]

    @property
    def listener(self) -> ListenerSettings:
        return self.settings.listeners[0]

    @property
    def storage_type(self) -> str:
        return self.settings.storage.backend

    # -- transitions -------------------------------------------------------------------

    def initialize(self, shares: int, threshold: int, pgp_keys: Sequence[str] | None = None,
                   root_token_id: str | None = None) -> tuple[IssuedShares, str]:
        """Initialise the seal and mint the root token in the same transaction."""
        minted: list[str] = []

        def setup(barrier):
            token, writes = self.tokens.root_token_records(root_token_id)
            minted.append(token)
            return writes

        with self._lifecycle:
            issued = self.seal.initialize(shares, threshold, pgp_keys, setup=setup)
            self.tokens.forget_cache()
        return issued, minted[0]

    def submit_unseal_share(self, share: bytes | bytearray) -> SealStatus:
        """One custodian's share; the post-unseal setup runs when the barrier opens."""
        with self._lifecycle:
            was_sealed = self.seal.sealed
            self.seal.submit_unseal_share(share)
            if was_sealed and not self.seal.sealed:
                self._after_unseal()
                if self.followers is not None:
                    self.followers.opened()
            return self.seal.status()

    def mount(self, path: str, mount_type: object, **fields: Any) -> MountEntry:
        """Add a mount and start its engine."""
        with self._lifecycle:
            entry = self.mounts.mount(path, mount_type, **fields)
            self._start_engine(entry)
            return entry

    def unmount(self, path: str) -> None:
        """Stop a mount's engine, then remove the mount and its data."""
        with self._lifecycle:
            engine = self.engines.pop(path, None)
            if engine is not None:
                engine.close()
            self.mounts.unmount(path)

    def tune(self, path: str, data: dict[str, Any]) -> MountEntry:
        """Tune a secrets mount; its running engine sees the new settings at once."""
        with self._lifecycle:
            entry = self.mounts.tune(path, data)
            if path in self.engines:
                self.engines[path].mount = entry
            return entry

    def tune_auth(self, path: str, data: dict[str, Any]) -> MountEntry:
        """Tune an auth method; its running engine sees the new settings at once."""
        with self._lifecycle:
            entry = self.auth_mounts.tune(path, data)
            if path in self.auth_engines:
                self.auth_engines[path].mount = entry
            return entry

    def mount_auth(self, path: str, method_type: object, **fields: Any) -> MountEntry:
        """Enable an auth method (sys/auth) and start it."""
        with self._lifecycle:
            entry = self.auth_mounts.mount(path, method_type, **fields)
            self._start_auth_engine(entry)
            return entry

    def unmount_auth(self, path: str) -> None:
        """Disable an auth method: its data goes, and so do the tokens it issued."""
        with self._lifecycle:
            # Tokens first, as Vault: if this stops halfway, disabling again finishes the job.
            self.tokens.revoke_by_path_prefix("auth/" + path)
            engine = self.auth_engines.pop(path, None)
            if engine is not None:
                engine.close()
            self.auth_mounts.unmount(path)

    def auth_engine_for(self, path: str) -> tuple[MountEntry, Engine | None] | None:
        """For a path under auth/: the auth method mount and its engine."""
        entry = self.auth_mounts.match(path[len("auth/"):])
        if entry is None:
            return None
        return entry, self.auth_engines.get(entry.path)

    def _start_auth_engine(self, entry: MountEntry) -> None:
        engine = create_engine(self.seal.barrier.view(entry.storage_prefix), entry)
        if engine is not None:
            engine.tokens = self.tokens
            self.auth_engines[entry.path] = engine

    def engine_for(self, path: str) -> tuple[MountEntry, Engine | None] | None:
        """The mount a logical path falls under, and its engine."""
        entry = self.mounts.match(path)
        if entry is None:
            return None
        return entry, self.engines.get(entry.path)

    def tick(self, now: float) -> None:
        """Scheduled work of every engine (called about once a second); a follower process
        has none: the primary does it, and writes."""
        if self.seal.sealed or self.link is not None:
            return
        if now - self._last_sweep >= TOKEN_SWEEP_SECONDS:
            self._last_sweep = now
            try:
                self.tokens.sweep(now)
            except Exception:
                log.exception("token sweep failed")
        try:
            report = self.retirement.tick(now)  # one bounded batch of any keyring term retirement
            if report is not None and report.destroyed:
                self.record_event("sys/", "keyring-term-destroyed", "keyring", {"term": report.term})
        except Exception:
            log.exception("keyring term retirement failed")
        for engine in [*self.engines.values(), *self.auth_engines.values()]:
            try:
                engine.tick(now)
            except Exception:
                log.exception("scheduled work of %r failed", engine)

    def _purge_cubbyholes(self, digests: list[str]) -> None:
        """A revoked token's cubbyhole goes with it."""
        found = self.engine_for("cubbyhole/")
        if found is None or found[1] is None:
            return
        for digest in digests:
            purge(found[1].view, digest)

    def _start_engine(self, entry: MountEntry) -> None:
        engine = create_engine(self.seal.barrier.view(entry.storage_prefix), entry)
        if engine is not None:
            engine.record_event = functools.partial(self.record_event, entry.path)
            self.engines[entry.path] = engine

    def record_event(self, mount_point: str, operation: str, path: str, data: dict[str, Any]) -> None:
        """Queue an audit entry for work done without a request (written by the app's ticker)."""
        if len(self.events) < MAX_QUEUED_EVENTS:
            self.events.append(event_entry(mount_point, operation, path, data))

    def take_events(self) -> list[dict[str, Any]]:
        events, self.events = self.events, []
        return events

    def seal_now(self) -> None:
        """Seal: zero key material and forget everything read through the barrier."""
        with self._lifecycle:
            for engine in [*self.engines.values(), *self.auth_engines.values()]:
                engine.close()
            self.engines.clear()
            self.auth_engines.clear()
            self.auth_mounts.clear()
            self.audit.close()
            self.seal.seal()
            self.mounts.clear()
            self.tokens.forget_cache()
            self.policies.forget_cache()
            self.cluster = None
            self.active_since = None
            if self.followers is not None:
                self.followers.sealed()

    def reload_mounts(self, auth: bool = False) -> None:
        """Another process changed a mount table: restart this process's engines from it."""
        with self._lifecycle:
            table, engines = (self.auth_mounts, self.auth_engines) if auth else (self.mounts, self.engines)
            for engine in engines.values():
                engine.close()
            engines.clear()
            table.load()
            for entry in table.entries():
                (self._start_auth_engine if auth else self._start_engine)(entry)

    def open_following(self, root: bytearray) -> None:
        """A follower process opens (or re-reads its keyring) with the primary's root key."""
        with self._lifecycle:
            was_sealed = self.seal.sealed
            self.seal.open_with_root_key(root)
            if was_sealed:
                self._after_unseal()

    def _after_unseal(self) -> None:
        try:
            barrier = self.seal.barrier
            record = barrier.get(CLUSTER_PATH)
            if record is None:
                record = {"name": f"strongroom-cluster-{secrets.token_hex(4)}", "id": str(uuid.uuid4())}
                barrier.put(CLUSTER_PATH, record)
            self.cluster = ClusterIdentity(record["name"], record["id"])
            self.mounts.load()
            self.policies.ensure_default()
            self.audit.load(barrier)
            for entry in self.mounts.entries():
                self._start_engine(entry)
            self.auth_mounts.load()
            for entry in self.auth_mounts.entries():
                self._start_auth_engine(entry)
            self.active_since = time.time()
        except BaseException:
            self.seal_now()
            raise
