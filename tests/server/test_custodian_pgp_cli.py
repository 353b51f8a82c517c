"""Custodian keys end to end: `bao operator init -pgp-keys=FILES`, decrypt each share, unseal."""

import base64
import json

import pysequoia


def test_bao_init_with_pgp_keys_then_unseal_with_decrypted_shares(fresh_server, tmp_path):
    custodians = [pysequoia.Tsk.generate(f"custodian {i} <c{i}@example.org>") for i in range(3)]
    files = []
    for i, tsk in enumerate(custodians):
        path = tmp_path / f"c{i}.pub"
        path.write_bytes(bytes(tsk.extract_certificate()))  # as `gpg --export` writes it
        files.append(str(path))
    out = fresh_server.bao("operator", "init", "-key-shares=3", "-key-threshold=2",
                           f"-pgp-keys={','.join(files)}", "-format=json")
    assert out.returncode == 0, out.stderr
    init = json.loads(out.stdout)
    shares = []
    for tsk, encrypted in zip(custodians, init["unseal_keys_b64"]):
        plain = pysequoia.decrypt(base64.b64decode(encrypted), decryptor=tsk.decryptor()).bytes
        shares.append(plain.decode())  # Vault's convention: the hex share is what was encrypted
    assert all(len(bytes.fromhex(s)) == 33 for s in shares)
    # Any two custodians, each with only their own private key, open the store.
    for share in shares[1:]:
        status, body, _ = fresh_server.call("PUT", "/v1/sys/unseal", {"key": share})
        assert status == 200
    assert body["sealed"] is False


def test_rekey_to_custodian_keys(server):
    custodians = [pysequoia.Tsk.generate(f"new {i} <n{i}@example.org>") for i in range(2)]
    keys = [base64.b64encode(bytes(t.extract_certificate())).decode() for t in custodians]
    status, body, _ = server.root("PUT", "/v1/sys/rotate/root/init",
                                  {"secret_shares": 2, "secret_threshold": 2, "pgp_keys": keys})
    assert status == 200, body
    nonce = body["data"]["nonce"]
    for key in server.keys[:3]:
        status, body, _ = server.root("PUT", "/v1/sys/rotate/root/update", {"key": key, "nonce": nonce})
    done = body["data"]
    assert done["complete"] is True and len(done["pgp_fingerprints"]) == 2
    new = [pysequoia.decrypt(base64.b64decode(k), decryptor=t.decryptor()).bytes.decode()
           for t, k in zip(custodians, done["keys_base64"])]
    server.root("PUT", "/v1/sys/seal")
    for share in new:
        status, body, _ = server.call("PUT", "/v1/sys/unseal", {"key": share})
    assert body["sealed"] is False
