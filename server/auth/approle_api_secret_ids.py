"""AppRole secret-id endpoints: generate (random or custom), list accessors, look up, destroy.

A generated secret ID appears once, in the generate response (which the pipeline can wrap
with X-Vault-Wrap-TTL); afterwards it is known by its accessor only.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from server.auth import approle_fields as fields
from server.auth.approle_api_roles import existing_role, role_name
from server.auth.approle_errors import AppRoleError, RoleNotFoundError
from server.auth.approle_roles import SECRET_CIDR_ERROR, Role, new_identifier
from server.auth.approle_secret_ids import lookup_body
from server.errors import NotFoundError
from server.request import Request
from server.routing import Reply, logical, no_content

if TYPE_CHECKING:
    from server.auth.approle import AppRoleEngine

TOKEN_CIDR_ERROR = "failed to validate token CIDR blocks: invalid CIDR address: {}"


def _go_list(values: list[str]) -> str:
    """A list as Go's %q prints a []string: ["a" "b"]."""
    return "[" + " ".join(f'"{v}"' for v in values) + "]"


def _subset(inner: list[str], outer: list[str]) -> None:
    if not fields.blocks_within(inner, outer):
        raise AppRoleError(f"failed to verify subset relationship between CIDR blocks on the role {_go_list(outer)} "
                           f"and CIDR blocks on the secret ID {_go_list(inner)}")


def _limits(engine: "AppRoleEngine", role: Role, data: dict[str, Any]) -> tuple[int, int]:
    """(num_uses, ttl) of a new secret ID: the role's, or tighter ones asked for."""
    num_uses = fields.integer(data, "num_uses")
    if num_uses is None:
        num_uses = role.secret_id_num_uses
    elif num_uses < 0:
        raise AppRoleError("num_uses cannot be negative")
    elif role.secret_id_num_uses and not 0 < num_uses <= role.secret_id_num_uses:
        raise AppRoleError("num_uses cannot be higher than the role's secret_id_num_uses")
    ttl = fields.duration(data, "ttl")
    if ttl is None:
        ttl = role.secret_id_ttl
    elif role.secret_id_ttl and not 0 < ttl <= role.secret_id_ttl:
        raise AppRoleError("ttl cannot be longer than the role's secret_id_ttl")
    return num_uses, min(ttl, engine.max_lease_ttl())  # Vault's deriveSecretIDTTL


async def _issue(engine: "AppRoleEngine", req: Request, match: re.Match, secret_id: str) -> Reply:
    role = existing_role(engine, match)
    if not role.bind_secret_id:
        raise AppRoleError("bind_secret_id is not set on the role")
    data = req.data
    cidr_list = fields.cidr_blocks(fields.comma_list(data, "cidr_list") or [], SECRET_CIDR_ERROR, bare_hosts=False)
    _subset(cidr_list, role.secret_id_bound_cidrs)
    token_cidrs = fields.cidr_blocks(fields.comma_list(data, "token_bound_cidrs") or [], TOKEN_CIDR_ERROR)
    _subset(token_cidrs, role.token.token_bound_cidrs)
    num_uses, ttl = _limits(engine, role, data)
    record = engine.secret_ids.issue(role, secret_id, num_uses=num_uses, ttl=ttl, metadata=fields.metadata(data),
                                     cidr_list=cidr_list, token_bound_cidrs=token_cidrs)
    return logical(req, {
        "secret_id": secret_id,
        "secret_id_accessor": record["secret_id_accessor"],
        "secret_id_num_uses": record["secret_id_num_uses"],
        "secret_id_ttl": record["secret_id_ttl"],
    })


async def generate(engine: "AppRoleEngine", req: Request, match: re.Match) -> Reply:
    return await _issue(engine, req, match, new_identifier())


async def custom(engine: "AppRoleEngine", req: Request, match: re.Match) -> Reply:
    return await _issue(engine, req, match, _required(req.data, "secret_id"))


def _role_for_lookup(engine: "AppRoleEngine", match: re.Match) -> Role:
    name = role_name(match)
    role = engine.roles.get(name)
    if role is None:
        raise RoleNotFoundError(name)
    return role


def _required(data: dict[str, Any], name: str) -> str:
    value = (fields.string(data, name) or "").strip()  # as login strips what it is sent
    if not value:
        raise AppRoleError(f"missing {name}")
    return value


async def list_accessors(engine: "AppRoleEngine", req: Request, match: re.Match) -> Reply:
    role = _role_for_lookup(engine, match)
    accessors = engine.secret_ids.accessors(role.name)
    if not accessors:
        raise NotFoundError()
    return logical(req, {"keys": accessors})


async def lookup(engine: "AppRoleEngine", req: Request, match: re.Match) -> Reply:
    secret_id = _required(req.data, "secret_id")
    found = engine.secret_ids.find(_role_for_lookup(engine, match).name, secret_id)
    return logical(req, lookup_body(found[1])) if found else no_content()


async def destroy(engine: "AppRoleEngine", req: Request, match: re.Match) -> Reply:
    secret_id = _required(req.data, "secret_id")
    role = _role_for_lookup(engine, match)
    found = engine.secret_ids.find(role.name, secret_id)
    if found is not None:
        engine.secret_ids.destroy(role.name, found[0])
    return no_content()


def _accessor_missing(accessor: str) -> str:
    return f'failed to find accessor entry for secret_id_accessor: "{accessor}"'


async def lookup_accessor(engine: "AppRoleEngine", req: Request, match: re.Match) -> Reply:
    accessor = _required(req.data, "secret_id_accessor")
    found = engine.secret_ids.find_by_accessor(_role_for_lookup(engine, match).name, accessor)
    if found is None:
        # Vault answers this one with a 404 whose body is a logical response carrying the error.
        reply = logical(req, {"error": _accessor_missing(accessor)})
        reply.status = 404
        return reply
    return logical(req, lookup_body(found[1]))


async def destroy_accessor(engine: "AppRoleEngine", req: Request, match: re.Match) -> Reply:
    accessor = _required(req.data, "secret_id_accessor")
    role = _role_for_lookup(engine, match)
    found = engine.secret_ids.find_by_accessor(role.name, accessor)
    if found is None:
        raise NotFoundError(_accessor_missing(accessor))
    engine.secret_ids.destroy(role.name, found[0])
    return no_content()
