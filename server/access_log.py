"""The access log: method, path, status, time. Never the query string, never a body.

The path is logged as the client sent it, still percent-encoded: the decoded form could
carry a newline (`%0A`) and forge a second log line. Anything unprintable left in the raw
form is escaped as well, and so are `"` and `\\`, which would blur where the quoted request ends.
"""

from __future__ import annotations

import logging
import re

from aiohttp.abc import AbstractAccessLogger
from aiohttp.web import BaseRequest, StreamResponse

_ESCAPED = re.compile(r'[^\x21-\x7e]|["\\]')


def loggable_path(request: BaseRequest) -> str:
    """The request target's path without its query, with unprintable bytes escaped."""
    return escaped_path(request.raw_path)


def escaped_path(raw_path: str) -> str:
    """A raw request target's path without query or fragment, unprintable bytes escaped."""
    path = raw_path.split("?", 1)[0].split("#", 1)[0]
    return _ESCAPED.sub(lambda m: "".join(f"%{b:02X}" for b in m[0].encode("utf-8", "surrogateescape")), path)


class AccessLogger(AbstractAccessLogger):
    @property
    def enabled(self) -> bool:
        # aiohttp asks before building the entry: at log_level warn the log costs nothing.
        return self.logger.isEnabledFor(logging.INFO)

    def log(self, request: BaseRequest, response: StreamResponse, time: float) -> None:
        self.logger.info(
            '%s "%s %s" %s %.2fms', request.remote, request.method, loggable_path(request), response.status,
            time * 1000,
        )
