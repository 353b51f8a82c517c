"""Counted encryptions across worker processes: the primary's grants and a follower's blocks.

The property that matters (SP 800-38D's invocation limit): no count is ever handed to two
processes, and storage's reservation is always past every count handed out.
"""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seal.barrier import Barrier
from seal.lockedmem import LockedBuffer
from server.engines.transit_key import TransitKey
from server.engines.transit_keytypes import KEY_TYPES, generate_material
from server.engines.transit_lifecycle_usage import RESERVATION_BLOCK, UsageGrants, grant, spend
from server.engines.transit_ops_keys import now_ns
from server.engines.transit_store import KeyStore
from server.forwarding import GrantNeededError, PrimaryRequiredError
from storage.memory import MemoryBackend


def key_store(limit: int | None = None) -> tuple[KeyStore, TransitKey]:
    backend = MemoryBackend()
    barrier = Barrier(backend, lock_memory=False)
    backend.transaction(barrier.initialize(LockedBuffer.from_bytes(bytes(range(32)), lock=False)))
    store = KeyStore(barrier.view("logical/transit/"))
    key = TransitKey.define("k", KEY_TYPES["aes256-gcm96"])
    if limit is not None:
        key.usage_limit = limit
    key.add_version(generate_material(key.type), now_ns())
    store.put(key)
    return store, key


def stored_reservation(store: KeyStore) -> int:
    store.forget("k")
    return store.get("k").versions[1].life.reserved


def test_a_grant_moves_the_stored_reservation_and_the_primary_gives_up_its_own_block():
    store, key = key_store()
    spend(store, key, 1, 10)  # the primary counted 10 of its first block
    created = key.versions[1].created_ns
    start, end = grant(store, "k", 1, created, 5)
    assert (start, end) == (RESERVATION_BLOCK + 10, 2 * RESERVATION_BLOCK + 10)
    assert stored_reservation(store) == end
    key = store.get("k")
    spend(store, key, 1, 1)  # the primary's next count starts past the granted block
    assert key.versions[1].life.used == end + 1 and stored_reservation(store) >= end + 1


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["primary", "grant"]), st.integers(1, 5000)), max_size=25))
def test_no_count_is_handed_out_twice_and_storage_is_always_past_them(steps):
    store, key = key_store()
    created = key.versions[1].created_ns
    handed: list[tuple[int, int]] = []
    for who, count in steps:
        key = store.get("k")
        if who == "primary":
            first = key.versions[1].life.used
            spend(store, key, 1, count)
            handed.append((first, first + count))
        else:
            handed.append(grant(store, "k", 1, created, count))
        assert stored_reservation(store) >= max(end for _, end in handed)
    ordered = sorted(handed)
    assert all(a_end <= b_start for (_, a_end), (b_start, _) in zip(ordered, ordered[1:]))


def test_a_grant_is_refused_at_the_limit_or_for_a_version_that_changed():
    store, key = key_store(limit=100)
    created = key.versions[1].created_ns
    assert grant(store, "k", 1, created, 30) == (0, 100)  # cut at the limit
    with pytest.raises(PrimaryRequiredError):
        grant(store, "k", 1, created, 1)
    store2, key2 = key_store()
    with pytest.raises(PrimaryRequiredError):
        grant(store2, "k", 1, created + 1, 1)  # a key of the same name, made again
    with pytest.raises(PrimaryRequiredError):
        grant(store2, "missing", 1, created, 1)


async def test_a_follower_counts_in_its_block_and_asks_once_when_it_runs_out():
    store, key = key_store()
    created = key.versions[1].created_ns
    asked: list[int] = []

    async def fetch(name, number, created_ns, count):
        asked.append(count)
        await asyncio.sleep(0.01)
        return (1000 * len(asked), 1000 * len(asked) + 3)

    grants = UsageGrants(fetch)
    store.grants = grants
    key.versions[1].life.reserved = 10 ** 6  # as a follower reads it once the primary granted
    with pytest.raises(GrantNeededError) as need:
        spend(store, key, 1, 2)
    await asyncio.gather(*(need.value.obtain() for _ in range(5)))  # one question, five waiters
    assert asked == [2]
    spend(store, key, 1, 2)
    assert grants.has("k", 1, created, 1, 2 ** 30, 10 ** 6) and not grants.has("k", 1, created, 2, 2 ** 30, 10 ** 6)
    assert not grants.has("k", 1, created, 1, 1001, 10 ** 6)  # a limit lowered since the grant caps it
    assert not grants.has("k", 1, created, 1, 2 ** 30, 1002)  # storage's reservation moved back: given up
    assert not grants.has("k", 1, created, 1, 2 ** 30, 10 ** 6)  # and it stays given up
    with pytest.raises(GrantNeededError):
        spend(store, key, 1, 2)  # one left: not enough
    assert key.versions[1].life.used == 0  # a follower never counts in the primary's record
