"""The logical request every stage of the pipeline sees: operation, canonical path, data."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Mapping

# Vault's logical operations, and the HTTP methods that carry them.
READ, LIST, CREATE, UPDATE, DELETE, PATCH = "read", "list", "create", "update", "delete", "patch"
HEAD = "head"  # only sys/health answers it


def request_id() -> str:
    """A random (version 4) UUID in its usual text form, as str(uuid.uuid4()) gives it.

    Every request takes one; building it from the hex of 16 random bytes costs half of
    going through uuid.UUID's constructor and its __str__.
    """
    raw = bytearray(os.urandom(16))
    raw[6] = raw[6] & 0x0F | 0x40  # RFC 9562 §5.4: version 4
    raw[8] = raw[8] & 0x3F | 0x80  # and the RFC variant
    text = raw.hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


@dataclass(slots=True)
class Request:
    """One API call after parsing: nothing later re-reads the raw HTTP request's path."""

    operation: str
    path: str
    data: dict[str, Any]
    query: Mapping[str, str]
    token: str | None = field(default=None, repr=False)
    remote_addr: str = ""
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    given_id: str = ""  # a forwarded request keeps the ID its first process gave it
    token_entry: Any = field(default=None, repr=False)
    acl: Any = field(default=None, repr=False)
    mount_point: str = ""
    relative_path: str = ""
    wrap_ttl: int | None = None
    audit: bool = False  # whether this request is recorded by the audit devices
    audited: bool = False  # whether its request entry has been written

    def __repr__(self) -> str:
        return f"Request({self.operation} {self.path!r})"

    @property
    def id(self) -> str:
        """The request's ID, made when first asked for: replies without Vault's envelope (health,
        seal status) never ask, and a random UUID is a tenth of such a request's time."""
        if not self.given_id:
            self.given_id = request_id()
        return self.given_id
