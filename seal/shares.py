"""Collecting custodians' shares toward a threshold: unseal, rekey, and their kin.

A collection has a nonce (a UUID made at the first share, as Vault's), counts each distinct
share once, and expires: partial shares do not linger in memory past the progress TTL.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import time
import uuid
from typing import Callable

from seal import shamir
from seal.errors import InvalidShareError
from seal.lockedmem import zero_bytearray

DEFAULT_PROGRESS_TTL = 600.0  # seconds; Vault keeps progress forever, strongroom does not


def decode_share(text: str) -> bytearray:
    """A share as custodians type it: hex first, then base64, as Vault accepts."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidShareError("the key must be a non-empty hex or base64 string")
    text = text.strip()
    try:
        return bytearray(bytes.fromhex(text))
    except ValueError:
        pass
    try:
        return bytearray(base64.b64decode(text, validate=True))
    except (binascii.Error, ValueError):
        raise InvalidShareError("the key is neither hex nor base64") from None


class ShareCollection:
    """Distinct shares gathered toward a threshold, with a nonce and an expiry."""

    def __init__(
        self, threshold: int, ttl: float = DEFAULT_PROGRESS_TTL, clock: Callable[[], float] = time.time
    ) -> None:
        self.threshold = threshold
        self.nonce = str(uuid.uuid4())
        self._ttl = ttl
        self._clock = clock
        self._started: float | None = None
        self._parts: list[bytearray] = []

    def __repr__(self) -> str:
        return f"ShareCollection({self.progress}/{self.threshold})"

    @property
    def progress(self) -> int:
        return len(self._parts)

    @property
    def complete(self) -> bool:
        return len(self._parts) >= self.threshold

    @property
    def expires_at(self) -> float | None:
        """When the partial progress is dropped; None before the first share."""
        return None if self._started is None else self._started + self._ttl

    def expired(self) -> bool:
        return self._started is not None and self._clock() >= self._started + self._ttl

    def add(self, share: bytes | bytearray) -> bool:
        """Count share once; False (and no progress) if it was already submitted."""
        for part in self._parts:
            if hmac.compare_digest(bytes(part), bytes(share)):
                return False
        if self._started is None:
            self._started = self._clock()
        self._parts.append(bytearray(share))
        return True

    def combine(self) -> bytearray:
        """The secret the shares encode (a single share is the secret itself, as Vault)."""
        if not self.complete:
            raise InvalidShareError("not enough shares to combine")
        if self.threshold == 1:
            return bytearray(self._parts[0])
        return bytearray(shamir.combine([bytes(p) for p in self._parts]))

    def clear(self) -> None:
        """Zero and drop every share held."""
        for part in self._parts:
            zero_bytearray(part)
        self._parts.clear()
        self._started = None
