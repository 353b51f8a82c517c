"""The KV engine's own error conditions; server/errors.py's ERROR_TABLE decides their status.

Messages name the rule that was broken and never echo a secret value; a key path may appear
only where Vault's own message names it.
"""

from __future__ import annotations


class KVError(Exception):
    """Base of the KV engine's errors."""


class KeyPathError(KVError):
    """A secret's path is empty, has '.', '..' or empty segments, or ends in '/' on a write."""


class KeyPathTooLongError(KeyPathError):
    """A secret's path is longer, in UTF-8 bytes, than the engine allows."""


class KeyPathTooDeepError(KeyPathError):
    """A secret's path has more segments than the engine allows."""


class ValueTooLargeError(KVError):
    """A secret's encoded data is larger than the engine allows for one version."""


class CheckAndSetError(KVError):
    """A write's check-and-set (cas or metadata_cas) is missing, malformed or stale."""


class CustomMetadataError(KVError):
    """custom_metadata breaks Vault's rules (key count, lengths, printable characters)."""


class MissingVersionDataError(KVError):
    """The metadata names a live version whose data is not in storage (damaged store)."""
