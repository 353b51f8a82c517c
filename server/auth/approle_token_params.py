"""The token_* settings an auth method's role or user carries, and the token a login issues.

Vault's tokenutil: the same ten fields (token_policies, token_ttl, token_max_ttl, ...) on an
AppRole role and a userpass user, their older names (`policies`, `period`, `ttl`, `max_ttl`,
`bound_cidrs`) kept working, and one place that turns them into a token honouring every
limit. Shared by the AppRole and userpass methods.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Callable

from config.units import format_duration
from server.auth import approle_fields as fields
from server.errors import BadRequestError
from server.mounts import MountEntry
from server.tokens import TokenEntry

DEFAULT_POLICY = "default"
# Older field -> the token_* field it became (Vault's tokenutil.UpgradeValue pairs).
LEGACY_FIELDS = {
    "policies": "token_policies",
    "period": "token_period",
    "ttl": "token_ttl",
    "max_ttl": "token_max_ttl",
    "bound_cidrs": "token_bound_cidrs",
}
# strongroom issues service tokens only; "default" means service for these methods.
TOKEN_TYPES = {"": "default", "default": "default", "service": "service", "default-service": "service"}
TOKEN_CIDR_ERROR = 'error parsing address "{}": not an IP address or CIDR block'


_READERS: dict[str, Callable[[dict[str, Any], str], Any]] = {
    "token_policies": fields.comma_list, "token_bound_cidrs": fields.comma_list,
    "token_ttl": fields.duration, "token_max_ttl": fields.duration,
    "token_explicit_max_ttl": fields.duration, "token_period": fields.duration,
    "token_num_uses": fields.integer, "token_no_default_policy": fields.boolean,
    "token_strictly_bind_ip": fields.boolean, "token_type": fields.string,
}


@dataclass
class TokenParams:
    """What a login's token gets; `legacy` holds values set through the older field names."""

    token_policies: list[str] = field(default_factory=list)
    token_ttl: int = 0
    token_max_ttl: int = 0
    token_explicit_max_ttl: int = 0
    token_period: int = 0
    token_num_uses: int = 0
    token_no_default_policy: bool = False
    token_bound_cidrs: list[str] = field(default_factory=list)
    token_strictly_bind_ip: bool = False
    token_type: str = "default"
    legacy: dict[str, Any] = field(default_factory=dict)

    def to_record(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> "TokenParams":
        return cls(**record)

    def update(self, data: dict[str, Any], legacy_names: tuple[str, ...], max_lease_ttl: int) -> list[str]:
        """Apply the fields present in data (Vault's ParseTokenFields and UpgradeValue);
        returns warnings. Only named fields change, so an update keeps everything else."""
        for name, read in _READERS.items():
            value = read(data, name)
            if value is not None:
                setattr(self, name, value)
        for old in legacy_names:
            new = LEGACY_FIELDS[old]
            if fields.given(data, new):
                # The new name wins; the old one mirrors it only if it was sent too.
                if fields.given(data, old):
                    self.legacy[old] = getattr(self, new)
                else:
                    self.legacy.pop(old, None)
            elif fields.given(data, old):
                value = _READERS[new](data, old)
                self.legacy[old] = value
                setattr(self, new, value)
        self._validate(max_lease_ttl)
        warnings = []
        if max_lease_ttl and self.token_max_ttl > max_lease_ttl:
            warnings.append("token_max_ttl is greater than the backend mount's maximum TTL value; "
                            "issued tokens' max TTL value will be truncated")
        return warnings

    def _validate(self, max_lease_ttl: int) -> None:
        self.token_bound_cidrs = fields.cidr_blocks(self.token_bound_cidrs, TOKEN_CIDR_ERROR)
        if "bound_cidrs" in self.legacy:
            self.legacy["bound_cidrs"] = list(self.token_bound_cidrs)
        if self.token_type not in TOKEN_TYPES:
            if self.token_type in ("batch", "default-batch"):
                raise BadRequestError("strongroom issues service tokens only: 'token_type' cannot be 'batch'")
            raise BadRequestError(f"invalid 'token_type' value \"{self.token_type}\"")
        self.token_type = TOKEN_TYPES[self.token_type]
        if self.token_num_uses < 0:
            raise BadRequestError("'token_num_uses' cannot be negative")
        if self.token_ttl and self.token_max_ttl and self.token_ttl > self.token_max_ttl:
            raise BadRequestError("'token_ttl' cannot be greater than 'token_max_ttl'")
        if self.token_strictly_bind_ip and self.token_bound_cidrs:
            raise BadRequestError("'token_strictly_bind_ip' conflicts with 'token_bound_cidrs'; set only one")
        if self.token_period > max_lease_ttl:
            raise BadRequestError(f'period of "{format_duration(self.token_period)}" is greater than the '
                                  f'backend\'s maximum lease TTL of "{format_duration(max_lease_ttl)}"')

    def to_api(self, legacy_names: tuple[str, ...]) -> dict[str, Any]:
        """Vault's read shape: every token_* field, and an older name only while it is set."""
        data: dict[str, Any] = {
            "token_bound_cidrs": list(self.token_bound_cidrs),
            "token_explicit_max_ttl": self.token_explicit_max_ttl,
            "token_max_ttl": self.token_max_ttl,
            "token_no_default_policy": self.token_no_default_policy,
            "token_num_uses": self.token_num_uses,
            "token_period": self.token_period,
            "token_policies": list(self.token_policies),
            "token_strictly_bind_ip": self.token_strictly_bind_ip,
            "token_ttl": self.token_ttl,
            "token_type": self.token_type,
        }
        for old in legacy_names:
            value = self.legacy.get(old)
            if value:
                data[old] = value
        return data

    def issue(self, tokens: Any, mount: MountEntry, *, path: str, display_name: str, meta: dict[str, str],
              remote_addr: str, bound_cidrs: list[str] | None = None) -> tuple[str, TokenEntry]:
        """The login's token: policies (with `default` unless refused), TTL within token_max_ttl
        and the mount's max, use count, period and bound CIDRs, as Vault's core grants them."""
        policies = list(self.token_policies)
        if not self.token_no_default_policy and DEFAULT_POLICY not in policies:
            policies.append(DEFAULT_POLICY)
        if "root" in (p.strip().lower() for p in policies):
            raise BadRequestError("auth methods cannot create root tokens")
        max_ttl = _smallest(self.token_max_ttl, mount.max_lease_ttl)
        ttl = self.token_ttl or mount.default_lease_ttl
        if max_ttl and ttl > max_ttl:
            ttl = max_ttl
        # A periodic token is bounded by its explicit max only (Vault). Otherwise the token
        # store has one ceiling, explicit_max_ttl, and it carries the role's max TTL too, so
        # that renewals stop at token_max_ttl.
        ceiling = self.token_explicit_max_ttl if self.token_period else _smallest(self.token_explicit_max_ttl, max_ttl)
        if self.token_strictly_bind_ip:
            cidrs = [remote_addr]
        else:
            cidrs = list(bound_cidrs) if bound_cidrs else list(self.token_bound_cidrs)
        return tokens.create(
            None, policies=policies, ttl=ttl, explicit_max_ttl=ceiling, period=self.token_period,
            num_uses=self.token_num_uses, renewable=True, display_name=display_name, meta=meta,
            orphan=True, path=path, bound_cidrs=cidrs,
        )


def _smallest(*ttls: int) -> int:
    """The smallest of the TTLs that are set (0 means unset), or 0 if none is."""
    set_ttls = [t for t in ttls if t]
    return min(set_ttls) if set_ttls else 0
