"""Secrets engines: what answers under a mount. Each sees only its own barrier view.

An engine type registers a factory in ENGINE_TYPES; the core makes one engine per mount
when the barrier opens (or the mount is made) and closes it on seal or unmount.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:  # kept light: server/errors.py imports engine error modules from here
    from seal.view import BarrierView
    from server.engines.base import Engine
    from server.mounts import MountEntry

EngineFactory = Callable[["BarrierView", "MountEntry"], "Engine"]
ENGINE_TYPES: dict[str, EngineFactory] = {}


def register(mount_type: str) -> Callable[[EngineFactory], EngineFactory]:
    def decorate(factory: EngineFactory) -> EngineFactory:
        ENGINE_TYPES[mount_type] = factory
        return factory

    return decorate


def create_engine(view: "BarrierView", mount: "MountEntry") -> "Engine | None":
    """The engine for a mount, or None when strongroom has no engine of that type yet."""
    _load_engine(mount.type)
    factory = ENGINE_TYPES.get(mount.type)
    return factory(view, mount) if factory is not None else None


# Mount type -> the module that registers its engine (secrets engines and auth methods).
BUILTIN_ENGINES = {
    "kv": "server.engines.kv",
    "transit": "server.engines.transit",
    "cubbyhole": "server.engines.cubbyhole",
    "approle": "server.auth.approle",
    "userpass": "server.auth.userpass",
}


def _load_engine(mount_type: str) -> None:
    """Import the module of one engine type, the first time a mount of it opens."""
    import importlib

    module = BUILTIN_ENGINES.get(mount_type)
    if module is not None and mount_type not in ENGINE_TYPES:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise


__all__ = ["ENGINE_TYPES", "create_engine", "register"]
