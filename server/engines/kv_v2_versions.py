"""KV v2 delete/, undelete/ and destroy/<path> on listed versions, and the catch-all 404.

Soft delete only stamps deletion_time; undelete clears it (or restarts the key's
delete_version_after clock). Destroy marks the version destroyed and removes its data from
storage in the same transaction: afterwards no entry holds it, not even as ciphertext.
Versions that do not exist, or are already in the wanted state, are skipped, as in Vault.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Callable

from server.engines.kv_engine import with_status
from server.engines.kv_fields import versions
from server.engines.kv_model import KeyMetadata, VersionMetadata
from server.errors import BadRequestError
from server.request import CREATE, DELETE, LIST, PATCH, READ, UPDATE, Request
from server.routing import Reply, logical, no_content

if TYPE_CHECKING:
    from server.engines.kv_v2 import KVv2Engine

ROOTS = ("data", "metadata", "delete", "undelete", "destroy")
ROOT_WARNING = "Non-listing operations on the root of a K/V v2 mount are not supported."
INVALID_WARNING = ("Invalid path for a versioned K/V secrets engine. See the API docs for the appropriate API "
                   "endpoints to use. If using the OpenBao CLI, use 'bao kv {}' for this operation.")
SUBCOMMANDS = {CREATE: "put", UPDATE: "put", PATCH: "patch", READ: "get", LIST: "list", DELETE: "delete"}


def _requested(req: Request, missing: str) -> list[int]:
    try:
        numbers = versions(req.data["versions"]) if req.data.get("versions") not in (None, "", []) else []
    except BadRequestError as exc:
        raise BadRequestError(*("Field validation failed: " + m for m in exc.messages)) from None
    if not numbers:
        raise BadRequestError(missing)
    return numbers


def _live(meta: KeyMetadata, numbers: list[int]) -> list[tuple[int, VersionMetadata]]:
    """The listed versions the key still has and that are not destroyed."""
    return [(n, meta.versions[n]) for n in dict.fromkeys(numbers) if n in meta.versions and not meta.versions[n].destroyed]


async def _act_on_versions(engine: "KVv2Engine", req: Request, match: re.Match, missing: str,
                           act: Callable[[KeyMetadata, list[tuple[int, VersionMetadata]]], list[int]]) -> Reply:
    """Apply act to the listed live versions and commit; act returns the versions whose data
    must leave storage in the same transaction."""
    key = engine.write_key(req, match["path"])
    numbers = _requested(req, missing)
    with engine.lock:
        meta = engine.store.metadata(key)
        if meta is not None:
            drop = act(meta, _live(meta, numbers))
            engine.store.commit(key, meta, drop=drop)
    return no_content()


async def delete_versions(engine: "KVv2Engine", req: Request, match: re.Match) -> Reply:
    now = engine.clock()

    def soft_delete(meta: KeyMetadata, live: list[tuple[int, VersionMetadata]]) -> list[int]:
        for _, version in live:
            if not version.deleted(now):
                version.deletion = now
        return []

    return await _act_on_versions(engine, req, match, "No version number provided", soft_delete)


async def undelete_versions(engine: "KVv2Engine", req: Request, match: re.Match) -> Reply:
    now = engine.clock()

    def undelete(meta: KeyMetadata, live: list[tuple[int, VersionMetadata]]) -> list[int]:
        config = engine.store.config()
        for _, version in live:
            version.deletion = meta.expiry(now, config)
        return []

    return await _act_on_versions(engine, req, match, "No version number provided", undelete)


async def destroy_versions(engine: "KVv2Engine", req: Request, match: re.Match) -> Reply:
    def destroy(meta: KeyMetadata, live: list[tuple[int, VersionMetadata]]) -> list[int]:
        for _, version in live:
            version.destroyed = True
        return [number for number, _ in live]

    return await _act_on_versions(engine, req, match, "no version number provided", destroy)  # lower case, as Vault


async def invalid_path(engine: "KVv2Engine", req: Request, match: re.Match) -> Reply:
    """Vault's 404 for a path outside the KV v2 API, with a hint at the right command."""
    if req.relative_path in ROOTS:
        warning = ROOT_WARNING
    else:
        warning = INVALID_WARNING.format(SUBCOMMANDS.get(req.operation, req.operation))
    return with_status(logical(req, None, warnings=[warning]), 404)
