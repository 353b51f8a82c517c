"""KV v2 over HTTP: Vault's shapes, exact status codes and error bodies (checked against
OpenBao 2.7.2), versions, check-and-set, soft delete, destroy, metadata, config and limits."""

import re

import pytest

from server.engines.kv_store import version_key

NANO_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z")
ENVELOPE = {"request_id", "lease_id", "renewable", "lease_duration", "data", "wrap_info", "warnings", "auth"}
MERGE = {"Content-Type": "application/merge-patch+json"}
HOUR_NS = 3600 * 10**9


@pytest.fixture
def kv(server):
    status, body, _ = server.root("POST", "/v1/sys/mounts/secret", {"type": "kv", "options": {"version": "2"}})
    assert status == 204, body
    return server


def engine(server):
    return server.core.engines["secret/"]


def write(server, path, data, **options):
    return server.root("POST", f"/v1/secret/data/{path}", {"data": data, "options": options})


def patch(server, path, body, headers=MERGE):
    return server.call("PATCH", f"/v1/secret/{path}", body, token=server.root_token, headers=headers)


def listing(server, path):
    return server.root("GET", f"/v1/secret/{path}?list=true")


def test_write_and_read_have_vaults_shapes(kv):
    status, body, _ = write(kv, "app/db", {"user": "alice", "n": 1})
    assert status == 200 and set(body) == ENVELOPE
    meta = body["data"]
    assert NANO_TIME.fullmatch(meta.pop("created_time"))
    assert meta == {"version": 1, "deletion_time": "", "destroyed": False, "custom_metadata": None}
    status, body, _ = kv.root("GET", "/v1/secret/data/app/db")
    assert status == 200 and body["data"]["data"] == {"user": "alice", "n": 1}
    assert body["data"]["metadata"]["version"] == 1 and body["lease_duration"] == 0
    assert body["warnings"] is None


def test_missing_secret_or_version_is_a_bare_404(kv):
    assert kv.root("GET", "/v1/secret/data/nothere")[:2] == (404, {"errors": []})
    write(kv, "a", {"k": "v"})
    assert kv.root("GET", "/v1/secret/data/a?version=2")[:2] == (404, {"errors": []})
    assert kv.root("GET", "/v1/secret/data/a?version=0")[0] == 200  # 0: the latest, as Vault
    assert kv.root("GET", "/v1/secret/data/")[:2] == (404, {"errors": []})
    assert kv.root("GET", "/v1/secret/data/a?version=abc")[:2] == (
        400, {"errors": ['error converting input for field "version": expected an integer']})


def test_check_and_set(kv):
    assert write(kv, "c", {"v": 1}, cas=0)[0] == 200  # cas 0: only if the key is new
    assert write(kv, "c", {"v": 2}, cas=0)[:2] == (
        400, {"errors": ["check-and-set parameter did not match the current version"]})
    assert write(kv, "c", {"v": 2}, cas="x")[:2] == (400, {"errors": ["error parsing check-and-set parameter"]})
    status, body, _ = write(kv, "c", {"v": 2}, cas="1")
    assert status == 200 and body["data"]["version"] == 2
    assert kv.root("POST", "/v1/secret/config", {"cas_required": True})[0] == 204
    assert write(kv, "c", {"v": 3})[:2] == (400, {"errors": ["check-and-set parameter required for this call"]})
    status, body, _ = kv.root("POST", "/v1/secret/metadata/c", {"cas_required": False})
    assert status == 200 and body["data"] is None and body["warnings"] == [
        '"cas_required" set to false, but is mandated by backend config. This value will be ignored.']


def test_bad_write_bodies(kv):
    assert kv.root("POST", "/v1/secret/data/b", {})[:2] == (400, {"errors": ["no data provided"]})
    assert kv.root("POST", "/v1/secret/data/b", {"data": "text"})[:2] == (
        400, {"errors": ['error converting input for field "data": expected a JSON object']})
    assert kv.root("POST", "/v1/secret/data/b", {"data": {}, "options": 3})[:2] == (
        400, {"errors": ['error converting input for field "options": expected a JSON object']})
    assert kv.root("POST", "/v1/secret/data/b/", {"data": {}})[:2] == (
        400, {"errors": ["cannot write to a path ending in '/'"]})
    status, body, _ = kv.root("POST", "/v1/secret/data/b", {"data": {"x": 1}, "zeta": 1, "alpha": 2})
    assert status == 200 and body["warnings"] == ["Endpoint ignored these unrecognized parameters: [alpha zeta]"]


def test_soft_delete_undelete_and_destroy(kv):
    for n in (1, 2, 3):
        write(kv, "d", {"v": n})
    assert kv.root("DELETE", "/v1/secret/data/d")[0] == 204
    status, body, _ = kv.root("GET", "/v1/secret/data/d")
    assert status == 404 and body["data"]["data"] is None  # Vault: metadata comes with the 404
    assert NANO_TIME.fullmatch(body["data"]["metadata"]["deletion_time"])
    assert kv.root("GET", "/v1/secret/data/d?version=2")[1]["data"]["data"] == {"v": 2}
    assert kv.root("POST", "/v1/secret/delete/d", {"versions": "1,2"})[0] == 204
    assert kv.root("POST", "/v1/secret/delete/d", {})[:2] == (400, {"errors": ["No version number provided"]})
    assert kv.root("POST", "/v1/secret/undelete/d", {"versions": [1, 3, 99]})[0] == 204
    assert kv.root("GET", "/v1/secret/data/d")[1]["data"]["data"] == {"v": 3}
    assert kv.root("POST", "/v1/secret/destroy/d", {"versions": [3]})[0] == 204
    assert kv.root("POST", "/v1/secret/destroy/d", {})[:2] == (400, {"errors": ["no version number provided"]})
    status, body, _ = kv.root("GET", "/v1/secret/data/d")
    assert status == 404 and body["data"]["metadata"]["destroyed"] is True
    assert kv.root("POST", "/v1/secret/undelete/d", {"versions": [3]})[0] == 204  # destroyed stays destroyed
    versions = kv.root("GET", "/v1/secret/metadata/d")[1]["data"]["versions"]
    assert versions["3"]["destroyed"] and versions["1"]["deletion_time"] == "" and versions["2"]["deletion_time"]
    assert kv.root("POST", "/v1/secret/delete/d", {"versions": ["x"]})[:2] == (
        400, {"errors": ['Field validation failed: error converting input for field "versions": expected an integer']})
    assert kv.root("POST", "/v1/secret/delete/nothere", {"versions": [1]})[0] == 204


def test_patch_is_a_merge_patch_and_needs_its_media_type(kv):
    write(kv, "p", {"a": 1, "b": {"c": 2, "d": 3}, "e": "x"})
    status, body, _ = patch(kv, "data/p", {"data": {"a": None}}, headers={"Content-Type": "application/json"})
    assert (status, body) == (415, {"errors": [
        "PATCH requires Content-Type of application/merge-patch+json, provided application/json"]})
    status, body, _ = patch(kv, "data/p", {"data": {"a": None, "b": {"c": None, "f": 4}, "g": [1, None]}})
    assert status == 200 and body["data"]["version"] == 2
    assert kv.root("GET", "/v1/secret/data/p")[1]["data"]["data"] == {"b": {"d": 3, "f": 4}, "e": "x", "g": [1, None]}
    assert patch(kv, "data/p", {"data": {"z": 1}, "options": {"cas": 1}})[:2] == (
        400, {"errors": ["check-and-set parameter did not match the current version"]})
    assert patch(kv, "data/p", {})[:2] == (400, {"errors": ["no data provided"]})
    assert patch(kv, "data/nothere", {"data": {"z": 1}})[:2] == (404, None)  # Vault: no body at all
    kv.root("DELETE", "/v1/secret/data/p")
    status, body, _ = patch(kv, "data/p", {"data": {"z": 1}}, headers={"Content-Type": MERGE["Content-Type"] + "; charset=utf-8"})
    assert status == 404 and body["data"]["version"] == 2 and body["data"]["deletion_time"]


def test_metadata_write_patch_list_and_delete(kv):
    assert kv.root("POST", "/v1/secret/metadata/m", {})[0] == 204
    assert kv.root("GET", "/v1/secret/metadata/m")[:2] == (404, {"errors": []})  # nothing written
    assert kv.root("POST", "/v1/secret/metadata/m", {"max_versions": 3, "custom_metadata": {"n": 5, "t": True},
                                                      "delete_version_after": "1h30m"})[0] == 204
    status, body, _ = kv.root("GET", "/v1/secret/metadata/m")
    meta = body["data"]
    assert status == 200 and meta["created_time"] == meta["updated_time"]
    for name in ("created_time", "updated_time"):
        assert NANO_TIME.fullmatch(meta.pop(name))
    assert meta == {"cas_required": False, "current_metadata_version": 1, "current_version": 0,
                    "custom_metadata": {"n": "5", "t": "1"}, "delete_version_after": "1h30m0s", "max_versions": 3,
                    "metadata_cas_required": False, "oldest_version": 0, "versions": {}}
    assert patch(kv, "metadata/m", {"custom_metadata": {"n": None, "o": "p"}, "max_versions": None})[0] == 204
    meta = kv.root("GET", "/v1/secret/metadata/m")[1]["data"]
    assert meta["custom_metadata"] == {"t": "1", "o": "p"} and meta["max_versions"] == 0
    assert meta["current_metadata_version"] == 2
    assert patch(kv, "metadata/nothere", {"max_versions": 1})[:2] == (404, None)
    write(kv, "m", {"a": 1})
    write(kv, "folder/inner", {"a": 1})
    assert listing(kv, "metadata/")[1]["data"] == {"keys": ["folder/", "m"]}
    assert listing(kv, "metadata/folder")[1]["data"] == {"keys": ["inner"]}
    assert listing(kv, "metadata/m")[:2] == (404, {"errors": []})
    assert kv.root("GET", "/v1/secret/metadata/?list=true&after=folder/&limit=5")[1]["data"] == {"keys": ["m"]}
    detailed = listing(kv, "detailed-metadata/")[1]["data"]
    assert detailed["keys"] == ["folder/", "m"] and detailed["key_info"]["folder/"] == {}
    assert detailed["key_info"]["m"]["current_version"] == 1
    assert kv.root("DELETE", "/v1/secret/metadata/m")[0] == 204
    assert kv.root("GET", "/v1/secret/metadata/m")[:2] == (404, {"errors": []})
    assert kv.root("GET", "/v1/secret/data/m")[:2] == (404, {"errors": []})


def test_metadata_bad_input_bodies(kv):
    cases = [
        ({"max_versions": "x"}, 'error converting input for field "max_versions": expected an integer'),
        ({"max_versions": -1}, 'error converting input for field "max_versions": must be between 0 and 4294967295'),
        ({"cas_required": "maybe"}, 'error converting input for field "cas_required": expected a boolean'),
        ({"delete_version_after": -5}, 'error converting input for field "delete_version_after": cannot provide a negative value'),
        ({"custom_metadata": "text"}, 'error converting input for field "custom_metadata": expected a JSON object'),
        ({"custom_metadata": {"": "x"}}, '1 error occurred:\n\t* custom_metadata validation failed: length of key "" '
                                         "is 0 but must be 0 < len(key) <= 128\n\n"),
    ]
    for body, message in cases:
        assert kv.root("POST", "/v1/secret/metadata/bad", body)[:2] == (400, {"errors": [message]}), body


def test_metadata_check_and_set(kv):
    assert kv.root("POST", "/v1/secret/metadata/mc", {"max_versions": 2, "metadata_cas": 1})[:2] == (
        400, {"errors": ["metadata_cas must be 0 when creating new metadata"]})
    assert kv.root("POST", "/v1/secret/metadata/mc", {"metadata_cas_required": True, "metadata_cas": 0})[0] == 204
    assert kv.root("POST", "/v1/secret/metadata/mc", {"max_versions": 4})[:2] == (
        400, {"errors": ["metadata check-and-set parameter required for this call"]})
    assert kv.root("POST", "/v1/secret/metadata/mc", {"max_versions": 4, "metadata_cas": 0})[:2] == (
        400, {"errors": ["metadata check-and-set parameter does not match the current version"]})
    assert kv.root("POST", "/v1/secret/metadata/mc", {"max_versions": 4, "metadata_cas": 1})[0] == 204
    assert kv.root("GET", "/v1/secret/metadata/mc")[1]["data"]["current_metadata_version"] == 2


def test_max_versions_prunes_the_oldest_versions_data_from_storage(kv):
    kv.root("POST", "/v1/secret/metadata/w", {"max_versions": 2})
    for n in range(1, 5):
        write(kv, "w", {"n": n})
    meta = kv.root("GET", "/v1/secret/metadata/w")[1]["data"]
    assert sorted(meta["versions"]) == ["3", "4"] and meta["oldest_version"] == 3
    view = engine(kv).view
    assert [view.get(version_key("w", n)) is not None for n in (1, 2, 3, 4)] == [False, False, True, True]
    assert kv.root("GET", "/v1/secret/data/w?version=1")[:2] == (404, {"errors": []})


def test_delete_version_after_expires_versions_at_read_time(kv):
    kv.root("POST", "/v1/secret/metadata/t", {"delete_version_after": "1h"})
    status, body, _ = write(kv, "t", {"a": 1})
    assert body["data"]["deletion_time"] != ""  # the expiry is known at write time, as in Vault
    assert kv.root("GET", "/v1/secret/data/t")[0] == 200
    real_clock = engine(kv).clock
    engine(kv).clock = lambda: real_clock() + 2 * HOUR_NS
    status, body, _ = kv.root("GET", "/v1/secret/data/t")
    assert status == 404 and body["data"]["data"] is None
    assert kv.root("POST", "/v1/secret/undelete/t", {"versions": [1]})[0] == 204  # restarts the clock
    assert kv.root("GET", "/v1/secret/data/t")[1]["data"]["data"] == {"a": 1}
    engine(kv).clock = real_clock
    kv.root("POST", "/v1/secret/config", {"delete_version_after": "-1s"})  # disables expiry mount-wide
    assert write(kv, "t", {"a": 2})[1]["data"]["deletion_time"] == ""
    assert kv.root("GET", "/v1/secret/config")[1]["data"]["delete_version_after"] == "-1s"


def test_config_read_write(kv):
    status, body, _ = kv.root("GET", "/v1/secret/config")
    assert status == 200 and body["data"] == {"cas_required": False, "delete_version_after": "0s",
                                              "max_versions": 0, "metadata_cas_required": False}
    assert kv.root("POST", "/v1/secret/config", {"max_versions": 4, "delete_version_after": "10m"})[0] == 204
    assert kv.root("GET", "/v1/secret/config")[1]["data"]["delete_version_after"] == "10m0s"
    assert kv.root("POST", "/v1/secret/config", {"max_versions": "x"})[:2] == (
        400, {"errors": ['Field validation failed: error converting input for field "max_versions": expected an integer']})
    assert kv.root("DELETE", "/v1/secret/config")[0] == 405


def test_paths_outside_the_api_get_vaults_hint(kv):
    status, body, _ = kv.root("GET", "/v1/secret/foo")
    assert status == 404 and body["data"] is None and body["warnings"] == [
        "Invalid path for a versioned K/V secrets engine. See the API docs for the appropriate API endpoints to use. "
        "If using the OpenBao CLI, use 'bao kv get' for this operation."]
    assert "'bao kv put'" in kv.root("POST", "/v1/secret/foo", {"a": 1})[1]["warnings"][0]
    assert kv.root("GET", "/v1/secret/data")[1]["warnings"] == [
        "Non-listing operations on the root of a K/V v2 mount are not supported."]
    assert listing(kv, "data/")[0] == 405


def test_subkeys_hide_every_value(kv):
    write(kv, "s", {"a": {"b": {"c": "secret"}}, "x": 2, "e": {}})
    body = kv.root("GET", "/v1/secret/subkeys/s")[1]["data"]
    assert body["subkeys"] == {"a": {"b": {"c": None}}, "e": None, "x": None} and body["metadata"]["version"] == 1
    assert kv.root("GET", "/v1/secret/subkeys/s?depth=1")[1]["data"]["subkeys"] == {"a": None, "e": None, "x": None}
    assert kv.root("GET", "/v1/secret/subkeys/s?version=9")[:2] == (404, {"errors": []})


def test_limits_give_clear_400s(kv):
    assert write(kv, "k" * 1025, {"a": 1})[:2] == (400, {"errors": ["path is 1025 bytes, above the limit of 1024"]})
    assert write(kv, "/".join("s" * 33), {"a": 1})[:2] == (400, {"errors": ["path has 33 segments, above the limit of 32"]})
    assert write(kv, "k" * 1024, {"a": 1})[0] == 200  # at the limit: fine, and LMDB takes the long key
    assert kv.root("GET", "/v1/secret/data/" + "k" * 1024)[1]["data"]["data"] == {"a": 1}
    status, body, _ = write(kv, "big", {"v": "x" * (1024 * 1024)})
    assert status == 400 and body == {"errors": ["secret data is 1048584 bytes encoded, above the limit of 1048576"]}
    write(kv, "grow", {"v": "x" * 1000})
    status, body, _ = patch(kv, "data/grow", {"data": {"w": "y" * (1024 * 1024)}})
    assert status == 400 and body["errors"][0].startswith("secret data is ")


def test_exists_tells_create_from_update(kv):
    from server.request import Request

    def probe(path):
        return engine(kv).exists(Request("update", "secret/" + path, {}, {}, relative_path=path))

    assert probe("data/e") is False and probe("metadata/e") is False
    write(kv, "e", {"a": 1})
    assert probe("data/e") is True and probe("metadata/e") is True
    assert probe("delete/e") is None and probe("config") is None and probe("data/" + "k" * 2000) is None
