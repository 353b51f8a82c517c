"""Request fields as Vault's framework reads them for the KV engine, with clear 400s.

Vault decodes fields "weakly" (mapstructure): "7" is an int, "true" a bool, "1,2" a list of
versions. The same inputs are accepted here; what Vault would silently wrap or truncate (a
negative max_versions, a float version) is refused. Messages name the field; none of these
fields carries a secret.
"""

from __future__ import annotations

import re
from typing import Any, Iterable, Mapping

from config.units import InvalidDurationError, parse_duration
from server.errors import BadRequestError

_INT_TEXT = re.compile(r"[+-]?\d{1,19}", re.ASCII)
_TRUE = {"1", "t", "T", "TRUE", "true", "True"}  # Go's strconv.ParseBool
_FALSE = {"0", "f", "F", "FALSE", "false", "False"}
UINT32_MAX = 2**32 - 1


def field_error(name: str, reason: str) -> BadRequestError:
    return BadRequestError(f'error converting input for field "{name}": {reason}')


def integer(value: Any, name: str) -> int:
    """An int, or a string of decimal digits."""
    if isinstance(value, bool):
        raise field_error(name, "expected an integer, got a boolean")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and _INT_TEXT.fullmatch(value):
        return int(value)
    raise field_error(name, "expected an integer")


def count(value: Any, name: str) -> int:
    """A non-negative integer that fits Vault's uint32 (max_versions)."""
    number = integer(value, name)
    if not 0 <= number <= UINT32_MAX:
        raise field_error(name, f"must be between 0 and {UINT32_MAX}")
    return number


def boolean(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value != 0
    if isinstance(value, str) and value in _TRUE | _FALSE:
        return value in _TRUE
    raise field_error(name, "expected a boolean")


def duration(value: Any, name: str, *, signed: bool = False) -> int:
    """Seconds: an int, digits, or a Go-style duration ("1h30m"); negative only when signed."""
    negative = False
    if signed and isinstance(value, int) and not isinstance(value, bool) and value < 0:
        negative, value = True, -value
    elif signed and isinstance(value, str) and value.startswith("-"):
        negative, value = True, value[1:]
    elif isinstance(value, int) and not isinstance(value, bool) and value < 0:
        raise field_error(name, "cannot provide a negative value")
    try:
        seconds = parse_duration(value)
    except InvalidDurationError as exc:
        raise field_error(name, str(exc)) from None
    return -seconds if negative else seconds


def versions(value: Any, name: str = "versions") -> list[int]:
    """Vault's comma-int-slice: [1, "2"], 3, or "1,2"."""
    if isinstance(value, str):
        items: Iterable[Any] = [part.strip() for part in value.split(",") if part.strip()]
    elif isinstance(value, list):
        items = value
    else:
        items = [value]
    return [integer(item, name) for item in items]


def mapping(value: Any, name: str) -> dict[str, Any] | None:
    """A JSON object, or None for null."""
    if value is None or isinstance(value, dict):
        return value
    raise field_error(name, "expected a JSON object")


def query_value(query: Mapping[str, str], name: str) -> str | None:
    """The one value of a query parameter, or None; repeating it is an error."""
    getall = getattr(query, "getall", None)
    values = getall(name, []) if getall is not None else ([query[name]] if name in query else [])
    if len(values) > 1:
        raise BadRequestError(f'Field validation failed: error converting input for field "{name}": expected a single value')
    return values[0] if values else None


def ignored_warning(supplied: Iterable[str], known: Iterable[str]) -> list[str] | None:
    """Vault's warning for body or query parameters an endpoint does not read."""
    unknown = sorted(set(supplied) - set(known))
    if not unknown:
        return None
    return [f"Endpoint ignored these unrecognized parameters: [{' '.join(unknown)}]"]
