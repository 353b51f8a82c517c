"""KV v1 over HTTP, as OpenBao 2.7.2 answers: whole-object read/write/delete, folder lists,
the ttl field as lease_duration, and the same path and size limits as v2."""

import pytest

from server.mounts import SYSTEM_DEFAULT_TTL


@pytest.fixture
def kv1(server):
    assert server.root("POST", "/v1/sys/mounts/kv", {"type": "kv"})[0] == 204  # version 1 by default
    return server


def test_version_1_is_the_default_and_kv_v1_answers(kv1):
    assert type(kv1.core.engines["kv/"]).__name__ == "KVv1Engine"
    assert kv1.root("POST", "/v1/sys/mounts/old", {"type": "kv-v1"})[0] == 204
    assert type(kv1.core.engines["old/"]).__name__ == "KVv1Engine"


def test_write_read_delete(kv1):
    assert kv1.root("GET", "/v1/kv/app")[:2] == (404, {"errors": []})
    assert kv1.root("POST", "/v1/kv/app", {"password": "pw", "nested": {"x": [1, None]}})[0] == 204
    status, body, _ = kv1.root("GET", "/v1/kv/app")
    assert status == 200 and body["data"] == {"password": "pw", "nested": {"x": [1, None]}}
    assert body["lease_duration"] == SYSTEM_DEFAULT_TTL and body["lease_id"] == "" and body["renewable"] is False
    assert kv1.root("PUT", "/v1/kv/app", {"password": "new"})[0] == 204  # a write replaces the object
    assert kv1.root("GET", "/v1/kv/app")[1]["data"] == {"password": "new"}
    assert kv1.root("DELETE", "/v1/kv/app")[0] == 204
    assert kv1.root("DELETE", "/v1/kv/app")[0] == 204  # deleting nothing is fine
    assert kv1.root("GET", "/v1/kv/app")[:2] == (404, {"errors": []})


def test_ttl_or_lease_field_becomes_the_lease_duration(kv1):
    for name, value, seconds in (("ttl", "1h", 3600), ("lease", "30m", 1800), ("ttl", 30, 30),
                                 ("ttl", "bogus", SYSTEM_DEFAULT_TTL)):
        kv1.root("POST", "/v1/kv/t", {"k": 1, name: value})
        assert kv1.root("GET", "/v1/kv/t")[1]["lease_duration"] == seconds, (name, value)


def test_lists_show_folders_with_a_trailing_slash(kv1):
    kv1.root("POST", "/v1/kv/a", {"k": 1})
    kv1.root("POST", "/v1/kv/b/c/d", {"k": 1})
    assert kv1.root("GET", "/v1/kv/?list=true")[1]["data"] == {"keys": ["a", "b/"]}
    assert kv1.root("GET", "/v1/kv/b?list=true")[1]["data"] == {"keys": ["c/"]}
    assert kv1.root("GET", "/v1/kv/zzz?list=true")[:2] == (404, {"errors": []})
    assert kv1.root("GET", "/v1/kv/b")[:2] == (404, {"errors": []})  # a folder is not a secret


def test_bad_input(kv1):
    assert kv1.root("POST", "/v1/kv/a", {})[:2] == (400, {"errors": ["missing data fields"]})
    assert kv1.root("POST", "/v1/kv/", {"a": 1})[:2] == (400, {"errors": ["cannot write to a path ending in '/'"]})
    assert kv1.root("POST", "/v1/kv/" + "k" * 1025, {"a": 1})[:2] == (
        400, {"errors": ["path is 1025 bytes, above the limit of 1024"]})
    assert kv1.root("POST", "/v1/kv/big", {"v": "x" * (1024 * 1024)})[:2] == (
        400, {"errors": ["secret data is 1048584 bytes encoded, above the limit of 1048576"]})
    status, _, _ = kv1.call("PATCH", "/v1/kv/a", {"a": 1}, token=kv1.root_token,
                            headers={"Content-Type": "application/merge-patch+json"})
    assert status == 405


def test_values_keep_their_json_types(kv1):
    value = {"big": 2**80, "neg": -(2**70), "float": 1.5, "t": True, "n": None, "s": "\u00e9\u2603"}
    kv1.root("POST", "/v1/kv/types", value)
    assert kv1.root("GET", "/v1/kv/types")[1]["data"] == value
