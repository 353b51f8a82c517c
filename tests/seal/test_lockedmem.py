"""Locked buffers: contents, zeroing in the mapped memory, closing, secrecy, locking limits."""

import copy
import json
import os
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from seal.errors import BufferClosedError, MemoryLockError, SealError
from seal.lockedmem import LockedBuffer, zero_bytearray

REPO_ROOT = Path(__file__).resolve().parents[2]
MARKER = b"KEY-MARKER-7f3a9c" + bytes(range(15))


def _mapped_bytes(buffer: LockedBuffer) -> bytes:
    """The bytes in the mmap region itself, read beside the buffer's own API."""
    chunk, offset = buffer._chunk, buffer._offset
    return chunk.region[offset : offset + len(buffer)]


def _run(code: str) -> dict:
    """Run code in a fresh interpreter (process-wide limits stay out of the test run)."""
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_round_trip_and_length():
    with LockedBuffer.from_bytes(MARKER) as buffer:
        assert len(buffer) == len(MARKER)
        assert bytes(buffer.view()) == MARKER
        assert buffer.bytes() == MARKER
        assert _mapped_bytes(buffer) == MARKER
        assert buffer.locked


def test_from_bytearray_and_memoryview_copy_in():
    source = bytearray(MARKER)
    buffer = LockedBuffer.from_bytes(memoryview(source))
    zero_bytearray(source)
    assert buffer.bytes() == MARKER
    buffer.close()


def test_write_through_view_reaches_the_mapping():
    buffer = LockedBuffer(16)
    assert _mapped_bytes(buffer) == bytes(16)
    buffer.view()[:] = b"\x5a" * 16
    assert _mapped_bytes(buffer) == b"\x5a" * 16
    buffer.close()


def test_zero_really_zeroes_the_mapped_memory():
    buffer = LockedBuffer.from_bytes(MARKER)
    buffer.zero()
    assert _mapped_bytes(buffer) == bytes(len(MARKER))
    assert not buffer.closed
    buffer.close()


def test_close_zeroes_the_slot_and_returns_it_for_reuse():
    # two buffers in one chunk, so the chunk stays mapped after one closes
    buffers = [LockedBuffer(32) for _ in range(8)]
    keeper, buffer = next(
        (a, b) for a in buffers for b in buffers if a is not b and a._chunk is b._chunk
    )
    buffer.view()[:] = MARKER
    chunk, offset = buffer._chunk, buffer._offset
    buffer.close()
    assert chunk.region[offset : offset + 32] == bytes(32)
    assert chunk.free[-1] == offset  # the next allocation from this chunk takes it
    assert keeper.bytes() == bytes(32)
    for other in buffers:
        other.close()


def test_close_is_idempotent_and_use_after_close_raises():
    buffer = LockedBuffer.from_bytes(MARKER)
    view = buffer.view()
    buffer.close()
    buffer.close()
    assert buffer.closed
    for use in (buffer.view, buffer.bytes, buffer.zero):
        with pytest.raises(BufferClosedError) as caught:
            use()
        assert isinstance(caught.value, SealError)
    with pytest.raises(ValueError):
        view[0]  # the view handed out earlier was released by close()


def test_view_released_by_caller_is_replaced():
    buffer = LockedBuffer.from_bytes(MARKER)
    with buffer.view() as view:
        assert bytes(view) == MARKER
    assert bytes(buffer.view()) == MARKER
    buffer.close()


def test_large_buffer_gets_its_own_pages():
    data = os.urandom(10_000)
    buffer = LockedBuffer.from_bytes(data)
    assert buffer.bytes() == data and buffer._chunk.nbytes % os.sysconf("SC_PAGE_SIZE") == 0
    region = buffer._chunk.region
    buffer.close()
    assert region.closed  # zeroed, unlocked and unmapped


def test_repr_str_format_hide_the_bytes():
    buffer = LockedBuffer.from_bytes(MARKER)
    for text in (repr(buffer), str(buffer), f"{buffer}", "%s" % buffer, "%r" % buffer):
        assert "MARKER" not in text and MARKER.hex() not in text
    assert repr(buffer) == f"LockedBuffer({len(MARKER)} bytes, locked)"
    assert not hasattr(buffer, "__bytes__")
    buffer.close()
    assert repr(buffer) == f"LockedBuffer({len(MARKER)} bytes, closed)"


def test_pickle_and_copy_are_refused():
    buffer = LockedBuffer.from_bytes(MARKER)
    for refuse in (pickle.dumps, copy.copy, copy.deepcopy):
        with pytest.raises(TypeError):
            refuse(buffer)
    buffer.close()


def test_bad_sizes_and_types():
    with pytest.raises(ValueError):
        LockedBuffer(0)
    with pytest.raises(ValueError):
        LockedBuffer.from_bytes(b"")
    with pytest.raises(TypeError):
        LockedBuffer("32")
    with pytest.raises(TypeError):
        LockedBuffer.from_bytes("text")


def test_zero_bytearray():
    data = bytearray(MARKER)
    zero_bytearray(data)
    assert data == bytearray(len(MARKER))
    zero_bytearray(bytearray())
    with pytest.raises(TypeError):
        zero_bytearray(b"immutable")


def test_many_keys_share_a_few_locked_pages():
    buffers = [LockedBuffer(32) for _ in range(4000)]
    chunks = {id(b._chunk) for b in buffers}
    assert len(chunks) <= 20  # 4000 x 32 bytes fill 8 chunks of 16 KiB, not 4000 pages
    for buffer in buffers:
        buffer.close()


def test_vmlck_grows_only_when_locked():
    result = _run(
        """
        import json
        from seal.lockedmem import LockedBuffer

        def vmlck():
            for line in open("/proc/self/status"):
                if line.startswith("VmLck:"):
                    return int(line.split()[1])

        start = vmlck()
        unlocked = LockedBuffer(32, lock=False)
        after_unlocked = vmlck()
        locked = LockedBuffer(32)
        after_locked = vmlck()
        locked.close()
        after_close = vmlck()
        print(json.dumps([start, after_unlocked, after_locked, after_close, repr(unlocked)]))
        """
    )
    start, after_unlocked, after_locked, after_close, unlocked_repr = result
    assert after_unlocked == start
    assert after_locked >= start + 4
    assert after_close == start
    assert unlocked_repr == "LockedBuffer(32 bytes, unlocked)"


def test_disable_core_dumps():
    result = _run(
        """
        import ctypes, json, resource
        from seal.lockedmem import disable_core_dumps

        disable_core_dumps()
        libc = ctypes.CDLL(None, use_errno=True)
        PR_GET_DUMPABLE = 3
        print(json.dumps([resource.getrlimit(resource.RLIMIT_CORE), libc.prctl(PR_GET_DUMPABLE, 0, 0, 0, 0)]))
        """
    )
    assert result == [[0, 0], 0]


# In the child: drop CAP_IPC_LOCK from the effective set (root would otherwise ignore
# RLIMIT_MEMLOCK), then lower the soft limit to 0.
_WITHOUT_MEMLOCK = """
    import ctypes, json, resource
    from seal.errors import MemoryLockError
    from seal.lockedmem import LockedBuffer

    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Data(ctypes.Structure):
        _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                    ("inheritable", ctypes.c_uint32)]

    CAP_IPC_LOCK = 14
    libc = ctypes.CDLL(None, use_errno=True)
    header, data = Header(0x20080522, 0), (Data * 2)()
    assert libc.capget(ctypes.byref(header), data) == 0
    data[0].effective &= ~(1 << CAP_IPC_LOCK)
    assert libc.capset(ctypes.byref(header), data) == 0
    resource.setrlimit(resource.RLIMIT_MEMLOCK, (0, resource.getrlimit(resource.RLIMIT_MEMLOCK)[1]))

    try:
        LockedBuffer.from_bytes(b"k" * 32)
        outcome = "locked"
    except MemoryLockError as exc:
        outcome = str(exc)
    with LockedBuffer.from_bytes(b"k" * 32, lock=False) as unlocked:
        works = unlocked.bytes() == b"k" * 32
    print(json.dumps([outcome, works]))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="capset and RLIMIT_MEMLOCK test is Linux")
def test_mlock_failure_names_disable_mlock_and_unlocked_still_works():
    message, unlocked_works = _run(_WITHOUT_MEMLOCK)
    assert "disable_mlock" in message
    assert "RLIMIT_MEMLOCK is 0 bytes" in message
    assert unlocked_works


def test_memory_lock_error_is_a_seal_error():
    assert issubclass(MemoryLockError, SealError)
