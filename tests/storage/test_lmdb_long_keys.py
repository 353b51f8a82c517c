"""Paths longer than LMDB's 511-byte key limit, and the layout they get on disk."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import lmdb
import pytest

from storage import Delete, LMDBBackend, Put, StorageError
from storage import lmdb_layout
from storage.lmdb_layout import LONG_KEY_BYTES, SHORT_KEY_BYTES
from storage.lmdb_store import DATA_DB


@pytest.fixture
def store(tmp_path: Path) -> Iterator[LMDBBackend]:
    backend = LMDBBackend(tmp_path / "data")
    yield backend
    backend.close()


def _raw_records(path: Path) -> dict[bytes, bytes]:
    with lmdb.open(str(path), max_dbs=2, readonly=True, lock=False) as env:
        data = env.open_db(DATA_DB, create=False)
        with env.begin(db=data) as txn:
            return dict(txn.cursor())


def test_long_paths_round_trip_and_list(store: LMDBBackend) -> None:
    base = "logical/" + "d" * 590 + "/"
    p600 = base + "leaf"
    p2000 = base + "x" * 1401
    unicode_long = "kv/" + "ключ/" * 150 + "値"
    store.put(p600, b"six hundred")
    store.transaction([Put(p2000, b"two thousand"), Put(unicode_long, b"unicode")])
    assert len(p600.encode()) >= 600 and len(p2000.encode()) >= 2000
    assert store.get(p600) == b"six hundred"
    assert store.get(p2000) == b"two thousand"
    assert store.get(unicode_long) == b"unicode"
    assert store.list("") == ["kv/", "logical/"]
    assert store.list("logical/") == ["d" * 590 + "/"]
    assert store.list(base) == ["leaf", "x" * 1401]
    assert store.list("kv/" + "ключ/" * 149) == ["ключ/"]
    assert store.list("kv/" + "ключ/" * 150) == ["値"]
    store.delete(p600)
    assert store.get(p600) is None
    assert store.list(base) == ["x" * 1401]


def test_long_paths_sharing_their_first_bytes_stay_apart(store: LMDBBackend) -> None:
    shared = "s/" + "p" * (SHORT_KEY_BYTES + 100)
    keys = [shared + suffix for suffix in ["a", "b", "/c", "/d/e"]]
    for index, key in enumerate(keys):
        store.put(key, str(index).encode())
    short_twin = shared[:SHORT_KEY_BYTES]
    store.put(short_twin, b"short")
    assert [store.get(key) for key in keys] == [b"0", b"1", b"2", b"3"]
    assert store.get(short_twin) == b"short"
    assert store.list(shared) == ["/", "a", "b"]
    assert store.list(shared + "/") == ["c", "d/"]
    store.transaction([Delete(keys[0]), Put(keys[1], b"changed")])
    assert store.get(keys[0]) is None and store.get(keys[1]) == b"changed"
    assert store.get(short_twin) == b"short"


def test_on_disk_keys_fit_lmdb_and_frame_the_full_path(tmp_path: Path) -> None:
    long_path = "a/" + "é" * 700
    store = LMDBBackend(tmp_path / "data")
    store.put("a/short", b"plain")
    store.put(long_path, b"framed")
    store.close()
    records = _raw_records(tmp_path / "data")
    assert records[b"a/short"] == b"plain"  # short keys: stored as they are
    long_keys = [key for key in records if len(key) > SHORT_KEY_BYTES]
    assert len(long_keys) == 1 and len(long_keys[0]) == LONG_KEY_BYTES <= 511
    framed = records[long_keys[0]]
    raw_path = long_path.encode()
    assert framed == len(raw_path).to_bytes(4, "big") + raw_path + b"framed"


def test_malformed_long_record_is_an_error_not_a_value(tmp_path: Path) -> None:
    long_path = "a/" + "z" * 600
    store = LMDBBackend(tmp_path / "data")
    store.put(long_path, b"v")
    store.close()
    with lmdb.open(str(tmp_path / "data"), max_dbs=2) as env:
        data = env.open_db(DATA_DB, create=False)
        with env.begin(write=True, db=data) as txn:
            txn.put(lmdb_layout.lmdb_key(long_path.encode()), b"\x00\x00\xff\xffshort")
    store = LMDBBackend(tmp_path / "data")
    with pytest.raises(StorageError, match="malformed"):
        store.get(long_path)
    with pytest.raises(StorageError, match="malformed"):
        store.list("a/")
    store.close()


def test_digest_collision_neither_reads_nor_overwrites(
    store: LMDBBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Force every long path with the same first bytes onto one LMDB key.
    monkeypatch.setattr(
        lmdb_layout,
        "lmdb_key",
        lambda path: path if len(path) <= SHORT_KEY_BYTES else path[:SHORT_KEY_BYTES] + b"\0" * 32,
    )
    first, second = "c/" + "q" * 500 + "1", "c/" + "q" * 500 + "2"
    store.put(first, b"first")
    assert store.get(second) is None
    with pytest.raises(StorageError, match="SHA-256"):
        store.put(second, b"second")
    store.delete(second)
    assert store.get(first) == b"first"
