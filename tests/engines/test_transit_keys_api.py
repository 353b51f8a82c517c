"""Transit key ring over HTTP: create/read/list/delete, config, rotate, trim, soft delete and
auto-rotation, with Vault's shapes, status codes and messages (checked against OpenBao 2.7.2)."""

from __future__ import annotations

import base64
import json
import time

import hvac
import pytest
from cryptography.hazmat.primitives import serialization

from test_transit_support import ENVELOPE, NANO_TIME, b64, transit, transit_server  # noqa: F401

COMMON_FIELDS = {
    "name", "type", "derived", "deletion_allowed", "min_available_version", "min_decryption_version",
    "min_encryption_version", "latest_version", "exportable", "allow_plaintext_backup", "supports_encryption",
    "supports_decryption", "supports_signing", "supports_derivation", "auto_rotate_period", "imported_key",
    "soft_deleted",
}
# strongroom's additions (key lifecycle, test_transit_lifecycle_*.py); Vault's fields are unchanged
LIFECYCLE_FIELDS = {"usage_limit", "originator_usage_period", "recipient_usage_period", "destruction_waiting_period",
                    "kcv_algorithm", "compromised_versions", "versions"}
# type -> (supports_encryption, supports_decryption, supports_signing, supports_derivation), as Vault reports
CAPABILITIES = {
    "aes128-gcm96": (True, True, False, True), "aes256-gcm96": (True, True, False, True),
    "chacha20-poly1305": (True, True, False, True), "xchacha20-poly1305": (True, True, False, True),
    "hmac": (False, False, False, False), "rsa-2048": (True, True, True, False), "rsa-3072": (True, True, True, False),
    "rsa-4096": (True, True, True, False), "ecdsa-p256": (False, False, True, False),
    "ecdsa-p384": (False, False, True, False), "ecdsa-p521": (False, False, True, False),
    "ed25519": (False, False, True, True),
}


def test_a_new_key_reads_back_with_vaults_fields(transit):
    created = transit.create("orders")
    status, body = transit.call("GET", "keys/orders")
    assert status == 200 and set(body) == ENVELOPE and body["data"] == created
    data = body["data"]
    assert set(data) == COMMON_FIELDS | {"keys"} | LIFECYCLE_FIELDS
    assert data["type"] == "aes256-gcm96" and data["latest_version"] == 1
    assert data["min_decryption_version"] == 1 and data["min_encryption_version"] == 0
    assert data["min_available_version"] == 0 and data["auto_rotate_period"] == 0
    assert not any(data[f] for f in ("derived", "exportable", "deletion_allowed", "allow_plaintext_backup",
                                      "imported_key", "soft_deleted"))
    assert list(data["keys"]) == ["1"] and abs(data["keys"]["1"] - time.time()) < 60


@pytest.mark.parametrize("key_type", sorted(CAPABILITIES))
def test_every_key_type_reports_what_it_supports(transit, key_type):
    data = transit.create("k", type=key_type)
    flags = (data["supports_encryption"], data["supports_decryption"], data["supports_signing"],
             data["supports_derivation"])
    assert data["type"] == key_type and flags == CAPABILITIES[key_type]
    if key_type == "hmac":
        assert "keys" not in data and data["key_size"] == 32  # Vault shows no versions for hmac keys
    elif CAPABILITIES[key_type][2]:
        entry = data["keys"]["1"]
        assert set(entry) == {"public_key", "creation_time", "name", "certificate_chain"}
        assert NANO_TIME.fullmatch(entry["creation_time"]) and entry["certificate_chain"] == ""
        expected_name = {"ecdsa-p256": "P-256", "ecdsa-p384": "P-384", "ecdsa-p521": "P-521"}.get(key_type, key_type)
        assert entry["name"] == expected_name
        if key_type == "ed25519":
            assert len(base64.b64decode(entry["public_key"])) == 32
        else:
            assert entry["public_key"].endswith("-----END PUBLIC KEY-----\n")
            serialization.load_pem_public_key(entry["public_key"].encode())


def test_creating_an_existing_key_returns_it_unchanged(transit):
    first = transit.create("same", type="ecdsa-p256")
    assert transit.create("same", type="rsa-2048", exportable=True) == first


@pytest.mark.parametrize("body, message", [
    ({"type": "bogus"}, "unknown key type bogus"),
    ({"type": "ecdsa-p256", "derived": True},
     "key derivation and convergent encryption not supported for keys of type ecdsa-p256"),
    ({"type": "ed25519", "derived": True, "convergent_encryption": True},
     "convergent encryption not supported for keys of type ed25519"),
    ({"convergent_encryption": True}, "convergent encryption requires derivation to be enabled"),
    ({"key_size": 64}, "key_size is not valid for algorithm aes256-gcm96"),
    ({"type": "hmac", "key_size": 16}, "invalid key_size 16"),
    ({"auto_rotate_period": "30m"}, "auto rotate period must be 0 to disable or at least an hour"),
    ({"derived": "notbool"}, 'Field validation failed: error converting input for field "derived": \'\' cannot '
                             "parse value as 'bool': strconv.ParseBool: invalid syntax"),
    ({"auto_rotate_period": "bogus"}, 'Field validation failed: error converting input for field '
                                      '"auto_rotate_period": time: invalid duration "bogus"'),
])
def test_bad_key_definitions_are_400s_naming_the_problem(transit, body, message):
    assert transit.post("keys/bad", body) == (400, {"errors": [message]})
    assert transit.call("GET", "keys/bad") == (404, {"errors": []})


def test_cli_style_string_values_are_accepted(transit):
    data = transit.create("cli", derived="true", exportable="1", auto_rotate_period="1h30m")
    assert data["derived"] is True and data["exportable"] is True and data["auto_rotate_period"] == 5400
    assert data["kdf"] == "hkdf_sha256" and data["convergent_encryption"] is False


def test_listing_keys(transit):
    assert transit.call("LIST", "keys") == (404, {"errors": []})
    for name in ("b", "a", "c.d"):
        transit.create(name)
    assert transit.ok("LIST", "keys") == {"keys": ["a", "b", "c.d"]}
    assert transit.ok("GET", "keys?list=true") == {"keys": ["a", "b", "c.d"]}
    assert transit.ok("GET", "keys?list=true&after=a&limit=1") == {"keys": ["b"]}


def test_delete_needs_deletion_allowed_and_removes_the_record(transit):
    transit.create("gone")
    assert transit.call("DELETE", "keys/gone") == (
        400, {"errors": ["error deleting policy gone: deletion is not allowed for this key"]})
    assert transit.call("DELETE", "keys/nope") == (
        400, {"errors": ["error deleting policy nope: could not delete key; not found"]})
    transit.ok("POST", "keys/gone/config", {"deletion_allowed": True})
    assert transit.call("DELETE", "keys/gone") == (204, None)
    assert transit.call("GET", "keys/gone") == (404, {"errors": []})
    assert transit.engine.view.get("policy/gone") is None


def test_rotate_adds_a_version_and_old_ciphertexts_still_decrypt(transit):
    transit.create("r")
    old = transit.encrypt("r", b"first")
    data = transit.ok("POST", "keys/r/rotate")
    assert data["latest_version"] == 2 and set(data["keys"]) == {"1", "2"}
    new = transit.encrypt("r", b"second")
    assert old.startswith("vault:v1:") and new.startswith("vault:v2:")
    assert transit.decrypt("r", old) == b"first" and transit.decrypt("r", new) == b"second"
    assert transit.post("keys/nope/rotate") == (400, {"errors": ["key not found"]})


def test_config_enforces_vaults_version_rules(transit):
    transit.create("c")
    transit.post("keys/c/rotate")
    transit.post("keys/c/rotate")
    status, body = transit.post("keys/c/config", {"min_decryption_version": 0})
    assert status == 200 and body["warnings"] == [
        "since Vault 0.3 (prior to the OpenBao fork), transit key numbering starts at 1; forcing minimum to 1"]
    assert transit.post("keys/c/config", {"min_decryption_version": 5}) == (
        400, {"errors": ["cannot set min decryption version of 5, latest key version is 3"]})
    assert transit.post("keys/c/config", {"min_decryption_version": 3, "min_encryption_version": 2}) == (
        400, {"errors": ["cannot set min encryption/decryption values; min encryption version of 2 must be "
                         "greater than or equal to min decryption version of 3"]})
    assert transit.post("keys/nope/config", {"deletion_allowed": True}) == (
        400, {"errors": ["no existing key named nope could be found"]})
    data = transit.ok("POST", "keys/c/config", {"min_decryption_version": 2, "min_encryption_version": 3})
    assert set(data["keys"]) == {"2", "3"}  # Vault shows only versions that may still decrypt
    old = transit.engine.store.get("c")
    assert sorted(old.versions) == [1, 2, 3]  # version 1 is kept, only hidden, until a trim
    assert transit.post("encrypt/c", {"plaintext": "aGk=", "key_version": 2}) == (
        400, {"errors": ["requested version for encryption is less than the minimum encryption key version"]})


def test_exportable_and_plaintext_backup_can_be_turned_on_never_off(transit):
    transit.create("x")
    assert transit.ok("POST", "keys/x/config", {"exportable": True, "allow_plaintext_backup": True})["exportable"]
    data = transit.ok("POST", "keys/x/config", {"exportable": False, "allow_plaintext_backup": False})
    assert data["exportable"] is True and data["allow_plaintext_backup"] is True


def test_trim_deletes_old_versions_for_good(transit):
    transit.create("t")
    old = transit.encrypt("t", b"v1 data")
    transit.post("keys/t/rotate")
    assert transit.post("keys/t/trim", {"min_available_version": 1}) == (
        400, {"errors": ["minimum available version cannot be set when minimum encryption version is not set"]})
    transit.ok("POST", "keys/t/config", {"min_decryption_version": 2, "min_encryption_version": 2})
    assert transit.post("keys/t/trim", {"min_available_version": 3}) == (
        400, {"errors": ["minimum available version cannot be greater than minmum encryption version"]})
    assert transit.post("keys/t/trim", {}) == (400, {"errors": ["missing min_available_version"]})
    data = transit.ok("POST", "keys/t/trim", {"min_available_version": 2})
    assert data["min_available_version"] == 2 and list(data["keys"]) == ["2"]
    record = transit.engine.view.get("policy/t")
    assert [v["n"] for v in record["versions"]] == [2]
    assert transit.post("keys/t/trim", {"min_available_version": 1}) == (
        400, {"errors": ["minimum available version cannot be decremented"]})
    assert transit.post("keys/t/config", {"min_decryption_version": 1}) == (
        400, {"errors": ["min decryption version should not be less then min available version"]})
    assert transit.post("decrypt/t", {"ciphertext": old}) == (
        400, {"errors": ["ciphertext or signature version is disallowed by policy (too old)"]})


def test_a_soft_deleted_key_refuses_every_operation_until_restored(transit):
    transit.create("s")
    ciphertext = transit.encrypt("s", b"kept")
    status, body = transit.call("DELETE", "keys/s/soft-delete")
    assert status == 200 and body["data"]["soft_deleted"] is True
    for path, body in (("encrypt/s", {"plaintext": "aGk="}), ("decrypt/s", {"ciphertext": ciphertext}),
                       ("hmac/s", {"input": "aGk="}), ("keys/s/rotate", {})):
        assert transit.post(path, body) == (400, {"errors": ["refusing to use soft-deleted key"]})
    status, body = transit.post("keys/s/soft-delete-restore")
    assert status == 200 and body["data"]["soft_deleted"] is False and body["warnings"] is None
    assert transit.decrypt("s", ciphertext) == b"kept"


def test_auto_rotation_happens_when_the_period_has_run_out(transit):
    transit.create("auto", auto_rotate_period="1h")
    transit.create("manual")
    engine = transit.engine
    engine.tick(time.time() + 60)
    assert transit.ok("GET", "keys/auto")["latest_version"] == 1
    engine.tick(time.time() + 3601)
    assert transit.ok("GET", "keys/auto")["latest_version"] == 2
    assert transit.ok("GET", "keys/manual")["latest_version"] == 1
    engine.tick(time.time() + 1800)  # the new version restarted the period
    assert transit.ok("GET", "keys/auto")["latest_version"] == 2
    transit.ok("POST", "keys/auto/config", {"auto_rotate_period": 0})
    engine.tick(time.time() + 10 * 3600)
    assert transit.ok("GET", "keys/auto")["latest_version"] == 2


def test_keys_are_stored_encrypted_and_survive_seal_and_unseal(transit):
    server = transit.server
    transit.create("durable", exportable=True)
    raw_key = base64.b64decode(transit.ok("GET", "export/encryption-key/durable/1")["keys"]["1"])
    ciphertext = transit.encrypt("durable", b"across a seal")
    disk = b"".join(p.read_bytes() for p in server.data_dir.rglob("*") if p.is_file())
    assert b"policy/durable" in disk and raw_key not in disk  # the path is plain, the record is ciphertext
    cached = transit.engine.store.get("durable")
    buffers = [b for v in cached.versions.values() for b in (v.secret, v.hmac_key)]
    assert buffers and not any(b.closed for b in buffers)
    assert server.root("PUT", "/v1/sys/seal")[0] == 204
    assert all(b.closed for b in buffers) and cached.versions == {}  # the cache is zeroed and dropped
    for share in server.keys[:3]:
        server.call("PUT", "/v1/sys/unseal", {"key": share})
    assert transit.decrypt("durable", ciphertext) == b"across a seal"


def test_reprs_never_show_key_material(transit):
    transit.create("quiet", exportable=True)
    raw = transit.ok("GET", "export/encryption-key/quiet/1")["keys"]["1"]
    key = transit.engine.store.get("quiet")
    texts = [repr(key), str(key), repr(key.versions[1]), repr(key.versions[1].secret), repr(transit.engine.store)]
    assert all(raw not in text and base64.b64decode(raw).hex() not in text for text in texts)
    assert b64(base64.b64decode(raw)) not in repr(key.to_record().keys())


def test_key_management_with_hvac_and_the_bao_cli(transit):
    client = hvac.Client(url=transit.server.url, token=transit.server.root_token).secrets.transit
    mount = transit.mount
    client.create_key("hv", key_type="ecdsa-p384", exportable=True, mount_point=mount)
    assert client.read_key("hv", mount_point=mount)["data"]["keys"]["1"]["name"] == "P-384"
    client.rotate_key("hv", mount_point=mount)
    client.rotate_key("hv", mount_point=mount)
    client.update_key_configuration("hv", min_decryption_version=2, min_encryption_version=3, deletion_allowed=True,
                                    mount_point=mount)
    assert client.trim_key("hv", min_version=2, mount_point=mount)["data"]["min_available_version"] == 2
    assert list(client.export_key("hv", key_type="signing-key", mount_point=mount)["data"]["keys"]) == ["2", "3"]
    assert client.list_keys(mount_point=mount)["data"]["keys"] == ["hv"]
    client.delete_key("hv", mount_point=mount)
    with pytest.raises(hvac.exceptions.InvalidPath):
        client.read_key("hv", mount_point=mount)
    bao = transit.server.bao
    token = transit.server.root_token
    created = bao("write", "-format=json", f"{mount}/keys/cli", "type=ed25519", "exportable=true",
                  "auto_rotate_period=24h", token=token)
    assert created.returncode == 0, created.stderr
    data = json.loads(created.stdout)["data"]
    assert data["exportable"] is True and data["auto_rotate_period"] == 86400 and data["type"] == "ed25519"
    refused = bao("write", f"{mount}/keys/cli2", "type=bogus", token=token)
    assert refused.returncode == 2 and "unknown key type bogus" in refused.stderr
    listed = bao("list", "-format=json", f"{mount}/keys", token=token)
    assert json.loads(listed.stdout) == ["cli"]
