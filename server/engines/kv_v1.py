"""KV version 1: one unversioned JSON object per path (Vault's "passthrough" backend).

Each secret is stored at data/<path> in the mount's view as compact JSON bytes. A read
reports the secret's "ttl" (or "lease") field as lease_duration, as Vault does, so that
consumers know when to read again; nothing is revoked when it passes.
"""

from __future__ import annotations

import re

from config.units import InvalidDurationError, parse_duration
from server.engines.kv_engine import KVEngine, list_reply, not_found
from server.engines.kv_errors import KVError
from server.engines.kv_limits import decode
from server.errors import BadRequestError
from server.mounts import SYSTEM_DEFAULT_TTL
from server.request import DELETE, LIST, READ, UPDATE, Request
from server.routing import Reply, logical, no_content

DATA_PREFIX = "data/"


class KVv1Engine(KVEngine):
    """Read, write, delete and list whole secrets."""

    def exists(self, req: Request) -> bool | None:
        try:
            key = self.read_key(req.relative_path)
        except KVError:
            return None
        return None if key is None else self.view.get(DATA_PREFIX + key) is not None

    def lease_duration(self, data: dict) -> int:
        """The secret's ttl/lease field in seconds, else the mount's default TTL."""
        default = self.mount.default_lease_ttl or SYSTEM_DEFAULT_TTL
        raw = data["ttl"] if "ttl" in data else data.get("lease")
        if raw is None or isinstance(raw, bool):
            return default
        try:
            return parse_duration(raw)
        except InvalidDurationError:
            return default  # Vault ignores a ttl it cannot parse


async def read_secret(engine: KVv1Engine, req: Request, match: re.Match) -> Reply:
    key = engine.read_key(match["path"])
    stored = engine.view.get(DATA_PREFIX + key) if key is not None else None
    if stored is None:
        return not_found()
    data = decode(stored)
    reply = logical(req, data)
    reply.body["lease_duration"] = engine.lease_duration(data)
    return reply


async def write_secret(engine: KVv1Engine, req: Request, match: re.Match) -> Reply:
    key = engine.write_key(req, match["path"])
    if not req.data:
        raise BadRequestError("missing data fields")
    engine.view.put(DATA_PREFIX + key, engine.limits.encode(req.data))
    return no_content()


async def delete_secret(engine: KVv1Engine, req: Request, match: re.Match) -> Reply:
    key = engine.read_key(match["path"])
    if key is not None:
        engine.view.delete(DATA_PREFIX + key)
    return no_content()


async def list_secrets(engine: KVv1Engine, req: Request, match: re.Match) -> Reply:
    folder = engine.limits.check_folder(match["path"])
    return list_reply(req, engine.view.list(DATA_PREFIX + folder))


KVv1Engine.routes = [
    (r"(?P<path>.*)", {READ: read_secret, UPDATE: write_secret, DELETE: delete_secret, LIST: list_secrets}),
]
