"""Errors of the userpass method; server/errors.py's ERROR_TABLE answers them with a 400."""

from __future__ import annotations


class UserpassError(ValueError):
    """A request to the userpass method that cannot be honoured."""


class UserNotFoundError(UserpassError):
    """The named user does not exist (for the password and policies endpoints)."""

    def __init__(self) -> None:
        super().__init__("username does not exist")
