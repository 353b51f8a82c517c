"""The audit broker: the enabled devices, their salts and chains, and fail-closed logging.

Devices come from the server config (always on, as OpenBao's declarative devices) and from
sys/audit (only when unsafe_allow_api_audit_creation is set); API-made ones are kept in the
barrier with every device's salt. Until the barrier opens there are no salts: events of the
custodians' ceremonies wait in memory, with every string blanked, and are written first thing
after unseal.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
from dataclasses import dataclass, field
from typing import Any

from config.settings import Settings
from seal.barrier import Barrier
from server.audit.chain import CHAIN_FIELD, GENESIS, last_digest, line_digest
from server.audit.devices import AuditDeviceError, AuditWriteError, FileDevice, SocketDevice, make_device
from server.audit.entries import hash_entry
from server.audit.hashing import AuditHasher, blank

log = logging.getLogger("strongroom.audit")

DEVICES_PATH = "core/audit"
SALT_PREFIX = "core/audit-salt/"
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
        self._mutex = threading.Lock()

    @property
    def has_pending(self) -> bool:
        return bool(self._pending) and self._barrier is not None

    # -- lifecycle ---------------------------------------------------------------------

    def load(self, barrier: Barrier) -> None:
        """After unseal: open declared and stored devices, then write what waited."""
        self._barrier = barrier
        for declared in self._settings.audit_devices:
            self._attach(declared.path, declared.type, declared.description, dict(declared.options),
                         declared.local, declared=True)
        for record in barrier.get(DEVICES_PATH) or []:
            if record["path"] not in self._mounts:
                self._attach(record["path"], record["type"], record["description"], record["options"],
                             record["local"], declared=False)

    async def flush_pending(self) -> None:
        pending, self._pending = self._pending, []
        if not self._mounts:
            return
        for entry in pending:
            try:
                await self.log(entry, prehashed=True)
            except AuditFailedError:
                log.error("a buffered ceremony event could not be audited")

    def close(self) -> None:
        """On seal: close every device and forget salts."""
        for mount in self._mounts.values():
            mount.device.close()
        self._mounts.clear()
        self._barrier = None

    def reopen(self) -> None:
        """SIGHUP: reopen files after log rotation."""
        for mount in self._mounts.values():
            try:
                mount.device.reopen()
            except AuditWriteError as exc:
                log.error("audit device %s did not reopen: %s", mount.path, exc)

    # -- management (sys/audit) ---------------------------------------------------------

    def list(self) -> dict[str, dict[str, Any]]:
        return {path: mount.to_api() for path, mount in sorted(self._mounts.items())}

    def enable(self, path: str, device_type: str, description: str, options: dict[str, Any], local: bool) -> None:
        if not self._settings.unsafe_allow_api_audit_creation:
            raise AuditDeviceError(API_CREATION_REFUSED)
        with self._mutex:
            if path in self._mounts:
                raise AuditDeviceError(f"path already in use: {path}")
            self._attach(path, device_type, description, options, local, declared=False)
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
            raise AuditDeviceError(f"unknown audit backend {path}")
        return mount.hasher.hash(value)

    def _attach(self, path: str, device_type: str, description: str, options: dict[str, Any], local: bool,
                declared: bool) -> None:
        options = {str(k): v if isinstance(v, (str, int, bool)) else str(v) for k, v in (options or {}).items()}
        device = make_device(device_type, options)
        salt_path = SALT_PREFIX + path.rstrip("/")
        salt = self._barrier.get(salt_path)
        if salt is None:
            salt = os.urandom(32)
            self._barrier.put(salt_path, salt)
        previous = last_digest(device.path) if isinstance(device, FileDevice) else GENESIS
        self._mounts[path] = AuditMount(path, device_type, description, options, local, declared, device,
                                        AuditHasher(salt), previous)

    def _save(self) -> None:
        records = [{"path": m.path, "type": m.type, "description": m.description, "options": m.options,
                    "local": m.local} for m in self._mounts.values() if not m.declared]
        self._barrier.put(DEVICES_PATH, records)

    # -- logging -----------------------------------------------------------------------

    async def log(self, entry: dict[str, Any], prehashed: bool = False) -> None:
        """Record entry on every device; AuditFailedError if none could."""
        if self._barrier is None:
            if len(self._pending) < PENDING_LIMIT:
                self._pending.append(hash_entry(entry, blank))
            return
        if not self._mounts:
            return
        recorded = 0
        for mount in list(self._mounts.values()):
            hashed = entry if prehashed else hash_entry(entry, mount.hasher.redact)
            async with mount.lock:  # one writer per device keeps the chain in order
                line = json.dumps({**hashed, CHAIN_FIELD: mount.previous}, separators=(",", ":")).encode()
                try:
                    await mount.device.write(line + b"\n")
                except AuditWriteError as exc:
                    log.error("audit device %s failed: %s", mount.path, exc)
                    continue
                mount.previous = line_digest(line)
            recorded += 1
        if not recorded:
            raise AuditFailedError("no audit device could record the request")
