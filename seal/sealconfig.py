"""The seal configuration: how many shares, how many open it, and how to recognise one.

It is stored in the clear (seal-status needs it while sealed) but carries a MAC under a key
derived from the unseal key, checked before the unseal key is used. Each share has a check
value, HMAC-SHA256 under a random salt: a share is 256 bits of entropy, so the check says
nothing about it, yet a wrong or altered share is refused the moment it is submitted.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass, field, replace

import msgpack
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from seal.errors import IntegrityError, SealConfigError

SEAL_CONFIG_FORMAT = 1
MAX_SHARES = 255  # one x-coordinate byte, x = 0 excluded
_MAC_INFO = b"strongroom seal-config mac v1"


def validate_shares(secret_shares: int, secret_threshold: int) -> None:
    """Vault's rules for a Shamir seal's shape; SealConfigError names the broken one."""
    for name, value in (("secret_shares", secret_shares), ("secret_threshold", secret_threshold)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise SealConfigError(f"{name} must be an integer")
    if secret_shares < 1:
        raise SealConfigError("secret_shares must be at least one")
    if secret_threshold < 1:
        raise SealConfigError("secret_threshold must be at least one")
    if secret_shares > MAX_SHARES:
        raise SealConfigError(f"secret_shares must be at most {MAX_SHARES}")
    if secret_threshold > secret_shares:
        raise SealConfigError("secret_threshold cannot be larger than secret_shares")
    if secret_shares > 1 and secret_threshold == 1:
        raise SealConfigError("secret_threshold must be greater than one for multiple shares")


@dataclass(frozen=True)
class SealConfig:
    """What is known of the seal while sealed; integrity-checked once the key is known."""

    secret_shares: int
    secret_threshold: int
    nonce: str
    check_salt: bytes = field(repr=False)
    share_checks: tuple[bytes, ...] = field(repr=False)
    pgp_fingerprints: tuple[str, ...] = ()
    mac: bytes = field(default=b"", repr=False)

    @classmethod
    def build(
        cls,
        shares: list[bytes],
        secret_threshold: int,
        unseal_key: bytes | bytearray | memoryview,
        pgp_fingerprints: tuple[str, ...] = (),
    ) -> "SealConfig":
        salt = os.urandom(32)
        config = cls(
            secret_shares=len(shares),
            secret_threshold=secret_threshold,
            nonce=secrets.token_hex(16),
            check_salt=salt,
            share_checks=tuple(_check_value(salt, s) for s in shares),
            pgp_fingerprints=tuple(pgp_fingerprints),
        )
        return replace(config, mac=config._compute_mac(unseal_key))

    def accepts_share(self, share: bytes | bytearray) -> bool:
        """Whether share is one of this seal's shares; constant-time over all of them."""
        candidate = _check_value(self.check_salt, share)
        found = False
        for check in self.share_checks:
            found |= hmac.compare_digest(candidate, check)
        return found

    def verify(self, unseal_key: bytes | bytearray | memoryview) -> None:
        """IntegrityError unless the stored config is the one sealed under unseal_key."""
        if not hmac.compare_digest(self.mac, self._compute_mac(unseal_key)):
            raise IntegrityError("the seal configuration failed its integrity check")

    def to_bytes(self) -> bytes:
        return msgpack.packb({**self._fields(), "mac": self.mac})

    @classmethod
    def from_bytes(cls, blob: bytes) -> "SealConfig":
        try:
            data = msgpack.unpackb(blob)
            if data.pop("format") != SEAL_CONFIG_FORMAT:
                raise IntegrityError("the seal configuration has an unknown format")
            return cls(
                secret_shares=int(data["secret_shares"]),
                secret_threshold=int(data["secret_threshold"]),
                nonce=str(data["nonce"]),
                check_salt=bytes(data["check_salt"]),
                share_checks=tuple(bytes(c) for c in data["share_checks"]),
                pgp_fingerprints=tuple(str(f) for f in data["pgp_fingerprints"]),
                mac=bytes(data["mac"]),
            )
        except (KeyError, TypeError, ValueError, AttributeError, msgpack.UnpackException) as exc:
            raise IntegrityError("the seal configuration is malformed") from exc

    def _fields(self) -> dict:
        return {
            "format": SEAL_CONFIG_FORMAT,
            "secret_shares": self.secret_shares,
            "secret_threshold": self.secret_threshold,
            "nonce": self.nonce,
            "check_salt": self.check_salt,
            "share_checks": list(self.share_checks),
            "pgp_fingerprints": list(self.pgp_fingerprints),
        }

    def _compute_mac(self, unseal_key: bytes | bytearray | memoryview) -> bytes:
        mac_key = HKDF(hashes.SHA256(), 32, salt=None, info=_MAC_INFO).derive(bytes(unseal_key))
        return hmac.new(mac_key, msgpack.packb(self._fields()), hashlib.sha256).digest()


def _check_value(salt: bytes, share: bytes | bytearray) -> bytes:
    return hmac.new(salt, bytes(share), hashlib.sha256).digest()
