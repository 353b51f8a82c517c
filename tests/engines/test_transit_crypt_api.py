"""encrypt, decrypt, rewrap and datakey: Vault's ciphertext layout (checked here by decrypting
with the exported key and standard primitives), batches, derivation with both KDFs,
convergent encryption, and tampered or foreign ciphertexts that must be 400s, never 500s."""

from __future__ import annotations

import base64
import hashlib
import hmac

import hvac
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from Crypto.Cipher import ChaCha20_Poly1305
from hypothesis import given, settings
from hypothesis import strategies as st

from test_transit_support import CIPHERTEXT, b64, mount_transit, transit, transit_server, unb64  # noqa: F401

AEAD_TYPES = ("aes128-gcm96", "aes256-gcm96", "chacha20-poly1305", "xchacha20-poly1305")
NONCE_BYTES = {"aes128-gcm96": 12, "aes256-gcm96": 12, "chacha20-poly1305": 12, "xchacha20-poly1305": 24}
AUTH_FAILED = {"aes128-gcm96": "cipher: message authentication failed",
               "aes256-gcm96": "cipher: message authentication failed",
               "chacha20-poly1305": "chacha20poly1305: message authentication failed",
               "xchacha20-poly1305": "chacha20poly1305: message authentication failed"}
MISSING_CONTEXT = ("missing 'context' for key derivation; the key was created using a derived key, which means "
                   "additional, per-request information must be included in order to perform operations with the key")
HYPOTHESIS = settings(max_examples=25, deadline=None)


def exported_key(transit, name: str, version: int = 1) -> bytes:
    return base64.b64decode(transit.ok("GET", f"export/encryption-key/{name}/{version}")["keys"][str(version)])


def local_open(key_type: str, key: bytes, blob: bytes, aad: bytes | None = None) -> bytes:
    """Decrypt Vault's nonce || ciphertext || tag with a standard implementation."""
    nonce, body = blob[:NONCE_BYTES[key_type]], blob[NONCE_BYTES[key_type]:]
    if key_type == "xchacha20-poly1305":
        cipher = ChaCha20_Poly1305.new(key=key, nonce=nonce)
        if aad:
            cipher.update(aad)
        return cipher.decrypt_and_verify(body[:-16], body[-16:])
    primitive = ChaCha20Poly1305 if key_type == "chacha20-poly1305" else AESGCM
    return primitive(key).decrypt(nonce, body, aad)


@pytest.mark.parametrize("key_type", AEAD_TYPES)
def test_ciphertexts_are_vaults_layout_under_the_exported_key(transit, key_type):
    transit.create("k", type=key_type, exportable=True)
    ciphertext = transit.encrypt("k", b"attack at dawn", associated_data=b64(b"order-17"))
    version, payload = CIPHERTEXT.fullmatch(ciphertext).groups()
    blob = base64.b64decode(payload)
    assert version == "1" and len(blob) == NONCE_BYTES[key_type] + len(b"attack at dawn") + 16
    assert local_open(key_type, exported_key(transit, "k"), blob, b"order-17") == b"attack at dawn"
    assert transit.decrypt("k", ciphertext, associated_data=b64(b"order-17")) == b"attack at dawn"


def test_rsa_keys_encrypt_with_oaep_sha256(transit):
    transit.create("r", type="rsa-2048", exportable=True)
    ciphertext = transit.encrypt("r", b"for rsa")
    pem = transit.ok("GET", "export/encryption-key/r/1")["keys"]["1"]
    private = load_pem_private_key(pem.encode(), None)
    oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
    assert private.decrypt(base64.b64decode(ciphertext.split(":")[2]), oaep) == b"for rsa"
    assert transit.decrypt("r", ciphertext) == b"for rsa"
    assert transit.post("decrypt/r", {"ciphertext": "vault:v1:" + b64(b"\x01" * 256)}) == (
        400, {"errors": ["failed to RSA decrypt the ciphertext: crypto/rsa: decryption error"]})
    assert transit.post("encrypt/r", {"plaintext": "aGk=", "associated_data": "YWQ="}) == (
        400, {"errors": ["'[0].associated_data' provided for non-AEAD cipher suite rsa-2048"]})


@pytest.fixture(scope="module")
def shared(transit_server):
    """One mount for every example of the property tests (a mount per example is slow)."""
    transit = mount_transit(transit_server)
    transit.create("rt")
    transit.create("flip", type="chacha20-poly1305")
    return transit


@given(plaintext=st.binary(max_size=300), aad=st.binary(max_size=40))
@HYPOTHESIS
def test_any_plaintext_round_trips(shared, plaintext, aad):
    extra = {"associated_data": b64(aad)} if aad else {}
    assert shared.decrypt("rt", shared.encrypt("rt", plaintext, **extra), **extra) == plaintext


@given(position=st.integers(min_value=0), bit=st.integers(min_value=0, max_value=7))
@HYPOTHESIS
def test_flipping_any_bit_of_a_ciphertext_is_a_400(shared, position, bit):
    blob = bytearray(base64.b64decode(shared.encrypt("flip", b"integrity").split(":")[2]))
    blob[position % len(blob)] ^= 1 << bit
    assert shared.post("decrypt/flip", {"ciphertext": "vault:v1:" + b64(bytes(blob))}) == (
        400, {"errors": ["chacha20poly1305: message authentication failed"]})


@given(garbage=st.text(max_size=80))
@HYPOTHESIS
def test_garbage_ciphertexts_are_400s(shared, garbage):
    status, body = shared.post("decrypt/rt", {"ciphertext": garbage})
    assert status == 400 and len(body["errors"]) == 1


@pytest.mark.parametrize("ciphertext, message", [
    ("foo", "invalid ciphertext: no prefix"),
    ("vault:v1AAAA", "invalid ciphertext: wrong number of fields"),
    ("vault:vx:AAAA", "invalid ciphertext: version number could not be decoded"),
    ("vault:v9:AAAA", "invalid ciphertext: version is too new"),
    ("vault:v1:!!", "invalid ciphertext: could not decode base64"),
    ("vault:v1:AAAA", "invalid ciphertext length"),
    ("vault:v-1:AAAA", "ciphertext or signature version is disallowed by policy (too old)"),
    ("vault:v1:" + "A" * 44, "cipher: message authentication failed"),
])
def test_malformed_ciphertexts_get_vaults_messages(transit, ciphertext, message):
    transit.create("m")
    assert transit.post("decrypt/m", {"ciphertext": ciphertext}) == (400, {"errors": [message]})


def test_a_ciphertext_from_another_key_or_with_other_data_fails(transit):
    transit.create("a")
    transit.create("b")
    ciphertext = transit.encrypt("a", b"mine", associated_data=b64(b"ad"))
    assert transit.post("decrypt/b", {"ciphertext": ciphertext, "associated_data": b64(b"ad")})[0] == 400
    assert transit.post("decrypt/a", {"ciphertext": ciphertext})[0] == 400
    assert transit.post("decrypt/a", {"ciphertext": ciphertext, "associated_data": b64(b"other")})[0] == 400
    assert transit.post("decrypt/nope", {"ciphertext": ciphertext}) == (400, {"errors": ["encryption key not found"]})


@pytest.mark.parametrize("kdf", ["hkdf_sha256", "hmac-sha256-counter"])
def test_derived_keys_use_vaults_kdfs(transit, kdf):
    data = transit.create("d", derived=True, exportable=True, kdf=kdf)
    assert data["kdf"] == kdf and data.get("kdf_mode", kdf) == kdf
    assert transit.post("encrypt/d", {"plaintext": "aGk="}) == (400, {"errors": [MISSING_CONTEXT]})
    context = b"tenant-42"
    blob = base64.b64decode(transit.encrypt("d", b"derived", context=b64(context)).split(":")[2])
    base = exported_key(transit, "d")
    if kdf == "hkdf_sha256":  # RFC 5869 with no salt, the context as info
        derived = HKDF(hashes.SHA256(), 32, None, context).derive(base)
    else:  # NIST SP 800-108 counter mode, Vault's layout: [0]_32 || context || [256]_32
        derived = hmac.new(base, b"\0\0\0\0" + context + (256).to_bytes(4, "big"), hashlib.sha256).digest()
    assert local_open("aes256-gcm96", derived, blob) == b"derived"
    ciphertext = transit.encrypt("d", b"derived", context=b64(context))
    assert transit.post("decrypt/d", {"ciphertext": ciphertext, "context": b64(b"tenant-43")}) == (
        400, {"errors": ["cipher: message authentication failed"]})


def test_convergent_encryption_is_deterministic_per_context(transit):
    transit.create("conv", derived=True, convergent_encryption=True, exportable=True)
    first = transit.encrypt("conv", b"same", context=b64(b"ctx"))
    assert transit.encrypt("conv", b"same", context=b64(b"ctx")) == first
    assert transit.encrypt("conv", b"same", context=b64(b"ctx2")) != first
    assert transit.encrypt("conv", b"other", context=b64(b"ctx")) != first
    material = HKDF(hashes.SHA256(), 64, None, b"ctx").derive(exported_key(transit, "conv"))
    nonce = hmac.new(material[32:], b"same", hashlib.sha256).digest()[:12]  # convergent version 3
    assert base64.b64decode(first.split(":")[2])[:12] == nonce
    assert transit.ok("GET", "keys/conv")["convergent_encryption_version"] == -1


def test_key_version_selects_the_encrypting_version(transit):
    transit.create("v")
    transit.post("keys/v/rotate")
    assert transit.ok("POST", "encrypt/v", {"plaintext": "aGk=", "key_version": 1})["key_version"] == 1
    assert transit.post("encrypt/v", {"plaintext": "aGk=", "key_version": 3}) == (
        400, {"errors": ["requested version for encryption is higher than the latest key version"]})
    assert transit.post("encrypt/v", {"plaintext": "aGk=", "key_version": -1}) == (
        400, {"errors": ["requested version for encryption is negative"]})
    assert transit.post("encrypt/v", {"plaintext": "aGk=", "key_version": "x"}) == (
        400, {"errors": ['error converting input for field "key_version": \'\' cannot parse value as \'int\': '
                         'strconv.ParseInt: invalid syntax']})


def test_batch_encrypt_reports_each_item_as_vault_does(transit):
    transit.create("b")
    batch = [{"plaintext": "aGVsbG8="}, {"plaintext": "bad!"}, {"plaintext": "aGVsbG8=", "key_version": 5},
             {"plaintext": "aGk=", "reference": "r1"}]
    status, body = transit.post("encrypt/b", {"batch_input": batch})
    results = body["data"]["batch_results"]
    assert status == 400 and [sorted(r) for r in results] == [
        ["ciphertext", "key_version", "reference"], ["error", "reference"], ["error", "reference"],
        ["ciphertext", "key_version", "reference"]]
    assert results[1]["error"] == "illegal base64 data at input byte 3"
    assert results[2]["error"] == "requested version for encryption is higher than the latest key version"
    assert results[3]["reference"] == "r1" and transit.decrypt("b", results[3]["ciphertext"]) == b"hi"
    status, body = transit.post("encrypt/b", {"batch_input": batch[:2], "partial_failure_response_code": 207})
    assert status == 207
    assert transit.post("encrypt/b", {"batch_input": batch[1:2], "partial_failure_response_code": 207})[0] == 400
    assert transit.post("encrypt/b", {"batch_input": []}) == (400, {"errors": ["missing batch input to process"]})
    assert transit.post("encrypt/b", {"batch_input": [{"plaintext": "aGk=", "context": "Y3R4"}, {"plaintext": "aGk="}]}
                        ) == (400, {"errors": ["context should be set either in all the request blocks or in none"]})
    assert transit.post("encrypt/b", {"batch_input": [{"notplain": "x"}, {"plaintext": 5}]}) == (400, {"errors": [
        "failed to parse batch input: '[0].plaintext' missing plaintext to encrypt\n"
        "'[1].plaintext' expected type 'string', got unconvertible type 'json.Number'"]})


def test_batch_decrypt_and_rewrap(transit):
    transit.create("bd")
    good = transit.encrypt("bd", b"one")
    status, body = transit.post("decrypt/bd", {"batch_input": [{"ciphertext": good, "reference": "x"},
                                                               {"ciphertext": ""}]})
    assert status == 400 and body["data"]["batch_results"] == [
        {"plaintext": b64(b"one"), "reference": "x"},
        {"plaintext": "", "error": "missing ciphertext to decrypt", "reference": ""}]
    transit.post("keys/bd/rotate")
    status, body = transit.post("rewrap/bd", {"batch_input": [{"ciphertext": good}, {"ciphertext": "vault:v1:AAAA"}]})
    results = body["data"]["batch_results"]
    assert status == 200 and results[0]["key_version"] == 2 and results[0]["ciphertext"].startswith("vault:v2:")
    assert results[1] == {"error": "invalid ciphertext length", "reference": ""}
    assert transit.decrypt("bd", results[0]["ciphertext"]) == b"one"
    assert transit.ok("POST", "rewrap/bd", {"ciphertext": good, "key_version": 1})["key_version"] == 1


@pytest.mark.parametrize("key_type", AEAD_TYPES)
def test_a_usual_batch_opens_under_the_exported_key_with_a_fresh_nonce_per_item(transit, key_type):
    transit.create("k", type=key_type, exportable=True)
    plaintexts = [bytes([i]) * i for i in range(40)]
    texts = [b64(p) for p in plaintexts]
    texts[7] = texts[7][:4] + "\r\n" + texts[7][4:]  # Go skips CR/LF inside base64: the slow decode, same item
    results = transit.ok("POST", "encrypt/k", {"batch_input": [{"plaintext": t, "reference": str(i)}
                                                               for i, t in enumerate(texts)]})["batch_results"]
    key = exported_key(transit, "k")
    blobs = [base64.b64decode(CIPHERTEXT.fullmatch(r["ciphertext"]).group(2)) for r in results]
    assert [r["reference"] for r in results] == [str(i) for i in range(40)]
    assert [local_open(key_type, key, blob) for blob in blobs] == plaintexts
    assert len({blob[:NONCE_BYTES[key_type]] for blob in blobs}) == 40


def test_usual_batches_answer_as_any_batch_when_an_item_fails(transit):
    """Batches of plain items (plaintext or ciphertext, reference) take a shorter path; an
    item that fails there must still be reported exactly as the general path reports it."""
    transit.create("u", usage_limit=5)
    status, body = transit.post("encrypt/u", {"batch_input": [{"plaintext": b64(b"x"), "reference": str(i)}
                                                              for i in range(7)]})
    results = body["data"]["batch_results"]
    assert status == 400 and [r["reference"] for r in results] == [str(i) for i in range(7)]
    assert all(r["key_version"] == 1 for r in results[:5])
    assert results[5:] == [{"error": "key version 1 has reached its usage limit of 5 encryptions",
                            "reference": str(i)} for i in (5, 6)]
    good = results[0]["ciphertext"]
    status, body = transit.post("decrypt/u", {"batch_input": [{"ciphertext": good, "reference": "a"},
                                                              {"ciphertext": "vault:v1:AAAA"}]})
    assert status == 400 and body["data"]["batch_results"] == [
        {"plaintext": b64(b"x"), "reference": "a"},
        {"plaintext": "", "error": "invalid ciphertext length", "reference": ""}]
    transit.create("d", derived=True)
    assert transit.post("encrypt/d", {"batch_input": [{"plaintext": "aGk="}]})[1]["data"]["batch_results"] == [
        {"error": MISSING_CONTEXT, "reference": ""}]


def test_a_batch_counts_and_reserves_as_that_many_single_requests(transit):
    for name in ("one", "many"):
        transit.create(name, usage_limit=20000)
    for _ in range(3):
        transit.encrypt("one", b"x")
        transit.ok("POST", "encrypt/many", {"batch_input": [{"plaintext": b64(b"x")}]})
    transit.engine.store.close()  # reload: each count resumes from its stored reservation
    for size in (1, 250, 4000):
        for _ in range(size):
            transit.encrypt("one", b"x")
        transit.ok("POST", "encrypt/many", {"batch_input": [{"plaintext": b64(b"x")}] * size})
        assert counts(transit, "one") == counts(transit, "many")


def counts(transit, name):
    return {number: (version["encryptions"], version["encryptions_reserved"])
            for number, version in transit.ok("GET", f"keys/{name}")["versions"].items()}


def test_encrypt_creates_a_missing_key_unless_upsert_is_disabled(transit):
    assert transit.encrypt("fresh", b"x").startswith("vault:v1:")
    assert transit.ok("GET", "keys/fresh")["type"] == "aes256-gcm96"
    transit.encrypt("fresh-derived", b"x", context=b64(b"c"), type="chacha20-poly1305")
    data = transit.ok("GET", "keys/fresh-derived")
    assert data["derived"] is True and data["type"] == "chacha20-poly1305"
    assert transit.post("encrypt/bad-type", {"plaintext": "aGk=", "type": "ecdsa-p256"}) == (
        400, {"errors": ["key type ecdsa-p256 not supported for this operation"]})
    assert transit.engine.exists(_request(transit, "encrypt/fresh")) is True
    assert transit.engine.exists(_request(transit, "encrypt/nothere")) is False
    assert transit.engine.exists(_request(transit, "decrypt/fresh")) is None
    assert transit.ok("POST", "config/keys", {"disable_upsert": True}) == {"disable_upsert": True}
    assert transit.post("encrypt/nothere", {"plaintext": "aGk="}) == (400, {"errors": ["encryption key not found"]})


def _request(transit, relative):
    from server.request import UPDATE, Request

    return Request(operation=UPDATE, path=f"{transit.mount}/{relative}", data={}, query={},
                   mount_point=f"{transit.mount}/", relative_path=relative)


@pytest.mark.parametrize("bits, size", [(128, 16), (256, 32), (512, 64)])
def test_datakeys(transit, bits, size):
    transit.create("dk")
    data = transit.ok("POST", "datakey/plaintext/dk", {"bits": bits})
    assert len(unb64(data["plaintext"])) == size and transit.decrypt("dk", data["ciphertext"]) == unb64(data["plaintext"])
    wrapped = transit.ok("POST", "datakey/wrapped/dk", {"bits": str(bits)})
    assert set(wrapped) == {"ciphertext", "key_version"} and len(transit.decrypt("dk", wrapped["ciphertext"])) == size


def test_datakey_errors(transit):
    transit.create("dk")
    transit.create("sig", type="ecdsa-p256")
    assert transit.post("datakey/wrapped/dk", {"bits": 100}) == (400, {"errors": ["invalid bit length"]})
    assert transit.post("datakey/other/dk") == (400, {"errors": ["Invalid path, must be 'plaintext' or 'wrapped'"]})
    assert transit.post("datakey/plaintext/sig") == (
        400, {"errors": ["message encryption not supported for key type ecdsa-p256"]})


@pytest.mark.parametrize("key_type, path, body, message", [
    ("ecdsa-p256", "encrypt/k", {"plaintext": "aGk="}, "message encryption not supported for key type ecdsa-p256"),
    ("ed25519", "decrypt/k", {"ciphertext": "vault:v1:AAAA"}, "message decryption not supported for key type ed25519"),
    ("hmac", "encrypt/k", {"plaintext": "aGk="}, "message encryption not supported for key type hmac"),
    ("hmac", "rewrap/k", {"ciphertext": "vault:v1:AAAA"}, "message decryption not supported for key type hmac"),
    ("aes256-gcm96", "sign/k", {"input": "aGk="}, "key type aes256-gcm96 does not support signing"),
    ("chacha20-poly1305", "verify/k", {"input": "aGk=", "signature": "vault:v1:AA=="},
     "key type chacha20-poly1305 does not support verification"),
    ("ecdsa-p384", "keywrap/k", {"key": "AAAA"}, "key wrapping not supported for key type ecdsa-p384"),
])
def test_operations_a_key_type_cannot_do_are_400s_naming_it(transit, key_type, path, body, message):
    transit.create("k", type=key_type)
    assert transit.post(path, body) == (400, {"errors": [message]})


def test_hvac_and_the_bao_cli(transit):
    client = hvac.Client(url=transit.server.url, token=transit.server.root_token).secrets.transit
    client.create_key("app", mount_point=transit.mount)
    ciphertext = client.encrypt_data("app", plaintext=b64(b"via hvac"), mount_point=transit.mount)["data"]["ciphertext"]
    assert unb64(client.decrypt_data("app", ciphertext, mount_point=transit.mount)["data"]["plaintext"]) == b"via hvac"
    client.rotate_key("app", mount_point=transit.mount)
    rewrapped = client.rewrap_data("app", ciphertext, mount_point=transit.mount)["data"]["ciphertext"]
    assert rewrapped.startswith("vault:v2:")
    with pytest.raises(hvac.exceptions.InvalidRequest, match="cipher: message authentication failed"):
        client.decrypt_data("app", "vault:v1:" + "A" * 44, mount_point=transit.mount)
    result = transit.server.bao("write", "-field=ciphertext", f"{transit.mount}/encrypt/app", f"plaintext={b64(b'cli')}",
                                token=transit.server.root_token)
    assert result.returncode == 0, result.stderr
    assert transit.decrypt("app", result.stdout.strip()) == b"cli"


def test_an_update_only_policy_cannot_create_a_key_by_encrypting(transit):
    """encrypt/:name has Vault's existence check: writing to a missing key is a create."""
    server = transit.server
    transit.create("have")
    policy = f'path "{transit.mount}/encrypt/*" {{ capabilities = ["update"] }}'
    assert server.root("PUT", f"/v1/sys/policies/acl/{transit.mount}-enc", {"policy": policy})[0] == 204
    token = server.root("POST", "/v1/auth/token/create", {"policies": [f"{transit.mount}-enc"]})[1]["auth"]["client_token"]
    status, body, _ = server.call("POST", f"/v1/{transit.mount}/encrypt/have", {"plaintext": "aGk="}, token=token)
    assert status == 200 and body["data"]["key_version"] == 1
    status, body, _ = server.call("POST", f"/v1/{transit.mount}/encrypt/missing", {"plaintext": "aGk="}, token=token)
    assert (status, body) == (403, {"errors": ["permission denied"]})
    assert transit.call("GET", "keys/missing") == (404, {"errors": []})
