"""Vault's timestamps: RFC 3339 in UTC with fractional seconds, as Go's RFC3339Nano prints."""

from __future__ import annotations

from datetime import datetime, timezone


def rfc3339(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).isoformat().replace("+00:00", "Z")
