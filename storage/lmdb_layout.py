"""How storage paths and values are laid out in the LMDB data sub-db.

LMDB keys are at most 511 bytes (mdb_env_get_maxkeysize), storage paths may be longer:

- a path of at most SHORT_KEY_BYTES in UTF-8 is the LMDB key itself, and the record is the
  value as given;
- a longer path is stored under its first SHORT_KEY_BYTES bytes followed by the SHA-256 of the
  whole path (LONG_KEY_BYTES in all), and its record is framed: the path's length (u32,
  big-endian), the path, then the value. Reads compare the framed path with the one asked for.

The two kinds are told apart by the LMDB key's length alone. Since a long key begins with the
path's own first bytes, a prefix scan still finds every path under a prefix; list() then
takes each child from the full path. Works on lmdb cursors and transactions handed to it;
opening, locking and error translation belong to lmdb_store.
"""

from __future__ import annotations

import hashlib
import struct
from typing import Any

from storage.backend import StorageError
from storage.keys import child_name

SHORT_KEY_BYTES = 400
LONG_KEY_BYTES = SHORT_KEY_BYTES + hashlib.sha256().digest_size
_PATH_LENGTH = struct.Struct(">I")


class CorruptRecordError(StorageError):
    """A record in the data sub-db does not have the layout this module writes."""


def lmdb_key(path: bytes) -> bytes:
    """The LMDB key under which the (UTF-8) path is stored."""
    if len(path) <= SHORT_KEY_BYTES:
        return path
    return path[:SHORT_KEY_BYTES] + hashlib.sha256(path).digest()


def is_long(key: bytes) -> bool:
    return len(key) > SHORT_KEY_BYTES


def record(path: bytes, value: bytes) -> bytes:
    """What is stored at lmdb_key(path) for value."""
    if len(path) <= SHORT_KEY_BYTES:
        return value
    return _PATH_LENGTH.pack(len(path)) + path + value


def unframe(key: bytes, stored: bytes) -> tuple[bytes, bytes]:
    """(full path, value) of the record stored at LMDB key `key`."""
    if not is_long(key):
        return key, stored
    if len(key) != LONG_KEY_BYTES or len(stored) < _PATH_LENGTH.size:
        raise CorruptRecordError("a long-key record in the data sub-db is malformed")
    (length,) = _PATH_LENGTH.unpack_from(stored)
    end = _PATH_LENGTH.size + length
    path = stored[_PATH_LENGTH.size : end]
    if len(path) != length or lmdb_key(path) != key:
        raise CorruptRecordError("a long-key record in the data sub-db is malformed")
    return path, stored[end:]


def read(txn: Any, db: Any, path: bytes) -> bytes | None:
    """The value stored for path, or None."""
    key = lmdb_key(path)
    stored = txn.get(key, db=db)
    if stored is None:
        return None
    found, value = unframe(key, stored)
    # Only a SHA-256 collision between two long paths could make these differ.
    return value if found == path else None


def write(txn: Any, db: Any, path: bytes, value: bytes) -> None:
    key = lmdb_key(path)
    if is_long(key):
        stored = txn.get(key, db=db)
        if stored is not None and unframe(key, stored)[0] != path:
            raise StorageError("two long storage keys share a SHA-256 digest; refusing to overwrite")
    txn.put(key, record(path, value), db=db)


def remove(txn: Any, db: Any, path: bytes) -> None:
    key = lmdb_key(path)
    if is_long(key):
        stored = txn.get(key, db=db)
        if stored is None or unframe(key, stored)[0] != path:
            return
    txn.delete(key, db=db)


def children(txn: Any, db: Any, prefix: bytes) -> set[bytes]:
    """The UTF-8 names list(prefix) returns, unsorted."""
    # Every path starting with prefix is stored under a key starting with start (see above).
    start = prefix[:SHORT_KEY_BYTES]
    names: set[bytes] = set()
    cursor = txn.cursor(db=db)
    positioned = cursor.set_range(start)
    while positioned:
        key = cursor.key()
        if not key.startswith(start):
            break
        path, _ = unframe(key, cursor.value())
        name = child_name(prefix, path)
        if name is None:
            positioned = cursor.next()
            continue
        names.add(name)
        folder = prefix + name
        if name.endswith(b"/") and len(folder) <= SHORT_KEY_BYTES:
            # Every key under folder sorts before folder[:-1] + b"0" ('0' follows '/'), and so
            # does every long key under it, since those begin with all of folder: skip them.
            positioned = cursor.set_range(folder[:-1] + b"0")
        else:
            positioned = cursor.next()
    return names
