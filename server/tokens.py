"""The token store: tokens live inside the barrier only as a salted hash, never as issued.

A token ID is `s.` and 24 base62 characters (~143 bits from the OS CSPRNG), as OpenBao's.
Lookup hashes the presented token with the store's secret salt and reads the entry at that
hash, so no stored token is ever compared byte by byte with what a client sent.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import string
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from seal.barrier import Barrier
from seal.ops import BarrierPut
from seal.view import BarrierView

TOKEN_PREFIX = "s."
TOKEN_CHARS = 24
_ALPHABET = string.ascii_letters + string.digits
SALT_PATH = "salt"
ENTRY_PREFIX = "id/"
ACCESSOR_PREFIX = "accessor/"
TOKEN_VIEW = "sys/token/"


@dataclass
class TokenEntry:
    """What the store keeps of a token: everything but the token itself."""

    accessor: str
    policies: list[str]
    path: str = "auth/token/root"
    display_name: str = "root"
    creation_time: float = field(default_factory=time.time)
    ttl: int = 0
    meta: dict[str, str] = field(default_factory=dict)
    parent: str = ""  # the parent's hash, "" for orphans

    def __repr__(self) -> str:
        return f"TokenEntry(accessor={self.accessor!r}, policies={self.policies!r})"

    @property
    def is_root(self) -> bool:
        return "root" in self.policies

    def to_record(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> "TokenEntry":
        return cls(**record)


def new_token_id() -> str:
    return TOKEN_PREFIX + "".join(secrets.choice(_ALPHABET) for _ in range(TOKEN_CHARS))


def _new_accessor() -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(TOKEN_CHARS))


class TokenStore:
    """Create, look up and revoke tokens, through a barrier view of its own."""

    def __init__(self, barrier: Barrier) -> None:
        self._view: BarrierView = barrier.view(TOKEN_VIEW)
        self._salt: bytes | None = None

    def _hash(self, token: str, salt: bytes | None = None) -> str:
        salt = salt if salt is not None else self._load_salt()
        return hmac.new(salt, token.encode(), hashlib.sha256).hexdigest()

    def _load_salt(self) -> bytes:
        if self._salt is None:
            salt = self._view.get(SALT_PATH)
            if salt is None:
                salt = os.urandom(32)
                self._view.put(SALT_PATH, salt)
            self._salt = salt
        return self._salt

    def forget_cache(self) -> None:
        """Drop cached secrets (on seal)."""
        self._salt = None

    def root_token_records(self, token_id: str | None = None) -> tuple[str, list[BarrierPut]]:
        """A root token and the barrier writes that store it (for init, in its transaction)."""
        token = token_id or new_token_id()
        prefix = self._view.prefix
        writes = []
        salt = self._view.get(SALT_PATH)
        if salt is None:
            salt = os.urandom(32)
            writes.append(BarrierPut(prefix + SALT_PATH, salt))
        entry = TokenEntry(accessor=_new_accessor(), policies=["root"])
        digest = self._hash(token, salt)
        writes.append(BarrierPut(prefix + ENTRY_PREFIX + digest, entry.to_record()))
        writes.append(BarrierPut(prefix + ACCESSOR_PREFIX + entry.accessor, digest))
        return token, writes

    def lookup(self, token: str | None) -> TokenEntry | None:
        """The entry for a presented token, or None for a missing, malformed or unknown one."""
        if not token or not isinstance(token, str) or len(token) > 256:
            return None
        record = self._view.get(ENTRY_PREFIX + self._hash(token))
        return TokenEntry.from_record(record) if record is not None else None
