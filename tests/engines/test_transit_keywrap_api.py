"""Key wrapping over HTTP: keywrap/keyunwrap answer the RFC 3394 and RFC 5649 known answers
end to end (the KEK imported with BYOK), and Vault's BYOK import of every key type, checked by
using the imported material outside strongroom."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from test_transit_support import b64, mount_transit, transit, transit_server, unb64, wrap_for_import  # noqa: F401

VECTORS = Path(__file__).resolve().parents[1] / "vectors"
PKCS8 = (serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def _vectors(name):
    return json.loads((VECTORS / name).read_text())["vectors"]


@pytest.fixture(scope="module")
def byok(transit_server):
    """A mount whose RSA-4096 wrapping key (slow to make) serves the whole module."""
    transit = mount_transit(transit_server)
    transit.public_pem = transit.ok("GET", "wrapping_key")["public_key"]
    return transit


def import_key(transit, name, material, **fields):
    body = {"ciphertext": wrap_for_import(transit.public_pem, material), **fields}
    assert transit.post(f"keys/{name}/import", body) == (204, None)


# KEKs that are transit key types (128 or 256 bits); the 192-bit ones are covered by the unit test.
KW_CASES = [v for v in _vectors("aes_kw_rfc3394.json") if len(v["kek"]) in (32, 64)]
KWP_CASES = [v for v in _vectors("aes_kwp_rfc5649.json")]


@pytest.mark.parametrize("vector", KW_CASES, ids=lambda v: "RFC3394-" + v["section"])
def test_keywrap_gives_the_rfc_3394_answers(byok, vector):
    kek = bytes.fromhex(vector["kek"])
    name = "kek" + vector["section"].replace(".", "")
    import_key(byok, name, kek, type="aes128-gcm96" if len(kek) == 16 else "aes256-gcm96")
    data = byok.ok("POST", f"keywrap/{name}", {"key": b64(bytes.fromhex(vector["key_data"])), "algorithm": "kw"})
    assert data == {"wrapped_key": "vault:v1:" + b64(bytes.fromhex(vector["ciphertext"])), "key_version": 1,
                    "algorithm": "kw"}
    back = byok.ok("POST", f"keyunwrap/{name}", {"wrapped_key": data["wrapped_key"], "algorithm": "kw"})
    assert unb64(back["key"]) == bytes.fromhex(vector["key_data"])


@pytest.mark.parametrize("vector", KWP_CASES, ids=lambda v: f"RFC5649-{len(v['key_data']) // 2}B")
def test_keywrap_with_padding_round_trips_under_a_transit_key(byok, vector):
    # RFC 5649's example KEK is 192 bits, not a transit key type: check the layout by unwrapping
    # strongroom's output locally, and the KAT itself through the same code in the unit tests.
    name = f"kwp{len(vector['key_data'])}"
    kek = os.urandom(32)
    import_key(byok, name, kek)
    data = byok.ok("POST", f"keywrap/{name}", {"key": b64(bytes.fromhex(vector["key_data"]))})
    from cryptography.hazmat.primitives.keywrap import aes_key_unwrap_with_padding

    wrapped = base64.b64decode(data["wrapped_key"].split(":")[2])
    assert aes_key_unwrap_with_padding(kek, wrapped) == bytes.fromhex(vector["key_data"])
    assert data["algorithm"] == "kwp"


def test_keywrap_versions_context_and_errors(transit):
    transit.create("kek", derived=True)
    transit.create("sig", type="ed25519")
    context = {"context": b64(b"tenant")}
    wrapped = transit.ok("POST", "keywrap/kek", {"key": b64(b"\x01" * 24), **context})["wrapped_key"]
    assert unb64(transit.ok("POST", "keyunwrap/kek", {"wrapped_key": wrapped, **context})["key"]) == b"\x01" * 24
    assert transit.post("keyunwrap/kek", {"wrapped_key": wrapped, "context": b64(b"other")}) == (
        400, {"errors": ["key unwrap failed: integrity check failed"]})
    transit.post("keys/kek/rotate")
    assert transit.ok("POST", "keywrap/kek", {"key": b64(b"k" * 16), **context})["key_version"] == 2
    transit.ok("POST", "keys/kek/config", {"min_decryption_version": 2})
    assert transit.post("keyunwrap/kek", {"wrapped_key": wrapped, **context}) == (
        400, {"errors": ["ciphertext or signature version is disallowed by policy (too old)"]})
    for path, body, message in (
        ("keywrap/kek", {"key": b64(b"x" * 20), "algorithm": "kw", **context},
         "the kw algorithm wraps keys of at least 16 bytes in whole 8-byte blocks; use kwp"),
        ("keywrap/kek", {"key": "aGk=", "algorithm": "gcm"}, 'unsupported key wrap algorithm "gcm"; must be "kw" or "kwp"'),
        ("keywrap/kek", {}, "missing key to wrap"),
        ("keyunwrap/kek", {}, "missing wrapped_key to unwrap"),
        ("keyunwrap/kek", {"wrapped_key": "x"}, "invalid wrapped key: no prefix"),
        ("keywrap/sig", {"key": "aGk="}, "key wrapping not supported for key type ed25519"),
        ("keywrap/nope", {"key": "aGk="}, "encryption key not found"),
    ):
        assert transit.post(path, body) == (400, {"errors": [message]}), path


@pytest.mark.parametrize("key_type, size", [("aes128-gcm96", 16), ("aes256-gcm96", 32), ("chacha20-poly1305", 32),
                                            ("xchacha20-poly1305", 32), ("hmac", 48)])
def test_imported_symmetric_keys_are_the_callers_keys(byok, key_type, size):
    material = os.urandom(size)
    name = "sym-" + key_type
    import_key(byok, name, material, type=key_type, exportable=True)
    data = byok.ok("GET", f"keys/{name}")
    assert data["imported_key"] is True and data["imported_key_allow_rotation"] is False
    exported = "hmac-key" if key_type == "hmac" else "encryption-key"
    assert unb64(byok.ok("GET", f"export/{exported}/{name}/1")["keys"]["1"]) == material
    if key_type.startswith("aes"):
        blob = base64.b64decode(byok.encrypt(name, b"imported").split(":")[2])
        assert AESGCM(material).decrypt(blob[:12], blob[12:], None) == b"imported"


@pytest.mark.parametrize("key_type, private", [
    ("ecdsa-p256", lambda: ec.generate_private_key(ec.SECP256R1())),
    ("ecdsa-p521", lambda: ec.generate_private_key(ec.SECP521R1())),
    ("ed25519", ed25519.Ed25519PrivateKey.generate),
    ("rsa-2048", lambda: rsa.generate_private_key(65537, 2048)),
])
def test_imported_asymmetric_keys_sign_for_the_callers_public_key(byok, key_type, private):
    key = private()
    name = "asym-" + key_type
    import_key(byok, name, key.private_bytes(*PKCS8), type=key_type)
    signature = byok.ok("POST", f"sign/{name}", {"input": b64(b"payload")})["signature"]
    raw = base64.b64decode(signature.split(":")[2])
    public = key.public_key()
    if key_type.startswith("ecdsa"):
        public.verify(raw, b"payload", ec.ECDSA(hashes.SHA256()))
    elif key_type == "ed25519":
        public.verify(raw, b"payload")
    else:
        public.verify(raw, b"payload", padding.PSS(padding.MGF1(hashes.SHA256()), padding.PSS.AUTO), hashes.SHA256())


def test_public_key_import_then_its_private_half(byok):
    key = ec.generate_private_key(ec.SECP384R1())
    pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert byok.post("keys/pub/import", {"public_key": pem.decode(), "type": "ecdsa-p384"}) == (204, None)
    assert byok.post("sign/pub", {"input": "aGk="}) == (
        400, {"errors": ["requested version for signing does not contain a private part"]})
    signature = key.sign(b"payload", ec.ECDSA(hashes.SHA256()))
    assert byok.ok("POST", "verify/pub", {"input": b64(b"payload"), "signature": "vault:v1:" + b64(signature)})["valid"]
    other = ec.generate_private_key(ec.SECP384R1()).private_bytes(*PKCS8)
    status, body = byok.post("keys/pub/import_version", {"ciphertext": wrap_for_import(byok.public_pem, other),
                                                         "version": 1})
    assert (status, body) == (400, {"errors": ["cannot import key, key pair does not match"]})
    body = {"ciphertext": wrap_for_import(byok.public_pem, key.private_bytes(*PKCS8)), "version": 1}
    assert byok.post("keys/pub/import_version", body) == (204, None)
    assert byok.ok("POST", "sign/pub", {"input": "aGk="})["key_version"] == 1


def test_import_rules(byok):
    material = os.urandom(32)
    import_key(byok, "once", material)
    assert byok.post("keys/once/import", {"ciphertext": wrap_for_import(byok.public_pem, material)}) == (
        400, {"errors": ["the import path cannot be used with an existing key; use import-version to rotate an "
                         "existing imported key"]})
    assert byok.post("keys/once/rotate") == (400, {"errors": ["imported key once does not allow rotation within Vault"]})
    assert byok.post("keys/once/import_version", {"ciphertext": wrap_for_import(byok.public_pem, os.urandom(32))}) == (
        204, None)
    assert byok.ok("GET", "keys/once")["latest_version"] == 2
    for body, message in (
        ({"ciphertext": wrap_for_import(byok.public_pem, os.urandom(16))},
         "error importing key: invalid key size 16 bytes for key type aes256-gcm96"),
        ({"ciphertext": b64(b"short")}, "provided ciphertext is too short"),
        ({"ciphertext": b64(os.urandom(600))}, "crypto/rsa: decryption error"),
        ({"ciphertext": "x", "hash_function": "MD5"}, "unknown hash function: MD5"),
        ({"ciphertext": "x", "type": "bogus"}, "unknown key type: bogus"),
        ({"ciphertext": "x", "convergent_encryption": True}, "import cannot be used on keys with convergent encryption enabled"),
        ({"ciphertext": "x", "auto_rotate_period": "2h"}, "allow_rotation must be set to true if auto-rotation is enabled"),
        ({}, "provided type does not support public_key import"),
        ({"ciphertext": wrap_for_import(byok.public_pem, ec.generate_private_key(ec.SECP256R1()).private_bytes(*PKCS8)),
          "type": "ecdsa-p384"}, "error importing key: invalid curve: expected P-384, got P-256"),
    ):
        assert byok.post("keys/fresh/import", body) == (400, {"errors": [message]}), message
    assert byok.post("keys/fresh/import", {"ciphertext": wrap_for_import(byok.public_pem, material,
                                                                         hashes.SHA512()), "hash_function": "sha512",
                                           "allow_rotation": True}) == (204, None)
    assert byok.ok("POST", "keys/fresh/rotate")["imported_key"] is False
    assert byok.post("keys/nope/import_version", {"ciphertext": "x"}) == (
        400, {"errors": ["no key found with name nope; to import a new key, use the import/ endpoint"]})


def test_the_wrapping_key_is_stable_and_stored(byok):
    assert byok.ok("GET", "wrapping_key")["public_key"] == byok.public_pem
    public = serialization.load_pem_public_key(byok.public_pem.encode())
    assert public.key_size == 4096
    assert byok.engine.view.get("import/wrapping-key") is not None
    assert "wrapping-key" not in (byok.ok("LIST", "keys").get("keys") or [])
