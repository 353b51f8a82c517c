"""Group commit: writes visible at once, durable in batches, failures reach every waiter."""

import threading
import time

import pytest

from storage import Delete, GroupCommitBackend, LMDBBackend, MemoryBackend, Put, StorageFullError


class SlowBackend(MemoryBackend):
    """A memory backend whose commits take a while and are counted (an fsync stand-in)."""

    def __init__(self, delay: float = 0.02) -> None:
        super().__init__()
        self.delay = delay
        self.commits = 0
        self.fail_next: Exception | None = None

    def transaction(self, ops):
        time.sleep(self.delay)
        if self.fail_next is not None:
            exc, self.fail_next = self.fail_next, None
            raise exc
        self.commits += 1
        super().transaction(ops)


def wait(backend, seq):
    done, result = threading.Event(), []
    backend.notify_when_durable(seq, lambda err: (result.append(err), done.set()))
    assert done.wait(10)
    return result[0]


def test_writes_are_visible_before_they_are_durable():
    inner = SlowBackend(delay=0.2)
    backend = GroupCommitBackend(inner)
    backend.put("a/b", b"1")
    assert backend.get("a/b") == b"1" and inner.get("a/b") is None
    assert backend.list("a/") == ["b"]
    assert wait(backend, backend.sequence) is None
    assert inner.get("a/b") == b"1"
    backend.close()


def test_many_writes_share_few_commits():
    inner = SlowBackend(delay=0.05)
    backend = GroupCommitBackend(inner)
    for i in range(200):
        backend.put(f"k/{i}", b"v")
    backend.flush(10)
    assert inner.commits < 20
    assert len(inner.list("k/")) == 200
    backend.close()


def test_pending_deletes_hide_entries_and_empty_folders():
    inner = MemoryBackend()
    inner.transaction([Put("f/x/1", b"1"), Put("f/y", b"2"), Put("f/z/deep/3", b"3")])
    backend = GroupCommitBackend(SlowBackendWrapping(inner))
    backend.transaction([Delete("f/x/1"), Delete("f/y")])
    assert backend.list("f/") == ["z/"]
    assert backend.get("f/y") is None
    backend.put("f/x/new", b"n")
    assert backend.list("f/") == ["x/", "z/"]
    backend.close()


class SlowBackendWrapping:
    """Delays commits of an existing backend so the overlay is observable."""

    def __init__(self, inner):
        self.inner = inner

    def get(self, key):
        return self.inner.get(key)

    def list(self, prefix):
        return self.inner.list(prefix)

    def transaction(self, ops):
        time.sleep(0.2)
        self.inner.transaction(ops)

    def close(self):
        self.inner.close()


def test_a_failed_commit_fails_every_pending_write_and_drops_them():
    inner = SlowBackend(delay=0.1)
    backend = GroupCommitBackend(inner)
    inner.fail_next = StorageFullError("full")
    backend.put("x", b"1")
    first = backend.sequence
    backend.put("y", b"2")  # may build on x: must not survive x's failure
    second = backend.sequence
    assert isinstance(wait(backend, first), StorageFullError)
    assert isinstance(wait(backend, second), StorageFullError)
    assert backend.get("x") is None and backend.get("y") is None
    backend.put("z", b"3")
    assert wait(backend, backend.sequence) is None
    assert inner.get("z") == b"3" and inner.get("x") is None
    backend.close()


def test_invalid_ops_are_refused_at_once():
    backend = GroupCommitBackend(MemoryBackend())
    with pytest.raises(Exception):
        backend.transaction([Put("ok", b"1"), Put("bad/", b"2")])
    assert backend.get("ok") is None
    backend.close()


def test_close_commits_what_is_pending(tmp_path):
    backend = GroupCommitBackend(LMDBBackend(tmp_path / "d", map_size=1 << 20, max_map_size=1 << 22))
    for i in range(50):
        backend.put(f"p/{i}", bytes([i]))
    backend.close()
    reopened = LMDBBackend(tmp_path / "d", map_size=1 << 20, max_map_size=1 << 22)
    assert [reopened.get(f"p/{i}") for i in range(50)] == [bytes([i]) for i in range(50)]
    reopened.close()


def test_waiters_from_many_threads_all_hear(tmp_path):
    backend = GroupCommitBackend(LMDBBackend(tmp_path / "d", map_size=1 << 20, max_map_size=1 << 22))
    errors = []

    def writer(n):
        for i in range(20):
            backend.put(f"t/{n}/{i}", b"v")
            errors.append(wait(backend, backend.sequence))

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == [None] * 160
    backend.close()


def test_a_failure_does_not_haunt_readers_that_came_after_it():
    inner = SlowBackend(delay=0.05)
    backend = GroupCommitBackend(inner)
    inner.fail_next = StorageFullError("full")
    backend.put("x", b"1")
    assert isinstance(wait(backend, backend.sequence), StorageFullError)
    # A reader that starts now cannot have seen x: it must not be told of that failure.
    generation = backend.generation
    done, result = threading.Event(), []
    backend.notify_when_durable(backend.sequence, lambda err: (result.append(err), done.set()), generation)
    assert done.wait(5) and result == [None]
    backend.close()


def test_the_commit_hook_hears_the_keys_after_the_commit_and_before_any_waiter():
    """Worker processes drop their caches of these keys before a writer is answered."""
    inner = SlowBackend(delay=0.05)
    order: list[str] = []

    def hook(keys):
        assert inner.get("k/1") == b"1"  # already committed underneath
        order.append("hook:" + ",".join(sorted(keys)))

    backend = GroupCommitBackend(inner, on_commit=hook)
    backend.transaction([Put("k/1", b"1"), Delete("k/2")])
    assert wait(backend, backend.sequence) is None
    order.append("waiter")
    assert order == ["hook:k/1,k/2", "waiter"]
    backend.close()


def test_a_failing_commit_hook_does_not_undo_a_durable_write():
    inner = SlowBackend(delay=0.0)

    def hook(keys):
        raise RuntimeError("peers unreachable")

    backend = GroupCommitBackend(inner, on_commit=hook)
    backend.put("k", b"v")
    assert wait(backend, backend.sequence) is None
    assert inner.get("k") == b"v" and backend.get("k") == b"v"
    backend.close()


def test_settled_only_when_nothing_is_pending_and_nothing_failed_since():
    inner = SlowBackend(delay=0.1)
    backend = GroupCommitBackend(inner)
    generation = backend.generation
    assert backend.settled(generation)
    backend.put("a", b"1")
    assert not backend.settled(generation)  # pending: a reader of "a" must wait for it
    backend.flush()
    assert backend.settled(generation)
    inner.fail_next = StorageFullError("full")
    backend.put("b", b"2")
    assert wait(backend, backend.sequence) is not None
    assert not backend.settled(generation)  # a request begun before the failure hears of it
    backend.close()
