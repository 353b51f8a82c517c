"""Strict JSON for request bodies: Python's json module accepts things a secrets server must not.

Its traps, each refused here with a BadRequestError: deep nesting (RecursionError, not
ValueError), integers past the 4300-digit guard (ValueError), NaN/Infinity and 1e999 (read
as floats), duplicate keys (the last silently wins — a policy bypass waiting to happen),
`\\ud800` escapes that decode to lone surrogates (not Unicode scalar values: no UTF-8 encoder,
msgpack's included, accepts them), and a top level that is not an object (Vault's bodies are
always objects).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import orjson

from server.errors import BadRequestError

MAX_DEPTH = 300  # Vault's max_json_depth default
# A surrogate left in a decoded str was unpaired in the JSON text (RFC 8259 §8.2): the
# decoder joins valid pairs into one code point.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _parse_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise ValueError("number out of range")
    return value


def _unique_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)  # built in C; a shorter dict means a key came twice
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise ValueError(f"duplicate key {key!r}")
            seen.add(key)
    return result


_DECODER = json.JSONDecoder(
    object_pairs_hook=_unique_object, parse_constant=_reject_constant, parse_float=_parse_float
)
# The same parse without the per-object hook, which is two thirds of the time of a 100-item
# transit batch (about 65 of 95 us): _decode_unique finds duplicate keys another way.
_PLAIN_DECODER = json.JSONDecoder(parse_constant=_reject_constant, parse_float=_parse_float)


def _decode_unique(text: str) -> Any:
    """_DECODER's result, or its error, with duplicate keys found by counting colons.

    Outside strings a colon ends a key, once per key-value pair in the text; inside them the
    colons are the strings' own. A value written back out (orjson, compact) has one colon
    per pair that survived the parse plus those of its surviving strings. A key given twice
    drops a pair, so the counts differ; with every pair kept they are equal. A colon written
    as the escape \u003a would count on one side only, so such texts, and everything the
    plain parse or orjson refuses, get the strict parse and its exact errors.
    """
    if "\\u003" not in text:
        try:
            value = _PLAIN_DECODER.decode(text)
            if orjson.dumps(value).count(b":") == text.count(":"):
                return value
        except (ValueError, TypeError, RecursionError):
            pass  # the strict parse below says what is wrong, in its own words
    return _DECODER.decode(text)


def _check_values(value: Any) -> None:
    """Depth and strings, iteratively (recursion here would be the very trap we avoid)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise BadRequestError("failed to parse JSON input: nesting too deep")
        if isinstance(item, dict):
            for key, child in item.items():
                _check_string(key)
                stack.append((child, depth + 1))
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)
        elif isinstance(item, str):
            _check_string(item)


def _check_string(text: str) -> None:
    if _LONE_SURROGATE.search(text):
        raise BadRequestError("failed to parse JSON input: string contains an unpaired surrogate escape")


def parse_json_object(raw: bytes) -> dict[str, Any]:
    """The body as a dict; empty body -> {}; anything doubtful -> BadRequestError."""
    if not raw.strip():
        return {}
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequestError("failed to parse JSON input: body is not valid UTF-8") from None
    try:
        value = _decode_unique(text)
    except RecursionError:
        raise BadRequestError("failed to parse JSON input: nesting too deep") from None
    except ValueError as exc:  # JSONDecodeError, the int-digits guard, our hooks
        raise BadRequestError(f"failed to parse JSON input: {_reason(exc)}") from None
    if value is None:
        return {}  # `bao write -f` sends null for "no fields", as Vault accepts
    if not isinstance(value, dict):
        raise BadRequestError("failed to parse JSON input: the body must be a JSON object")
    # The walk is needed only when the text could hold what it looks for: nesting deeper than
    # MAX_DEPTH needs that many brackets, and a lone surrogate in valid UTF-8 input can only
    # come from a \uD800-\uDFFF escape. Most bodies have neither, and skip it.
    if text.count("[") + text.count("{") > MAX_DEPTH or _SURROGATE_ESCAPE.search(text):
        _check_values(value)
    return value


def _reason(exc: ValueError) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return f"{exc.msg} at line {exc.lineno} column {exc.colno}"
    text = str(exc)
    if "digits" in text:
        return "integer too large"
    return text if len(text) < 200 else text[:200]
