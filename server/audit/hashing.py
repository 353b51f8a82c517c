"""Salted HMAC of secret-bearing values, as Vault's audit devices write them.

Every string in request and response data becomes `hmac-sha256:<hex>` under the device's
salt (kept in the barrier), so an operator holding a value can find it in the log
(sys/audit-hash) while the log itself reveals nothing.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

PREFIX = "hmac-sha256:"


class AuditHasher:
    """HMAC-SHA256 under one device's salt."""

    def __init__(self, salt: bytes) -> None:
        # Keyed once; each value hashes on a copy (the key schedule is the costly part).
        self._keyed = hmac.new(salt, digestmod=hashlib.sha256)
        label = self._keyed.copy()
        label.update(b"strongroom audit salt fingerprint")
        # Names the salt without revealing it: two processes compare these to know they hash
        # alike (an HMAC of a fixed label). Made once: every forwarded entry carries it.
        self.fingerprint = label.hexdigest()

    def __repr__(self) -> str:
        return "AuditHasher()"

    def hash(self, value: str) -> str:
        mac = self._keyed.copy()
        mac.update(value.encode())
        return PREFIX + mac.hexdigest()

    def redact(self, value: Any) -> Any:
        """A copy of value with every string (and byte string) replaced by its HMAC."""
        if isinstance(value, str):
            return self.hash(value)
        if isinstance(value, (bytes, bytearray)):
            return self.hash(bytes(value).hex())
        if isinstance(value, dict):
            return {k: self.redact(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.redact(v) for v in value]
        return value


def blank(value: Any) -> Any:
    """A copy of value with every string replaced by a fixed marker (no salt available yet)."""
    if isinstance(value, (str, bytes, bytearray)):
        return "redacted"
    if isinstance(value, dict):
        return {k: blank(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [blank(v) for v in value]
    return value
