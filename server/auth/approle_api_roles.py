"""AppRole role endpoints: role/ list, role/:name read/write/delete, role/:name/role-id."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from server.auth import approle_fields as fields
from server.auth.approle_errors import AppRoleError
from server.auth.approle_roles import MAX_NAME_BYTES, Role, apply_fields, new_identifier
from server.errors import NotFoundError
from server.request import Request
from server.routing import Reply, logical, no_content

if TYPE_CHECKING:
    from server.auth.approle import AppRoleEngine


def role_name(match: re.Match) -> str:
    """The role named in the path, lower-cased as Vault stores it."""
    name = match["name"].lower()
    if len(name.encode()) > MAX_NAME_BYTES:
        raise AppRoleError(f"role_name is longer than maximum of {MAX_NAME_BYTES} bytes")
    return name


def existing_role(engine: "AppRoleEngine", match: re.Match) -> Role:
    """The role named in the path, or a 404 naming it (Vault's answer on secret-id paths)."""
    name = role_name(match)
    role = engine.roles.get(name)
    if role is None:
        raise NotFoundError(f'role "{name}" does not exist')
    return role


async def list_roles(engine: "AppRoleEngine", req: Request, match: re.Match) -> Reply:
    names = engine.roles.names()
    if not names:
        raise NotFoundError()
    return logical(req, {"keys": names})


async def read_role(engine: "AppRoleEngine", req: Request, match: re.Match) -> Reply:
    role = engine.roles.get(role_name(match))
    if role is None:
        raise NotFoundError()
    return logical(req, role.to_api())


async def write_role(engine: "AppRoleEngine", req: Request, match: re.Match) -> Reply:
    """Create or update: only the fields sent change; a new role gets a random role_id."""
    name = role_name(match)
    role = engine.roles.get(name)
    creating = role is None
    if role is None:
        role = Role(name=name, role_id=new_identifier())
    previous_role_id = "" if creating else role.role_id
    warnings = apply_fields(role, req.data, creating, engine.max_lease_ttl())
    engine.roles.save(role, previous_role_id)
    return logical(req, None, warnings=warnings) if warnings else no_content()


async def delete_role(engine: "AppRoleEngine", req: Request, match: re.Match) -> Reply:
    """The role, its role_id index and every secret ID issued under it, in one transaction."""
    role = engine.roles.get(role_name(match))
    if role is not None:
        engine.view.transaction([*engine.secret_ids.purge_ops(role.name), *engine.roles.delete_ops(role)])
    return no_content()


async def read_role_id(engine: "AppRoleEngine", req: Request, match: re.Match) -> Reply:
    role = engine.roles.get(role_name(match))
    if role is None:
        raise NotFoundError()
    return logical(req, {"role_id": role.role_id})


async def write_role_id(engine: "AppRoleEngine", req: Request, match: re.Match) -> Reply:
    """Set a custom role_id (it must not belong to another role)."""
    role = existing_role(engine, match)
    role_id = (fields.string(req.data, "role_id") or "").strip()
    if not role_id:
        raise AppRoleError("missing role_id")
    if len(role_id.encode()) > MAX_NAME_BYTES:
        raise AppRoleError(f"role_id is longer than maximum of {MAX_NAME_BYTES} bytes")
    previous, role.role_id = role.role_id, role_id
    engine.roles.save(role, previous)
    return no_content()
