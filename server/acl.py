"""A token's policies compiled into one matcher: which rule governs a path, and does it allow.

Vault's rules: an exact path beats any pattern; among patterns (a trailing `*` glob, `+`
one-segment wildcards) the most specific wins — the one whose first wildcard comes later,
then the one not ending in `*`, then fewer `+`, then the longer, then the lexically larger.
The same path in several policies merges (deny absorbing everything). A LIST of `a/b/` also
honours an exact rule on `a/b`, so a deny there cannot be dodged by listing.
"""

from __future__ import annotations

import re
from typing import Any, Iterable

from server.policy import PathRule, Policy, merge_rules

OPERATION_CAPABILITY = {
    "read": "read", "list": "list", "create": "create", "update": "update",
    "delete": "delete", "patch": "patch",
}
_CACHE_LIMIT = 4096


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
    parts = [r"[^/]+" if seg == "+" else re.escape(seg) for seg in body.split("/")]
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
        patterns.sort(key=lambda item: _priority(item[0]), reverse=True)
        self._patterns = [(_compile(p), r, _literal_prefix(p)) for p, r in patterns]
        self._cache: dict[str, PathRule | None] = {}

    def rule_for(self, path: str, operation: str | None = None) -> PathRule | None:
        """The single rule that governs path (None: nothing grants anything there)."""
        rule = self.exact.get(path)
        if rule is None and operation == "list" and path.endswith("/"):
            rule = self.exact.get(path[:-1])
        if rule is not None:
            return rule
        cached = self._cache.get(path, False)
        if cached is not False:
            return cached
        found = None
        for compiled, candidate, _ in self._patterns:  # most specific first
            if compiled.fullmatch(path):
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
    """Vault's parameter constraints: required present, denied absent, only allowed ones."""
    for name in rule.required_parameters:
        if name not in data:
            return False
    denied = rule.denied_parameters
    if denied:
        for name, value in data.items():
            patterns = denied.get(name, denied.get("*"))
            if patterns is None:
                continue
            if not patterns or _matches_any(value, patterns):
                return False
    allowed = rule.allowed_parameters
    if allowed is not None:
        for name, value in data.items():
            patterns = allowed.get(name, allowed.get("*"))
            if patterns is None:
                return False
            if patterns and not _all_match(value, patterns):
                return False
    return True


def _value_matches(value: Any, pattern: Any) -> bool:
    """Vault's value globs: "*" alone, a "prefix*" or a "*suffix"; otherwise equality."""
    if isinstance(pattern, str) and isinstance(value, str):
        if pattern == "*":
            return True
        if pattern.endswith("*") and not pattern.startswith("*"):
            return value.startswith(pattern[:-1])
        if pattern.startswith("*") and not pattern.endswith("*"):
            return value.endswith(pattern[1:])
        return value == pattern
    if isinstance(pattern, str) and isinstance(value, (int, float, bool)) and not isinstance(value, bool):
        return str(value) == pattern
    return value == pattern


def _matches_any(value: Any, patterns: list[Any]) -> bool:
    values = value if isinstance(value, list) else [value]
    return any(_value_matches(v, p) for v in values for p in patterns)


def _all_match(value: Any, patterns: list[Any]) -> bool:
    values = value if isinstance(value, list) else [value]
    return all(any(_value_matches(v, p) for p in patterns) for v in values)
