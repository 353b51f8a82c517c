"""ACL policies in Vault's language (HCL or JSON), parsed into typed rules.

    path "secret/data/+/config" {
      capabilities        = ["read", "list"]
      allowed_parameters  = { "ttl" = ["1h", "2h"] }
      denied_parameters   = { "admin" = [] }
      required_parameters = ["name"]
      min_wrapping_ttl    = "1m"
      max_wrapping_ttl    = "1h"
    }

A glob `*` may only end a path; `+` stands for exactly one segment. A path given twice in one
policy has its rules merged, as Vault does. Names are normalised (trimmed, lower-cased) here,
once, so `Root`, ` root` and `ROOT` all are `root` (Vault CVE-2025-5999).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from config.errors import ConfigError
from config.reader import Repeated, parse_config_text
from config.units import InvalidDurationError, parse_duration

CAPABILITIES = ("create", "read", "update", "patch", "delete", "list", "sudo", "deny")
# Vault's pre-0.9 shorthand: `policy = "write"`.
LEGACY_POLICY = {
    "deny": {"deny"},
    "read": {"read", "list"},
    "write": {"create", "read", "update", "patch", "delete", "list"},
    "sudo": {"create", "read", "update", "patch", "delete", "list", "sudo"},
}
RULE_KEYS = {"capabilities", "policy", "allowed_parameters", "denied_parameters", "required_parameters",
             "min_wrapping_ttl", "max_wrapping_ttl"}
_NAME = re.compile(r"^[a-z0-9][a-z0-9._@-]*$")
MAX_NAME = 128


class PolicyError(ValueError):
    """A policy that cannot be parsed or is not valid; the message says which part."""


def normalise_name(name: Any) -> str:
    """The one canonical form of a policy name, used for every check and every lookup."""
    if not isinstance(name, str):
        raise PolicyError("policy names must be strings")
    return name.strip().lower()


def valid_name(name: str) -> str:
    """A normalised name that may be written to the store."""
    normalised = normalise_name(name)
    if not normalised or len(normalised) > MAX_NAME or not _NAME.match(normalised):
        raise PolicyError(f"invalid policy name {name!r}: use letters, digits, '.', '_', '-' or '@'")
    return normalised


@dataclass
class PathRule:
    """What one `path` block grants."""

    path: str
    capabilities: frozenset[str]
    allowed_parameters: dict[str, list[Any]] | None = None
    denied_parameters: dict[str, list[Any]] | None = None
    required_parameters: tuple[str, ...] = ()
    min_wrapping_ttl: int = 0
    max_wrapping_ttl: int = 0


@dataclass
class Policy:
    name: str
    text: str
    rules: list[PathRule] = field(default_factory=list)


def parse_policy(name: str, text: str) -> Policy:
    """Parse policy text (HCL or JSON) into rules; PolicyError names what is wrong."""
    if not isinstance(text, str) or not text.strip():
        raise PolicyError("policy text is empty")
    as_json = text.lstrip().startswith("{")
    try:
        data = parse_config_text(text, f"policy {name!r}", as_json=as_json)
    except ConfigError as exc:
        raise PolicyError(f"failed to parse policy: {exc.reason}") from None
    unknown = set(data) - {"path", "name"}
    if unknown:
        raise PolicyError(f"failed to parse policy: unknown top-level key {sorted(unknown)[0]!r}")
    blocks = data.get("path", {})
    rules: dict[str, PathRule] = {}
    for path, body in _path_blocks(blocks):
        try:
            rule = _rule(path, body)
        except PolicyError as exc:
            raise PolicyError(f"failed to parse policy: {exc}") from None
        rules[path] = merge_rules(rules[path], rule) if path in rules else rule
    return Policy(name=name, text=text, rules=list(rules.values()))


def _path_blocks(blocks: Any) -> list[tuple[str, Any]]:
    """(path, body) pairs from pyhcl's shape, keeping repeats; JSON may give a list."""
    found: list[tuple[str, Any]] = []
    items = blocks if isinstance(blocks, (list, Repeated)) else [blocks]
    for item in items:
        if not isinstance(item, dict):
            raise PolicyError("failed to parse policy: `path` must be a block with a path label")
        for path, body in item.items():
            for one in body if isinstance(body, Repeated) else [body]:
                found.append((path, one))
    return found


def _rule(path: Any, body: Any) -> PathRule:
    if not isinstance(path, str):
        raise PolicyError("path labels must be strings")
    if not isinstance(body, dict):
        raise PolicyError(f"path {_quoted(path)} must have a block body")
    unknown = set(body) - RULE_KEYS
    if unknown:
        raise PolicyError(f"path {_quoted(path)}: unknown key {_quoted(sorted(unknown)[0])}")
    path = path.lstrip("/")
    if "*" in path[:-1]:
        raise PolicyError(f"path {_quoted(path)}: a glob '*' may only appear at the end")
    capabilities = set(_strings(body.get("capabilities", []), path, "capabilities"))
    legacy = body.get("policy")
    if legacy is not None:
        if legacy not in LEGACY_POLICY:
            raise PolicyError(f"path {_quoted(path)}: invalid policy {_quoted(legacy)}")
        capabilities |= LEGACY_POLICY[legacy]
    bad = capabilities - set(CAPABILITIES)
    if bad:
        raise PolicyError(f"path {_quoted(path)}: invalid capability {_quoted(sorted(bad)[0])}")
    if "deny" in capabilities:
        capabilities = {"deny"}
    min_wrapping_ttl = _ttl(body.get("min_wrapping_ttl"), path, "min_wrapping_ttl")
    max_wrapping_ttl = _ttl(body.get("max_wrapping_ttl"), path, "max_wrapping_ttl")
    if min_wrapping_ttl and max_wrapping_ttl and max_wrapping_ttl < min_wrapping_ttl:
        raise PolicyError(f"path {_quoted(path)}: max_wrapping_ttl cannot be less than min_wrapping_ttl")
    required = _strings(body.get("required_parameters", []), path, "required_parameters")
    return PathRule(
        path=path,
        capabilities=frozenset(capabilities),
        allowed_parameters=_parameters(body.get("allowed_parameters"), path, "allowed_parameters"),
        denied_parameters=_parameters(body.get("denied_parameters"), path, "denied_parameters"),
        # Parameter names compare case-insensitively, as in Vault (acl.parameters_allowed).
        required_parameters=tuple(sorted({name.lower() for name in required})),
        min_wrapping_ttl=min_wrapping_ttl,
        max_wrapping_ttl=max_wrapping_ttl,
    )


def merge_rules(a: PathRule, b: PathRule) -> PathRule:
    """Two grants on the same path: capabilities unite (deny absorbs all), parameters merge."""
    caps = a.capabilities | b.capabilities
    return PathRule(
        path=a.path,
        capabilities=frozenset({"deny"}) if "deny" in caps else caps,
        allowed_parameters=_merge_params(a.allowed_parameters, b.allowed_parameters),
        denied_parameters=_merge_params(a.denied_parameters, b.denied_parameters),
        required_parameters=tuple(sorted(set(a.required_parameters) | set(b.required_parameters))),
        # Vault keeps the lesser of two set minimums, and the lesser of two set maximums.
        min_wrapping_ttl=_merge_ttl(a.min_wrapping_ttl, b.min_wrapping_ttl, min),
        max_wrapping_ttl=_merge_ttl(a.max_wrapping_ttl, b.max_wrapping_ttl, min),
    )


def _merge_params(a: dict | None, b: dict | None) -> dict | None:
    if a is None or b is None:
        return a if b is None else b
    merged = {k: list(v) for k, v in a.items()}
    for key, values in b.items():
        if key in merged and merged[key] and values:
            merged[key] = merged[key] + [v for v in values if v not in merged[key]]
        else:
            merged[key] = [] if key in merged else list(values)
    return merged


def _merge_ttl(a: int, b: int, pick) -> int:
    if not a or not b:
        return a or b
    return pick(a, b)


def _strings(value: Any, path: str, key: str) -> list[str]:
    if isinstance(value, (list, Repeated)) and all(isinstance(v, str) for v in value):
        return [v.strip().lower() if key == "capabilities" else v for v in value]
    raise PolicyError(f"path {_quoted(path)}: {key} must be a list of strings")


def _parameters(value: Any, path: str, key: str) -> dict[str, list[Any]] | None:
    if value is None:
        return None
    if isinstance(value, (list, Repeated)) and all(isinstance(v, dict) for v in value):
        merged: dict[str, Any] = {}
        for part in value:
            merged.update(part)
        value = merged
    if not isinstance(value, dict):
        raise PolicyError(f"path {_quoted(path)}: {key} must be a map of parameter names to lists of values")
    result: dict[str, list[Any]] = {}
    for name, allowed in value.items():
        if not isinstance(allowed, (list, Repeated)):
            raise PolicyError(f"path {_quoted(path)}: {key}.{name} must be a list")
        result[str(name).lower()] = list(allowed)
    return result


def _ttl(value: Any, path: str, key: str) -> int:
    if value is None or value == "":
        return 0
    try:
        return parse_duration(value)
    except (InvalidDurationError, TypeError):
        raise PolicyError(f"path {_quoted(path)}: {key} is not a valid duration") from None


def _quoted(text: Any) -> str:
    """Go's %q, as Vault's messages quote names: "a", not 'a'."""
    return json.dumps(str(text))
