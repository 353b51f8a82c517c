"""The AppRole mount's HMAC key: role IDs and secret IDs are stored only as HMAC-SHA256 under it.

The key is 32 random bytes kept in the mount's own barrier view (so it is encrypted like
everything else and goes with the mount). A presented credential is found by computing its
HMAC and reading the entry at that name: no stored credential is ever compared with, or
even held next to, what a client sent. The key is held in a bytearray and zeroed on close.
"""

from __future__ import annotations

import hashlib
import hmac
import os

from seal.view import BarrierView

KEY_PATH = "salt"
KEY_BYTES = 32


class MountHMAC:
    """HMAC-SHA256 under the mount's key, created on first use."""

    def __init__(self, view: BarrierView) -> None:
        self._view = view
        self._key: bytearray | None = None

    def __repr__(self) -> str:
        return f"MountHMAC({self._view.prefix!r})"

    def _loaded(self) -> bytearray:
        if self._key is None:
            stored = self._view.get(KEY_PATH)
            if stored is None:
                stored = os.urandom(KEY_BYTES)
                self._view.put(KEY_PATH, stored)
            self._key = bytearray(stored)
        return self._key

    def digest(self, value: str) -> str:
        """Hex HMAC of a credential: the name under which its entry is stored."""
        return hmac.new(bytes(self._loaded()), value.encode(), hashlib.sha256).hexdigest()

    def forget(self) -> None:
        """Zero and drop the cached key (on seal and unmount)."""
        if self._key is not None:
            self._key[:] = bytes(len(self._key))
            self._key = None
