"""A follower process's side of its worker channel: what it answers itself, what it forwards.

A follower reads the shared LMDB store directly and never writes it. It answers, itself, the
calls on applications' hot paths that only read: KV reads and lists, cubbyhole reads, transit
encrypt/decrypt/rewrap/datakey/hmac/sign/verify/hash/random, and sys/health. Everything else
(every sys/ and auth/ call, every write, anything response-wrapped) goes to the primary,
which runs it through the same pipeline. With an audit device, a follower's entries are
written by the primary's broker, so the chained log keeps one writer. If a local call turns out to write (a token's last
use, an expired token, a transit upsert) the backend refuses before anything changed and the
call is forwarded whole. Counted transit encryptions come from blocks the primary grants.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import re
import signal
import socket
from typing import TYPE_CHECKING, Any

from server.audit.broker import DEVICES_PATH, SALT_PREFIX, AuditFailedError, load_hashers
from server.audit.chain import entry_body
from server.audit.entries import hash_entry
from server.audit.hashing import AuditHasher
from server.engines.transit_lifecycle_usage import UsageGrants
from server.forwarding import (
    GrantNeededError,
    PrimaryRequiredError,
    reply_from_wire,
    request_to_wire,
)
from server.mounts import AUTH_TABLE_PATH, MOUNTS_PATH
from server.pipeline import error_reply, respond
from server.policy_store import POLICY_VIEW
from server.request import CREATE, HEAD, LIST, READ, UPDATE, Request
from server.routing import Reply
from server.tokens import TOKEN_VIEW
from server.worker_changes import ChangeListener
from server.worker_channel import Channel, ChannelClosedError, Message, PeerError
from server.worker_generation import Generation
from storage import ReadOnlyStorageError

if TYPE_CHECKING:
    from server.core import Core

log = logging.getLogger("strongroom.workers")

TRANSIT_LOCAL = re.compile(
    r"(?:encrypt|decrypt|rewrap|hmac|sign|verify)/.+|datakey/[^/]+/.+|hash(?:/[^/]+)?|random(?:/.+)?"
)
GRANT_ATTEMPTS = 3
# How long a request waits for a change the primary has acknowledged to reach this process,
# rather than forward at once: a busy primary sends the change a few milliseconds after its
# commit, and forwarding meanwhile would only load it further and delay the change more.
CATCH_UP_WAIT = 0.25
FORWARD_GRACE = 30.0  # seconds past the listener's request limit before a forwarded call is given up
UNAVAILABLE = Reply(503, {"errors": ["the primary server process is unavailable"]})


class ForwardedAudit:
    """A follower's audit broker: its entries are written by the primary's broker, so the
    chained log has one writer; a follower waits for each, and fails closed as the primary.
    It hashes and serialises its own entries with each device's salt, so the primary's part
    is the link and the write; the primary hashes any copy whose salt it does not share."""

    def __init__(self, link: "PrimaryLink") -> None:
        self._link = link
        self._hashers: dict[str, AuditHasher] = {}

    def __repr__(self) -> str:
        return f"ForwardedAudit({len(self._hashers)} devices)"

    @property
    def recording(self) -> bool:
        return self._link.audited

    def load(self, barrier: Any) -> None:
        """Devices are opened by the primary only; their salts are read here."""
        self._hashers = load_hashers(barrier, self._link.core.settings)

    def close(self) -> None:
        """Nothing is open here; the salts are forgotten."""
        self._hashers = {}

    def reopen(self) -> None:
        """No log files here to reopen on SIGHUP."""

    async def log(self, entry: dict[str, Any], prehashed: bool = False) -> None:
        message: dict[str, Any] = {"t": "audit", "entry": entry, "prehashed": prehashed}
        try:
            if self._hashers:
                message["bodies"] = {path: [hasher.fingerprint, entry_body(entry if prehashed else
                                                                            hash_entry(entry, hasher.redact))]
                                     for path, hasher in self._hashers.items()}
        except (TypeError, ValueError):
            pass  # what JSON cannot carry, the primary refuses as it always did
        try:
            await self._link.channel.call(message)
        except (ChannelClosedError, PeerError):
            raise AuditFailedError("no audit device could record the request") from None


class PrimaryLink:
    """This follower's channel to the primary, and its decision of what to answer itself."""

    def __init__(self, core: "Core", index: int, sock: socket.socket, generation: Generation,
                 changes: socket.socket | None = None) -> None:
        self.core = core
        self.index = index
        self._published = generation
        self._applied = 0  # the newest change generation this process has applied
        self._catching_up: list[tuple[int, asyncio.Future]] = []  # (generation, waiter)
        self.channel = Channel(sock, self._handle, "primary", on_close=self._primary_gone)
        self._changes = ChangeListener(changes, self._change) if changes is not None else None
        self.audited = True  # whether an audit device is enabled (the store says, once open)

    def __repr__(self) -> str:
        return f"PrimaryLink(worker {self.index})"

    async def start(self) -> None:
        """Say hello; the primary answers with its seal state before the hello returns."""
        await self.channel.start()
        answer = await self.channel.call({"t": "hello", "index": self.index})
        self._applied = max(self._applied, answer["gen"])
        if self._changes is not None:
            self._changes.start(asyncio.get_running_loop())

    def stop(self) -> None:
        if self._changes is not None:
            self._changes.stop()
        self.channel.close()

    # -- requests --------------------------------------------------------------------------

    async def respond(self, req: Request) -> Reply:
        if self._applied < self._published.value and self._answerable(req):
            await self._catch_up(self._published.value)  # only what it would answer waits
        if self.serves_locally(req):
            operation = req.operation
            for _ in range(GRANT_ATTEMPTS):
                req.operation = operation
                try:
                    return await respond(self.core, req)
                except GrantNeededError as need:
                    try:
                        await need.obtain()
                    except PrimaryRequiredError:
                        break
                except (ReadOnlyStorageError, PrimaryRequiredError):
                    break
            req.operation = operation
        return await self.forward(req)

    async def _catch_up(self, generation: int) -> None:
        """Until this process has applied `generation` (or CATCH_UP_WAIT has passed, or the
        channel closed: serves_locally then still sees the gap, and the call is forwarded)."""
        waiter = asyncio.get_running_loop().create_future()
        if len(self._catching_up) >= 64:  # those that ran out, while no change came to prune them
            self._catching_up = [(gen, w) for gen, w in self._catching_up if not w.done()]
        self._catching_up.append((generation, waiter))
        try:
            await asyncio.wait_for(waiter, CATCH_UP_WAIT)  # cancels the waiter when it runs out
        except TimeoutError:
            pass

    def _caught_up(self) -> None:
        applied, waiting = self._applied, self._catching_up
        if waiting:
            self._catching_up = [(gen, w) for gen, w in waiting if gen > applied and not w.done()]
            for gen, waiter in waiting:
                if gen <= applied and not waiter.done():
                    waiter.set_result(None)

    def serves_locally(self, req: Request) -> bool:
        # Not while a change was acknowledged that this process has not applied yet.
        return self._applied >= self._published.value and self._answerable(req)

    def _answerable(self, req: Request) -> bool:
        """Whether the call is one a follower answers itself (when it is up to date)."""
        path, operation = req.path, req.operation
        if path == "sys/health":
            return operation in (READ, HEAD)
        if req.wrap_ttl is not None or self.core.seal.sealed:
            return False
        if path.startswith(("sys/", "auth/")):
            return False
        found = self.core.engine_for(path)
        if found is None or found[1] is None:
            return False
        kind = found[0].type
        if kind in ("kv", "cubbyhole"):
            return operation in (READ, LIST)
        if kind == "transit":
            return operation in (UPDATE, CREATE) and TRANSIT_LOCAL.fullmatch(path[len(found[0].path):]) is not None
        return False

    async def forward(self, req: Request) -> Reply:
        timeout = self.core.listener.max_request_duration + FORWARD_GRACE
        try:
            answer = await self.channel.call({"t": "fwd", "req": request_to_wire(req, req.operation)}, timeout)
        except (ChannelClosedError, PeerError, TimeoutError):
            return UNAVAILABLE
        except Exception as exc:  # noqa: BLE001 - whatever cannot cross is an error, never a hang
            return error_reply(exc)
        return reply_from_wire(answer)

    async def _fetch_grant(self, mount: str, name: str, number: int, created: int, count: int) -> tuple[int, int]:
        try:
            answer = await self.channel.call(
                {"t": "grant", "mount": mount, "name": name, "n": number, "created": created, "count": count}
            )
        except (ChannelClosedError, PeerError) as exc:
            raise PrimaryRequiredError(str(exc)) from None
        return answer["start"], answer["end"]

    # -- what the primary says -------------------------------------------------------------

    async def _handle(self, message: Message) -> Message:
        kind = message.get("t")
        if kind == "seal":
            self.core.seal_now()
        elif kind == "open":
            self._open(message["root"])
        elif kind == "inval":
            # A new root key with a change re-reads an open process's keyring. A sealed one
            # waits for "open": the keyring can commit before the rest of the primary's unseal
            # (its auth table, say), and opening early here would find that missing.
            if "root" in message and not self.core.seal.sealed:
                self._open(message["root"])
            self._invalidate(message["keys"])
        else:
            raise PeerError("unknown", f"unknown message {kind!r}")
        self._applied = max(self._applied, message["gen"])
        self._caught_up()
        return {}

    def _change(self, generation: int, keys: list[str]) -> None:
        """A commit's datagram: applied only as the very next generation (the channel's own
        message for it comes later and is applied again: dropping caches twice is harmless)."""
        if generation == self._applied + 1:
            self._invalidate(keys)
            self._applied = generation
            self._caught_up()

    def _open(self, root: bytes) -> None:
        was_sealed = self.core.seal.sealed
        self.core.open_following(bytearray(root))
        if was_sealed:
            self._adopt_engines()
            self._refresh_audited()

    def _invalidate(self, keys: list[str]) -> None:
        """Drop what this process cached of keys the primary just committed."""
        core = self.core
        if core.seal.sealed:
            return
        touched = {_area(key) for key in keys}
        if "tokens" in touched:
            core.tokens.forget_cache()
        if "policies" in touched:
            core.policies.forget_cache()
        if "audit" in touched:
            self._refresh_audited()
        if "mounts" in touched:
            core.reload_mounts()
        if "auth" in touched:
            core.reload_mounts(auth=True)
        if touched & {"mounts", "auth"}:
            self._adopt_engines()
        for table, engines in ((core.mounts, core.engines), (core.auth_mounts, core.auth_engines)):
            for entry in table.entries():
                if entry.storage_prefix in touched and entry.path in engines:
                    # Drop its caches; it reads storage again. Granted transit blocks stay:
                    # each is checked against the reservation storage holds when it is used.
                    engines[entry.path].close()

    def _adopt_engines(self) -> None:
        """Transit engines here count encryptions in blocks the primary grants."""
        for entry in self.core.mounts.entries():
            engine = self.core.engines.get(entry.path)
            store = getattr(engine, "store", None)
            if entry.type == "transit" and store is not None and getattr(store, "grants", None) is None:
                store.grants = UsageGrants(functools.partial(self._fetch_grant, entry.path))

    def _refresh_audited(self) -> None:
        core = self.core
        self.audited = bool(core.settings.audit_devices) or bool(core.seal.barrier.get(DEVICES_PATH))
        core.audit.load(core.seal.barrier)

    def _primary_gone(self) -> None:
        for _, waiter in self._catching_up:  # no change will come now: forwarding answers 503
            if not waiter.done():
                waiter.set_result(None)
        log.critical("the primary process has gone; sealing and stopping this worker")
        self.core.seal_now()
        os.kill(os.getpid(), signal.SIGTERM)


def _area(key: str) -> str:
    """Which cache a storage key belongs to: a named area, or a mount's storage prefix."""
    if key.startswith(TOKEN_VIEW):
        return "tokens"
    if key.startswith(POLICY_VIEW):
        return "policies"
    if key == MOUNTS_PATH:
        return "mounts"
    if key == AUTH_TABLE_PATH:
        return "auth"
    if key == DEVICES_PATH or key.startswith(SALT_PREFIX):
        return "audit"
    parts = key.split("/", 2)
    return f"{parts[0]}/{parts[1]}/" if len(parts) == 3 else key
