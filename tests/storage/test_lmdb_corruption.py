"""A damaged data file makes the LMDB backend panic, and stay panicked, rather than guess."""

from __future__ import annotations

import mmap
from pathlib import Path

import pytest

from storage import LMDBBackend, Put, StoragePanicError

PAGE = mmap.PAGESIZE  # LMDB's page size is the OS page size


def test_corruption_panics_and_stays_panicked(tmp_path: Path) -> None:
    store = LMDBBackend(tmp_path / "data")
    store.transaction([Put(f"k{i:05}", b"v" * 100) for i in range(2000)])
    store.close()
    data_file = tmp_path / "data" / "data.mdb"
    raw = bytearray(data_file.read_bytes())
    hit = raw.find(b"k01000") // PAGE * PAGE
    # Page header: pgno (8 bytes), then pad, flags, lower, upper; 0xff flags is no page type.
    raw[hit + 8 : hit + 16] = b"\xff" * 8
    data_file.write_bytes(bytes(raw))
    store = LMDBBackend(tmp_path / "data")
    with pytest.raises(StoragePanicError):
        store.get("k01000")
    for call in [lambda: store.get("k00001"), lambda: store.put("x", b"1"), lambda: store.list("")]:
        with pytest.raises(StoragePanicError):
            call()
    store.close()
    with pytest.raises(StoragePanicError):
        store.get("k00001")
    LMDBBackend(tmp_path / "data").close()  # close released the directory


def test_corruption_found_on_open_panics(tmp_path: Path) -> None:
    LMDBBackend(tmp_path / "data").close()
    data_file = tmp_path / "data" / "data.mdb"
    raw = bytearray(data_file.read_bytes())
    for offset in range(2 * PAGE, len(raw), PAGE):  # every page after the two meta pages
        raw[offset + 8 : offset + 16] = b"\xff" * 8
    data_file.write_bytes(bytes(raw))
    with pytest.raises(StoragePanicError):
        LMDBBackend(tmp_path / "data")
    with pytest.raises(StoragePanicError):  # not StorageInUseError: the failed open let go
        LMDBBackend(tmp_path / "data")
