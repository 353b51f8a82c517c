"""userpass user endpoints: users/ list, users/:name read/write/delete, .../password, .../policies.

Hashing a password (Argon2id, ~20 MiB of memory) runs in a worker thread so the event loop
keeps serving; storage is read again after it, so a concurrent change is not overwritten
with stale settings.
"""

from __future__ import annotations

import asyncio
import re
from typing import TYPE_CHECKING, Any

from server.auth import approle_fields as fields
from server.auth.approle_token_params import TokenParams
from server.auth.userpass_errors import UserNotFoundError, UserpassError
from server.auth.userpass_password import hash_password
from server.auth.userpass_users import LEGACY_NAMES, User
from server.errors import NotFoundError
from server.request import Request
from server.routing import Reply, logical, no_content

if TYPE_CHECKING:
    from server.auth.userpass import UserpassEngine

MISSING_PASSWORD = "must provide either password or password_hash"
POLICY_FIELDS = ("token_policies", "policies")


def username(match: re.Match) -> str:
    return match["name"].lower()


def _new_password(data: dict[str, Any]) -> str | None:
    """The password sent, or None. Vault's password_hash (a bcrypt hash) is refused: strongroom
    keeps Argon2id hashes, and a hash computed elsewhere would bypass its parameters."""
    if fields.string(data, "password_hash"):
        raise UserpassError("password_hash is not supported: strongroom stores Argon2id hashes, send password")
    return fields.string(data, "password") or None


async def _hashed(password: str | None) -> dict[str, Any] | None:
    return await asyncio.to_thread(hash_password, password) if password else None


async def list_users(engine: "UserpassEngine", req: Request, match: re.Match) -> Reply:
    names = engine.users.names()
    if not names:
        raise NotFoundError()
    return logical(req, {"keys": names})


async def read_user(engine: "UserpassEngine", req: Request, match: re.Match) -> Reply:
    user = engine.users.get(username(match))
    if user is None:
        raise NotFoundError()
    return logical(req, user.to_api())


async def write_user(engine: "UserpassEngine", req: Request, match: re.Match) -> Reply:
    """Create (a password is required) or update (only the fields sent change)."""
    name = username(match)
    password = _new_password(req.data)
    current = engine.users.get(name)
    if password is None and current is None:
        raise UserpassError(MISSING_PASSWORD)
    # Validate the token fields before spending a hash on the request.
    (current.token if current else TokenParams()).update(req.data, LEGACY_NAMES, engine.max_lease_ttl())
    hashed = await _hashed(password)
    user = engine.users.get(name)
    if user is None:
        if hashed is None:
            raise UserpassError(MISSING_PASSWORD)  # deleted while we hashed
        user = User(name=name, password=hashed)
    elif hashed is not None:
        user.password = hashed
    warnings = user.token.update(req.data, LEGACY_NAMES, engine.max_lease_ttl())
    engine.users.put(user)
    return logical(req, None, warnings=warnings) if warnings else no_content()


async def delete_user(engine: "UserpassEngine", req: Request, match: re.Match) -> Reply:
    engine.users.delete(username(match))
    return no_content()


async def write_password(engine: "UserpassEngine", req: Request, match: re.Match) -> Reply:
    name = username(match)
    if engine.users.get(name) is None:
        raise UserNotFoundError()
    password = _new_password(req.data)
    if password is None:
        raise UserpassError(MISSING_PASSWORD)
    hashed = await _hashed(password)
    user = engine.users.get(name)
    if user is None:
        raise UserNotFoundError()
    user.password = hashed
    engine.users.put(user)
    return no_content()


async def write_policies(engine: "UserpassEngine", req: Request, match: re.Match) -> Reply:
    user = engine.users.get(username(match))
    if user is None:
        raise UserNotFoundError()
    sent = {k: req.data[k] for k in POLICY_FIELDS if k in req.data}
    user.token.update(sent, ("policies",), engine.max_lease_ttl())
    engine.users.put(user)
    return no_content()
