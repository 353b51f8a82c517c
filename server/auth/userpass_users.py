"""userpass users: what a user holds and where it is stored (`user/<name>` in the mount's view).

A user is its Argon2id password record (userpass_password.py) and its token settings.
Names are lower-cased, as Vault's. The password is never stored, only its hash record.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from seal.view import BarrierView
from server.auth.approle_token_params import TokenParams

USER_PREFIX = "user/"
LEGACY_NAMES = ("policies", "ttl", "max_ttl", "bound_cidrs")  # older user fields Vault still answers


@dataclass
class User:
    name: str
    password: dict[str, Any]  # the hash record: algorithm, parameters, salt, tag
    token: TokenParams = field(default_factory=TokenParams)

    def __repr__(self) -> str:
        return f"User({self.name!r})"

    def to_record(self) -> dict[str, Any]:
        return {"password": self.password, "token": self.token.to_record()}

    @classmethod
    def from_record(cls, name: str, record: dict[str, Any]) -> "User":
        return cls(name=name, password=record["password"], token=TokenParams.from_record(record["token"]))

    def to_api(self) -> dict[str, Any]:
        return dict(sorted(self.token.to_api(LEGACY_NAMES).items()))


class UserStore:
    def __init__(self, view: BarrierView) -> None:
        self._view = view

    def get(self, name: str) -> User | None:
        record = self._view.get(USER_PREFIX + name)
        return User.from_record(name, record) if record is not None else None

    def put(self, user: User) -> None:
        self._view.put(USER_PREFIX + user.name, user.to_record())

    def delete(self, name: str) -> None:
        self._view.delete(USER_PREFIX + name)

    def names(self) -> list[str]:
        return sorted(n for n in self._view.list(USER_PREFIX) if not n.endswith("/"))
