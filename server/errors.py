"""Errors the HTTP layer raises, and the one table from any domain error to a status code.

Domain packages (seal/, storage/) raise typed errors that know nothing of HTTP; this module
decides what the client sees. Nothing is mapped by message text. Errors whose messages are
not fit for clients (integrity, storage) get a fixed public message instead.
"""

from __future__ import annotations

from seal.errors import (
    AlreadyInitializedError,
    CustodianKeyError,
    IntegrityError,
    InvalidShareError,
    NotInitializedError,
    SealConfigError,
    SealedError,
    UnstorableValueError,
)
from seal.generate_root import RootGenerationError
from seal.keyring import TermStateError
from server.audit.broker import AuditFailedError
from server.audit.devices import AuditDeviceError
from server.policy import PolicyError
from server.tokens import TokenError
from storage import StorageError, StorageFullError, StoragePanicError
from storage.backend import InvalidKeyError

SEALED_MESSAGE = "Vault is sealed"  # `bao status` matches this exact text
PERMISSION_DENIED = "permission denied"


class HTTPError(Exception):
    """An error with its status and the messages the client may see."""

    status = 500

    def __init__(self, *messages: str) -> None:
        super().__init__(*messages)
        self.messages = list(messages)


class BadRequestError(HTTPError):
    status = 400


class PermissionDeniedError(HTTPError):
    status = 403

    def __init__(self, *messages: str) -> None:
        super().__init__(*(messages or (PERMISSION_DENIED,)))


class NotFoundError(HTTPError):
    status = 404


class MethodNotAllowedError(HTTPError):
    status = 405

    def __init__(self, *messages: str, bare: bool = False) -> None:
        # Vault's raw endpoints answer a wrong method with an empty error list.
        super().__init__(*(() if bare else messages or ("unsupported operation",)))


class PayloadTooLargeError(HTTPError):
    status = 413


class UnsupportedMediaTypeError(HTTPError):
    status = 415


class ServiceUnavailableError(HTTPError):
    status = 503


# Imported here, below the HTTP errors: importing server.engines loads server.engines.base,
# which imports those errors from this module.
from server.engines.kv_errors import KVError, MissingVersionDataError  # noqa: E402
from server.auth.approle_errors import AppRoleError, LoginRejectedError  # noqa: E402
from server.auth.userpass_errors import UserpassError  # noqa: E402
from server.engines.transit_errors import StoredKeyError, TransitError  # noqa: E402

# Domain error -> (status, public message or None to pass the error's own message).
# Ordered: the first matching class wins, so subclasses come before their bases.
ERROR_TABLE: list[tuple[type[Exception], int, str | None]] = [
    (SealedError, 503, SEALED_MESSAGE),
    (NotInitializedError, 400, "Vault is not initialized"),
    (AlreadyInitializedError, 400, "Vault is already initialized"),
    (SealConfigError, 400, None),
    (InvalidShareError, 400, None),
    (CustodianKeyError, 400, None),
    (UnstorableValueError, 400, "a value in the request cannot be stored (integers are limited to 64 bits)"),
    (InvalidKeyError, 400, None),
    (PolicyError, 400, None),
    (AuditDeviceError, 400, None),
    (AuditFailedError, 500, "internal error: the request could not be audited"),
    (TokenError, 400, None),
    (IntegrityError, 500, "stored data failed its integrity check"),
    (StorageFullError, 507, "storage is full; the write was not applied"),
    (StoragePanicError, 500, "internal error"),
    (StorageError, 500, "storage error"),
    (MissingVersionDataError, 500, "could not find version data"),
    (KVError, 400, None),
    (RootGenerationError, 400, None),
    (TransitError, 400, None),
    (StoredKeyError, 500, "a stored transit key could not be read"),
    (AppRoleError, 400, None),
    (UserpassError, 400, None),
    (LoginRejectedError, 400, None),
    (TermStateError, 400, None),
]


def describe(exc: BaseException) -> tuple[int, list[str]] | None:
    """(status, messages) for a known error, or None for an unexpected one (a generic 500)."""
    if isinstance(exc, HTTPError):
        return exc.status, exc.messages
    for cls, status, public in ERROR_TABLE:
        if isinstance(exc, cls):
            return status, [public if public is not None else str(exc)]
    return None
