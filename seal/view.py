"""A barrier view: an engine's window onto the barrier, scoped to its mount's prefix.

An engine holding a view cannot name a path outside its prefix: every path it passes is
appended to the prefix, and the prefix ends in '/', so no sibling mount is reachable.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

from seal.ops import BarrierDelete, BarrierPut

if TYPE_CHECKING:
    from seal.barrier import Barrier


class BarrierView:
    """get/put/delete/list/transaction relative to one prefix of the barrier."""

    def __init__(self, barrier: "Barrier", prefix: str) -> None:
        if not prefix.endswith("/"):
            raise ValueError("a view prefix must end in '/'")
        self._barrier = barrier
        self.prefix = prefix

    def __repr__(self) -> str:
        return f"BarrierView({self.prefix!r})"

    @property
    def lock_memory(self) -> bool:
        """Whether engines should mlock the keys they hold (false only with disable_mlock)."""
        return self._barrier.lock_memory

    def _full(self, path: str) -> str:
        if not isinstance(path, str):
            raise ValueError("a storage path must be a string")
        return self.prefix + path

    def stamp(self) -> tuple[int, int]:
        """The barrier's stamp (Barrier.stamp): a value read under another is stale."""
        return self._barrier.stamp()

    def get(self, path: str) -> Any:
        return self._barrier.get(self._full(path))

    def put(self, path: str, value: Any) -> None:
        self._barrier.put(self._full(path), value)

    def delete(self, path: str) -> None:
        self._barrier.delete(self._full(path))

    def list(self, prefix: str = "") -> list[str]:
        return self._barrier.list(self._full(prefix))

    def transaction(self, ops: Sequence[BarrierPut | BarrierDelete]) -> None:
        scoped = [
            BarrierPut(self._full(op.path), op.value) if isinstance(op, BarrierPut) else BarrierDelete(self._full(op.path))
            for op in ops
        ]
        self._barrier.transaction(scoped)

    def sub_view(self, prefix: str) -> "BarrierView":
        """A narrower view (e.g. one key's versions inside a KV mount)."""
        return BarrierView(self._barrier, self._full(prefix))
