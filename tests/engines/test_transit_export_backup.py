"""export, backup and restore: Vault's encodings and rules, backups in Vault's format (an
OpenBao-made backup restores here and its ciphertexts decrypt), and auto-rotation carried out
by the running server's own ticker."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import load_der_private_key, load_pem_private_key

from test_transit_support import b64, mount_transit, transit, transit_server  # noqa: F401

FIXTURES = json.loads((Path(__file__).resolve().parents[1] / "vectors" / "openbao_transit_backups.json").read_text())


def export(transit, kind, name, suffix=""):
    return transit.ok("GET", f"export/{kind}/{name}{suffix}")


def test_only_exportable_keys_give_out_secrets(transit):
    transit.create("closed", type="ecdsa-p256")
    assert transit.call("GET", "export/signing-key/closed") == (400, {"errors": ["private key material is not exportable"]})
    public = export(transit, "public-key", "closed")  # public keys export from any key
    assert public["keys"]["1"].startswith("-----BEGIN PUBLIC KEY-----") and not public["keys"]["1"].endswith("\n")
    assert transit.call("GET", "export/encryption-key/nope") == (404, {"errors": []})
    assert transit.call("GET", "export/bogus/closed") == (400, {"errors": ["invalid export type: bogus"]})
    assert transit.call("GET", "export/public-key/closed?format=bogus") == (400, {"errors": ["invalid format: bogus"]})


def test_export_versions(transit):
    transit.create("x", exportable=True)
    transit.post("keys/x/rotate")
    transit.post("keys/x/rotate")
    assert set(export(transit, "encryption-key", "x")["keys"]) == {"1", "2", "3"}
    assert set(export(transit, "encryption-key", "x", "/latest")["keys"]) == {"3"}
    assert export(transit, "encryption-key", "x", "/v2")["keys"] == export(transit, "encryption-key", "x", "/2")["keys"]
    assert transit.call("GET", "export/encryption-key/x/9") == (400, {"errors": ["version does not exist or cannot be found"]})
    assert transit.call("GET", "export/encryption-key/x/y") == (400, {"errors": ["invalid key version"]})
    transit.ok("POST", "keys/x/config", {"min_decryption_version": 2})
    assert set(export(transit, "encryption-key", "x")["keys"]) == {"2", "3"}
    assert transit.call("GET", "export/encryption-key/x/1") == (
        400, {"errors": ["version for export is below minimum decryption version"]})
    assert transit.call("GET", "export/signing-key/x") == (400, {"errors": ["signing not supported for the key"]})
    assert transit.call("GET", "export/encryption-key/x?format=pem") == (
        400, {"errors": ["unknown format for HMAC key; supported values are `` or `raw`"]})


@pytest.mark.parametrize("key_type, cls", [("ecdsa-p384", ec.EllipticCurvePrivateKey), ("rsa-2048", rsa.RSAPrivateKey),
                                           ("ed25519", ed25519.Ed25519PrivateKey)])
def test_signing_keys_export_in_vaults_formats(transit, key_type, cls):
    transit.create("s", type=key_type, exportable=True)
    default = export(transit, "signing-key", "s")["keys"]["1"]
    der = load_der_private_key(base64.b64decode(export(transit, "signing-key", "s", "?format=der")["keys"]["1"]), None)
    pem = load_pem_private_key(export(transit, "signing-key", "s", "?format=pem")["keys"]["1"].encode(), None)
    assert isinstance(der, cls) and isinstance(pem, cls)
    if key_type == "ed25519":  # Go's 64-byte private key: seed, then public key
        raw = base64.b64decode(default)
        public = base64.b64decode(transit.ok("GET", "keys/s")["keys"]["1"]["public_key"])
        assert len(raw) == 64 and raw[32:] == public
        derived_public = ed25519.Ed25519PrivateKey.from_private_bytes(raw[:32]).public_key()
        assert derived_public.public_bytes_raw() == public
    else:
        marker = "EC PRIVATE KEY" if key_type.startswith("ecdsa") else "RSA PRIVATE KEY"
        assert default.startswith(f"-----BEGIN {marker}-----")
        assert default.endswith("\n") == key_type.startswith("rsa")  # Vault trims EC PEM, not RSA PEM
        assert isinstance(load_pem_private_key(default.encode(), None), cls)
    signature = transit.ok("POST", "sign/s", {"input": "aGk="})["signature"]
    assert signature.startswith("vault:v1:")


def test_backup_needs_exportable_and_plaintext_backup(transit):
    transit.create("plain")
    transit.create("half", exportable=True)
    assert transit.call("GET", "backup/plain") == (400, {"errors": ["exporting is disallowed on the policy"]})
    assert transit.call("GET", "backup/half") == (400, {"errors": ["plaintext backup is disallowed on the policy"]})
    assert transit.call("GET", "backup/nope") == (400, {"errors": ['key "nope" not found']})


def test_backup_and_restore_round_trip(transit_server):
    source, target = mount_transit(transit_server), mount_transit(transit_server)
    source.create("b", type="chacha20-poly1305", derived=True, exportable=True, allow_plaintext_backup=True)
    source.post("keys/b/rotate")
    ciphertexts = [source.encrypt("b", b"v%d" % v, context=b64(b"c"), key_version=v) for v in (1, 2)]
    backup = source.ok("GET", "backup/b")["backup"]
    document = json.loads(base64.b64decode(backup))
    assert document["policy"]["type"] == 5 and document["policy"]["kdf"] == 1  # Vault's codes
    assert [e["key"] is None for e in document["archived_keys"]["keys"]] == [True, False, False]
    assert source.ok("GET", "keys/b")["backup_info"]["version"] == 2
    assert target.post("restore", {"backup": backup}) == (204, None)
    assert target.post("restore", {"backup": backup}) == (400, {"errors": ['key "b" already exists']})
    assert target.post("restore", {"backup": backup, "force": True}) == (204, None)
    assert target.post("restore/renamed", {"backup": backup}) == (204, None)
    restored = target.ok("GET", "keys/renamed")
    assert restored["name"] == "renamed" and restored["restore_info"]["version"] == 2
    for version, ciphertext in enumerate(ciphertexts, 1):
        assert target.decrypt("renamed", ciphertext, context=b64(b"c")) == b"v%d" % version
    for body, message in (({}, "'backup' must be supplied"), ({"backup": "!!"}, "illegal base64 data at input byte 0"),
                          ({"backup": b64(b"{}")}, "invalid backup: not a transit key backup"),
                          ({"backup": b64(b"not json")}, "invalid backup: not a transit key backup")):
        assert target.post("restore", body) == (400, {"errors": [message]})
    assert target.post("restore/a/b", {"backup": backup}) == (400, {"errors": ["key names cannot be paths"]})


@pytest.mark.parametrize("name", sorted(FIXTURES["keys"]))
def test_an_openbao_backup_restores_and_its_outputs_verify(transit, name):
    fixture = FIXTURES["keys"][name]
    assert transit.post(f"restore/{name}", {"backup": fixture["backup"]}) == (204, None)
    assert transit.ok("GET", f"keys/{name}")["latest_version"] == 2
    for made in fixture["made_by_openbao"]:
        if made["op"] == "decrypt":
            result = transit.ok("POST", f"decrypt/{name}", {"ciphertext": made["ciphertext"], "context": made["context"]})
            assert result == {"plaintext": made["plaintext"]}
        elif made["op"] == "verify":
            body = {"input": made["input"], "signature": made["signature"]}
            assert transit.ok("POST", f"verify/{name}", body) == {"valid": True}
        else:
            assert transit.ok("POST", f"hmac/{name}", {"input": made["input"]}) == {"hmac": made["hmac"]}


def test_the_running_server_rotates_keys_on_schedule(transit):
    """The server's own ticker (no direct tick call): a restored key whose latest version is two
    hours old, with a one-hour period, is rotated within a couple of seconds."""
    fixture = json.loads(base64.b64decode(FIXTURES["keys"]["ecdsa"]["backup"]))
    two_hours_ago = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 7200))
    for entry in list(fixture["policy"]["keys"].values()) + fixture["archived_keys"]["keys"][1:]:
        entry["time"] = two_hours_ago
    fixture["policy"]["auto_rotate_period"] = 3600 * 10**9
    assert transit.post("restore/old", {"backup": b64(json.dumps(fixture).encode())}) == (204, None)
    deadline = time.monotonic() + 10
    while transit.ok("GET", "keys/old")["latest_version"] == 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    data = transit.ok("GET", "keys/old")
    assert data["latest_version"] == 3 and data["auto_rotate_period"] == 3600
    assert transit.ok("POST", "sign/old", {"input": "aGk="})["key_version"] == 3
