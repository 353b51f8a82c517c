"""Per-term encryption counts that survive restarts without a write per encryption.

Counts are reserved in blocks: before the count passes what storage says was reserved, a
new block is reserved and written first. A crash therefore over-counts (by less than a
block), never under-counts — the safe direction for SP 800-38D's invocation limit.
"""

from __future__ import annotations

import msgpack
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from seal.entry import ROOT_TERM, open_entry, seal_entry
from seal.errors import IntegrityError
from storage import Backend, Put

RESERVE_BLOCK = 4096


class EncryptionCounter:
    """Counts encryptions per keyring term; the reservations are sealed under the root key."""

    def __init__(self, backend: Backend, path: str, aead: AESGCM, block: int = RESERVE_BLOCK) -> None:
        self._backend = backend
        self._path = path
        self._aead = aead
        self._block = block
        self._counts: dict[int, int] = {}
        self._reserved: dict[int, int] = {}

    def load(self, terms: list[int]) -> None:
        """Start every term at its reserved count (an over-count after a crash)."""
        blob = self._backend.get(self._path)
        stored: dict[int, int] = {}
        if blob is not None:
            try:
                stored = {int(k): int(v) for k, v in msgpack.unpackb(open_entry(self._aead, self._path, blob), strict_map_key=False).items()}
            except (ValueError, TypeError, AttributeError, msgpack.UnpackException) as exc:
                raise IntegrityError("the encryption counts are malformed") from exc
        for term in terms:
            self._reserved[term] = stored.get(term, 0)
            self._counts[term] = self._reserved[term]

    def count(self, term: int) -> int:
        return self._counts.get(term, 0)

    def add(self, term: int) -> Put | None:
        """Count one encryption; returns a reservation to write first, when one is due."""
        self._counts[term] = self._counts.get(term, 0) + 1
        if self._counts[term] <= self._reserved.get(term, 0):
            return None
        self._reserved[term] = self._counts[term] - 1 + self._block
        return self._put(self._aead)

    def reset_put(self, terms: list[int]) -> Put:
        """The record for a fresh keyring: every term at zero."""
        for term in terms:
            self._counts[term] = self._reserved[term] = 0
        return self._put(self._aead)

    def reserve_put(self, terms: list[int]) -> Put:
        """The record after a rotation: new terms start at zero."""
        for term in terms:
            self._counts.setdefault(term, 0)
            self._reserved.setdefault(term, 0)
        return self._put(self._aead)

    def rekey_put(self, aead: AESGCM) -> Put:
        """The same record sealed under a new root key (for a rekey transaction)."""
        return self._put(aead)

    def set_aead(self, aead: AESGCM) -> None:
        self._aead = aead

    def _put(self, aead: AESGCM) -> Put:
        plain = msgpack.packb(self._reserved)
        return Put(self._path, seal_entry(aead, ROOT_TERM, self._path, plain))
