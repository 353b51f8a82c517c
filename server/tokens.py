"""The token store: tokens live inside the barrier only as a salted hash, never as issued.

A token ID is `s.` and 24 base62 characters (~143 bits from the OS CSPRNG), as OpenBao's.
Lookup hashes the presented token with the store's secret salt and reads the entry at that
hash, so no stored token is ever compared byte by byte with what a client sent. Expiry and
use counts are enforced on every lookup, and a token is only alive while all its ancestors
are: revoking or expiring a parent takes its whole subtree with it.
"""

from __future__ import annotations

import hashlib
import ipaddress
import hmac
import os
import re
import secrets
import string
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

from seal.barrier import Barrier
from seal.ops import BarrierDelete, BarrierPut
from server.policy import normalise_name

TOKEN_PREFIX = "s."
TOKEN_CHARS = 24
MAX_TOKEN_LENGTH = 256
_ALPHABET = string.ascii_letters + string.digits
SALT_PATH = "salt"
ENTRY_PREFIX = "id/"
ACCESSOR_PREFIX = "accessor/"
PARENT_PREFIX = "parent/"
TOKEN_VIEW = "sys/token/"
CACHE_LIMIT = 100_000
REVOCATION_PENDING = -1  # num_uses of a token whose last use is under way (Vault's value)
_DISPLAY_NAME_UNSAFE = re.compile(r"[^a-zA-Z0-9-]")


class TokenError(ValueError):
    """A token request that cannot be honoured (not renewable, bad policies, ...)."""


@dataclass
class TokenEntry:
    """What the store keeps of a token: everything but the token itself."""

    accessor: str
    policies: list[str]
    path: str = "auth/token/root"
    display_name: str = "root"
    creation_time: float = field(default_factory=time.time)
    creation_ttl: int = 0
    expire_time: float = 0.0  # 0: never
    explicit_max_ttl: int = 0
    num_uses: int = 0  # remaining uses; 0: unlimited; REVOCATION_PENDING: the last one is in use
    renewable: bool = False
    period: int = 0
    meta: dict[str, str] = field(default_factory=dict)
    parent: str = ""  # the parent's hash; "" for orphans and root tokens from init
    bound_cidrs: list[str] = field(default_factory=list)  # where the token may be used from
    digest: str = field(default="", compare=False)  # not stored: set on lookup

    def __repr__(self) -> str:
        return f"TokenEntry(accessor={self.accessor!r}, policies={self.policies!r})"

    @property
    def is_root(self) -> bool:
        return "root" in self.policies

    def usable_from(self, address: str) -> bool:
        """Whether a request from address may use this token (token_bound_cidrs)."""
        if not self.bound_cidrs:
            return True
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in ipaddress.ip_network(cidr, strict=False) for cidr in self.bound_cidrs)

    def expired(self, now: float) -> bool:
        return bool(self.expire_time) and now >= self.expire_time

    def ttl(self, now: float) -> int:
        return max(0, int(self.expire_time - now)) if self.expire_time else 0

    def to_record(self) -> dict[str, Any]:
        record = asdict(self)
        del record["digest"]
        return record

    @classmethod
    def from_record(cls, record: dict[str, Any], digest: str) -> "TokenEntry":
        return cls(**record, digest=digest)


def display_label(display_name: str) -> str:
    """Vault's display name: `token-` and the name, anything but letters, digits and '-' as '-'."""
    if not display_name:
        return "token"
    return _DISPLAY_NAME_UNSAFE.sub("-", "token-" + display_name).removesuffix("-")


def new_token_id() -> str:
    return TOKEN_PREFIX + "".join(secrets.choice(_ALPHABET) for _ in range(TOKEN_CHARS))


def new_accessor() -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(TOKEN_CHARS))


class TokenStore:
    """Create, look up, use, renew and revoke tokens, through a barrier view of its own."""

    def __init__(self, barrier: Barrier, default_ttl: int, max_ttl: int) -> None:
        self._barrier = barrier
        self._view = barrier.view(TOKEN_VIEW)
        self.default_ttl = default_ttl
        self.max_ttl = max_ttl
        self._salt: bytes | None = None
        self._keyed: Any = None  # an HMAC keyed with the salt, copied for each token
        self._cache: dict[str, TokenEntry] = {}
        self._mutex = threading.RLock()
        # Called with the hashes of revoked tokens (the cubbyhole purges their data).
        self.revoke_listeners: list[Callable[[list[str]], None]] = []

    @property
    def lock(self) -> threading.RLock:
        """Held across a check-then-revoke (unwrap) so it happens once."""
        return self._mutex

    # -- hashing -------------------------------------------------------------------------

    def _hash(self, token: str, salt: bytes | None = None) -> str:
        if salt is not None:
            return hmac.new(salt, token.encode(), hashlib.sha256).hexdigest()
        keyed = self._keyed
        if keyed is None:
            # Keyed once per unseal and copied per token: HMAC's key setup is half its cost.
            keyed = self._keyed = hmac.new(self._load_salt(), digestmod=hashlib.sha256)
        digest = keyed.copy()
        digest.update(token.encode())
        return digest.hexdigest()

    def _load_salt(self) -> bytes:
        if self._salt is None:
            salt = self._view.get(SALT_PATH)
            if salt is None:
                salt = os.urandom(32)
                self._view.put(SALT_PATH, salt)
            self._salt = salt
        return self._salt

    def forget_cache(self) -> None:
        """Drop cached secrets and entries (on seal)."""
        with self._mutex:
            self._salt = None
            self._keyed = None
            self._cache.clear()

    # -- create ----------------------------------------------------------------------------

    def root_token_records(self, token_id: str | None = None) -> tuple[str, list[BarrierPut]]:
        """A root token and the barrier writes that store it (for init, in its transaction)."""
        token = token_id or new_token_id()
        writes = []
        salt = self._view.get(SALT_PATH)
        if salt is None:
            salt = os.urandom(32)
            writes.append(BarrierPut(self._view.prefix + SALT_PATH, salt))
        entry = TokenEntry(accessor=new_accessor(), policies=["root"])
        writes += self._entry_writes(self._hash(token, salt), entry, absolute=True)
        return token, writes

    def create(self, parent: TokenEntry | None, *, policies: list[str], ttl: int = 0, explicit_max_ttl: int = 0,
               period: int = 0, num_uses: int = 0, renewable: bool = True, display_name: str = "",
               meta: dict[str, str] | None = None, orphan: bool = False, path: str = "auth/token/create",
               token_id: str | None = None, bound_cidrs: list[str] | None = None,
               also: Callable[[str], list[BarrierPut]] | None = None) -> tuple[str, TokenEntry]:
        """A new token; its lifetime follows Vault's rules (period, explicit max, system max).

        also(digest) may add barrier writes (absolute paths) committed with the token, in the
        same transaction: a wrapping token and the response it guards exist together or not.
        """
        now = time.time()
        policies = sorted({normalise_name(p) for p in policies if normalise_name(p)})
        if period:
            creation_ttl = period if not explicit_max_ttl else min(period, explicit_max_ttl)
        elif not ttl and "root" in policies and not explicit_max_ttl:
            creation_ttl = 0  # only root tokens may live forever, as in Vault
        else:
            creation_ttl = ttl or self.default_ttl
            if explicit_max_ttl:
                creation_ttl = min(creation_ttl, explicit_max_ttl)
            creation_ttl = min(creation_ttl, self.max_ttl)
        entry = TokenEntry(
            accessor=new_accessor(), policies=policies, path=path,
            # The token method prefixes `token-`; auth methods name their logins themselves.
            display_name=display_label(display_name) if path.startswith("auth/token/") else display_name or "token",
            creation_time=now, creation_ttl=creation_ttl, expire_time=now + creation_ttl if creation_ttl else 0.0,
            explicit_max_ttl=explicit_max_ttl, num_uses=num_uses, renewable=renewable and creation_ttl > 0,
            period=period, meta=dict(meta or {}), parent="" if orphan or parent is None else parent.digest,
            bound_cidrs=list(bound_cidrs or []),
        )
        token = token_id or new_token_id()
        digest = self._hash(token)
        with self._mutex:
            if self._view.get(ENTRY_PREFIX + digest) is not None:
                raise TokenError("cannot create a token with a duplicate ID")
            writes = self._entry_writes(digest, entry, absolute=True)
            self._barrier.transaction(writes + (also(digest) if also is not None else []))
        entry.digest = digest
        return token, entry

    def _entry_writes(self, digest: str, entry: TokenEntry, absolute: bool = False) -> list[BarrierPut]:
        prefix = self._view.prefix if absolute else ""
        writes = [
            BarrierPut(prefix + ENTRY_PREFIX + digest, entry.to_record()),
            BarrierPut(prefix + ACCESSOR_PREFIX + entry.accessor, digest),
        ]
        if entry.parent:
            writes.append(BarrierPut(prefix + PARENT_PREFIX + entry.parent + "/" + digest, True))
        return writes

    # -- lookup ----------------------------------------------------------------------------

    def lookup(self, token: str | None) -> TokenEntry | None:
        """The live entry for a presented token, or None (missing, malformed, unknown,
        expired, used up, or under a dead parent) — the caller answers all alike."""
        if not token or not isinstance(token, str) or len(token) > MAX_TOKEN_LENGTH:
            return None
        try:
            digest = self._hash(token)
        except UnicodeEncodeError:
            return None  # header bytes that are not UTF-8 (aiohttp keeps them as surrogates)
        return self.lookup_digest(digest)

    def lookup_digest(self, digest: str) -> TokenEntry | None:
        with self._mutex:
            now = time.time()
            entry = self._load(digest)
            if entry is None:
                return None
            if entry.expired(now) or not self._ancestors_alive(entry, now):
                self.revoke(digest)
                return None
            return entry

    def lookup_accessor(self, accessor: str) -> TokenEntry | None:
        if not isinstance(accessor, str) or not accessor or "/" in accessor:
            return None
        digest = self._view.get(ACCESSOR_PREFIX + accessor)
        return self.lookup_digest(digest) if isinstance(digest, str) else None

    def _load(self, digest: str) -> TokenEntry | None:
        entry = self._cache.get(digest)
        if entry is None:
            record = self._view.get(ENTRY_PREFIX + digest)
            if record is None:
                return None
            entry = TokenEntry.from_record(record, digest)
            if len(self._cache) >= CACHE_LIMIT:
                self._cache.clear()
            self._cache[digest] = entry
        return entry

    def _ancestors_alive(self, entry: TokenEntry, now: float) -> bool:
        seen = set()
        while entry.parent:
            if entry.parent in seen:
                return False
            seen.add(entry.parent)
            parent = self._load(entry.parent)
            if parent is None or parent.expired(now):
                return False
            entry = parent
        return True

    # -- use, renew, revoke ------------------------------------------------------------------

    def consume(self, entry: TokenEntry) -> bool:
        """Count one use of a limited-use token; False if it has none left (refuse the request).

        Runs under the store's lock, so N concurrent requests on a num_uses=N token get
        exactly N successes. The last use revokes the token at once; the entry the request
        holds then reads num_uses == REVOCATION_PENDING, as Vault's does, so the handler can
        tell a used-up token from an unlimited one.
        """
        if not entry.num_uses:
            return True
        with self._mutex:
            current = self._load(entry.digest)
            if current is None or current.num_uses <= 0:
                return False
            current.num_uses -= 1
            if current.num_uses == 0:
                self.revoke(entry.digest)
                current.num_uses = entry.num_uses = REVOCATION_PENDING
                return True
            self._view.put(ENTRY_PREFIX + entry.digest, current.to_record())
            return True

    def renew(self, entry: TokenEntry, increment: int = 0) -> TokenEntry:
        """Extend a renewable token, never past its explicit max or the system max."""
        with self._mutex:
            # The caller's entry may be stale: a revoke can land between the request's lookup
            # and here. Never write back a token that is gone (it would come back to life).
            current = self._load(entry.digest)
            if current is None or current.num_uses < 0 or current.expired(time.time()):
                raise TokenError("token is not valid")
            entry = current
            if not entry.renewable or not entry.expire_time:
                raise TokenError("lease is not renewable")
            now = time.time()
            if entry.period:
                new_expiry = now + entry.period
            else:
                new_expiry = now + (increment or entry.creation_ttl)
                new_expiry = min(new_expiry, entry.creation_time + self.max_ttl)
            if entry.explicit_max_ttl:
                new_expiry = min(new_expiry, entry.creation_time + entry.explicit_max_ttl)
            entry.expire_time = max(entry.expire_time, new_expiry) if entry.period else new_expiry
            self._view.put(ENTRY_PREFIX + entry.digest, entry.to_record())
            self._cache[entry.digest] = entry
            return entry

    def revoke(self, digest: str, orphan_children: bool = False) -> None:
        """Revoke a token and, unless orphan_children, every descendant, in one transaction."""
        with self._mutex:
            ops: list[BarrierPut | BarrierDelete] = []
            revoked: list[str] = []
            pending = [digest]
            while pending:
                current = pending.pop()
                entry = self._load(current)
                children = [c for c in self._view.list(PARENT_PREFIX + current + "/") if not c.endswith("/")]
                for child in children:
                    ops.append(BarrierDelete(PARENT_PREFIX + current + "/" + child))
                    if orphan_children:
                        orphaned = self._load(child)
                        if orphaned is not None:
                            orphaned.parent = ""
                            ops.append(BarrierPut(ENTRY_PREFIX + child, orphaned.to_record()))
                    else:
                        pending.append(child)
                if entry is not None:
                    revoked.append(current)
                    ops.append(BarrierDelete(ENTRY_PREFIX + current))
                    ops.append(BarrierDelete(ACCESSOR_PREFIX + entry.accessor))
                    if entry.parent:
                        ops.append(BarrierDelete(PARENT_PREFIX + entry.parent + "/" + current))
                self._cache.pop(current, None)
                orphan_children = False  # only the first token's children are orphaned
            if ops:
                self._view.transaction(ops)
        for listener in self.revoke_listeners:
            listener(revoked)

    def revoke_by_path_prefix(self, prefix: str) -> int:
        """Revoke every token created under prefix (e.g. a disabled auth method's logins)."""
        doomed = []
        for accessor in self.accessors():
            digest = self._view.get(ACCESSOR_PREFIX + accessor)
            entry = self._load(digest) if isinstance(digest, str) else None
            if entry is not None and entry.path.startswith(prefix):
                doomed.append(digest)
        for digest in doomed:
            self.revoke(digest)
        return len(doomed)

    def accessors(self) -> list[str]:
        return [a for a in self._view.list(ACCESSOR_PREFIX) if not a.endswith("/")]

    def sweep(self, now: float) -> int:
        """Revoke every expired token (requests check expiry anyway; this frees storage)."""
        expired = []
        for accessor in self.accessors():
            digest = self._view.get(ACCESSOR_PREFIX + accessor)
            entry = self._load(digest) if isinstance(digest, str) else None
            if entry is not None and entry.expired(now):
                expired.append(digest)
        for digest in expired:
            self.revoke(digest)
        return len(expired)
