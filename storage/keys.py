"""What every backend accepts as a key, a value and a transaction, and how list() names children.

Shared by all backends so that they agree on which inputs are refused and on what a listing
returns; it knows nothing of how any backend lays its data out. Messages name the rule that was
broken, never the key or value itself (paths can carry token hashes, values are secrets).
"""

from __future__ import annotations

from typing import Sequence

from storage.backend import Delete, InvalidKeyError, InvalidValueError, Op, Put

# Far above any real Vault-style path; bounds the framing LMDB needs for long keys.
MAX_KEY_BYTES = 16 * 1024
SEPARATOR = "/"


def encode_key(key: object) -> bytes:
    """The UTF-8 form of a valid storage key; InvalidKeyError otherwise."""
    if not isinstance(key, str):
        raise InvalidKeyError(f"a storage key must be a str, not {type(key).__name__}")
    if not key:
        raise InvalidKeyError("a storage key must not be empty")
    # A key ending in '/' would be indistinguishable from a folder in list().
    if key.endswith(SEPARATOR):
        raise InvalidKeyError("a storage key must not end with '/'")
    raw = _utf8(key, InvalidKeyError, "a storage key")
    if len(raw) > MAX_KEY_BYTES:
        raise InvalidKeyError(
            f"a storage key is {len(raw)} bytes in UTF-8, above the limit of {MAX_KEY_BYTES}"
        )
    return raw


def encode_prefix(prefix: object) -> bytes:
    """The UTF-8 form of a list() prefix; any str, '' included, is a prefix."""
    if not isinstance(prefix, str):
        raise InvalidKeyError(f"a list prefix must be a str, not {type(prefix).__name__}")
    return _utf8(prefix, InvalidKeyError, "a list prefix")


def check_value(value: object) -> bytes:
    """value itself when it is bytes; InvalidValueError otherwise."""
    if not isinstance(value, bytes):
        raise InvalidValueError(f"a storage value must be bytes, not {type(value).__name__}")
    return value


def check_ops(ops: Sequence[Op]) -> list[Op]:
    """The transaction's ops as a list, every key and value checked before any is applied."""
    if isinstance(ops, (str, bytes)) or not isinstance(ops, Sequence):
        raise InvalidValueError("a transaction takes a sequence of Put and Delete")
    checked: list[Op] = []
    for index, op in enumerate(ops):
        if isinstance(op, Put):
            encode_key(op.key)
            check_value(op.value)
        elif isinstance(op, Delete):
            encode_key(op.key)
        else:
            raise InvalidValueError(
                f"transaction op {index} is a {type(op).__name__}, not a Put or a Delete"
            )
        checked.append(op)
    return checked


def child_name(prefix: bytes, key: bytes) -> bytes | None:
    """The entry list(prefix) shows for key: a leaf name, a folder ending in '/', or None.

    Vault's list: the part of key after prefix up to and including the first '/'. A key equal
    to prefix yields '' (a leaf, as in Vault), which get(prefix + '') finds again.
    """
    if not key.startswith(prefix):
        return None
    rest = key[len(prefix):]
    slash = rest.find(b"/")
    return rest if slash == -1 else rest[: slash + 1]


def _utf8(text: str, error: type[Exception], what: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        # Lone surrogates have no UTF-8 form, so they could not be stored or ordered.
        raise error(f"{what} must be valid Unicode (no lone surrogates)") from None
