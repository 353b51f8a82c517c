"""Custodian PGP keys: shares encrypted to a real OpenPGP key decrypt to the hex share."""

import base64
import time

import pysequoia
import pytest
from pysequoia import packet as pgp_packet

from seal import shamir
from seal.custodian_pgp import encrypt_share, parse_public_key
from seal.errors import CustodianKeyError, InvalidShareError, SealError


@pytest.fixture(scope="module")
def custodian():
    return pysequoia.Tsk.generate("custodian <custodian@example.org>")


def _public_b64(tsk) -> str:
    return base64.b64encode(bytes(tsk.extract_certificate())).decode()


def _decrypt(tsk, ciphertext_b64: str) -> bytes:
    return pysequoia.decrypt(base64.b64decode(ciphertext_b64), decryptor=tsk.decryptor()).bytes


def test_share_round_trips_through_the_custodian_key(custodian):
    secret = bytes(range(32))
    shares = shamir.split(secret, 3, 2)
    public = _public_b64(custodian)
    recovered = []
    for share in shares:
        ciphertext_b64, fingerprint = encrypt_share(share.hex(), public)
        assert fingerprint == custodian.extract_certificate().fingerprint
        assert fingerprint == fingerprint.lower() and len(fingerprint) == 40
        message = base64.b64decode(ciphertext_b64, validate=True)
        assert message[0] & 0x80  # a binary OpenPGP packet, not armor
        assert share.hex().encode() not in message
        plaintext = _decrypt(custodian, ciphertext_b64)
        assert plaintext == share.hex().encode()  # hex, as Vault encrypts it
        recovered.append(bytes.fromhex(plaintext.decode()))
    assert shamir.combine(recovered[:2]) == secret


def test_armored_public_key_is_accepted(custodian):
    armored = str(custodian.extract_certificate())
    assert armored.startswith("-----BEGIN PGP PUBLIC KEY BLOCK-----")
    ciphertext_b64, fingerprint = encrypt_share("00ff10", armored)
    assert _decrypt(custodian, ciphertext_b64) == b"00ff10"
    assert parse_public_key(armored) == fingerprint


def test_parse_public_key_gives_the_fingerprint(custodian):
    assert parse_public_key(_public_b64(custodian)) == custodian.extract_certificate().fingerprint


@pytest.mark.parametrize(
    "key",
    [
        "",
        "   ",
        "not base64 at all!",
        base64.b64encode(b"garbage bytes, not OpenPGP").decode(),
        "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nxx\n-----END PGP PUBLIC KEY BLOCK-----\n",
        None,
        b"bytes",
    ],
)
def test_garbage_keys_are_refused(key):
    with pytest.raises(CustodianKeyError) as caught:
        parse_public_key(key)
    assert isinstance(caught.value, SealError) and isinstance(caught.value, ValueError)
    with pytest.raises(CustodianKeyError):
        encrypt_share("abcd", key)


def test_two_certificates_in_one_key_are_refused(custodian):
    other = pysequoia.Tsk.generate("other <other@example.org>")
    both = bytes(custodian.extract_certificate()) + bytes(other.extract_certificate())
    with pytest.raises(CustodianKeyError, match="not an OpenPGP public key"):
        parse_public_key(base64.b64encode(both).decode())


def test_secret_key_is_refused(custodian):
    with pytest.raises(CustodianKeyError, match="secret key material"):
        parse_public_key(base64.b64encode(bytes(custodian)).decode())
    with pytest.raises(CustodianKeyError, match="secret key material"):
        encrypt_share("abcd", str(custodian))


def test_key_without_encryption_subkey_is_refused():
    tsk = pysequoia.Tsk.generate("signing only <s@example.org>")
    packets = list(pgp_packet.PacketPile.from_bytes(bytes(tsk.extract_certificate())))
    primary_only = pysequoia.Cert.from_packets(packets[:4])  # key, sig, user id, binding
    key = base64.b64encode(bytes(primary_only)).decode()
    with pytest.raises(CustodianKeyError, match="cannot encrypt"):
        parse_public_key(key)
    with pytest.raises(CustodianKeyError, match="cannot encrypt"):
        encrypt_share("abcd", key)


def test_revoked_key_is_refused():
    tsk = pysequoia.Tsk.generate("revoked <r@example.org>")
    cert = tsk.extract_certificate()
    revoked = bytes(cert) + bytes(cert.revoke(tsk.certifier()))
    with pytest.raises(CustodianKeyError, match="revoked"):
        parse_public_key(base64.b64encode(revoked).decode())


def test_expired_key_is_refused():
    tsk = pysequoia.Tsk.generate("expired <e@example.org>", validity_seconds=1)
    key = _public_b64(tsk)
    time.sleep(1.1)
    with pytest.raises(CustodianKeyError, match="expired"):
        parse_public_key(key)


@pytest.mark.parametrize("share", ["", "abc", "zz", "ab cd", None, b"abcd"])
def test_bad_share_text_is_refused(custodian, share):
    with pytest.raises(InvalidShareError) as caught:
        encrypt_share(share, _public_b64(custodian))
    if isinstance(share, str) and share:
        assert share not in str(caught.value)
