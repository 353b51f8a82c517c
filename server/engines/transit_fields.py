"""Request fields read as Vault's framework reads them, so the `bao write k=v` CLI (which sends
every value as a string) and JSON clients both work: "true"/1 are booleans, "0x80" is an int,
"2h" or 7200 is a duration. Conversion failures give Vault's 400 texts.
"""

from __future__ import annotations

import re
from typing import Any, Mapping

from server.engines.transit_encoding import Base64Error, b64decode
from server.errors import BadRequestError

VALIDATION_PREFIX = "Field validation failed: "
# Vault's framework.GenericNameRegex for key names, with Go's ASCII-only \w.
KEY_NAME_PATTERN = r"[A-Za-z0-9_](?:[A-Za-z0-9_\-.@]*[A-Za-z0-9_])?"
KEY_NAME = re.compile(KEY_NAME_PATTERN)
_TRUE = {"1", "t", "T", "TRUE", "true", "True"}
_FALSE = {"0", "f", "F", "FALSE", "false", "False"}
_DECIMAL = re.compile(r"[+-]?(?:[1-9][0-9]*|0)", re.ASCII)
_PREFIXED = re.compile(r"([+-]?)0([xXoObB]?)([0-9a-fA-F]+)", re.ASCII)
_GO_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}
_GO_DURATION_PART = re.compile(r"([0-9]*(?:\.[0-9]*)?)(ns|us|µs|μs|ms|s|m|h)")
_GO_TYPE_NAMES = {dict: "map[string]interface {}", list: "[]interface {}", float: "json.Number", bool: "bool",
                  str: "string", type(None): "<nil>"}


def go_type_name(value: Any) -> str:
    """How Go's mapstructure names a decoded JSON value's type in its messages."""
    if isinstance(value, int) and not isinstance(value, bool):
        return "json.Number"
    return _GO_TYPE_NAMES.get(type(value), "interface {}")


class Fields:
    """Typed reads of one request's data. `prefix` is what Vault puts before conversion
    errors; paths with an existence check (encrypt) report them without it."""

    def __init__(self, data: Mapping[str, Any], *, prefix: str = VALIDATION_PREFIX) -> None:
        self.data = data
        self.prefix = prefix

    def has(self, name: str) -> bool:
        """Vault's GetOk: the field was sent (JSON null counts as not sent)."""
        return self.data.get(name) is not None

    def raw(self, name: str) -> Any:
        return self.data.get(name)

    def _error(self, name: str, detail: str) -> BadRequestError:
        return BadRequestError(f'{self.prefix}error converting input for field "{name}": {detail}')

    def string(self, name: str, default: str = "") -> str:
        value = self.data.get(name)
        if value is None:
            return default
        if isinstance(value, str):
            return value
        if isinstance(value, bool):
            return "1" if value else "0"
        if isinstance(value, (int, float)):
            return _number_text(value)
        raise self._error(name, f"'' expected type 'string', got unconvertible type '{go_type_name(value)}'")

    def boolean(self, name: str, default: bool = False) -> bool:
        value = self.data.get(name)
        if value is None:
            return default
        if isinstance(value, bool):
            return value
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            text = value if isinstance(value, str) else _number_text(value)
            if text in _TRUE:
                return True
            if text in _FALSE:
                return False
            raise self._error(name, "'' cannot parse value as 'bool': strconv.ParseBool: invalid syntax")
        raise self._error(name, f"'' expected type 'bool', got unconvertible type '{go_type_name(value)}'")

    def integer(self, name: str, default: int = 0) -> int:
        if name not in self.data:
            return default
        value = self.data[name]
        if value is None:
            return 0
        if isinstance(value, bool):
            return int(value)
        if isinstance(value, int):
            return value
        if isinstance(value, (str, float)):
            parsed = parse_go_int(value if isinstance(value, str) else _number_text(value))
            if parsed is None:
                raise self._error(name, "'' cannot parse value as 'int': strconv.ParseInt: invalid syntax")
            return parsed
        raise self._error(name, f"'' expected type 'int', got unconvertible type '{go_type_name(value)}'")

    def context(self, name: str = "context") -> bytes:
        """A base64 derivation context, refused with Vault's datakey/keys wording."""
        return decode_context(self.string(name))

    def seconds(self, name: str, default: int = 0) -> int:
        """Vault's TypeDurationSecond: whole seconds from 7200, "7200", "2h" or "1d"."""
        value = self.data.get(name)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise self._error(name, f"'' expected type 'int', got unconvertible type '{go_type_name(value)}'")
        text = value if isinstance(value, str) else _number_text(value)
        try:
            result = parse_duration_seconds(text)
        except ValueError as exc:
            raise self._error(name, str(exc)) from None
        if result < 0:
            raise self._error(name, f"cannot provide negative value '{text}'")
        return result


def decode_context(text: str) -> bytes:
    try:
        return b64decode(text) if text else b""
    except Base64Error:
        raise BadRequestError("failed to base64-decode context") from None


def _number_text(value: int | float) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**63:
        return f"{value:.1f}"  # a JSON 128.0 stays "128.0", as Go's json.Number keeps it
    return str(value)


def parse_go_int(text: str) -> int | None:
    """strconv.ParseInt(text, 0, 64): decimal, 0x/0o/0b prefixes, leading-0 octal."""
    if _DECIMAL.fullmatch(text):
        value = int(text)
    else:
        found = _PREFIXED.fullmatch(text)
        if not found:
            return None
        sign, base_mark, digits = found.groups()
        base = {"x": 16, "o": 8, "b": 2, "": 8}[base_mark.lower()]
        try:
            value = int(digits, base) * (-1 if sign == "-" else 1)
        except ValueError:
            return None
    return value if -(2**63) <= value < 2**63 else None


def parse_duration_seconds(text: str) -> int:
    """Vault's parseutil.ParseDurationSecond: an integer is seconds, "Nd" is days, anything
    else is a Go duration ("1h30m", "90s", "1.5h"); fractions of a second are dropped."""
    text = text.strip()
    if not text:
        return 0
    as_int = parse_go_int(text)
    if as_int is not None:
        return as_int
    if text.endswith("d") and parse_go_int(text[:-1]) is not None:
        return int(text[:-1]) * 86400
    return int(_go_duration(text))


def _go_duration(text: str) -> float:
    """time.ParseDuration, returning seconds; ValueError with Go's message."""
    original, sign = text, 1
    if text[:1] in "+-":
        sign, text = (-1 if text[0] == "-" else 1), text[1:]
    if text == "0":
        return 0.0
    if not text:
        raise ValueError(f'time: invalid duration "{original}"')
    total, pos = 0.0, 0
    while pos < len(text):
        found = _GO_DURATION_PART.match(text, pos)
        if not found or found.group(1) in ("", "."):
            if re.fullmatch(r"[0-9.]+", text[pos:]):
                raise ValueError(f'time: missing unit in duration "{original}"')
            raise ValueError(f'time: invalid duration "{original}"')
        total += float(found.group(1)) * _GO_UNITS[found.group(2)]
        pos = found.end()
    return sign * total


def string_map_batch(raw: Any) -> list[dict[str, str]]:
    """batch_input for hmac, sign and verify: a list of objects whose values are strings
    (Vault decodes these into map[string]string)."""
    if not isinstance(raw, list):
        raise BadRequestError(f"failed to parse batch input: source data must be an array or slice, got "
                              f"{go_type_name(raw)}")
    items: list[dict[str, str]] = []
    for i, entry in enumerate(raw):
        if not isinstance(entry, dict):
            raise BadRequestError(f"failed to parse batch input: '[{i}]' expected a map, got '{go_type_name(entry)}'")
        for field, value in entry.items():
            if not isinstance(value, str):
                raise BadRequestError(f"failed to parse batch input: '[{i}][{field}]' expected type 'string', got "
                                      f"unconvertible type '{go_type_name(value)}'")
        items.append(dict(entry))
    if not items:
        raise BadRequestError("missing batch input to process")
    return items
