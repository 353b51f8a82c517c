"""Text encodings the transit API shares with Vault, decoded exactly as Vault (Go) does.

Clients see Go's error texts ("illegal base64 data at input byte 3") and Go's leniencies
(CR/LF skipped inside base64, "+1" accepted as a version number), so scripts written against
Vault behave the same here. Also: the `vault:vN:` version prefix and Go's RFC 3339 times.
"""

from __future__ import annotations

import base64
import binascii
import re
from datetime import datetime, timedelta, timezone

VERSION_PREFIX = "vault:v"
_PREFIX_LENGTH = len(VERSION_PREFIX)
_GO_INT = re.compile(r"[+-]?[0-9]+", re.ASCII)
_STD_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_URL_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_NEWLINES = (0x0A, 0x0D)


class Base64Error(ValueError):
    """Text that Go's base64 decoder refuses; the message is Go's."""

    def __init__(self, offset: int) -> None:
        super().__init__(f"illegal base64 data at input byte {offset}")
        self.offset = offset


def b64encode(data: bytes | bytearray | memoryview) -> str:
    return binascii.b2a_base64(data, newline=False).decode("ascii")


def b64encode_raw_url(data: bytes | bytearray | memoryview) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64decode(text: str) -> bytes:
    """Go's base64.StdEncoding.DecodeString: padded, CR/LF ignored, trailing bits unchecked."""
    # On whole quanta with '=' only in the last two places, whatever binascii's strict mode
    # accepts Go accepts too, with the same bytes (strict mode refuses newlines and
    # non-ASCII text, which raises ValueError); it also accepts '=' after a whole quantum,
    # which Go refuses, hence the two checks. Everything else, and every error for its
    # offset, goes through the port of Go's loop below. A test compares the two.
    size = len(text)
    if not size & 3 and text.find("=", 0, size - 2) < 0:
        try:
            return binascii.a2b_base64(text, strict_mode=True)
        except ValueError:  # binascii.Error is one
            pass
    return _go_decode(text.encode("utf-8", "surrogatepass"), _STD_ALPHABET, padded=True)


def b64decode_raw_url(text: str) -> bytes:
    """Go's base64.RawURLEncoding.DecodeString (JWS signatures): URL alphabet, no padding."""
    return _go_decode(text.encode("utf-8", "surrogatepass"), _URL_ALPHABET, padded=False)


def _go_decode(src: bytes, alphabet: bytes, *, padded: bool) -> bytes:
    """A port of the decoding loop of Go's encoding/base64 (decodeQuantum), kept for its
    error offsets and its acceptance rules; the fast path above covers ordinary input."""
    table = {c: i for i, c in enumerate(alphabet)}
    out = bytearray()
    si, n = 0, len(src)
    while True:
        quantum: list[int] = []
        dlen = 4
        while len(quantum) < 4:
            if si == n:
                j = len(quantum)
                if j == 0:
                    return bytes(out)
                if j == 1 or padded:
                    raise Base64Error(si - j)
                dlen = j
                break
            char = src[si]
            si += 1
            if char in table:
                quantum.append(table[char])
                continue
            if char in _NEWLINES:
                continue
            if not padded or char != 0x3D:  # '='
                raise Base64Error(si - 1)
            j = len(quantum)
            if j in (0, 1):
                raise Base64Error(si - 1)  # padding where no byte can end
            if j == 2:
                si = _skip_newlines(src, si)
                if si == n:
                    raise Base64Error(n)  # "==" expected, only "=" given
                if src[si] != 0x3D:
                    raise Base64Error(si - 1)
                si += 1
            si = _skip_newlines(src, si)
            if si < n:
                raise Base64Error(si)  # data after the padding
            dlen = j
            break
        quantum += [0] * (4 - len(quantum))
        value = quantum[0] << 18 | quantum[1] << 12 | quantum[2] << 6 | quantum[3]
        out += value.to_bytes(3, "big")[: dlen - 1]
        if dlen < 4:
            return bytes(out)


def _skip_newlines(src: bytes, si: int) -> int:
    while si < len(src) and src[si] in _NEWLINES:
        si += 1
    return si


def go_atoi(text: str) -> int | None:
    """Go's strconv.Atoi: optional sign, ASCII digits only; None where Go errs."""
    if not _GO_INT.fullmatch(text):
        return None
    value = int(text)
    return value if -(2**63) <= value < 2**63 else None


def version_prefix(version: int) -> str:
    return f"{VERSION_PREFIX}{version}:"


def split_versioned(value: str, noun: str) -> tuple[int, str]:
    """`vault:vN:payload` -> (N, payload) with Vault's messages ("invalid ciphertext: ...").
    The caller decodes the payload, because its encoding depends on the operation."""
    if not value.startswith(VERSION_PREFIX):
        raise ValueError(f"invalid {noun}: no prefix")
    number, colon, payload = value[_PREFIX_LENGTH:].partition(":")
    if not colon:
        raise ValueError(f"invalid {noun}: wrong number of fields")
    # Plain ASCII digits short of 19 are always an int64 Atoi accepts (isdigit alone would
    # also pass other scripts' digits, which Go refuses); anything else takes go_atoi.
    if number.isascii() and number.isdigit() and len(number) < 19:
        return int(number), payload
    version = go_atoi(number)
    if version is None:
        raise ValueError(f"invalid {noun}: version number could not be decoded")
    return version, payload


def rfc3339_nano(ns: int) -> str:
    """Go's time.Time JSON form in UTC: RFC 3339 with up to nine digits, zeros trimmed."""
    seconds, fraction = divmod(ns, 1_000_000_000)
    stamp = datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    digits = f"{fraction:09d}".rstrip("0")
    return f"{stamp}.{digits}Z" if digits else f"{stamp}Z"


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_RFC3339 = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)", re.ASCII)


def parse_rfc3339_nano(text: str) -> int:
    """Nanoseconds since the epoch from Go's time JSON; ValueError if it is not one."""
    found = _RFC3339.fullmatch(text)
    if not found:
        raise ValueError("not an RFC 3339 time")
    zone = found.group(3)
    moment = datetime.fromisoformat(found.group(1) + ("+00:00" if zone == "Z" else zone))
    whole = (moment - _EPOCH) // timedelta(seconds=1)
    return whole * 1_000_000_000 + int((found.group(2) or "0").ljust(9, "0"))
