"""KV version 2: versioned secrets with Vault's paths under the mount.

    config                 engine-wide max_versions, cas_required, delete_version_after
    data/<path>            read (latest or ?version=N), write (options.cas), patch, soft delete
    metadata/<path>        read, write, patch and delete a key's metadata; list keys
    detailed-metadata/     list keys with their metadata (OpenBao)
    delete/ undelete/ destroy/<path>   act on listed versions
    subkeys/<path>         a version's structure with the values removed

Anything else answers 404 with Vault's hint to use `bao kv`. The handlers live in
kv_v2_data, kv_v2_metadata and kv_v2_versions; storage in kv_store.
"""

from __future__ import annotations

import re
import threading

from seal.view import BarrierView
from server.engines.kv_engine import KVEngine
from server.engines.kv_errors import KVError
from server.engines.kv_store import VersionedStore
from server.engines.kv_v2_data import delete_latest, patch_data, read_data, read_subkeys, write_data
from server.engines.kv_v2_metadata import (
    delete_metadata,
    list_detailed_metadata,
    list_metadata,
    patch_metadata,
    read_config,
    read_metadata,
    write_config,
    write_metadata,
)
from server.engines.kv_v2_versions import delete_versions, destroy_versions, invalid_path, undelete_versions
from server.mounts import MountEntry
from server.request import DELETE, LIST, PATCH, READ, UPDATE, Request

_KEYED = re.compile(r"(?:data|metadata)/(?P<path>.*)")


class KVv2Engine(KVEngine):
    """Versioned KV; every change to a key commits in one barrier transaction."""

    def __init__(self, view: BarrierView, mount: MountEntry) -> None:
        super().__init__(view, mount)
        self.store = VersionedStore(view)
        # Handlers do not await between reading a key and committing it; the lock keeps that
        # read-modify-write whole should a handler ever run off the event loop.
        self.lock = threading.Lock()

    def exists(self, req: Request) -> bool | None:
        """For data/ and metadata/ writes: does the key have metadata? (Vault's check.)"""
        found = _KEYED.fullmatch(req.relative_path)
        if found is None:
            return None
        try:
            key = self.read_key(found["path"])
        except KVError:
            return None
        return None if key is None else self.store.exists(key)

    def close(self) -> None:
        self.store.close()


_ANY = {READ: invalid_path, LIST: invalid_path, UPDATE: invalid_path, DELETE: invalid_path, PATCH: invalid_path}

KVv2Engine.routes = [
    (r"config", {READ: read_config, UPDATE: write_config}),
    (r"data/(?P<path>.*)", {READ: read_data, UPDATE: write_data, PATCH: patch_data, DELETE: delete_latest}),
    (r"metadata/(?P<path>.*)", {READ: read_metadata, UPDATE: write_metadata, PATCH: patch_metadata,
                                DELETE: delete_metadata, LIST: list_metadata}),
    (r"detailed-metadata/(?P<path>.*)", {LIST: list_detailed_metadata}),
    (r"delete/(?P<path>.*)", {UPDATE: delete_versions}),
    (r"undelete/(?P<path>.*)", {UPDATE: undelete_versions}),
    (r"destroy/(?P<path>.*)", {UPDATE: destroy_versions}),
    (r"subkeys/(?P<path>.*)", {READ: read_subkeys}),
    (r".*", _ANY),
]
