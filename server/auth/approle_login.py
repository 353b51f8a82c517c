"""AppRole login: role_id (+ secret_id) in, a token within the role's limits out.

The order of checks follows Vault's, except that every CIDR check runs before a secret ID
use is spent. A wrong role ID or secret ID answers "invalid role or secret ID" (400) whatever
was wrong; a right one from outside a CIDR bound answers which bound refused it, as Vault
does. Every refusal is counted and logged by the mount's LoginGuard and slows the next
attempts from the same client address.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from server.auth import approle_fields as fields
from server.auth.approle_errors import AppRoleError, LoginRejectedError
from server.auth.approle_secret_ids import INVALID_CREDENTIALS, check_role_address
from server.auth.token import auth_block
from server.request import Request
from server.routing import Reply, logical
from server.tokens import TokenEntry

if TYPE_CHECKING:
    from server.auth.approle import AppRoleEngine


async def login(engine: "AppRoleEngine", req: Request, match: re.Match) -> Reply:
    role_id = (fields.string(req.data, "role_id") or "").strip()
    if not role_id:
        raise AppRoleError("missing role_id")
    secret_id = (fields.string(req.data, "secret_id") or "").strip()
    async with engine.guard.attempt(req.remote_addr):
        try:
            token, entry = _authenticate(engine, req, role_id, secret_id)
        except LoginRejectedError:
            engine.guard.record_failure(req.remote_addr)
            raise
    return logical(req, None, auth=auth_block(token, entry))


def _authenticate(engine: "AppRoleEngine", req: Request, role_id: str, secret_id: str) -> tuple[str, TokenEntry]:
    address = req.remote_addr
    role = engine.roles.by_role_id(role_id)
    if role is None:
        raise LoginRejectedError(INVALID_CREDENTIALS)
    metadata: dict[str, str] = {}
    token_cidrs = None
    if role.bind_secret_id:
        if not secret_id:
            raise AppRoleError("missing secret_id")
        record = engine.secret_ids.redeem(role, secret_id, address)
        metadata = dict(record["metadata"])
        token_cidrs = record["token_bound_cidrs"] or None
    else:
        check_role_address(role, address)
    metadata["role_name"] = role.name
    return role.token.issue(engine.tokens, engine.mount, path=req.path, display_name=engine.display_name,
                            meta=metadata, remote_addr=address, bound_cidrs=token_cidrs)
