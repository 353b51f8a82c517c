"""The "kv" secrets engine type: KV version 1 or 2 by the mount's options["version"] ("1" if unset).

Vault's kv-v2 type alias is resolved by the mount table (server/mounts.py), which stores
type "kv" with options {"version": "2"}.
"""

from __future__ import annotations

from seal.view import BarrierView
from server.engines import register
from server.engines.kv_engine import KVEngine
from server.engines.kv_v1 import KVv1Engine
from server.engines.kv_v2 import KVv2Engine
from server.mounts import MountEntry


@register("kv")
def create_kv_engine(view: BarrierView, mount: MountEntry) -> KVEngine:
    version = (mount.options or {}).get("version", "1")
    return KVv2Engine(view, mount) if version == "2" else KVv1Engine(view, mount)
