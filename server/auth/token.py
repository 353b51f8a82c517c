"""auth/token/*: Vault's token method — create, look up, renew and revoke tokens.

A child token never holds a policy its parent lacks (root aside); orphans, custom IDs and
periodic tokens need root or sudo. Tokens are never accepted in a URL path (they would end
up in access logs): lookup, renew and revoke take them in the body.
"""

from __future__ import annotations

import re
import time
from typing import Any

from server.core import Core
from server.errors import BadRequestError, PermissionDeniedError
from server.mounts import parse_ttl
from server.policy import normalise_name
from server.request import LIST, READ, UPDATE, Request
from server.routing import Reply, Router, logical, no_content
from server.sys import fields
from server.timefmt import rfc3339
from server.tokens import TokenEntry

MAX_META = 64


def _has_sudo(req: Request) -> bool:
    acl = req.acl
    return acl is not None and (acl.root or "sudo" in acl.capabilities(req.path))


def _meta(data: dict[str, Any]) -> dict[str, str]:
    meta = data.get("meta") or {}
    if not isinstance(meta, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in meta.items()):
        raise BadRequestError("meta must be a map of strings to strings")
    if len(meta) > MAX_META:
        raise BadRequestError(f"meta may hold at most {MAX_META} entries")
    return meta


def auth_block(token: str, entry: TokenEntry) -> dict[str, Any]:
    """Vault's `auth` object; lease_duration is the TTL just granted, not a second less."""
    block = {
        "client_token": token,
        "accessor": entry.accessor,
        "policies": entry.policies,
        "token_policies": entry.policies,
        "metadata": entry.meta or None,
        "lease_duration": max(0, round(entry.expire_time - time.time())) if entry.expire_time else 0,
        "renewable": entry.renewable,
        "entity_id": "",
        "token_type": "service",
        "orphan": not entry.parent,
        "mfa_requirement": None,
        "num_uses": entry.num_uses,
    }
    if not entry.policies:
        del block["token_policies"]  # Vault omits it when empty
    return block


def lookup_body(entry: TokenEntry, token_id: str = "") -> dict[str, Any]:
    body = {
        "accessor": entry.accessor,
        "creation_time": int(entry.creation_time),
        "creation_ttl": entry.creation_ttl,
        "display_name": entry.display_name,
        "entity_id": "",
        "expire_time": rfc3339(entry.expire_time) if entry.expire_time else None,
        "explicit_max_ttl": entry.explicit_max_ttl,
        "id": token_id,
        "issue_time": rfc3339(entry.creation_time),
        "meta": entry.meta or None,
        "num_uses": entry.num_uses,
        "orphan": not entry.parent,
        "path": entry.path,
        "policies": entry.policies,
        "renewable": entry.renewable,
        "ttl": entry.ttl(time.time()),
        "type": "service",
    }
    if entry.period:
        body["period"] = entry.period
    return body


def _requested_policies(req: Request, parent: TokenEntry) -> list[str]:
    """Vault's policy resolution for a new token, but only root may go beyond its own.

    With no policies asked for, the child inherits the parent's. Otherwise a non-root parent
    may only hand out policies it holds, and `default` is added only if the parent has it
    (Vault exempts sudo tokens too; strongroom does not). `root` alone stands for all.
    """
    requested = fields.string_list(req.data, "policies")
    no_default = fields.boolean(req.data, "no_default_policy")
    if requested is None:
        policies = set(parent.policies)
        add_default = False
    else:
        policies = {normalise_name(p) for p in requested} - {""}
        if parent.is_root:
            add_default = not no_default
        else:
            if not policies <= set(parent.policies):
                raise BadRequestError("child policies must be subset of parent")
            add_default = not no_default and "default" in parent.policies
    if "root" in policies:
        return ["root"]
    if add_default:
        policies.add("default")
    if no_default:
        policies.discard("default")
    return sorted(policies)


async def create(core: Core, req: Request, m: re.Match) -> Reply:
    data = req.data
    parent = req.token_entry
    if parent.num_uses:
        # Vault: a child would let a use-limited token escape its count.
        raise BadRequestError("restricted use token cannot generate child tokens")
    sudo = _has_sudo(req)
    orphan = m["kind"] == "create-orphan" or fields.boolean(data, "no_parent")
    if fields.boolean(data, "no_parent") and not sudo:
        raise BadRequestError("root or sudo privileges required to create orphan token")
    if fields.string(data, "type", "service") not in ("service", "default"):
        raise BadRequestError("only service tokens are supported")
    token_id = fields.string(data, "id") or None
    if token_id is not None and not sudo:
        raise BadRequestError("root or sudo privileges required to specify token id")
    if token_id is not None and (len(token_id) > 128 or not token_id.isprintable() or " " in token_id):
        raise BadRequestError("token id must be 1-128 printable characters without spaces")
    period = parse_ttl(data.get("period"), "period") or 0
    if period and not sudo:
        raise BadRequestError("root or sudo privileges required to create periodic token")
    num_uses = fields.integer(data, "num_uses", 0)
    if num_uses < 0:
        raise BadRequestError("number of uses cannot be negative")
    policies = _requested_policies(req, parent)
    token, entry = core.tokens.create(
        parent,
        policies=policies,
        ttl=parse_ttl(data.get("ttl"), "ttl") or 0,
        explicit_max_ttl=parse_ttl(data.get("explicit_max_ttl"), "explicit_max_ttl") or 0,
        period=period, num_uses=num_uses, renewable=fields.boolean(data, "renewable", True),
        display_name=fields.string(data, "display_name"), meta=_meta(data), orphan=orphan,
        path="auth/token/" + m["kind"], token_id=token_id,
    )
    missing = [f'Policy "{name}" does not exist' for name in policies
               if name != "root" and core.policies.get(name) is None]
    return logical(req, None, auth=auth_block(token, entry), warnings=missing or None)


def _token_field(req: Request) -> str:
    token = fields.string(req.data, "token")
    if not token:
        raise BadRequestError("missing token")
    return token


async def lookup(core: Core, req: Request, m: re.Match) -> Reply:
    token = fields.string(req.data, "token") or req.token or ""
    entry = core.tokens.lookup(token)
    if entry is None:
        raise PermissionDeniedError("bad token")
    return logical(req, lookup_body(entry, token))


async def lookup_self(core: Core, req: Request, m: re.Match) -> Reply:
    return logical(req, lookup_body(req.token_entry, req.token or ""))


def _by_accessor(core: Core, req: Request) -> TokenEntry:
    accessor = fields.string(req.data, "accessor")
    if not accessor:
        raise BadRequestError("missing accessor")
    entry = core.tokens.lookup_accessor(accessor)
    if entry is None:
        raise BadRequestError("invalid accessor")
    return entry


async def lookup_accessor(core: Core, req: Request, m: re.Match) -> Reply:
    return logical(req, lookup_body(_by_accessor(core, req)))


def _renewed(core: Core, req: Request, entry: TokenEntry, token: str) -> Reply:
    increment = parse_ttl(req.data.get("increment"), "increment") or 0
    entry = core.tokens.renew(entry, increment)
    return logical(req, None, auth=auth_block(token, entry))


async def renew(core: Core, req: Request, m: re.Match) -> Reply:
    token = _token_field(req)
    entry = core.tokens.lookup(token)
    if entry is None:
        raise BadRequestError("token not found")
    return _renewed(core, req, entry, token)


async def renew_self(core: Core, req: Request, m: re.Match) -> Reply:
    return _renewed(core, req, req.token_entry, req.token or "")


async def renew_accessor(core: Core, req: Request, m: re.Match) -> Reply:
    return _renewed(core, req, _by_accessor(core, req), "")


async def revoke(core: Core, req: Request, m: re.Match) -> Reply:
    entry = core.tokens.lookup(_token_field(req))
    if entry is not None:
        core.tokens.revoke(entry.digest)
    return no_content()


async def revoke_self(core: Core, req: Request, m: re.Match) -> Reply:
    core.tokens.revoke(req.token_entry.digest)
    return no_content()


async def revoke_orphan(core: Core, req: Request, m: re.Match) -> Reply:
    entry = core.tokens.lookup(_token_field(req))
    if entry is None:
        raise BadRequestError("token to revoke not found")
    core.tokens.revoke(entry.digest, orphan_children=True)
    return no_content()


async def revoke_accessor(core: Core, req: Request, m: re.Match) -> Reply:
    accessor = fields.string(req.data, "accessor")
    if not accessor:
        raise BadRequestError("missing accessor")
    entry = core.tokens.lookup_accessor(accessor)
    if entry is None:
        return logical(req, None, warnings=["No token found with this accessor"])
    core.tokens.revoke(entry.digest)
    return no_content()


async def list_accessors(core: Core, req: Request, m: re.Match) -> Reply:
    return logical(req, {"keys": core.tokens.accessors()})


def register(router: Router) -> None:
    router.add(r"auth/token/(?P<kind>create|create-orphan)", {UPDATE: create})
    router.add("auth/token/lookup", {UPDATE: lookup})
    router.add("auth/token/lookup-self", {READ: lookup_self, UPDATE: lookup_self})
    router.add("auth/token/lookup-accessor", {UPDATE: lookup_accessor})
    router.add("auth/token/renew", {UPDATE: renew})
    router.add("auth/token/renew-self", {UPDATE: renew_self})
    router.add("auth/token/renew-accessor", {UPDATE: renew_accessor})
    router.add("auth/token/revoke", {UPDATE: revoke})
    router.add("auth/token/revoke-self", {UPDATE: revoke_self})
    router.add("auth/token/revoke-orphan", {UPDATE: revoke_orphan}, sudo=True)
    router.add("auth/token/revoke-accessor", {UPDATE: revoke_accessor})
    router.add("auth/token/accessors/?", {LIST: list_accessors}, sudo=True)
