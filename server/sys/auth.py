"""sys/auth: list, enable, disable and tune auth methods (the token method is always there)."""

from __future__ import annotations

import re

from server.core import Core
from server.errors import BadRequestError
from server.mounts import mount_path
from server.request import Request
from server.routing import Reply, logical, no_content
from server.sys import fields
from server.sys.mounts import tune_body


async def list_methods(core: Core, req: Request, m: re.Match) -> Reply:
    data = {e.path: e.to_api() for e in core.auth_mounts.entries()}
    return logical(req, data, top_level=True)


async def enable_method(core: Core, req: Request, m: re.Match) -> Reply:
    data = req.data
    config = data.get("config") or {}
    if not isinstance(config, dict):
        raise BadRequestError("config must be an object")
    core.mount_auth(mount_path(m["path"]), data.get("type"), description=fields.string(data, "description"),
                    options=data.get("options"), config=config, local=fields.boolean(data, "local"),
                    seal_wrap=fields.boolean(data, "seal_wrap"))
    return no_content()


async def disable_method(core: Core, req: Request, m: re.Match) -> Reply:
    core.unmount_auth(m["path"].strip("/") + "/")
    return no_content()


async def read_tune(core: Core, req: Request, m: re.Match) -> Reply:
    path = m["path"].strip("/") + "/"
    entry = core.auth_mounts.get(path)
    if entry is None:
        raise BadRequestError(f'cannot fetch sysview for path "auth/{path}"')
    return logical(req, tune_body(core, entry), top_level=True)


async def write_tune(core: Core, req: Request, m: re.Match) -> Reply:
    core.tune_auth(m["path"].strip("/") + "/", req.data)
    return no_content()
