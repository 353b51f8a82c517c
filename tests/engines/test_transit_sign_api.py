"""sign, verify, hmac, hash and random: signatures checked with the exported public key and
standard implementations, Vault's option handling (hash, PSS salt, prehashed, none, JWS), its
batch shapes and messages, and HMACs that match a locally computed HMAC."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, utils
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from hypothesis import given, settings
from hypothesis import strategies as st

from test_transit_support import b64, mount_transit, transit, transit_server, unb64  # noqa: F401

MESSAGE = b"the quick brown fox"
HASHES = {"sha2-256": hashes.SHA256, "sha2-384": hashes.SHA384, "sha2-512": hashes.SHA512,
          "sha3-256": hashes.SHA3_256, "sha1": hashes.SHA1, "sha2-224": hashes.SHA224}


def public_key(transit, name: str, version: int = 1):
    pem = transit.ok("GET", f"export/public-key/{name}/{version}")["keys"][str(version)]
    return load_pem_public_key(pem.encode()) if "BEGIN" in pem else pem


def signature_bytes(signature: str, jws: bool = False) -> bytes:
    payload = signature.split(":")[2]
    return base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)) if jws else base64.b64decode(payload)


def sign(transit, name: str, data: bytes = MESSAGE, **fields) -> str:
    return transit.ok("POST", f"sign/{name}", {"input": b64(data), **fields})["signature"]


def verify(transit, name: str, signature: str, data: bytes = MESSAGE, **fields) -> bool:
    return transit.ok("POST", f"verify/{name}", {"input": b64(data), "signature": signature, **fields})["valid"]


@pytest.mark.parametrize("curve, key_type", [(ec.SECP256R1, "ecdsa-p256"), (ec.SECP384R1, "ecdsa-p384"),
                                             (ec.SECP521R1, "ecdsa-p521")])
@pytest.mark.parametrize("hash_name", ["sha2-256", "sha2-512", "sha3-256"])
def test_ecdsa_signatures_are_standard_der_and_jws(transit, curve, key_type, hash_name):
    transit.create("ec", type=key_type)
    public = public_key(transit, "ec")
    der = sign(transit, "ec", hash_algorithm=hash_name)
    public.verify(signature_bytes(der), MESSAGE, ec.ECDSA(HASHES[hash_name]()))
    jws = sign(transit, "ec", hash_algorithm=hash_name, marshaling_algorithm="jws")
    raw = signature_bytes(jws, jws=True)
    size = (curve.key_size + 7) // 8
    assert len(raw) == 2 * size and "=" not in jws
    r, s = int.from_bytes(raw[:size], "big"), int.from_bytes(raw[size:], "big")
    public.verify(utils.encode_dss_signature(r, s), MESSAGE, ec.ECDSA(HASHES[hash_name]()))
    assert verify(transit, "ec", der, hash_algorithm=hash_name)
    assert verify(transit, "ec", jws, hash_algorithm=hash_name, marshaling_algorithm="jws")
    assert not verify(transit, "ec", der, data=b"another message", hash_algorithm=hash_name)


@pytest.mark.parametrize("scheme, salt", [("pss", "auto"), ("pss", "hash"), ("pss", "20"), ("pkcs1v15", None)])
def test_rsa_signatures_follow_the_requested_scheme(signer, scheme, salt):
    transit = signer
    public = public_key(transit, "rsa-2048")
    fields = {"signature_algorithm": scheme, **({"salt_length": salt} if salt else {})}
    signature = sign(transit, "rsa-2048", hash_algorithm="sha2-384", **fields)
    if scheme == "pss":
        length = {"auto": 256 - 48 - 2, "hash": 48, "20": 20}[salt]  # auto signs with the longest salt
        scheme_padding = padding.PSS(mgf=padding.MGF1(hashes.SHA384()), salt_length=length)
    else:
        scheme_padding = padding.PKCS1v15()
    public.verify(signature_bytes(signature), MESSAGE, scheme_padding, hashes.SHA384())
    assert verify(transit, "rsa-2048", signature, hash_algorithm="sha2-384", **fields)
    assert not verify(transit, "rsa-2048", signature, hash_algorithm="sha2-256", **fields)


def test_prehashed_input_and_hash_none(signer):
    digest = hashlib.sha256(MESSAGE).digest()
    public = public_key(signer, "rsa-2048")
    signature = sign(signer, "rsa-2048", data=digest, prehashed=True, signature_algorithm="pkcs1v15")
    public.verify(signature_bytes(signature), MESSAGE, padding.PKCS1v15(), hashes.SHA256())
    raw = sign(signer, "rsa-2048", data=b"raw bytes, no DigestInfo", prehashed=True, signature_algorithm="pkcs1v15",
               hash_algorithm="none")
    public.verify(signature_bytes(raw), b"raw bytes, no DigestInfo", padding.PKCS1v15(), utils.NoDigestInfo())
    assert signer.post("sign/rsa-2048", {"input": "aGk=", "hash_algorithm": "none"}) == (
        400, {"errors": ["hash_algorithm=none requires both prehashed=true and signature_algorithm=pkcs1v15"]})
    odd = sign(signer, "ecdsa-p256", data=b"5 by.", prehashed=True)  # Go's ECDSA takes any digest length
    assert verify(signer, "ecdsa-p256", odd, data=b"5 by.", prehashed=True)
    assert not verify(signer, "ecdsa-p256", odd, data=b"5 bz.", prehashed=True)


def test_ed25519_signs_the_message_itself(transit):
    transit.create("ed", type="ed25519")
    signature = sign(transit, "ed", hash_algorithm="sha2-512")  # the hash is ignored, as in Vault
    public = transit.ok("GET", "keys/ed")["keys"]["1"]["public_key"]
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    Ed25519PublicKey.from_public_bytes(base64.b64decode(public)).verify(signature_bytes(signature), MESSAGE)
    assert sign(transit, "ed") == signature  # Ed25519 is deterministic
    assert verify(transit, "ed", signature)


def test_derived_ed25519_keys_differ_per_context(transit):
    transit.create("edd", type="ed25519", derived=True)
    data = transit.ok("POST", "sign/edd", {"input": b64(MESSAGE), "context": b64(b"alice")})
    shown = transit.ok("GET", f"keys/edd?context={b64(b'alice')}")["keys"]["1"]["public_key"]
    assert data["public_key"] == shown and transit.ok("GET", "keys/edd")["keys"]["1"]["public_key"] == ""
    other = transit.ok("POST", "sign/edd", {"input": b64(MESSAGE), "context": b64(b"bob")})
    assert other["public_key"] != shown
    assert verify(transit, "edd", data["signature"], context=b64(b"alice"))
    assert not verify(transit, "edd", data["signature"], context=b64(b"bob"))
    status, body = transit.post("sign/edd", {"input": b64(MESSAGE)})
    assert status == 400 and body["errors"][0].startswith("error deriving key: missing 'context'")


@pytest.fixture(scope="module")
def signer(transit_server):
    transit = mount_transit(transit_server)
    for key_type in ("ecdsa-p256", "rsa-2048", "ed25519"):
        transit.create(key_type, type=key_type)
    return transit


@given(key_type=st.sampled_from(["ecdsa-p256", "rsa-2048", "ed25519"]), position=st.integers(min_value=0),
       bit=st.integers(min_value=0, max_value=7), jws=st.booleans())
@settings(max_examples=30, deadline=None)
def test_a_flipped_signature_bit_never_verifies_and_never_500s(signer, key_type, position, bit, jws):
    fields = {"marshaling_algorithm": "jws"} if jws else {}
    raw = bytearray(signature_bytes(sign(signer, key_type, **fields), jws=jws))
    raw[position % len(raw)] ^= 1 << bit
    encoded = base64.urlsafe_b64encode(raw).rstrip(b"=").decode() if jws else b64(bytes(raw))
    status, body = signer.post(f"verify/{key_type}", {"input": b64(MESSAGE), "signature": "vault:v1:" + encoded,
                                                     **fields})
    assert (status, body.get("data")) == (200, {"valid": False}) or (
        status == 400 and body["errors"][0] in ("supplied signature is invalid", "supplied signature contains extra data"))


@pytest.mark.parametrize("body, message", [
    ({"input": "aGk=", "hash_algorithm": "bogus"}, 'invalid hash algorithm "bogus"'),
    ({"input": "aGk=", "marshaling_algorithm": "bogus"}, 'invalid marshaling type "bogus"'),
    ({"input": "aGk=", "key_version": 3}, "requested version for signing is higher than the latest key version"),
    ({"input": "!!"}, "unable to decode input as base64: illegal base64 data at input byte 0"),
    ({"input": "aGk=", "salt_length": "bogus"}, "salt length neither 'auto', 'hash', nor an int: bogus"),
    ({"input": "aGk=", "salt_length": "-5"}, "salt length is invalid: -5"),
])
def test_sign_errors(signer, body, message):
    assert signer.post("sign/ecdsa-p256", body) == (400, {"errors": [message]})


def test_rsa_specific_sign_errors(signer):
    assert signer.post("sign/rsa-2048", {"input": "aGk=", "signature_algorithm": "bogus"}) == (
        400, {"errors": ["unsupported rsa signature algorithm bogus"]})
    assert signer.post("sign/rsa-2048", {"input": "aGk=", "salt_length": "1000"}) == (
        400, {"errors": ["requested salt length 1000 is invalid"]})
    assert signer.post("sign/nope", {"input": "aGk="}) == (400, {"errors": ["signing key not found"]})


@pytest.mark.parametrize("signature, message", [
    ("bad", "invalid signature: no prefix"), ("vault:v2:AAAA", "invalid signature: version is too new"),
    ("vault:v1:!!", "invalid base64 signature value"), ("vault:v1:AAAA", "supplied signature is invalid"),
])
def test_verify_errors(signer, signature, message):
    assert signer.post("verify/ecdsa-p256", {"input": "aGk=", "signature": signature}) == (400, {"errors": [message]})


def test_batch_sign_and_verify_shapes(signer):
    status, body = signer.post("sign/ecdsa-p256", {"batch_input": [
        {"input": b64(MESSAGE), "reference": "a"}, {"input": "!!"}, {"context": "x"}]})
    first, bad, missing = body["data"]["batch_results"]
    assert status == 200 and first["key_version"] == 1 and first["reference"] == "a"
    assert bad == {"key_version": 0, "error": "unable to decode input as base64: illegal base64 data at input byte 0",
                   "reference": ""}
    assert missing == {"key_version": 0, "error": "missing input", "reference": ""}
    status, body = signer.post("verify/ecdsa-p256", {"batch_input": [
        {"input": b64(MESSAGE), "signature": first["signature"]}, {"input": "aGk=", "signature": "vault:v9:AAAA"}]})
    assert body["data"]["batch_results"] == [
        {"valid": True, "reference": ""}, {"valid": False, "error": "invalid signature: version is too new",
                                           "reference": ""}]
    assert signer.post("verify/ecdsa-p256", {"batch_input": [{"input": "aGk="}]}) == (
        400, {"errors": ["no batch_input elements have 'signature' or 'hmac'"]})
    assert signer.post("verify/ecdsa-p256", {"input": "aGk="}) == (
        400, {"errors": ["neither a 'signature' nor an 'hmac' were given to verify"]})


def test_hmacs_match_a_local_hmac_with_the_exported_key(transit):
    transit.create("h", exportable=True)
    transit.create("hk", type="hmac", key_size=64, exportable=True)
    for name in ("h", "hk"):
        secret = base64.b64decode(transit.ok("GET", f"export/hmac-key/{name}/1")["keys"]["1"])
        mac = transit.ok("POST", f"hmac/{name}/sha2-512", {"input": b64(MESSAGE)})["hmac"]
        assert mac == "vault:v1:" + b64(hmac.new(secret, MESSAGE, hashlib.sha512).digest())
        assert transit.ok("POST", f"verify/{name}/sha2-512", {"input": b64(MESSAGE), "hmac": mac}) == {"valid": True}
        assert transit.ok("POST", f"verify/{name}", {"input": b64(MESSAGE), "hmac": mac}) == {"valid": False}
    assert len(base64.b64decode(transit.ok("GET", "export/hmac-key/hk/1")["keys"]["1"])) == 64


def test_hmac_errors_and_batches(transit):
    transit.create("h")
    transit.post("keys/h/rotate")
    assert transit.post("hmac/h", {"input": "aGk=", "algorithm": "md5"}) == (400, {"errors": ["unsupported algorithm '\\x00'"]})
    assert transit.post("hmac/h") == (400, {"errors": ["missing input for HMAC"]})
    assert transit.post("hmac/h", {"input": "aGk=", "key_version": 5}) == (
        400, {"errors": ["key version does not exist; latest key version is 2"]})
    assert transit.post("hmac/nope", {"input": "aGk="}) == (400, {"errors": ["encryption key not found"]})
    status, body = transit.post("hmac/h", {"batch_input": [{"input": "!!"}, {"reference": "q"}]})
    assert status == 200 and body["data"]["batch_results"] == [
        {"error": "unable to decode input as base64: illegal base64 data at input byte 0", "reference": ""},
        {"error": "missing input for HMAC", "reference": "q"}]
    for mac, message in (("bad", "invalid HMAC to verify: no prefix"), ("vault:v9:AAAA", "invalid HMAC: version is too new"),
                         ("vault:vx:AAAA", "invalid HMAC: version number could not be decoded")):
        assert transit.post("verify/h", {"input": "aGk=", "hmac": mac}) == (400, {"errors": [message]})
    status, body = transit.post("verify/h", {"batch_input": [{"input": "aGk=", "hmac": "vault:v2:AAAA"}]})
    assert body["data"]["batch_results"] == [{"reference": ""}]  # Vault omits a false "valid" here


def test_hash_and_random(transit):
    assert transit.ok("POST", "hash", {"input": b64(b"hello")}) == {"sum": hashlib.sha256(b"hello").hexdigest()}
    assert transit.ok("POST", "hash/sha3-512", {"input": b64(b"hello"), "format": "base64"}) == {
        "sum": b64(hashlib.sha3_512(b"hello").digest())}
    assert transit.post("hash", {"input": "aGk=", "algorithm": "sha1"}) == (400, {"errors": ["unsupported algorithm sha1"]})
    assert transit.post("hash") == (400, {"errors": ["input missing"]})
    assert len(unb64(transit.ok("POST", "random")["random_bytes"])) == 32
    assert len(bytes.fromhex(transit.ok("POST", "random/12", {"format": "hex"})["random_bytes"])) == 12
    status, body = transit.post("random/seal/4")
    assert status == 200 and body["warnings"] == ["no seal/entropy augmentation available, using platform entropy source"]
    assert transit.post("random", {"bytes": 0}) == (400, {"errors": ["'bytes' cannot be less than 1"]})
    assert transit.post("random", {"bytes": 200000}) == (400, {"errors": ["'bytes' should be less than 131072"]})
    assert transit.post("random/hex") == (
        400, {"errors": ['error parsing url-set byte count: strconv.Atoi: parsing "hex": invalid syntax']})
    samples = {transit.ok("POST", "random/16")["random_bytes"] for _ in range(5)}
    assert len(samples) == 5
