"""The transit secrets engine (encryption as a service), registered as mount type "transit".

This module is the engine's front: the route table under the mount, the existence check
that tells create from update on encrypt/:name, scheduled auto-rotation in tick(), and
close(). The work is in the transit_* modules: key model (transit_key, transit_store), key
types and crypto (transit_keytypes, transit_symmetric, transit_cipher, transit_asym),
operations (transit_ops_*, with request fields read by transit_fields), key wrapping and
BYOK (transit_keywrap, transit_import), export and backup (transit_export, transit_backup).
Paths, fields and answers follow Vault's transit API.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time

from seal.view import BarrierView
from server.engines import register
from server.engines.base import Engine
from server.engines import transit_backup as backup
from server.engines import transit_export as export
from server.engines import transit_import as byok
from server.engines import transit_keywrap as keywrap
from server.engines import transit_lifecycle_ops as lifecycle
from server.engines import transit_lifecycle_schedule as lifecycle_schedule
from server.engines import transit_ops_crypt as crypt
from server.engines import transit_ops_keys as keys
from server.engines import transit_ops_misc as misc
from server.engines import transit_ops_sign as signing
from server.engines.transit_fields import KEY_NAME_PATTERN
from server.engines.transit_key import configure_locking
from server.engines.transit_store import KeyStore
from server.mounts import MountEntry
from server.request import DELETE, LIST, READ, UPDATE, Request

log = logging.getLogger("strongroom.transit")

NAME = KEY_NAME_PATTERN
_KEY = rf"keys/(?P<name>{NAME})"
_VERSION = _KEY + r"/versions/(?P<version>[0-9]+|latest)"
_ALGORITHM = r"(?:/(?P<urlalgorithm>.+))?"
RETRY_SECONDS = 60  # after a failed auto-rotation, rather than retrying every tick


_ENCRYPT_ROUTE = rf"encrypt/(?P<name>{NAME})"
_ENCRYPT = re.compile(_ENCRYPT_ROUTE)


class TransitEngine(Engine):
    # Tried in order: the data-path operations applications call most come first.
    routes = [
        (_ENCRYPT_ROUTE, {UPDATE: crypt.encrypt}),
        (rf"decrypt/(?P<name>{NAME})", {UPDATE: crypt.decrypt}),
        (rf"rewrap/(?P<name>{NAME})", {UPDATE: crypt.rewrap}),
        (rf"datakey/(?P<plaintext>{NAME})/(?P<name>{NAME})", {UPDATE: crypt.datakey}),
        (rf"sign/(?P<name>{NAME})" + _ALGORITHM, {UPDATE: signing.sign}),
        (rf"verify/(?P<name>{NAME})" + _ALGORITHM, {UPDATE: signing.verify}),
        (rf"hmac/(?P<name>{NAME})" + _ALGORITHM, {UPDATE: misc.hmac}),
        (r"keys/?", {LIST: keys.list_keys}),
        (_KEY, {READ: keys.read_key, UPDATE: keys.write_key, DELETE: keys.delete_key}),
        (_KEY + "/config", {UPDATE: keys.configure_key}),
        (_KEY + "/rotate", {UPDATE: keys.rotate_key}),
        (_KEY + "/trim", {UPDATE: keys.trim_key}),
        (_KEY + "/soft-delete", {DELETE: keys.soft_delete}),
        (_KEY + "/soft-delete-restore", {UPDATE: keys.soft_delete_restore}),
        (_KEY + "/import", {UPDATE: byok.import_key}),
        (_KEY + "/import_version", {UPDATE: byok.import_key_version}),
        (r"config/keys", {READ: keys.read_keys_config, UPDATE: keys.write_keys_config}),
        (rf"random(?:/(?P<source>{NAME}))?(?:/(?P<urlbytes>.+))?", {UPDATE: misc.random_bytes}),
        (r"hash" + _ALGORITHM, {UPDATE: misc.hash_data}),
        (rf"export/(?P<type>{NAME})/(?P<name>{NAME})(?:/(?P<version>.+))?", {READ: export.export_key}),
        (rf"backup/(?P<name>{NAME})", {READ: backup.backup_key}),
        (r"restore(?:/(?P<name>.+))?", {UPDATE: backup.restore_key}),
        (r"wrapping_key", {READ: keywrap.read_wrapping_key}),
        # strongroom additions: NIST SP 800-38F key wrap of a caller's key under a transit key
        (rf"keywrap/(?P<name>{NAME})", {UPDATE: keywrap.wrap_key}),
        (rf"keyunwrap/(?P<name>{NAME})", {UPDATE: keywrap.unwrap_key}),
        # strongroom additions: NIST SP 800-57 key lifecycle (transit_lifecycle_ops)
        (_VERSION + "/state", {UPDATE: lifecycle.set_state}),
        (_VERSION + "/compromise", {UPDATE: lifecycle.compromise}),
        (_VERSION + "/destroy", {UPDATE: lifecycle.destroy_version}),
        (_VERSION + "/cancel-destroy", {UPDATE: lifecycle.cancel_destroy_version}),
        (_KEY + "/destroy", {UPDATE: lifecycle.destroy_key}),
        (_KEY + "/cancel-destroy", {UPDATE: lifecycle.cancel_destroy_key}),
        (_KEY + "/rewrap-compromised", {UPDATE: lifecycle.rewrap_compromised}),
    ]

    def __init__(self, view: BarrierView, mount: MountEntry) -> None:
        super().__init__(view, mount)
        self.store = KeyStore(view)
        self._rotating: set[str] = set()

    def exists(self, req: Request) -> bool | None:
        """Only encrypt/:name has an existence check in Vault (its create upserts the key).
        Its route is the first one tried, so its own pattern tells which paths reach it."""
        found = _ENCRYPT.fullmatch(req.relative_path)
        if found is None:
            return None
        return self.store.exists(found["name"])

    def tick(self, now: float) -> None:
        """Rotate keys whose auto_rotate_period has elapsed since their latest version, and
        do the key lifecycle work that has come due (transit_lifecycle_schedule)."""
        try:
            loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        work = [(name, self._auto_rotate(name)) for name in self.store.due_for_rotation(now)
                if name not in self._rotating]
        work += [(name, self._run_lifecycle(name, now)) for name in self.store.lifecycle_due(now)
                 if name not in self._rotating and name not in dict(work)]
        for name, job in work:
            if loop is None:
                asyncio.run(job)
            else:
                self._rotating.add(name)
                loop.create_task(job)

    async def _run_lifecycle(self, name: str, now: float) -> None:
        try:
            await lifecycle_schedule.run_due(self, name, int(now * 1_000_000_000))
        except Exception:
            log.exception("transit: lifecycle work on key %r failed; retrying in %d s", name, RETRY_SECONDS)
            self.store.forget(name)
            self.store.postpone_lifecycle(name, time.time() + RETRY_SECONDS)
        finally:
            self._rotating.discard(name)

    async def _auto_rotate(self, name: str) -> None:
        try:
            await keys.rotate_now(self, name)
            self.record_event("scheduled:rotate", f"keys/{name}", {})
            log.info("transit: auto-rotated key %r on mount %r", name, self.mount.path)
        except Exception:
            log.exception("transit: auto-rotation of key %r failed; retrying in %d s", name, RETRY_SECONDS)
            self.store.forget(name)
            self.store.postpone(name, time.time() + RETRY_SECONDS)
        finally:
            self._rotating.discard(name)

    def close(self) -> None:
        self.store.close()


@register("transit")
def create_transit_engine(view: BarrierView, mount: MountEntry) -> Engine:
    configure_locking(view.lock_memory)
    return TransitEngine(view, mount)


__all__ = ["TransitEngine", "create_transit_engine"]
