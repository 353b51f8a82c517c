"""Per-version usage limits: each version counts its encryptions, and at the key's limit it
stops encrypting and the key rotates (NIST SP 800-38D §8.3 bounds random 96-bit GCM nonces
to 2^32 invocations per key; the default limit, 2^30, stays well below it).

Counts survive restarts without a write per encryption: before a version encrypts past what
storage already holds, a block of RESERVATION_BLOCK further encryptions is reserved in the
key's record. A restart resumes counting from the reservation, so a crash can only
over-count, never under-count.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from server.engines.transit_errors import TransitError, UsageLimitError
from server.engines.transit_key import TransitKey
from server.engines.transit_ops_keys import rotate_now

if TYPE_CHECKING:
    from server.engines.transit import TransitEngine
    from server.engines.transit_store import KeyStore

RESERVATION_BLOCK = 4096


def spend(store: "KeyStore", key: TransitKey, number: int, count: int = 1) -> None:
    """Count `count` encryptions under version `number`, reserving in storage first;
    UsageLimitError if that would pass the key's usage limit."""
    entry = key.versions.get(number)
    if entry is None:
        return
    life = entry.life
    if life.used + count > key.usage_limit:
        store.mark_lifecycle_due(key.name)
        raise UsageLimitError(f"key version {number} has reached its usage limit of {key.usage_limit} encryptions")
    if life.used + count > life.reserved:
        life.reserved = min(life.used + count + RESERVATION_BLOCK, key.usage_limit)
        try:
            store.put(key)
        except BaseException:
            store.forget(key.name)  # the refused reservation must not count as made
            raise
    life.used += count
    if life.used >= key.usage_limit:
        store.mark_lifecycle_due(key.name)


def exhausted(key: TransitKey, room: int = 1) -> bool:
    """Whether the latest version has fewer than `room` encryptions left."""
    entry = key.versions.get(key.latest_version)
    return entry is not None and entry.life.used + room > key.usage_limit


async def make_room(engine: "TransitEngine", name: str, count: int) -> None:
    """Rotate before a request whose `count` encryptions the latest version cannot take
    (the automatic rotation at the limit); a key that may not rotate is left to refuse."""
    key = engine.store.get(name)
    if key is None or not exhausted(key, min(count, key.usage_limit)):
        return
    try:
        key.check_rotatable()
    except TransitError:
        return
    await rotate_now(engine, name)
