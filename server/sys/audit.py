"""sys/audit, sys/audit/:path and sys/audit-hash/:path: the audit devices, Vault's shapes."""

from __future__ import annotations

import re

from server.core import Core
from server.errors import BadRequestError
from server.request import Request
from server.routing import Reply, logical, no_content
from server.sys import fields


def _path(m: re.Match) -> str:
    return m["path"].strip("/") + "/"


async def list_devices(core: Core, req: Request, m: re.Match) -> Reply:
    return logical(req, core.audit.list(), top_level=True)


async def enable_device(core: Core, req: Request, m: re.Match) -> Reply:
    data = req.data
    device_type = fields.string(data, "type")
    if not device_type:
        raise BadRequestError("type is required")
    options = data.get("options") or {}
    if not isinstance(options, dict):
        raise BadRequestError("options must be an object")
    await core.audit.enable(_path(m), device_type, fields.string(data, "description"), options,
                            fields.boolean(data, "local"))
    return no_content()


async def disable_device(core: Core, req: Request, m: re.Match) -> Reply:
    core.audit.disable(_path(m))
    return no_content()


async def audit_hash(core: Core, req: Request, m: re.Match) -> Reply:
    value = req.data.get("input")
    if not isinstance(value, str):
        raise BadRequestError("input must be a string")
    return logical(req, {"hash": core.audit.hash(_path(m), value)}, top_level=True)
