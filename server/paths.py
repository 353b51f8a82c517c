"""One canonical form of the request path, computed once and handed to every later stage.

aiohttp decodes %2e%2e to '..', %2F to '/' and %00 to NUL and normalises nothing, so a
deny on `secret/admin` could be dodged with `secret/x/../admin` or `secret%2Fadmin` if the
policy check and the handler each read the path their own way (OpenBao CVE-2026-3605).
Here the raw path is decoded exactly once and anything ambiguous is refused with a 400.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

from server.errors import BadRequestError, NotFoundError

API_PREFIX = "/v1/"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
_ENCODED_SLASH = re.compile(r"%2[Ff]")


_CACHE_LIMIT = 1024  # distinct accepted paths remembered; past it, start afresh
_CACHED_LENGTH = 256  # longer paths are checked every time rather than held
_accepted: dict[str, str] = {}


def canonical_path(raw_path: str) -> str:
    """The logical path under /v1/ (no leading slash; a trailing slash is kept: it means list).

    raw_path is the request target's path as sent, still percent-encoded, without the query.
    The answer depends on raw_path alone, so paths that passed are remembered (clients
    repeat a few paths); a refused path raises again each time.
    """
    path = _accepted.get(raw_path)
    if path is None:
        path = _canonical(raw_path)
        if len(raw_path) <= _CACHED_LENGTH:
            if len(_accepted) >= _CACHE_LIMIT:
                _accepted.clear()
            _accepted[raw_path] = path
    return path


def _canonical(raw_path: str) -> str:
    if not raw_path.startswith(API_PREFIX):
        raise NotFoundError()
    encoded = raw_path[len(API_PREFIX) :]
    if _PERCENT.search(encoded):
        raise BadRequestError("invalid percent-encoding in request path")
    if _ENCODED_SLASH.search(encoded):
        # Decoded, `sys%2Fmounts` is `sys/mounts` to a handler but one segment to anything
        # that splits the raw path: two readings of one request.
        raise BadRequestError("request path contains an encoded '/' (%2F)")
    try:
        path = unquote(encoded, errors="strict")
    except UnicodeDecodeError:
        raise BadRequestError("request path is not valid UTF-8") from None
    if "%" in path:
        # A decoded '%' means the client double-encoded; decoding again would be a second
        # interpretation of the same request.
        raise BadRequestError("request path is percent-encoded twice")
    if _CONTROL.search(path):
        raise BadRequestError("request path contains control characters")
    try:
        path.encode("utf-8")  # a raw non-UTF-8 byte reaches us as a lone surrogate
    except UnicodeEncodeError:
        raise BadRequestError("request path is not valid UTF-8") from None
    segments = path.split("/")
    inner = segments[:-1] if path.endswith("/") else segments
    for segment in inner:
        if segment in (".", ".."):
            raise BadRequestError("request path contains '.' or '..' segments")
        if segment == "" and path:
            raise BadRequestError("request path contains an empty segment")
    return path
