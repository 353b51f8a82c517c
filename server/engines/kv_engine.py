"""What KV v1 and v2 share: Vault's list-path convention, key checks, the clock and replies.

A KV engine answers only through its routes; this base adds the rules both versions apply
to a secret's path before any storage key is built from it.
"""

from __future__ import annotations

import time
from typing import Callable

from seal.view import BarrierView
from server.engines.base import Engine
from server.engines.kv_errors import KeyPathError
from server.engines.kv_limits import TRAILING_SLASH, KVLimits
from server.mounts import MountEntry
from server.request import LIST, Request
from server.routing import Reply, logical

class KVEngine(Engine):
    def __init__(self, view: BarrierView, mount: MountEntry) -> None:
        super().__init__(view, mount)
        self.limits = KVLimits()
        self.clock: Callable[[], int] = time.time_ns  # tests move time through this

    async def handle(self, req: Request) -> Reply:
        # Vault lists folders: `LIST secret/metadata/a` is `secret/metadata/a/`.
        if req.operation == LIST and req.relative_path and not req.relative_path.endswith("/"):
            req.relative_path += "/"
        return await super().handle(req)

    def write_key(self, req: Request, key: str) -> str:
        """The secret path a write names; Vault refuses any write whose path ends in '/'."""
        if req.path.endswith("/"):
            raise KeyPathError(TRAILING_SLASH)
        return self.limits.check_key(key)

    def read_key(self, key: str) -> str | None:
        """The secret path a read names, or None where no secret can be (Vault: a 404)."""
        if not key or key.endswith("/"):
            return None
        return self.limits.check_key(key)


def not_found() -> Reply:
    """Vault's 404 for a missing secret or an empty listing."""
    return Reply(404, {"errors": []})


def with_status(reply: Reply, status: int) -> Reply:
    """reply with another status (Vault answers some 404s with a full response body)."""
    reply.status = status
    return reply


def list_reply(req: Request, keys: list[str]) -> Reply:
    return logical(req, {"keys": keys}) if keys else not_found()
