"""The cubbyhole engine: a private KV store per token, gone when the token is.

Data lives under the token's salted hash, so no other token — root included — can name it,
and revoking or expiring the token removes it. Response wrapping keeps wrapped responses in
the wrapping token's cubbyhole.
"""

from __future__ import annotations

import re

from seal.ops import BarrierDelete
from seal.view import BarrierView
from server.engines import register
from server.engines.base import Engine
from server.errors import BadRequestError, NotFoundError
from server.mounts import MountEntry
from server.request import DELETE, LIST, READ, UPDATE, Request
from server.routing import Reply, logical, no_content

MAX_VALUE_BYTES = 1 << 20


def token_view(view: BarrierView, digest: str) -> BarrierView:
    """The cubbyhole of the token with this hash."""
    return view.sub_view(digest + "/")


def purge(view: BarrierView, digest: str) -> None:
    """Remove everything a token kept in its cubbyhole."""
    own = token_view(view, digest)
    doomed, pending = [], [""]
    while pending:
        folder = pending.pop()
        for child in own.list(folder):
            (pending if child.endswith("/") else doomed).append(folder + child)
    if doomed:
        own.transaction([BarrierDelete(path) for path in doomed])


def _own(engine: "CubbyholeEngine", req: Request) -> BarrierView:
    if req.token_entry is None:
        raise BadRequestError("cubbyhole needs a client token")
    return token_view(engine.view, req.token_entry.digest)


def _key(match: re.Match) -> str:
    path = match["path"]
    if not path or path.endswith("/"):
        raise BadRequestError("missing or invalid path")
    return path


async def _read(engine: "CubbyholeEngine", req: Request, match: re.Match) -> Reply:
    value = _own(engine, req).get(_key(match))
    if value is None:
        raise NotFoundError()
    return logical(req, value)


async def _write(engine: "CubbyholeEngine", req: Request, match: re.Match) -> Reply:
    if not req.data:
        raise BadRequestError("missing data fields")
    size = len(str(req.data).encode())
    if size > MAX_VALUE_BYTES:
        raise BadRequestError(f"value too large: at most {MAX_VALUE_BYTES} bytes")
    _own(engine, req).put(_key(match), req.data)
    return no_content()


async def _delete(engine: "CubbyholeEngine", req: Request, match: re.Match) -> Reply:
    _own(engine, req).delete(_key(match))
    return no_content()


async def _list(engine: "CubbyholeEngine", req: Request, match: re.Match) -> Reply:
    keys = _own(engine, req).list(match["path"])
    if not keys:
        raise NotFoundError()
    return logical(req, {"keys": keys})


class CubbyholeEngine(Engine):
    routes = [(r"(?P<path>.*)", {READ: _read, UPDATE: _write, DELETE: _delete, LIST: _list})]

    def exists(self, req: Request) -> bool | None:
        if req.token_entry is None or not req.relative_path:
            return None
        return token_view(self.view, req.token_entry.digest).get(req.relative_path) is not None


@register("cubbyhole")
def _factory(view: BarrierView, mount: MountEntry) -> Engine:
    return CubbyholeEngine(view, mount)


