"""Logins in the audit log: failures recorded with their error, credentials and tokens only hashed.

(Covers userpass too: both methods' logins pass the same pipeline.)
"""

from __future__ import annotations

from test_audit_support import assert_absent, audited_server, entries, marker


def _responses(log, path: str) -> list[dict]:
    return [e for e in entries(log) if e["type"] == "response" and e["request"]["path"] == path]


def test_failed_and_successful_logins_are_audited_without_credentials(tmp_path):
    password, custom_secret = marker(), marker()
    with audited_server(tmp_path) as (server, log):
        server.root("POST", "/v1/sys/auth/approle", {"type": "approle"})
        server.root("POST", "/v1/sys/auth/userpass", {"type": "userpass"})
        server.root("POST", "/v1/auth/approle/role/r1", {})
        server.root("POST", "/v1/auth/approle/role/r1/custom-secret-id", {"secret_id": custom_secret})
        role_id = server.root("GET", "/v1/auth/approle/role/r1/role-id")[1]["data"]["role_id"]
        server.root("POST", "/v1/auth/userpass/users/alice", {"password": password})
        assert server.call("POST", "/v1/auth/approle/login", {"role_id": role_id, "secret_id": "wrong"})[0] == 400
        status, body, _ = server.call("POST", "/v1/auth/approle/login", {"role_id": role_id, "secret_id": custom_secret})
        assert status == 200
        token = body["auth"]["client_token"]
        assert server.call("POST", "/v1/auth/userpass/login/alice", {"password": "wrong"})[0] == 400
        assert server.call("POST", "/v1/auth/userpass/login/alice", {"password": password})[0] == 200

    failed, succeeded = _responses(log, "auth/approle/login")
    assert failed["error"] == "invalid role or secret ID" and not succeeded.get("error")
    failed, succeeded = _responses(log, "auth/userpass/login/alice")
    assert failed["error"] == "invalid username or password" and not succeeded.get("error")
    assert_absent(log, custom_secret)
    assert_absent(log, password)
    assert_absent(log, token)
