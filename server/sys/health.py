"""sys/health and sys/leader: what load balancers and `bao status` ask (raw bodies)."""

from __future__ import annotations

import re
import time

from seal.errors import SealedError
from server.core import VERSION, Core
from server.errors import BadRequestError
from server.request import Request
from server.routing import Reply
from server.timefmt import rfc3339

# Vault's defaults, each overridable by a query parameter of the same name.
DEFAULT_CODES = {
    "activecode": 200,
    "standbycode": 429,
    "drsecondarycode": 472,
    "performancestandbycode": 473,
    "sealedcode": 503,
    "uninitcode": 501,
}


def _code(query, name: str) -> int:
    text = query.get(name)
    if text is None:
        return DEFAULT_CODES[name]
    try:
        code = int(text)
    except ValueError:
        raise BadRequestError(f"{name} must be an integer") from None
    # Go's net/http panics outside 100-999 (OpenBao drops the connection); 1xx are not
    # final responses. Refuse both plainly.
    if not 200 <= code <= 599:
        raise BadRequestError(f"{name} must be an HTTP status code from 200 to 599")
    return code


def _flag(query, name: str) -> bool:
    text = query.get(name)
    if text is None or text == "":
        return False
    if text.lower() in ("true", "1"):
        return True
    if text.lower() in ("false", "0"):
        return False
    raise BadRequestError(f"{name} must be a boolean")


async def health(core: Core, req: Request, m: re.Match) -> Reply:
    codes = DEFAULT_CODES  # a load balancer's bare probe carries no query to read
    if req.query:
        codes = {name: _code(req.query, name) for name in DEFAULT_CODES}
        _flag(req.query, "standbyok")
        _flag(req.query, "perfstandbyok")
    initialized = core.seal.initialized
    sealed = core.seal.sealed
    body = {
        "initialized": initialized,
        "sealed": sealed,
        "standby": sealed,
        "performance_standby": False,
        "replication_performance_mode": "disabled",
        "replication_dr_mode": "disabled",
        "server_time_utc": int(time.time()),
        "version": VERSION,
    }
    if not sealed and core.cluster is not None:
        body["cluster_name"] = core.cluster.name
        body["cluster_id"] = core.cluster.id
    if not initialized:
        status = codes["uninitcode"]
    elif sealed:
        status = codes["sealedcode"]
    else:
        status = codes["activecode"]
    return Reply(status, body if status != 204 else None)


async def leader(core: Core, req: Request, m: re.Match) -> Reply:
    if core.seal.sealed:
        raise SealedError("strongroom is sealed")  # `bao status` expects exactly this error
    return Reply(200, {
        "ha_enabled": False,
        "is_self": False,
        "active_time": rfc3339(core.active_since) if core.active_since else "0001-01-01T00:00:00Z",
        "leader_address": core.settings.api_addr or "",
        "leader_cluster_address": "",
        "performance_standby": False,
        "performance_standby_last_remote_wal": 0,
    })
