"""Retiring a keyring term: every entry moves to a newer term, then the old key is destroyed.

Named for the property, as the barrier's tests are: nothing is lost, nothing stays under the
retired term, its key is gone for good, a concurrent write always wins, a restart resumes,
and one tick does at most one batch.
"""

from __future__ import annotations

import struct
import threading

import msgpack
import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seal.barrier import KEYRING_PATH, RESERVED_PATHS, ROOT_KEY_PATH, SEAL_CONFIG_PATH, USAGE_PATH, Barrier
from seal.entry import ROOT_TERM, open_entry, seal_entry
from seal.errors import IntegrityError
from seal.keyring import KEYRING_FORMAT, TermStateError
from seal.lockedmem import LockedBuffer
from seal.retire import RetireLimits, TermRetirement, walk_keys
from seal.state import Seal
from storage import GroupCommitBackend, LMDBBackend, MemoryBackend

BIG = RetireLimits(max_entries=10_000, max_visits=100_000, budget=60.0)
# Names whose order as full paths differs from a naive per-segment sort ('-' < '/' < '0').
NAMES = ["a", "a-b", "a/x", "a/x/y", "a0", "b/c/d/e", "b/c-d", "z"]


def open_seal(backend) -> tuple[Seal, bytes]:
    seal = Seal(backend, lock_memory=False)
    share = seal.initialize(1, 1).shares[0]
    seal.submit_unseal_share(share)
    return seal, share


def reopen(backend, share: bytes) -> Seal:
    seal = Seal(backend, lock_memory=False)
    seal.submit_unseal_share(share)
    return seal


def header_term(blob: bytes) -> int:
    return struct.unpack(">I", blob[:4])[0]


def data_terms(backend) -> dict[str, int]:
    """The header term of every stored entry but the seal's own records."""
    return {k: header_term(backend.get(k)) for k in walk_keys(backend) if k not in RESERVED_PATHS}


def populate(barrier: Barrier, per_term: int = 6) -> dict[str, object]:
    """Entries under terms 1, 2 and 3 (the active one), some overwritten under a later term."""
    model: dict[str, object] = {}
    for term in (1, 2, 3):
        assert barrier.key_status().term == term
        for name in NAMES:
            model[f"t{term}/{name}"] = {"term": term, "name": name}
        for i in range(per_term):
            model[f"t{term}/many/{i:03d}"] = [term, i, b"\x00bytes"]
        if term == 2:
            model["t1/a"] = "rewritten under term 2"
        for path, value in model.items():
            if path.startswith(f"t{term}/") or (term == 2 and path == "t1/a"):
                barrier.put(path, value)
        if term < 3:
            barrier.rotate()
    return model


class ReadLog:
    """A backend that records which keys were read."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.reads: list[str] = []

    def get(self, key: str):
        self.reads.append(key)
        return self.inner.get(key)

    def __getattr__(self, name: str):
        return getattr(self.inner, name)


def keyring_record(backend, barrier: Barrier) -> dict:
    root = barrier._keyring.root_key.view()
    return msgpack.unpackb(open_entry(AESGCM(root), KEYRING_PATH, backend.get(KEYRING_PATH)))


@pytest.fixture
def store():
    backend = MemoryBackend()
    seal, share = open_seal(backend)
    model = populate(seal.barrier)
    return backend, seal, share, model


def test_walk_order_is_key_order_with_folders_in_place():
    backend = MemoryBackend()
    for name in NAMES:
        backend.put(name, b"x")
    assert list(walk_keys(backend)) == sorted(NAMES)
    assert list(walk_keys(backend, after="a/x")) == ["a/x/y", "a0", "b/c-d", "b/c/d/e", "z"]
    assert list(walk_keys(backend, after="b/c/d/e")) == ["z"]


@given(keys=st.sets(st.text(alphabet="ab-/0é", min_size=1, max_size=7)
                    .filter(lambda k: not k.endswith("/") and "//" not in k and not k.startswith("/")),
                    max_size=25),
       after=st.text(alphabet="ab-/0é", max_size=7))
@settings(max_examples=80, deadline=None)
def test_walk_resumes_exactly_after_any_cursor(keys, after):
    backend = MemoryBackend()
    for key in keys:
        backend.put(key, b"x")
    assert list(walk_keys(backend)) == sorted(keys)
    assert list(walk_keys(backend, after=after)) == [k for k in sorted(keys) if k > after]


def test_retired_term_is_destroyed_and_every_entry_reads_back(store):
    backend, seal, share, model = store
    barrier = seal.barrier
    saved = backend.get("t1/many/000")
    assert header_term(saved) == 1
    old_term = barrier._keyring.term(1)
    old_key = old_term.key.bytes()
    before = {p: backend.get(p) for p in (ROOT_KEY_PATH, SEAL_CONFIG_PATH)}

    info = barrier.retire(1)
    assert info.state == "retired-pending" and info.retirement.cursor is None
    job = TermRetirement(barrier, limits=BIG)
    assert job.run() == 2  # one pass re-encrypts, the next finds nothing left and destroys

    assert {p: barrier.get(p) for p in model} == model
    terms = data_terms(backend)
    assert 1 not in terms.values() and set(terms.values()) <= {2, 3}
    assert {p for p, t in terms.items() if t == 2} == {f"t2/{n}" for n in NAMES} | {
        f"t2/many/{i:03d}" for i in range(6)} | {"t1/a"}

    record = keyring_record(backend, barrier)
    assert [t for t in record["terms"] if t["term"] == 1] == [
        {"term": 1, "installed": old_term.installed, "destroyed": record["terms"][-1]["destroyed"]}]
    assert old_key not in backend.get(KEYRING_PATH) and all("key" in t for t in record["terms"] if t["term"] != 1)
    assert record["retiring"] == []
    assert old_term.key.closed  # the locked copy was zeroed
    assert [(i.term, i.state) for i in barrier.keyring_terms()] == [
        (1, "destroyed"), (2, "inactive"), (3, "active")]
    assert {p: backend.get(p) for p in (ROOT_KEY_PATH, SEAL_CONFIG_PATH)} == before

    backend.put("t1/many/000", saved)
    with pytest.raises(IntegrityError, match="unknown keyring term"):
        barrier.get("t1/many/000")
    again = reopen(backend, share)
    with pytest.raises(IntegrityError, match="unknown keyring term"):
        again.barrier.get("t1/many/000")
    assert again.barrier.get("t1/many/001") == model["t1/many/001"]
    with pytest.raises(TermStateError, match="already destroyed"):
        again.barrier.retire(1)


def test_refusals_and_repeated_requests(store):
    _, seal, _, _ = store
    barrier = seal.barrier
    with pytest.raises(TermStateError, match="is the active term"):
        barrier.retire(3)
    for number in (0, 4, -1):
        with pytest.raises(TermStateError, match="does not exist"):
            barrier.retire(number)
    first = barrier.retire(2, now=100.0)
    assert barrier.retire(2, now=200.0).retirement.requested == first.retirement.requested == 100.0
    assert barrier.rotate().term == 4
    assert [(i.term, i.state) for i in barrier.keyring_terms()] == [
        (1, "inactive"), (2, "retired-pending"), (3, "inactive"), (4, "active")]


def test_one_tick_does_at_most_one_batch(store):
    backend, seal, _, _ = store
    barrier = seal.barrier
    under_one = sum(t == 1 for t in data_terms(backend).values())
    assert under_one == len(NAMES) - 1 + 6  # t1/a was rewritten under term 2
    barrier.retire(1)
    job = TermRetirement(barrier, limits=RetireLimits(max_entries=4, max_visits=1000, budget=60.0))
    report = job.tick()
    assert report.reencrypted == 4 and not report.pass_finished
    assert sum(t == 1 for t in data_terms(backend).values()) == under_one - 4
    job = TermRetirement(barrier, limits=RetireLimits(max_entries=1000, max_visits=3, budget=60.0))
    assert job.tick().visited == 3


def test_the_time_budget_stops_a_batch():
    backend = MemoryBackend()
    seal, _ = open_seal(backend)
    for i in range(5):
        seal.barrier.put(f"k{i}", i)
    seal.barrier.rotate()
    seal.barrier.retire(1)
    ticks = iter(range(10**6))
    job = TermRetirement(seal.barrier, limits=RetireLimits(budget=2.5), clock=lambda: float(next(ticks)))
    # The deadline is reading 0 + 2.5; each key after the first reads the clock once
    # (1, 2, then 3: past it), so the batch stops after three keys.
    assert job.tick().visited == 3


def test_retirement_resumes_after_seal_and_after_a_new_seal_object(store):
    backend, seal, share, model = store
    seal.barrier.retire(1)
    limits = RetireLimits(max_entries=3, max_visits=1000, budget=60.0)
    TermRetirement(seal.barrier, limits=limits).tick()
    stored = seal.barrier.retirements()[0]
    assert stored.reencrypted == 3 and stored.cursor is not None

    seal.seal()
    spy = ReadLog(backend)
    again = reopen(spy, share)
    resumed = again.barrier.retirements()[0]
    assert resumed == stored
    job = TermRetirement(again.barrier, limits=limits)
    spy.reads.clear()
    job.tick()
    assert spy.reads and all(k > stored.cursor for k in spy.reads if k not in RESERVED_PATHS)
    assert again.barrier.retirements()[0].reencrypted == 6

    # Seal and unseal the same object: the job drops its walk and goes on from storage.
    again.seal()
    assert job.tick() is None
    again.submit_unseal_share(share)
    job.run()
    assert {p: again.barrier.get(p) for p in model} == model
    assert 1 not in data_terms(backend).values()
    assert again.barrier.keyring_terms()[0].state == "destroyed"


def test_concurrent_writer_thread_is_never_overwritten(store):
    backend, seal, _, model = store
    barrier = seal.barrier
    paths = [p for p, t in data_terms(backend).items() if t == 1]
    barrier.retire(1)
    last: dict[str, int] = {}
    stop = threading.Event()

    def writer() -> None:
        n = 0
        while not stop.is_set() or n < 200:
            path = paths[n % len(paths)]
            barrier.put(path, n)
            last[path] = n
            n += 1

    thread = threading.Thread(target=writer)
    thread.start()
    job = TermRetirement(barrier, limits=RetireLimits(max_entries=1, max_visits=2, budget=60.0))
    job.run()
    stop.set()
    thread.join()
    for path in paths:
        assert barrier.get(path) == last.get(path, model[path])
    assert 1 not in data_terms(backend).values()


@pytest.mark.parametrize("write, expected", [
    (lambda barrier: barrier.put("t1/a0", "written meanwhile"), "written meanwhile"),
    (lambda barrier: barrier.delete("t1/a0"), None),
], ids=["put", "delete"])
def test_a_write_racing_a_batch_waits_for_it_and_wins(store, write, expected):
    """The writer starts between the job's read of a path and its rewrite of it."""
    backend, seal, _, _ = store
    barrier = seal.barrier
    barrier.retire(1)
    racers: list[threading.Thread] = []

    class RaceOnRead(ReadLog):
        def get(self, key: str):
            value = super().get(key)
            if key == "t1/a0" and not racers:
                racers.append(threading.Thread(target=write, args=(barrier,)))
                racers[0].start()
                racers[0].join(0.2)  # with the barrier's write lock held, the write must wait
            return value

    barrier._backend = RaceOnRead(backend)
    try:
        TermRetirement(barrier, limits=BIG).tick()
    finally:
        barrier._backend = backend
    racers[0].join()
    assert barrier.get("t1/a0") == expected
    if expected is not None:
        assert header_term(backend.get("t1/a0")) == 3


ops = st.lists(
    st.one_of(
        st.tuples(st.just("tick"), st.integers(1, 3)),
        st.tuples(st.just("put"), st.sampled_from(NAMES), st.integers(0, 99)),
        st.tuples(st.just("delete"), st.sampled_from(NAMES)),
        st.tuples(st.just("rotate")),
        st.tuples(st.just("reseal")),
    ),
    max_size=30,
)


@given(script=ops)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_interleaved_writes_are_never_lost(script):
    backend = MemoryBackend()
    seal, share = open_seal(backend)
    barrier = seal.barrier
    model = {f"d/{name}": name for name in NAMES}
    for path, value in model.items():
        barrier.put(path, value)
    barrier.rotate()
    barrier.retire(1)
    jobs = {n: TermRetirement(barrier, limits=RetireLimits(max_entries=n, max_visits=n + 1, budget=60.0))
            for n in (1, 2, 3)}
    for op in script:
        if op[0] == "tick":
            jobs[op[1]].tick()
        elif op[0] == "put":
            barrier.put(f"d/{op[1]}", op[2])
            model[f"d/{op[1]}"] = op[2]
        elif op[0] == "delete":
            barrier.delete(f"d/{op[1]}")
            model.pop(f"d/{op[1]}", None)
        elif op[0] == "rotate":
            barrier.rotate()
        else:
            seal.seal()
            seal.submit_unseal_share(share)
            barrier = seal.barrier
    jobs[2].run()
    assert {p: barrier.get(f"{p}") for p in (f"d/{n}" for n in NAMES)} == {
        f"d/{n}": model.get(f"d/{n}") for n in NAMES}
    assert 1 not in data_terms(backend).values()
    assert barrier.keyring_terms()[0].state == "destroyed"


def test_an_entry_that_reappears_under_the_term_is_caught_by_the_checking_pass(store):
    backend, seal, _, model = store
    barrier = seal.barrier
    saved = backend.get("t1/a0")
    barrier.retire(1)
    job = TermRetirement(barrier, limits=BIG)
    assert job.tick().pass_finished and barrier.retirements()[0].passes == 1
    # As if the batch that moved it had been lost (a failed group commit).
    backend.put("t1/a0", saved)
    report = job.tick()
    assert report.reencrypted == 1 and not report.destroyed
    assert job.tick().destroyed
    assert barrier.get("t1/a0") == model["t1/a0"]


def test_unreadable_entries_do_not_hold_the_key_forever(store):
    backend, seal, _, model = store
    barrier = seal.barrier
    blob = bytearray(backend.get("t1/z"))
    blob[-1] ^= 1
    backend.put("t1/z", bytes(blob))
    barrier.retire(1)
    job = TermRetirement(barrier, limits=BIG)
    first = job.tick()
    assert first.unreadable == 1 and first.pass_finished
    last = job.tick()
    assert last.destroyed and last.unreadable == 1
    assert header_term(backend.get("t1/z")) == 1  # left as it was, and still unreadable
    with pytest.raises(IntegrityError):
        barrier.get("t1/z")
    assert barrier.get("t1/a0") == model["t1/a0"]


def test_auto_rotation_during_the_job_keeps_every_entry():
    backend = MemoryBackend()
    barrier = Barrier(backend, lock_memory=False, rotate_after=5)
    backend.transaction(barrier.initialize(LockedBuffer.from_bytes(bytes(32), lock=False)))
    for i in range(5):
        barrier.put(f"k/{i}", i)
    assert barrier.key_status().term == 2  # the fifth encryption used up term 1's allowance
    barrier.retire(1)
    TermRetirement(barrier, limits=BIG).run()
    assert [barrier.get(f"k/{i}") for i in range(5)] == [0, 1, 2, 3, 4]
    assert barrier.key_status().term == 3  # and the five rewrites term 2's
    assert set(data_terms(backend).values()) == {2}
    assert barrier.keyring_terms()[0].state == "destroyed"


def test_retirements_run_in_the_order_asked(store):
    backend, seal, _, _ = store
    barrier = seal.barrier
    barrier.retire(2)
    barrier.retire(1)
    job = TermRetirement(barrier, limits=BIG)
    job.run()
    assert set(data_terms(backend).values()) == {3}
    assert [i.state for i in barrier.keyring_terms()] == ["destroyed", "destroyed", "active"]
    destroyed = {i.term: i.destroy_time for i in barrier.keyring_terms()[:2]}
    assert destroyed[2] <= destroyed[1]
    assert barrier.rotate().term == 4  # numbers are never reused


def test_census_counts_entries_per_term_and_follows_the_job(store):
    backend, seal, _, _ = store
    barrier = seal.barrier
    job = TermRetirement(barrier, limits=BIG)
    partial = job.census(limit=3)
    assert not partial.complete and sum(partial.counts.values()) <= 3
    full = job.census(limit=10_000)
    expected: dict[int, int] = {}
    for term in data_terms(backend).values():
        expected[term] = expected.get(term, 0) + 1
    assert full.complete and full.counts == expected and 0 not in full.counts
    barrier.retire(1)
    job.tick()
    assert job.census().entries(1) == 0 and job.census().entries(3) == expected[3] + expected[1]
    seal.seal()
    assert job.tick() is None


def test_a_partial_census_is_finished_by_ticks(store):
    _, seal, _, _ = store
    job = TermRetirement(seal.barrier, limits=BIG)
    assert not job.census(limit=1).complete
    job.tick()
    assert job.census(limit=0).complete


def test_a_keyring_written_before_term_states_still_loads():
    backend = MemoryBackend()
    root = bytes(range(32))
    keys = [bytes([n]) * 32 for n in (1, 2)]
    record = {"format": KEYRING_FORMAT, "active": 2,
              "terms": [{"term": n, "key": k, "installed": 1.0 + n} for n, k in zip((1, 2), keys)]}
    backend.put(KEYRING_PATH, seal_entry(AESGCM(root), ROOT_TERM, KEYRING_PATH, msgpack.packb(record)))
    barrier = Barrier(backend, lock_memory=False)
    barrier.unseal(LockedBuffer.from_bytes(root, lock=False))
    assert [(i.term, i.state) for i in barrier.keyring_terms()] == [(1, "inactive"), (2, "active")]
    backend.put("old", seal_entry(AESGCM(keys[0]), 1, "old", msgpack.packb("from before")))
    barrier.retire(1)
    TermRetirement(barrier, limits=BIG).run()
    assert barrier.get("old") == "from before" and header_term(backend.get("old")) == 2


def test_a_failed_commit_leaves_the_stored_progress_and_the_walk_resumes(store):
    backend, seal, _, model = store
    barrier = seal.barrier
    under_one = sorted(p for p, t in data_terms(backend).items() if t == 1)
    barrier.retire(1)
    job = TermRetirement(barrier, limits=RetireLimits(max_entries=2, max_visits=1000, budget=60.0))
    job.tick()
    stored = barrier.retirements()[0]
    real = backend.transaction

    def failing(ops):
        raise OSError("disk gone")

    backend.transaction = failing
    with pytest.raises(OSError):
        job.tick()
    backend.transaction = real
    assert barrier.retirements()[0] == stored
    job.tick()  # does again what the failed batch did, skipping nothing
    assert sorted(p for p, t in data_terms(backend).items() if t == 1) == under_one[4:]
    job.run()
    assert {p: barrier.get(p) for p in model} == model
    assert 1 not in data_terms(backend).values()


def test_the_job_over_group_commit_on_lmdb(tmp_path):
    lmdb = LMDBBackend(tmp_path / "data", map_size=1 << 20, max_map_size=1 << 26)
    backend = GroupCommitBackend(lmdb)
    seal, share = open_seal(backend)
    model = populate(seal.barrier, per_term=40)
    saved = backend.get("t1/many/007")
    seal.barrier.retire(1)
    job = TermRetirement(seal.barrier, limits=RetireLimits(max_entries=16, max_visits=64, budget=60.0))
    job.run()
    backend.flush(timeout=30)
    seal.seal()
    backend.close()

    raw = LMDBBackend(tmp_path / "data")
    try:
        assert 1 not in data_terms(raw).values()
        reopened = reopen(raw, share)
        assert {p: reopened.barrier.get(p) for p in model} == model
        raw.put("t1/many/007", saved)
        with pytest.raises(IntegrityError, match="unknown keyring term"):
            reopened.barrier.get("t1/many/007")
        reopened.seal()
    finally:
        raw.close()


def test_the_seals_own_records_are_never_read_or_rewritten():
    backend = ReadLog(MemoryBackend())
    seal, share = open_seal(backend)
    model = populate(seal.barrier)
    before = {p: backend.get(p) for p in (ROOT_KEY_PATH, SEAL_CONFIG_PATH)}
    seal.barrier.retire(1)
    job = TermRetirement(seal.barrier, limits=BIG)
    backend.reads.clear()
    job.run()
    job.census()
    assert backend.reads and not set(backend.reads) & RESERVED_PATHS
    assert {p: backend.get(p) for p in (ROOT_KEY_PATH, SEAL_CONFIG_PATH)} == before
    assert header_term(backend.get(KEYRING_PATH)) == header_term(backend.get(USAGE_PATH)) == 0
    assert reopen(backend, share).barrier.get("t2/a") == model["t2/a"]
