"""What KV v2 leaves in storage: one transaction per change, destroyed data really gone, and no
plaintext ever in the LMDB file."""

import secrets

import pytest

from seal.view import BarrierView
from server.engines.kv_store import CONFIG_PATH, META_PREFIX, meta_key, version_key
from storage import StorageError


@pytest.fixture
def kv(server):
    assert server.root("POST", "/v1/sys/mounts/secret", {"type": "kv", "options": {"version": "2"}})[0] == 204
    return server


def engine(server):
    return server.core.engines["secret/"]


def raw_files(server) -> bytes:
    return b"".join(path.read_bytes() for path in sorted(server.data_dir.iterdir()) if path.is_file())


def test_destroy_removes_the_versions_entry_and_plaintext_never_reaches_the_file(kv):
    marker = "MARKER-" + secrets.token_hex(16)
    kept = "KEPT-" + secrets.token_hex(16)
    kv.root("POST", "/v1/secret/data/app", {"data": {"password": marker}})
    kv.root("POST", "/v1/secret/data/app", {"data": {"password": kept}})
    view = engine(kv).view
    stored_path = view.prefix + version_key("app", 1)
    assert marker.encode() in view.get(version_key("app", 1))  # decrypts through the barrier
    assert kv.core.backend.get(stored_path) is not None  # the ciphertext entry exists...
    assert marker.encode() not in raw_files(kv)  # ...and the file never holds the plaintext

    assert kv.root("POST", "/v1/secret/destroy/app", {"versions": [1]})[0] == 204
    assert kv.core.backend.get(stored_path) is None and view.get(version_key("app", 1)) is None
    assert kv.core.backend.get(view.prefix + version_key("app", 2)) is not None
    assert kv.root("GET", "/v1/secret/data/app?version=1")[1]["data"]["metadata"]["destroyed"] is True
    assert kv.root("GET", "/v1/secret/data/app")[1]["data"]["data"] == {"password": kept}
    contents = raw_files(kv)
    assert marker.encode() not in contents and kept.encode() not in contents


def test_metadata_delete_removes_every_entry_of_the_key(kv):
    for n in range(3):
        kv.root("POST", "/v1/secret/data/gone", {"data": {"n": n}})
    kv.root("POST", "/v1/secret/data/stays", {"data": {"n": 0}})
    assert kv.root("DELETE", "/v1/secret/metadata/gone")[0] == 204
    view = engine(kv).view
    assert view.get(meta_key("gone")) is None
    assert all(view.get(version_key("gone", n)) is None for n in (1, 2, 3))
    assert view.list(META_PREFIX) == ["stays"] and view.get(version_key("stays", 1)) is not None


def test_a_write_is_one_transaction_holding_the_version_and_the_metadata(kv, monkeypatch):
    kv.root("POST", "/v1/secret/metadata/w", {"max_versions": 1})
    kv.root("POST", "/v1/secret/data/w", {"data": {"n": 1}})
    calls = []
    real = BarrierView.transaction
    monkeypatch.setattr(BarrierView, "transaction", lambda self, ops: (calls.append(list(ops)), real(self, ops))[1])
    monkeypatch.setattr(BarrierView, "put", lambda self, path, value: pytest.fail(f"lone put of {path}"))
    assert kv.root("POST", "/v1/secret/data/w", {"data": {"n": 2}})[0] == 200
    (ops,) = calls
    assert [(type(op).__name__, op.path) for op in ops] == [
        ("BarrierPut", version_key("w", 2)), ("BarrierPut", meta_key("w")), ("BarrierDelete", version_key("w", 1))]


def test_a_failed_commit_changes_nothing(kv, monkeypatch):
    kv.root("POST", "/v1/secret/data/f", {"data": {"n": 1}})
    backend = kv.core.backend
    before = {p: backend.get(engine(kv).view.prefix + p) for p in (meta_key("f"), version_key("f", 1))}

    def failing(ops):
        raise StorageError("disk on fire")

    monkeypatch.setattr(backend, "transaction", failing)
    status, body, _ = kv.root("POST", "/v1/secret/data/f", {"data": {"n": 2}})
    assert (status, body) == (500, {"errors": ["storage error"]})
    monkeypatch.undo()
    assert {p: backend.get(engine(kv).view.prefix + p) for p in before} == before
    assert backend.get(engine(kv).view.prefix + version_key("f", 2)) is None
    assert kv.root("GET", "/v1/secret/data/f")[1]["data"]["data"] == {"n": 1}


def test_config_is_read_from_storage_after_a_restart_of_the_engine(kv):
    kv.root("POST", "/v1/secret/config", {"max_versions": 7})
    assert engine(kv).view.get(CONFIG_PATH)["max_versions"] == 7
    engine(kv).close()  # drops the cache, as on seal
    assert kv.root("GET", "/v1/secret/config")[1]["data"]["max_versions"] == 7
