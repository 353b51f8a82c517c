"""Routes for the sys backend: a path pattern, the operations it answers, and its flags.

Flags say which stage of the pipeline a route skips, so that skipping is declared in one
table rather than decided inside handlers: `unauthenticated` (no token needed),
`sealed_ok` (answers while sealed), `raw` (Vault's bare JSON bodies instead of the
logical envelope), `sudo` (root or a sudo capability required).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Awaitable, Callable

from server.request import Request

if TYPE_CHECKING:
    from server.core import Core


@dataclass
class Reply:
    """What a handler answers: a status and a JSON body (None for an empty 204)."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[["Core", Request, "re.Match[str]"], Awaitable[Reply]]


@dataclass
class Route:
    pattern: re.Pattern[str]
    operations: dict[str, Handler]
    unauthenticated: bool = False
    token_optional: bool = False
    acl_exempt: bool = False  # a token is needed, but the handler does its own checks
    sealed_ok: bool = False
    raw: bool = False
    sudo: bool | set[str] = False  # True: every operation; a set: those operations
    enabled: Callable[["Core"], bool] | None = None


    def needs_sudo(self, operation: str) -> bool:
        return self.sudo is True or (isinstance(self.sudo, set) and operation in self.sudo)


class Router:
    """Routes tried in order; the first full match of the path wins."""

    def __init__(self) -> None:
        self._routes: list[Route] = []

    def add(self, pattern: str, operations: dict[str, Handler], **flags: Any) -> None:
        self._routes.append(Route(re.compile(pattern), operations, **flags))

    def match(self, path: str) -> tuple[Route, "re.Match[str]"] | None:
        for route in self._routes:
            found = route.pattern.fullmatch(path)
            if found:
                return route, found
        return None


def no_content() -> Reply:
    return Reply(204)


def raw(body: Any, status: int = 200) -> Reply:
    return Reply(status, body)


def logical(request: Request, data: Any, *, top_level: bool = False, warnings: list[str] | None = None,
            auth: Any = None) -> Reply:
    """Vault's logical response envelope; top_level also repeats data's fields at the top,
    as sys/mounts and sys/key-status do for old clients."""
    body: dict[str, Any] = {
        "request_id": request.id,
        "lease_id": "",
        "renewable": False,
        "lease_duration": 0,
        "data": data,
        "wrap_info": None,
        "warnings": warnings,
        "auth": auth,
    }
    if top_level and isinstance(data, dict):
        body = {**data, **body}  # data's fields first, the envelope's winning any clash
    return Reply(200, body)
