import pytest

from seal.state import Seal
from storage.memory import MemoryBackend


@pytest.fixture
def backend():
    return MemoryBackend()


@pytest.fixture
def seal(backend):
    return Seal(backend, lock_memory=True)

