"""userpass over HTTP: users, passwords, logins, with the shapes and errors OpenBao 2.7 answers.

Expected bodies were captured from `bao server -dev` (OpenBao v2.7.2) with the same requests.
"""

from __future__ import annotations

import time

import msgpack
import pytest
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id

USERS = "/v1/auth/userpass/users"
INVALID = {"errors": ["invalid username or password"]}


@pytest.fixture
def userpass(server):
    assert server.root("POST", "/v1/sys/auth/userpass", {"type": "userpass"})[0] == 204
    return server


def _login(server, name: str, password: str):
    return server.call("POST", f"/v1/auth/userpass/login/{name}", {"password": password})


def test_user_read_has_openbaos_shape(userpass):
    assert userpass.root("POST", f"{USERS}/alice", {"password": "pw1", "token_policies": "p1,p2",
                                                     "token_ttl": "30m"})[0] == 204
    status, body, _ = userpass.root("GET", f"{USERS}/alice")
    assert status == 200
    assert body["data"] == {
        "token_bound_cidrs": [], "token_explicit_max_ttl": 0, "token_max_ttl": 0, "token_no_default_policy": False,
        "token_num_uses": 0, "token_period": 0, "token_policies": ["p1", "p2"], "token_strictly_bind_ip": False,
        "token_ttl": 1800, "token_type": "default",
    }
    # the older names are shown while they are what was set
    userpass.root("POST", f"{USERS}/carol", {"password": "pw", "policies": "x,y", "bound_cidrs": "10.0.0.0/8",
                                             "ttl": "1h", "max_ttl": "2h"})
    data = userpass.root("GET", f"{USERS}/carol")[1]["data"]
    assert {k: data[k] for k in ("bound_cidrs", "max_ttl", "policies", "ttl")} == {
        "bound_cidrs": ["10.0.0.0/8"], "max_ttl": 7200, "policies": ["x", "y"], "ttl": 3600}
    assert (data["token_policies"], data["token_ttl"], data["token_max_ttl"]) == (["x", "y"], 3600, 7200)
    userpass.root("POST", f"{USERS}/carol", {"token_bound_cidrs": "127.0.0.1/32"})
    data = userpass.root("GET", f"{USERS}/carol")[1]["data"]
    assert "bound_cidrs" not in data and data["token_bound_cidrs"] == ["127.0.0.1"]


def test_list_delete_and_lower_case_names(userpass):
    assert userpass.root("LIST", USERS)[:2] == (404, {"errors": []})
    userpass.root("POST", f"{USERS}/Alice", {"password": "x"})
    userpass.root("POST", f"{USERS}/bob", {"password": "y"})
    assert userpass.root("LIST", USERS)[1]["data"] == {"keys": ["alice", "bob"]}
    assert _login(userpass, "ALICE", "x")[0] == 200
    assert userpass.root("DELETE", f"{USERS}/bob")[0] == 204
    assert userpass.root("DELETE", f"{USERS}/nobody")[0] == 204
    assert userpass.root("GET", f"{USERS}/bob")[:2] == (404, {"errors": []})
    assert _login(userpass, "bob", "y")[:2] == (400, INVALID)
    assert userpass.root("POST", f"{USERS}/bad%20name", {"password": "x"})[:2] == (404, {"errors": ["unsupported path"]})


def test_user_write_errors(userpass):
    missing = {"errors": ["must provide either password or password_hash"]}
    assert userpass.root("POST", f"{USERS}/bob", {})[:2] == (400, missing)
    assert userpass.root("POST", f"{USERS}/bob", {"password": ""})[:2] == (400, missing)
    assert userpass.root("POST", f"{USERS}/bob", {"password_hash": "$2a$10$abc"})[:2] == (400, {"errors": [
        "password_hash is not supported: strongroom stores Argon2id hashes, send password"]})
    assert userpass.root("POST", f"{USERS}/bob", {"password": "x", "token_num_uses": -1})[:2] == (
        400, {"errors": ["'token_num_uses' cannot be negative"]})
    assert userpass.root("GET", f"{USERS}/bob")[0] == 404
    # OpenBao answers these two 500 with the same text.
    assert userpass.root("POST", f"{USERS}/nobody/password", {"password": "x"})[:2] == (
        400, {"errors": ["username does not exist"]})
    assert userpass.root("POST", f"{USERS}/nobody/policies", {"policies": "x"})[:2] == (
        400, {"errors": ["username does not exist"]})
    userpass.root("POST", f"{USERS}/bob", {"password": "x"})
    assert userpass.root("POST", f"{USERS}/bob/password", {})[:2] == (400, missing)


def test_login_returns_vaults_auth_block(userpass):
    userpass.root("POST", f"{USERS}/alice", {"password": "pw1", "token_policies": "p1,p2", "token_ttl": "30m"})
    status, body, _ = _login(userpass, "alice", "pw1")
    assert status == 200 and body["data"] is None
    auth = body["auth"]
    assert auth["policies"] == auth["token_policies"] == ["default", "p1", "p2"]
    assert auth["metadata"] == {"username": "alice"}
    assert (auth["lease_duration"], auth["renewable"], auth["orphan"], auth["token_type"]) == (1800, True, True,
                                                                                              "service")
    looked = userpass.call("GET", "/v1/auth/token/lookup-self", token=auth["client_token"])[1]["data"]
    assert looked["path"] == "auth/userpass/login/alice" and looked["meta"] == {"username": "alice"}
    assert "userpass-alice" in looked["display_name"]


def test_login_refusals_are_exact(userpass):
    userpass.root("POST", f"{USERS}/alice", {"password": "pw1"})
    assert _login(userpass, "alice", "bad")[:2] == (400, INVALID)
    assert _login(userpass, "nobody", "bad")[:2] == (400, INVALID)
    # OpenBao answers a missing password with a 500; strongroom 400.
    assert userpass.call("POST", "/v1/auth/userpass/login/alice", {})[:2] == (400, {"errors": ["missing password"]})
    assert userpass.call("POST", "/v1/auth/userpass/login", {"username": "alice", "password": "pw1"})[:2] == (
        403, {"errors": ["permission denied"]})  # the username belongs in the path
    userpass.root("POST", f"{USERS}/fenced", {"password": "pw", "token_bound_cidrs": "10.0.0.0/8"})
    assert _login(userpass, "fenced", "pw")[:2] == (403, {"errors": ["permission denied"]})
    assert userpass.core.auth_engines["userpass/"].guard.failed_logins == 3


def test_password_and_policy_updates(userpass):
    userpass.root("POST", f"{USERS}/alice", {"password": "old", "token_policies": "p1"})
    assert userpass.root("POST", f"{USERS}/alice/password", {"password": "new"})[0] == 204
    assert _login(userpass, "alice", "old")[:2] == (400, INVALID)
    assert _login(userpass, "alice", "new")[0] == 200
    userpass.root("POST", f"{USERS}/alice", {"token_ttl": "5m"})  # an update without a password keeps it
    assert _login(userpass, "alice", "new")[1]["auth"]["lease_duration"] == 300
    assert userpass.root("POST", f"{USERS}/alice/policies", {"token_policies": "p3"})[0] == 204
    assert _login(userpass, "alice", "new")[1]["auth"]["policies"] == ["default", "p3"]
    userpass.root("POST", f"{USERS}/alice/policies", {"policies": "z"})
    data = userpass.root("GET", f"{USERS}/alice")[1]["data"]
    assert data["policies"] == data["token_policies"] == ["z"]


def test_passwords_are_stored_as_argon2id_with_owasp_parameters(userpass):
    password = "correct horse battery staple"
    userpass.root("POST", f"{USERS}/alice", {"password": password})
    engine = userpass.core.auth_engines["userpass/"]
    record = engine.view.get("user/alice")
    stored = record["password"]
    assert (stored["algorithm"], stored["version"]) == ("argon2id", 19)
    assert (stored["memory_cost"], stored["iterations"], stored["lanes"]) == (19456, 2, 1)
    assert len(stored["salt"]) == 16 and len(stored["hash"]) == 32
    # the tag is Argon2id(password) under the stored parameters, computed independently here
    expected = Argon2id(salt=stored["salt"], length=32, iterations=2, lanes=1, memory_cost=19456).derive(
        password.encode())
    assert stored["hash"] == expected
    assert password.encode() not in msgpack.packb(record, use_bin_type=True)
    raw = b"".join(p.read_bytes() for p in userpass.data_dir.rglob("*") if p.is_file())
    assert raw and password.encode() not in raw
    # a second user with the same password gets another salt, so another hash
    userpass.root("POST", f"{USERS}/bob", {"password": password})
    assert engine.view.get("user/bob")["password"]["hash"] != stored["hash"]


def test_a_hash_with_old_parameters_is_upgraded_at_login(userpass):
    from server.auth.userpass_password import Argon2Parameters, hash_password

    userpass.root("POST", f"{USERS}/alice", {"password": "pw"})
    engine = userpass.core.auth_engines["userpass/"]
    record = engine.view.get("user/alice")
    record["password"] = hash_password("pw", Argon2Parameters(memory_cost=1024, iterations=1))
    engine.view.put("user/alice", record)
    assert _login(userpass, "alice", "pw")[0] == 200
    upgraded = engine.view.get("user/alice")["password"]
    assert (upgraded["memory_cost"], upgraded["iterations"]) == (19456, 2)
    assert _login(userpass, "alice", "pw")[0] == 200


def test_unknown_users_cost_the_same_as_wrong_passwords(userpass):
    userpass.root("POST", f"{USERS}/alice", {"password": "pw1"})
    userpass.core.auth_engines["userpass/"].guard.threshold = 1000  # measure the check, not the backoff

    def timed(name: str) -> float:
        began = time.perf_counter()
        assert _login(userpass, name, "wrong")[:2] == (400, INVALID)
        return time.perf_counter() - began

    timed("alice")  # warm up
    known = sum(timed("alice") for _ in range(3)) / 3
    unknown = sum(timed(f"ghost{i}") for i in range(3)) / 3
    assert 0.5 < unknown / known < 2.0, (known, unknown)
    assert unknown > 0.005  # the unknown user really ran Argon2id (m=19 MiB cannot be this fast)
