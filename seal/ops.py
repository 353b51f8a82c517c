"""The operations a barrier transaction takes: a put of any msgpack-able value, or a delete."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class BarrierPut:
    path: str
    value: Any

    def __repr__(self) -> str:  # the value may be a secret
        return f"BarrierPut({self.path!r})"


@dataclass(frozen=True)
class BarrierDelete:
    path: str
