"""The barrier's on-disk entry format, Vault's layout, and nothing else.

    term (u32, big-endian) | version 0x02 | nonce (96 bits, random) | AES-256-GCM ciphertext+tag

The storage path is the associated data (Vault's "AESGCMVersion2"), so a value copied to
another path fails to open. Term 0 is reserved for entries under the root key or the unseal
key (the keyring itself, the root key); keyring terms start at 1.
"""

from __future__ import annotations

import os
import struct

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from seal.errors import IntegrityError

ENTRY_VERSION = 0x02
NONCE_SIZE = 12  # SP 800-38D §8.2.2: 96-bit random IVs
TAG_SIZE = 16
HEADER = struct.Struct(">IB")
OVERHEAD = HEADER.size + NONCE_SIZE + TAG_SIZE
KEY_SIZE = 32
ROOT_TERM = 0


def entry_term(blob: bytes) -> int:
    """The keyring term an entry was written under; IntegrityError if it is no entry."""
    if len(blob) < OVERHEAD:
        raise IntegrityError("stored entry is truncated")
    term, version = HEADER.unpack_from(blob)
    if version != ENTRY_VERSION:
        raise IntegrityError("stored entry has an unknown format version")
    return term


def seal_entry(aead: AESGCM, term: int, path: str, plaintext: bytes | bytearray) -> bytes:
    """Encrypt plaintext for path under the term's key, with a fresh random nonce."""
    nonce = os.urandom(NONCE_SIZE)
    return HEADER.pack(term, ENTRY_VERSION) + nonce + aead.encrypt(nonce, plaintext, path.encode())


def open_entry(aead: AESGCM, path: str, blob: bytes) -> bytes:
    """Decrypt an entry read at path; IntegrityError on any tampering, move or wrong key."""
    entry_term(blob)
    start = HEADER.size
    nonce = blob[start : start + NONCE_SIZE]
    try:
        return aead.decrypt(nonce, blob[start + NONCE_SIZE :], path.encode())
    except InvalidTag:
        raise IntegrityError(f"stored entry at {path!r} failed its integrity check") from None
