"""The seal state machine: initialise, unseal with custodians' shares, seal, rotate, rekey.

It owns the barrier and the three records that make storage sealed: the seal configuration,
the root key under the unseal key, and (through the barrier) the keyring under the root key.
All transitions hold one lock; storage writes that belong together go in one transaction.
"""

from __future__ import annotations

import base64
import os
import threading
import time
from dataclasses import dataclass
from typing import Callable, Sequence

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from seal import shamir
from seal.barrier import ROOT_KEY_PATH, SEAL_CONFIG_PATH, Barrier, KeyStatus
from seal.entry import KEY_SIZE, ROOT_TERM, open_entry, seal_entry
from seal.errors import (
    AlreadyInitializedError,
    IntegrityError,
    InvalidShareError,
    NotInitializedError,
    SealConfigError,
    SealedError,
)
from seal.generate_root import RootGeneration
from seal.lockedmem import LockedBuffer, zero_bytearray
from seal.ops import BarrierPut
from seal.rekey import RekeyOperation, RekeyResult
from seal.sealconfig import SealConfig, validate_shares
from seal.shares import DEFAULT_PROGRESS_TTL, ShareCollection
from storage import Backend, Put


@dataclass(frozen=True)
class SealStatus:
    """What sys/seal-status reports."""

    initialized: bool
    sealed: bool
    secret_shares: int
    secret_threshold: int
    progress: int
    nonce: str
    progress_expires_at: float | None


@dataclass(frozen=True)
class IssuedShares:
    """Shares handed out once (init or rekey): raw, or encrypted to custodians' PGP keys."""

    shares: tuple[bytes, ...]
    pgp_fingerprints: tuple[str, ...] = ()

    def __repr__(self) -> str:
        return f"IssuedShares({len(self.shares)} shares)"


class Seal:
    """The store's seal: everything between custodians' shares and an open barrier."""

    def __init__(
        self,
        backend: Backend,
        *,
        lock_memory: bool = True,
        progress_ttl: float = DEFAULT_PROGRESS_TTL,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.backend = backend
        self.barrier = Barrier(backend, lock_memory=lock_memory)
        self.lock_memory = lock_memory
        self.progress_ttl = progress_ttl
        self.clock = clock
        self._mutex = threading.RLock()
        self._unseal: ShareCollection | None = None
        self._initialized = False
        self.rekey: RekeyOperation | None = None
        self.root_generation = RootGeneration(self)

    def __repr__(self) -> str:
        return f"Seal(initialized={self.initialized}, sealed={self.sealed})"

    # -- state -----------------------------------------------------------------------

    @property
    def initialized(self) -> bool:
        # Once initialised a store stays so; health checks ask this on every probe.
        if not self._initialized:
            self._initialized = self.backend.get(SEAL_CONFIG_PATH) is not None
        return self._initialized

    @property
    def sealed(self) -> bool:
        return self.barrier.sealed

    def config(self) -> SealConfig:
        blob = self.backend.get(SEAL_CONFIG_PATH)
        if blob is None:
            raise NotInitializedError("strongroom is not initialized")
        return SealConfig.from_bytes(blob)

    def status(self) -> SealStatus:
        with self._mutex:
            blob = self.backend.get(SEAL_CONFIG_PATH)
            if blob is None:
                return SealStatus(False, True, 0, 0, 0, "", None)
            config = SealConfig.from_bytes(blob)
            collection = self._live_unseal()
            return SealStatus(
                True,
                self.sealed,
                config.secret_shares,
                config.secret_threshold,
                collection.progress if collection else 0,
                collection.nonce if collection and collection.progress else "",
                collection.expires_at if collection else None,
            )

    # -- init ------------------------------------------------------------------------

    def initialize(
        self,
        secret_shares: int,
        secret_threshold: int,
        pgp_keys: Sequence[str] | None = None,
        setup: Callable[[Barrier], Sequence[BarrierPut]] | None = None,
    ) -> IssuedShares:
        """Create the root key, keyring and shares; returns the shares, once, and stays sealed.

        setup(barrier) may return first entries (the root token) to commit atomically with
        the seal's own records, so an interrupted init leaves an uninitialised store.
        """
        validate_shares(secret_shares, secret_threshold)
        if pgp_keys is not None and len(pgp_keys) != secret_shares:
            raise SealConfigError("the number of pgp_keys must equal secret_shares")
        with self._mutex:
            if self.initialized:
                raise AlreadyInitializedError("strongroom is already initialized")
            unseal_key = bytearray(os.urandom(KEY_SIZE))
            root_key = _random_locked(self.lock_memory)
            try:
                issued, config = self._issue(unseal_key, secret_shares, secret_threshold, pgp_keys)
                writes = [Put(SEAL_CONFIG_PATH, config.to_bytes()), _root_key_put(unseal_key, root_key)]
                writes += self.barrier.initialize(root_key)
                if setup is not None:
                    writes += self.barrier.prepare(list(setup(self.barrier)))
                writes.append(self.barrier.counter_put())  # last: it supersedes the zeroed record
                self.backend.transaction(writes)
            finally:
                zero_bytearray(unseal_key)
                self.barrier.seal()
            return issued

    # -- unseal / seal ---------------------------------------------------------------

    def submit_unseal_share(self, share: bytes | bytearray) -> SealStatus:
        """Add one custodian's share; the barrier opens at the threshold.

        A share that is not one of this seal's is refused at once (InvalidShareError) and
        leaves progress as it was; a repeated share does not advance it.
        """
        with self._mutex:
            config = self.config()
            if not self.sealed:
                return self.status()
            if not config.accepts_share(share):
                raise InvalidShareError("the unseal key is not one of this store's shares")
            collection = self._live_unseal() or ShareCollection(
                config.secret_threshold, self.progress_ttl, self.clock
            )
            self._unseal = collection
            collection.add(share)
            if collection.complete:
                unseal_key = collection.combine()
                self.reset_unseal()
                try:
                    self._open(config, unseal_key)
                finally:
                    zero_bytearray(unseal_key)
            return self.status()

    def open_with_root_key(self, root: bytearray) -> None:
        """A worker process's seal follows the primary's: open (or re-read the keyring) with
        the root key the primary sent over their private channel. Zeroes root."""
        with self._mutex:
            try:
                root_key = LockedBuffer.from_bytes(root, lock=self.lock_memory)
            finally:
                zero_bytearray(root)
            try:
                if self.sealed:
                    self.barrier.unseal(root_key)
                else:
                    self.barrier.reload(root_key)
            except BaseException:
                root_key.close()
                raise

    def reset_unseal(self) -> None:
        """Forget every share submitted so far."""
        with self._mutex:
            if self._unseal is not None:
                self._unseal.clear()
            self._unseal = None

    def check_share(self, share: bytes | bytearray) -> bool:
        """Whether share belongs to this seal, without unsealing or counting it."""
        return self.config().accepts_share(share)

    def seal(self) -> None:
        """Zero all key material and forget any progress; data calls answer SealedError."""
        with self._mutex:
            self.reset_unseal()
            if self.rekey is not None:
                self.rekey.close()
                self.rekey = None
            self.root_generation.cancel()
            self.barrier.seal()

    # -- keys ------------------------------------------------------------------------

    def rotate(self) -> KeyStatus:
        """A new keyring term for new writes (sys/rotate)."""
        with self._mutex:
            return self.barrier.rotate()

    def key_status(self) -> KeyStatus:
        return self.barrier.key_status()

    def verify_unseal_key(self, unseal_key: bytes | bytearray) -> None:
        """IntegrityError unless unseal_key opens the stored root key and matches the open one."""
        config = self.config()
        config.verify(unseal_key)
        root = self._read_root_key(unseal_key)
        try:
            if not self.barrier.root_key_matches(root):
                raise IntegrityError("the unseal key does not match the open root key")
        finally:
            zero_bytearray(root)

    # -- rekey -----------------------------------------------------------------------

    def rekey_init(
        self,
        secret_shares: int,
        secret_threshold: int,
        pgp_keys: Sequence[str] | None = None,
        require_verification: bool = False,
    ) -> RekeyOperation:
        """Start a rekey to a new shape; old shares at the old threshold authorise it."""
        validate_shares(secret_shares, secret_threshold)
        if pgp_keys is not None and len(pgp_keys) != secret_shares:
            raise SealConfigError("the number of pgp_keys must equal secret_shares")
        with self._mutex:
            config = self.config()
            if self.sealed:
                raise SealedError("strongroom is sealed")
            if self.rekey is not None:
                raise SealConfigError("rekey already in progress")
            self.rekey = RekeyOperation(
                secret_shares,
                secret_threshold,
                tuple(pgp_keys) if pgp_keys else None,
                require_verification,
                ShareCollection(config.secret_threshold, self.progress_ttl, self.clock),
            )
            return self.rekey

    def rekey_update(self, share: bytes | bytearray, nonce: str) -> RekeyResult | None:
        """Add an old share; at the threshold, issue the new shares (and commit unless verifying)."""
        with self._mutex:
            op = self._rekey_op()
            op.check_nonce(nonce)
            if op.pending is not None:
                raise SealConfigError("the rekey is awaiting verification of the new shares")
            config = self.config()
            if not config.accepts_share(share):
                raise InvalidShareError("the unseal key is not one of this store's shares")
            op.collection.add(share)
            if not op.collection.complete:
                return None
            old_key = op.collection.combine()
            op.collection.clear()
            try:
                self.verify_unseal_key(old_key)
            finally:
                zero_bytearray(old_key)
            new_key = bytearray(os.urandom(KEY_SIZE))
            try:
                issued, new_config = self._issue(new_key, op.secret_shares, op.secret_threshold, op.pgp_keys)
                if op.require_verification:
                    return op.await_verification(
                        new_key, new_config, issued, self.lock_memory, self.progress_ttl, self.clock
                    )
                self._commit_rekey(new_key, new_config)
                self.rekey = None
                return op.finished(issued, new_config)
            finally:
                zero_bytearray(new_key)

    def rekey_verify_update(self, share: bytes | bytearray, nonce: str) -> RekeyResult | None:
        """Add a NEW share; at the new threshold, check it matches and switch to the new shares."""
        with self._mutex:
            op = self._rekey_op()
            pending = op.pending_verification(nonce)
            if not pending.config.accepts_share(share):
                raise InvalidShareError("the key is not one of the new shares")
            pending.collection.add(share)
            if not pending.collection.complete:
                return None
            key = pending.collection.combine()
            pending.collection.clear()
            try:
                pending.require_same_key(key)
                self._commit_rekey(pending.unseal_key.view(), pending.config)
            finally:
                zero_bytearray(key)
            result = op.finished(pending.issued, pending.config)
            op.close()
            self.rekey = None
            return result

    def rekey_verify_cancel(self) -> RekeyOperation:
        """Restart the verification step with a new nonce; the new shares stay valid."""
        with self._mutex:
            op = self._rekey_op()
            op.restart_verification(self.progress_ttl, self.clock)
            return op

    def rekey_cancel(self) -> None:
        with self._mutex:
            if self.rekey is not None:
                self.rekey.close()
            self.rekey = None

    # -- internals -------------------------------------------------------------------

    def _rekey_op(self) -> RekeyOperation:
        if self.sealed:
            raise SealedError("strongroom is sealed")
        if self.rekey is None:
            raise SealConfigError("no rekey is in progress")
        if self.rekey.collection.expired():
            self.rekey.collection.clear()
        return self.rekey

    def _commit_rekey(self, unseal_key: bytes | bytearray | memoryview, config: SealConfig) -> None:
        """Fresh root key; keyring, root key and seal config rewritten in one transaction."""
        new_root = _random_locked(self.lock_memory)
        # Held across snapshot, write and swap: a term retirement must not change the keyring
        # between the snapshot taken here and the swap.
        with self.barrier.exclusive():
            try:
                writes = self.barrier.rekey_writes(new_root)
                writes += [Put(SEAL_CONFIG_PATH, config.to_bytes()), _root_key_put(unseal_key, new_root)]
                self.backend.transaction(writes)
            except BaseException:
                new_root.close()
                raise
            self.barrier.commit_root_key(new_root)

    def _issue(
        self, unseal_key: bytearray, parts: int, threshold: int, pgp_keys: Sequence[str] | None
    ) -> tuple[IssuedShares, SealConfig]:
        shares = [bytes(unseal_key)] if parts == 1 else shamir.split(bytes(unseal_key), parts, threshold)
        config_fps: tuple[str, ...] = ()
        handed = shares
        if pgp_keys:
            from seal.custodian_pgp import encrypt_share  # pysequoia (~2 MB) only when custodians use PGP

            encrypted = [encrypt_share(s.hex(), k) for s, k in zip(shares, pgp_keys)]
            handed = [base64.b64decode(c) for c, _ in encrypted]
            config_fps = tuple(fp for _, fp in encrypted)
        config = SealConfig.build(shares, threshold, unseal_key, config_fps)
        return IssuedShares(tuple(handed), config_fps), config

    def _open(self, config: SealConfig, unseal_key: bytearray) -> None:
        config.verify(unseal_key)
        root = self._read_root_key(unseal_key)
        try:
            root_key = LockedBuffer.from_bytes(root, lock=self.lock_memory)
        finally:
            zero_bytearray(root)
        try:
            self.barrier.unseal(root_key)
        except BaseException:
            root_key.close()
            raise

    def _read_root_key(self, unseal_key: bytes | bytearray | memoryview) -> bytearray:
        blob = self.backend.get(ROOT_KEY_PATH)
        if blob is None:
            raise IntegrityError("the root key is missing from storage")
        return bytearray(open_entry(AESGCM(unseal_key), ROOT_KEY_PATH, blob))

    def _live_unseal(self) -> ShareCollection | None:
        if self._unseal is not None and self._unseal.expired():
            self.reset_unseal()
        return self._unseal


def _random_locked(lock: bool) -> LockedBuffer:
    raw = bytearray(os.urandom(KEY_SIZE))
    try:
        return LockedBuffer.from_bytes(raw, lock=lock)
    finally:
        zero_bytearray(raw)


def _root_key_put(unseal_key: bytes | bytearray | memoryview, root_key: LockedBuffer) -> Put:
    return Put(ROOT_KEY_PATH, seal_entry(AESGCM(unseal_key), ROOT_TERM, ROOT_KEY_PATH, root_key.view()))
