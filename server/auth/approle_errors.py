"""Errors of the AppRole method, and the one every auth method raises for a refused login.

They know nothing of HTTP: server/errors.py's ERROR_TABLE gives them their status (400,
with the error's own message, which never carries a credential).
"""

from __future__ import annotations


class AppRoleError(ValueError):
    """A request to the AppRole method that cannot be honoured (bad role settings, ...)."""


class RoleNotFoundError(AppRoleError):
    """The named role does not exist."""

    def __init__(self, name: str) -> None:
        super().__init__(f'role "{name}" does not exist')


class LoginRejectedError(ValueError):
    """Credentials were refused. The message is the method's fixed public text, the same
    whatever was wrong, so that a caller learns nothing about which part failed."""
