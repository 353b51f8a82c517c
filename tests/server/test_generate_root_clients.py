"""Generate-root with the clients people run: hvac (legacy sys/generate-root/*) and the bao
CLI (authenticated sys/generate-root-token/*, including for -decode), after the init root
token was revoked, as Vault advises."""

import json

import hvac
import pytest

from test_generate_root_api import legacy  # noqa: F401 (a fixture)

BREAK_GLASS = 'path "sys/generate-root-token/*" { capabilities = ["read", "update", "delete", "sudo"] }'


def revoke_root(server) -> str:
    """Leave only a break-glass token that may run the ceremony; revoke the init root token."""
    assert server.root("PUT", "/v1/sys/policy/break-glass", {"policy": BREAK_GLASS})[0] in (200, 204)
    # An orphan: revoking the root token revokes its children too.
    status, body, _ = server.root("POST", "/v1/auth/token/create-orphan", {"policies": ["break-glass"]})
    assert status == 200
    assert server.root("POST", "/v1/auth/token/revoke-self")[0] == 204
    assert server.root("GET", "/v1/sys/mounts")[0] == 403
    return body["auth"]["client_token"]


def bao_json(server, *args, token):
    out = server.bao("operator", "generate-root", "-format=json", *args, token=token)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_hvac_ceremony_on_the_legacy_endpoints(legacy):
    client = hvac.Client(url=legacy.url)  # no token: the legacy endpoints are unauthenticated
    assert client.sys.read_root_generation_progress()["started"] is False
    otp = "abcdefghijklmnopqrstuvwxyz"
    started = client.sys.start_root_token_generation(otp=otp)
    assert started["started"] and started["otp"] == "" and started["otp_length"] == 26
    nonce = started["nonce"]
    for expected, key in enumerate(legacy.keys[:3], start=1):
        reply = client.sys.generate_root(key=key, nonce=nonce)
        assert reply["progress"] == expected
    assert reply["complete"] and reply["encoded_root_token"] == reply["encoded_token"]
    token = legacy.bao("operator", "generate-root", "-decode=" + reply["encoded_root_token"], "-otp=" + otp,
                       token=legacy.root_token).stdout.strip()
    assert hvac.Client(url=legacy.url, token=token).sys.list_mounted_secrets_engines()["data"]


def test_hvac_generated_otp_and_cancel(legacy):
    client = hvac.Client(url=legacy.url)
    started = client.sys.start_root_token_generation()
    assert len(started["otp"]) == 26
    client.sys.generate_root(key=legacy.keys[0], nonce=started["nonce"])
    assert client.sys.read_root_generation_progress()["progress"] == 1
    assert client.sys.cancel_root_generation().status_code == 204
    assert client.sys.read_root_generation_progress() == {
        "nonce": "", "started": False, "progress": 0, "required": 3, "complete": False, "encoded_token": "",
        "encoded_root_token": "", "pgp_fingerprint": "", "otp": "", "otp_length": 26}
    with pytest.raises(hvac.exceptions.InvalidRequest, match="no root generation in progress"):
        client.sys.generate_root(key=legacy.keys[1], nonce=started["nonce"])


def test_bao_cli_ceremony_after_the_root_token_was_revoked(server):
    old_root = server.root_token
    glass = revoke_root(server)
    out = server.bao("operator", "generate-root", "-generate-otp", token=glass)
    assert out.returncode == 0, out.stderr
    otp = out.stdout.strip()
    assert len(otp) == 26
    started = bao_json(server, "-init", "-otp=" + otp, token=glass)
    assert started["started"] and started["otp"] == "" and started["otp_length"] == 26
    for key in server.keys[1:4]:
        reply = bao_json(server, "-nonce=" + started["nonce"], key, token=glass)
    assert reply["complete"] and reply["progress"] == 3 and reply["encoded_token"]
    out = server.bao("operator", "generate-root", "-decode=" + reply["encoded_token"], "-otp=" + otp, token=glass)
    assert out.returncode == 0, out.stderr
    new_root = out.stdout.strip()
    assert new_root.startswith("s.") and new_root != old_root
    status, body, _ = server.call("GET", "/v1/sys/mounts", token=new_root)
    assert status == 200 and "sys/" in body["data"]
    assert server.call("GET", "/v1/sys/mounts", token=old_root)[0] == 403  # the revoked one stays revoked
    assert server.call("GET", "/v1/auth/token/lookup-self", token=old_root)[0] == 403


def test_bao_cli_two_of_five_a_wrong_nonce_and_cancel(server):
    glass = revoke_root(server)
    started = bao_json(server, "-init", token=glass)
    assert len(started["otp"]) == 26  # no -otp: the server generates one and shows it once
    out = server.bao("operator", "generate-root", "-nonce=not-the-nonce", server.keys[0], token=glass)
    assert out.returncode == 2 and "incorrect nonce supplied" in out.stderr
    assert started["nonce"] not in out.stderr
    for key in server.keys[:2]:
        reply = bao_json(server, "-nonce=" + started["nonce"], key, token=glass)
    assert not reply["complete"] and reply["encoded_token"] == ""
    status = bao_json(server, "-status", token=glass)
    assert (status["progress"], status["required"], status["otp"]) == (2, 3, "")
    out = server.bao("operator", "generate-root", "-cancel", token=glass)
    assert out.returncode == 0 and "canceled" in out.stdout
    assert server.call("GET", "/v1/sys/generate-root-token/attempt", token=glass)[1]["data"]["started"] is False
    assert server.call("GET", "/v1/sys/mounts", token=server.root_token)[0] == 403
