"""KV v2 data/<path> (read, write, patch, soft-delete the latest) and subkeys/<path>.

A read of a deleted or destroyed version answers 404 with the version's metadata, as Vault
does, so clients can tell "deleted" from "never existed" (a bare {"errors": []}).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Callable

from server.engines.kv_engine import not_found, with_status
from server.engines.kv_errors import CheckAndSetError
from server.engines.kv_fields import ignored_warning, integer, mapping, query_value
from server.engines.kv_limits import decode
from server.engines.kv_merge import merge_patch, require_merge_patch
from server.engines.kv_model import EngineConfig, KeyMetadata
from server.errors import BadRequestError
from server.request import Request
from server.routing import Reply, logical, no_content

if TYPE_CHECKING:
    from server.engines.kv_v2 import KVv2Engine

DATA_FIELDS = ("data", "options", "version")
SUBKEYS_FIELDS = ("depth", "version")


def check_cas(options: dict[str, Any], config: EngineConfig, meta: KeyMetadata) -> None:
    """options.cas must equal the current version (0: the key must not exist yet); it is
    required when the mount or the key sets cas_required."""
    if "cas" in options:
        raw = options["cas"]
        try:
            cas = 0 if raw is None else integer(raw, "cas")
        except BadRequestError:
            raise CheckAndSetError("error parsing check-and-set parameter") from None
        if cas != meta.current_version:
            raise CheckAndSetError("check-and-set parameter did not match the current version")
    elif config.cas_required or meta.cas_required:
        raise CheckAndSetError("check-and-set parameter required for this call")


def _body_parts(req: Request, prefix: str = "") -> tuple[Any, dict[str, Any]]:
    """The data and options of a write or patch body."""
    if "data" not in req.data:
        raise BadRequestError("no data provided")
    try:
        data = mapping(req.data["data"], "data")
        options = mapping(req.data.get("options"), "options") or {}
    except BadRequestError as exc:
        raise BadRequestError(*(prefix + m for m in exc.messages)) from None
    return data, options


def _requested_version(req: Request, meta: KeyMetadata) -> int:
    raw = query_value(req.query, "version")
    number = integer(raw, "version") if raw else 0
    return number if number > 0 else meta.current_version


async def _read_version(engine: "KVv2Engine", req: Request, match: re.Match, field: str,
                        render: Callable[[Any], Any], warnings: list[str] | None) -> Reply:
    """A version's data (or what render makes of it) under `field`, with its metadata."""
    key = engine.read_key(match["path"])
    meta = engine.store.shared_metadata(key) if key is not None else None
    if meta is None:
        return not_found()
    number = _requested_version(req, meta)
    version = meta.versions.get(number)
    if version is None:
        return not_found()
    body: dict[str, Any] = {field: None, "metadata": meta.version_api(number)}
    if version.deleted(engine.clock()) or version.destroyed:
        return with_status(logical(req, body, warnings=warnings), 404)
    body[field] = render(decode(engine.store.version_data(key, number)))
    return logical(req, body, warnings=warnings)


async def read_data(engine: "KVv2Engine", req: Request, match: re.Match) -> Reply:
    warnings = ignored_warning(req.query.keys(), DATA_FIELDS)
    return await _read_version(engine, req, match, "data", lambda data: data, warnings)


async def write_data(engine: "KVv2Engine", req: Request, match: re.Match) -> Reply:
    key = engine.write_key(req, match["path"])
    data, options = _body_parts(req)
    encoded = engine.limits.encode(data)
    with engine.lock:
        now = engine.clock()
        config = engine.store.config()
        meta = engine.store.metadata(key) or KeyMetadata(created=now, updated=now)
        check_cas(options, config, meta)
        number, _, pruned = meta.add_version(now, config)
        engine.store.commit(key, meta, new=(number, encoded), drop=pruned)
    return logical(req, meta.version_api(number), warnings=ignored_warning(req.data, DATA_FIELDS))


async def patch_data(engine: "KVv2Engine", req: Request, match: re.Match) -> Reply:
    """Merge-patch the latest version into a new one; the key and its latest version must exist."""
    require_merge_patch(req.headers)
    key = engine.write_key(req, match["path"])
    patch, options = _body_parts(req, "Field validation failed: ")
    with engine.lock:
        meta = engine.store.metadata(key)
        if meta is None:
            return Reply(404)
        now = engine.clock()
        config = engine.store.config()
        check_cas(options, config, meta)
        latest = meta.versions.get(meta.current_version)
        if latest is None:
            return Reply(404)
        if latest.deleted(now) or latest.destroyed:
            return with_status(logical(req, meta.version_api(meta.current_version)), 404)
        current = decode(engine.store.version_data(key, meta.current_version))
        encoded = engine.limits.encode(merge_patch(current, patch))
        number, _, pruned = meta.add_version(now, config)
        engine.store.commit(key, meta, new=(number, encoded), drop=pruned)
    return logical(req, meta.version_api(number), warnings=ignored_warning(req.data, DATA_FIELDS))


async def delete_latest(engine: "KVv2Engine", req: Request, match: re.Match) -> Reply:
    """Soft-delete the latest version (undo with undelete/); a no-op if there is nothing live."""
    key = engine.read_key(match["path"])
    if key is None:
        return no_content()
    with engine.lock:
        meta = engine.store.metadata(key)
        latest = meta.versions.get(meta.current_version) if meta is not None else None
        now = engine.clock()
        if latest is not None and not latest.destroyed and not latest.deleted(now):
            latest.deletion = now
            engine.store.commit(key, meta)
    return no_content()


def strip_values(node: dict[str, Any], max_depth: int, depth: int = 1) -> dict[str, Any]:
    """Vault's subkeys: every leaf (a non-object or an empty object) becomes null; objects
    below max_depth (0: no limit) become null too, so no value is ever returned."""
    stripped: dict[str, Any] = {}
    for name, value in node.items():
        deeper = max_depth == 0 or depth + 1 <= max_depth
        stripped[name] = strip_values(value, max_depth, depth + 1) if isinstance(value, dict) and value and deeper else None
    return stripped


async def read_subkeys(engine: "KVv2Engine", req: Request, match: re.Match) -> Reply:
    warnings = ignored_warning(req.query.keys(), SUBKEYS_FIELDS)
    raw_depth = query_value(req.query, "depth")
    depth = integer(raw_depth, "depth") if raw_depth else 0
    if depth < 0:
        raise BadRequestError('error converting input for field "depth": must not be negative')

    def render(data: Any) -> Any:
        return strip_values(data, depth) if isinstance(data, dict) else None

    return await _read_version(engine, req, match, "subkeys", render, warnings)
