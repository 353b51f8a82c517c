"""The transit engine's domain errors. They know nothing of HTTP: server/errors.py maps them.

Messages are Vault's own wording wherever Vault has one, because scripts match on them; none
of them ever carries key bytes, plaintext or a ciphertext.
"""

from __future__ import annotations


class TransitError(Exception):
    """A request the transit engine refuses (a 400); the message is safe to show."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class UnsupportedKeyOperationError(TransitError):
    """The key's type does not do what was asked (sign with an AES key, encrypt with ECDSA)."""


class AssociatedDataNotSupportedError(UnsupportedKeyOperationError):
    """associated_data sent for a key that is not an AEAD (Vault leaves the batch status 200)."""


class CiphertextError(TransitError):
    """A ciphertext, signature or wrapped key that is malformed or fails its integrity check."""


class KeyVersionError(TransitError):
    """A key version that does not exist or that the key's policy refuses."""


class KeyConfigError(TransitError):
    """A key definition or configuration change that the key model refuses."""


class StoredKeyError(Exception):
    """A key record read back from the barrier that cannot be understood (a 500)."""


class KeyStateError(TransitError):
    """A key version whose lifecycle state, cryptoperiod or scheduled destruction forbids
    the operation asked of it (NIST SP 800-57 Part 1 §7)."""


class IllegalTransitionError(KeyStateError):
    """A state change the SP 800-57 / KMIP transition graph does not allow."""


class UsageLimitError(KeyStateError):
    """A key version that has reached its encryption usage limit."""


class KeyCheckValueError(TransitError):
    """An imported key whose key check value is not the one the caller expected."""
