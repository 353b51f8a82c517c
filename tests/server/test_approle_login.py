"""AppRole login: Vault's auth block, a token within the role's limits, exact refusals."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

ROLE = "/v1/auth/approle/role"
LOGIN = "/v1/auth/approle/login"
INVALID = {"errors": ["invalid role or secret ID"]}


@pytest.fixture
def approle(server):
    assert server.root("POST", "/v1/sys/auth/approle", {"type": "approle"})[0] == 204
    return server


def _credentials(server, role: str, body: dict | None = None, secret: dict | None = None) -> tuple[str, str]:
    assert server.root("POST", f"{ROLE}/{role}", body or {})[0] in (200, 204)
    role_id = server.root("GET", f"{ROLE}/{role}/role-id")[1]["data"]["role_id"]
    status, answer, _ = server.root("POST", f"{ROLE}/{role}/secret-id", secret or {})
    assert status == 200, answer
    return role_id, answer["data"]["secret_id"]


def test_login_returns_vaults_auth_block(approle):
    role_id, secret_id = _credentials(approle, "r1", {"token_policies": "p1", "token_ttl": "1h", "token_num_uses": 5},
                                      {"metadata": '{"a":"b"}'})
    status, body, _ = approle.call("POST", LOGIN, {"role_id": role_id, "secret_id": secret_id})
    assert status == 200
    auth = body["auth"]
    assert body["data"] is None and body["lease_id"] == "" and body["wrap_info"] is None
    assert sorted(auth) == ["accessor", "client_token", "entity_id", "lease_duration", "metadata", "mfa_requirement",
                            "num_uses", "orphan", "policies", "renewable", "token_policies", "token_type"]
    assert auth["policies"] == auth["token_policies"] == ["default", "p1"]
    assert auth["metadata"] == {"a": "b", "role_name": "r1"}
    assert (auth["lease_duration"], auth["renewable"], auth["orphan"], auth["num_uses"]) == (3600, True, True, 5)
    assert auth["client_token"].startswith("s.") and auth["token_type"] == "service"
    status, body, _ = approle.call("GET", "/v1/auth/token/lookup-self", token=auth["client_token"])
    assert status == 200
    looked = body["data"]
    assert looked["path"] == "auth/approle/login" and looked["meta"] == {"a": "b", "role_name": "r1"}
    assert looked["policies"] == ["default", "p1"] and looked["num_uses"] == 4  # the lookup used one


def test_token_honours_the_roles_limits(approle):
    role_id, secret_id = _credentials(approle, "tight", {
        "token_policies": "p1", "token_ttl": 60, "token_max_ttl": 90, "token_num_uses": 2,
        "token_bound_cidrs": "127.0.0.1/32"})
    auth = approle.call("POST", LOGIN, {"role_id": role_id, "secret_id": secret_id})[1]["auth"]
    token = auth["client_token"]
    assert auth["policies"] == ["default", "p1"] and auth["lease_duration"] == 60
    status, body, _ = approle.call("POST", "/v1/auth/token/renew-self", {"increment": "200s"}, token=token)
    assert status == 200 and body["auth"]["lease_duration"] <= 90  # never past token_max_ttl
    # that renewal was the 1st use, this is the 2nd and last
    assert approle.call("GET", "/v1/auth/token/lookup-self", token=token)[0] == 200
    assert approle.call("GET", "/v1/auth/token/lookup-self", token=token)[0] == 403
    # a token bound elsewhere is refused from here
    role_id, secret_id = _credentials(approle, "far", {"token_bound_cidrs": "10.0.0.0/8", "token_policies": "p1",
                                                       "token_no_default_policy": True})
    auth = approle.call("POST", LOGIN, {"role_id": role_id, "secret_id": secret_id})[1]["auth"]
    token = auth["client_token"]
    assert auth["policies"] == ["p1"]
    assert approle.call("GET", "/v1/auth/token/lookup-self", token=token)[:2] == (403, {"errors": ["permission denied"]})
    # a secret ID's own token_bound_cidrs override the role's
    role_id, secret_id = _credentials(approle, "mixed", {"token_bound_cidrs": "0.0.0.0/0"},
                                      {"token_bound_cidrs": "10.0.0.0/8"})
    token = approle.call("POST", LOGIN, {"role_id": role_id, "secret_id": secret_id})[1]["auth"]["client_token"]
    assert approle.call("GET", "/v1/auth/token/lookup-self", token=token)[0] == 403
    # the mount's lease settings: its default when the role sets no TTL, its max as a ceiling
    config = {"default_lease_ttl": "20s", "max_lease_ttl": "30s"}
    assert approle.root("POST", "/v1/sys/auth/approle2", {"type": "approle", "config": config})[0] == 204
    for token_ttl, expected in (("1h", 30), (0, 20)):
        approle.root("POST", "/v1/auth/approle2/role/r", {"token_ttl": token_ttl})
        role_id = approle.root("GET", "/v1/auth/approle2/role/r/role-id")[1]["data"]["role_id"]
        secret_id = approle.root("POST", "/v1/auth/approle2/role/r/secret-id", {})[1]["data"]["secret_id"]
        body = approle.call("POST", "/v1/auth/approle2/login", {"role_id": role_id, "secret_id": secret_id})[1]
        assert body["auth"]["lease_duration"] == expected


def test_login_refusals_are_exact(approle):
    role_id, secret_id = _credentials(approle, "r1")
    # OpenBao answers a missing role_id with a 500 (from its alias lookahead); strongroom 400.
    assert approle.call("POST", LOGIN, {})[:2] == (400, {"errors": ["missing role_id"]})
    assert approle.call("POST", LOGIN, {"role_id": role_id})[:2] == (400, {"errors": ["missing secret_id"]})
    assert approle.call("POST", LOGIN, {"role_id": role_id, "secret_id": "wrong"})[:2] == (400, INVALID)
    assert approle.call("POST", LOGIN, {"role_id": "bad", "secret_id": secret_id})[:2] == (400, INVALID)
    assert approle.call("POST", LOGIN, {"role_id": role_id, "secret_id": secret_id})[0] == 200
    assert approle.call("GET", LOGIN)[:2] == (405, {"errors": ["unsupported operation"]})
    engine = approle.core.auth_engines["approle/"]
    assert engine.guard.failed_logins == 2  # the two bad credentials, not the malformed requests
    approle.root("POST", f"{ROLE}/rooty", {"token_policies": "root"})
    role_id, secret_id = _credentials(approle, "rooty")
    assert approle.call("POST", LOGIN, {"role_id": role_id, "secret_id": secret_id})[:2] == (
        400, {"errors": ["auth methods cannot create root tokens"]})


def test_cidr_bounds_are_enforced_on_the_client_address(approle):
    role_id, secret_id = _credentials(approle, "sid", {}, {"cidr_list": "10.0.0.0/8", "num_uses": 0})
    assert approle.call("POST", LOGIN, {"role_id": role_id, "secret_id": secret_id})[:2] == (
        400, {"errors": ['source address "127.0.0.1" unauthorized by CIDR restrictions on the secret ID']})
    role_id, secret_id = _credentials(approle, "role", {"secret_id_bound_cidrs": "10.0.0.0/8"})
    assert approle.call("POST", LOGIN, {"role_id": role_id, "secret_id": secret_id})[:2] == (
        400, {"errors": ['source address "127.0.0.1" unauthorized by CIDR restrictions on the role']})
    # ...but only once the secret ID is right: a wrong one is just invalid
    assert approle.call("POST", LOGIN, {"role_id": role_id, "secret_id": "wrong"})[:2] == (400, INVALID)
    # a refused address spends no use of the secret ID
    role_id, secret_id = _credentials(approle, "once", {"secret_id_num_uses": 1}, {"cidr_list": "10.0.0.0/8"})
    approle.call("POST", LOGIN, {"role_id": role_id, "secret_id": secret_id})
    found = approle.root("POST", f"{ROLE}/once/secret-id/lookup", {"secret_id": secret_id})[1]["data"]
    assert found["secret_id_num_uses"] == 1
    # bind_secret_id=false: the role_id and the address are the credentials
    approle.root("POST", f"{ROLE}/open", {"bind_secret_id": False, "secret_id_bound_cidrs": "127.0.0.1/32"})
    role_id = approle.root("GET", f"{ROLE}/open/role-id")[1]["data"]["role_id"]
    status, body, _ = approle.call("POST", LOGIN, {"role_id": role_id})
    assert status == 200 and body["auth"]["metadata"] == {"role_name": "open"}
    approle.root("POST", f"{ROLE}/open", {"secret_id_bound_cidrs": "10.0.0.0/8"})
    assert approle.call("POST", LOGIN, {"role_id": role_id})[0] == 400


def test_secret_id_uses_are_counted_atomically(approle):
    role_id, secret_id = _credentials(approle, "r1", {"secret_id_num_uses": 3})
    engine = approle.core.auth_engines["approle/"]
    engine.guard.threshold = 1000  # this test is about counting, not backoff

    def login(_):
        return approle.call("POST", LOGIN, {"role_id": role_id, "secret_id": secret_id})[0]

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(login, range(10)))
    assert sorted(statuses) == [200] * 3 + [400] * 7
    assert approle.root("LIST", f"{ROLE}/r1/secret-id")[0] == 404  # the last use removed it
    assert approle.root("POST", f"{ROLE}/r1/secret-id/lookup", {"secret_id": secret_id})[0] == 204


def test_logins_need_no_token_but_role_management_does(approle):
    role_id, secret_id = _credentials(approle, "r1")
    status, body, _ = approle.call("POST", LOGIN, {"role_id": role_id, "secret_id": secret_id},
                                   token="s.not-a-token")
    assert status == 200  # the login path ignores a bad token, as Vault does
    assert approle.call("GET", f"{ROLE}/r1")[:2] == (403, {"errors": ["permission denied"]})
    token = body["auth"]["client_token"]
    assert approle.call("GET", f"{ROLE}/r1", token=token)[0] == 403  # default policy does not reach it
    approle.root("DELETE", "/v1/sys/auth/approle")
    assert approle.call("GET", "/v1/auth/token/lookup-self", token=token)[0] == 403  # revoked with the mount
