"""userpass with the clients people run: hvac's client.auth.userpass and `bao login -method=userpass`."""

from __future__ import annotations

import hvac
import pytest


def test_hvac_user_lifecycle_and_login(server):
    client = hvac.Client(url=server.url, token=server.root_token)
    client.sys.enable_auth_method("userpass")
    userpass = client.auth.userpass
    userpass.create_or_update_user("alice", password="s3cret", token_policies="p1,p2", token_ttl="30m")
    assert userpass.list_user()["data"]["keys"] == ["alice"]
    assert userpass.read_user("alice")["data"]["token_policies"] == ["p1", "p2"]

    person = hvac.Client(url=server.url)
    auth = person.auth.userpass.login("alice", "s3cret")["auth"]
    assert person.token == auth["client_token"] and person.is_authenticated()
    assert auth["policies"] == ["default", "p1", "p2"] and auth["lease_duration"] == 1800
    with pytest.raises(hvac.exceptions.InvalidRequest, match="invalid username or password"):
        hvac.Client(url=server.url).auth.userpass.login("alice", "wrong")

    userpass.update_password_on_user("alice", "n3w")
    assert hvac.Client(url=server.url).auth.userpass.login("alice", "n3w")["auth"]["client_token"]
    userpass.delete_user("alice")
    with pytest.raises(hvac.exceptions.InvalidPath):
        userpass.read_user("alice")


def test_bao_login_method_userpass(server, tmp_path):
    token = server.root_token
    assert server.bao("auth", "enable", "userpass", token=token).returncode == 0
    done = server.bao("write", "auth/userpass/users/alice", "password=s3cret", "token_policies=p1", token=token)
    assert done.returncode == 0, done.stderr
    done = server.bao("login", "-method=userpass", "username=alice", "password=s3cret")
    assert done.returncode == 0, done.stderr
    assert "Success! You are now authenticated" in done.stdout
    helper = [p for p in tmp_path.glob(".*-token")]  # bao keeps the token under $HOME
    assert len(helper) == 1
    saved = helper[0].read_text().strip()
    status, body, _ = server.call("GET", "/v1/auth/token/lookup-self", token=saved)
    assert status == 200 and body["data"]["meta"] == {"username": "alice"}
    assert body["data"]["policies"] == ["default", "p1"]
    done = server.bao("login", "-method=userpass", "username=alice", "password=wrong")
    assert done.returncode != 0 and "invalid username or password" in done.stderr
