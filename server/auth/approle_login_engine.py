"""What every login-issuing auth method engine shares (AppRole and userpass).

Its mount's LoginGuard (failed logins counted and slowed), the display name Vault gives
the tokens it issues, the lease ceiling the mount grants, and the guard's upkeep on tick
and close.
"""

from __future__ import annotations

from seal.view import BarrierView
from server.auth.approle_login_guard import LoginGuard
from server.engines.base import Engine
from server.mounts import MountEntry

PRUNE_SECONDS = 60.0
# A role or user name in a path: Vault's framework.GenericNameRegex.
NAME = r"(?P<name>\w(?:[\w.-]*\w)?)"


class LoginEngine(Engine):
    def __init__(self, view: BarrierView, mount: MountEntry) -> None:
        super().__init__(view, mount)
        self.guard = LoginGuard("auth/" + mount.path)
        self._last_prune = 0.0

    @property
    def display_name(self) -> str:
        """Vault's display name for this mount's tokens: the mount path, '/' as '-'."""
        return self.mount.path.rstrip("/").replace("/", "-")

    def max_lease_ttl(self) -> int:
        """The longest lease this mount grants: its own max, else the system's."""
        return self.mount.max_lease_ttl or self.tokens.max_ttl

    def tick(self, now: float) -> None:
        if now - self._last_prune >= PRUNE_SECONDS:
            self._last_prune = now
            self.guard.prune()

    def close(self) -> None:
        self.guard.clear()
