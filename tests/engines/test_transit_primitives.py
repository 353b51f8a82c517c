"""Unit tests of transit's building blocks: known-answer vectors for AES-KW, AES-KWP and HKDF
(tests/vectors, sources named there), Vault's counter-mode KDF, Go-compatible base64 and
field parsing, and the key model's record round trip."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.engines.transit_encoding import (
    Base64Error,
    b64decode,
    b64decode_raw_url,
    parse_rfc3339_nano,
    rfc3339_nano,
    split_versioned,
)
from server.engines.transit_errors import CiphertextError, KeyConfigError
from server.engines.transit_fields import Fields, parse_duration_seconds
from server.engines.transit_key import TransitKey
from server.engines.transit_keytypes import KEY_TYPES, generate_material
from server.engines.transit_keywrap import unwrap, wrap
from server.engines.transit_symmetric import counter_mode_hmac_sha256, hkdf_sha256
from server.errors import BadRequestError

VECTORS = Path(__file__).resolve().parents[1] / "vectors"


def _vectors(name: str) -> list[dict]:
    return json.loads((VECTORS / name).read_text())["vectors"]


@pytest.mark.parametrize("vector", _vectors("aes_kw_rfc3394.json"), ids=lambda v: "RFC3394-" + v["section"])
def test_aes_kw_known_answers(vector):
    kek, data, expected = (bytes.fromhex(vector[k]) for k in ("kek", "key_data", "ciphertext"))
    assert wrap(memoryview(kek), "kw", data) == expected
    assert unwrap(memoryview(kek), "kw", expected) == data


@pytest.mark.parametrize("vector", _vectors("aes_kwp_rfc5649.json"), ids=lambda v: f"RFC5649-{len(v['key_data']) // 2}B")
def test_aes_kwp_known_answers(vector):
    kek, data, expected = (bytes.fromhex(vector[k]) for k in ("kek", "key_data", "ciphertext"))
    assert wrap(memoryview(kek), "kwp", data) == expected
    assert unwrap(memoryview(kek), "kwp", expected) == data


@given(position=st.integers(min_value=0), bit=st.integers(min_value=0, max_value=7), kwp=st.booleans())
@settings(max_examples=60)
def test_a_flipped_bit_in_a_wrapped_key_is_one_error(position, bit, kwp):
    vector = _vectors("aes_kwp_rfc5649.json" if kwp else "aes_kw_rfc3394.json")[0]
    wrapped = bytearray.fromhex(vector["ciphertext"])
    wrapped[position % len(wrapped)] ^= 1 << bit
    with pytest.raises(CiphertextError, match="^key unwrap failed: integrity check failed$"):
        unwrap(memoryview(bytes.fromhex(vector["kek"])), "kwp" if kwp else "kw", bytes(wrapped))


def test_hkdf_known_answer_with_no_salt():
    (vector,) = _vectors("hkdf_rfc5869_sha256.json")
    ikm = bytes.fromhex(vector["ikm"])
    assert hmac.new(bytes(32), ikm, hashlib.sha256).hexdigest() == vector["prk"]  # RFC 5869 §2.2, absent salt
    assert hkdf_sha256(ikm, b"", vector["length"]).hex() == vector["okm"]


@given(key=st.binary(min_size=1, max_size=64), context=st.binary(max_size=64), bits=st.sampled_from([128, 256, 512]))
def test_counter_mode_kdf_is_vaults_sp800_108_layout(key, context, bits):
    expected = b"".join(hmac.new(key, i.to_bytes(4, "big") + context + bits.to_bytes(4, "big"), hashlib.sha256).digest()
                        for i in range(-(-bits // 256)))[: bits // 8]
    assert bytes(counter_mode_hmac_sha256(key, context, bits)) == expected


@given(data=st.binary(max_size=200))
def test_base64_round_trips_and_tolerates_newlines_like_go(data):
    text = base64.b64encode(data).decode()
    assert b64decode(text) == data
    assert b64decode("\n".join(text[i:i + 7] for i in range(0, len(text), 7)) + "\r\n") == data
    assert b64decode_raw_url(base64.urlsafe_b64encode(data).decode().rstrip("=")) == data


@pytest.mark.parametrize("text, offset", [("aGVsbG8", 4), ("not base64!", 3), ("!!", 0), ("aGk=aGk=", 4),
                                          ("AAAA====", 4), ("a===", 1), ("é", 0)])
def test_base64_errors_carry_gos_offsets(text, offset):
    with pytest.raises(Base64Error) as raised:
        b64decode(text)
    assert str(raised.value) == f"illegal base64 data at input byte {offset}"


def test_versioned_values_parse_as_vault_does():
    assert split_versioned("vault:v+3:abc", "ciphertext") == (3, "abc")
    assert split_versioned("vault:v1:a:b", "signature") == (1, "a:b")
    for value, message in (("x", "no prefix"), ("vault:v1", "wrong number of fields"),
                           ("vault:v 1:x", "version number could not be decoded")):
        with pytest.raises(ValueError, match=message):
            split_versioned(value, "ciphertext")


@given(ns=st.integers(min_value=0, max_value=4102444800 * 10**9))
def test_times_round_trip_through_gos_rfc3339(ns):
    text = rfc3339_nano(ns)
    fraction = text[20:-1]  # Go trims trailing zeros from the fraction, and drops an empty one
    assert parse_rfc3339_nano(text) == ns and text.endswith("Z") and not fraction.endswith("0")


def test_fields_convert_like_vaults_framework():
    fields = Fields({"b": "t", "n": "0x80", "d": "1d", "s": 5, "f": 1.0, "neg": -5, "bad": "yes", "l": [1]})
    assert fields.boolean("b") is True and fields.integer("n") == 128 and fields.seconds("d") == 86400
    assert fields.string("s") == "5" and fields.integer("missing", 7) == 7
    assert parse_duration_seconds("1h30m") == 5400 and parse_duration_seconds("90") == 90
    for call, message in ((lambda: fields.boolean("bad"), "strconv.ParseBool: invalid syntax"),
                          (lambda: fields.integer("f"), "strconv.ParseInt: invalid syntax"),
                          (lambda: fields.seconds("neg"), "cannot provide negative value '-5'"),
                          (lambda: fields.string("l"), "got unconvertible type '\\[\\]interface {}'")):
        with pytest.raises(BadRequestError, match=message):
            call()


@pytest.mark.parametrize("key_type", ["aes256-gcm96", "ed25519", "ecdsa-p256", "hmac"])
def test_key_records_round_trip_and_zero_on_close(key_type):
    key = TransitKey.define("k", KEY_TYPES[key_type], key_size=32 if key_type == "hmac" else 0, exportable=True)
    key.add_version(generate_material(key.type, key.key_size), 1_700_000_000_123_456_789)
    record = key.to_record()
    again = TransitKey.from_record(record)
    assert again.to_record() == record and again.versions[1].created_ns == 1_700_000_000_123_456_789
    buffers = [again.versions[1].secret, again.versions[1].hmac_key]
    again.close()
    assert all(b.closed for b in buffers) and again.versions == {}


def test_key_definitions_vault_refuses():
    with pytest.raises(KeyConfigError, match="convergent encryption requires derivation"):
        TransitKey.define("k", KEY_TYPES["aes256-gcm96"], convergent=True)
    with pytest.raises(KeyConfigError, match="invalid key size for HMAC key"):
        TransitKey.define("k", KEY_TYPES["hmac"], key_size=8)
