"""Custodian keys: each share leaves the server encrypted to its custodian's OpenPGP key.

This is Vault's `pgp_keys` at init and rekey. A key arrives as base64 of the binary OpenPGP
certificate (Vault's form); ASCII-armored text is accepted too. The plaintext encrypted is
the share's HEX string, as Vault encrypts it, so `base64 -d | gpg -d` hands the custodian
the same hex they would have received unencrypted. The result is base64 of the binary
OpenPGP message (Vault's `keys_base64`; Vault's `keys` is the hex of the same bytes), with
the certificate's fingerprint in lower-case hex (Vault's `pgp_fingerprints`). Generate-root
uses the same path for its `pgp_key`: the new root token text, encrypted as is.

Refused, with CustodianKeyError: anything that is not one certificate, a key block holding
secret key material (a custodian's private key must never travel to the server), a revoked
or expired certificate, and one without a usable encryption subkey.

Boundary: pysequoia is imported only here; its RuntimeErrors become CustodianKeyError.
pysequoia takes plaintext only as immutable bytes, so that copy of the hex share cannot
be wiped.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import string

import pysequoia
from pysequoia import packet as pgp_packet

from seal.errors import CustodianKeyError, InvalidShareError

_ARMOR_PREFIX = "-----BEGIN PGP"
_SECRET_TAGS = (pgp_packet.Tag.SecretKey, pgp_packet.Tag.SecretSubkey)
_HEX_DIGITS = frozenset(string.hexdigits)


def _library_reason(exc: Exception) -> str:
    """The first line of a Sequoia error (it may carry a Rust backtrace after it)."""
    lines = str(exc).strip().splitlines()
    return lines[0][:200] if lines else type(exc).__name__


def _key_bytes(public_key_b64: str) -> bytes:
    if not isinstance(public_key_b64, str) or not public_key_b64.strip():
        raise CustodianKeyError("a PGP key must be a non-empty base64 string")
    text = public_key_b64.strip()
    if text.startswith(_ARMOR_PREFIX):
        return text.encode("utf-8")
    try:
        return base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        raise CustodianKeyError("a PGP key must be base64 of an OpenPGP public key") from None


def _certificate(public_key_b64: str) -> pysequoia.Cert:
    raw = _key_bytes(public_key_b64)
    try:
        cert = pysequoia.Cert.from_bytes(raw)
        packets = list(pgp_packet.PacketPile.from_bytes(raw))
    except RuntimeError as exc:
        raise CustodianKeyError(f"not an OpenPGP public key: {_library_reason(exc)}") from None
    if any(p.tag in _SECRET_TAGS for p in packets):
        raise CustodianKeyError(
            f"key {cert.fingerprint} holds secret key material; send only the public key"
        )
    if cert.is_revoked:
        raise CustodianKeyError(f"key {cert.fingerprint} is revoked")
    expiration = cert.expiration
    if expiration is not None and expiration <= datetime.datetime.now(datetime.timezone.utc):
        raise CustodianKeyError(f"key {cert.fingerprint} expired at {expiration.isoformat()}")
    return cert


def _encrypt(plaintext: bytes, cert: pysequoia.Cert) -> bytes:
    try:
        return pysequoia.encrypt(plaintext, recipients=[cert], armor=False)
    except RuntimeError as exc:
        raise CustodianKeyError(
            f"cannot encrypt to key {cert.fingerprint}: {_library_reason(exc)}"
        ) from None


def parse_public_key(public_key_b64: str) -> str:
    """The key's fingerprint (lower-case hex) once it proves usable for encrypting a share."""
    cert = _certificate(public_key_b64)
    _encrypt(b"", cert)  # finds a missing or unusable encryption subkey before any share exists
    return cert.fingerprint


def encrypt_share(share_hex: str, public_key_b64: str) -> tuple[str, str]:
    """(base64 of the binary OpenPGP message holding share_hex, key fingerprint)."""
    if (
        not isinstance(share_hex, str)
        or not share_hex
        or len(share_hex) % 2
        or not _HEX_DIGITS.issuperset(share_hex)
    ):
        raise InvalidShareError("a share to encrypt must be a non-empty, even-length hex string")
    return encrypt_text(share_hex, public_key_b64)


def encrypt_text(text: str, public_key_b64: str) -> tuple[str, str]:
    """(base64 of the binary OpenPGP message holding text's UTF-8, key fingerprint).

    For secrets handed out once as text, as Vault encrypts them: a share's hex, a new root
    token (generate-root's encoded_token).
    """
    cert = _certificate(public_key_b64)
    message = _encrypt(text.encode("utf-8"), cert)
    return base64.b64encode(message).decode("ascii"), cert.fingerprint
