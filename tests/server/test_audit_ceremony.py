"""The custodians' ceremonies in the audit log: init, each unseal submission and its outcome,
seal and rekey are recorded (held in memory until the barrier gives the device its salt),
and no share — old or new, hex or base64 — reaches the log, not even as an HMAC."""

from __future__ import annotations

import base64

from test_audit_support import DEVICE, assert_absent, audited_server, device_hash, entries

REKEY = "/v1/sys/rotate/root"  # the authenticated rekey (the legacy sys/rekey is off by default)


def _steps(log) -> list[tuple]:
    """(type, path, status or None, progress or None) for every ceremony line."""
    out = []
    for e in entries(log):
        response = e.get("response", {})
        data = response.get("data") if isinstance(response.get("data"), dict) else {}
        out.append((e["type"], e["request"]["path"], response.get("status"), data.get("progress")))
    return out


def test_ceremony_is_recorded_in_order_once_unsealed_and_shares_never_are(tmp_path):
    with audited_server(tmp_path, unseal=False) as (server, log):
        old_keys = list(server.keys)
        status, body, _ = server.call("PUT", "/v1/sys/unseal", {"key": "zz-not-a-share"})
        assert status == 400
        bad_share_error = body["errors"][0]
        server.call("PUT", "/v1/sys/unseal", {"key": old_keys[0]})
        server.call("PUT", "/v1/sys/unseal", {"key": base64.b64encode(bytes.fromhex(old_keys[1])).decode()})
        # Sealed: no salt yet, so nothing may be written; the events wait in memory.
        assert not log.exists() or log.read_bytes() == b""
        status, body, _ = server.call("PUT", "/v1/sys/unseal", {"key": old_keys[2]})
        assert status == 200 and body["sealed"] is False
        assert server.call("GET", "/v1/sys/seal-status")[0] == 200  # status reads are not audited (Vault)

        assert server.root("PUT", "/v1/sys/seal")[0] == 204
        for key in old_keys[:3]:
            server.call("PUT", "/v1/sys/unseal", {"key": key})

        status, body, _ = server.root("PUT", f"{REKEY}/init", {"secret_shares": 3, "secret_threshold": 2,
                                                                "require_verification": True})
        assert status == 200, body
        nonce = body["data"]["nonce"]
        for key in old_keys[:3]:
            status, body, _ = server.root("PUT", f"{REKEY}/update", {"key": key, "nonce": nonce})
            assert status == 200, body
        new_keys, new_keys_b64 = body["data"]["keys"], body["data"]["keys_base64"]
        verify_nonce = body["data"]["verification_nonce"]
        for key in new_keys[:2]:
            status, body, _ = server.root("PUT", f"{REKEY}/verify", {"key": key, "nonce": verify_nonce})
            assert status == 200, body
        assert body["data"]["complete"] is True
        share_hashes = [device_hash(server, k) for k in (*old_keys, *new_keys, *new_keys_b64)]
        root_token = server.root_token

    for key in (*old_keys, *new_keys):
        assert_absent(log, key, also=(key.upper(),))
    for key in new_keys_b64:
        assert_absent(log, key)
    assert_absent(log, root_token)
    assert_absent(log, "zz-not-a-share")
    content = log.read_bytes()
    for digest in share_hashes:
        assert digest.encode() not in content, "a share's HMAC reached the log"

    steps = _steps(log)
    unseal = "sys/unseal"
    first_unseal = [
        ("request", "sys/init", None, None), ("response", "sys/init", 200, None),
        ("request", unseal, None, None), ("response", unseal, 400, None),
        ("request", unseal, None, None), ("response", unseal, 200, 1),
        ("request", unseal, None, None), ("response", unseal, 200, 2),
        ("request", unseal, None, None), ("response", unseal, 200, 0),
    ]
    assert steps[:10] == first_unseal
    assert entries(log)[3]["error"] == bad_share_error
    assert entries(log)[9]["response"]["data"]["sealed"] is False
    assert steps[10:12] == [("request", "sys/seal", None, None), ("response", "sys/seal", 204, None)]
    assert [s[:3] for s in steps[12:18]] == [("request", unseal, None), ("response", unseal, 200)] * 3
    assert [s[3] for s in steps[12:18:2]] == [None] * 3 and [s[3] for s in steps[13:18:2]] == [1, 2, 0]
    rekey = [(kind, path, status) for kind, path, status, _ in steps[18:]]
    rekey_paths = ["sys/rotate/root/init"] + ["sys/rotate/root/update"] * 3 + ["sys/rotate/root/verify"] * 2
    assert rekey == [(kind, path, status) for path in rekey_paths
                     for kind, status in (("request", None), ("response", 200))]
    issued = [e for e in entries(log)
              if e["request"]["path"] == "sys/rotate/root/update" and e["type"] == "response"][-1]
    assert issued["response"]["data"]["complete"] is True
    assert not {"keys", "keys_base64"} & set(issued["response"]["data"])
    for e in entries(log):
        assert not (e["request"]["data"] or {}).keys() & {"key", "keys", "keys_base64"}


def test_events_while_sealed_are_blanked_not_hashed(tmp_path):
    """Before the barrier opens there is no salt: buffered strings are blanked, not hashed."""
    with audited_server(tmp_path, unseal=False) as (server, log):
        for key in server.keys[:3]:
            server.call("PUT", "/v1/sys/unseal", {"key": key})
        assert list(server.core.audit.list()) == [DEVICE]
        token_hash = device_hash(server, server.root_token)
        root_token = server.root_token
    init = entries(log)[1]
    assert init["request"]["path"] == "sys/init" and init["type"] == "response"
    assert "root_token" in init["response"]["data"]
    assert not {"keys", "keys_base64"} & set(init["response"]["data"])
    assert init["response"]["data"]["root_token"] not in (root_token, token_hash)
    assert init["request"]["remote_address"] == "127.0.0.1"
