"""ACL matching cost for a token with 10 policies of ~10 rules each, over a realistic path mix.

Run it (from the repository root; not part of the pytest suite):

    .venv/bin/python tests/bench/acl_bench.py [--paths 2000] [--repeat 5]

What it measures, in-process (no HTTP), with the real PolicyStore and ACL:

  1. compile: parsing is done once per policy write; this is building one ACL from the 10
     parsed policies (what the first request of a policy set pays after any policy write);
  2. cold:    a fresh ACL, each path checked once (its per-path cache empty);
  3. warm:    the same paths again (the ACL's per-path cache filled), as a busy server runs;
  4. request: what `_authorize` pays per request besides the token lookup: the cached ACL
     for the token's policy names (PolicyStore.acl) plus the check, warm.

The path mix: kv v2 data and metadata paths of the token's teams and of other teams, LIST
with trailing slashes, transit encrypt/decrypt, exact sys paths, denied admin paths, and
paths no rule names. Each figure is the best of --repeat runs, in microseconds per check.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from server.acl import ACL  # noqa: E402
from server.policy_store import PolicyStore  # noqa: E402

TEAMS = [f"team{i}" for i in range(10)]


def policy_text(team: str) -> str:
    """About ten rules: globs, `+` segments, exact paths, a deny, parameters."""
    return f"""
path "secret/data/{team}/*" {{ capabilities = ["create", "read", "update"] }}
path "secret/metadata/{team}/*" {{ capabilities = ["read", "list"] }}
path "secret/data/{team}/admin" {{ capabilities = ["deny"] }}
path "secret/data/+/{team}/config" {{ capabilities = ["read"] }}
path "kv/{team}/+/settings" {{ capabilities = ["read", "update"] }}
path "transit/encrypt/{team}-*" {{ capabilities = ["update"] }}
path "transit/decrypt/{team}-*" {{ capabilities = ["update"] }}
path "database/creds/{team}-readonly" {{ capabilities = ["read"] }}
path "pki/issue/{team}" {{
  capabilities = ["update"]
  allowed_parameters = {{ "common_name" = ["*.{team}.example.com"], "ttl" = [] }}
}}
path "sys/mounts" {{ capabilities = ["read"] }}
path "auth/token/lookup-self" {{ capabilities = ["read"] }}
"""


class MemoryView:
    """The four calls PolicyStore makes on its barrier view, kept in a dict."""

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}

    def get(self, key: str) -> Any:
        return self.data.get(key)

    def put(self, key: str, value: Any) -> None:
        self.data[key] = value

    def delete(self, key: str) -> None:
        self.data.pop(key, None)

    def list(self, prefix: str) -> list[str]:
        return sorted(k[len(prefix):] for k in self.data if k.startswith(prefix))


class MemoryBarrier:
    def view(self, prefix: str) -> MemoryView:
        return MemoryView()


def path_mix(count: int, rng: random.Random) -> list[tuple[str, str]]:
    """(path, operation) pairs, the token's own teams and others', hits, denies and misses."""
    shapes: list[Callable[[str, str], tuple[str, str]]] = [
        lambda t, k: (f"secret/data/{t}/{k}", "read"),
        lambda t, k: (f"secret/data/{t}/{k}", "update"),
        lambda t, k: (f"secret/metadata/{t}/{k}/", "list"),
        lambda t, k: (f"secret/data/{t}/admin", "read"),
        lambda t, k: (f"secret/data/{k}/{t}/config", "read"),
        lambda t, k: (f"kv/{t}/{k}/settings", "update"),
        lambda t, k: (f"transit/encrypt/{t}-{k}", "update"),
        lambda t, k: (f"transit/decrypt/{t}-{k}", "update"),
        lambda t, k: (f"database/creds/{t}-readonly", "read"),
        lambda t, k: ("sys/mounts", "read"),
        lambda t, k: ("sys/policy", "read"),
        lambda t, k: (f"unmounted/{t}/{k}", "read"),
    ]
    teams = TEAMS + ["other1", "other2", "other3"]
    return [rng.choice(shapes)(rng.choice(teams), f"key{rng.randrange(200)}") for _ in range(count)]


def best_of(repeat: int, run: Callable[[], int]) -> float:
    """Best microseconds per check over `repeat` runs of run() (which returns its check count)."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        checks = run()
        best = min(best, (time.perf_counter() - start) / checks * 1e6)
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--paths", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    store = PolicyStore(MemoryBarrier())
    for team in TEAMS:
        store.put(team, policy_text(team))
    names = [t.upper() if i % 2 else t for i, t in enumerate(TEAMS)] + ["default"]
    policies = [store.get(n) for n in TEAMS]
    rules = sum(len(p.rules) for p in policies)
    mix = path_mix(args.paths, random.Random(7))
    allowed = sum(store.acl(names).allows(p, op) is not None for p, op in mix)

    def compile_() -> int:
        for _ in range(50):
            ACL(policies)
        return 50

    def cold() -> int:
        acl = ACL(policies)
        for path, op in mix:
            acl.allows(path, op)
        return len(mix)

    warm_acl = ACL(policies)
    for path, op in mix:
        warm_acl.allows(path, op)

    def warm() -> int:
        for path, op in mix:
            warm_acl.allows(path, op)
        return len(mix)

    def request() -> int:
        for path, op in mix:
            store.acl(names).allows(path, op)
        return len(mix)

    compile_us = best_of(args.repeat, compile_)
    cold_us = best_of(args.repeat, lambda: cold() - 0)  # includes building the ACL once per run
    print(f"token with {len(TEAMS)} policies, {rules} rules; {len(mix)} checks "
          f"({len(set(mix))} distinct, {allowed} allowed); best of {args.repeat}")
    print(f"compile ACL from 10 parsed policies : {compile_us:8.1f} us")
    print(f"cold check (empty path cache)       : {cold_us - compile_us / len(mix):8.2f} us/check")
    print(f"warm check (path cache filled)      : {best_of(args.repeat, warm):8.2f} us/check")
    print(f"request: cached ACL lookup + check  : {best_of(args.repeat, request):8.2f} us/check")
    return 0


if __name__ == "__main__":
    sys.exit(main())
