"""The keyring: the barrier's data keys by term, plus the root key that encrypts them.

Keys live in locked buffers. The keyring serialises to msgpack only to be encrypted under
the root key at once; the plaintext copy is a bytearray the caller zeroes.

Each term has a state: the newest is active (it encrypts), older ones are inactive (they
only decrypt), a term asked to be retired is retired-pending until every entry under it has
been re-encrypted (seal/retire.py), and then destroyed: its key is gone from the record and
only its number and dates remain. The retirement's progress is part of the record, sealed
under the root key with the keys, so a restart resumes it. A record written before term
states existed (no "retiring", every term with a key) still loads.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass
from typing import Any

import msgpack
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from seal.entry import KEY_SIZE
from seal.errors import IntegrityError, SealError
from seal.lockedmem import LockedBuffer, zero_bytearray

KEYRING_FORMAT = 1

TERM_ACTIVE = "active"
TERM_INACTIVE = "inactive"
TERM_RETIRING = "retired-pending"
TERM_DESTROYED = "destroyed"


class TermStateError(SealError, ValueError):
    """A keyring term cannot make the transition asked of it (retire the active term, an
    unknown one, or one already destroyed)."""


@dataclass(frozen=True)
class DestroyedTerm:
    """What is left of a destroyed term: its number and dates, never a key."""

    number: int
    installed: float
    destroyed: float


@dataclass(frozen=True)
class Retirement:
    """A term's retirement in progress: where the walk over storage stands.

    cursor is the last storage path the current pass has done (None: the pass has not
    begun); found and unreadable count entries under the term met in the current pass;
    reencrypted counts entries moved to a newer term over all passes.
    """

    term: int
    requested: float
    started: float | None = None
    cursor: str | None = None
    passes: int = 0
    found: int = 0
    unreadable: int = 0
    reencrypted: int = 0

    def to_record(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_record(cls, item: dict[str, Any]) -> "Retirement":
        cursor = item["cursor"]
        if cursor is not None and not isinstance(cursor, str):
            raise IntegrityError("keyring holds a malformed retirement")
        started = item["started"]
        return cls(
            int(item["term"]), float(item["requested"]), None if started is None else float(started), cursor,
            int(item["passes"]), int(item["found"]), int(item["unreadable"]), int(item["reencrypted"]),
        )


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

    def __init__(
        self,
        root_key: LockedBuffer,
        terms: list[Term],
        active: int,
        destroyed: list[DestroyedTerm] | None = None,
        retiring: list[Retirement] | None = None,
    ) -> None:
        if active not in {t.number for t in terms}:
            raise IntegrityError("keyring names an active term it does not hold")
        self.root_key = root_key
        self.root_aead = AESGCM(root_key.view())
        self._terms = {t.number: t for t in terms}
        self.active = self._terms[active]
        self._destroyed = {d.number: d for d in destroyed or ()}
        # First asked, first retired: the job works on one term at a time.
        self._retiring = {r.term: r for r in retiring or ()}
        if set(self._destroyed) & set(self._terms):
            raise IntegrityError("keyring names a term both live and destroyed")
        if any(n not in self._terms or n == active for n in self._retiring):
            raise IntegrityError("keyring retires a term it cannot retire")

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

    def destroyed_terms(self) -> list[DestroyedTerm]:
        return [self._destroyed[n] for n in sorted(self._destroyed)]

    def numbers(self) -> list[int]:
        """Every term number ever installed, destroyed ones included."""
        return sorted([*self._terms, *self._destroyed])

    def state(self, number: int) -> str | None:
        """The term's state name, or None for a number never installed."""
        if number in self._destroyed:
            return TERM_DESTROYED
        if number not in self._terms:
            return None
        if number == self.active.number:
            return TERM_ACTIVE
        return TERM_RETIRING if number in self._retiring else TERM_INACTIVE

    def retirements(self) -> list[Retirement]:
        """Retirements in progress, in the order they were asked for."""
        return list(self._retiring.values())

    def retirement(self, number: int) -> Retirement | None:
        return self._retiring.get(number)

    def begin_retirement(self, number: int, now: float) -> Retirement:
        """Mark an inactive term retired-pending (asking again changes nothing)."""
        state = self.state(number)
        if state is None:
            raise TermStateError(f"keyring term {number} does not exist")
        if state == TERM_DESTROYED:
            raise TermStateError(f"keyring term {number} is already destroyed")
        if state == TERM_ACTIVE:
            raise TermStateError(f"keyring term {number} is the active term; rotate before retiring it")
        if state == TERM_INACTIVE:
            self._retiring[number] = Retirement(number, now)
        return self._retiring[number]

    def cancel_retirement(self, number: int) -> None:
        """Undo begin_retirement (its storage write failed)."""
        self._retiring.pop(number, None)

    def update_retirement(self, progress: Retirement) -> Retirement:
        """Record the job's progress; returns what it replaces (to undo a failed write)."""
        previous = self._retiring.get(progress.term)
        if previous is None:
            raise TermStateError(f"keyring term {progress.term} is not being retired")
        self._retiring[progress.term] = progress
        return previous

    def destroy(self, number: int, now: float) -> tuple[Term, Retirement]:
        """Drop a retired-pending term from the keyring; the caller zeroes its key once the
        keyring without it is stored (or hands both back to restore())."""
        retirement = self._retiring.get(number)
        if retirement is None:
            raise TermStateError(f"keyring term {number} is not being retired")
        term = self._terms.pop(number)
        del self._retiring[number]
        self._destroyed[number] = DestroyedTerm(number, term.installed, now)
        return term, retirement

    def restore(self, term: Term, retirement: Retirement) -> None:
        """Undo destroy() when storing the keyring failed."""
        del self._destroyed[term.number]
        self._terms[term.number] = term
        self._retiring[term.number] = retirement

    def add_term(self, lock: bool) -> Term:
        """Install a new term after the highest one ever installed and make it active."""
        term = _new_term(max(self.numbers()) + 1, lock)
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
        terms: list[dict[str, Any]] = []
        for t in self.terms():
            terms.append({"term": t.number, "key": t.key.view(), "installed": t.installed})
        for d in self.destroyed_terms():
            terms.append({"term": d.number, "installed": d.installed, "destroyed": d.destroyed})
        record = {
            "format": KEYRING_FORMAT,
            "active": self.active.number,
            "terms": terms,
            "retiring": [r.to_record() for r in self._retiring.values()],
        }
        return bytearray(msgpack.packb(record))

    @classmethod
    def deserialize(cls, root_key: LockedBuffer, blob: bytearray, lock: bool) -> "Keyring":
        """Rebuild a keyring from serialize()'s output; IntegrityError on anything odd."""
        malformed = (KeyError, TypeError, ValueError, AttributeError, msgpack.UnpackException)
        terms: list[Term] = []
        destroyed: list[DestroyedTerm] = []
        try:
            data = msgpack.unpackb(bytes(blob))
            if data["format"] != KEYRING_FORMAT:
                raise IntegrityError("keyring has an unknown format")
            for item in data["terms"]:
                if "destroyed" in item:
                    destroyed.append(
                        DestroyedTerm(int(item["term"]), float(item["installed"]), float(item["destroyed"]))
                    )
                    continue
                key = item["key"]
                if not isinstance(key, bytes) or len(key) != KEY_SIZE:
                    raise IntegrityError("keyring holds a malformed key")
                terms.append(
                    Term(int(item["term"]), LockedBuffer.from_bytes(key, lock=lock), float(item["installed"]))
                )
            # Records from before term states have no "retiring".
            retiring = [Retirement.from_record(r) for r in data.get("retiring", ())]
            return cls(root_key, terms, int(data["active"]), destroyed, retiring)
        except BaseException as exc:
            # Keys already copied into locked memory are zeroed, not left to the collector.
            for term in terms:
                term.close()
            if isinstance(exc, malformed):
                raise IntegrityError("keyring is malformed") from exc
            raise

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
