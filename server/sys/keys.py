"""sys/rotate, sys/rotate/keyring and sys/key-status: the barrier's keyring terms."""

from __future__ import annotations

import re

from server.core import Core
from server.request import Request
from server.routing import Reply, logical, no_content
from server.timefmt import rfc3339


async def rotate(core: Core, req: Request, m: re.Match) -> Reply:
    core.seal.rotate()
    return no_content()


async def key_status(core: Core, req: Request, m: re.Match) -> Reply:
    status = core.seal.key_status()
    data = {"term": status.term, "install_time": rfc3339(status.install_time), "encryptions": status.encryptions}
    return logical(req, data, top_level=True)
