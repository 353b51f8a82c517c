"""The barrier: everything strongroom stores passes through it and reaches storage encrypted.

Values are msgpack inside AES-256-GCM entries (seal/entry.py) under the active keyring term;
older terms keep decrypting. The barrier also counts encryptions per term, because NIST
SP 800-38D §8.3 caps how many random-nonce GCM invocations one key may do, and rotates by
itself before the cap.

Every storage write goes through under one lock, so a read-check-write sequence holding it
(exclusive(), for term retirement in seal/retire.py) can never overwrite a newer value.
"""

from __future__ import annotations

import hmac
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator, Sequence

import msgpack
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from seal.entry import ROOT_TERM, entry_term, open_entry, seal_entry
from seal.errors import BarrierStateError, IntegrityError, SealedError, UnstorableValueError
from seal.keyring import Keyring, Retirement, Term
from seal.lockedmem import LockedBuffer, zero_bytearray
from seal.ops import BarrierDelete, BarrierPut
from seal.usage import EncryptionCounter
from seal.view import BarrierView
from storage import Backend, Delete, Put

ROOT_KEY_PATH = "core/root-key"
KEYRING_PATH = "core/keyring"
USAGE_PATH = "core/keyring-usage"
SEAL_CONFIG_PATH = "core/seal-config"
RESERVED_PATHS = frozenset({ROOT_KEY_PATH, KEYRING_PATH, USAGE_PATH, SEAL_CONFIG_PATH})

# Rotate well before SP 800-38D's 2^32 bound for random 96-bit nonces.
DEFAULT_ROTATE_AFTER = 2**31


@dataclass(frozen=True)
class KeyStatus:
    """What sys/key-status reports: the active term, its install time and its use."""

    term: int
    install_time: float
    encryptions: int


@dataclass(frozen=True)
class TermInfo:
    """One keyring term as sys/keyring shows it: state, dates, use, and any retirement."""

    term: int
    state: str
    install_time: float
    encryptions: int
    destroy_time: float | None = None
    retirement: Retirement | None = None


class Barrier:
    """Encrypts on the way in, authenticates and decrypts on the way out."""

    def __init__(
        self, backend: Backend, *, lock_memory: bool = True, rotate_after: int = DEFAULT_ROTATE_AFTER
    ) -> None:
        self._backend = backend
        self._lock_memory = lock_memory
        self._rotate_after = rotate_after
        self._keyring: Keyring | None = None
        self._counter: EncryptionCounter | None = None
        self._mutex = threading.RLock()
        self._epoch = 0

    def __repr__(self) -> str:
        return f"Barrier(sealed={self.sealed})"

    @property
    def sealed(self) -> bool:
        return self._keyring is None

    @property
    def lock_memory(self) -> bool:
        """Whether key memory is mlock'd (false only with disable_mlock)."""
        return self._lock_memory

    @property
    def backend(self) -> Backend:
        return self._backend

    @property
    def epoch(self) -> int:
        """Changes at every unseal and seal: state derived from one opening is stale after."""
        return self._epoch

    def stamp(self) -> tuple[int, int]:
        """What a value read through the barrier stays valid under, for callers that keep
        decoded values: it changes at every seal and unseal, and whenever a group commit
        fails (its writes vanish from storage). SealedError while sealed, as a read."""
        self._require_unsealed()
        return self._epoch, getattr(self._backend, "generation", 0)

    # -- lifecycle -------------------------------------------------------------------

    def initialize(self, root_key: LockedBuffer) -> list[Put]:
        """A fresh keyring under root_key, unsealed; returns the storage writes to commit.

        The caller commits them in the same transaction as the root key and seal config, so
        that an interrupted init leaves nothing behind.
        """
        with self._mutex:
            self._require_sealed()
            self._keyring = Keyring.generate(root_key, self._lock_memory)
            self._counter = EncryptionCounter(self._backend, USAGE_PATH, self._keyring.root_aead)
            return [self._keyring_put(), self._counter.reset_put(self._terms_numbers())]

    def unseal(self, root_key: LockedBuffer) -> None:
        """Open the keyring with root_key; IntegrityError if the key or the keyring is wrong."""
        with self._mutex:
            self._require_sealed()
            self._keyring, self._counter = self._read_keyring(root_key)
            self._epoch += 1

    def reload(self, root_key: LockedBuffer) -> None:
        """Re-read the keyring another process changed (rotate, rekey, retirement), with the
        root key it is now sealed under; no sealed moment in between. Takes root_key."""
        with self._mutex:
            keyring, counter = self._read_keyring(root_key)
            old, self._keyring, self._counter = self._keyring, keyring, counter
            if old is None:
                self._epoch += 1
            else:
                old.close()

    def root_key_copy(self) -> bytearray:
        """The root key, for a worker process over its private channel; the caller zeroes it."""
        with self._mutex:
            return bytearray(self._require_unsealed().root_key.view())

    def _read_keyring(self, root_key: LockedBuffer) -> tuple[Keyring, EncryptionCounter]:
        blob = self._backend.get(KEYRING_PATH)
        if blob is None:
            raise IntegrityError("the keyring is missing from storage")
        plain = bytearray(open_entry(AESGCM(root_key.view()), KEYRING_PATH, blob))
        try:
            keyring = Keyring.deserialize(root_key, plain, self._lock_memory)
        finally:
            zero_bytearray(plain)
        counter = EncryptionCounter(self._backend, USAGE_PATH, keyring.root_aead)
        try:
            counter.load(self._numbers(keyring))
        except Exception:
            keyring.close()
            raise
        return keyring, counter

    def seal(self) -> None:
        """Zero all key material; every later data call raises SealedError."""
        with self._mutex:
            if self._keyring is not None:
                self._keyring.close()
                self._epoch += 1
            self._keyring = None
            self._counter = None

    def rotate(self) -> KeyStatus:
        """Install a new term for new writes; old terms keep decrypting."""
        with self._mutex:
            keyring = self._require_unsealed()
            keyring.add_term(self._lock_memory)
            self._backend.transaction(
                [self._keyring_put(), self._counter.reserve_put(self._terms_numbers())]
            )
            return self.key_status()

    def rekey_writes(self, new_root_key: LockedBuffer) -> list[Put]:
        """Storage writes that re-encrypt the keyring under new_root_key (not yet applied).

        Call commit_root_key() once the writes are committed.
        """
        with self._mutex:
            keyring = self._require_unsealed()
            plain = keyring.serialize()
            try:
                aead = AESGCM(new_root_key.view())
                keyring_put = Put(KEYRING_PATH, seal_entry(aead, ROOT_TERM, KEYRING_PATH, plain))
            finally:
                zero_bytearray(plain)
            return [keyring_put, self._counter.rekey_put(aead)]

    def commit_root_key(self, new_root_key: LockedBuffer) -> None:
        with self._mutex:
            keyring = self._require_unsealed()
            keyring.replace_root_key(new_root_key)
            self._counter.set_aead(keyring.root_aead)

    def root_key_matches(self, candidate: bytes | bytearray) -> bool:
        """Whether candidate is the root key the barrier is open with (constant time)."""
        with self._mutex:
            keyring = self._require_unsealed()
            return hmac.compare_digest(bytes(candidate), bytes(keyring.root_key.view()))

    def key_status(self) -> KeyStatus:
        with self._mutex:
            keyring = self._require_unsealed()
            term = keyring.active
            return KeyStatus(term.number, term.installed, self._counter.count(term.number))

    def term_status(self) -> list[KeyStatus]:
        """Every term with its install time and encryption count."""
        with self._mutex:
            keyring = self._require_unsealed()
            return [KeyStatus(t.number, t.installed, self._counter.count(t.number)) for t in keyring.terms()]

    # -- term retirement (driven by seal/retire.py) ----------------------------------

    def keyring_terms(self) -> list[TermInfo]:
        """Every term ever installed, destroyed ones included, with its state."""
        with self._mutex:
            keyring = self._require_unsealed()
            infos = [
                TermInfo(t.number, keyring.state(t.number), t.installed, self._counter.count(t.number),
                         retirement=keyring.retirement(t.number))
                for t in keyring.terms()
            ]
            infos += [
                TermInfo(d.number, keyring.state(d.number), d.installed, self._counter.count(d.number), d.destroyed)
                for d in keyring.destroyed_terms()
            ]
            return sorted(infos, key=lambda info: info.term)

    def retire(self, number: int, now: float | None = None) -> TermInfo:
        """Ask for term `number` to be retired; TermStateError for the active, an unknown or
        a destroyed term. The request is stored at once; seal/retire.py does the work."""
        with self._mutex:
            keyring = self._require_unsealed()
            already = keyring.retirement(number) is not None
            keyring.begin_retirement(number, time.time() if now is None else now)
            if not already:
                try:
                    self._backend.transaction([self._keyring_put()])
                except BaseException:
                    keyring.cancel_retirement(number)
                    raise
            return next(info for info in self.keyring_terms() if info.term == number)

    def retirements(self) -> list[Retirement]:
        """Retirements in progress, first asked first."""
        with self._mutex:
            return self._require_unsealed().retirements()

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """Hold off every storage write through this barrier (and seal) while inside."""
        with self._mutex:
            self._require_unsealed()
            yield

    def reseal(self, path: str, blob: bytes) -> bytes:
        """The entry read at path, opened under its own term and sealed under the active one.

        The plaintext is carried over byte for byte, never unpacked. IntegrityError if the
        entry does not open (tampered, moved, or its term unknown).
        """
        with self._mutex:
            keyring = self._require_unsealed()
            plain = open_entry(self._term_of(keyring, path, blob).aead, path, blob)
            return self._encrypt(path, plain)

    def commit_retirement(self, writes: Sequence[Put], progress: Retirement) -> None:
        """Store re-encrypted entries and the job's progress in one transaction."""
        with self._mutex:
            keyring = self._require_unsealed()
            previous = keyring.update_retirement(progress)
            try:
                self._backend.transaction([*writes, self._keyring_put()])
            except BaseException:
                keyring.update_retirement(previous)
                raise

    def destroy_term(self, number: int, now: float | None = None) -> None:
        """Remove a retired-pending term's key from the keyring and zero it.

        Only once the keyring without it is stored: if the write fails, the term stays.
        """
        with self._mutex:
            keyring = self._require_unsealed()
            term, retirement = keyring.destroy(number, time.time() if now is None else now)
            try:
                self._backend.transaction([self._keyring_put()])
            except BaseException:
                keyring.restore(term, retirement)
                raise
            term.close()

    # -- data ------------------------------------------------------------------------

    def get(self, path: str) -> Any:
        """The value at path, or None; IntegrityError if the stored entry was altered."""
        keyring = self._require_unsealed()
        blob = self._backend.get(path)
        if blob is None:
            return None
        return self._decode(keyring, path, blob)

    def put(self, path: str, value: Any) -> None:
        self._check_path(path)
        plain = _pack(value)
        with self._mutex:
            self._backend.put(path, self._encrypt(path, plain))

    def delete(self, path: str) -> None:
        self._require_unsealed()
        self._check_path(path)
        with self._mutex:
            self._require_unsealed()
            self._backend.delete(path)

    def list(self, prefix: str) -> list[str]:
        self._require_unsealed()
        return self._backend.list(prefix)

    def transaction(self, ops: Sequence[BarrierPut | BarrierDelete]) -> None:
        """Apply every put and delete atomically."""
        with self._mutex:
            self._backend.transaction(self.prepare(ops))

    def counter_put(self) -> Put:
        """The encryption-count reservations as they stand (to end an init transaction, so
        encryptions made while preparing it are never under-counted)."""
        with self._mutex:
            self._require_unsealed()
            return self._counter.reserve_put(self._terms_numbers())

    def prepare(self, ops: Sequence[BarrierPut | BarrierDelete]) -> list[Put | Delete]:
        """Encrypt ops into storage writes without applying them (for a larger transaction)."""
        with self._mutex:  # taken once for all the ops' encryptions, not once each
            self._require_unsealed()
            raw: list[Put | Delete] = []
            for op in ops:
                self._check_path(op.path)
                if isinstance(op, BarrierPut):
                    raw.append(Put(op.path, self._encrypt_held(op.path, _pack(op.value))))
                else:
                    raw.append(Delete(op.path))
            return raw

    def view(self, prefix: str) -> BarrierView:
        """A view that sees only paths under prefix (an engine's mount)."""
        return BarrierView(self, prefix)

    # -- internals -------------------------------------------------------------------

    def _encrypt(self, path: str, plain: bytes) -> bytes:
        with self._mutex:
            return self._encrypt_held(path, plain)

    def _encrypt_held(self, path: str, plain: bytes) -> bytes:
        """_encrypt for a caller already holding the mutex (one encryption counted)."""
        term = self._require_unsealed().active
        reserve = self._counter.add(term.number)
        if reserve is not None:
            self._backend.put(reserve.key, reserve.value)
        blob = seal_entry(term.aead, term.number, path, plain)
        if self._counter.count(term.number) >= self._rotate_after:
            self.rotate()
        return blob

    def _decode(self, keyring: Keyring, path: str, blob: bytes) -> Any:
        plain = open_entry(self._term_of(keyring, path, blob).aead, path, blob)
        try:
            return msgpack.unpackb(plain, raw=False)
        except (ValueError, msgpack.UnpackException) as exc:
            raise IntegrityError(f"stored entry at {path!r} is not a valid value") from exc

    @staticmethod
    def _term_of(keyring: Keyring, path: str, blob: bytes) -> Term:
        number = entry_term(blob)
        term = keyring.term(number)
        if term is None or number == ROOT_TERM:
            raise IntegrityError(f"stored entry at {path!r} names an unknown keyring term")
        return term

    def _keyring_put(self) -> Put:
        plain = self._keyring.serialize()
        try:
            return Put(KEYRING_PATH, seal_entry(self._keyring.root_aead, ROOT_TERM, KEYRING_PATH, plain))
        finally:
            zero_bytearray(plain)

    def _terms_numbers(self) -> list[int]:
        return self._numbers(self._keyring)

    @staticmethod
    def _numbers(keyring: Keyring) -> list[int]:
        # Destroyed terms keep their count, so sys/keyring still shows how much they did.
        return keyring.numbers()

    def _check_path(self, path: str) -> None:
        if not isinstance(path, str) or not path:
            raise ValueError("a storage path must be a non-empty string")
        if path in RESERVED_PATHS:
            raise ValueError(f"{path!r} is reserved for the seal")

    def _require_unsealed(self) -> Keyring:
        keyring = self._keyring
        if keyring is None:
            raise SealedError("strongroom is sealed")
        return keyring

    def _require_sealed(self) -> None:
        if self._keyring is not None:
            raise BarrierStateError("the barrier is already unsealed")


def _pack(value: Any) -> bytes:
    """msgpack of value; an unstorable value (a 65-bit integer, an odd type) is a typed error."""
    try:
        return msgpack.packb(value, use_bin_type=True)
    except (OverflowError, TypeError, ValueError) as exc:
        raise UnstorableValueError(f"value cannot be stored: {type(exc).__name__}") from None
