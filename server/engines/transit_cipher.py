"""Encrypt and decrypt one value under a transit key, with Vault's rules and messages.

A ciphertext is `vault:vN:` + base64(nonce || ciphertext || tag) for the AEAD types and
`vault:vN:` + base64(RSA-OAEP) for RSA keys (OAEP with SHA-256 and MGF1-SHA-256, empty label,
RFC 8017 §7.1), byte for byte what Vault produces. Every failure to decrypt is a
CiphertextError (a 400), never an unexpected exception.
"""

from __future__ import annotations

import binascii
import functools
import os
from contextlib import contextmanager
from typing import Callable, Iterator

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from seal.lockedmem import zero_bytearray
from server.engines.transit_encoding import Base64Error, b64decode, b64encode, split_versioned, version_prefix
from server.engines.transit_errors import CiphertextError, TransitError, UnsupportedKeyOperationError
from server.engines.transit_key import CONVERGENT_VERSION, TransitKey
from server.engines.transit_keytypes import KeyType
from server.engines.transit_symmetric import AEAD, convergent_nonce, derive_key, make_aead, nonce_slices, opener, seal

HMAC_PART_BYTES = 32
OAEP_SHA256 = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)


@contextmanager
def version_key(key: TransitKey, version: int, context: bytes, extra: int = 0) -> Iterator[memoryview]:
    """The symmetric key for a version: its own bytes, or for derived keys the key derived
    from context (Vault's Policy.GetKey), `key_bytes + extra` long. Derived bytes are zeroed
    on exit; the view must not outlive the block."""
    wanted = key.type.key_bytes + extra
    if not key.derived:
        yield key.version(version).secret.view()  # type: ignore[union-attr]
        return
    if not key.type.supports_derivation:
        raise TransitError(f"derivation not supported for key type {key.type.name}")
    if not context:
        derive_key(key.kdf, b"", context, wanted)  # raises Vault's missing-context error
    base = key.version(version)
    derived = derive_key(key.kdf, base.secret.view(), context, wanted)  # type: ignore[union-attr]
    try:
        if len(derived) < wanted:
            raise TransitError("could not derive key, length too small")
        yield memoryview(derived)
    finally:
        zero_bytearray(derived)


def _cipher(key: TransitKey, version: int, context: bytes, extra: int = 0) -> tuple[AEAD, bytes | None]:
    """(cipher, convergent HMAC key or None). Non-derived keys reuse the version's cipher;
    a derived key's material is zeroed as soon as the cipher holds its own copy."""
    if not key.derived:
        return key.version(version).aead(key.type), None
    with version_key(key, version, context, extra) as material:
        return make_aead(key.type, material[: key.type.key_bytes]), (
            bytes(material[key.type.key_bytes:]) if extra else None)


def _refuse_old_convergent(scheme: int) -> None:
    # Convergent schemes 1 and 2 took the nonce from the caller; Vault refuses them now.
    if 0 < scheme < CONVERGENT_VERSION:
        raise TransitError(f"refusing to support decryption with old convergent encryption key: version {scheme}")


Encrypt = Callable[[bytes, "bytes | None"], str]
Decrypt = Callable[[bytes, "bytes | None"], bytes]


def encryptor(key: TransitKey, requested_version: int, context: bytes,
              nonces: Callable[[], bytes] | None = None) -> tuple[Encrypt, int]:
    """Everything encrypting under one (version, context) needs, checked and derived once
    (Vault's EncryptWithFactory, in its order): a batch reuses it for each of its items.
    Returns (plaintext, associated data) -> ciphertext string, and the version used.
    `nonces` gives the random nonces (a batch draws them together); by default each is read
    from the OS."""
    key.require_usable()
    kt = key.type
    if not kt.supports_encryption:
        raise UnsupportedKeyOperationError(f"message encryption not supported for key type {kt.name}")
    version = key.encryption_version(requested_version)
    prefix = version_prefix(version)
    if kt.family == "rsa":
        public = key.version(version).public_key(kt)

        def rsa_encrypt(plaintext: bytes, associated_data: bytes | None) -> str:
            try:
                return prefix + b64encode(public.encrypt(plaintext, OAEP_SHA256))
            except ValueError:
                raise TransitError(
                    "failed to RSA encrypt the plaintext: crypto/rsa: message too long for RSA key size") from None

        return rsa_encrypt, version
    if not key.convergent:
        if key.derived or nonces is not None:
            return _random_sealer(_cipher(key, version, context)[0], prefix, nonces or _nonce_reader(kt)), version
        entry = key.version(version)  # its own cipher and the OS's nonces: one sealer for every request
        return entry.cached("sealer", lambda: _random_sealer(entry.aead(kt), prefix, _nonce_reader(kt))), version
    scheme = key.convergent_scheme(version)
    cipher, hmac_key = _cipher(key, version, context, HMAC_PART_BYTES if scheme > 2 else 0)
    _refuse_old_convergent(scheme)
    if hmac_key is None:
        raise TransitError(f"unhandled convergent version {scheme}")
    return (lambda plaintext, associated_data: prefix + b64encode(
        seal(kt, cipher, plaintext, associated_data, convergent_nonce(kt, hmac_key, plaintext)))), version


def _nonce_reader(kt: KeyType) -> Callable[[], bytes]:
    return functools.partial(os.urandom, kt.nonce_bytes)


def _random_sealer(cipher: AEAD, prefix: str, draw: Callable[[], bytes]) -> Encrypt:
    """(plaintext, associated data) -> prefix + base64(nonce || ciphertext || tag), each
    nonce from draw()."""
    seal_raw, to_base64 = cipher.encrypt, binascii.b2a_base64

    def encrypt_random(plaintext: bytes, associated_data: bytes | None) -> str:
        # seal() and b64encode() written out, as one frame: a batch runs this per item.
        nonce = draw()
        return prefix + to_base64(nonce + seal_raw(nonce, plaintext, associated_data or None),
                                  newline=False).decode("ascii")

    return encrypt_random


def seal_all(key: TransitKey, version: int, plaintexts: list[bytes]) -> list[str]:
    """What encryptor()'s sealer gives for each plaintext, without associated data, under a
    version of a non-derived, non-convergent AEAD key that encryptor() has accepted: one read
    for all the nonces and one loop (a usual batch's hundred items cost a third less)."""
    kt = key.type
    seal_raw, to_base64, prefix = key.version(version).aead(kt).encrypt, binascii.b2a_base64, version_prefix(version)
    return [prefix + to_base64(nonce + seal_raw(nonce, plaintext, None), newline=False).decode("ascii")
            for nonce, plaintext in zip(nonce_slices(kt.nonce_bytes, len(plaintexts)), plaintexts)]


def encrypt(key: TransitKey, requested_version: int, context: bytes, plaintext: bytes,
            associated_data: bytes | None = None) -> tuple[str, int]:
    """(ciphertext string, version used) for one plaintext."""
    run, version = encryptor(key, requested_version, context)
    return run(plaintext, associated_data), version


def read_ciphertext(key: TransitKey, value: str) -> tuple[int, bytes]:
    """(version, raw bytes) of a `vault:vN:` ciphertext the key may decrypt, checked in
    Vault's DecryptWithFactory order."""
    return ciphertext_reader(key)(value)


def ciphertext_reader(key: TransitKey) -> Callable[[str], tuple[int, bytes]]:
    """read_ciphertext for the ciphertexts of one request (a batch): the key's checks are
    made once, and each version's once when first seen, their refusals remembered and
    raised again for every ciphertext they concern, as per_request does for ciphers. The
    key does not change within a request, which runs without yielding to the loop."""
    try:
        key.require_usable()
        if not key.type.supports_decryption:
            raise UnsupportedKeyOperationError(f"message decryption not supported for key type {key.type.name}")
        refusal: TransitError | None = None
    except TransitError as exc:
        refusal = exc
    checked: dict[int, tuple[int, TransitError | None]] = {}

    def check(version: int) -> tuple[int, TransitError | None]:
        try:
            usable = key.check_decryption_version(version, "ciphertext")
            _refuse_old_convergent(key.convergent_scheme(usable))
            return usable, None
        except TransitError as exc:
            return 0, exc

    def read(value: str) -> tuple[int, bytes]:
        if refusal is not None:
            raise refusal
        try:
            number, payload = split_versioned(value, "ciphertext")
        except ValueError as exc:
            raise CiphertextError(str(exc)) from None
        found = checked.get(number)
        if found is None:
            found = checked[number] = check(number)
        if found[1] is not None:
            raise found[1]
        try:
            return found[0], b64decode(payload)
        except Base64Error:
            raise CiphertextError("invalid ciphertext: could not decode base64") from None

    return read


def decryptor(key: TransitKey, version: int, context: bytes) -> Decrypt:
    """(raw ciphertext, associated data) -> plaintext for one checked (version, context)."""
    kt = key.type
    if kt.family == "rsa":
        entry = key.version(version)
        if not entry.has_private:
            raise TransitError("cannot decrypt ciphertext, key version does not have a private counterpart")
        private = entry.private_key(kt)

        def rsa_decrypt(blob: bytes, associated_data: bytes | None) -> bytes:
            try:
                return private.decrypt(blob, OAEP_SHA256)
            except ValueError:
                raise CiphertextError("failed to RSA decrypt the ciphertext: crypto/rsa: decryption error") from None

        return rsa_decrypt
    if not key.derived:  # the version's own cipher: one opener for every request, as for sealers
        entry = key.version(version)
        return entry.cached("opener", lambda: opener(kt, entry.aead(kt)))
    return opener(kt, _cipher(key, version, context)[0])


def decrypt(key: TransitKey, context: bytes, value: str, associated_data: bytes | None = None) -> bytes:
    """The plaintext of one `vault:vN:` ciphertext."""
    version, blob = read_ciphertext(key, value)
    return decryptor(key, version, context)(blob, associated_data)


def parse_versioned(value: str, noun: str) -> tuple[int, str]:
    try:
        return split_versioned(value, noun)
    except ValueError as exc:
        raise CiphertextError(str(exc)) from None
