"""AppRole with the clients people run: hvac's client.auth.approle and the bao CLI."""

from __future__ import annotations

import json

import hvac
import pytest


@pytest.fixture
def client(server) -> hvac.Client:
    client = hvac.Client(url=server.url, token=server.root_token)
    client.sys.enable_auth_method("approle")
    return client


def test_hvac_role_and_secret_id_lifecycle(server, client):
    approle = client.auth.approle
    approle.create_or_update_approle("app", token_policies=["p1", "p2"], token_ttl="1h", token_max_ttl="2h",
                                     secret_id_num_uses=2, secret_id_ttl="10m", token_num_uses=0)
    assert approle.list_roles()["data"]["keys"] == ["app"]
    role = approle.read_role("app")["data"]
    assert role["token_policies"] == ["p1", "p2"] and role["token_ttl"] == 3600 and role["secret_id_num_uses"] == 2
    approle.update_role_id("app", "app-role-id")
    assert approle.read_role_id("app")["data"]["role_id"] == "app-role-id"
    generated = approle.generate_secret_id("app", metadata={"team": "blue"}, cidr_list=["127.0.0.0/8"])["data"]
    accessor = generated["secret_id_accessor"]
    assert approle.list_secret_id_accessors("app")["data"]["keys"] == [accessor]
    assert approle.read_secret_id("app", generated["secret_id"])["data"]["metadata"] == {"team": "blue"}
    assert approle.read_secret_id_accessor("app", accessor)["data"]["cidr_list"] == ["127.0.0.0/8"]

    app = hvac.Client(url=server.url)
    auth = app.auth.approle.login("app-role-id", generated["secret_id"])["auth"]
    assert app.token == auth["client_token"] and app.is_authenticated()
    assert auth["policies"] == ["default", "p1", "p2"] and auth["metadata"] == {"team": "blue", "role_name": "app"}
    assert app.auth.token.lookup_self()["data"]["path"] == "auth/approle/login"

    with pytest.raises(hvac.exceptions.InvalidRequest, match="invalid role or secret ID"):
        hvac.Client(url=server.url).auth.approle.login("app-role-id", "wrong")
    other = approle.generate_secret_id("app")["data"]
    approle.destroy_secret_id_accessor("app", accessor)
    approle.destroy_secret_id("app", other["secret_id"])
    with pytest.raises(hvac.exceptions.InvalidPath):
        approle.list_secret_id_accessors("app")
    approle.delete_role("app")
    with pytest.raises(hvac.exceptions.InvalidPath):
        approle.read_role("app")


def test_hvac_wrapped_secret_id_unwraps_once(server, client):
    client.auth.approle.create_or_update_approle("app", token_policies=["p1"])
    wrapped = client.auth.approle.generate_secret_id("app", wrap_ttl="60s")
    assert wrapped["data"] is None
    wrap_info = wrapped["wrap_info"]
    assert wrap_info["ttl"] == 60 and wrap_info["creation_path"] == "auth/approle/role/app/secret-id"
    unwrapped = client.sys.unwrap(wrap_info["token"])
    secret_id = unwrapped["data"]["secret_id"]
    with pytest.raises(hvac.exceptions.InvalidRequest):
        client.sys.unwrap(wrap_info["token"])  # single use
    role_id = client.auth.approle.read_role_id("app")["data"]["role_id"]
    assert hvac.Client(url=server.url).auth.approle.login(role_id, secret_id)["auth"]["client_token"]


def test_bao_cli_write_read_and_login(server):
    token = server.root_token
    done = server.bao("auth", "enable", "approle", token=token)
    assert done.returncode == 0, done.stderr
    # the CLI sends every value as text
    done = server.bao("write", "auth/approle/role/cli", "token_policies=a,b", "secret_id_num_uses=2",
                      "token_ttl=1h", "bind_secret_id=true", token=token)
    assert done.returncode == 0, done.stderr
    done = server.bao("read", "-format=json", "auth/approle/role/cli", token=token)
    role = json.loads(done.stdout)["data"]
    assert (role["token_policies"], role["secret_id_num_uses"], role["token_ttl"]) == (["a", "b"], 2, 3600)
    role_id = server.bao("read", "-field=role_id", "auth/approle/role/cli/role-id", token=token).stdout.strip()
    # (`bao write -f` sends the body `null`, which server/jsonbody.py refuses; send a field instead)
    secret_id = server.bao("write", "-field=secret_id", "auth/approle/role/cli/secret-id", "metadata=team=blue",
                           token=token).stdout.strip()
    done = server.bao("write", "-format=json", "auth/approle/login", f"role_id={role_id}", f"secret_id={secret_id}")
    assert done.returncode == 0, done.stderr
    auth = json.loads(done.stdout)["auth"]
    assert auth["policies"] == ["a", "b", "default"] and auth["lease_duration"] == 3600
    assert auth["metadata"] == {"team": "blue", "role_name": "cli"}
    done = server.bao("write", "auth/approle/login", f"role_id={role_id}", "secret_id=wrong")
    assert done.returncode != 0 and "invalid role or secret ID" in done.stderr
