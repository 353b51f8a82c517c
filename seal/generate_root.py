"""The generate-root ceremony: a quorum of custodians' unseal shares mints a new root token.

One attempt at a time. An attempt gathers the current seal's shares toward its threshold
(each checked on submission as at unseal, counted once, progress expiring like unseal
progress) under a nonce, and fixes how the new token will leave the server: XORed with a
one-time pad (OTP) exactly as long as the token, or encrypted to an OpenPGP key. At the
threshold the combined unseal key must open the stored root key and match the open one
(Seal.verify_unseal_key) before any token exists.

Boundary: seal/ knows nothing of tokens. The server passes the token length, a callable that
makes a token ID and one that stores it; the token is encoded before it is stored (nothing
is stored that cannot be handed out) and stored before it is handed out, once.
"""

from __future__ import annotations

import base64
import hmac
import secrets
import string
import threading
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from seal.errors import InvalidShareError, NonceMismatchError, SealedError, SealError
from seal.lockedmem import zero_bytearray
from seal.sealconfig import SealConfig
from seal.shares import ShareCollection

if TYPE_CHECKING:
    from seal.state import Seal

OTP_ALPHABET = string.ascii_letters + string.digits  # base62, as OpenBao generates OTPs


class RootGenerationError(SealError, ValueError):
    """A generate-root request that cannot be honoured as asked."""


class RootGenerationInProgressError(RootGenerationError):
    """An attempt was started while another one is in progress."""


class NoRootGenerationError(RootGenerationError):
    """A share or a cancel arrived while no attempt is in progress."""


class InvalidOTPError(RootGenerationError):
    """The one-time pad does not have the token's length."""


@dataclass(frozen=True)
class RootGenerationStatus:
    """What sys/generate-root(-token)/attempt reports; never the OTP."""

    started: bool
    nonce: str
    progress: int
    required: int
    pgp_fingerprint: str
    progress_expires_at: float | None


@dataclass(frozen=True)
class RootGenerationResult:
    """The outcome of one submitted share; encoded_token is set once, on completion."""

    progress: int
    required: int
    nonce: str
    pgp_fingerprint: str
    encoded_token: str = ""

    @property
    def complete(self) -> bool:
        return bool(self.encoded_token)

    def __repr__(self) -> str:
        return f"RootGenerationResult({self.progress}/{self.required}, complete={self.complete})"


class RootGenerationAttempt:
    """One attempt: its nonce, the shares gathered so far, and the OTP or PGP key."""

    def __init__(self, collection: ShareCollection, config_nonce: str, otp: bytearray | None,
                 pgp_key: str, pgp_fingerprint: str) -> None:
        self.nonce = str(uuid.uuid4())
        self.collection = collection
        self.config_nonce = config_nonce
        self.pgp_fingerprint = pgp_fingerprint
        self._otp = otp
        self._pgp_key = pgp_key

    def __repr__(self) -> str:
        return f"RootGenerationAttempt({self.collection.progress}/{self.collection.threshold})"

    def check_nonce(self, nonce: str) -> None:
        # The right nonce is never echoed: OpenBao's message reveals it to any caller.
        if not isinstance(nonce, str) or not hmac.compare_digest(nonce.encode(), self.nonce.encode()):
            raise NonceMismatchError(
                "incorrect nonce supplied; it does not match the root generation in progress"
            )

    def encode(self, token: str) -> str:
        """token XOR OTP in unpadded standard base64 (Go's RawStdEncoding, as OpenBao's
        roottoken.EncodeToken), or base64 of an OpenPGP message to the attempt's key."""
        if self._otp is None:
            from seal.custodian_pgp import encrypt_text  # pysequoia (~2 MB) only when asked for PGP

            return encrypt_text(token, self._pgp_key)[0]
        raw = token.encode("utf-8")
        if len(raw) != len(self._otp):
            raise InvalidOTPError("the new token's length does not match the OTP's")
        encoded = bytes(a ^ b for a, b in zip(raw, self._otp))
        return base64.b64encode(encoded).decode("ascii").rstrip("=")

    def close(self) -> None:
        self.collection.clear()
        if self._otp is not None:
            zero_bytearray(self._otp)


class RootGeneration:
    """The seal's generate-root slot: start, submit shares, cancel; sealing cancels it."""

    def __init__(self, seal: "Seal") -> None:
        self._seal = seal
        self._attempt: RootGenerationAttempt | None = None
        self._mutex = threading.RLock()

    def __repr__(self) -> str:
        return f"RootGeneration(started={self._attempt is not None})"

    def status(self) -> RootGenerationStatus:
        with self._mutex:
            config = self._seal.config()
            attempt = self._live(config)
            if attempt is None:
                return RootGenerationStatus(False, "", 0, config.secret_threshold, "", None)
            return RootGenerationStatus(
                True, attempt.nonce, attempt.collection.progress, config.secret_threshold,
                attempt.pgp_fingerprint, attempt.collection.expires_at,
            )

    def start(self, otp_length: int, otp: str = "", pgp_key: str = "") -> str:
        """Begin an attempt; returns the OTP if none was given and one was generated, else "".

        An OTP must be exactly otp_length bytes (the token's length: they are XORed); with
        neither an OTP nor a PGP key, a base62 OTP is generated, as newer Vault/OpenBao do.
        """
        if otp and pgp_key:
            raise RootGenerationError("only one of otp or pgp_key may be given")
        generated = ""
        fingerprint = ""
        if pgp_key:
            from seal.custodian_pgp import parse_public_key  # pysequoia (~2 MB) only when asked for PGP

            fingerprint = parse_public_key(pgp_key)
        elif otp:
            if len(otp.encode("utf-8")) != otp_length:
                raise InvalidOTPError("OTP string has incorrect length")
        else:
            otp = generated = "".join(secrets.choice(OTP_ALPHABET) for _ in range(otp_length))
        with self._mutex:
            self._require_unsealed()
            config = self._seal.config()
            if self._live(config) is not None:
                raise RootGenerationInProgressError("root generation already in progress for this namespace")
            self._attempt = RootGenerationAttempt(
                self._collection(config), config.nonce,
                bytearray(otp.encode("utf-8")) if otp else None, pgp_key, fingerprint,
            )
        return generated

    def submit(self, share: bytes | bytearray, nonce: str, new_token: Callable[[], str],
               store_token: Callable[[str], None]) -> RootGenerationResult:
        """Add one custodian's share; at the threshold, mint, store and encode the root token.

        A share not of this seal, a repeated share or a wrong nonce is refused and changes
        nothing. If the key check, the encoding or the store fails, no token is handed out
        and the shares gathered are dropped (the attempt stays, as in OpenBao).
        """
        with self._mutex:
            self._require_unsealed()
            config = self._seal.config()
            attempt = self._live(config)
            if attempt is None:
                raise NoRootGenerationError("no root generation in progress")
            attempt.check_nonce(nonce)
            if not config.accepts_share(share):
                raise InvalidShareError("the unseal key is not one of this store's shares")
            if not attempt.collection.add(share):
                raise InvalidShareError("given key has already been provided during this generation operation")
            progress = attempt.collection.progress
            if not attempt.collection.complete:
                return RootGenerationResult(progress, config.secret_threshold, attempt.nonce,
                                            attempt.pgp_fingerprint)
            unseal_key = attempt.collection.combine()
            attempt.collection.clear()
            try:
                self._seal.verify_unseal_key(unseal_key)
            finally:
                zero_bytearray(unseal_key)
            token = new_token()
            encoded = attempt.encode(token)
            store_token(token)
            self.cancel()
            return RootGenerationResult(progress, config.secret_threshold, attempt.nonce,
                                        attempt.pgp_fingerprint, encoded)

    def cancel(self) -> None:
        """Forget the attempt, its shares and its OTP (a no-op when none is in progress)."""
        with self._mutex:
            if self._attempt is not None:
                self._attempt.close()
            self._attempt = None

    def _require_unsealed(self) -> None:
        if self._seal.sealed:
            raise SealedError("strongroom is sealed")

    def _collection(self, config: SealConfig) -> ShareCollection:
        return ShareCollection(config.secret_threshold, self._seal.progress_ttl, self._seal.clock)

    def _live(self, config: SealConfig) -> RootGenerationAttempt | None:
        """The attempt, with its progress dropped if expired or if a rekey replaced the
        shares since it began (shares of two configurations must never be combined)."""
        attempt = self._attempt
        if attempt is not None and (attempt.collection.expired() or attempt.config_nonce != config.nonce):
            attempt.collection.clear()
            attempt.collection = self._collection(config)
            attempt.config_nonce = config.nonce
        return attempt
