"""sys/policy/*, sys/policies/acl/* and sys/capabilities*: ACL policies and what they grant."""

from __future__ import annotations

import re
from typing import Any

from server.core import Core
from server.errors import BadRequestError, NotFoundError
from server.request import Request
from server.routing import Reply, logical, no_content
from server.sys import fields


def _text(data: dict[str, Any]) -> str:
    text = data.get("policy", data.get("rules"))
    if not isinstance(text, str) or not text.strip():
        raise BadRequestError("'policy' parameter not supplied or empty")
    return text


async def list_policies(core: Core, req: Request, m: re.Match) -> Reply:
    names = core.policies.names()
    return logical(req, {"policies": names, "keys": names}, top_level=True)


async def list_acl(core: Core, req: Request, m: re.Match) -> Reply:
    return logical(req, {"keys": core.policies.names()})


def _read(core: Core, name: str) -> tuple[str, str]:
    policy = core.policies.get(name)
    if policy is None:
        raise NotFoundError()
    return policy.name, policy.text


async def read_policy(core: Core, req: Request, m: re.Match) -> Reply:
    name, text = _read(core, m["name"])
    return logical(req, {"name": name, "rules": text}, top_level=True)


async def read_acl(core: Core, req: Request, m: re.Match) -> Reply:
    name, text = _read(core, m["name"])
    return logical(req, {"name": name, "policy": text})


async def write_policy(core: Core, req: Request, m: re.Match) -> Reply:
    core.policies.put(m["name"], _text(req.data))
    return no_content()


async def delete_policy(core: Core, req: Request, m: re.Match) -> Reply:
    core.policies.delete(m["name"])
    return no_content()


def _paths(data: dict[str, Any]) -> list[str]:
    paths = fields.string_list(data, "paths") or ([fields.string(data, "path")] if data.get("path") else [])
    if not paths:
        raise BadRequestError("paths must be supplied")
    return [p.lstrip("/") for p in paths]


def _capabilities_reply(req: Request, acl, paths: list[str]) -> Reply:
    data: dict[str, Any] = {p: acl.capabilities(p) for p in paths}
    if len(paths) == 1:
        data["capabilities"] = data[paths[0]]  # Vault's field for old clients, one path only
    return logical(req, data, top_level=True)


async def capabilities_self(core: Core, req: Request, m: re.Match) -> Reply:
    return _capabilities_reply(req, req.acl, _paths(req.data))


async def capabilities(core: Core, req: Request, m: re.Match) -> Reply:
    entry = core.tokens.lookup(fields.string(req.data, "token"))
    if entry is None:
        raise BadRequestError("invalid token")
    return _capabilities_reply(req, core.policies.acl(entry.policies), _paths(req.data))


async def capabilities_accessor(core: Core, req: Request, m: re.Match) -> Reply:
    entry = core.tokens.lookup_accessor(fields.string(req.data, "accessor"))
    if entry is None:
        raise BadRequestError("invalid accessor")
    return _capabilities_reply(req, core.policies.acl(entry.policies), _paths(req.data))
