"""What reaches the audit log: every request and response, secrets only as the device's HMAC,
denials with their error, and the key lifecycle events an auditor asks about."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from test_audit_support import DEVICE, assert_absent, audited_server, device_hash, entries, marker

REPO = Path(__file__).resolve().parents[2]


def _lines_for(log: Path, path: str, kind: str | None = None) -> list[dict]:
    return [e for e in entries(log) if e["request"]["path"] == path and (kind is None or e["type"] == kind)]


def test_kv_values_never_in_the_log_and_audit_hash_finds_them(tmp_path):
    secret_v1, secret_v2 = marker(), marker()
    with audited_server(tmp_path) as (server, log):
        assert server.root("POST", "/v1/sys/mounts/kv", {"type": "kv"})[0] == 204
        assert server.root("POST", "/v1/sys/mounts/kv2", {"type": "kv", "options": {"version": "2"}})[0] == 204
        assert server.root("PUT", "/v1/kv/x", {"password": secret_v1})[0] == 204
        assert server.root("PUT", "/v1/kv2/data/x", {"data": {"password": secret_v2}})[0] == 200
        status, body, _ = server.root("GET", "/v1/kv/x")
        assert status == 200 and body["data"]["password"] == secret_v1
        assert server.root("GET", "/v1/kv2/data/x")[1]["data"]["data"]["password"] == secret_v2
        status, body, _ = server.root("PUT", f"/v1/sys/audit-hash/{DEVICE}", {"input": secret_v1})
        assert status == 200
        expected = body["data"]["hash"]
        assert body["hash"] == expected and expected == device_hash(server, secret_v1)
        assert expected.startswith("hmac-sha256:") and len(expected) == len("hmac-sha256:") + 64
        v2_hash = device_hash(server, secret_v2)

    assert_absent(log, secret_v1)
    assert_absent(log, secret_v2)
    write, read = _lines_for(log, "kv/x", "request")[0], _lines_for(log, "kv/x", "response")[-1]
    assert write["request"]["operation"] in ("create", "update")
    assert write["request"]["data"] == {"password": expected}
    assert read["response"]["data"] == {"password": expected}
    v2_read = _lines_for(log, "kv2/data/x", "response")[-1]
    assert v2_read["response"]["data"]["data"]["password"] == v2_hash


@pytest.mark.skipif(not (REPO / "server/engines/transit.py").exists(), reason="transit engine not built yet")
def test_transit_plaintext_and_ciphertext_never_in_the_log(tmp_path):
    secret = marker()
    plaintext = base64.b64encode(secret.encode()).decode()
    with audited_server(tmp_path) as (server, log):
        assert server.root("POST", "/v1/sys/mounts/transit", {"type": "transit"})[0] == 204
        assert server.root("POST", "/v1/transit/keys/k", {})[0] in (200, 204)
        status, body, _ = server.root("POST", "/v1/transit/encrypt/k", {"plaintext": plaintext})
        assert status == 200, body
        ciphertext = body["data"]["ciphertext"]
        status, body, _ = server.root("POST", "/v1/transit/decrypt/k", {"ciphertext": ciphertext})
        assert status == 200 and body["data"]["plaintext"] == plaintext
        ciphertext_hash = device_hash(server, ciphertext)
    assert_absent(log, secret, also=(plaintext, ciphertext, ciphertext.split(":")[-1]))
    encrypt = _lines_for(log, "transit/encrypt/k", "response")[0]
    assert encrypt["response"]["data"]["ciphertext"] == ciphertext_hash


def test_tokens_meta_and_policy_text_never_in_the_log(tmp_path):
    meta_value, policy_marker = marker(), marker()
    policy = f'# {policy_marker}\npath "kv/*" {{ capabilities = ["read"] }}\n'
    with audited_server(tmp_path) as (server, log):
        assert server.root("PUT", "/v1/sys/policy/reader", {"policy": policy})[0] == 204
        assert server.root("GET", "/v1/sys/policy/reader")[1]["data"]["rules"] == policy
        status, body, _ = server.root("POST", "/v1/auth/token/create",
                                      {"policies": ["reader"], "meta": {"owner": meta_value}})
        assert status == 200, body
        child, accessor = body["auth"]["client_token"], body["auth"]["accessor"]
        assert server.call("GET", "/v1/auth/token/lookup-self", token=child)[0] == 200
        root_token = server.root_token
        child_hash = device_hash(server, child)
    assert_absent(log, meta_value)
    assert_absent(log, policy_marker)
    for token in (root_token, child, accessor):
        assert_absent(log, token)
    created = _lines_for(log, "auth/token/create", "response")[0]
    assert created["response"]["auth"]["client_token"] == child_hash
    used = _lines_for(log, "auth/token/lookup-self", "request")[0]
    assert used["auth"]["client_token"] == child_hash
    assert "reader" in used["auth"]["policies"]
    assert used["auth"]["token_type"] == "service"


def test_denied_requests_are_recorded_with_their_error(tmp_path):
    with audited_server(tmp_path) as (server, log):
        server.root("POST", "/v1/sys/mounts/kv", {"type": "kv"})
        server.root("PUT", "/v1/sys/policy/reader", {"policy": 'path "kv/open" { capabilities = ["read"] }'})
        limited = server.root("POST", "/v1/auth/token/create", {"policies": ["reader"]})[1]["auth"]["client_token"]
        assert server.call("GET", "/v1/kv/closed", token=limited)[0] == 403
        assert server.call("PUT", "/v1/kv/open", {"a": "b"}, token=limited)[0] == 403
        bogus = "hvs.not-a-token"
        assert server.call("GET", "/v1/kv/open", token=bogus)[0] == 403
        assert server.call("GET", "/v1/sys/audit")[0] == 403  # no token at all
        limited_hash, bogus_hash = device_hash(server, limited), device_hash(server, bogus)

    for path, operation, token_hash in (("kv/closed", "read", limited_hash), ("kv/open", "create", limited_hash),
                                        ("kv/open", "read", bogus_hash)):
        found = [e for e in _lines_for(log, path) if e["request"]["client_token"] == token_hash
                 and e["request"]["operation"] in (operation, "update")]
        kinds = [e["type"] for e in found]
        assert kinds == ["request", "response"], (path, kinds)
        assert all("permission denied" in e["error"] for e in found)
        assert found[1]["response"]["status"] == 403
    anonymous = _lines_for(log, "sys/audit", "response")[-1]
    assert anonymous["response"]["status"] == 403 and anonymous["request"]["client_token"] == ""
    assert_absent(log, bogus)
    assert_absent(log, limited)


def test_key_lifecycle_events_are_visible_in_order(tmp_path):
    with audited_server(tmp_path) as (server, log):
        steps = [
            ("POST", "/v1/sys/mounts/kv", {"type": "kv"}),
            ("PUT", "/v1/sys/policy/p1", {"policy": 'path "kv/*" { capabilities = ["read"] }'}),
            ("POST", "/v1/auth/token/create", {"policies": ["p1"]}),
            ("POST", "/v1/sys/rotate", None),
            ("DELETE", "/v1/sys/policy/p1", None),
            ("DELETE", "/v1/sys/mounts/kv", None),
        ]
        for method, path, body in steps:
            assert server.root(method, path, body)[0] in (200, 204), path
        accessor = server.root("POST", "/v1/auth/token/create", {"policies": ["default"]})[1]["auth"]["accessor"]
        assert server.root("POST", "/v1/auth/token/revoke-accessor", {"accessor": accessor})[0] == 204
        assert server.root("PUT", "/v1/sys/seal")[0] == 204
        for key in server.keys[:3]:
            server.call("PUT", "/v1/sys/unseal", {"key": key})
        assert server.root("GET", "/v1/sys/key-status")[0] == 200

    outcomes = [(e["type"], e["request"]["operation"], e["request"]["path"], e.get("response", {}).get("status"))
                for e in entries(log)]
    expected = [
        ("update", "sys/mounts/kv", 204), ("update", "sys/policy/p1", 204), ("update", "auth/token/create", 200),
        ("update", "sys/rotate", 204), ("delete", "sys/policy/p1", 204), ("delete", "sys/mounts/kv", 204),
        ("update", "auth/token/create", 200), ("update", "auth/token/revoke-accessor", 204),
        ("update", "sys/seal", 204),
    ]
    responses = [(op, path, status) for kind, op, path, status in outcomes
                 if kind == "response" and not path.startswith(("sys/init", "sys/unseal", "sys/key-status"))]
    assert responses == expected
    requests = [(op, path) for kind, op, path, _ in outcomes if kind == "request"]
    assert requests.index(("update", "sys/seal")) < len(requests) - 1
    after_seal = requests[requests.index(("update", "sys/seal")) + 1:]
    assert after_seal[:3] == [("update", "sys/unseal")] * 3  # the unseal that followed, then the read
    assert after_seal[-1] == ("read", "sys/key-status")


@pytest.mark.skipif(not (REPO / "server/engines/transit.py").exists(), reason="transit engine not built yet")
def test_transit_key_lifecycle_is_visible_and_exported_keys_are_not(tmp_path):
    steps = [
        ("POST", "/v1/sys/mounts/transit", {"type": "transit"}),
        ("POST", "/v1/transit/keys/k", {"exportable": True}),
        ("POST", "/v1/transit/keys/k/rotate", None),
        ("POST", "/v1/transit/keys/k/config", {"deletion_allowed": True}),
        ("GET", "/v1/transit/export/encryption-key/k", None),
        ("DELETE", "/v1/transit/keys/k", None),
    ]
    with audited_server(tmp_path) as (server, log):
        exported = {}
        for method, path, body in steps:
            status, reply, _ = server.root(method, path, body)
            assert status in (200, 204), (path, reply)
            if "export" in path:
                exported = reply["data"]["keys"]
    assert len(exported) == 2
    for key in exported.values():
        assert_absent(log, key)
    seen = [(e["request"]["operation"], e["request"]["path"], e["response"]["status"])
            for e in entries(log) if e["type"] == "response" and e["request"]["path"].startswith(("transit", "sys/m"))]
    assert [path for _, path, _ in seen] == [path[4:] for _, path, _ in steps]
    operations = [op for op, _, _ in seen]
    assert operations[1] in ("create", "update")  # create once transit reports existence
    assert operations[:1] + operations[2:] == ["update", "update", "update", "read", "delete"]
