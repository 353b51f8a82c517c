"""Sizes and durations as operators write them: "512MiB", "1GB", "90s", "1h30m", "7d".

Pure functions, no I/O. The config loader uses them for its settings; the server reuses
them for request parameters such as a TTL of "30m". Both parsers return whole numbers
(bytes, seconds) and raise a ValueError subclass naming the value they refused.
"""

from __future__ import annotations

import re
from fractions import Fraction

__all__ = [
    "InvalidDurationError",
    "InvalidSizeError",
    "MAX_DURATION_SECONDS",
    "MAX_SIZE_BYTES",
    "format_duration",
    "format_size",
    "parse_duration",
    "parse_size",
]

# Go's time.Duration is an int64 of nanoseconds; Vault refuses anything longer, and so do
# we, which also keeps later datetime arithmetic from overflowing.
MAX_DURATION_SECONDS = (2**63 - 1) // 1_000_000_000

# Sizes end up as C size_t / off_t (LMDB map size, request limits): keep to int64.
MAX_SIZE_BYTES = 2**63 - 1

# Longer inputs are never legitimate and would make Fraction parse unbounded digit strings.
_MAX_TEXT_LENGTH = 64

_DURATION_UNITS = {"d": 86_400, "h": 3_600, "m": 60, "s": 1}
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)([dhms])", re.ASCII)
_DURATION_SYNTAX = 'a number of seconds, or number+unit pairs with units d, h, m, s (e.g. "90s", "1h30m")'

_SIZE_UNITS = {
    "": 1,
    "b": 1,
    "kb": 10**3,
    "mb": 10**6,
    "gb": 10**9,
    "tb": 10**12,
    "pb": 10**15,
    "kib": 2**10,
    "mib": 2**20,
    "gib": 2**30,
    "tib": 2**40,
    "pib": 2**50,
}
_SIZE_TEXT = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(?: ?([A-Za-z]+))?", re.ASCII)
_SIZE_SYNTAX = 'a number of bytes, optionally with a unit B, KB, MB, GB, TB, PB, KiB, MiB, GiB, TiB, PiB (e.g. "512MiB")'


class InvalidDurationError(ValueError):
    """A duration that is not a whole, non-negative number of seconds in Vault's syntax."""


class InvalidSizeError(ValueError):
    """A size that is not a whole, non-negative number of bytes in a known unit."""


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def parse_duration(value: int | str) -> int:
    """Seconds in value: an int, a string of digits, or Go-style pairs like "1h30m" or "7d".

    Fractions are allowed where the total is whole ("1.5h" is 5400); signs, spaces and the
    sub-second units Go also knows (ms, us, ns) are refused.
    """
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise InvalidDurationError(f"invalid duration {_shown(value)}: expected {_DURATION_SYNTAX}")
    if isinstance(value, int):
        seconds = Fraction(value)
    elif len(value) > _MAX_TEXT_LENGTH:
        raise InvalidDurationError(f"invalid duration {_shown(value)}: too long")
    elif value.isascii() and value.isdigit():
        seconds = Fraction(int(value))
    else:
        seconds = _sum_duration_parts(value)
    if seconds < 0:
        raise InvalidDurationError(f"invalid duration {_shown(value)}: must not be negative")
    if seconds.denominator != 1:
        raise InvalidDurationError(f"invalid duration {_shown(value)}: not a whole number of seconds")
    if seconds > MAX_DURATION_SECONDS:
        raise InvalidDurationError(
            f"invalid duration {_shown(value)}: longer than {MAX_DURATION_SECONDS} seconds"
        )
    return int(seconds)


def _sum_duration_parts(text: str) -> Fraction:
    total = Fraction(0)
    position = 0
    while position < len(text) or position == 0:
        match = _DURATION_PART.match(text, position)
        if match is None:
            raise InvalidDurationError(f"invalid duration {_shown(text)}: expected {_DURATION_SYNTAX}")
        total += Fraction(match.group(1)) * _DURATION_UNITS[match.group(2)]
        position = match.end()
    return total


def format_duration(seconds: int) -> str:
    """seconds the way Go prints a time.Duration, as Vault shows TTLs: "1h30m0s", "90s" -> "1m30s"."""
    if isinstance(seconds, bool) or not isinstance(seconds, int) or seconds < 0:
        raise InvalidDurationError(f"invalid duration {_shown(seconds)}: expected a non-negative int")
    hours, rest = divmod(seconds, 3_600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"


def parse_size(value: int | str) -> int:
    """Bytes in value: an int, a string of digits, or a number with a unit ("64KiB", "1GB").

    Units are case-insensitive; KB/MB/... are powers of 1000, KiB/MiB/... powers of 1024.
    Bare K/M/G are refused: whether they mean 1000 or 1024 differs between tools.
    """
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise InvalidSizeError(f"invalid size {_shown(value)}: expected {_SIZE_SYNTAX}")
    if isinstance(value, int):
        size = Fraction(value)
    else:
        if len(value) > _MAX_TEXT_LENGTH:
            raise InvalidSizeError(f"invalid size {_shown(value)}: too long")
        match = _SIZE_TEXT.fullmatch(value)
        unit = (match.group(2) or "").lower() if match is not None else None
        if unit not in _SIZE_UNITS:
            raise InvalidSizeError(f"invalid size {_shown(value)}: expected {_SIZE_SYNTAX}")
        size = Fraction(match.group(1)) * _SIZE_UNITS[unit]
    if size < 0:
        raise InvalidSizeError(f"invalid size {_shown(value)}: must not be negative")
    if size.denominator != 1:
        raise InvalidSizeError(f"invalid size {_shown(value)}: not a whole number of bytes")
    if size > MAX_SIZE_BYTES:
        raise InvalidSizeError(f"invalid size {_shown(value)}: larger than {MAX_SIZE_BYTES} bytes")
    return int(size)


def format_size(size: int) -> str:
    """size in the largest binary unit that divides it exactly: 1073741824 -> "1GiB", 1000 -> "1000B"."""
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise InvalidSizeError(f"invalid size {_shown(size)}: expected a non-negative int")
    for unit, factor in (("PiB", 2**50), ("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if size and size % factor == 0:
            return f"{size // factor}{unit}"
    return f"{size}B"
