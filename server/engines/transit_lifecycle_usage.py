"""Per-version usage limits: each version counts its encryptions, and at the key's limit it
stops encrypting and the key rotates (NIST SP 800-38D §8.3 bounds random 96-bit GCM nonces
to 2^32 invocations per key; the default limit, 2^30, stays well below it).

Counts survive restarts without a write per encryption: before a version encrypts past what
storage already holds, a block of further encryptions is reserved in the key's record. A
restart resumes counting from the reservation, so a crash can only over-count, never
under-count. A block is RESERVATION_BLOCK, or 1/32 of the version's count so far once that is
more (at most MAX_RESERVATION_BLOCK). Each reservation is a durable commit that every worker
process must hear of before it answers again, so a busy key should make few: at 250,000
encryptions a second, a few a second. A crash over-counts by at most one block a process.

With worker processes only the primary writes, so a follower counts in blocks the primary
grants it (`UsageGrants`, set as the key store's `grants`): the primary moves the stored
reservation past the block, and gives up what was left of its own, before the block is
handed out. Every encryption is then counted in exactly one process's block; the blocks
given up are over-counts, again the safe direction.
"""

from __future__ import annotations

import asyncio
import functools
from typing import TYPE_CHECKING, Awaitable, Callable

from server.engines.transit_errors import TransitError, UsageLimitError
from server.forwarding import GrantNeededError, PrimaryRequiredError
from server.engines.transit_key import TransitKey
from server.engines.transit_ops_keys import rotate_now

if TYPE_CHECKING:
    from server.engines.transit import TransitEngine
    from server.engines.transit_store import KeyStore

RESERVATION_BLOCK = 1 << 16
MAX_RESERVATION_BLOCK = 1 << 20


def reservation_block(counted: int) -> int:
    """The size of the next reservation of a version that has counted `counted` encryptions."""
    return min(max(RESERVATION_BLOCK, counted >> 5), MAX_RESERVATION_BLOCK)


def spend(store: "KeyStore", key: TransitKey, number: int, count: int = 1) -> None:
    """Count `count` encryptions under version `number`, reserving in storage first;
    UsageLimitError if that would pass the key's usage limit."""
    entry = key.versions.get(number)
    if entry is None:
        return
    grants: UsageGrants | None = getattr(store, "grants", None)
    if grants is not None:  # a follower process: count in a block the primary granted
        if not grants.take(key.name, number, entry.created_ns, count, key.usage_limit, entry.life.reserved):
            created = entry.created_ns
            raise GrantNeededError(lambda: grants.obtain(key.name, number, created, count))
        return
    life = entry.life
    used = life.used + count
    if used <= life.reserved and used < key.usage_limit:
        life.used = used  # inside the reservation and short of the limit: nothing else to do
        return
    if used > key.usage_limit:
        store.mark_lifecycle_due(key.name)
        raise UsageLimitError(f"key version {number} has reached its usage limit of {key.usage_limit} encryptions")
    if life.used + count > life.reserved:
        life.reserved = min(life.used + count + reservation_block(life.used), key.usage_limit)
        try:
            store.put(key)
        except BaseException:
            store.forget(key.name)  # the refused reservation must not count as made
            raise
    life.used += count
    if life.used >= key.usage_limit:
        store.mark_lifecycle_due(key.name)


def spend_all(store: "KeyStore", key: TransitKey, number: int, count: int) -> bool:
    """Count `count` encryptions under version `number` exactly as `count` calls of spend
    would (the same reservations written), or none and False if the usage limit would refuse
    any of them. One step when they fit in the current reservation, as most batches do."""
    entry = key.versions.get(number)
    if entry is None or getattr(store, "grants", None) is not None:
        spend(store, key, number, count)  # a follower's block takes them all, or none and it asks for more
        return True
    life, limit = entry.life, key.usage_limit
    after = life.used + count
    if after > limit:
        return False
    if after <= life.reserved and after < limit:
        life.used = after
        return True
    for _ in range(count):  # a reservation to write, or the limit reached: spend's own steps
        spend(store, key, number)
    return True


def exhausted(key: TransitKey, room: int = 1) -> bool:
    """Whether the latest version has fewer than `room` encryptions left."""
    entry = key.versions.get(key.latest_version)
    return entry is not None and entry.life.used + room > key.usage_limit


async def make_room(engine: "TransitEngine", name: str, count: int) -> None:
    """Rotate before a request whose `count` encryptions the latest version cannot take
    (the automatic rotation at the limit); a key that may not rotate is left to refuse.
    In a follower: make sure a granted block can take them (the primary rotates)."""
    key = engine.store.get(name)
    grants: UsageGrants | None = getattr(engine.store, "grants", None)
    if grants is not None:
        entry = key.versions.get(key.latest_version) if key is not None else None
        if entry is not None and not grants.has(name, entry.number, entry.created_ns, count, key.usage_limit,
                                                entry.life.reserved):
            await grants.obtain(name, entry.number, entry.created_ns, count)
        return
    if key is None or not exhausted(key, min(count, key.usage_limit)):
        return
    try:
        key.check_rotatable()
    except TransitError:
        return
    await rotate_now(engine, name)


def grant(store: "KeyStore", name: str, number: int, created_ns: int, count: int) -> tuple[int, int]:
    """On the primary: reserve a block of at least `count` encryptions of one version for a
    follower and return it as (start, end); the caller makes the write durable before it
    hands the block out. PrimaryRequiredError if the version changed or has no room left
    (the follower then forwards the request, and the primary rotates or refuses it)."""
    key = store.get(name)
    entry = key.versions.get(number) if key is not None else None
    if key is None or entry is None or entry.created_ns != created_ns:
        raise PrimaryRequiredError("the key version changed")
    life = entry.life
    start = max(life.reserved, life.used)
    end = min(start + max(count, reservation_block(start)), key.usage_limit)
    if end - start < count:
        store.mark_lifecycle_due(name)
        raise PrimaryRequiredError(f"key version {number} has reached its usage limit")
    # What was left of the primary's own block goes with it: an over-count, never an under-count.
    life.reserved = life.used = end
    try:
        store.put(key)
    except BaseException:
        store.forget(name)
        raise
    if end >= key.usage_limit:
        store.mark_lifecycle_due(name)
    return start, end


Fetch = Callable[[str, int, int, int], Awaitable[tuple[int, int]]]


class UsageGrants:
    """A follower's blocks of counted encryptions, one per key version, from the primary.

    Once half of a block is spent the next is asked for in the background, so a busy
    follower does not stop every request while the primary (itself busy) makes a grant
    durable; what is left of a block when the next takes over is given up (an over-count)."""

    def __init__(self, fetch: Fetch) -> None:
        self._fetch = fetch  # (name, version, version created_ns, count) -> (start, end)
        self._blocks: dict[tuple[str, int, int], list[int]] = {}  # [next count, end, size]
        self._spare: dict[tuple[str, int, int], list[int]] = {}  # the next block, fetched ahead
        self._asking: dict[tuple[str, int, int], asyncio.Future] = {}
        self._refused: set[tuple[str, int, int]] = set()  # asked ahead and refused: not again

    def __repr__(self) -> str:
        return f"UsageGrants({len(self._blocks)} blocks, {len(self._spare)} ahead)"

    def has(self, name: str, number: int, created_ns: int, count: int, limit: int, reserved: int) -> bool:
        """Whether the block (or, once it cannot, the one fetched ahead) can take `count` more.
        `limit` and `reserved` are the version's as stored now: a limit lowered since the
        grant caps a block, and a block that storage's reservation no longer covers (a
        restore moved it back) is given up."""
        ident = (name, number, created_ns)
        for blocks in (self._blocks, self._spare):
            block = blocks.get(ident)
            if block is not None and block[1] > reserved:
                del blocks[ident]
        block = self._blocks.get(ident)
        if block is None or min(block[1], limit) - block[0] < count:
            block = self._spare.pop(ident, None)
            if block is None:
                return False
            self._blocks[ident] = block
        return min(block[1], limit) - block[0] >= count

    def take(self, name: str, number: int, created_ns: int, count: int, limit: int, reserved: int) -> bool:
        """Count `count` encryptions in the current block; False if it cannot take them."""
        if not self.has(name, number, created_ns, count, limit, reserved):
            return False
        ident = (name, number, created_ns)
        block = self._blocks[ident]
        block[0] += count
        if (block[1] < limit and (block[1] - block[0]) * 2 < block[2]
                and ident not in self._spare and ident not in self._asking and ident not in self._refused):
            self._question(ident, count).add_done_callback(functools.partial(self._asked_ahead, ident))
        return True

    async def obtain(self, name: str, number: int, created_ns: int, count: int) -> None:
        """Ask the primary for a new block (one question at a time per version)."""
        await asyncio.shield(self._asking.get((name, number, created_ns)) or
                             self._question((name, number, created_ns), count))

    def _question(self, ident: tuple[str, int, int], count: int) -> asyncio.Future:
        asking = asyncio.ensure_future(self._ask(ident, count))
        self._asking[ident] = asking
        asking.add_done_callback(lambda _: self._asking.pop(ident, None))
        return asking

    async def _ask(self, ident: tuple[str, int, int], count: int) -> None:
        start, end = await self._fetch(*ident, count)
        self._spare[ident] = [start, end, end - start]  # has() moves to it when it must
        self._refused.discard(ident)

    def _asked_ahead(self, ident: tuple[str, int, int], asking: asyncio.Future) -> None:
        # Nobody waits for a question asked ahead, so its failure (the version at its limit,
        # the primary gone) is no error here: the request that runs out asks again and hears why.
        if not asking.cancelled() and asking.exception() is not None:
            self._refused.add(ident)

    def close(self) -> None:
        """Give up every block."""
        self._blocks.clear()
        self._spare.clear()
        self._refused.clear()
