"""sys/wrapping/{wrap,unwrap,lookup,rewrap}: Vault's response-wrapping endpoints."""

from __future__ import annotations

import re

from server import wrapping
from server.core import Core
from server.errors import BadRequestError, PermissionDeniedError
from server.request import UPDATE, Request
from server.routing import Reply, logical, raw
from server.sys import fields


async def wrap(core: Core, req: Request, m: re.Match) -> Reply:
    if not req.data:
        raise BadRequestError("empty request body")
    body = logical(req, dict(req.data)).body
    ttl = req.wrap_ttl or wrapping.DEFAULT_WRAP_TTL
    req.wrap_ttl = None  # wrapped here; the pipeline must not wrap the wrap
    return wrapping.wrap(core, req, body, ttl, "sys/wrapping/wrap")


def _wrapping_token(core: Core, req: Request) -> str:
    """The token in the body (the caller must then be allowed here), else the header token."""
    token = fields.string(req.data, "token")
    if not token:
        if not req.token:
            raise BadRequestError("no wrapping token given")
        return req.token
    caller = core.tokens.lookup(req.token)
    if caller is None or not caller.usable_from(req.remote_addr):
        raise PermissionDeniedError()
    acl = core.policies.acl(caller.policies)
    if not acl.root and acl.allows(req.path, UPDATE) is None:
        raise PermissionDeniedError()
    core.tokens.consume(caller)
    return token


async def unwrap(core: Core, req: Request, m: re.Match) -> Reply:
    body = wrapping.unwrap(core, _wrapping_token(core, req))
    return raw(body)


async def lookup(core: Core, req: Request, m: re.Match) -> Reply:
    token = fields.string(req.data, "token") or req.token
    if not token:
        raise BadRequestError("no wrapping token given")
    return logical(req, wrapping.lookup(core, token))


async def rewrap(core: Core, req: Request, m: re.Match) -> Reply:
    token = fields.string(req.data, "token")
    if not token:
        raise BadRequestError("no wrapping token given")
    req.wrap_ttl = None
    return wrapping.rewrap(core, req, token)
