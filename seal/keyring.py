"""The keyring: the barrier's data keys by term, plus the root key that encrypts them.

Keys live in locked buffers. The keyring serialises to msgpack only to be encrypted under
the root key at once; the plaintext copy is a bytearray the caller zeroes.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import msgpack
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from seal.entry import KEY_SIZE
from seal.errors import IntegrityError
from seal.lockedmem import LockedBuffer, zero_bytearray

KEYRING_FORMAT = 1


@dataclass(eq=False)
class Term:
    """One keyring term: its number, its key (locked) and when it was installed."""

    number: int
    key: LockedBuffer
    installed: float

    def __post_init__(self) -> None:
        # One AEAD object per term: OpenSSL keeps its own copy of the schedule anyway,
        # and building it per request would cost more than the encryption.
        self.aead = AESGCM(self.key.view())

    def __repr__(self) -> str:
        return f"Term({self.number})"

    def close(self) -> None:
        # The AEAD object is left to the garbage collector: a request decrypting at the
        # moment of seal finishes with it rather than crash on a half-torn term.
        self.key.close()


class Keyring:
    """Terms by number, the active one, and the root key they are sealed under."""

    def __init__(self, root_key: LockedBuffer, terms: list[Term], active: int) -> None:
        if active not in {t.number for t in terms}:
            raise IntegrityError("keyring names an active term it does not hold")
        self.root_key = root_key
        self.root_aead = AESGCM(root_key.view())
        self._terms = {t.number: t for t in terms}
        self.active = self._terms[active]

    def __repr__(self) -> str:
        return f"Keyring(active={self.active.number}, terms={sorted(self._terms)})"

    @classmethod
    def generate(cls, root_key: LockedBuffer, lock: bool) -> "Keyring":
        """A fresh keyring with term 1."""
        return cls(root_key, [_new_term(1, lock)], 1)

    def term(self, number: int) -> Term | None:
        return self._terms.get(number)

    def terms(self) -> list[Term]:
        return [self._terms[n] for n in sorted(self._terms)]

    def add_term(self, lock: bool) -> Term:
        """Install a new term after the highest one and make it active."""
        term = _new_term(max(self._terms) + 1, lock)
        self._terms[term.number] = term
        self.active = term
        return term

    def replace_root_key(self, root_key: LockedBuffer) -> None:
        """Swap in a new root key (rekey); the old one is zeroed."""
        old = self.root_key
        self.root_key = root_key
        self.root_aead = AESGCM(root_key.view())
        old.close()

    def serialize(self) -> bytearray:
        """The keyring as msgpack in a bytearray the caller must zero."""
        terms = []
        for t in self.terms():
            terms.append({"term": t.number, "key": t.key.view(), "installed": t.installed})
        return bytearray(
            msgpack.packb({"format": KEYRING_FORMAT, "active": self.active.number, "terms": terms})
        )

    @classmethod
    def deserialize(cls, root_key: LockedBuffer, blob: bytearray, lock: bool) -> "Keyring":
        """Rebuild a keyring from serialize()'s output; IntegrityError on anything odd."""
        try:
            data = msgpack.unpackb(bytes(blob))
            if data["format"] != KEYRING_FORMAT:
                raise IntegrityError("keyring has an unknown format")
            terms = []
            for item in data["terms"]:
                key = item["key"]
                if not isinstance(key, bytes) or len(key) != KEY_SIZE:
                    raise IntegrityError("keyring holds a malformed key")
                terms.append(
                    Term(int(item["term"]), LockedBuffer.from_bytes(key, lock=lock), float(item["installed"]))
                )
            return cls(root_key, terms, int(data["active"]))
        except (KeyError, TypeError, ValueError, msgpack.UnpackException) as exc:
            raise IntegrityError("keyring is malformed") from exc

    def close(self) -> None:
        """Zero every key, the root key included."""
        for t in self._terms.values():
            t.close()
        self._terms.clear()
        self.root_key.close()


def _new_term(number: int, lock: bool) -> Term:
    raw = bytearray(os.urandom(KEY_SIZE))
    try:
        return Term(number, LockedBuffer.from_bytes(raw, lock=lock), time.time())
    finally:
        zero_bytearray(raw)
