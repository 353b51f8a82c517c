"""The ACL on real requests: what a policy grants succeeds and everything else is 403 — through
the bao CLI, hvac and raw HTTP, on kv data paths, sys paths and unmounted paths; sudo-only
endpoints refuse a grant without sudo."""

from __future__ import annotations

import json

import hvac
import pytest

from test_policy_support import DENIED, new_token, shared_server, token_for, write_policy

APP_POLICY = """
path "secret/app/*" { capabilities = ["create", "read", "update", "list"] }
path "secret/*" { capabilities = ["read", "list"] }
path "secret/admin" { capabilities = ["deny"] }
path "kv/data/+/config" { capabilities = ["read"] }
path "kv/metadata/" { capabilities = ["list"] }
path "sys/mounts" { capabilities = ["read"] }
path "elsewhere/*" { capabilities = ["read"] }
"""


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    with shared_server(tmp_path_factory, ("secret", "1"), ("kv", "2")) as server:
        for path, value in (("app/config", "a"), ("admin", "root-only"), ("team/notes", "n")):
            assert server.root("PUT", f"/v1/secret/{path}", {"v": value})[0] == 204
        for path in ("web/config", "web/other", "db/config", "a/b/config"):
            assert server.root("PUT", f"/v1/kv/data/{path}", {"data": {"v": path}})[0] == 200
        write_policy(server, "app", APP_POLICY)
        yield server


@pytest.fixture(scope="module")
def app_token(srv):
    return new_token(srv, policies=["app"])


def test_bao_cli_policy_token_and_capabilities(srv, tmp_path):
    policy_file = tmp_path / "reader.hcl"
    policy_file.write_text('path "secret/team/*" { capabilities = ["read"] }\n'
                           'path "auth/token/lookup-self" { capabilities = ["read"] }\n')
    out = srv.bao("policy", "write", "reader", str(policy_file), token=srv.root_token)
    assert out.returncode == 0 and "Success! Uploaded policy: reader" in out.stdout, out.stderr
    assert "secret/team/*" in srv.bao("policy", "read", "reader", token=srv.root_token).stdout
    assert "reader" in srv.bao("policy", "list", token=srv.root_token).stdout.split()
    out = srv.bao("token", "create", "-policy=reader", "-ttl=10m", "-format=json", token=srv.root_token)
    assert out.returncode == 0, out.stderr
    auth = json.loads(out.stdout)["auth"]
    token = auth["client_token"]
    assert auth["policies"] == ["default", "reader"] and auth["lease_duration"] == 600
    looked = json.loads(srv.bao("token", "lookup", "-format=json", token, token=srv.root_token).stdout)["data"]
    assert looked["policies"] == ["default", "reader"] and looked["id"] == token
    out = srv.bao("token", "capabilities", token, "secret/team/x", token=srv.root_token)
    assert out.stdout.strip() == "read"
    own = srv.bao("token", "capabilities", "secret/team/x", token=token)  # sys/capabilities-self
    assert (own.returncode, own.stdout.strip()) == (0, "read")
    assert srv.bao("token", "capabilities", "secret/admin", token=token).stdout.strip() == "deny"
    assert srv.bao("read", "-format=json", "secret/team/notes", token=token).returncode == 0
    denied = srv.bao("read", "secret/admin", token=token)
    assert denied.returncode == 2 and "Code: 403" in denied.stderr and "permission denied" in denied.stderr
    assert srv.bao("token", "revoke", token, token=srv.root_token).returncode == 0
    gone = srv.bao("token", "lookup", token=token)
    assert gone.returncode == 2 and "Code: 403" in gone.stderr


def test_hvac_allowed_calls_succeed_and_forbidden_ones_get_403(srv, app_token):
    client = hvac.Client(url=srv.url, token=app_token)
    assert client.secrets.kv.v1.read_secret("app/config", mount_point="secret")["data"] == {"v": "a"}
    client.secrets.kv.v1.create_or_update_secret("app/new", {"v": "n"}, mount_point="secret")
    assert client.secrets.kv.v1.list_secrets("", mount_point="secret")["data"]["keys"] == ["admin", "app/", "team/"]
    assert "secret/" in client.sys.list_mounted_secrets_engines()["data"]
    for forbidden in (
        lambda: client.secrets.kv.v1.read_secret("admin", mount_point="secret"),
        lambda: client.secrets.kv.v1.create_or_update_secret("team/notes", {"v": "x"}, mount_point="secret"),
        lambda: client.secrets.kv.v1.delete_secret("app/config", mount_point="secret"),
        lambda: client.sys.list_policies(),
        lambda: client.sys.enable_secrets_engine("kv", path="mine"),
        lambda: client.auth.token.create(policies=["app"]),
    ):
        with pytest.raises(hvac.exceptions.Forbidden):
            forbidden()
    assert srv.root("GET", "/v1/secret/team/notes")[1]["data"] == {"v": "n"}


def test_deny_overrides_a_broader_grant(srv, app_token):
    assert srv.call("GET", "/v1/secret/team/notes", token=app_token)[0] == 200
    assert srv.call("GET", "/v1/secret/admin", token=app_token)[:2] == DENIED
    assert srv.call("PUT", "/v1/secret/admin", {"v": "x"}, token=app_token)[:2] == DENIED


def test_deny_in_one_policy_beats_a_grant_in_another(srv):
    write_policy(srv, "grants-admin", 'path "secret/admin" { capabilities = ["read", "update", "sudo"] }')
    write_policy(srv, "denies-admin", 'path "secret/admin" { capabilities = ["deny"] }')
    both = new_token(srv, policies=["grants-admin", "denies-admin"])
    only_grant = new_token(srv, policies=["grants-admin"])
    assert srv.call("GET", "/v1/secret/admin", token=both)[:2] == DENIED
    assert srv.call("GET", "/v1/secret/admin", token=only_grant)[1]["data"] == {"v": "root-only"}


def test_same_path_in_two_policies_merges_capabilities(srv):
    write_policy(srv, "read-notes", 'path "secret/team/notes" { capabilities = ["read"] }')
    write_policy(srv, "write-notes", 'path "secret/team/notes" { capabilities = ["update"] }')
    token = new_token(srv, policies=["read-notes", "write-notes"])
    assert srv.call("PUT", "/v1/secret/team/notes", {"v": "n"}, token=token)[0] == 204
    assert srv.call("GET", "/v1/secret/team/notes", token=token)[0] == 200
    assert srv.call("DELETE", "/v1/secret/team/notes", token=token)[:2] == DENIED


def test_plus_matches_exactly_one_segment(srv, app_token):
    assert srv.call("GET", "/v1/kv/data/web/config", token=app_token)[1]["data"]["data"] == {"v": "web/config"}
    assert srv.call("GET", "/v1/kv/data/db/config", token=app_token)[0] == 200
    assert srv.call("GET", "/v1/kv/data/web/other", token=app_token)[:2] == DENIED
    assert srv.call("GET", "/v1/kv/data/a/b/config", token=app_token)[:2] == DENIED
    assert srv.call("PUT", "/v1/kv/data/web/config", {"data": {}}, token=app_token)[:2] == DENIED


def test_list_capability_is_only_list(srv, app_token):
    status, body, _ = srv.call("LIST", "/v1/kv/metadata/", token=app_token)
    assert status == 200 and body["data"]["keys"] == ["a/", "db/", "web/"]
    assert srv.call("GET", "/v1/kv/metadata/?list=true", token=app_token)[0] == 200
    assert srv.call("GET", "/v1/kv/metadata/web", token=app_token)[:2] == DENIED
    assert srv.call("LIST", "/v1/kv/metadata/web", token=app_token)[:2] == DENIED
    reader = token_for(srv, 'path "secret/team/notes" { capabilities = ["read"] }', "no-list")
    assert srv.call("LIST", "/v1/secret/team", token=reader)[:2] == DENIED


def test_create_is_not_update(srv):
    token = token_for(srv, 'path "secret/drop/*" { capabilities = ["create"] }', "create-only")
    assert srv.call("PUT", "/v1/secret/drop/one", {"v": "1"}, token=token)[0] == 204
    assert srv.call("PUT", "/v1/secret/drop/one", {"v": "2"}, token=token)[:2] == DENIED
    assert srv.root("GET", "/v1/secret/drop/one")[1]["data"] == {"v": "1"}


def test_unmounted_path_routing_404_only_with_a_grant(srv, app_token):
    assert srv.call("GET", "/v1/elsewhere/thing", token=app_token)[:2] == (
        404, {"errors": ['no handler for route "elsewhere/thing". route entry not found.']})
    assert srv.call("GET", "/v1/nowhere/thing", token=app_token)[:2] == DENIED
    assert srv.call("PUT", "/v1/elsewhere/thing", {"v": 1}, token=app_token)[:2] == DENIED


SUDO_ONLY = [
    # (method, path, body, the grant's path)
    ("PUT", "/v1/sys/policy/made-by-app", {"policy": 'path "x" { capabilities = ["read"] }'}, "sys/policy/*"),
    ("PUT", "/v1/sys/policies/acl/made-by-app", {"policy": 'path "x" { capabilities = ["read"] }'},
     "sys/policies/acl/*"),
    ("DELETE", "/v1/sys/policy/made-by-app", None, "sys/policy/*"),
    ("POST", "/v1/sys/mounts/app-mount", {"type": "kv"}, "sys/mounts/*"),
    ("POST", "/v1/sys/mounts/app-mount/tune", {"description": "x"}, "sys/mounts/*"),
    ("DELETE", "/v1/sys/mounts/app-mount", None, "sys/mounts/*"),
    ("POST", "/v1/sys/rotate", {}, "sys/rotate"),
    ("LIST", "/v1/auth/token/accessors", None, "auth/token/accessors"),
    ("POST", "/v1/auth/token/revoke-orphan", {"token": "s.unknown"}, "auth/token/revoke-orphan"),
]


@pytest.mark.parametrize(("method", "path", "body", "grant"), SUDO_ONLY, ids=[f"{m} {p}" for m, p, *_ in SUDO_ONLY])
def test_sudo_paths_refuse_a_grant_without_sudo(srv, method, path, body, grant):
    caps = '["create", "read", "update", "delete", "list"]'
    name = "nosudo-" + grant.replace("/", "-").replace("*", "all")
    plain = token_for(srv, f'path "{grant}" {{ capabilities = {caps} }}', name)
    assert srv.call(method, path, body, token=plain)[:2] == DENIED
    with_sudo = token_for(srv, f'path "{grant}" {{ capabilities = ["create", "read", "update", "delete", '
                               f'"list", "sudo"] }}', name + "-sudo")
    status, reply, _ = srv.call(method, path, body, token=with_sudo)
    assert status != 403, reply
    assert (status, reply) != DENIED


def test_sudo_grant_does_not_cover_reads_that_need_none(srv):
    token = token_for(srv, 'path "sys/mounts" { capabilities = ["read"] }\n'
                           'path "sys/policy" { capabilities = ["read"] }', "plain-reader")
    assert srv.call("GET", "/v1/sys/mounts", token=token)[0] == 200
    assert srv.call("GET", "/v1/sys/policy", token=token)[0] == 200


def test_accessor_list_with_sudo(srv):
    token = token_for(srv, 'path "auth/token/accessors" { capabilities = ["list", "sudo"] }', "accessor-lister")
    accessor = srv.root("POST", "/v1/auth/token/lookup", {"token": token})[1]["data"]["accessor"]
    status, body, _ = srv.call("LIST", "/v1/auth/token/accessors", token=token)
    assert status == 200 and accessor in body["data"]["keys"]
    with pytest.raises(hvac.exceptions.Forbidden):
        hvac.Client(url=srv.url, token=new_token(srv, policies=["app"])).auth.token.list_accessors()
