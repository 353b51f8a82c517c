"""KV v2 metadata/<path> (read, write, patch, delete, list), detailed-metadata/, and config.

A metadata write may create a key with no versions. Every metadata write or patch bumps
current_metadata_version and, when the mount or key requires it, must carry the matching
metadata_cas (OpenBao's metadata check-and-set). Deleting metadata removes the key and the
data of every version in one transaction.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Callable

from server.engines import kv_custom_metadata
from server.engines.kv_engine import list_reply, not_found
from server.engines.kv_errors import CheckAndSetError
from server.engines.kv_fields import boolean, count, duration, ignored_warning, integer, query_value
from server.engines.kv_merge import merge_patch, require_merge_patch
from server.engines.kv_model import EXPIRY_DISABLED, EngineConfig, KeyMetadata
from server.errors import BadRequestError
from server.request import Request
from server.routing import Reply, logical, no_content

if TYPE_CHECKING:
    from server.engines.kv_v2 import KVv2Engine

CAS_IGNORED = '"cas_required" set to false, but is mandated by backend config. This value will be ignored.'
METADATA_FIELDS = ("max_versions", "cas_required", "delete_version_after", "custom_metadata",
                   "metadata_cas_required", "metadata_cas", "after", "limit")

# The settings a metadata write or patch may change, each with its parser and its value for null.
_SETTINGS: dict[str, tuple[Callable[[Any, str], Any], Any]] = {
    "max_versions": (count, 0),
    "cas_required": (boolean, False),
    "delete_version_after": (duration, 0),
    "metadata_cas_required": (boolean, False),
}


def _settings(data: dict[str, Any], *, patch: bool) -> dict[str, Any]:
    """The settings the body names, parsed; custom_metadata decoded (nulls kept for a patch)."""
    prefix = "Field validation failed: " if patch else ""
    found: dict[str, Any] = {}
    for name, (parse, zero) in _SETTINGS.items():
        if name in data:
            try:
                found[name] = zero if data[name] is None else parse(data[name], name)
            except BadRequestError as exc:
                raise BadRequestError(*(prefix + m for m in exc.messages)) from None
    if "custom_metadata" in data:
        raw = data["custom_metadata"]
        decoded = None if raw is None else kv_custom_metadata.decode(raw, keep_nulls=patch)
        if decoded is not None:
            kv_custom_metadata.validate({k: v for k, v in decoded.items() if v is not None})
        found["custom_metadata"] = decoded
    return found


def _metadata_cas(data: dict[str, Any]) -> int | None:
    raw = data.get("metadata_cas")
    return None if raw is None else integer(raw, "metadata_cas")


def check_metadata_cas(cas: int | None, config: EngineConfig, meta: KeyMetadata | None) -> None:
    if cas is None:
        if config.metadata_cas_required or (meta is not None and meta.metadata_cas_required):
            raise CheckAndSetError("metadata check-and-set parameter required for this call")
        return
    if meta is None and cas != 0:
        raise CheckAndSetError("metadata_cas must be 0 when creating new metadata")
    if meta is not None and cas != meta.metadata_version:
        raise CheckAndSetError("metadata check-and-set parameter does not match the current version")


def _reply(req: Request, settings: dict[str, Any], config: EngineConfig) -> Reply:
    """204, or 200 with Vault's warning that cas_required=false was ignored (then unknown
    parameters are named too; Vault attaches those only to a response it sends anyway)."""
    if settings.get("cas_required") is False and config.cas_required:
        return logical(req, None, warnings=[CAS_IGNORED, *(ignored_warning(req.data, METADATA_FIELDS) or [])])
    return no_content()


def _commit_settings(engine: "KVv2Engine", key: str, meta: KeyMetadata, settings: dict[str, Any], now: int) -> None:
    for name, value in settings.items():
        setattr(meta, name, (value or None) if name == "custom_metadata" else value)
    meta.metadata_version += 1
    meta.updated = now
    engine.store.commit(key, meta)


async def read_metadata(engine: "KVv2Engine", req: Request, match: re.Match) -> Reply:
    key = engine.read_key(match["path"])
    meta = engine.store.shared_metadata(key) if key is not None else None
    return logical(req, meta.to_api()) if meta is not None else not_found()


async def write_metadata(engine: "KVv2Engine", req: Request, match: re.Match) -> Reply:
    key = engine.write_key(req, match["path"])
    settings = _settings(req.data, patch=False)
    cas = _metadata_cas(req.data)
    if not settings:
        return no_content()  # Vault: nothing to change, nothing written (not even a new key)
    with engine.lock:
        now = engine.clock()
        config = engine.store.config()
        meta = engine.store.metadata(key)
        check_metadata_cas(cas, config, meta)
        _commit_settings(engine, key, meta or KeyMetadata(created=now, updated=now), settings, now)
    return _reply(req, settings, config)


async def patch_metadata(engine: "KVv2Engine", req: Request, match: re.Match) -> Reply:
    """Merge-patch a key's settings: null resets a setting, and removes a custom_metadata entry."""
    require_merge_patch(req.headers)
    key = engine.write_key(req, match["path"])
    settings = _settings(req.data, patch=True)
    cas = _metadata_cas(req.data)
    with engine.lock:
        meta = engine.store.metadata(key)
        if meta is None:
            return Reply(404)
        config = engine.store.config()
        check_metadata_cas(cas, config, meta)
        if settings.get("custom_metadata") is not None:
            merged = merge_patch(meta.custom_metadata or {}, settings["custom_metadata"])
            settings["custom_metadata"] = kv_custom_metadata.validate(merged)
        _commit_settings(engine, key, meta, settings, engine.clock())
    return _reply(req, settings, config)


async def delete_metadata(engine: "KVv2Engine", req: Request, match: re.Match) -> Reply:
    """Remove the key: its metadata and the data of every version it still holds."""
    key = engine.read_key(match["path"])
    if key is not None:
        with engine.lock:
            meta = engine.store.metadata(key)
            if meta is not None:
                engine.store.remove(key, meta)
    return no_content()


def _listing(engine: "KVv2Engine", req: Request, folder: str) -> list[str]:
    """The names in a folder, after the `after` name and at most `limit` of them (OpenBao)."""
    keys = engine.store.list(engine.limits.check_folder(folder))
    after = query_value(req.query, "after")
    raw_limit = query_value(req.query, "limit")
    limit = integer(raw_limit, "limit") if raw_limit else 0
    if after:
        keys = [k for k in keys if k > after]
    return keys[:limit] if limit > 0 else keys


async def list_metadata(engine: "KVv2Engine", req: Request, match: re.Match) -> Reply:
    return list_reply(req, _listing(engine, req, match["path"]))


async def list_detailed_metadata(engine: "KVv2Engine", req: Request, match: re.Match) -> Reply:
    folder = engine.limits.check_folder(match["path"])
    keys = _listing(engine, req, folder)
    if not keys:
        return not_found()
    info: dict[str, Any] = {}
    for name in keys:
        meta = None if name.endswith("/") else engine.store.shared_metadata(folder + name)
        info[name] = meta.to_api() if meta is not None else {}  # a folder shows as {}, as OpenBao
    return logical(req, {"keys": keys, "key_info": info})


async def read_config(engine: "KVv2Engine", req: Request, match: re.Match) -> Reply:
    return logical(req, engine.store.config().to_api())


async def write_config(engine: "KVv2Engine", req: Request, match: re.Match) -> Reply:
    """max_versions, cas_required, metadata_cas_required, delete_version_after (a negative
    duration disables expiry for every key, 0 clears the setting)."""
    data = req.data
    parsers: dict[str, Callable[[Any, str], Any]] = {
        "max_versions": count, "cas_required": boolean, "metadata_cas_required": boolean,
        "delete_version_after": lambda value, name: duration(value, name, signed=True),
    }
    try:
        changes = {name: parse(data[name], name) for name, parse in parsers.items() if name in data}
    except BadRequestError as exc:
        raise BadRequestError(*("Field validation failed: " + m for m in exc.messages)) from None
    if not changes:
        return no_content()
    if changes.get("delete_version_after", 0) < 0:
        changes["delete_version_after"] = EXPIRY_DISABLED
    with engine.lock:
        config = engine.store.config()
        for name, value in changes.items():
            setattr(config, name, value)
        engine.store.save_config(config)
    return no_content()
