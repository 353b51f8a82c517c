"""The HTTP service: aiohttp's low-level server calling the pipeline, and the core's lifetime.

strongroom has one route (everything under /v1/ goes to the pipeline, which parses the path
itself), so it runs on aiohttp's low-level `web.Server` rather than a `web.Application`: no
URL dispatcher, no middleware chain, no yarl URL per request (together about 40 us of every
request). What an Application would have done for us is done here: the request body limit,
`Expect: 100-continue`, the count of requests in flight for a graceful stop.

The core (storage, seal, tokens, mounts) is opened before the listeners start and, on
shutdown, sealed (key memory zeroed) and its storage closed, after in-flight requests finish.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Callable

from aiohttp import web

from config.settings import Settings
from server.access_log import AccessLogger
from server.audit.broker import AuditFailedError
from server.core import Core
from server.pipeline import api_handler, render
from server.fast_path import FastPathServer
from server.routing import Reply
from server.startup import open_backend
from server.sys import build_router

log = logging.getLogger("strongroom.app")
TICK_SECONDS = 1.0

# aiohttp refuses headers over 8 KiB with its own plain-text 400; strongroom reads larger
# ones so that an oversized token gets the same 403 as any other bad token.
# Request bodies are never decompressed: the pipeline refuses Content-Encoding, and aiohttp
# would otherwise inflate a gzip bomb while discarding the unread body.
RUNNER_OPTIONS = {"max_field_size": 65536, "max_line_size": 65536, "auto_decompress": False}
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


class Service:
    """The core and the one request handler aiohttp calls, for one process."""

    def __init__(self, settings: Settings, on_ready: Callable[[Core], None] | None = None,
                 role: Any = None) -> None:
        self.settings = settings
        self.core: Core | None = None
        self._on_ready = on_ready
        self._role = role  # with worker processes: this one's part (server/worker_processes.py)
        self._worker = str(role.index) if role is not None else None
        # The same header as raw bytes, for replies written on the fast path.
        self.worker_header = b"X-Strongroom-Worker: %d\r\n" % role.index if role is not None else b""
        self.fast_connections: set[Any] = set()
        self._ticker: asyncio.Task | None = None
        self._body_limit = settings.listeners[0].max_request_size
        self.in_flight = 0
        self.draining = False
        self.idle = asyncio.Event()
        self.idle.set()

    def __repr__(self) -> str:
        return f"Service({self.settings.source!r})"

    def server(self, **options: Any) -> web.Server:
        """aiohttp's low-level server for this service (strongroom's access log and limits)."""
        return FastPathServer(self, self.handle, request_factory=self._make_request,
                              access_log_class=AccessLogger, **{**RUNNER_OPTIONS, **options})

    async def open(self) -> Core:
        """Open the store and the core (sealed); with worker processes, join the others."""
        role = self._role
        settings = self.settings
        backend = role.open_backend(settings.storage) if role is not None else open_backend(settings.storage)
        core = self.core = Core(settings, backend, build_router())
        try:
            if role is not None:
                await role.attach(core)
            if core.link is None:  # followers have no scheduled work: the primary writes
                self._ticker = asyncio.create_task(_tick(core))
            if self._on_ready is not None:
                self._on_ready(core)
        except BaseException:
            await self.close()
            raise
        return core

    async def close(self) -> None:
        """Seal (zeroing key memory) and close the store."""
        core, self.core = self.core, None
        if core is None:
            return
        if self._ticker is not None:
            self._ticker.cancel()
        core.seal_now()
        if self._role is not None:
            self._role.detach(core)
        core.backend.close()

    def request_started(self) -> None:
        self.in_flight += 1
        self.idle.clear()

    def request_finished(self) -> None:
        self.in_flight -= 1
        if not self.in_flight:
            self.idle.set()

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        self.request_started()
        try:
            expect = request.headers.get("Expect")
            if expect is not None and not await _expect(request, expect):
                response = render(Reply(417, {"errors": ["unsupported Expect header"]}), head=False)
            elif request.raw_path.startswith("/v1/") and self.core is not None:
                response = await api_handler(self.core, request)
            else:
                response = render(Reply(404, {"errors": []}), head=request.method == "HEAD")
            if self._worker is not None:
                response.headers["X-Strongroom-Worker"] = self._worker  # which process answered
            if self.draining:
                response.force_close()  # no keep-alive while shutting down
            return response
        finally:
            self.request_finished()

    async def drain(self, force: asyncio.Event, grace: float) -> None:
        """Until no request is in flight, the grace runs out, or force is set. (aiohttp's own
        graceful stop stops reading first, so a request whose body is still arriving could
        never finish; this runs before it.)"""
        self.draining = True
        waits = [asyncio.ensure_future(self.idle.wait()), asyncio.ensure_future(force.wait())]
        try:
            await asyncio.wait(waits, timeout=grace, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiting in waits:
                waiting.cancel()
        if self.in_flight:
            log.warning("stopping with %d request(s) still in flight", self.in_flight)

    def _make_request(self, message, payload, protocol, writer, task) -> web.BaseRequest:
        # The pipeline enforces each listener's own limit as it reads; this one only keeps
        # aiohttp's 1 MiB default from refusing a body the listener allows.
        return web.BaseRequest(message, payload, protocol, writer, task, asyncio.get_running_loop(),
                               client_max_size=self._body_limit)


async def _expect(request: web.BaseRequest, expect: str) -> bool:
    """Answer `Expect: 100-continue` as aiohttp's router would; any other expectation fails."""
    if expect.lower() != "100-continue":
        return False
    if request.version >= (1, 1):
        await request.writer.write(CONTINUE)
        request.writer.output_size = 0
    return True


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
