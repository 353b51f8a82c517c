"""The exceptions seal/ raises, one class per condition.

Domain errors only: they know nothing of HTTP (server/ maps them to status codes by type).
Messages never carry key, share or plaintext bytes.
"""


class SealError(Exception):
    """Base of everything seal/ raises."""


class InvalidShareError(SealError, ValueError):
    """A share is malformed, too short, duplicated, or not one of this seal's."""


class InvalidSplitError(SealError, ValueError):
    """Shamir split was asked for an impossible sharing (parts/threshold, empty secret)."""


class MemoryLockError(SealError):
    """Key memory could not be locked (mlock failed); `disable_mlock` turns locking off."""


class BufferClosedError(SealError, ValueError):
    """A locked buffer was used after it was closed (its key bytes are already zeroed)."""


class CoreDumpError(SealError):
    """Core dumps could not be disabled, so key memory could end up in a dump file."""


class AeadSelfTestError(SealError):
    """The AEAD library failed the start-up check that it copies the key it is given."""


class CustodianKeyError(SealError, ValueError):
    """A custodian's OpenPGP public key is unusable: garbage, secret, revoked, or expired."""


class SealedError(SealError):
    """The operation needs the barrier open, and strongroom is sealed."""


class NotInitializedError(SealError):
    """The store has not been initialised yet."""


class AlreadyInitializedError(SealError):
    """Initialisation was asked of a store that already is."""


class SealConfigError(SealError, ValueError):
    """A bad seal shape or seal request (shares, threshold, pgp keys, no rekey in progress)."""


class NonceMismatchError(SealConfigError):
    """A share was submitted with the nonce of another (or no) operation."""


class IntegrityError(SealError):
    """Stored data failed authentication: tampered, moved, truncated, or the wrong key."""


class BarrierStateError(SealError):
    """The barrier was asked to open while open (a programming error, not an input one)."""


class UnstorableValueError(SealError, ValueError):
    """A value the barrier cannot encode (an integer past 64 bits, an unsupported type)."""
