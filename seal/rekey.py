"""A rekey in progress: old shares toward the old threshold, then, optionally, the new
shares entered back (Vault's verification step) before the seal switches to them.
"""

from __future__ import annotations

import hmac
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from seal.errors import IntegrityError, NonceMismatchError, SealConfigError
from seal.lockedmem import LockedBuffer
from seal.sealconfig import SealConfig
from seal.shares import ShareCollection

if TYPE_CHECKING:
    from seal.state import IssuedShares


@dataclass(frozen=True)
class RekeyResult:
    """The new shares, handed out once, and whether they still await verification."""

    issued: "IssuedShares"
    nonce: str
    secret_shares: int
    secret_threshold: int
    verification_required: bool
    verification_nonce: str = ""

    def __repr__(self) -> str:
        return f"RekeyResult({self.secret_threshold}-of-{self.secret_shares})"


class PendingVerification:
    """New shares issued but not yet in force: custodians must enter them back first."""

    def __init__(self, unseal_key: LockedBuffer, config: SealConfig, issued: "IssuedShares",
                 collection: ShareCollection) -> None:
        self.unseal_key = unseal_key
        self.config = config
        self.issued = issued
        self.collection = collection
        self.nonce = str(uuid.uuid4())

    def __repr__(self) -> str:
        return f"PendingVerification({self.collection.progress}/{self.collection.threshold})"

    def require_same_key(self, key: bytes | bytearray) -> None:
        if not hmac.compare_digest(bytes(key), bytes(self.unseal_key.view())):
            raise IntegrityError("the new shares do not combine to the new unseal key")

    def close(self) -> None:
        self.collection.clear()
        self.unseal_key.close()


class RekeyOperation:
    """One rekey, from sys/rekey/init (or sys/rotate/root/init) to completion or cancel."""

    def __init__(self, secret_shares: int, secret_threshold: int, pgp_keys: tuple[str, ...] | None,
                 require_verification: bool, collection: ShareCollection) -> None:
        self.secret_shares = secret_shares
        self.secret_threshold = secret_threshold
        self.pgp_keys = pgp_keys
        self.require_verification = require_verification
        self.collection = collection
        self.nonce = str(uuid.uuid4())
        self.started = time.time()
        self.pending: PendingVerification | None = None

    def __repr__(self) -> str:
        return f"RekeyOperation({self.secret_threshold}-of-{self.secret_shares})"

    def check_nonce(self, nonce: str) -> None:
        if not isinstance(nonce, str) or not hmac.compare_digest(nonce.encode(), self.nonce.encode()):
            raise NonceMismatchError("the nonce given does not match the rekey in progress")

    def await_verification(self, unseal_key: bytearray, config: SealConfig, issued: "IssuedShares",
                           lock: bool, ttl: float, clock: Callable[[], float]) -> RekeyResult:
        """Hold the new unseal key (locked) until the new shares are entered back."""
        self.pending = PendingVerification(
            LockedBuffer.from_bytes(unseal_key, lock=lock),
            config, issued, ShareCollection(self.secret_threshold, ttl, clock),
        )
        return RekeyResult(issued, self.nonce, self.secret_shares, self.secret_threshold, True, self.pending.nonce)

    def pending_verification(self, nonce: str) -> PendingVerification:
        if self.pending is None:
            raise SealConfigError("no rekey verification is in progress")
        if not isinstance(nonce, str) or not hmac.compare_digest(nonce.encode(), self.pending.nonce.encode()):
            raise NonceMismatchError("the nonce given does not match the rekey verification in progress")
        if self.pending.collection.expired():
            self.pending.collection.clear()
        return self.pending

    def restart_verification(self, ttl: float, clock: Callable[[], float]) -> None:
        if self.pending is None:
            raise SealConfigError("no rekey verification is in progress")
        self.pending.collection.clear()
        self.pending.collection = ShareCollection(self.secret_threshold, ttl, clock)
        self.pending.nonce = str(uuid.uuid4())

    def finished(self, issued: "IssuedShares", config: SealConfig) -> RekeyResult:
        return RekeyResult(issued, self.nonce, config.secret_shares, config.secret_threshold, False)

    def close(self) -> None:
        self.collection.clear()
        if self.pending is not None:
            self.pending.close()
            self.pending = None
