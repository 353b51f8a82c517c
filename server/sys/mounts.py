"""sys/mounts (list, enable, disable, tune) and sys/internal/ui/mounts, which `bao kv` asks
first to learn a mount's type and KV version."""

from __future__ import annotations

import re
from typing import Any

from server.core import Core
from server.errors import BadRequestError, PermissionDeniedError
from server.mounts import mount_path
from server.request import Request
from server.routing import Reply, logical, no_content
from server.sys import fields


async def list_mounts(core: Core, req: Request, m: re.Match) -> Reply:
    data = {e.path: e.to_api() for e in core.mounts.entries()}
    return logical(req, data, top_level=True)


async def read_mount(core: Core, req: Request, m: re.Match) -> Reply:
    path = m["path"].strip("/") + "/"
    entry = core.mounts.get(path)
    if entry is None:
        raise BadRequestError(f"No secret engine mount at {path}")
    return logical(req, entry.to_api(), top_level=True)


async def enable_mount(core: Core, req: Request, m: re.Match) -> Reply:
    data = req.data
    config = data.get("config")
    if config is None:
        config = {}
    if not isinstance(config, dict):
        raise BadRequestError("config must be an object")
    options = data.get("options")
    if options is None and isinstance(config.get("options"), dict):
        options = config["options"]
    core.mount(
        mount_path(m["path"]), data.get("type"),
        description=fields.string(data, "description"), options=options, config=config,
        local=fields.boolean(data, "local"), seal_wrap=fields.boolean(data, "seal_wrap"),
    )
    return no_content()


async def disable_mount(core: Core, req: Request, m: re.Match) -> Reply:
    core.unmount(m["path"].strip("/") + "/")
    return no_content()


def tune_body(core: Core, entry) -> dict[str, Any]:
    """The effective tuning: zero TTLs mean the server's defaults, shown as such."""
    body = {
        "default_lease_ttl": entry.default_lease_ttl or core.settings.default_lease_ttl,
        "max_lease_ttl": entry.max_lease_ttl or core.settings.max_lease_ttl,
        "force_no_cache": entry.force_no_cache,
        "description": entry.description,
    }
    if entry.options is not None:
        body["options"] = entry.options
    return body


async def read_tune(core: Core, req: Request, m: re.Match) -> Reply:
    path = m["path"].strip("/") + "/"
    entry = core.mounts.get(path)
    if entry is None:
        raise BadRequestError(f'cannot fetch sysview for path "{path}"')
    return logical(req, tune_body(core, entry), top_level=True)


async def write_tune(core: Core, req: Request, m: re.Match) -> Reply:
    core.tune(m["path"].strip("/") + "/", req.data)
    return no_content()


async def ui_mounts(core: Core, req: Request, m: re.Match) -> Reply:
    if req.token_entry is None:
        # Anonymous callers learn nothing, as Vault's filtered listing.
        return logical(req, {"auth": {}, "secret": {}})
    acl = req.acl
    secret = {e.path: e.to_api() for e in core.mounts.entries() if acl.grants_anything_under(e.path)}
    auth = {"token/": {"type": "token", "description": "token based credentials", "accessor": "auth_token",
                       "config": {"default_lease_ttl": 0, "max_lease_ttl": 0}, "options": None, "local": False,
                       "seal_wrap": False, "external_entropy_access": False}}
    return logical(req, {"auth": auth, "secret": secret})


async def ui_mount(core: Core, req: Request, m: re.Match) -> Reply:
    path = m["path"]
    entry = core.mounts.match(path)
    if entry is None or not req.acl.grants_anything_under(entry.path):
        raise PermissionDeniedError(
            f'preflight capability check returned 403, please ensure client\'s policies grant access to path "{path}/"'
        )
    return logical(req, {**entry.to_api(), "path": entry.path})
