"""Tokens through hvac and the HTTP API: Vault's create/lookup/renew/revoke shapes, parents
and children, orphans, use counts and lifetimes (enforced on the request, not by the sweep)."""

from __future__ import annotations

import hashlib
import hmac
import time
from datetime import datetime

import hvac
import pytest

from server.tokens import ACCESSOR_PREFIX, ENTRY_PREFIX, SALT_PATH
from test_policy_support import DENIED, new_token, write_policy

AUTH_KEYS = {"client_token", "accessor", "policies", "token_policies", "metadata", "lease_duration",
             "renewable", "entity_id", "token_type", "orphan", "mfa_requirement", "num_uses"}
LOOKUP_KEYS = {"accessor", "creation_time", "creation_ttl", "display_name", "entity_id", "expire_time",
               "explicit_max_ttl", "id", "issue_time", "meta", "num_uses", "orphan", "path", "policies",
               "renewable", "ttl", "type"}
CREATOR = 'path "auth/token/create" { capabilities = ["update"] }'


def _client(server, token=None) -> hvac.Client:
    return hvac.Client(url=server.url, token=token or server.root_token)


def _no_sweep(server) -> None:
    """Take the background sweep away, so only the request path can refuse a dead token."""
    server.core.tokens.sweep = lambda now: 0


def test_create_answers_vaults_auth_block(server):
    write_policy(server, "app", 'path "sys/mounts" { capabilities = ["read"] }')
    status, body, _ = server.root("POST", "/v1/auth/token/create", {
        "policies": ["app"], "ttl": "1h", "explicit_max_ttl": "2h", "num_uses": 5,
        "meta": {"team": "web"}, "display_name": "Web App"})
    assert status == 200
    assert body["data"] is None and body["warnings"] is None and body["lease_id"] == ""
    auth = body["auth"]
    assert set(auth) == AUTH_KEYS
    token = auth.pop("client_token")
    assert token.startswith("s.") and len(token) == 26
    assert len(auth.pop("accessor")) == 24
    assert auth == {"policies": ["app", "default"], "token_policies": ["app", "default"],
                    "metadata": {"team": "web"}, "lease_duration": 3600, "renewable": True, "entity_id": "",
                    "token_type": "service", "orphan": False, "mfa_requirement": None, "num_uses": 5}


def test_lookup_lookup_self_and_lookup_accessor_shapes(server):
    status, body, _ = server.root("POST", "/v1/auth/token/create", {
        "policies": ["default"], "ttl": "1h", "num_uses": 3, "display_name": "Web App!"})
    token, accessor = body["auth"]["client_token"], body["auth"]["accessor"]
    status, looked, _ = server.root("POST", "/v1/auth/token/lookup", {"token": token})
    assert status == 200
    data = looked["data"]
    assert set(data) == LOOKUP_KEYS
    assert data["id"] == token and data["accessor"] == accessor
    assert data["display_name"] == "token-Web-App"  # Vault's sanitising: unsafe characters to '-'
    assert (data["path"], data["policies"], data["orphan"], data["type"]) == (
        "auth/token/create", ["default"], False, "service")
    assert (data["creation_ttl"], data["explicit_max_ttl"], data["meta"], data["renewable"]) == (3600, 0, None, True)
    assert 3590 <= data["ttl"] <= 3600
    expires = datetime.fromisoformat(data["expire_time"].replace("Z", "+00:00")).timestamp()
    assert abs(expires - (data["creation_time"] + 3600)) < 2
    assert data["num_uses"] == 3  # a lookup by another token does not use this one
    status, own, _ = server.call("GET", "/v1/auth/token/lookup-self", token=token)
    assert status == 200 and own["data"]["num_uses"] == 2 and own["data"]["id"] == token
    status, by_accessor, _ = server.root("POST", "/v1/auth/token/lookup-accessor", {"accessor": accessor})
    assert status == 200 and by_accessor["data"]["id"] == "" and by_accessor["data"]["accessor"] == accessor


def test_hvac_create_lookup_renew_revoke(server):
    write_policy(server, "app", 'path "sys/mounts" { capabilities = ["read"] }')
    root = _client(server)
    created = root.auth.token.create(policies=["app"], ttl="1h")
    token = created["auth"]["client_token"]
    assert root.auth.token.lookup(token)["data"]["policies"] == ["app", "default"]
    app = _client(server, token)
    assert app.auth.token.lookup_self()["data"]["id"] == token
    renewed = root.auth.token.renew(token, increment="30m")
    assert renewed["auth"]["lease_duration"] == 1800 and renewed["auth"]["client_token"] == token
    assert 1790 <= root.auth.token.lookup(token)["data"]["ttl"] <= 1800
    assert app.auth.token.renew_self(increment="20m")["auth"]["lease_duration"] == 1200
    assert "sys/" in app.sys.list_mounted_secrets_engines()["data"]
    root.auth.token.revoke(token)
    with pytest.raises(hvac.exceptions.Forbidden):
        app.auth.token.lookup_self()
    with pytest.raises(hvac.exceptions.Forbidden, match="bad token"):
        root.auth.token.lookup(token)


def test_token_is_kept_only_as_a_salted_hash(server):
    token = new_token(server, policies=["default"])
    view = server.core.tokens._view
    salt = view.get(SALT_PATH)
    digest = hmac.new(salt, token.encode(), hashlib.sha256).hexdigest()
    stored = view.list(ENTRY_PREFIX)
    assert digest in stored
    assert hashlib.sha256(token.encode()).hexdigest() not in stored
    assert all(token not in key for key in stored + view.list(ACCESSOR_PREFIX))
    assert token not in repr(view.get(ENTRY_PREFIX + digest))


def test_revoking_a_parent_revokes_children_recursively(server):
    write_policy(server, "creator", CREATOR)
    parent = new_token(server, policies=["creator"])
    child = new_token(server, parent)
    grandchild = new_token(server, child)
    sibling = new_token(server, parent)
    assert server.call("GET", "/v1/auth/token/lookup-self", token=grandchild)[0] == 200
    assert server.root("POST", "/v1/auth/token/revoke", {"token": parent})[0] == 204
    for token in (parent, child, grandchild, sibling):
        assert server.call("GET", "/v1/auth/token/lookup-self", token=token)[:2] == DENIED
        assert server.root("POST", "/v1/auth/token/lookup", {"token": token})[:2] == (
            403, {"errors": ["bad token"]})
    assert server.core.tokens._view.list("parent/") == []


def test_revoke_self_and_revoke_accessor_take_the_subtree(server):
    write_policy(server, "creator", CREATOR)
    parent = new_token(server, policies=["creator"])
    child = new_token(server, parent)
    assert server.call("POST", "/v1/auth/token/revoke-self", token=parent)[0] == 204
    assert server.call("GET", "/v1/auth/token/lookup-self", token=child)[:2] == DENIED
    other = server.root("POST", "/v1/auth/token/create", {"policies": ["creator"]})[1]["auth"]
    other_child = new_token(server, other["client_token"])
    assert server.root("POST", "/v1/auth/token/revoke-accessor", {"accessor": other["accessor"]})[0] == 204
    assert server.call("GET", "/v1/auth/token/lookup-self", token=other_child)[:2] == DENIED


def test_orphan_survives_its_creator(server):
    write_policy(server, "maker", 'path "auth/token/create*" { capabilities = ["update", "sudo"] }')
    creator = new_token(server, policies=["maker"])
    by_flag = server.call("POST", "/v1/auth/token/create", {"no_parent": True, "policies": ["default"]},
                          token=creator)[1]["auth"]
    by_path = server.call("POST", "/v1/auth/token/create-orphan", {"policies": ["default"]},
                          token=creator)[1]["auth"]
    assert by_flag["orphan"] is True and by_path["orphan"] is True
    server.root("POST", "/v1/auth/token/revoke", {"token": creator})
    for auth in (by_flag, by_path):
        status, body, _ = server.call("GET", "/v1/auth/token/lookup-self", token=auth["client_token"])
        assert status == 200 and body["data"]["orphan"] is True
        assert body["data"]["path"] in ("auth/token/create", "auth/token/create-orphan")


def test_revoke_orphan_keeps_the_children_as_orphans(server):
    write_policy(server, "creator", CREATOR)
    parent = new_token(server, policies=["creator"])
    child = new_token(server, parent)
    grandchild = new_token(server, child)
    assert server.root("POST", "/v1/auth/token/revoke-orphan", {"token": parent})[0] == 204
    assert server.call("GET", "/v1/auth/token/lookup-self", token=parent)[:2] == DENIED
    status, body, _ = server.call("GET", "/v1/auth/token/lookup-self", token=child)
    assert status == 200 and body["data"]["orphan"] is True
    status, body, _ = server.call("GET", "/v1/auth/token/lookup-self", token=grandchild)
    assert status == 200 and body["data"]["orphan"] is False  # only the direct children are orphaned
    server.root("POST", "/v1/auth/token/revoke", {"token": child})
    assert server.call("GET", "/v1/auth/token/lookup-self", token=grandchild)[:2] == DENIED


def test_num_uses_runs_out_and_the_token_is_removed(server):
    status, body, _ = server.root("POST", "/v1/auth/token/create", {"policies": ["default"], "num_uses": 3})
    token, accessor = body["auth"]["client_token"], body["auth"]["accessor"]
    seen = [server.call("GET", "/v1/auth/token/lookup-self", token=token)[1]["data"]["num_uses"] for _ in range(3)]
    assert seen == [2, 1, -1]  # -1: Vault's "revocation pending" on the last use
    assert server.call("GET", "/v1/auth/token/lookup-self", token=token)[:2] == DENIED
    assert server.root("POST", "/v1/auth/token/lookup-accessor", {"accessor": accessor})[:2] == (
        400, {"errors": ["invalid accessor"]})


def test_denied_requests_do_not_spend_uses(server):
    token = new_token(server, policies=["default"], num_uses=2)
    for _ in range(3):
        assert server.call("GET", "/v1/sys/mounts", token=token)[:2] == DENIED
    assert server.call("GET", "/v1/auth/token/lookup-self", token=token)[1]["data"]["num_uses"] == 1


def test_use_limited_token_cannot_create_children(server):
    write_policy(server, "creator", CREATOR)
    for uses in (1, 3):
        token = new_token(server, policies=["creator"], num_uses=uses)
        assert server.call("POST", "/v1/auth/token/create", {"policies": ["default"]}, token=token)[:2] == (
            400, {"errors": ["restricted use token cannot generate child tokens"]})


def test_ttl_expiry_is_enforced_on_the_request(server):
    _no_sweep(server)
    status, body, _ = server.root("POST", "/v1/auth/token/create", {"policies": ["default"], "ttl": "1s"})
    token, accessor = body["auth"]["client_token"], body["auth"]["accessor"]
    assert body["auth"]["lease_duration"] == 1
    assert server.call("GET", "/v1/auth/token/lookup-self", token=token)[0] == 200
    time.sleep(1.2)
    assert server.call("GET", "/v1/auth/token/lookup-self", token=token)[:2] == DENIED
    # Refused and removed: the accessor index no longer knows it.
    assert server.core.tokens._view.get(ACCESSOR_PREFIX + accessor) is None


def test_children_die_with_an_expired_parent(server):
    _no_sweep(server)
    write_policy(server, "creator", CREATOR)
    parent = new_token(server, policies=["creator"], ttl="1s")
    child = new_token(server, parent, ttl="1h")
    time.sleep(1.2)
    assert server.call("GET", "/v1/auth/token/lookup-self", token=child)[:2] == DENIED


def test_renew_extends_but_never_past_explicit_max_ttl(server):
    _no_sweep(server)
    token = new_token(server, policies=["default"], ttl="1s", explicit_max_ttl="2s")
    status, body, _ = server.call("POST", "/v1/auth/token/renew-self", {"increment": "1h"}, token=token)
    assert status == 200 and body["auth"]["lease_duration"] == 2
    time.sleep(1.2)
    assert server.call("GET", "/v1/auth/token/lookup-self", token=token)[0] == 200  # renewed past 1 s
    time.sleep(1.0)
    assert server.call("GET", "/v1/auth/token/lookup-self", token=token)[:2] == DENIED


def test_renew_refusals(server):
    fixed = new_token(server, policies=["default"], ttl="1h", renewable=False)
    assert server.root("POST", "/v1/auth/token/renew", {"token": fixed})[:2] == (
        400, {"errors": ["lease is not renewable"]})
    assert server.root("POST", "/v1/auth/token/renew-self", {})[:2] == (400, {"errors": ["lease is not renewable"]})
    assert server.root("POST", "/v1/auth/token/renew", {"token": "s.nonexistent"})[:2] == (
        400, {"errors": ["token not found"]})


def test_periodic_token_renews_to_its_period(server):
    status, body, _ = server.root("POST", "/v1/auth/token/create", {"policies": ["default"], "period": "1h"})
    token = body["auth"]["client_token"]
    assert body["auth"]["lease_duration"] == 3600
    assert server.root("POST", "/v1/auth/token/lookup", {"token": token})[1]["data"]["period"] == 3600
    renewed = server.call("POST", "/v1/auth/token/renew-self", {"increment": "10s"}, token=token)[1]
    assert renewed["auth"]["lease_duration"] == 3600


def test_ttl_is_capped_by_the_system_max(server):
    auth = server.root("POST", "/v1/auth/token/create", {"policies": ["default"], "ttl": "100000h"})[1]["auth"]
    assert auth["lease_duration"] == server.core.tokens.max_ttl


def test_child_never_gets_a_policy_its_parent_lacks(server):
    write_policy(server, "creator", CREATOR)
    write_policy(server, "app", 'path "sys/mounts" { capabilities = ["read"] }')
    parent = new_token(server, policies=["creator", "app"])
    for asked in (["app", "other"], ["root"], ["Root "], [" ROOT"], ["creator", "sudo-ish"]):
        status, body, _ = server.call("POST", "/v1/auth/token/create", {"policies": asked}, token=parent)
        assert (status, body) == (400, {"errors": ["child policies must be subset of parent"]}), asked
    inherited = server.call("POST", "/v1/auth/token/create", {}, token=parent)[1]["auth"]["policies"]
    assert inherited == ["app", "creator", "default"]
    narrowed = server.call("POST", "/v1/auth/token/create", {"policies": ["APP "]}, token=parent)[1]
    assert narrowed["auth"]["policies"] == ["app", "default"]


def test_parent_without_default_cannot_hand_it_out(server):
    write_policy(server, "creator", CREATOR)
    bare = new_token(server, policies=["creator"], no_default_policy=True)
    assert server.root("POST", "/v1/auth/token/lookup", {"token": bare})[1]["data"]["policies"] == ["creator"]
    child = server.call("POST", "/v1/auth/token/create", {"policies": ["creator"]}, token=bare)[1]
    assert child["auth"]["policies"] == ["creator"]
    status, body, _ = server.call("POST", "/v1/auth/token/create", {"policies": ["default"]}, token=bare)
    assert (status, body) == (400, {"errors": ["child policies must be subset of parent"]})


def test_policy_resolution_by_root(server):
    def policies(**body):
        return server.root("POST", "/v1/auth/token/create", body)[1]["auth"]["policies"]

    assert policies() == ["root"]
    assert policies(policies=["Root "]) == ["root"]  # root asking for root: as Vault, it gets root
    assert policies(policies=["root", "app"]) == ["root"]
    assert policies(policies=["default"], no_default_policy=True) == []
    assert policies(policies=["App", "app ", "APP"]) == ["app", "default"]


def test_missing_policy_is_a_warning_not_an_error(server):
    status, body, _ = server.root("POST", "/v1/auth/token/create", {"policies": ["nonexistent"]})
    assert status == 200 and body["warnings"] == ['Policy "nonexistent" does not exist']
    assert body["auth"]["policies"] == ["default", "nonexistent"]


def test_custom_token_id_needs_root_or_sudo_and_must_be_unique(server):
    auth = server.root("POST", "/v1/auth/token/create", {"id": "my-service-token", "policies": ["default"]})[1]
    assert auth["auth"]["client_token"] == "my-service-token"
    assert server.call("GET", "/v1/auth/token/lookup-self", token="my-service-token")[0] == 200
    assert server.root("POST", "/v1/auth/token/create", {"id": "my-service-token"})[:2] == (
        400, {"errors": ["cannot create a token with a duplicate ID"]})


@pytest.mark.parametrize(("field", "value", "message"), [
    ("no_parent", True, "root or sudo privileges required to create orphan token"),
    ("id", "chosen-id", "root or sudo privileges required to specify token id"),
    ("period", "1h", "root or sudo privileges required to create periodic token"),
])
def test_orphan_custom_id_and_period_need_sudo(server, field, value, message):
    write_policy(server, "creator", CREATOR)
    write_policy(server, "sudoer", 'path "auth/token/create" { capabilities = ["update", "sudo"] }')
    plain, sudoer = new_token(server, policies=["creator"]), new_token(server, policies=["sudoer"])
    body = {field: value, "policies": ["default"]}
    assert server.call("POST", "/v1/auth/token/create", body, token=plain)[:2] == (400, {"errors": [message]})
    assert server.call("POST", "/v1/auth/token/create", body, token=sudoer)[0] == 200


def test_lookup_without_a_token_looks_up_the_caller(server):
    write_policy(server, "looker", 'path "auth/token/lookup" { capabilities = ["update"] }')
    token = new_token(server, policies=["looker"])
    status, body, _ = server.call("POST", "/v1/auth/token/lookup", {}, token=token)
    assert status == 200 and body["data"]["id"] == token


def test_revoke_variants_on_unknown_tokens(server):
    assert server.root("POST", "/v1/auth/token/revoke", {"token": "s.nonexistent"})[0] == 204
    assert server.root("POST", "/v1/auth/token/revoke-orphan", {"token": "s.nonexistent"})[:2] == (
        400, {"errors": ["token to revoke not found"]})
    status, body, _ = server.root("POST", "/v1/auth/token/revoke-accessor", {"accessor": "nope"})
    assert status == 200 and body["warnings"] == ["No token found with this accessor"] and body["data"] is None
    assert server.root("POST", "/v1/auth/token/lookup-accessor", {"accessor": "nope"})[:2] == (
        400, {"errors": ["invalid accessor"]})
    assert server.root("POST", "/v1/auth/token/revoke", {})[:2] == (400, {"errors": ["missing token"]})
