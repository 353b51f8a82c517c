"""The audit broker: the enabled devices, their salts and chains, and fail-closed logging.

Devices come from the server config (always on, as OpenBao's declarative devices) and from
sys/audit (only when unsafe_allow_api_audit_creation is set); API-made ones are kept in the
barrier with every device's salt. Until the barrier opens there are no salts: events of the
custodians' ceremonies wait in memory, with every string blanked, and are written first thing
after unseal.

A file device's chain continues from the file's last line. Nothing can be read back from a
socket, so the last link sent to each socket device is kept in the barrier when it seals.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import os
import threading
from dataclasses import dataclass, field
from typing import Any

from config.settings import Settings
from seal.barrier import Barrier
from seal.errors import SealedError
from server.audit.chain import GENESIS, entry_body, last_digest, line_digest, linked_line
from server.audit.devices import (
    AuditDeviceError,
    AuditTimeoutError,
    AuditWriteError,
    FileDevice,
    SocketDevice,
    make_device,
)
from server.audit.entries import hash_entry
from server.eager import in_task
from server.audit.hashing import AuditHasher, blank
from storage import StorageError

log = logging.getLogger("strongroom.audit")

DEVICES_PATH = "core/audit"
SALT_PREFIX = "core/audit-salt/"
CHAIN_HEADS_PATH = "core/audit-chain-heads"
PENDING_LIMIT = 1000
API_CREATION_REFUSED = ("cannot enable audit device via API; use declarative, config-based audit device "
                        "management instead")


class AuditFailedError(Exception):
    """No enabled audit device could record the request: it must not proceed."""


@dataclass
class AuditMount:
    path: str
    type: str
    description: str
    options: dict[str, Any]
    local: bool
    declared: bool
    device: FileDevice | SocketDevice = field(repr=False)
    hasher: AuditHasher = field(repr=False)
    previous: str = GENESIS
    lock: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False)
    resume_at: float = 0.0  # loop time; a device that hung is skipped until then

    def to_api(self) -> dict[str, Any]:
        return {"type": self.type, "description": self.description, "options": self.options,
                "local": self.local, "path": self.path}


class AuditBroker:
    """Enabled devices and the rule that at least one of them records every entry."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._barrier: Barrier | None = None
        self._mounts: dict[str, AuditMount] = {}
        self._pending: list[dict[str, Any]] = []
        self._heads: dict[str, str] = {}  # socket device path -> last link sent
        self._mutex = threading.Lock()

    # -- lifecycle ---------------------------------------------------------------------

    def load(self, barrier: Barrier) -> None:
        """After unseal: open declared and stored devices, then write what waited."""
        self._barrier = barrier
        self._heads = dict(barrier.get(CHAIN_HEADS_PATH) or {})
        for declared in self._settings.audit_devices:
            self._register(self._mount(declared.path, declared.type, declared.description,
                                       dict(declared.options), declared.local, declared=True))
        for record in barrier.get(DEVICES_PATH) or []:
            if record["path"] not in self._mounts:
                self._register(self._mount(record["path"], record["type"], record["description"],
                                           record["options"], record["local"], declared=False))

    async def _flush_pending(self) -> None:
        """Write the ceremony events buffered while sealed (once there are salts), in order."""
        pending, self._pending = self._pending, []
        if not self._mounts:
            return
        for entry in pending:
            try:
                await self.log(entry, prehashed=True)
            except AuditFailedError:
                log.error("a buffered ceremony event could not be audited")

    def close(self) -> None:
        """On seal: keep the socket chains' heads, close every device and forget salts."""
        heads = {m.path: m.previous for m in self._mounts.values() if not _file_backed(m.device)}
        if heads and self._barrier is not None:
            try:
                self._barrier.put(CHAIN_HEADS_PATH, {**self._heads, **heads})
            except (StorageError, SealedError) as exc:
                log.error("the audit chain heads were not saved (%s): socket logs restart their chain",
                          type(exc).__name__)
        for mount in self._mounts.values():
            mount.device.close()
        self._mounts.clear()
        self._barrier = None

    def reopen(self) -> None:
        """SIGHUP: reopen files after log rotation."""
        for mount in self._mounts.values():
            mount.resume_at = 0.0
            try:
                mount.device.reopen()
            except AuditWriteError as exc:
                log.error("audit device %s did not reopen: %s", mount.path, exc)

    # -- management (sys/audit) ---------------------------------------------------------

    def list(self) -> dict[str, dict[str, Any]]:
        return {path: mount.to_api() for path, mount in sorted(self._mounts.items())}

    async def enable(self, path: str, device_type: str, description: str, options: dict[str, Any],
                     local: bool) -> None:
        """sys/audit/:path: only if the config allows it, and only a device that works now.

        A device enabled broken would fail every later request, the disable included.
        """
        if not self._settings.unsafe_allow_api_audit_creation:
            raise AuditDeviceError(API_CREATION_REFUSED)
        if path in self._mounts:
            raise AuditDeviceError("path already in use")
        mount = self._mount(path, device_type, description, options, local, declared=False)
        try:
            await mount.device.check()
        except AuditWriteError as exc:
            mount.device.close()
            raise AuditDeviceError(f"audit backend failed test message: {exc}") from None
        with self._mutex:
            if path in self._mounts:
                mount.device.close()
                raise AuditDeviceError("path already in use")
            self._register(mount)
            self._save()

    def disable(self, path: str) -> None:
        with self._mutex:
            mount = self._mounts.get(path)
            if mount is None:
                return
            if mount.declared:
                raise AuditDeviceError("cannot disable an audit device declared in the server config")
            mount.device.close()
            del self._mounts[path]
            self._save()

    def hash(self, path: str, value: str) -> str:
        mount = self._mounts.get(path)
        if mount is None:
            raise AuditDeviceError(f'unknown audit backend "{path}"')
        return mount.hasher.hash(value)

    def _mount(self, path: str, device_type: str, description: str, options: dict[str, Any], local: bool,
               declared: bool) -> AuditMount:
        options = {str(k): v if isinstance(v, (str, int, bool)) else str(v) for k, v in (options or {}).items()}
        device = make_device(device_type, options)
        salt_path = SALT_PREFIX + path.rstrip("/")
        salt = self._barrier.get(salt_path)
        if salt is None:
            salt = os.urandom(32)
            self._barrier.put(salt_path, salt)
        previous = last_digest(device.path) if _file_backed(device) else self._heads.get(path, GENESIS)
        return AuditMount(path, device_type, description, options, local, declared, device, AuditHasher(salt),
                          previous)

    def _register(self, mount: AuditMount) -> None:
        self._mounts[mount.path] = mount

    def _save(self) -> None:
        records = [{"path": m.path, "type": m.type, "description": m.description, "options": m.options,
                    "local": m.local} for m in self._mounts.values() if not m.declared]
        self._barrier.put(DEVICES_PATH, records)

    # -- logging -----------------------------------------------------------------------

    @property
    def recording(self) -> bool:
        """Whether entries are wanted now: devices exist, or the seal is closed (buffering),
        or ceremony events wait. When False, building an entry would be wasted work."""
        return self._barrier is None or bool(self._mounts) or bool(self._pending)

    async def log(self, entry: dict[str, Any], prehashed: bool = False,
                  bodies: dict[str, tuple[str, bytes]] | None = None) -> None:
        """Record entry on every device; AuditFailedError if none could. `bodies` are a worker
        process's own hashed and serialised copies (device path -> (salt fingerprint, body));
        one is used only where its fingerprint is the device's, else the entry is hashed here."""
        if self._barrier is None:
            if len(self._pending) < PENDING_LIMIT:
                self._pending.append(hash_entry(entry, blank))
            return
        if self._pending:  # what waited for the salt goes first, whoever writes next
            await self._flush_pending()
        if not self._mounts:
            return
        mounts = list(self._mounts.values())
        lines = [_body(m, entry, prehashed, bodies) for m in mounts]
        if len(mounts) == 1:  # the common case: no task to schedule
            written = [await self._write(mounts[0], lines[0])]
        else:  # devices in parallel, so one hung socket costs its timeout once, not per device
            written = await asyncio.gather(*(self._write(m, b) for m, b in zip(mounts, lines)))
        if not any(written):
            raise AuditFailedError("no audit device could record the request")

    @staticmethod
    async def _write(mount: AuditMount, body: bytes) -> bool:
        """One line on one device, within its write_timeout, the wait for its turn included.

        A device that timed out is skipped for one more write_timeout: otherwise every entry
        (a whole backlog of ceremony events, each request's two lines) would wait in turn.
        """
        loop = asyncio.get_running_loop()
        if loop.time() < mount.resume_at:
            return False
        deadline = loop.time() + mount.device.timeout
        await in_task()
        try:
            async with asyncio.timeout_at(deadline):
                await mount.lock.acquire()  # one writer per device keeps the chain in order
        except TimeoutError:
            return False  # the writer ahead of us hit the same hung device and reports it
        try:
            line = linked_line(body, mount.previous)
            await mount.device.write(line + b"\n", deadline)
            mount.previous = line_digest(line)
            return True
        except AuditWriteError as exc:
            if isinstance(exc, AuditTimeoutError):
                mount.resume_at = loop.time() + mount.device.timeout
            log.error("audit device %s failed: %s", mount.path, exc)
            return False
        finally:
            mount.lock.release()


def _body(mount: AuditMount, entry: dict[str, Any], prehashed: bool,
          bodies: dict[str, tuple[str, bytes]] | None) -> bytes:
    given = bodies.get(mount.path) if bodies else None
    if given is not None and hmac.compare_digest(given[0], mount.hasher.fingerprint):
        return given[1]
    return entry_body(entry if prehashed else hash_entry(entry, mount.hasher.redact))


def load_hashers(barrier: Barrier, settings: Settings) -> dict[str, AuditHasher]:
    """The hashers of the devices storage and the config name, for a worker process that
    reads but never writes: a device whose salt is not stored yet has none (the primary then
    hashes that device's copy itself)."""
    paths = [declared.path for declared in settings.audit_devices]
    paths += [record["path"] for record in barrier.get(DEVICES_PATH) or []]
    hashers = {}
    for path in paths:
        salt = barrier.get(SALT_PREFIX + path.rstrip("/"))
        if isinstance(salt, bytes):
            hashers[path] = AuditHasher(salt)
    return hashers


def _file_backed(device: FileDevice | SocketDevice) -> bool:
    return isinstance(device, FileDevice) and device.is_file
