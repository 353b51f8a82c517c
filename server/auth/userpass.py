"""The userpass auth method (Vault's API): people log in with a username and a password.

Routes, relative to the mount (e.g. auth/userpass/):
  users/                   LIST users
  users/:name              read, write (create/update), delete
  users/:name/password     write: set a new password
  users/:name/policies     write: set token_policies
  login/:name              no token needed: password -> token
Passwords are kept as Argon2id hashes (userpass_password.py).
"""

from __future__ import annotations

import re

from seal.view import BarrierView
from server.auth import userpass_api as api
from server.auth.approle_login_engine import NAME, LoginEngine
from server.auth.userpass_login import login
from server.auth.userpass_password import dummy_hash
from server.auth.userpass_users import UserStore
from server.engines import register
from server.engines.base import Engine
from server.mounts import MountEntry
from server.request import DELETE, LIST, READ, UPDATE, Request

USER = f"users/{NAME}"


class UserpassEngine(LoginEngine):
    routes = [
        (r"users/?", {LIST: api.list_users}),
        (USER, {READ: api.read_user, UPDATE: api.write_user, DELETE: api.delete_user}),
        (f"{USER}/password", {UPDATE: api.write_password}),
        (f"{USER}/policies", {UPDATE: api.write_policies}),
        (f"login/{NAME}", {UPDATE: login}),
    ]
    unauthenticated = (r"login/(?P<username>[^/]+)",)

    def __init__(self, view: BarrierView, mount: MountEntry) -> None:
        super().__init__(view, mount)
        self.users = UserStore(view)
        self.dummy_hash = dummy_hash()
        self._user_path = re.compile(USER)

    def exists(self, req: Request) -> bool | None:
        found = self._user_path.fullmatch(req.relative_path)
        if found is None:
            return None
        return self.users.get(found["name"].lower()) is not None


@register("userpass")
def _factory(view: BarrierView, mount: MountEntry) -> Engine:
    return UserpassEngine(view, mount)
