"""The AEAD key-copy self-test passes for the real library and catches one that does not copy."""

import os

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

from seal.errors import AeadSelfTestError, SealError
from seal.selftest import DEFAULT_AEADS, check_aead_copies_key


class KeepsCallerBuffer:
    """Reads the caller's key buffer at every call, as cryptography on OpenSSL < 3.2 does."""

    def __init__(self, key):
        self._key = key

    def encrypt(self, nonce, data, associated_data):
        return AESGCM(bytes(self._key)).encrypt(nonce, data, associated_data)

    def decrypt(self, nonce, data, associated_data):
        return AESGCM(bytes(self._key)).decrypt(nonce, data, associated_data)


class IgnoresGivenKey:
    """Copies nothing useful: encrypts under a key of its own."""

    def __init__(self, key):
        self._aead = AESGCM(os.urandom(32))

    def encrypt(self, nonce, data, associated_data):
        return self._aead.encrypt(nonce, data, associated_data)

    def decrypt(self, nonce, data, associated_data):
        return self._aead.decrypt(nonce, data, associated_data)


def test_installed_library_copies_its_keys():
    assert set(DEFAULT_AEADS) == {AESGCM, ChaCha20Poly1305}
    check_aead_copies_key()
    check_aead_copies_key([AESGCM])
    check_aead_copies_key([ChaCha20Poly1305])


def test_aead_that_keeps_the_caller_buffer_is_caught():
    with pytest.raises(AeadSelfTestError, match="KeepsCallerBuffer keeps reading") as caught:
        check_aead_copies_key([AESGCM, KeepsCallerBuffer])
    assert isinstance(caught.value, SealError)


def test_aead_that_ignores_its_key_is_caught():
    with pytest.raises(AeadSelfTestError, match="did not encrypt under the key"):
        check_aead_copies_key([IgnoresGivenKey])


def test_real_aead_really_reads_a_zeroed_key_as_zero():
    """The hazard the check guards against, shown directly with the fake."""
    key = bytearray(os.urandom(32))
    aead = KeepsCallerBuffer(key)
    nonce = bytes(12)
    before = aead.encrypt(nonce, b"x", None)
    key[:] = bytes(32)
    assert aead.encrypt(nonce, b"x", None) != before
    assert aead.encrypt(nonce, b"x", None) == AESGCM(bytes(32)).encrypt(nonce, b"x", None)
