"""AppRole secret IDs: issued once, stored only as an HMAC, redeemed within their limits.

Storage inside the mount's view:
  secret_id/<role>/<HMAC(secret_id)>  the entry: accessor, uses left, TTL, times, metadata, CIDRs
  accessor/<accessor>                 {"role", "secret_id_hmac"}: the handle operators list and revoke by
The secret ID itself is never stored: a login finds its entry by HMAC under the mount key.
Redeeming checks expiry and CIDRs before it spends a use, and the check-and-spend runs under
one lock, so N concurrent logins on an N-use secret ID get exactly N tokens.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from seal.ops import BarrierDelete, BarrierPut
from seal.view import BarrierView
from server.auth import approle_fields as fields
from server.auth.approle_errors import AppRoleError, LoginRejectedError
from server.auth.approle_hmac import MountHMAC
from server.auth.approle_roles import MAX_NAME_BYTES, Role, new_identifier
from server.timefmt import rfc3339

SECRET_ID_PREFIX = "secret_id/"
ACCESSOR_PREFIX = "accessor/"
INVALID_CREDENTIALS = "invalid role or secret ID"
GO_ZERO_TIME = "0001-01-01T00:00:00Z"  # what Vault shows for a secret ID that never expires


def lookup_body(record: dict[str, Any]) -> dict[str, Any]:
    """Vault's secret-id lookup shape."""
    expires = record["expiration_time"]
    return {
        "cidr_list": list(record["cidr_list"]),
        "creation_time": rfc3339(record["creation_time"]),
        "expiration_time": rfc3339(expires) if expires else GO_ZERO_TIME,
        "last_updated_time": rfc3339(record["last_updated_time"]),
        "metadata": dict(record["metadata"]),
        "secret_id_accessor": record["secret_id_accessor"],
        "secret_id_num_uses": record["secret_id_num_uses"],
        "secret_id_ttl": record["secret_id_ttl"],
        "token_bound_cidrs": list(record["token_bound_cidrs"]),
    }


def _expired(record: dict[str, Any], now: float) -> bool:
    return bool(record["expiration_time"]) and now >= record["expiration_time"]


def check_role_address(role: Role, remote_addr: str) -> None:
    """Refuse a login from outside the role's secret_id_bound_cidrs."""
    if role.secret_id_bound_cidrs and not fields.address_in(remote_addr, role.secret_id_bound_cidrs):
        raise LoginRejectedError(f'source address "{remote_addr}" unauthorized by CIDR restrictions on the role')


class SecretIdStore:
    """Issue, find, redeem and destroy the secret IDs of every role on one mount."""

    def __init__(self, view: BarrierView, hmac: MountHMAC) -> None:
        self._view = view
        self._hmac = hmac
        self._mutex = threading.Lock()

    def _path(self, role_name: str, digest: str) -> str:
        return f"{SECRET_ID_PREFIX}{role_name}/{digest}"

    def _digest(self, secret_id: str) -> str | None:
        if not secret_id or len(secret_id.encode()) > MAX_NAME_BYTES:
            return None
        return self._hmac.digest(secret_id)

    # -- issue ---------------------------------------------------------------------------

    def issue(self, role: Role, secret_id: str, *, num_uses: int, ttl: int, metadata: dict[str, str],
              cidr_list: list[str], token_bound_cidrs: list[str]) -> dict[str, Any]:
        """Store a new secret ID's entry (by HMAC) and its accessor; returns the entry."""
        digest = self._digest(secret_id)
        if digest is None:
            raise AppRoleError(f"secret_id must be 1 to {MAX_NAME_BYTES} bytes")
        now = time.time()
        record = {
            "secret_id_accessor": new_identifier(), "secret_id_num_uses": num_uses, "secret_id_ttl": ttl,
            "creation_time": now, "expiration_time": now + ttl if ttl else 0.0, "last_updated_time": now,
            "metadata": metadata, "cidr_list": cidr_list, "token_bound_cidrs": token_bound_cidrs,
        }
        with self._mutex:
            if self._view.get(self._path(role.name, digest)) is not None:
                raise AppRoleError("SecretID is already registered")
            self._view.transaction([
                BarrierPut(self._path(role.name, digest), record),
                BarrierPut(ACCESSOR_PREFIX + record["secret_id_accessor"],
                           {"role": role.name, "secret_id_hmac": digest}),
            ])
        return record

    # -- find ----------------------------------------------------------------------------

    def find(self, role_name: str, secret_id: str) -> tuple[str, dict[str, Any]] | None:
        """(HMAC, entry) of a live secret ID of this role, or None."""
        digest = self._digest(secret_id)
        return self._live(role_name, digest) if digest is not None else None

    def find_by_accessor(self, role_name: str, accessor: str) -> tuple[str, dict[str, Any]] | None:
        if not accessor or "/" in accessor:
            return None
        index = self._view.get(ACCESSOR_PREFIX + accessor)
        if not isinstance(index, dict) or index.get("role") != role_name:
            return None
        return self._live(role_name, index["secret_id_hmac"])

    def _live(self, role_name: str, digest: str) -> tuple[str, dict[str, Any]] | None:
        record = self._view.get(self._path(role_name, digest))
        if record is None or _expired(record, time.time()):
            return None
        if self._view.get(ACCESSOR_PREFIX + record["secret_id_accessor"]) is None:
            return None  # an entry without its accessor is half-deleted: treat as gone (Vault)
        return digest, record

    def accessors(self, role_name: str) -> list[str]:
        found = []
        for digest in self._view.list(f"{SECRET_ID_PREFIX}{role_name}/"):
            record = self._view.get(self._path(role_name, digest))
            if record is not None:
                found.append(record["secret_id_accessor"])
        return found

    # -- redeem --------------------------------------------------------------------------

    def redeem(self, role: Role, secret_id: str, remote_addr: str) -> dict[str, Any]:
        """Spend one use of a secret ID for a login from remote_addr; returns its entry.

        Refusals raise LoginRejectedError; nothing is spent unless the login may proceed (the
        role's CIDRs are checked here too, after the secret ID, in Vault's order).
        """
        digest = self._digest(secret_id)
        if digest is None:
            raise LoginRejectedError(INVALID_CREDENTIALS)
        with self._mutex:
            now = time.time()
            path = self._path(role.name, digest)
            record = self._view.get(path)
            if record is None:
                raise LoginRejectedError(INVALID_CREDENTIALS)
            accessor_path = ACCESSOR_PREFIX + record["secret_id_accessor"]
            if _expired(record, now) or self._view.get(accessor_path) is None:
                self._view.transaction([BarrierDelete(path), BarrierDelete(accessor_path)])
                raise LoginRejectedError(INVALID_CREDENTIALS)
            cidrs = record["cidr_list"]
            if cidrs and not (fields.blocks_within(cidrs, role.secret_id_bound_cidrs)
                              and fields.address_in(remote_addr, cidrs)):
                raise LoginRejectedError(
                    f'source address "{remote_addr}" unauthorized by CIDR restrictions on the secret ID')
            check_role_address(role, remote_addr)
            uses = record["secret_id_num_uses"]
            if uses == 1:
                self._view.transaction([BarrierDelete(path), BarrierDelete(accessor_path)])
            elif uses > 1:
                record["secret_id_num_uses"] = uses - 1
                record["last_updated_time"] = now
                self._view.put(path, record)
            return record

    # -- destroy -------------------------------------------------------------------------

    def destroy(self, role_name: str, digest: str) -> None:
        with self._mutex:
            path = self._path(role_name, digest)
            record = self._view.get(path)
            if record is None:
                return
            self._view.transaction([BarrierDelete(path),
                                    BarrierDelete(ACCESSOR_PREFIX + record["secret_id_accessor"])])

    def purge_ops(self, role_name: str) -> list[BarrierDelete]:
        """The deletes that remove every secret ID of a role (with the role's own deletes)."""
        ops = []
        for digest in self._view.list(f"{SECRET_ID_PREFIX}{role_name}/"):
            path = self._path(role_name, digest)
            record = self._view.get(path)
            ops.append(BarrierDelete(path))
            if record is not None:
                ops.append(BarrierDelete(ACCESSOR_PREFIX + record["secret_id_accessor"]))
        return ops

    def tidy(self, now: float) -> int:
        """Remove expired secret IDs (logins refuse them anyway; this frees storage)."""
        doomed = 0
        for folder in self._view.list(SECRET_ID_PREFIX):
            role_name = folder.rstrip("/")
            for digest in self._view.list(f"{SECRET_ID_PREFIX}{folder}"):
                with self._mutex:
                    record = self._view.get(self._path(role_name, digest))
                    if record is not None and _expired(record, now):
                        self._view.transaction([BarrierDelete(self._path(role_name, digest)),
                                                BarrierDelete(ACCESSOR_PREFIX + record["secret_id_accessor"])])
                        doomed += 1
        return doomed
