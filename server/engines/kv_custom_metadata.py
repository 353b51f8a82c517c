"""custom_metadata on a KV v2 key: Vault's decoding and its validation rules and messages.

Values are decoded as Vault's mapstructure does ("5" stays "5", 5 becomes "5", true "1");
objects and lists are refused. The rules (at most 64 keys, key 1..128 bytes, value 1..512
bytes, printable only) are reported all at once in go-multierror's format, as Vault does.
"""

from __future__ import annotations

import json
from typing import Any

from server.engines.kv_errors import CustomMetadataError

MAX_KEYS = 64
MAX_KEY_BYTES = 128
MAX_VALUE_BYTES = 512
PREFIX = "custom_metadata validation failed"


def _quoted(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def _as_string(name: str, value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if value is None:
        return ""
    raise CustomMetadataError(f"{PREFIX}: value for key {_quoted(name)} must be a string")


def decode(raw: Any, *, keep_nulls: bool = False) -> dict[str, Any]:
    """custom_metadata as a dict of strings; with keep_nulls (a patch) null entries stay None."""
    if not isinstance(raw, dict):
        raise CustomMetadataError('error converting input for field "custom_metadata": expected a JSON object')
    return {k: None if keep_nulls and v is None else _as_string(k, v) for k, v in raw.items()}


def validate(metadata: dict[str, str]) -> dict[str, str]:
    """metadata itself if it keeps Vault's rules; CustomMetadataError listing every breach."""
    if len(metadata) > MAX_KEYS:
        _fail([f"{PREFIX}: payload must contain at most {MAX_KEYS} keys, provided {len(metadata)}"])
    problems: list[str] = []
    for key in sorted(metadata):
        value = metadata[key]
        key_bytes, value_bytes = len(key.encode("utf-8", "surrogatepass")), len(value.encode("utf-8", "surrogatepass"))
        if not 0 < key_bytes <= MAX_KEY_BYTES:
            problems.append(f"{PREFIX}: length of key {_quoted(key)} is {key_bytes} but must be 0 < len(key) <= {MAX_KEY_BYTES}")
        if not 0 < value_bytes <= MAX_VALUE_BYTES:
            problems.append(f"{PREFIX}: length of value for key {_quoted(key)} is {value_bytes} "
                            f"but must be 0 < len(value) <= {MAX_VALUE_BYTES}")
        if not key.isprintable():
            problems.append(f"{PREFIX}: key {_quoted(key)} ({key}) contains unprintable characters")
        if not value.isprintable():
            problems.append(f"{PREFIX}: value for key {_quoted(key)} contains unprintable characters")
    if problems:
        _fail(problems)
    return metadata


def _fail(problems: list[str]) -> None:
    count = f"{len(problems)} error occurred" if len(problems) == 1 else f"{len(problems)} errors occurred"
    raise CustomMetadataError(count + ":\n" + "".join(f"\t* {p}\n" for p in problems) + "\n")
