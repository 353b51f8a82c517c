"""What only the LMDB backend promises: file modes, one owner, map growth, format, persistence."""

from __future__ import annotations

import fcntl
import os
import stat
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import lmdb
import pytest

from storage import (
    LMDBBackend,
    Put,
    StorageError,
    StorageFormatError,
    StorageFullError,
    StorageInUseError,
)
from storage.data_directory import LOCK_FILE
from storage.lmdb_store import DATA_DB, FORMAT, FORMAT_KEY, META_DB, MIN_MAP_SIZE

REPO = Path(__file__).resolve().parents[2]
SMALL = dict(map_size=MIN_MAP_SIZE, max_map_size=4 * MIN_MAP_SIZE)


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def _run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("umask", [0o000, 0o277])
def test_files_private_whatever_the_umask(tmp_path: Path, umask: int) -> None:
    data = tmp_path / "a" / "data"
    previous = os.umask(umask)
    try:
        store = LMDBBackend(data)
        store.put("k", b"v")
    finally:
        os.umask(previous)
    store.close()
    assert _mode(data) == 0o700
    names = sorted(os.listdir(data))
    assert names == sorted(["data.mdb", "lock.mdb", LOCK_FILE])
    for name in names:
        assert _mode(data / name) == 0o600, name


def test_looser_modes_from_earlier_runs_are_tightened(tmp_path: Path) -> None:
    data = tmp_path / "data"
    LMDBBackend(data).close()
    os.chmod(data, 0o777)
    for name in os.listdir(data):
        os.chmod(data / name, 0o666)
    LMDBBackend(data).close()
    assert _mode(data) == 0o700
    assert all(_mode(data / name) == 0o600 for name in os.listdir(data))


def test_path_that_is_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(StorageError, match="not a directory"):
        LMDBBackend(tmp_path / "file")


def test_second_open_in_same_process_refused(tmp_path: Path) -> None:
    first = LMDBBackend(tmp_path / "data")
    first.put("k", b"v")
    with pytest.raises(StorageInUseError):
        LMDBBackend(tmp_path / "data")
    assert first.get("k") == b"v"  # the refused open disturbed nothing
    first.close()
    second = LMDBBackend(tmp_path / "data")
    assert second.get("k") == b"v"
    second.close()


def test_second_open_from_another_process_refused(tmp_path: Path) -> None:
    code = f"""
        from storage import LMDBBackend, StorageInUseError
        try:
            LMDBBackend({str(tmp_path / "data")!r}).close()
            print("opened")
        except StorageInUseError:
            print("in use")
    """
    first = LMDBBackend(tmp_path / "data")
    held = _run_python(code)
    first.close()
    released = _run_python(code)
    assert (held.stdout.strip(), held.returncode) == ("in use", 0), held.stderr
    assert (released.stdout.strip(), released.returncode) == ("opened", 0), released.stderr


def test_reopen_after_close_keeps_data(tmp_path: Path) -> None:
    long_key = "kv/" + "L" * 700
    store = LMDBBackend(tmp_path / "data")
    store.transaction([Put("kv/a", b"1"), Put(long_key, b"2"), Put("sys/x", b"3")])
    store.delete("sys/x")
    store.close()
    store = LMDBBackend(tmp_path / "data")
    assert store.get("kv/a") == b"1"
    assert store.get(long_key) == b"2"
    assert store.get("sys/x") is None
    assert store.list("") == ["kv/"]
    assert store.list("kv/") == ["L" * 700, "a"]
    store.close()


def test_map_grows_then_full_keeps_earlier_data(tmp_path: Path) -> None:
    store = LMDBBackend(tmp_path / "data", **SMALL)
    assert store.map_size == MIN_MAP_SIZE
    chunk = os.urandom(8000)
    written = 0
    with pytest.raises(StorageFullError, match="max_map_size"):
        while True:
            store.put(f"big/{written:04}", chunk)
            written += 1
    # It grew to the ceiling first: more than the initial map's worth went in.
    assert store.map_size == 4 * MIN_MAP_SIZE
    assert written * len(chunk) > MIN_MAP_SIZE
    assert store.get(f"big/{written:04}") is None
    assert all(store.get(f"big/{i:04}") == chunk for i in range(written))
    with pytest.raises(StorageFullError):
        store.transaction([Put("small/first", b"fits"), Put("big/huge", os.urandom(32 * len(chunk)))])
    assert store.get("small/first") is None
    assert store.list("") == ["big/"]
    store.close()
    reopened = LMDBBackend(tmp_path / "data", **SMALL)
    assert len(reopened.list("big/")) == written
    reopened.close()


def test_map_growth_while_readers_run(tmp_path: Path) -> None:
    store = LMDBBackend(tmp_path / "data", map_size=MIN_MAP_SIZE, max_map_size=64 * MIN_MAP_SIZE)
    store.put("stable", b"value")
    stop = threading.Event()
    errors: list[BaseException] = []

    def read() -> None:
        try:
            while not stop.is_set():
                assert store.get("stable") == b"value"
                store.list("")
        except BaseException as exc:
            errors.append(exc)

    def write() -> None:
        try:
            for i in range(60):
                store.put(f"grow/{i}", b"x" * 8000)
        except BaseException as exc:
            errors.append(exc)

    readers = [threading.Thread(target=read) for _ in range(4)]
    writer = threading.Thread(target=write, daemon=True)
    for thread in [*readers, writer]:
        thread.start()
    # A resize or abort that waits for readers to pause would stall here while they run.
    writer.join(timeout=20)
    stalled = writer.is_alive()
    stop.set()
    for thread in [*readers, writer]:
        thread.join()
    assert not stalled, "writes stalled behind concurrent readers"
    assert errors == []
    assert store.map_size >= 8 * MIN_MAP_SIZE
    assert len(store.list("grow/")) == 60
    store.close()


def _raw_env(path: Path) -> lmdb.Environment:
    return lmdb.open(str(path), max_dbs=4, map_size=1 << 20)


def test_other_format_refused(tmp_path: Path) -> None:
    LMDBBackend(tmp_path / "data").close()
    with _raw_env(tmp_path / "data") as env:
        meta = env.open_db(META_DB)
        with env.begin(write=True) as txn:
            txn.put(FORMAT_KEY, b"strongroom-lmdb-0", db=meta)
    with pytest.raises(StorageFormatError) as raised:
        LMDBBackend(tmp_path / "data")
    message = str(raised.value)
    assert "strongroom-lmdb-0" in message and FORMAT.decode() in message
    # The refusal released the directory lock.
    with open(tmp_path / "data" / LOCK_FILE, "rb") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)


def test_meta_without_format_record_refused(tmp_path: Path) -> None:
    with _raw_env(tmp_path / "data") as env:
        env.open_db(META_DB)
    with pytest.raises(StorageFormatError, match="no format record"):
        LMDBBackend(tmp_path / "data")


def test_foreign_lmdb_with_data_refused(tmp_path: Path) -> None:
    with _raw_env(tmp_path / "data") as env:
        with env.begin(write=True) as txn:
            txn.put(b"meta", b"a plain key, not a sub-db")
            txn.put(b"other", b"x")
    with pytest.raises(StorageFormatError, match="no format record"):
        LMDBBackend(tmp_path / "data")


def test_file_that_is_not_lmdb_refused(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "data.mdb").write_bytes(b"not an lmdb file at all" * 1000)
    with pytest.raises(StorageFormatError, match="expected format"):
        LMDBBackend(tmp_path / "data")


def test_fresh_directory_gets_format_record(tmp_path: Path) -> None:
    LMDBBackend(tmp_path / "data").close()
    with _raw_env(tmp_path / "data") as env:
        meta = env.open_db(META_DB, create=False)
        with env.begin() as txn:
            assert txn.get(FORMAT_KEY, db=meta) == FORMAT
            assert sorted(key for key, _ in txn.cursor()) == [DATA_DB, META_DB]


@pytest.mark.parametrize(
    "sizes",
    [
        dict(map_size=MIN_MAP_SIZE - 4096, max_map_size=1 << 20),
        dict(map_size=1 << 20, max_map_size=1 << 19),
        dict(map_size="big", max_map_size=1 << 20),
        dict(map_size=True, max_map_size=1 << 20),
        dict(map_size=1 << 20, max_map_size=1 << 20, max_readers=0),
    ],
)
def test_bad_sizes_refused_before_touching_disk(tmp_path: Path, sizes: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        LMDBBackend(tmp_path / "data", **sizes)  # type: ignore[arg-type]
    assert not (tmp_path / "data").exists()
