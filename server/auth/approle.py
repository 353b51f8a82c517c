"""The AppRole auth method (Vault's API): applications log in with a role ID and a secret ID.

Routes, relative to the mount (e.g. auth/approle/):
  role/                                   LIST roles
  role/:name                              read, write (create/update), delete
  role/:name/role-id                      read; write a custom role_id
  role/:name/secret-id                    write: generate; LIST: accessors
  role/:name/custom-secret-id             write: register a secret ID chosen by the caller
  role/:name/secret-id/lookup|destroy     by secret ID
  role/:name/secret-id-accessor/lookup|destroy   by accessor
  login                                   no token needed: role_id + secret_id -> token
Storage layout and hashing: approle_roles.py, approle_secret_ids.py, approle_hmac.py.
"""

from __future__ import annotations

import re

from seal.view import BarrierView
from server.auth import approle_api_roles as roles_api
from server.auth import approle_api_secret_ids as secret_ids_api
from server.auth.approle_hmac import MountHMAC
from server.auth.approle_login import login
from server.auth.approle_login_engine import NAME, PRUNE_SECONDS, LoginEngine
from server.auth.approle_roles import RoleStore
from server.auth.approle_secret_ids import SecretIdStore
from server.engines import register
from server.engines.base import Engine
from server.mounts import MountEntry
from server.request import DELETE, LIST, READ, UPDATE, Request

ROLE = f"role/{NAME}"


class AppRoleEngine(LoginEngine):
    routes = [
        (r"role/?", {LIST: roles_api.list_roles}),
        (ROLE, {READ: roles_api.read_role, UPDATE: roles_api.write_role, DELETE: roles_api.delete_role}),
        (f"{ROLE}/role-id", {READ: roles_api.read_role_id, UPDATE: roles_api.write_role_id}),
        (f"{ROLE}/secret-id/?", {UPDATE: secret_ids_api.generate, LIST: secret_ids_api.list_accessors}),
        (f"{ROLE}/custom-secret-id", {UPDATE: secret_ids_api.custom}),
        (f"{ROLE}/secret-id/lookup/?", {UPDATE: secret_ids_api.lookup}),
        (f"{ROLE}/secret-id/destroy/?", {UPDATE: secret_ids_api.destroy, DELETE: secret_ids_api.destroy}),
        (f"{ROLE}/secret-id-accessor/lookup/?", {UPDATE: secret_ids_api.lookup_accessor}),
        (f"{ROLE}/secret-id-accessor/destroy/?",
         {UPDATE: secret_ids_api.destroy_accessor, DELETE: secret_ids_api.destroy_accessor}),
        (r"login", {UPDATE: login}),
    ]
    unauthenticated = (r"login",)

    def __init__(self, view: BarrierView, mount: MountEntry) -> None:
        super().__init__(view, mount)
        self.hmac = MountHMAC(view)
        self.roles = RoleStore(view, self.hmac)
        self.secret_ids = SecretIdStore(view, self.hmac)
        self._role_path = re.compile(ROLE)

    def exists(self, req: Request) -> bool | None:
        found = self._role_path.fullmatch(req.relative_path)
        if found is None:
            return None
        return self.roles.get(found["name"].lower()) is not None

    def tick(self, now: float) -> None:
        if now - self._last_prune >= PRUNE_SECONDS:
            self.secret_ids.tidy(now)  # expired secret IDs, as often as the guard is pruned
        super().tick(now)

    def close(self) -> None:
        self.hmac.forget()
        super().close()


@register("approle")
def _factory(view: BarrierView, mount: MountEntry) -> Engine:
    return AppRoleEngine(view, mount)
