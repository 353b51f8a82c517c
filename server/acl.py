"""A token's policies compiled into one matcher: which rule governs a path, and does it allow.

Vault's rules: an exact path beats any pattern; among patterns (a trailing `*` glob, `+`
one-segment wildcards) the most specific wins — the one whose first wildcard comes later,
then the one not ending in `*`, then fewer `+`, then the longer, then the lexically larger.
The same path in several policies merges (deny absorbing everything). A `+` stands for any
one segment, the empty last segment of a path ending in '/' included, as in Vault.

A LIST of `a/b/` is governed, in OpenBao's order, by an exact rule on `a/b/`, then an exact
rule on `a/b`, then the patterns matching `a/b/`, then those matching `a/b` (OpenBao
GHSA-xp3c-3jw3-4vcr: a more specific deny must not be skipped). Beyond Vault, a path ending
in '/' is one slash away from the path without it, so for every operation a deny governing
`a/b` also governs `a/b/` unless a more specific rule names `a/b/` itself: `GET
secret/admin/` cannot dodge a deny on `secret/admin`.
"""

from __future__ import annotations

import re
from typing import Any, Iterable

from server.policy import PathRule, Policy, merge_rules

OPERATION_CAPABILITY = {
    "read": "read", "list": "list", "create": "create", "update": "update",
    "delete": "delete", "patch": "patch",
}
_CACHE_LIMIT = 1024


def _priority(pattern: str) -> tuple:
    """Sort key: a larger key is a more specific pattern (Vault's five tie-breaks)."""
    first = min((i for i, c in enumerate(pattern) if c in "+*"), default=len(pattern))
    return (first, not pattern.endswith("*"), -pattern.split("/").count("+"), len(pattern), pattern)


def _literal_prefix(pattern: str) -> str:
    """The part of a pattern before its first wildcard."""
    cut = min((i for i, c in enumerate(pattern) if c in "+*"), default=len(pattern))
    return pattern[:cut]


def _compile(pattern: str) -> re.Pattern[str]:
    glob = pattern.endswith("*")
    body = pattern[:-1] if glob else pattern
    # Vault compares a `+` with whatever the segment is, the empty one included.
    parts = [r"[^/]*" if seg == "+" else re.escape(seg) for seg in body.split("/")]
    return re.compile("/".join(parts) + (".*" if glob else ""), re.DOTALL)


class ACL:
    """The merged rules of a set of policies."""

    def __init__(self, policies: Iterable[Policy]) -> None:
        policies = list(policies)
        self.policy_names = tuple(sorted(p.name for p in policies))
        self.root = "root" in self.policy_names
        merged: dict[str, PathRule] = {}
        for policy in policies:
            for rule in policy.rules:
                merged[rule.path] = merge_rules(merged[rule.path], rule) if rule.path in merged else rule
        self.exact = {p: r for p, r in merged.items() if "*" not in p and "+" not in p}
        patterns = [(p, r) for p, r in merged.items() if p not in self.exact]
        self._rank = {p: _priority(p) for p, _ in patterns}
        patterns.sort(key=lambda item: self._rank[item[0]], reverse=True)
        self._patterns = [(_compile(p), r, _literal_prefix(p)) for p, r in patterns]
        # Candidates by the path's first segment: a pattern whose first segment is literal
        # can only match paths starting with it; the others are candidates everywhere.
        self._anywhere = [item for item in self._patterns if "/" not in item[2]]
        firsts = {item[2].split("/", 1)[0] for item in self._patterns if "/" in item[2]}
        self._by_first = {
            first: [item for item in self._patterns if "/" not in item[2] or item[2].split("/", 1)[0] == first]
            for first in firsts
        }
        self._cache: dict[str, PathRule | None] = {}

    def rule_for(self, path: str, operation: str | None = None) -> PathRule | None:
        """The single rule that governs path (None: nothing grants anything there)."""
        rule = self._governing(path)
        if len(path) < 2 or not path.endswith("/"):
            return rule
        trimmed = path[:-1]
        trimmed_rule = self._governing(trimmed)
        if operation == "list" and path not in self.exact and (trimmed in self.exact or rule is None):
            rule = trimmed_rule
        if (trimmed_rule is not None and trimmed_rule is not rule and "deny" in trimmed_rule.capabilities
                and self._outranks(trimmed, trimmed_rule, path, rule)):
            return trimmed_rule
        return rule

    def _outranks(self, path: str, rule: PathRule, other_path: str, other: PathRule | None) -> bool:
        """Whether rule (governing path) is more specific than other (governing other_path)."""
        if path in self.exact or other is None:
            return True
        if other_path in self.exact:
            return False
        return self._rank[rule.path] > self._rank[other.path]

    def _governing(self, path: str) -> PathRule | None:
        """The exact rule for path, else the most specific pattern matching it."""
        rule = self.exact.get(path)
        if rule is not None:
            return rule
        cached = self._cache.get(path, False)
        if cached is not False:
            return cached
        found = None
        for compiled, candidate, literal in self._by_first.get(path.split("/", 1)[0], self._anywhere):
            if path.startswith(literal) and compiled.fullmatch(path):  # most specific first
                found = candidate
                break
        if len(self._cache) >= _CACHE_LIMIT:
            self._cache.clear()
        self._cache[path] = found
        return found

    def capabilities(self, path: str) -> list[str]:
        """What the token may do on path, as sys/capabilities reports it."""
        if self.root:
            return ["root"]
        rule = self.rule_for(path)
        if rule is None:
            return ["deny"]
        return sorted(rule.capabilities)

    def allows(self, path: str, operation: str, *, sudo: bool = False) -> PathRule | None:
        """The governing rule if it grants operation (and sudo when needed), else None."""
        rule = self.rule_for(path, operation)
        if rule is None or "deny" in rule.capabilities:
            return None
        needed = OPERATION_CAPABILITY.get(operation)
        if needed is None or needed not in rule.capabilities:
            return None
        if sudo and "sudo" not in rule.capabilities:
            return None
        return rule

    def grants_anything_under(self, prefix: str) -> bool:
        """Whether some path under prefix is reachable (the UI's mount listing filter)."""
        if self.root:
            return True
        for path, rule in self.exact.items():
            if path.startswith(prefix) and "deny" not in rule.capabilities:
                return True
        for _, rule, literal in self._patterns:
            if "deny" not in rule.capabilities and (literal.startswith(prefix) or prefix.startswith(literal)):
                return True
        return False


def parameters_allowed(rule: PathRule, data: dict[str, Any]) -> bool:
    """Vault's parameter constraints: required present, denied absent, only allowed ones.

    Names compare case-insensitively (the policy's are lower-cased when parsed), so `TTL`
    cannot slip past a deny on `ttl`. A `*` key in denied_parameters refuses any parameter
    at all, as in Vault; an unlisted parameter must match the values of an allowed `*` entry
    (Vault ignores them). Where Vault compares a list value whole, each element is checked
    here: a list is denied if any element is, and allowed only if every element is.
    """
    names = {str(name).lower(): value for name, value in data.items()}
    if len(names) != len(data):
        return False  # the same parameter twice under two spellings: refuse, do not pick one
    for name in rule.required_parameters:
        if name not in names:
            return False
    denied = rule.denied_parameters
    if denied and names:
        if "*" in denied:
            return False
        for name, value in names.items():
            patterns = denied.get(name)
            if patterns is not None and (not patterns or _matches_any(value, patterns)):
                return False
    allowed = rule.allowed_parameters
    if allowed:
        for name, value in names.items():
            patterns = allowed.get(name, allowed.get("*"))
            if patterns is None:
                return False
            if patterns and not _all_match(value, patterns):
                return False
    return True


def _value_matches(value: Any, pattern: Any) -> bool:
    """Vault's value globs: "prefix*", "*suffix", "*infix*"; and "*" alone for any value."""
    if isinstance(pattern, str) and isinstance(value, str):
        if pattern == "*":
            return True
        if len(pattern) > 1 and pattern.startswith("*") and pattern.endswith("*"):
            return pattern[1:-1] in value
        if pattern.endswith("*"):
            return value.startswith(pattern[:-1])
        if pattern.startswith("*"):
            return value.endswith(pattern[1:])
        return value == pattern
    if isinstance(pattern, str) and isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value) == pattern
    return value == pattern


def _matches_any(value: Any, patterns: list[Any]) -> bool:
    values = value if isinstance(value, list) else [value]
    return any(_value_matches(v, p) for v in values for p in patterns)


def _all_match(value: Any, patterns: list[Any]) -> bool:
    values = value if isinstance(value, list) else [value]
    return all(any(_value_matches(v, p) for p in patterns) for v in values)
