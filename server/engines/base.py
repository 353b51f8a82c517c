"""The engine base: a route table relative to the mount, and the hooks the core calls."""

from __future__ import annotations

import re
from typing import Any, Awaitable, Callable

from seal.view import BarrierView
from server.errors import MethodNotAllowedError, NotFoundError
from server.mounts import MountEntry
from server.request import CREATE, UPDATE, Request
from server.routing import Reply

MATCHES_KEPT = 1024
EngineHandler = Callable[[Any, Request, "re.Match[str]"], Awaitable[Reply]]


class Engine:
    """Subclasses fill `routes` with (pattern, {operation: handler}) pairs, patterns
    relative to the mount (e.g. r"data/(?P<path>.+)"); handlers take (engine, req, match)."""

    routes: list[tuple[str, dict[str, EngineHandler]]] = []
    # Paths (regexes relative to the mount) that need no token: an auth method's login.
    unauthenticated: tuple[str, ...] = ()

    def __init__(self, view: BarrierView, mount: MountEntry) -> None:
        self.view = view
        self.mount = mount
        self._compiled = [(re.compile(p), ops) for p, ops in self.routes]
        self._open = [re.compile(p) for p in self.unauthenticated]
        # match()'s answers by path: the same few paths come again and again (and twice in
        # one request when a write's existence is checked), the routes never change.
        self._matched: dict[str, tuple[dict[str, EngineHandler], "re.Match[str]"] | None] = {}
        self.tokens: Any = None  # the token store, given to auth methods so they can log in
        # record_event(operation, path under the mount, data): the core hands what the
        # engine does on its own (scheduled rotation, destruction) to the audit devices.
        self.record_event: Callable[[str, str, dict[str, Any]], None] = lambda *event: None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.mount.path!r})"

    def match(self, path: str) -> tuple[dict[str, EngineHandler], "re.Match[str]"] | None:
        try:
            return self._matched[path]
        except KeyError:
            pass
        answer = None
        for pattern, ops in self._compiled:
            found = pattern.fullmatch(path)
            if found:
                answer = ops, found
                break
        if len(self._matched) >= MATCHES_KEPT:
            self._matched.clear()  # paths are the clients' to choose: keep a bounded few
        self._matched[path] = answer
        return answer

    async def handle(self, req: Request) -> Reply:
        """Dispatch req (req.relative_path is the path under the mount)."""
        found = self.match(req.relative_path)
        if found is None:
            raise NotFoundError("unsupported path")
        ops, match = found
        handler = ops.get(req.operation)
        if handler is None and req.operation == CREATE:
            handler = ops.get(UPDATE)
        if handler is None:
            raise MethodNotAllowedError()
        return await handler(self, req, match)

    def is_unauthenticated(self, req: Request) -> bool:
        return bool(self._open) and any(p.fullmatch(req.relative_path) for p in self._open)

    def exists(self, req: Request) -> bool | None:
        """For a write: does the target exist? (Policies tell create from update by it.)
        None means the path has no existence check and a write is an update, as in Vault."""
        return None

    def tick(self, now: float) -> None:
        """Called about once a second while unsealed, for scheduled work (auto-rotation...)."""

    def close(self) -> None:
        """Called on seal and unmount: drop caches, zero key material."""
