"""The barrier's security properties, named for the property (as OpenBao's tests are)."""

import struct

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seal.barrier import KEYRING_PATH, ROOT_KEY_PATH, Barrier
from seal.entry import ENTRY_VERSION, NONCE_SIZE
from seal.errors import IntegrityError, SealedError
from seal.lockedmem import LockedBuffer
from seal.ops import BarrierDelete, BarrierPut
from storage import Put
from storage.memory import MemoryBackend


@pytest.fixture
def opened():
    backend = MemoryBackend()
    barrier = Barrier(backend, lock_memory=False)
    root = LockedBuffer.from_bytes(bytes(range(32)), lock=False)
    backend.transaction(barrier.initialize(root))
    return backend, barrier


def reopen(backend) -> Barrier:
    barrier = Barrier(backend, lock_memory=False)
    barrier.unseal(LockedBuffer.from_bytes(bytes(range(32)), lock=False))
    return barrier


def test_entry_layout_is_vaults(opened):
    backend, barrier = opened
    barrier.put("secret/a", {"password": "hunter2"})
    blob = backend.get("secret/a")
    term, version = struct.unpack(">IB", blob[:5])
    assert term == 1 and version == ENTRY_VERSION
    assert len(blob) == 5 + NONCE_SIZE + len(msgpack.packb({"password": "hunter2"})) + 16


def test_confidential(opened):
    backend, barrier = opened
    barrier.put("secret/a", {"password": "hunter2-unique-marker"})
    assert b"hunter2-unique-marker" not in backend.get("secret/a")
    assert barrier.get("secret/a") == {"password": "hunter2-unique-marker"}


def test_nonces_are_fresh(opened):
    backend, barrier = opened
    barrier.put("p", b"same")
    first = backend.get("p")
    barrier.put("p", b"same")
    assert first[5:17] != backend.get("p")[5:17]


@given(index=st.integers(min_value=0, max_value=40), bit=st.integers(min_value=0, max_value=7))
@settings(max_examples=60)
def test_integrity_any_flipped_bit_fails(index, bit):
    backend = MemoryBackend()
    barrier = Barrier(backend, lock_memory=False)
    backend.transaction(barrier.initialize(LockedBuffer.from_bytes(bytes(32), lock=False)))
    barrier.put("k", {"v": "0123456789"})
    barrier.put("other", "still fine")
    blob = bytearray(backend.get("k"))
    blob[index % len(blob)] ^= 1 << bit
    backend.put("k", bytes(blob))
    with pytest.raises(IntegrityError):
        barrier.get("k")
    assert barrier.get("other") == "still fine"


def test_move_integrity(opened):
    backend, barrier = opened
    barrier.put("secret/a", "A")
    barrier.put("secret/b", "B")
    backend.put("secret/b", backend.get("secret/a"))
    with pytest.raises(IntegrityError):
        barrier.get("secret/b")
    assert barrier.get("secret/a") == "A"


def test_truncated_and_unknown_version_fail(opened):
    backend, barrier = opened
    barrier.put("x", "v")
    blob = backend.get("x")
    backend.put("x", blob[:10])
    with pytest.raises(IntegrityError):
        barrier.get("x")
    backend.put("x", blob[:4] + b"\x01" + blob[5:])
    with pytest.raises(IntegrityError):
        barrier.get("x")


def test_sealed_refuses_everything(opened):
    backend, barrier = opened
    barrier.put("x", "v")
    barrier.seal()
    for call in (lambda: barrier.get("x"), lambda: barrier.put("y", 1), lambda: barrier.list(""),
                 lambda: barrier.delete("x"), barrier.rotate, barrier.key_status):
        with pytest.raises(SealedError):
            call()


def test_wrong_root_key_does_not_open(opened):
    backend, barrier = opened
    wrong = Barrier(backend, lock_memory=False)
    with pytest.raises(IntegrityError):
        wrong.unseal(LockedBuffer.from_bytes(bytes(32), lock=False))
    assert wrong.sealed


def test_rotate_keeps_old_terms_readable(opened):
    backend, barrier = opened
    written = {}
    for i in range(4):
        path = f"data/{i}"
        barrier.put(path, i)
        written[path] = barrier.key_status().term
        barrier.rotate()
    assert barrier.key_status().term == 5
    again = reopen(backend)
    for path, term in written.items():
        assert struct.unpack(">I", backend.get(path)[:4])[0] == term
        assert again.get(path) == int(path.split("/")[1])
    again.put("new", "n")
    assert struct.unpack(">I", backend.get("new")[:4])[0] == 5


def test_encryptions_are_counted_and_survive_restart(opened):
    backend, barrier = opened
    for i in range(10):
        barrier.put(f"c/{i}", i)
    assert barrier.key_status().encryptions == 10
    again = reopen(backend)
    # Reserved in blocks: after a restart the count may be higher, never lower.
    assert again.key_status().encryptions >= 10


def test_rotates_itself_at_the_encryption_limit():
    backend = MemoryBackend()
    barrier = Barrier(backend, lock_memory=False, rotate_after=5)
    backend.transaction(barrier.initialize(LockedBuffer.from_bytes(bytes(32), lock=False)))
    for i in range(12):
        barrier.put(f"c/{i}", i)
    assert barrier.key_status().term == 3
    assert all(barrier.get(f"c/{i}") == i for i in range(12))


def test_reserved_paths_cannot_be_overwritten(opened):
    _, barrier = opened
    for path in (KEYRING_PATH, ROOT_KEY_PATH):
        with pytest.raises(ValueError):
            barrier.put(path, "x")


def test_transaction_is_all_or_nothing(opened):
    backend, barrier = opened
    barrier.put("t/keep", "old")
    with pytest.raises(ValueError):
        barrier.transaction([BarrierPut("t/keep", "new"), BarrierPut(KEYRING_PATH, "evil")])
    assert barrier.get("t/keep") == "old"
    barrier.transaction([BarrierPut("t/a", 1), BarrierDelete("t/keep")])
    assert barrier.get("t/a") == 1 and barrier.get("t/keep") is None


def test_view_is_confined_to_its_prefix(opened):
    _, barrier = opened
    kv = barrier.view("logical/kv1/")
    other = barrier.view("logical/kv2/")
    kv.put("a", 1)
    other.put("a", 2)
    assert kv.get("a") == 1 and other.get("a") == 2
    assert kv.list("") == ["a"]
    assert barrier.get("logical/kv1/a") == 1
    assert kv.get("../kv2/a") is None


def test_reprs_show_no_key_bytes(opened):
    _, barrier = opened
    text = repr(barrier) + repr(barrier._keyring) + repr(barrier._keyring.active)
    assert "\\x" not in text and bytes(range(32)).hex() not in text
