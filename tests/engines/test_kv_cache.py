"""KV v2's cache of decoded keys: reads skip the barrier, and no read is ever older than an
acknowledged write, a failed commit, or a seal."""

import threading

import pytest

from seal.errors import SealedError
from seal.view import BarrierView
from storage import StorageError
from server.engines.kv_cache import ENTRY_BYTES, MAX_VALUE_BYTES, KeyCache, KeyEntry

STAMP = (1, 0)


@pytest.fixture
def kv(server):
    assert server.root("POST", "/v1/sys/mounts/secret", {"type": "kv", "options": {"version": "2"}})[0] == 204
    return server


def store(server):
    return server.core.engines["secret/"].store


def count_reads(monkeypatch) -> list[str]:
    reads: list[str] = []
    real = BarrierView.get
    monkeypatch.setattr(BarrierView, "get", lambda self, path: (reads.append(path), real(self, path))[1])
    return reads


def read(server, path="app"):
    status, body, _ = server.root("GET", f"/v1/secret/data/{path}")
    return status, (body["data"]["data"], body["data"]["metadata"]["version"]) if status == 200 else body


def test_a_second_read_does_not_go_to_the_barrier_and_a_write_is_seen_at_once(kv, monkeypatch):
    kv.root("POST", "/v1/secret/data/app", {"data": {"n": 1}})
    assert read(kv) == (200, ({"n": 1}, 1))
    reads = count_reads(monkeypatch)
    assert read(kv) == (200, ({"n": 1}, 1))
    assert reads == []
    kv.root("POST", "/v1/secret/data/app", {"data": {"n": 2}})
    assert read(kv) == (200, ({"n": 2}, 2))
    kv.root("DELETE", "/v1/secret/metadata/app")
    assert read(kv)[0] == 404
    kv.root("POST", "/v1/secret/data/app", {"data": {"n": 3}})  # version 1 again, other data
    assert read(kv) == (200, ({"n": 3}, 1))


def test_every_kind_of_write_is_seen_by_the_next_read(kv):
    kv.root("POST", "/v1/secret/data/app", {"data": {"n": 1}})
    read(kv)
    kv.root("POST", "/v1/secret/delete/app", {"versions": [1]})
    assert read(kv)[0] == 404
    kv.root("POST", "/v1/secret/undelete/app", {"versions": [1]})
    assert read(kv) == (200, ({"n": 1}, 1))
    kv.root("POST", "/v1/secret/metadata/app", {"custom_metadata": {"owner": "ops"}})
    assert kv.root("GET", "/v1/secret/data/app")[1]["data"]["metadata"]["custom_metadata"] == {"owner": "ops"}
    kv.root("POST", "/v1/secret/destroy/app", {"versions": [1]})
    assert kv.root("GET", "/v1/secret/data/app")[1]["data"]["metadata"]["destroyed"] is True


def test_a_read_of_a_write_whose_commit_then_fails_is_not_kept(kv, monkeypatch):
    kv.root("POST", "/v1/secret/data/app", {"data": {"n": 1}})
    inner = kv.core.backend._inner
    real, release = inner.transaction, threading.Event()

    def failing(ops):
        release.wait(10)
        raise StorageError("disk on fire")

    monkeypatch.setattr(inner, "transaction", failing)
    writer = threading.Thread(target=lambda: kv.root("POST", "/v1/secret/data/app", {"data": {"n": 2}}))
    writer.start()
    while store(kv).shared_metadata("app").current_version != 2:  # the pending write, read
        pass
    assert store(kv).version_data("app", 2) == b'{"n":2}'
    release.set()
    writer.join(10)
    monkeypatch.setattr(inner, "transaction", real)
    assert store(kv).shared_metadata("app").current_version == 1
    assert read(kv) == (200, ({"n": 1}, 1))


def test_seal_empties_the_cache_and_reads_while_sealed_are_refused(kv):
    kv.root("POST", "/v1/secret/data/app", {"data": {"n": 1}})
    read(kv)
    sealed_store = store(kv)
    assert "1 keys" in repr(sealed_store._keys)
    assert kv.root("PUT", "/v1/sys/seal")[0] == 204
    assert "0 keys" in repr(sealed_store._keys)
    with pytest.raises(SealedError):
        sealed_store.shared_metadata("app")


def test_a_read_that_overlapped_a_write_is_not_kept():
    cache = KeyCache()
    writes = cache.writes
    cache.forget("app")  # a write committed while the read was under way
    cache.keep("app", KeyEntry(STAMP, {"versions": {}}), writes)
    assert cache.get("app", STAMP) is None
    entry = KeyEntry(STAMP, None)
    cache.keep("app", entry, cache.writes)
    writes = cache.writes
    cache.clear()
    cache.keep_version("app", entry, 1, b"{}", writes)
    assert entry.versions == {}


def test_an_entry_counts_only_under_the_stamp_it_was_read_under():
    cache = KeyCache()
    cache.keep("app", KeyEntry(STAMP, None), cache.writes)
    assert cache.get("app", STAMP) is not None
    assert cache.get("app", (1, 1)) is None and cache.get("app", (2, 0)) is None


def test_the_cache_is_bounded_in_bytes_and_shows_no_data():
    cache = KeyCache(max_bytes=3 * (ENTRY_BYTES + 10))
    for n in range(5):
        cache.keep(f"key-{n:05d}", KeyEntry(STAMP, None), cache.writes)
    assert [p for p in (f"key-{n:05d}" for n in range(5)) if cache.get(p, STAMP)] == ["key-00002", "key-00003", "key-00004"]
    entry = cache.get("key-00004", STAMP)
    cache.keep_version("key-00004", entry, 1, b"x" * (MAX_VALUE_BYTES + 1), cache.writes)
    assert entry.versions == {}
    cache.keep_version("key-00004", entry, 2, b"SECRET", cache.writes)
    assert cache.get("key-00004", STAMP).versions == {2: b"SECRET"}
    assert "SECRET" not in repr(cache) + repr(entry)


def test_a_reply_built_from_shared_metadata_is_the_callers_to_change(kv):
    kv.root("POST", "/v1/secret/metadata/app", {"custom_metadata": {"owner": "ops"}})
    kv.root("POST", "/v1/secret/data/app", {"data": {"n": 1}})
    shared = store(kv).shared_metadata("app")
    shared.version_api(1)["custom_metadata"]["owner"] = "changed"
    shared.to_api()["custom_metadata"]["owner"] = "changed"
    assert kv.root("GET", "/v1/secret/data/app")[1]["data"]["metadata"]["custom_metadata"] == {"owner": "ops"}
