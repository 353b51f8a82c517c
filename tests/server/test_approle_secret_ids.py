"""AppRole secret IDs: generate, look up, list, destroy; limits; and never stored as issued."""

from __future__ import annotations

import re
import time

import msgpack
import pytest

ROLE = "/v1/auth/approle/role"
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z")


@pytest.fixture
def approle(server):
    assert server.root("POST", "/v1/sys/auth/approle", {"type": "approle"})[0] == 204
    assert server.root("POST", f"{ROLE}/r1", {"secret_id_num_uses": 3, "secret_id_ttl": "10m"})[0] == 204
    return server


def _generate(server, role: str = "r1", **body) -> dict:
    status, answer, _ = server.root("POST", f"{ROLE}/{role}/secret-id", body)
    assert status == 200, answer
    return answer["data"]


def test_generate_and_lookup_shapes(approle):
    data = _generate(approle, metadata='{"a":"b"}')
    assert sorted(data) == ["secret_id", "secret_id_accessor", "secret_id_num_uses", "secret_id_ttl"]
    assert UUID.fullmatch(data["secret_id"]) and UUID.fullmatch(data["secret_id_accessor"])
    assert (data["secret_id_num_uses"], data["secret_id_ttl"]) == (3, 600)
    status, body, _ = approle.root("POST", f"{ROLE}/r1/secret-id/lookup", {"secret_id": data["secret_id"]})
    assert status == 200
    found = body["data"]
    assert sorted(found) == ["cidr_list", "creation_time", "expiration_time", "last_updated_time", "metadata",
                             "secret_id_accessor", "secret_id_num_uses", "secret_id_ttl", "token_bound_cidrs"]
    assert found["metadata"] == {"a": "b"} and found["cidr_list"] == [] and found["token_bound_cidrs"] == []
    assert found["secret_id_accessor"] == data["secret_id_accessor"]
    assert all(RFC3339.fullmatch(found[k]) for k in ("creation_time", "expiration_time", "last_updated_time"))
    status, body, _ = approle.root("POST", f"{ROLE}/r1/secret-id-accessor/lookup",
                                   {"secret_id_accessor": data["secret_id_accessor"]})
    assert (status, body["data"]) == (200, found)
    # k=v metadata, and a secret ID without TTL shows Go's zero time, as OpenBao does
    approle.root("POST", f"{ROLE}/forever", {})
    sid = _generate(approle, "forever", metadata="k=v,n=1")["secret_id"]
    found = approle.root("POST", f"{ROLE}/forever/secret-id/lookup", {"secret_id": sid})[1]["data"]
    assert found["expiration_time"] == "0001-01-01T00:00:00Z" and found["metadata"] == {"k": "v", "n": "1"}


def test_list_accessors_and_destroy(approle):
    assert approle.root("LIST", f"{ROLE}/r1/secret-id")[:2] == (404, {"errors": []})
    first, second = _generate(approle), _generate(approle)
    status, body, _ = approle.root("LIST", f"{ROLE}/r1/secret-id")
    assert status == 200
    assert sorted(body["data"]["keys"]) == sorted([first["secret_id_accessor"], second["secret_id_accessor"]])
    assert approle.root("POST", f"{ROLE}/r1/secret-id/destroy", {"secret_id": first["secret_id"]})[0] == 204
    assert approle.root("POST", f"{ROLE}/r1/secret-id/destroy", {"secret_id": first["secret_id"]})[0] == 204
    assert approle.root("POST", f"{ROLE}/r1/secret-id/lookup", {"secret_id": first["secret_id"]})[0] == 204
    assert approle.root("POST", f"{ROLE}/r1/secret-id-accessor/destroy",
                        {"secret_id_accessor": second["secret_id_accessor"]})[0] == 204
    assert approle.root("LIST", f"{ROLE}/r1/secret-id")[0] == 404
    role_id = approle.root("GET", f"{ROLE}/r1/role-id")[1]["data"]["role_id"]
    for data in (first, second):
        assert approle.call("POST", "/v1/auth/approle/login",
                            {"role_id": role_id, "secret_id": data["secret_id"]})[0] == 400


def test_lookup_and_destroy_errors(approle):
    missing = 'failed to find accessor entry for secret_id_accessor: "nope"'
    status, body, _ = approle.root("POST", f"{ROLE}/r1/secret-id-accessor/lookup", {"secret_id_accessor": "nope"})
    assert (status, body["data"], body["auth"]) == (404, {"error": missing}, None)
    assert approle.root("POST", f"{ROLE}/r1/secret-id-accessor/destroy", {"secret_id_accessor": "nope"})[:2] == (
        404, {"errors": [missing]})  # OpenBao: 500 with the same text
    for path, field in (("secret-id/lookup", "secret_id"), ("secret-id/destroy", "secret_id"),
                        ("secret-id-accessor/lookup", "secret_id_accessor"),
                        ("secret-id-accessor/destroy", "secret_id_accessor"), ("custom-secret-id", "secret_id")):
        assert approle.root("POST", f"{ROLE}/r1/{path}", {})[:2] == (400, {"errors": [f"missing {field}"]}), path
    # An accessor is only found under its own role.
    approle.root("POST", f"{ROLE}/other", {})
    accessor = _generate(approle)["secret_id_accessor"]
    assert approle.root("POST", f"{ROLE}/other/secret-id-accessor/lookup",
                        {"secret_id_accessor": accessor})[0] == 404
    # A missing role: 404 when generating (as OpenBao), 400 elsewhere (OpenBao: 400 on list, 500 on lookups).
    assert approle.root("POST", f"{ROLE}/nope/secret-id", {})[:2] == (404, {"errors": ['role "nope" does not exist']})
    assert approle.root("LIST", f"{ROLE}/nope/secret-id")[:2] == (400, {"errors": ['role "nope" does not exist']})
    assert approle.root("POST", f"{ROLE}/nope/secret-id/lookup", {"secret_id": "x"})[:2] == (
        400, {"errors": ['role "nope" does not exist']})


def test_generate_limits(approle):
    cases = [
        ({"num_uses": 5}, "num_uses cannot be higher than the role's secret_id_num_uses"),
        ({"num_uses": 0}, "num_uses cannot be higher than the role's secret_id_num_uses"),
        ({"num_uses": -1}, "num_uses cannot be negative"),
        ({"ttl": "20m"}, "ttl cannot be longer than the role's secret_id_ttl"),
        ({"ttl": "0"}, "ttl cannot be longer than the role's secret_id_ttl"),
        ({"cidr_list": "bad"}, "failed to validate CIDR blocks: invalid CIDR address: bad"),
        ({"metadata": "{bad"}, "failed to parse metadata: failed to parse the input: invalid <key,value> format"),
        ({"metadata": '{"k":1}'}, "failed to parse metadata: failed to parse the input: invalid <key,value> format"),
    ]
    for body, message in cases:
        assert approle.root("POST", f"{ROLE}/r1/secret-id", body)[:2] == (400, {"errors": [message]}), body
    data = _generate(approle, num_uses=2, ttl="5m")
    assert (data["secret_id_num_uses"], data["secret_id_ttl"]) == (2, 300)
    approle.root("POST", f"{ROLE}/fenced", {"secret_id_bound_cidrs": "127.0.0.1/32,10.0.0.0/8",
                                            "token_bound_cidrs": "127.0.0.0/8"})
    status, body, _ = approle.root("POST", f"{ROLE}/fenced/secret-id", {"cidr_list": "192.168.0.0/16"})
    assert (status, body) == (400, {"errors": [
        'failed to verify subset relationship between CIDR blocks on the role ["127.0.0.1/32" "10.0.0.0/8"] '
        'and CIDR blocks on the secret ID ["192.168.0.0/16"]']})
    assert approle.root("POST", f"{ROLE}/fenced/secret-id", {"token_bound_cidrs": "10.1.0.0/16"})[0] == 400
    assert _generate(approle, "fenced", cidr_list="10.1.0.0/16", token_bound_cidrs="127.0.0.1")["secret_id"]
    approle.root("POST", f"{ROLE}/nobind", {"bind_secret_id": False, "secret_id_bound_cidrs": "127.0.0.1/32"})
    assert approle.root("POST", f"{ROLE}/nobind/secret-id", {})[:2] == (
        400, {"errors": ["bind_secret_id is not set on the role"]})


def test_custom_secret_id(approle):
    status, body, _ = approle.root("POST", f"{ROLE}/r1/custom-secret-id", {"secret_id": "my-custom-secret"})
    assert status == 200 and body["data"]["secret_id"] == "my-custom-secret"
    assert approle.root("POST", f"{ROLE}/r1/custom-secret-id", {"secret_id": "my-custom-secret"})[:2] == (
        400, {"errors": ["SecretID is already registered"]})  # OpenBao: 500
    role_id = approle.root("GET", f"{ROLE}/r1/role-id")[1]["data"]["role_id"]
    assert approle.call("POST", "/v1/auth/approle/login",
                        {"role_id": role_id, "secret_id": "my-custom-secret"})[0] == 200


def test_deleting_a_role_removes_its_secret_ids(approle):
    _generate(approle)
    _generate(approle)
    view = approle.core.auth_engines["approle/"].view
    assert view.list("secret_id/") and view.list("accessor/")
    approle.root("DELETE", f"{ROLE}/r1")
    assert view.list("secret_id/") == [] and view.list("accessor/") == [] and view.list("role_id/") == []


def _walk(view, prefix: str = ""):
    for child in view.list(prefix):
        if child.endswith("/"):
            yield from _walk(view, prefix + child)
        else:
            yield prefix + child


def test_secret_ids_are_never_stored_as_issued(approle):
    issued = [_generate(approle)["secret_id"] for _ in range(3)]
    approle.root("POST", f"{ROLE}/r1/custom-secret-id", {"secret_id": "custom-secret-0123456789"})
    issued.append("custom-secret-0123456789")
    role_id = approle.root("GET", f"{ROLE}/r1/role-id")[1]["data"]["role_id"]
    assert approle.call("POST", "/v1/auth/approle/login", {"role_id": role_id, "secret_id": issued[0]})[0] == 200
    # Raw LMDB files: values are encrypted by the barrier and paths hold only HMACs.
    raw = b"".join(p.read_bytes() for p in approle.data_dir.rglob("*") if p.is_file())
    assert raw  # the scan read the real store
    for secret in issued:
        assert secret.encode() not in raw
    # Inside the barrier too: no key path and no decrypted value holds a secret ID.
    engine = approle.core.auth_engines["approle/"]
    paths = list(_walk(engine.view))
    assert any(p.startswith("secret_id/r1/") for p in paths)
    for path in paths:
        value = msgpack.packb(engine.view.get(path), use_bin_type=True)
        for secret in issued:
            assert secret not in path
            assert secret.encode() not in value, path
    # ...and each secret ID's entry is the one at its HMAC under the mount key.
    for secret in issued:
        assert f"secret_id/r1/{engine.hmac.digest(secret)}" in paths
    # The role_id itself is not in a path either (only its HMAC is).
    assert not any(role_id in p for p in paths)
    assert f"role_id/{engine.hmac.digest(role_id)}" in paths


def test_expired_secret_ids_are_refused_and_tidied(approle):
    short = _generate(approle, ttl="1s")
    lasting = _generate(approle)
    role_id = approle.root("GET", f"{ROLE}/r1/role-id")[1]["data"]["role_id"]
    time.sleep(1.1)
    status, body, _ = approle.call("POST", "/v1/auth/approle/login", {"role_id": role_id, "secret_id": short["secret_id"]})
    assert (status, body) == (400, {"errors": ["invalid role or secret ID"]})
    assert approle.root("POST", f"{ROLE}/r1/secret-id/lookup", {"secret_id": short["secret_id"]})[0] == 204
    # tidy removes what expired (the login above already dropped this one; add another)
    third = _generate(approle, ttl="1s")
    engine = approle.core.auth_engines["approle/"]
    assert engine.secret_ids.tidy(time.time() + 5) == 1
    keys = approle.root("LIST", f"{ROLE}/r1/secret-id")[1]["data"]["keys"]
    assert keys == [lasting["secret_id_accessor"]] and third["secret_id_accessor"] not in keys
