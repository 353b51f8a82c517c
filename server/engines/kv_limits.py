"""What a KV secret's path and data may be: segment rules, length, depth and encoded size.

The pipeline already refuses '.', '..' and empty segments in the request path; the rules are
checked again here because storage keys are built from the secret's path, and a path that
slipped through would name another secret's entry. Secret data is kept as compact JSON
bytes, exactly what the size limit measures (and what Vault stores inside its version record).
"""

from __future__ import annotations

import functools
import json
import json.scanner
from dataclasses import dataclass
from typing import Any

from server.engines.kv_errors import (
    KeyPathError,
    KeyPathTooDeepError,
    KeyPathTooLongError,
    ValueTooLargeError,
)

MAX_KEY_BYTES = 1024
MAX_KEY_SEGMENTS = 32
MAX_VALUE_BYTES = 1024 * 1024
TRAILING_SLASH = "cannot write to a path ending in '/'"  # Vault's words


@dataclass(frozen=True)
class KVLimits:
    """Per-engine limits; the defaults hold until a mount option sets them."""

    max_key_bytes: int = MAX_KEY_BYTES
    max_key_segments: int = MAX_KEY_SEGMENTS
    max_value_bytes: int = MAX_VALUE_BYTES

    def check_key(self, key: str) -> str:
        """key itself when it is a valid secret path; a KeyPathError naming the rule otherwise."""
        return _valid_key(key, self.max_key_bytes, self.max_key_segments)

    def check_folder(self, prefix: str) -> str:
        """The folder a list names, '' (the root) or ending in '/'."""
        inner = prefix[:-1] if prefix.endswith("/") else prefix
        if not inner:
            return ""
        _check_segments(inner, self.max_key_bytes, self.max_key_segments)
        return inner + "/"

    def encode(self, data: Any) -> bytes:
        """data as compact JSON bytes, refused when above max_value_bytes."""
        # ensure_ascii keeps lone surrogates (valid in JSON escapes) encodable.
        encoded = json.dumps(data, separators=(",", ":"), ensure_ascii=True).encode("ascii")
        if len(encoded) > self.max_value_bytes:
            raise ValueTooLargeError(
                f"secret data is {len(encoded)} bytes encoded, above the limit of {self.max_value_bytes}"
            )
        return encoded


@functools.lru_cache(maxsize=1024)
def _valid_key(key: str, max_bytes: int, max_segments: int) -> str:
    """KVLimits.check_key, remembered for valid keys: clients name the same secrets again and
    again, and every read and write checks its path (errors are raised anew each time)."""
    if not key:
        raise KeyPathError("missing path")
    if key.endswith("/"):
        raise KeyPathError(TRAILING_SLASH)
    _check_segments(key, max_bytes, max_segments)
    return key


def _check_segments(key: str, max_bytes: int, max_segments: int) -> None:
    size = len(key.encode("utf-8"))
    if size > max_bytes:
        raise KeyPathTooLongError(f"path is {size} bytes, above the limit of {max_bytes}")
    segments = key.split("/")
    if any(s in ("", ".", "..") for s in segments):
        raise KeyPathError("path contains '.', '..' or empty segments")
    if len(segments) > max_segments:
        raise KeyPathTooDeepError(f"path has {len(segments)} segments, above the limit of {max_segments}")


# json.loads spends most of a small secret's decode finding the encoding and checking for
# whitespace around the value; encode() writes neither, so the scanner alone reads it.
_SCAN = json.scanner.make_scanner(json.JSONDecoder())


def decode(encoded: bytes) -> Any:
    """The data stored by KVLimits.encode."""
    text = encoded.decode("utf-8", "surrogatepass")  # as json.loads decodes bytes
    try:
        value, end = _SCAN(text, 0)
        if end == len(text):
            return value
    except StopIteration:
        pass
    return json.loads(encoded)  # not one bare value (encode never writes that): json's answer
