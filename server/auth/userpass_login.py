"""userpass login: a password in, a token within the user's limits out.

Every login runs Argon2id exactly once, against the user's hash or, for an unknown user,
against a dummy hash with the same parameters, so the time taken does not tell whether the
user exists; the tags are compared with hmac.compare_digest. Refusals answer Vault's
"invalid username or password" (400) whatever was wrong, a login from outside the user's
token_bound_cidrs answers 403 as Vault does; both are counted and slow the next attempts
from that address (approle_login_guard.py).
"""

from __future__ import annotations

import asyncio
import re
from typing import TYPE_CHECKING

from server.auth import approle_fields as fields
from server.auth.approle_errors import LoginRejectedError
from server.auth.token import auth_block
from server.auth.userpass_api import username
from server.auth.userpass_errors import UserpassError
from server.auth.userpass_password import hash_password, needs_rehash, verify_password
from server.errors import PermissionDeniedError
from server.request import Request
from server.routing import Reply, logical

if TYPE_CHECKING:
    from server.auth.userpass import UserpassEngine

INVALID_CREDENTIALS = "invalid username or password"


async def login(engine: "UserpassEngine", req: Request, match: re.Match) -> Reply:
    name = username(match)
    password = fields.string(req.data, "password") or ""
    if not password:
        raise UserpassError("missing password")
    address = req.remote_addr
    async with engine.guard.attempt(address):
        user = engine.users.get(name)
        record = user.password if user is not None else engine.dummy_hash
        matched = await asyncio.to_thread(verify_password, password, record)
        current = engine.users.get(name)  # the user may have changed while the hash ran
        if not matched or user is None or current is None or current.password != record:
            engine.guard.record_failure(address)
            raise LoginRejectedError(INVALID_CREDENTIALS)
        cidrs = current.token.token_bound_cidrs
        if cidrs and not fields.address_in(address, cidrs):
            engine.guard.record_failure(address)
            raise PermissionDeniedError()
    if needs_rehash(record):
        await _rehash(engine, name, password, record)
    token, entry = current.token.issue(
        engine.tokens, engine.mount, path=req.path, display_name=f"{engine.display_name}-{name}",
        meta={"username": name}, remote_addr=address,
    )
    return logical(req, None, auth=auth_block(token, entry))


async def _rehash(engine: "UserpassEngine", name: str, password: str, old: dict) -> None:
    """Store the password again under the current parameters (only if it did not change)."""
    fresh = await asyncio.to_thread(hash_password, password)
    user = engine.users.get(name)
    if user is not None and user.password == old:
        user.password = fresh
        engine.users.put(user)
