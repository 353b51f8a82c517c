"""AppRole over HTTP: role and secret-id endpoints, with the shapes and errors OpenBao 2.7 answers.

Expected bodies were captured from `bao server -dev` (OpenBao v2.7.2) with the same requests.
Where OpenBao answers a client error with a 500 (its handlers return a bare Go error),
strongroom answers 400 or 404 with the same message; those cases are marked.
"""

from __future__ import annotations

import pytest

ROLE = "/v1/auth/approle/role"


@pytest.fixture
def approle(server):
    status, body, _ = server.root("POST", "/v1/sys/auth/approle", {"type": "approle"})
    assert status == 204, body
    return server


def _role_id(server, name: str) -> str:
    return server.root("GET", f"{ROLE}/{name}/role-id")[1]["data"]["role_id"]


def test_role_read_has_openbaos_shape(approle):
    status, _, _ = approle.root("POST", f"{ROLE}/r1", {
        "token_policies": ["default", "p1"], "token_ttl": "1h", "token_max_ttl": "2h", "secret_id_ttl": "10m",
        "secret_id_num_uses": 3, "token_num_uses": 5,
    })
    assert status == 204
    status, body, _ = approle.root("GET", f"{ROLE}/r1")
    assert status == 200
    assert body["data"] == {
        "bind_secret_id": True, "local_secret_ids": False, "secret_id_bound_cidrs": None, "secret_id_num_uses": 3,
        "secret_id_ttl": 600, "token_bound_cidrs": [], "token_explicit_max_ttl": 0, "token_max_ttl": 7200,
        "token_no_default_policy": False, "token_num_uses": 5, "token_period": 0,
        "token_policies": ["default", "p1"], "token_strictly_bind_ip": False, "token_ttl": 3600,
        "token_type": "default",
    }
    assert list(body) == ["request_id", "lease_id", "renewable", "lease_duration", "data", "wrap_info",
                          "warnings", "auth"]


def test_older_field_names_are_kept_until_the_new_ones_are_written(approle):
    approle.root("POST", f"{ROLE}/r2", {"policies": "a,b", "period": "1h",
                                         "secret_id_bound_cidrs": "127.0.0.1/32,10.0.0.0/8",
                                         "token_bound_cidrs": ["127.0.0.1"]})
    data = approle.root("GET", f"{ROLE}/r2")[1]["data"]
    assert data["policies"] == data["token_policies"] == ["a", "b"]
    assert data["period"] == data["token_period"] == 3600
    assert data["secret_id_bound_cidrs"] == ["127.0.0.1/32", "10.0.0.0/8"]
    assert data["token_bound_cidrs"] == ["127.0.0.1"]
    approle.root("POST", f"{ROLE}/r2", {"token_policies": ["d"], "token_period": 0})
    data = approle.root("GET", f"{ROLE}/r2")[1]["data"]
    assert "policies" not in data and "period" not in data
    assert data["token_policies"] == ["d"]
    # bound_cidr_list is the oldest name of secret_id_bound_cidrs
    approle.root("POST", f"{ROLE}/r2", {"bound_cidr_list": "192.168.0.0/16"})
    assert approle.root("GET", f"{ROLE}/r2")[1]["data"]["secret_id_bound_cidrs"] == ["192.168.0.0/16"]


def test_update_changes_only_the_fields_sent(approle):
    approle.root("POST", f"{ROLE}/r", {"token_ttl": 60, "secret_id_num_uses": 4})
    role_id = _role_id(approle, "r")
    approle.root("POST", f"{ROLE}/r", {"token_num_uses": "2"})  # the CLI sends numbers as text
    data = approle.root("GET", f"{ROLE}/r")[1]["data"]
    assert (data["token_ttl"], data["secret_id_num_uses"], data["token_num_uses"]) == (60, 4, 2)
    assert _role_id(approle, "r") == role_id


def test_list_read_delete_and_names_are_lower_cased(approle):
    status, body, _ = approle.root("LIST", ROLE)
    assert (status, body) == (404, {"errors": []})
    approle.root("POST", f"{ROLE}/R4", {})
    approle.root("POST", f"{ROLE}/app.one", {})
    status, body, _ = approle.root("LIST", ROLE)
    assert (status, body["data"]) == (200, {"keys": ["app.one", "r4"]})
    assert approle.root("GET", f"{ROLE}/R4")[0] == 200
    assert approle.root("DELETE", f"{ROLE}/r4")[0] == 204
    assert approle.root("DELETE", f"{ROLE}/r4")[0] == 204
    assert approle.root("GET", f"{ROLE}/r4")[:2] == (404, {"errors": []})
    assert approle.root("GET", f"{ROLE}/r4/role-id")[:2] == (404, {"errors": []})
    assert approle.root("POST", f"{ROLE}/bad%20name", {})[:2] == (404, {"errors": ["unsupported path"]})
    assert approle.root("GET", ROLE)[:2] == (405, {"errors": ["unsupported operation"]})


ROLE_WRITE_ERRORS = [
    # OpenBao answers this one 500 with the same text.
    ({"bind_secret_id": False}, "at least one constraint should be enabled on the role"),
    ({"secret_id_num_uses": -1}, "secret_id_num_uses cannot be negative"),
    ({"token_num_uses": -1}, "'token_num_uses' cannot be negative"),
    ({"token_ttl": "2h", "token_max_ttl": "1h"}, "'token_ttl' cannot be greater than 'token_max_ttl'"),
    ({"token_ttl": "abc"}, 'error converting input for field "token_ttl": time: invalid duration "abc"'),
    ({"secret_id_ttl": -1}, "error converting input for field \"secret_id_ttl\": cannot provide negative value '-1'"),
    ({"token_ttl": True}, 'error converting input for field "token_ttl": could not parse duration from input'),
    ({"token_type": "weird"}, "invalid 'token_type' value \"weird\""),
    ({"bind_secret_id": "notbool"}, "error converting input for field \"bind_secret_id\": cannot parse value as 'bool'"),
    ({"secret_id_num_uses": "abc"}, "error converting input for field \"secret_id_num_uses\": cannot parse value as 'int'"),
    ({"token_strictly_bind_ip": True, "token_bound_cidrs": "127.0.0.1"},
     "'token_strictly_bind_ip' conflicts with 'token_bound_cidrs'; set only one"),
    ({"secret_id_bound_cidrs": "nonsense"}, "failed to validate CIDR blocks: invalid CIDR address: nonsense"),
    ({"token_bound_cidrs": "nonsense"}, 'error parsing address "nonsense": not an IP address or CIDR block'),
    ({"token_period": "100000h"}, 'period of "100000h0m0s" is greater than the backend\'s maximum lease TTL of "768h0m0s"'),
    ({"token_type": "batch"}, "strongroom issues service tokens only: 'token_type' cannot be 'batch'"),
]


def test_role_write_errors(approle):
    for body, message in ROLE_WRITE_ERRORS:
        status, answer, _ = approle.root("POST", f"{ROLE}/bad", body)
        assert (status, answer) == (400, {"errors": [message]}), body
    assert approle.root("GET", f"{ROLE}/bad")[0] == 404  # no failed write left anything behind
    approle.root("POST", f"{ROLE}/r", {})
    status, answer, _ = approle.root("POST", f"{ROLE}/r", {"local_secret_ids": True})
    assert (status, answer) == (400, {"errors": ["local_secret_ids can only be modified during role creation"]})


def test_token_max_ttl_above_the_mount_max_is_a_warning(approle):
    status, body, _ = approle.root("POST", f"{ROLE}/r", {"token_max_ttl": "100000h"})
    assert status == 200
    assert body["warnings"] == ["token_max_ttl is greater than the backend mount's maximum TTL value; "
                                "issued tokens' max TTL value will be truncated"]


def test_custom_role_id_is_unique_and_replaces_the_old_one(approle):
    approle.root("POST", f"{ROLE}/r3", {})
    approle.root("POST", f"{ROLE}/r4", {})
    old = _role_id(approle, "r3")
    assert approle.root("POST", f"{ROLE}/r3/role-id", {"role_id": "custom-rid"})[0] == 204
    assert _role_id(approle, "r3") == "custom-rid"
    # OpenBao answers "role_id already in use" with a 500.
    assert approle.root("POST", f"{ROLE}/r4/role-id", {"role_id": "custom-rid"})[:2] == (
        400, {"errors": ["role_id already in use"]})
    assert approle.root("POST", f"{ROLE}/r5", {"role_id": "custom-rid"})[:2] == (
        400, {"errors": ["role_id already in use"]})
    assert approle.root("POST", f"{ROLE}/r3/role-id", {})[:2] == (400, {"errors": ["missing role_id"]})
    assert approle.root("POST", f"{ROLE}/nope/role-id", {"role_id": "x"})[:2] == (
        404, {"errors": ['role "nope" does not exist']})
    secret = approle.root("POST", f"{ROLE}/r3/secret-id", {})[1]["data"]["secret_id"]
    assert approle.call("POST", "/v1/auth/approle/login", {"role_id": old, "secret_id": secret})[0] == 400
    assert approle.call("POST", "/v1/auth/approle/login", {"role_id": "custom-rid", "secret_id": secret})[0] == 200
