"""AppRole roles: what a role holds, how a request's fields change it, and where it is stored.

Storage inside the mount's view: `role/<name>` holds the role (its role_id included, as
Vault keeps it, since role-id read must answer it), and `role_id/<HMAC(role_id)>` names the
role a presented role_id belongs to, so a login finds its role without the role_id ever
appearing in a storage path. Role names are lower-cased, as Vault's.
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass, field
from typing import Any

from seal.ops import BarrierDelete, BarrierPut
from seal.view import BarrierView
from server.auth import approle_fields as fields
from server.auth.approle_errors import AppRoleError
from server.auth.approle_hmac import MountHMAC
from server.auth.approle_token_params import TokenParams

ROLE_PREFIX = "role/"
ROLE_ID_PREFIX = "role_id/"
LEGACY_NAMES = ("policies", "period")  # older role fields Vault still answers
MAX_NAME_BYTES = 4096  # Vault's maxHmacInputLength: role names, role IDs and secret IDs
SECRET_CIDR_ERROR = "failed to validate CIDR blocks: invalid CIDR address: {}"


def new_identifier() -> str:
    """A role ID, secret ID or accessor: 128 random bits in Vault's UUID layout."""
    raw = secrets.token_hex(16)
    return f"{raw[:8]}-{raw[8:12]}-{raw[12:16]}-{raw[16:20]}-{raw[20:]}"


@dataclass
class Role:
    name: str
    role_id: str
    bind_secret_id: bool = True
    secret_id_bound_cidrs: list[str] = field(default_factory=list)
    secret_id_num_uses: int = 0
    secret_id_ttl: int = 0
    local_secret_ids: bool = False
    token: TokenParams = field(default_factory=TokenParams)

    def __repr__(self) -> str:  # the role_id is a credential
        return f"Role({self.name!r})"

    def to_record(self) -> dict[str, Any]:
        return {
            "role_id": self.role_id, "bind_secret_id": self.bind_secret_id,
            "secret_id_bound_cidrs": self.secret_id_bound_cidrs, "secret_id_num_uses": self.secret_id_num_uses,
            "secret_id_ttl": self.secret_id_ttl, "local_secret_ids": self.local_secret_ids,
            "token": self.token.to_record(),
        }

    @classmethod
    def from_record(cls, name: str, record: dict[str, Any]) -> "Role":
        values = dict(record)
        token = TokenParams.from_record(values.pop("token"))
        return cls(name=name, token=token, **values)

    def to_api(self) -> dict[str, Any]:
        """Vault's role read: secret_id_bound_cidrs is null when empty, token CIDRs []."""
        data = {
            "bind_secret_id": self.bind_secret_id,
            "local_secret_ids": self.local_secret_ids,
            "secret_id_bound_cidrs": list(self.secret_id_bound_cidrs) or None,
            "secret_id_num_uses": self.secret_id_num_uses,
            "secret_id_ttl": self.secret_id_ttl,
            **self.token.to_api(LEGACY_NAMES),
        }
        return dict(sorted(data.items()))


def apply_fields(role: Role, data: dict[str, Any], creating: bool, max_lease_ttl: int) -> list[str]:
    """Change role by the fields present in data (all defaults on create); returns warnings."""
    warnings = role.token.update(data, LEGACY_NAMES, max_lease_ttl)
    local = fields.boolean(data, "local_secret_ids")
    if local is not None:
        if not creating:
            raise AppRoleError("local_secret_ids can only be modified during role creation")
        role.local_secret_ids = local
    role_id = fields.string(data, "role_id")
    if role_id is not None:
        role.role_id = role_id.strip()
    if not role.role_id:
        raise AppRoleError("invalid role_id supplied, or failed to generate a role_id")
    if len(role.role_id.encode()) > MAX_NAME_BYTES:
        raise AppRoleError(f"role_id is longer than maximum of {MAX_NAME_BYTES} bytes")
    bind = fields.boolean(data, "bind_secret_id")
    if bind is not None:
        role.bind_secret_id = bind
    cidrs = fields.comma_list(data, "secret_id_bound_cidrs")
    if cidrs is None:
        cidrs = fields.comma_list(data, "bound_cidr_list")
    if cidrs is not None:
        role.secret_id_bound_cidrs = fields.cidr_blocks(cidrs, SECRET_CIDR_ERROR, bare_hosts=False)
    uses = fields.integer(data, "secret_id_num_uses")
    if uses is not None:
        if uses < 0:
            raise AppRoleError("secret_id_num_uses cannot be negative")
        role.secret_id_num_uses = uses
    ttl = fields.duration(data, "secret_id_ttl")
    if ttl is not None:
        role.secret_id_ttl = ttl
    if not (role.bind_secret_id or role.secret_id_bound_cidrs or role.token.token_bound_cidrs):
        raise AppRoleError("at least one constraint should be enabled on the role")
    return warnings


class RoleStore:
    """Roles and the role_id index, read and written through the mount's view."""

    def __init__(self, view: BarrierView, hmac: MountHMAC) -> None:
        self._view = view
        self._hmac = hmac
        self._mutex = threading.Lock()

    def get(self, name: str) -> Role | None:
        record = self._view.get(ROLE_PREFIX + name)
        return Role.from_record(name, record) if record is not None else None

    def names(self) -> list[str]:
        return sorted(n for n in self._view.list(ROLE_PREFIX) if not n.endswith("/"))

    def by_role_id(self, role_id: str) -> Role | None:
        if not role_id or len(role_id.encode()) > MAX_NAME_BYTES:
            return None
        name = self._view.get(ROLE_ID_PREFIX + self._hmac.digest(role_id))
        return self.get(name) if isinstance(name, str) else None

    def save(self, role: Role, previous_role_id: str = "") -> None:
        """Store role and its role_id index in one transaction; a role_id is one role's only."""
        with self._mutex:
            index = ROLE_ID_PREFIX + self._hmac.digest(role.role_id)
            owner = self._view.get(index)
            if owner is not None and owner != role.name:
                raise AppRoleError("role_id already in use")
            ops: list[BarrierPut | BarrierDelete] = [
                BarrierPut(ROLE_PREFIX + role.name, role.to_record()),
                BarrierPut(index, role.name),
            ]
            if previous_role_id and previous_role_id != role.role_id:
                ops.append(BarrierDelete(ROLE_ID_PREFIX + self._hmac.digest(previous_role_id)))
            self._view.transaction(ops)

    def delete_ops(self, role: Role) -> list[BarrierDelete]:
        """The deletes that remove a role and its index (run with its secret IDs' deletes)."""
        return [BarrierDelete(ROLE_PREFIX + role.name), BarrierDelete(ROLE_ID_PREFIX + self._hmac.digest(role.role_id))]
