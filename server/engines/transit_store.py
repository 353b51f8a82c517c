"""Where transit keys live: records in the mount's barrier view, and an in-memory cache.

Storage is the truth. The cache holds loaded keys (their secrets in locked buffers and their
crypto objects) so an encrypt does not decrypt and parse a record; every write goes to the
view first and then replaces the cached key, a failed write evicts it, and close() zeroes
everything. The store also keeps the auto-rotation and key lifecycle schedules the engine's
tick() consults.
"""

from __future__ import annotations

from typing import Any

from seal.view import BarrierView
from server.engines.transit_key import TransitKey
from server.engines.transit_lifecycle import next_event_ns

POLICY_PREFIX = "policy/"
CONFIG_KEYS_PATH = "config/keys"
WRAPPING_KEY_PATH = "import/wrapping-key"  # outside policy/, so keys/ never lists it
NANOS = 1_000_000_000


class KeyStore:
    def __init__(self, view: BarrierView) -> None:
        self._view = view
        self._cache: dict[str, TransitKey] = {}
        self._due: dict[str, float] | None = None  # name -> unix time of the next rotation
        self._events: dict[str, int] = {}  # name -> unix ns of the next lifecycle event (with _due)

    def __repr__(self) -> str:
        return f"KeyStore({self._view.prefix!r}, {len(self._cache)} cached)"

    # -- named keys ----------------------------------------------------------------------

    def get(self, name: str) -> TransitKey | None:
        return self._load(POLICY_PREFIX + name)

    def exists(self, name: str) -> bool:
        return self.get(name) is not None

    def put(self, key: TransitKey) -> None:
        self._store(POLICY_PREFIX + key.name, key)
        self._schedule(key)

    def delete(self, name: str) -> None:
        path = POLICY_PREFIX + name
        self._view.delete(path)
        self._evict(path)
        if self._due is not None:
            self._due.pop(name, None)
            self._events.pop(name, None)

    def names(self) -> list[str]:
        return sorted(n for n in self._view.list(POLICY_PREFIX) if not n.endswith("/"))

    # -- mount-wide records ----------------------------------------------------------------

    def wrapping_key(self) -> TransitKey | None:
        return self._load(WRAPPING_KEY_PATH)

    def put_wrapping_key(self, key: TransitKey) -> None:
        self._store(WRAPPING_KEY_PATH, key)

    def keys_config(self) -> dict[str, Any]:
        stored = self._view.get(CONFIG_KEYS_PATH)
        return {"disable_upsert": bool(stored.get("disable_upsert"))} if isinstance(stored, dict) else {
            "disable_upsert": False}

    def put_keys_config(self, config: dict[str, Any]) -> None:
        self._view.put(CONFIG_KEYS_PATH, config)

    # -- auto-rotation -------------------------------------------------------------------------

    def due_for_rotation(self, now: float) -> list[str]:
        """Names of keys whose auto_rotate_period has run out since their latest version.
        The first call reads every key once; later calls only consult the schedule."""
        self._scan()
        return sorted(name for name, when in self._due.items() if when <= now)  # type: ignore[union-attr]

    def lifecycle_due(self, now: float) -> list[str]:
        """Names of keys with a lifecycle event (activation, end of an originator usage
        period, destruction, exhausted usage) due by a unix time."""
        self._scan()
        now_ns = int(now * NANOS)
        return sorted(name for name, when in self._events.items() if when <= now_ns)

    def mark_lifecycle_due(self, name: str) -> None:
        """Have the next tick look at a key now (its latest version reached its usage limit)."""
        if self._due is not None:
            self._events[name] = 0

    def postpone_lifecycle(self, name: str, until: float) -> None:
        """Hold due lifecycle work back until a unix time (after a failed attempt)."""
        if self._due is not None and name in self._events:
            self._events[name] = int(until * NANOS)

    def _scan(self) -> None:
        if self._due is None:
            self._due, self._events = {}, {}
            for name in self.names():
                cached = self._cache.get(POLICY_PREFIX + name)
                record = cached.to_schedule() if cached is not None else self._view.get(POLICY_PREFIX + name)
                if record is not None:
                    self._schedule_record(name, record)

    def postpone(self, name: str, until: float) -> None:
        """Hold a due rotation back until a unix time (after a failed attempt)."""
        if self._due is not None and name in self._due:
            self._due[name] = until

    def _schedule(self, key: TransitKey) -> None:
        if self._due is not None:
            self._schedule_record(key.name, key.to_schedule())

    def _schedule_record(self, name: str, record: dict[str, Any]) -> None:
        """Schedule from the plain fields of a record: the first scan must not unpack (and
        lock into memory) the secrets of every key just to read two numbers."""
        if self._due is None:
            return
        try:
            event = next_event_ns(record)
        except (AttributeError, KeyError, TypeError, ValueError):
            event = None
        if event is None:
            self._events.pop(name, None)
        else:
            self._events[name] = event
        try:
            versions = record.get("versions") or []
            rotatable = (record.get("auto_rotate_period", 0) > 0 and not record.get("soft_deleted") and versions
                         and (not record.get("imported") or record.get("allow_imported_rotation")))
            latest = max(versions, key=lambda v: v["n"]) if rotatable else None
            when = latest["time"] / NANOS + record["auto_rotate_period"] if latest else None
        except (AttributeError, KeyError, TypeError, ValueError):
            when = None  # an unreadable record fails loudly when used; it is not rotated blindly
        if when is None:
            self._due.pop(name, None)
        else:
            self._due[name] = when

    # -- cache -------------------------------------------------------------------------------------

    def _load(self, path: str) -> TransitKey | None:
        cached = self._cache.get(path)
        if cached is not None:
            return cached
        record = self._view.get(path)
        if record is None:
            return None
        key = TransitKey.from_record(record)
        self._cache[path] = key
        return key

    def _store(self, path: str, key: TransitKey) -> None:
        try:
            self._view.put(path, key.to_record())
        except BaseException:
            self._evict(path)  # the cached object may hold changes storage refused
            key.close()
            raise
        previous = self._cache.get(path)
        self._cache[path] = key
        if previous is not None and previous is not key:
            previous.close()

    def _evict(self, path: str) -> None:
        cached = self._cache.pop(path, None)
        if cached is not None:
            cached.close()

    def forget(self, name: str) -> None:
        """Drop a cached key so the next read comes from storage (after a refused change)."""
        self._evict(POLICY_PREFIX + name)

    def close(self) -> None:
        """Zero and drop every cached key (seal, unmount)."""
        for key in self._cache.values():
            key.close()
        self._cache.clear()
        self._due = None
        self._events = {}
