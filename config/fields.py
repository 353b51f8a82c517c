"""Reading one object of a parsed config with typed getters that name the key in errors.

A Section wraps one body (the whole file, or one block such as listener "tcp" { ... }),
refuses keys it does not know or that were given twice as soon as it is made, and then
hands out values checked for type: booleans, strings, sizes, durations. Every error is a
ConfigError carrying the dotted key ("listener.tcp.tls_disable") and the file.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Mapping
from typing import Any

from config.errors import ConfigError
from config.reader import Repeated
from config.units import parse_duration, parse_size

__all__ = ["Section", "describe"]

_REQUIRED: Any = object()


def describe(value: object) -> str:
    """How a value appears in an error: strings quoted (and cut short), other values by kind."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        text = repr(value)
        return text if len(text) <= 40 else text[:37] + "..."
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, Mapping):
        return "a block"
    if isinstance(value, (list, tuple)):
        return "a list"
    return f"a {type(value).__name__}"


class Section:
    """One config object (top level or a block body) and the keys it accepts.

    unsupported names keys Vault/OpenBao accept there that strongroom does not, so that
    an operator porting a config learns why rather than reading "unknown key".
    repeatable names keys that may appear more than once (top-level blocks).
    """

    def __init__(
        self,
        source: str,
        location: str,
        body: object,
        accepted: Collection[str],
        *,
        unsupported: Collection[str] = (),
        repeatable: Collection[str] = (),
    ) -> None:
        self.source = source
        self.location = location
        if not isinstance(body, Mapping):
            raise ConfigError(source, location or None, f"expected a block {{ ... }}, got {describe(body)}")
        self._body: Mapping[Any, Any] = body
        for key, value in body.items():
            if not isinstance(key, str) or key not in accepted:
                raise self._unknown(key, accepted, unsupported)
            if isinstance(value, Repeated) and key not in repeatable:
                raise self.error(key, f"given {len(value)} times; give it once")

    def _unknown(self, key: object, accepted: Collection[str], unsupported: Collection[str]) -> ConfigError:
        shown = key if isinstance(key, str) else str(key)
        if shown in unsupported:
            return self.error(shown, "a Vault/OpenBao setting strongroom does not support")
        reason = "unknown key"
        close = difflib.get_close_matches(shown, sorted(accepted), n=1)
        if close:
            reason += f" (did you mean {close[0]!r}?)"
        elif accepted:
            reason += f" (accepted here: {', '.join(sorted(accepted))})"
        else:
            reason += " (this block takes no keys)"
        return self.error(shown, reason)

    def key(self, name: str) -> str:
        """The dotted key of name in this section, as errors show it."""
        return f"{self.location}.{name}" if self.location else name

    def error(self, name: str | None, reason: str) -> ConfigError:
        return ConfigError(self.source, self.key(name) if name else self.location or None, reason)

    def has(self, name: str) -> bool:
        return name in self._body

    def raw(self, name: str, default: Any = None) -> Any:
        """The value as parsed, unchecked."""
        return self._body.get(name, default)

    def _value(self, name: str, default: Any) -> Any:
        if name in self._body:
            return self._body[name]
        if default is _REQUIRED:
            raise self.error(name, "missing required key")
        return default

    def boolean(self, name: str, default: bool) -> bool:
        """true/false, also written as the strings "true"/"false" (any case), as Vault accepts."""
        value = self._value(name, default)
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise self.error(name, f"expected true or false, got {describe(value)}")

    def required_string(self, name: str) -> str:
        return self._string(name, self._value(name, _REQUIRED), allow_empty=False)

    def optional_string(
        self, name: str, default: str | None = None, *, allow_empty: bool = False
    ) -> str | None:
        """The string at name, or default when it is absent (or JSON null)."""
        value = self._value(name, default)
        return None if value is None else self._string(name, value, allow_empty=allow_empty)

    def _string(self, name: str, value: object, *, allow_empty: bool) -> str:
        if not isinstance(value, str):
            raise self.error(name, f"expected a string, got {describe(value)}")
        if not allow_empty and not value.strip():
            raise self.error(name, "must not be empty")
        return value

    def size(self, name: str, default: int, *, positive: bool = True) -> int:
        """Bytes: an integer or a string with a unit ("512MiB")."""
        try:
            size = parse_size(self._value(name, default))
        except ValueError as error:
            raise self.error(name, str(error)) from None
        if positive and size <= 0:
            raise self.error(name, "must be greater than 0")
        return size

    def duration(self, name: str, default: int, *, positive: bool = True) -> int:
        """Seconds: an integer or a Vault duration string ("90s", "1h30m")."""
        try:
            seconds = parse_duration(self._value(name, default))
        except ValueError as error:
            raise self.error(name, str(error)) from None
        if positive and seconds <= 0:
            raise self.error(name, "must be greater than 0")
        return seconds

    def count(self, name: str, default: int, low: int, high: int) -> int:
        """A whole number from low to high (a JSON or HCL integer, or its decimal string)."""
        value = self._value(name, default)
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value.strip())
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise self.error(name, f"expected a whole number from {low} to {high}, got {describe(value)}")
        return value

    def choice(self, name: str, default: str, choices: Mapping[str, str]) -> str:
        """One of choices' keys, case-insensitively, mapped to its canonical value."""
        value = self._value(name, default)
        if isinstance(value, str) and value.lower() in choices:
            return choices[value.lower()]
        raise self.error(name, f"expected one of {', '.join(choices)}, got {describe(value)}")
