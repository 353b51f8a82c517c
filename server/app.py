"""The aiohttp application: one catch-all route into the pipeline, and the core's lifetime.

The core (storage, seal, tokens, mounts) is opened in a cleanup context and, on shutdown,
sealed (key memory zeroed) and its storage closed, after in-flight requests finish.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import AsyncIterator, Callable

from aiohttp import web, web_protocol
from aiohttp.http_parser import HttpRequestParserPy

from config.settings import Settings
from server.appkeys import CORE, ON_READY, SETTINGS, WORKER_INDEX, WORKER_ROLE
from server.audit.broker import AuditFailedError
from server.core import Core
from server.pipeline import api_handler, render
from server.routing import Reply
from server.startup import open_backend
from server.sys import build_router

log = logging.getLogger("strongroom.app")
TICK_SECONDS = 1.0

# hvac (and curl users following Vault's docs) send the LIST method verbatim; aiohttp's C
# parser (llhttp) knows a fixed set of methods and answers LIST with a plain-text 400. The
# pure-Python parser accepts any RFC 9110 token, so the server uses it.
web_protocol.HttpRequestParser = HttpRequestParserPy
# aiohttp refuses headers over 8 KiB with its own plain-text 400; strongroom reads larger
# ones so that an oversized token gets the same 403 as any other bad token.
# Request bodies are never decompressed: the pipeline refuses Content-Encoding, and aiohttp
# would otherwise inflate a gzip bomb while discarding the unread body.
RUNNER_OPTIONS = {"max_field_size": 65536, "max_line_size": 65536, "auto_decompress": False}



async def _outside_api(request: web.Request) -> web.Response:
    return render(Reply(404, {"errors": []}), head=request.method == "HEAD")


async def _entry(request: web.Request) -> web.StreamResponse:
    if request.raw_path.startswith("/v1/"):
        return await api_handler(request)
    return await _outside_api(request)


async def _core_context(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    role = app.get(WORKER_ROLE)  # with worker processes: this one's part (server/worker_processes.py)
    backend = role.open_backend(settings.storage) if role is not None else open_backend(settings.storage)
    core = Core(settings, backend, build_router())
    app[CORE] = core
    ticker = None
    try:
        if role is not None:
            await role.attach(core)
        if core.link is None:  # followers have no scheduled work: the primary writes
            ticker = asyncio.create_task(_tick(core))
        on_ready = app.get(ON_READY)
        if on_ready is not None:
            on_ready(core)
        yield
    finally:
        if ticker is not None:
            ticker.cancel()
        core.seal_now()
        if role is not None:
            role.detach(core)
        backend.close()


async def _name_worker(request: web.Request, response: web.StreamResponse) -> None:
    response.headers["X-Strongroom-Worker"] = request.app[WORKER_INDEX]


async def _tick(core: Core) -> None:
    """Engines' scheduled work (auto-rotation, version expiry), once a second."""
    while True:
        await asyncio.sleep(TICK_SECONDS)
        core.tick(time.time())
        for event in core.take_events():
            try:
                await core.audit.log(event)
            except AuditFailedError:
                log.error("a scheduled event could not be audited")


def build_app(settings: Settings, on_ready: Callable[[Core], None] | None = None,
              role: object | None = None) -> web.Application:
    """The application for settings; on_ready(core) runs once the core is open (dev mode).
    role is this process's part when the server runs several worker processes."""
    listener = settings.listeners[0]
    app = web.Application(client_max_size=listener.max_request_size)
    app[SETTINGS] = settings
    if role is not None:
        app[WORKER_ROLE] = role
        app[WORKER_INDEX] = str(role.index)  # type: ignore[attr-defined]
        app.on_response_prepare.append(_name_worker)  # which process answered (for operators)
    if on_ready is not None:
        app[ON_READY] = on_ready
    app.cleanup_ctx.append(_core_context)
    app.router.add_route("*", "/{tail:(?s:.*)}", _entry)  # (?s): a decoded %0A must match too
    return app
