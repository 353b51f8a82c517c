"""The read-only backend a worker process reads through: reads pass, writes never land."""

import pytest

from storage import MemoryBackend, Put, ReadOnlyBackend, ReadOnlyStorageError, StorageError


def test_reads_pass_through_and_every_kind_of_write_is_refused_untouched():
    inner = MemoryBackend()
    inner.put("a/b", b"1")
    backend = ReadOnlyBackend(inner)
    assert backend.get("a/b") == b"1" and backend.list("a/") == ["b"]
    for attempt in (lambda: backend.put("a/c", b"2"), lambda: backend.delete("a/b"),
                    lambda: backend.transaction([Put("a/d", b"3")])):
        with pytest.raises(ReadOnlyStorageError):
            attempt()
    assert inner.list("a/") == ["b"] and inner.get("a/b") == b"1"
    assert issubclass(ReadOnlyStorageError, StorageError)
