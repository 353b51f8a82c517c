"""Stored ACL policies, the built-in `root` and `default`, and compiled ACLs per policy set.

Each policy is parsed and compiled once; a token's ACL is cached by its set of policy names
and dropped whenever any policy is written or deleted.
"""

from __future__ import annotations

import threading

from seal.barrier import Barrier
from server.acl import ACL
from server.policy import Policy, PolicyError, normalise_name, parse_policy, valid_name

POLICY_VIEW = "sys/policy/"
ROOT = "root"
DEFAULT = "default"
ACL_CACHE_LIMIT = 10_000  # distinct policy sets held compiled; past it, start afresh

# Vault's default policy, trimmed to the endpoints strongroom serves.
DEFAULT_POLICY = """\
# Allow tokens to look up their own properties
path "auth/token/lookup-self" {
  capabilities = ["read"]
}

# Allow tokens to renew themselves
path "auth/token/renew-self" {
  capabilities = ["update"]
}

# Allow tokens to revoke themselves
path "auth/token/revoke-self" {
  capabilities = ["update"]
}

# Allow a token to look up its own capabilities on a path
path "sys/capabilities-self" {
  capabilities = ["update"]
}

# Allow a token to make requests to its own cubbyhole
path "cubbyhole/*" {
  capabilities = ["create", "read", "update", "delete", "list"]
}

# Allow a token to wrap arbitrary values in a response-wrapping token
path "sys/wrapping/wrap" {
  capabilities = ["update"]
}

# Allow a token to look up the creation time and TTL of a wrapping token
path "sys/wrapping/lookup" {
  capabilities = ["update"]
}

# Allow a token to unwrap a response-wrapping token
path "sys/wrapping/unwrap" {
  capabilities = ["update"]
}

# Allow general purpose tools
path "sys/tools/hash" {
  capabilities = ["update"]
}
path "sys/tools/hash/*" {
  capabilities = ["update"]
}
"""


class PolicyStore:
    """get/put/delete/list of ACL policies in the barrier, plus ACL compilation."""

    def __init__(self, barrier: Barrier) -> None:
        self._view = barrier.view(POLICY_VIEW)
        self._mutex = threading.Lock()
        self._parsed: dict[str, Policy] = {}
        self._acls: dict[tuple[str, ...], ACL] = {}
        self._generation = 0  # bumped on every write, so a stale compile is never cached

    def ensure_default(self) -> None:
        """Seed the `default` policy on a store that has none (after unseal)."""
        if self._view.get(DEFAULT) is None:
            self._view.put(DEFAULT, DEFAULT_POLICY)

    def forget_cache(self) -> None:
        with self._mutex:
            self._parsed.clear()
            self._acls.clear()
            self._generation += 1

    def names(self) -> list[str]:
        return sorted({ROOT, *[n for n in self._view.list("") if not n.endswith("/")]})

    def get(self, name: str) -> Policy | None:
        name = normalise_name(name)
        if name == ROOT:
            return Policy(ROOT, "")
        cached = self._parsed.get(name)
        if cached is not None:
            return cached
        generation = self._generation
        text = self._view.get(name)
        if text is None:
            return None
        policy = parse_policy(name, text)
        with self._mutex:
            if generation == self._generation:
                self._parsed[name] = policy
        return policy

    def put(self, name: str, text: str) -> Policy:
        name = valid_name(name)
        if name == ROOT:
            raise PolicyError('cannot update "root" policy')
        policy = parse_policy(name, text)
        with self._mutex:
            self._view.put(name, text)
            self._parsed[name] = policy
            self._acls.clear()
            self._generation += 1
        return policy

    def delete(self, name: str) -> None:
        name = normalise_name(name)
        if name == ROOT:
            raise PolicyError('cannot delete "root" policy')
        if name == DEFAULT:
            raise PolicyError("cannot delete default policy")
        with self._mutex:
            self._view.delete(name)
            self._parsed.pop(name, None)
            self._acls.clear()
            self._generation += 1

    def acl(self, names: tuple[str, ...] | list[str]) -> ACL:
        """The compiled ACL for a token's policies (unknown names grant nothing).

        Cached under the names as the token holds them (already normalised when it was
        made, so the hot path does no string work) and under their normalised form.
        """
        raw = tuple(names)
        acl = self._acls.get(raw)
        if acl is not None:
            return acl
        key = tuple(sorted({normalise_name(n) for n in names}))
        generation = self._generation
        acl = self._acls.get(key)
        if acl is None:
            acl = ACL([p for p in (self.get(n) for n in key) if p is not None])
        with self._mutex:
            if generation == self._generation:
                if len(self._acls) >= ACL_CACHE_LIMIT:
                    self._acls.clear()
                self._acls[key] = self._acls[raw] = acl
        return acl
