"""The Backend contract, run against every backend (BACKEND_FACTORIES below)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Callable, Iterator

import pytest

from storage import (
    Delete,
    GroupCommitBackend,
    LMDBBackend,
    MemoryBackend,
    InvalidKeyError,
    InvalidValueError,
    Put,
    StorageClosedError,
    StorageError,
)
from storage.backend import Backend
from storage.keys import MAX_KEY_BYTES


def _memory(tmp_path: Path) -> Backend:
    return MemoryBackend()


def _lmdb(tmp_path: Path) -> Backend:
    return LMDBBackend(tmp_path / "data", map_size=1 << 20, max_map_size=1 << 24)


def _group_commit(tmp_path: Path) -> Backend:
    return GroupCommitBackend(_lmdb(tmp_path))


BACKEND_FACTORIES: dict[str, Callable[[Path], Backend]] = {
    "memory": _memory, "lmdb": _lmdb, "group-commit": _group_commit,
}


@pytest.fixture(params=sorted(BACKEND_FACTORIES))
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    store = BACKEND_FACTORIES[request.param](tmp_path)
    try:
        yield store
    finally:
        store.close()


def test_get_missing_is_none(backend: Backend) -> None:
    assert backend.get("nothing/here") is None


def test_put_get_overwrite(backend: Backend) -> None:
    every_byte = bytes(range(256))
    backend.put("core/keyring", every_byte)
    assert backend.get("core/keyring") == every_byte
    backend.put("core/keyring", b"second")
    assert backend.get("core/keyring") == b"second"


def test_empty_value_is_stored_not_missing(backend: Backend) -> None:
    backend.put("empty", b"")
    assert backend.get("empty") == b""
    assert backend.list("") == ["empty"]


def test_delete(backend: Backend) -> None:
    backend.put("a/b", b"1")
    backend.put("a/c", b"2")
    backend.delete("a/b")
    assert backend.get("a/b") is None
    assert backend.get("a/c") == b"2"
    backend.delete("a/b")  # missing: not an error
    backend.delete("never/written")


def test_list_one_level_with_folders(backend: Backend) -> None:
    for key in ["sys/policy/default", "sys/policy/admin", "sys/token/id/abc", "sys/seal", "kv/x"]:
        backend.put(key, b"v")
    assert backend.list("") == ["kv/", "sys/"]
    assert backend.list("sys/") == ["policy/", "seal", "token/"]
    assert backend.list("sys/policy/") == ["admin", "default"]
    assert backend.list("sys/token/") == ["id/"]
    assert backend.list("sys/token/id/") == ["abc"]


def test_list_leaf_and_folder_of_same_name(backend: Backend) -> None:
    backend.put("a/b", b"leaf")
    backend.put("a/b/c", b"nested")
    assert backend.list("a/") == ["b", "b/"]


def test_list_missing_prefix_is_empty(backend: Backend) -> None:
    assert backend.list("") == []
    backend.put("a/b", b"v")
    assert backend.list("nope/") == []
    assert backend.list("a/b/") == []


def test_list_prefix_without_slash_matches_vault(backend: Backend) -> None:
    # Vault lists by plain string prefix: the remainder up to and including its first '/'.
    backend.put("foo/bar", b"v")
    backend.put("food", b"v")
    backend.put("fo", b"v")
    assert backend.list("fo") == ["", "o/", "od"]


def test_list_sorted_by_code_point(backend: Backend) -> None:
    names = ["z", "Z", "é", "😀", "a b", "ä/x", "\x00nul", "0", "-"]
    for name in names:
        backend.put(f"u/{name}", b"v")
    expected = sorted({n.split("/")[0] + ("/" if "/" in n else "") for n in names})
    assert backend.list("u/") == expected


def test_folder_disappears_with_its_last_key(backend: Backend) -> None:
    backend.put("a/b/c", b"v")
    backend.put("a/d", b"v")
    backend.delete("a/b/c")
    assert backend.list("a/") == ["d"]


@pytest.mark.parametrize(
    "key",
    [b"bytes", None, 3, "", "ends/with/", "/", "bad\ud800surrogate", "x" * (MAX_KEY_BYTES + 1)],
)
def test_invalid_keys_refused(backend: Backend, key: object) -> None:
    with pytest.raises(InvalidKeyError) as raised:
        backend.put(key, b"v")  # type: ignore[arg-type]
    assert isinstance(raised.value, StorageError) and isinstance(raised.value, ValueError)
    with pytest.raises(InvalidKeyError):
        backend.get(key)  # type: ignore[arg-type]
    with pytest.raises(InvalidKeyError):
        backend.delete(key)  # type: ignore[arg-type]
    assert backend.list("") == []


def test_longest_allowed_key(backend: Backend) -> None:
    key = "k/" + "é" * ((MAX_KEY_BYTES - 2) // 2)
    assert len(key.encode()) == MAX_KEY_BYTES
    backend.put(key, b"v")
    assert backend.get(key) == b"v"


@pytest.mark.parametrize("prefix", [None, b"a/", "bad\udfffprefix"])
def test_invalid_list_prefix_refused(backend: Backend, prefix: object) -> None:
    with pytest.raises(InvalidKeyError):
        backend.list(prefix)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", ["text", bytearray(b"x"), memoryview(b"x"), None, 1])
def test_non_bytes_values_refused(backend: Backend, value: object) -> None:
    with pytest.raises(InvalidValueError) as raised:
        backend.put("k", value)  # type: ignore[arg-type]
    assert isinstance(raised.value, TypeError)
    assert backend.get("k") is None


def test_transaction_applies_in_order(backend: Backend) -> None:
    backend.put("old", b"o")
    backend.transaction(
        [
            Put("a", b"1"),
            Put("b", b"2"),
            Delete("old"),
            Put("c", b"3"),
            Delete("c"),
            Put("a", b"final"),
            Delete("missing"),
        ]
    )
    assert backend.get("a") == b"final"
    assert backend.get("b") == b"2"
    assert backend.get("c") is None
    assert backend.get("old") is None
    backend.transaction([])
    backend.transaction((Put("t", b"tuple"),))
    assert backend.get("t") == b"tuple"


@pytest.mark.parametrize(
    ("bad_op", "error"),
    [
        (Put("x", "not bytes"), InvalidValueError),  # type: ignore[arg-type]
        (Put("", b"v"), InvalidKeyError),
        (Delete(""), InvalidKeyError),
        (Put("dir/", b"v"), InvalidKeyError),
        (("raw", b"tuple"), InvalidValueError),
    ],
)
def test_transaction_with_invalid_op_applies_nothing(
    backend: Backend, bad_op: object, error: type[Exception]
) -> None:
    backend.put("keep", b"before")
    backend.put("doomed", b"before")
    ops = [Put("new", b"1"), Put("keep", b"after"), Delete("doomed"), bad_op, Put("late", b"2")]
    with pytest.raises(error):
        backend.transaction(ops)  # type: ignore[arg-type]
    assert backend.get("new") is None
    assert backend.get("late") is None
    assert backend.get("keep") == b"before"
    assert backend.get("doomed") == b"before"
    assert backend.list("") == ["doomed", "keep"]


@pytest.mark.parametrize("ops", ["not ops", b"bytes", None, Put("a", b"1")])
def test_transaction_needs_a_sequence(backend: Backend, ops: object) -> None:
    with pytest.raises(InvalidValueError):
        backend.transaction(ops)  # type: ignore[arg-type]
    assert backend.list("") == []


def test_closed_backend_refuses_every_call(backend: Backend) -> None:
    backend.put("a", b"1")
    backend.close()
    calls = [
        lambda: backend.get("a"),
        lambda: backend.put("a", b"2"),
        lambda: backend.delete("a"),
        lambda: backend.list(""),
        lambda: backend.transaction([Put("b", b"1")]),
    ]
    for call in calls:
        with pytest.raises(StorageClosedError):
            call()
    backend.close()  # closing twice is harmless


def test_concurrent_writers_and_readers(backend: Backend) -> None:
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            for i in range(40):
                key = f"w{worker}/k{i}"
                backend.put(key, f"{worker}:{i}".encode())
                assert backend.get(key) == f"{worker}:{i}".encode()
                backend.list(f"w{worker}/")
        except BaseException as exc:  # surfaced below with the worker's traceback lost
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert backend.list("") == [f"w{n}/" for n in range(6)]
    assert len(backend.list("w3/")) == 40
