"""aiohttp's C HTTP parser (llhttp) where it reads a request as the Python parser would.

llhttp is about 30 us a request cheaper than aiohttp's pure-Python parser, but it refuses
with a plain-text 400 what strongroom must read: the LIST method that hvac and curl users
following Vault's docs send, method names in other cases (`get`, answered as GET), unknown
methods (Vault's JSON 405), and request lines with bytes the pipeline answers itself (a
non-UTF-8 path is a JSON 400). So every connection starts on llhttp, and one whose next
request line is anything but a plain `GET|POST|PUT|DELETE|HEAD|PATCH <printable> HTTP/1.x`
moves to the Python parser for good, at that request.

The move is only safe at a boundary between requests: the same bytes in the middle of a body
or a header block must stay what they are (else a body could smuggle a request past the
parser that framed it). `RequestFraming` follows the framing llhttp sees (the head up to its
blank line, then Content-Length bytes of body) and says when the stream stands exactly
between two requests. Whatever it cannot follow with certainty (chunked bodies, upgrades,
duplicate or odd lengths, bare-LF heads) it gives up on, and that connection stays on llhttp.
"""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web, web_protocol
from aiohttp.http_parser import HttpRequestParserC, HttpRequestParserPy

# A request line llhttp reads exactly as the Python parser and the pipeline would.
PLAIN_REQUEST_LINE = re.compile(rb"(?:GET|POST|PUT|DELETE|HEAD|PATCH) [\x21-\x7e]+ HTTP/1\.[01]\r\n")
HEAD_END = b"\r\n\r\n"
MAX_HEAD = 256 * 1024  # past the server's max_line_size + max_field_size, llhttp has refused it
_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length[ \t]*:[ \t]*([0-9]{1,18})[ \t]*(?=\r\n|$)", re.IGNORECASE)
_ANY_LENGTH = re.compile(rb"\r\ncontent-length[ \t]*:", re.IGNORECASE)
# What may be a later request in the same read whose line llhttp would refuse (a LIST behind
# a GET). A body that happens to look so only moves the connection to the Python parser a
# little early, which is safe: the move itself happens at this read's start, a boundary.
ODD_NEXT_REQUEST = re.compile(rb"\r\n\r\n(?!(?:GET|POST|PUT|DELETE|HEAD|PATCH) )[!-~]+ /")
_BARE_LF = re.compile(rb"(?<!\r)\n")  # llhttp refuses these; never follow what it refuses
_UNFOLLOWABLE = re.compile(rb"\r\n(?:transfer-encoding|upgrade)[ \t]*:|\A(?:\r\n)*(?:CONNECT|PRI) ", re.IGNORECASE)


class RequestFraming:
    """Where one connection's requests begin, as far as that can be known for certain."""

    __slots__ = ("_head", "_body_left", "lost")

    def __init__(self) -> None:
        self._head = b""  # the start of a head whose blank line has not arrived yet
        self._body_left = 0
        self.lost = False  # framing this class does not follow: never claim a boundary again

    def __repr__(self) -> str:
        return f"RequestFraming(at_boundary={self.at_boundary})"

    @property
    def at_boundary(self) -> bool:
        return not self.lost and not self._body_left and not self._head

    def feed(self, data: bytes) -> None:
        """Account for bytes in the order the parser receives them."""
        pos, size = 0, len(data)
        while pos < size and not self.lost:
            if self._body_left:
                taken = min(self._body_left, size - pos)
                self._body_left -= taken
                pos += taken
                continue
            held = len(self._head)
            buffer = self._head + data[pos:] if held else data[pos:]
            end = buffer.find(HEAD_END)
            if end < 0:
                self._head = buffer
                self.lost = len(buffer) > MAX_HEAD
                return
            self._head = b""
            self._body_left = self._body_length(buffer[:end])
            pos += end + len(HEAD_END) - held

    def _body_length(self, head: bytes) -> int:
        if _UNFOLLOWABLE.search(head) or _BARE_LF.search(head):
            self.lost = True
            return 0
        lengths = _CONTENT_LENGTH.findall(head)
        if len(lengths) != len(_ANY_LENGTH.findall(head)) or len(lengths) > 1:
            self.lost = True  # a length llhttp may read otherwise, or refuse
            return 0
        return int(lengths[0]) if lengths else 0


class ParserChoosingHandler(web_protocol.RequestHandler):
    """aiohttp's request handler on llhttp, moving to the Python parser when it must."""

    def __init__(self, manager: web.Server, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self._framing: RequestFraming | None = (
            RequestFraming() if isinstance(self._parser, HttpRequestParserC) else None)
        self._auto_decompress = kwargs.get("auto_decompress", True)

    def data_received(self, data: bytes) -> None:
        framing = self._framing
        if framing is not None and data:  # b"" is aiohttp resuming what llhttp still holds
            if framing.at_boundary and (PLAIN_REQUEST_LINE.match(data) is None or ODD_NEXT_REQUEST.search(data)):
                self._parser = self._python_parser()
                self._framing = None  # this connection stays on the Python parser
            else:
                framing.feed(data)
        super().data_received(data)
        if framing is not None and self._buffer_paused:
            # llhttp stopped at aiohttp's queue limit and holds bytes the framing has counted:
            # from here on the framing cannot tell where llhttp stands, so it never moves.
            framing.lost = True

    def _python_parser(self) -> HttpRequestParserPy:
        return HttpRequestParserPy(
            self, self._loop, self._read_bufsize, max_line_size=self.max_line_size,
            max_field_size=self.max_field_size, max_headers=self.max_headers,
            payload_exception=web_protocol.RequestPayloadError, auto_decompress=self._auto_decompress,
            max_msg_queue_size=web_protocol.MAX_MSG_QUEUE_SIZE,
        )


class ParserChoosingServer(web.Server):
    """aiohttp's low-level server with ParserChoosingHandler for every connection."""

    def __call__(self) -> ParserChoosingHandler:
        return ParserChoosingHandler(self, loop=self._loop, **self._kwargs)
