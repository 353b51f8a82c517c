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
from server.engines.transit_lifecycle_usage import MAX_RESERVATION_BLOCK, RESERVATION_BLOCK, UsageGrants, grant, spend
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


def following(fetch) -> tuple[KeyStore, TransitKey, UsageGrants, int]:
    """A follower's view of key "k": blocks from `fetch`, storage's reservation far ahead."""
    store, key = key_store()
    grants = UsageGrants(fetch)
    store.grants = grants
    key.versions[1].life.reserved = 10 ** 6  # as a follower reads it once the primary granted
    return store, key, grants, key.versions[1].created_ns


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
    asked: list[int] = []

    async def fetch(name, number, created_ns, count):
        asked.append(count)
        await asyncio.sleep(0.01)
        return (1000 * len(asked), 1000 * len(asked) + 3)

    store, key, grants, created = following(fetch)
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


async def test_a_follower_asks_for_its_next_block_once_half_is_spent_and_never_waits_for_it():
    asked: list[int] = []
    answer = asyncio.Event()

    async def fetch(name, number, created_ns, count):
        asked.append(count)
        if len(asked) > 1:
            await answer.wait()  # the primary is busy: the question ahead takes a while
        return (100 * len(asked), 100 * len(asked) + 10)

    store, key, grants, created = following(fetch)
    await grants.obtain("k", 1, created, 1)
    spend(store, key, 1, 5)  # half of the block of 10 left: not yet
    await asyncio.sleep(0)
    assert asked == [1]
    spend(store, key, 1, 1)  # past half: the next is asked for, in the background
    await asyncio.sleep(0)
    assert asked == [1, 1]
    spend(store, key, 1, 4)  # the first block's last counts, while the question is still open
    assert asked == [1, 1]
    with pytest.raises(GrantNeededError) as need:
        spend(store, key, 1, 1)  # nothing ahead yet: this one waits for the open question
    waiting = asyncio.ensure_future(need.value.obtain())
    await asyncio.sleep(0)
    assert asked == [1, 1] and not waiting.done()  # it did not ask a second time
    answer.set()
    await waiting
    spend(store, key, 1, 10)  # the block asked ahead, [200, 210), whole
    assert not grants.has("k", 1, created, 1, 2 ** 30, 10 ** 6)
    await asyncio.sleep(0)
    assert asked == [1, 1, 10]  # ... and past half of it, the next was asked for


async def test_a_question_asked_ahead_that_is_refused_is_not_asked_again_until_a_block_comes():
    asked: list[int] = []

    async def fetch(name, number, created_ns, count):
        asked.append(count)
        if len(asked) == 2:
            raise PrimaryRequiredError("key version 1 has reached its usage limit")
        return (100 * len(asked), 100 * len(asked) + 10)

    store, key, grants, created = following(fetch)
    await grants.obtain("k", 1, created, 1)
    for _ in range(10):
        spend(store, key, 1, 1)
        await asyncio.sleep(0)
    assert asked == [1, 1]  # refused once, quietly (no unretrieved task error), and not again
    await grants.obtain("k", 1, created, 1)  # the request that runs out asks, and is answered
    spend(store, key, 1, 6)
    await asyncio.sleep(0)
    assert asked == [1, 1, 1, 6]  # a new block: asking ahead resumes


async def test_a_block_asked_ahead_stops_short_of_the_usage_limit():
    asked: list[int] = []

    async def fetch(name, number, created_ns, count):
        asked.append(count)
        return (0, 10)

    store, key, grants, created = following(fetch)
    key.usage_limit = 10
    await grants.obtain("k", 1, created, 1)
    spend(store, key, 1, 9)
    await asyncio.sleep(0)
    assert asked == [1]  # the block reaches the limit: there is nothing further to ask for


def test_a_busy_version_reserves_in_blocks_that_grow_with_its_count_up_to_a_cap():
    store, key = key_store()
    created = key.versions[1].created_ns
    life = key.versions[1].life
    life.used = life.reserved = 32 * RESERVATION_BLOCK * 3  # as loaded after 393,216 encryptions
    spend(store, key, 1, 1)
    assert stored_reservation(store) == life.used + 3 * RESERVATION_BLOCK  # 1/32 of the count
    start, end = grant(store, "k", 1, created, 1)
    assert end - start == start >> 5
    key = store.get("k")
    life = key.versions[1].life
    life.used = life.reserved = 1 << 40
    key.usage_limit = 1 << 50
    spend(store, key, 1, 1)
    assert stored_reservation(store) == (1 << 40) + 1 + MAX_RESERVATION_BLOCK
