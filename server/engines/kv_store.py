"""Where KV v2 keeps its records inside the mount's barrier view, and how writes commit.

Layout (paths relative to the mount's prefix; the three never overlap):

    config                        the engine config (EngineConfig)
    meta/<secret path>            one key's metadata (KeyMetadata); list() walks these
    versions/<sha256(path)>/<n>   version n's data, compact JSON bytes

Version entries are named by the SHA-256 of the secret's path, so their storage key has a
fixed length however deep the path, and no secret's versions can share a key with another
secret's (a path "a" and a path "a/1" stay apart). Every change to a key — new version,
pruning, destroy, delete — is one view.transaction, so metadata and data never disagree.

Keys read are kept decoded in a KeyCache (kv_cache.py), which every change here keeps exact.
"""

from __future__ import annotations

import hashlib
from typing import Iterable

from seal.ops import BarrierDelete, BarrierPut
from seal.view import BarrierView
from server.engines.kv_cache import KeyCache, KeyEntry
from server.engines.kv_errors import MissingVersionDataError
from server.engines.kv_model import EngineConfig, KeyMetadata

CONFIG_PATH = "config"
META_PREFIX = "meta/"
VERSIONS_PREFIX = "versions/"


def meta_key(path: str) -> str:
    return META_PREFIX + path


def version_key(path: str, number: int) -> str:
    return f"{VERSIONS_PREFIX}{hashlib.sha256(path.encode('utf-8')).hexdigest()}/{number}"


class VersionedStore:
    """KV v2's storage on one view; the engine config and the keys read are cached until close()."""

    def __init__(self, view: BarrierView) -> None:
        self._view = view
        self._config: EngineConfig | None = None
        self._keys = KeyCache()

    def config(self) -> EngineConfig:
        if self._config is None:
            self._config = EngineConfig.from_record(self._view.get(CONFIG_PATH))
        return EngineConfig(**self._config.to_record())  # a copy: callers may change it

    def save_config(self, config: EngineConfig) -> None:
        self._view.put(CONFIG_PATH, config.to_record())
        self._config = EngineConfig(**config.to_record())

    def metadata(self, path: str) -> KeyMetadata | None:
        """A key's metadata for the caller to change and commit; None if there is no such key."""
        record = self._key(path).record
        return KeyMetadata.from_record(record) if record is not None else None

    def shared_metadata(self, path: str) -> KeyMetadata | None:
        """A key's metadata as every reader sees it, for a reply only: never change it."""
        return self._key(path).meta

    def exists(self, path: str) -> bool:
        return self._key(path).record is not None

    def version_data(self, path: str, number: int) -> bytes:
        """The stored JSON of a version the metadata says is live."""
        entry = self._key(path)
        data = entry.versions.get(number)
        if data is None:
            writes = self._keys.writes
            data = self._view.get(version_key(path, number))
            if not isinstance(data, bytes):
                raise MissingVersionDataError("could not find version data")
            self._keys.keep_version(path, entry, number, data, writes)
        return data

    def _key(self, path: str) -> KeyEntry:
        """The key's cache entry, read from storage when there is none under the barrier's stamp."""
        stamp = self._view.stamp()
        entry = self._keys.get(path, stamp)
        if entry is None:
            writes = self._keys.writes
            entry = KeyEntry(stamp, self._view.get(meta_key(path)))
            self._keys.keep(path, entry, writes)
        return entry

    def commit(self, path: str, meta: KeyMetadata, *, new: tuple[int, bytes] | None = None,
               drop: Iterable[int] = ()) -> None:
        """Write meta, and optionally a new version's data, and remove dropped versions' data,
        in one transaction."""
        ops: list[BarrierPut | BarrierDelete] = []
        if new is not None:
            ops.append(BarrierPut(version_key(path, new[0]), new[1]))
        ops.append(BarrierPut(meta_key(path), meta.to_record()))
        ops.extend(BarrierDelete(version_key(path, n)) for n in drop)
        self._transaction(path, ops)

    def remove(self, path: str, meta: KeyMetadata) -> None:
        """Delete the key's metadata and every version's data, in one transaction."""
        ops: list[BarrierPut | BarrierDelete] = [BarrierDelete(version_key(path, n)) for n in meta.versions]
        ops.append(BarrierDelete(meta_key(path)))
        self._transaction(path, ops)

    def _transaction(self, path: str, ops: list[BarrierPut | BarrierDelete]) -> None:
        """Apply one key's ops; its cache entry goes once they are in storage (or failed)."""
        try:
            self._view.transaction(ops)
        finally:
            self._keys.forget(path)

    def list(self, folder: str) -> list[str]:
        """The names under folder ('' or ending in '/'): keys, and sub-folders ending in '/'."""
        return self._view.list(META_PREFIX + folder)

    def close(self) -> None:
        self._config = None
        self._keys.clear()
