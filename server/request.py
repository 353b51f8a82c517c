"""The logical request every stage of the pipeline sees: operation, canonical path, data."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any, Mapping

# Vault's logical operations, and the HTTP methods that carry them.
READ, LIST, CREATE, UPDATE, DELETE, PATCH = "read", "list", "create", "update", "delete", "patch"
HEAD = "head"  # only sys/health answers it


@dataclass
class Request:
    """One API call after parsing: nothing later re-reads the raw HTTP request's path."""

    operation: str
    path: str
    data: dict[str, Any]
    query: Mapping[str, str]
    token: str | None = field(default=None, repr=False)
    remote_addr: str = ""
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    token_entry: Any = field(default=None, repr=False)
    acl: Any = field(default=None, repr=False)
    mount_point: str = ""
    relative_path: str = ""
    wrap_ttl: int | None = None
    audit: bool = False  # whether this request is recorded by the audit devices
    audited: bool = False  # whether its request entry has been written

    def __repr__(self) -> str:
        return f"Request({self.operation} {self.path!r})"
