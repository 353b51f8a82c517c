"""Property: for random policy sets and random paths, the compiled matcher (server.acl.ACL)
picks the same rule as a plain reference written here from the rules as documented:

- same path in several policies: capabilities unite, `deny` absorbs everything;
- an exact rule on the path wins; else, of the patterns matching it, the most specific by
  Vault's five priority rules (first `+`/`*` later; not ending in `*`; fewer `+` segments;
  longer; lexically larger);
- a LIST of `p/` looks at exact `p/`, exact `p`, patterns on `p/`, patterns on `p`, in order
  (OpenBao's fix for GHSA-xp3c-3jw3-4vcr);
- for `p/`, a deny governing `p` wins when it is exact or more specific than what governs
  `p/` (strongroom's rule: a trailing slash never dodges a deny).

The reference matches segment by segment and sorts with an explicit comparator, so it shares
no code with the regex-and-sort-key matcher it checks.
"""

from __future__ import annotations

import functools
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from server.acl import ACL
from server.policy import parse_policy

LITERALS = ["a", "b", "ab", "c", "a+b"]
OPERATIONS = ["read", "list", "create", "update", "delete"]
CAPABILITIES = ["create", "read", "update", "delete", "list", "sudo", "deny"]


# -- the reference -------------------------------------------------------------------------

def is_exact(pattern: str) -> bool:
    return "+" not in pattern and not pattern.endswith("*")


def pattern_matches(pattern: str, path: str) -> bool:
    glob = pattern.endswith("*")
    wanted = (pattern[:-1] if glob else pattern).split("/")
    given_ = path.split("/")
    if not glob:
        return len(given_) == len(wanted) and all(w in ("+", g) for w, g in zip(wanted, given_))
    if len(given_) < len(wanted):
        return False
    *head, last = wanted
    if not all(w in ("+", g) for w, g in zip(head, given_)):
        return False
    return last == "+" or given_[len(head)].startswith(last)


def first_wildcard(pattern: str) -> int:
    positions = [i for i, c in enumerate(pattern) if c == "+" or (c == "*" and i == len(pattern) - 1)]
    return positions[0] if positions else len(pattern)


def compare_specificity(p1: str, p2: str) -> int:
    """Negative if p1 is less specific than p2 (Vault's five rules, one after the other)."""
    if first_wildcard(p1) != first_wildcard(p2):
        return -1 if first_wildcard(p1) < first_wildcard(p2) else 1
    if p1.endswith("*") != p2.endswith("*"):
        return -1 if p1.endswith("*") else 1
    plus1, plus2 = p1.split("/").count("+"), p2.split("/").count("+")
    if plus1 != plus2:
        return -1 if plus1 > plus2 else 1
    if len(p1) != len(p2):
        return -1 if len(p1) < len(p2) else 1
    return (p1 > p2) - (p1 < p2)


def merged_rules(policies: list[list[tuple[str, set[str]]]]) -> dict[str, set[str]]:
    rules: dict[str, set[str]] = {}
    for policy in policies:
        for path, caps in policy:
            rules[path] = rules.get(path, set()) | caps
    return {path: ({"deny"} if "deny" in caps else caps) for path, caps in rules.items()}


def best_pattern(rules: dict[str, set[str]], path: str) -> str | None:
    matching = [p for p in rules if not is_exact(p) and pattern_matches(p, path)]
    if not matching:
        return None
    return sorted(matching, key=functools.cmp_to_key(compare_specificity))[-1]


def governing(rules: dict[str, set[str]], path: str) -> str | None:
    return path if path in rules and is_exact(path) else best_pattern(rules, path)


def reference(rules: dict[str, set[str]], path: str, operation: str) -> str | None:
    """The path of the rule that governs (path, operation), or None."""
    chosen = governing(rules, path)
    if len(path) < 2 or not path.endswith("/"):
        return chosen
    trimmed = path[:-1]
    if operation == "list":
        exact_here = path in rules and is_exact(path)
        exact_trimmed = trimmed in rules and is_exact(trimmed)
        chosen = (path if exact_here else trimmed if exact_trimmed
                  else best_pattern(rules, path) or best_pattern(rules, trimmed))
    trimmed_rule = governing(rules, trimmed)
    if trimmed_rule is None or trimmed_rule == chosen or "deny" not in rules[trimmed_rule]:
        return chosen
    if is_exact(trimmed_rule) or chosen is None:
        return trimmed_rule
    if is_exact(chosen):
        return chosen
    return trimmed_rule if compare_specificity(trimmed_rule, chosen) > 0 else chosen


# -- generators ----------------------------------------------------------------------------

pattern_segment = st.one_of(st.sampled_from(LITERALS), st.just("+"))
literal_path = st.lists(st.sampled_from(LITERALS), min_size=1, max_size=4).map("/".join)


@st.composite
def patterns(draw) -> str:
    body = "/".join(draw(st.lists(pattern_segment, min_size=1, max_size=4)))
    ending = draw(st.sampled_from(["", "/", "*", "/*"]))
    return draw(st.sampled_from([body + ending, "*"])) if draw(st.integers(0, 19)) == 0 else body + ending


rule_strategy = st.tuples(patterns(), st.sets(st.sampled_from(CAPABILITIES), min_size=1, max_size=3))
policy_strategy = st.lists(rule_strategy, min_size=1, max_size=6)


@st.composite
def requests(draw) -> tuple[str, str]:
    path = draw(literal_path) + draw(st.sampled_from(["", "/"]))
    operation = draw(st.sampled_from(OPERATIONS))
    if operation == "list" and not path.endswith("/"):
        path += "/"  # as the pipeline hands LIST requests over
    return path, operation


def to_text(policy: list[tuple[str, set[str]]]) -> str:
    """Vault's JSON policy form, one block per rule (a path may repeat: the parser merges it).
    JSON rather than HCL keeps hundreds of examples fast; test_policy_api covers HCL."""
    return json.dumps({"path": [{p: {"capabilities": sorted(c)}} for p, c in policy]})


# -- the properties ------------------------------------------------------------------------

@settings(max_examples=250, deadline=None)
@given(st.lists(policy_strategy, min_size=1, max_size=4), st.lists(requests(), min_size=1, max_size=8))
def test_compiled_matcher_agrees_with_the_reference(policies, asked):
    acl = ACL([parse_policy(f"p{i}", to_text(p)) for i, p in enumerate(policies)])
    rules = merged_rules(policies)
    for _ in range(2):  # cold, then from the matcher's cache
        for path, operation in asked:
            expected = reference(rules, path, operation)
            found = acl.rule_for(path, operation)
            assert (found.path if found else None) == expected, (path, operation)
            if expected is not None:
                assert set(found.capabilities) == rules[expected]
            allowed = expected is not None and operation in rules[expected] and "deny" not in rules[expected]
            assert (acl.allows(path, operation) is not None) is allowed
            with_sudo = allowed and "sudo" in rules[expected]
            assert (acl.allows(path, operation, sudo=True) is not None) is with_sudo


@settings(max_examples=150, deadline=None)
@given(st.lists(policy_strategy, min_size=1, max_size=3), literal_path)
def test_reported_capabilities_agree_with_the_reference(policies, path):
    acl = ACL([parse_policy(f"p{i}", to_text(p)) for i, p in enumerate(policies)])
    rules = merged_rules(policies)
    expected = reference(rules, path, "read")
    assert acl.capabilities(path) == (sorted(rules[expected]) if expected else ["deny"])


@settings(max_examples=80, deadline=None)
@given(policy_strategy, st.lists(requests(), min_size=1, max_size=5))
def test_policy_order_and_splitting_do_not_matter(policy, asked):
    whole = ACL([parse_policy("whole", to_text(policy))])
    split = ACL([parse_policy(f"part{i}", to_text([rule])) for i, rule in enumerate(reversed(policy))])
    for path, operation in asked:
        one, other = whole.rule_for(path, operation), split.rule_for(path, operation)
        assert (one.path, one.capabilities) == (other.path, other.capabilities) if one else other is None


def test_root_policy_grants_everything_and_reports_root():
    acl = ACL([parse_policy("root", 'path "x" { capabilities = ["deny"] }')])
    assert acl.root and acl.capabilities("anything/at/all") == ["root"]
