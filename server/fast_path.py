"""The fast path: the plain requests applications send all day, parsed and answered without
aiohttp's request machinery.

A bare aiohttp server answers about 12k requests a second on this kind of machine; llhttp
(through httptools) and a direct socket write answer about 45k. Each connection therefore
starts here. A request is taken on the fast path only when it is plain: one whole HTTP/1.1
request in the bytes just received, `GET|POST|PUT|DELETE|PATCH <printable path, no query>`,
a Content-Length body or none, and no Expect, Upgrade, Transfer-Encoding or Content-Encoding.
Anything else (LIST, HEAD, query strings, chunked or slow bodies, pipelining, HTTP/1.0, a
parse error) hands the connection, from that request on, to aiohttp's handler
(server/request_parsing.py), which answers it through the same pipeline. The hand-over happens
only at a request boundary, which is exact here: the bytes handed over start a request, and
every request before them has been answered.
"""

from __future__ import annotations

import asyncio
import http
import logging
import socket
import sys
import time
from email.utils import formatdate
from typing import TYPE_CHECKING, Any, Callable

import aiohttp
import httptools
from aiohttp.http_parser import SINGLETON_HEADERS as aiohttp_singletons
from multidict import CIMultiDict, MultiDict, MultiDictProxy

from server import eager
from server.access_log import escaped_path
from server.pipeline import answer, check_body, error_reply, logical_request, reply_json
from server.request_parsing import PLAIN_REQUEST_LINE, ParserChoosingServer
from server.routing import Reply

if TYPE_CHECKING:
    from server.app import Service

log = logging.getLogger("strongroom.request")
access_log = logging.getLogger("aiohttp.access")

EMPTY_QUERY: MultiDictProxy[str] = MultiDictProxy(MultiDict())
PHRASES = {status.value: status.phrase.encode() for status in http.HTTPStatus}
SERVER = f"Server: Python/{sys.version_info[0]}.{sys.version_info[1]} aiohttp/{aiohttp.__version__}\r\n".encode()
NO_BODY_STATUSES = frozenset({204, 304})
UNUSUAL_HEADERS = frozenset({b"expect", b"upgrade", b"transfer-encoding", b"content-encoding"})
SINGLETON_HEADERS = frozenset(name.encode() for name in aiohttp_singletons)
MAX_WAITING = 256 * 1024  # bytes a busy connection may send ahead before it is paused
MAX_FIELD = 65536  # the server's max_line_size / max_field_size (server/app.py RUNNER_OPTIONS)
MAX_HEADERS = 128  # aiohttp's default max_headers
KEEPALIVE = 3630.0  # seconds an idle connection is kept, as aiohttp's handler does


class PlainRequest:
    """What httptools reports of one request, while it is parsed."""

    __slots__ = ("url", "headers", "body", "begun", "complete", "unusual", "hosts", "seen", "close")

    def __init__(self) -> None:
        self.url = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.body: list[bytes] = []
        self.begun = 0
        self.complete = False
        self.unusual = False
        self.hosts = 0
        self.seen: set[bytes] = set()  # the single-valued headers met so far
        self.close = False  # Connection: close

    # httptools' callbacks
    def on_message_begin(self) -> None:
        self.begun += 1

    def on_url(self, url: bytes) -> None:
        self.url += url
        if len(self.url) > MAX_FIELD:
            self.unusual = True  # aiohttp's handler refuses it with its own limits

    def on_header(self, name: bytes, value: bytes) -> None:
        lower = name.lower()
        if lower in UNUSUAL_HEADERS or len(name) + len(value) > MAX_FIELD or len(self.headers) >= MAX_HEADERS:
            self.unusual = True
        if lower == b"connection" and b"close" in (token.strip() for token in value.lower().split(b",")):
            self.close = True
        if lower in SINGLETON_HEADERS:
            if lower in self.seen:
                self.unusual = True  # aiohttp refuses a repeated Host, Content-Type...: let it
            self.seen.add(lower)
        # llhttp leaves whitespace after a value; aiohttp (RFC 9110 5.5) strips it.
        self.headers.append((name, value.rstrip(b" \t")))

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        self.complete = True

    @property
    def plain(self) -> bool:
        """One whole request with nothing unusual, and the one Host HTTP/1.1 requires."""
        return self.begun == 1 and self.complete and not self.unusual and b"host" in self.seen


class FastPathProtocol(asyncio.Protocol):
    """One connection: plain requests answered here, the rest handed to aiohttp."""

    def __init__(self, service: "Service", fallback: Callable[[], asyncio.Protocol]) -> None:
        self._service = service
        self._fallback = fallback
        self._transport: Any = None
        self._busy = False
        self._waiting = b""
        self._idle: asyncio.TimerHandle | None = None
        self._task: asyncio.Task | None = None
        self._write_paused = False

    def __repr__(self) -> str:
        return f"FastPathProtocol(busy={self._busy})"

    def connection_made(self, transport: Any) -> None:
        self._transport = transport
        self._loop = asyncio.get_running_loop()
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # as aiohttp's handler does
        peer = transport.get_extra_info("peername")
        self._remote = peer[0] if isinstance(peer, tuple) else ""
        self._sockname = transport.get_extra_info("sockname")
        self._service.fast_connections.add(self)
        # As aiohttp's handler: a connection that never sends a request is not kept for ever.
        # One timer a connection, moved on by the time of its last request, not one a request.
        self._last = self._loop.time()
        self._idle = self._loop.call_later(KEEPALIVE, self._check_idle)

    def _check_idle(self) -> None:
        left = self._last + KEEPALIVE - self._loop.time()
        if left > 0 or self._busy:
            self._idle = self._loop.call_later(max(left, 0.05), self._check_idle)
        else:
            self.close_when_idle()

    def pause_writing(self) -> None:
        """The client is not reading: read no more requests until its replies drain."""
        self._write_paused = True
        if self._transport is not None:
            self._transport.pause_reading()

    def resume_writing(self) -> None:
        self._write_paused = False
        if self._transport is not None:
            self._transport.resume_reading()
            self._next()

    def connection_lost(self, exc: BaseException | None) -> None:
        self._service.fast_connections.discard(self)
        self._transport = None
        if self._idle is not None:
            self._idle.cancel()

    def data_received(self, data: bytes) -> None:
        if self._busy:
            self._waiting += data
            if len(self._waiting) > MAX_WAITING:
                self._transport.pause_reading()
            return
        self._take(data)

    def close_when_idle(self) -> None:
        """At shutdown: close now unless a request is being answered (that one closes after)."""
        if not self._busy and self._transport is not None:
            self._transport.close()

    @property
    def task(self) -> asyncio.Task | None:
        """The request being answered, if any (shutdown waits for it)."""
        return self._task if self._busy else None

    def _take(self, data: bytes) -> None:
        line = PLAIN_REQUEST_LINE.match(data)
        if (line is None or data[:5] == b"HEAD " or b" /v1/" not in line.group(0) or b"?" in line.group(0)
                or not line.group(0).endswith(b"1.1\r\n")):
            return self._hand_over(data)
        parsed = PlainRequest()
        try:
            httptools.HttpRequestParser(parsed).feed_data(data)
        except (httptools.HttpParserError, httptools.HttpParserUpgrade):
            return self._hand_over(data)  # aiohttp's parser says what is wrong with it
        if not parsed.plain:
            return self._hand_over(data)
        self._busy = True
        self._task = None
        # A task only if the request waits (server/eager.py). One that does not may have
        # started the next request (_next) and left that one's task here: keep it.
        task = eager.start(self._answer(line.group(0).split(b" ", 1)[0].decode(), parsed))
        if task is not None:
            self._task = task

    async def _answer(self, method: str, parsed: PlainRequest) -> None:
        service = self._service
        started = time.monotonic()
        service.request_started()
        try:
            reply = await self._reply(method, parsed)
            keep_alive = not service.draining and not parsed.close
            payload = render_bytes(reply, keep_alive=keep_alive, worker=service.worker_header)
        except Exception as exc:  # noqa: BLE001 - a reply that cannot be rendered is a 500
            log.error("a reply could not be rendered (%s)", type(exc).__name__)
            keep_alive, payload = False, render_bytes(Reply(500, {"errors": ["internal error"]}), keep_alive=False,
                                                      worker=service.worker_header)
        finally:
            service.request_finished()
        transport = self._transport
        if transport is None:
            return
        transport.write(payload)
        if access_log.isEnabledFor(logging.INFO):
            _log_access(transport, method, parsed, payload, started)
        if not keep_alive:
            transport.close()
            return
        self._busy = False
        self._last = self._loop.time()
        self._next()

    def _next(self) -> None:
        """Take a request that arrived while the last was answered, unless the client is
        not reading its replies."""
        if self._busy or self._write_paused or not self._waiting or self._transport is None:
            return
        waiting, self._waiting = self._waiting, b""
        self._transport.resume_reading()
        try:
            self._take(waiting)
        except Exception:  # noqa: BLE001 - a connection that cannot go on is closed, not left
            log.exception("a connection could not go on")
            self._transport.close()

    async def _reply(self, method: str, parsed: PlainRequest) -> Reply:
        core = self._service.core
        if core is None:
            return Reply(503, {"errors": ["strongroom is stopping"]})
        headers = CIMultiDict([(name.decode("latin-1"), value.decode("utf-8", "surrogateescape"))
                               for name, value in parsed.headers])
        body = b"".join(parsed.body)
        raw_path = parsed.url.decode("ascii")
        try:
            if method in ("POST", "PUT", "PATCH", "DELETE"):
                check_body(headers, len(body), core.listener_for(self._sockname))
            req = logical_request(method, raw_path, EMPTY_QUERY, headers, body, self._remote)
        except Exception as exc:  # unparseable: answered, but there is no request to audit
            return error_reply(exc)
        return await answer(core, req)

    def _hand_over(self, data: bytes) -> None:
        """From this request on, aiohttp's handler reads the connection (at a boundary)."""
        if self._idle is not None:
            self._idle.cancel()  # aiohttp's handler keeps its own time
            self._idle = None
        handler = self._fallback()
        transport = self._transport
        self._service.fast_connections.discard(self)
        transport.set_protocol(handler)
        handler.connection_made(transport)
        handler.data_received(data)


class _Date:
    """The Date header, formatted once a second."""

    second = -1
    value = b""


def _date() -> bytes:
    now = int(time.time())
    if now != _Date.second:
        _Date.second, _Date.value = now, f"Date: {formatdate(now, usegmt=True)}\r\n".encode()
    return _Date.value


def render_bytes(reply: Reply, *, keep_alive: bool, worker: bytes) -> bytes:
    """The whole HTTP/1.1 response for a reply, as aiohttp's would read (see pipeline.render)."""
    status = reply.status
    parts = [b"HTTP/1.1 %d %s\r\nCache-Control: no-store\r\n" % (status, PHRASES.get(status, b"Unknown"))]
    for name, value in reply.headers.items():
        if "\r" in name or "\n" in name or "\r" in value or "\n" in value:
            raise ValueError("a reply header holds a line break")
        parts.append(f"{name}: {value}\r\n".encode("utf-8"))
    parts.append(b"Content-Type: application/json\r\n")
    parts.append(worker)
    body = b""
    if status not in NO_BODY_STATUSES:
        if reply.body is not None:
            body = reply_json(reply.body)
        parts.append(b"Content-Length: %d\r\n" % len(body))
    parts.append(_date())
    parts.append(SERVER)
    if not keep_alive:
        parts.append(b"Connection: close\r\n")
    parts.append(b"\r\n")
    parts.append(body)
    return b"".join(parts)


def _log_access(transport: Any, method: str, parsed: PlainRequest, payload: bytes, started: float) -> None:
    peer = transport.get_extra_info("peername")
    path = escaped_path(parsed.url.decode("ascii"))
    access_log.info('%s "%s %s" %s %.2fms', peer[0] if isinstance(peer, tuple) else "-", method, path,
                    payload[9:12].decode(), (time.monotonic() - started) * 1000)


class FastPathServer(ParserChoosingServer):
    """aiohttp's low-level server whose connections start on the fast path."""

    def __init__(self, service: "Service", *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._service = service

    def __call__(self) -> FastPathProtocol:  # type: ignore[override]
        return FastPathProtocol(self._service, super().__call__)

    async def shutdown(self, timeout: float | None = None) -> None:
        """Close idle fast-path connections; give requests still being answered the same
        grace aiohttp gives its own, then cancel them."""
        connections = list(self._service.fast_connections)
        for connection in connections:
            connection.close_when_idle()
        busy = [c.task for c in connections if c.task is not None]
        if busy:
            done, pending = await asyncio.wait(busy, timeout=timeout)
            for task in pending:
                task.cancel()
        await super().shutdown(timeout)
