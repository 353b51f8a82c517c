"""Typed reads of request fields, with Vault-like 400s for the wrong JSON type."""

from __future__ import annotations

from typing import Any

from seal.errors import InvalidShareError
from seal.shares import decode_share
from server.errors import BadRequestError

MIN_KEY_BYTES, MAX_KEY_BYTES = 16, 33  # Vault's bounds on a submitted unseal key


def integer(data: dict[str, Any], name: str, default: int | None = None) -> int:
    value = data.get(name, default)
    if value is None and default is not None:
        value = default
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadRequestError(f"failed to decode JSON input: {name} must be an integer")
    return value


def boolean(data: dict[str, Any], name: str, default: bool = False) -> bool:
    value = data.get(name, default)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise BadRequestError(f"failed to decode JSON input: {name} must be a boolean")
    return value


def string(data: dict[str, Any], name: str, default: str = "") -> str:
    value = data.get(name, default)
    if value is None:
        return default
    if not isinstance(value, str):
        raise BadRequestError(f"failed to decode JSON input: {name} must be a string")
    return value


def string_list(data: dict[str, Any], name: str) -> list[str] | None:
    """A list of strings (or a comma-separated string, as the CLI may send); None if absent."""
    value = data.get(name)
    if value is None or value == "" or value == []:
        return None
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise BadRequestError(f"failed to decode JSON input: {name} must be a list of strings")
    return value


def submitted_key(data: dict[str, Any]) -> bytearray:
    """The `key` field as a share: hex or base64, within Vault's length bounds."""
    key = data.get("key")
    try:
        share = decode_share(key) if isinstance(key, str) else None
    except InvalidShareError:
        share = None
    if share is None:
        raise BadRequestError("'key' must be a valid hex or base64 string")
    if len(share) < MIN_KEY_BYTES:
        raise BadRequestError(f"invalid key: key is shorter than minimum {MIN_KEY_BYTES} bytes")
    if len(share) > MAX_KEY_BYTES:
        raise BadRequestError(f"invalid key: key is longer than maximum {MAX_KEY_BYTES} bytes")
    return share
