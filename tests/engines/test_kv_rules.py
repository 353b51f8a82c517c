"""The KV engine's pure rules: merge patch, Vault's version window, Go time and duration text,
path and size limits, field decoding and custom_metadata validation."""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.engines import kv_custom_metadata
from server.engines.kv_errors import (
    CustomMetadataError,
    KeyPathError,
    KeyPathTooDeepError,
    KeyPathTooLongError,
    ValueTooLargeError,
)
from server.engines.kv_fields import boolean, count, duration, integer, versions
from server.engines.kv_limits import KVLimits, decode
from server.engines.kv_merge import merge_patch
from server.engines.kv_model import EngineConfig, KeyMetadata, go_duration, go_time
from server.engines.kv_store import CONFIG_PATH, meta_key, version_key
from server.errors import BadRequestError

json_leaf = st.none() | st.booleans() | st.integers() | st.text(max_size=5)
json_value = st.recursive(json_leaf, lambda inner: st.lists(inner, max_size=3)
                          | st.dictionaries(st.text(max_size=3), inner, max_size=3), max_leaves=12)
json_object = st.dictionaries(st.text(max_size=3), json_value, max_size=4)


# -- RFC 7386 merge patch ----------------------------------------------------------------

@pytest.mark.parametrize("target, patch, result", [
    # RFC 7386 Appendix A, every row.
    ({"a": "b"}, {"a": "c"}, {"a": "c"}),
    ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
    ({"a": "b"}, {"a": None}, {}),
    ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
    ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
    ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
    ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
    ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
    (["a", "b"], ["c", "d"], ["c", "d"]),
    ({"a": "b"}, ["c"], ["c"]),
    ({"a": "foo"}, None, None),
    ({"a": "foo"}, "bar", "bar"),
    ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
    ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
    ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
])
def test_merge_patch_matches_rfc7386_appendix_a(target, patch, result):
    assert merge_patch(target, patch) == result


@settings(max_examples=60, deadline=None)
@given(json_object, json_object)
def test_merge_patch_is_idempotent_and_leaves_its_inputs_alone(target, patch):
    before = json.dumps([target, patch], sort_keys=True)
    once = merge_patch(target, patch)
    assert merge_patch(once, patch) == once
    assert json.dumps([target, patch], sort_keys=True) == before
    for name, value in patch.items():
        assert (name not in once) if value is None else name in once


@settings(max_examples=200, deadline=None)
@given(json_object)
def test_stored_data_decodes_as_json_loads_reads_it(data):
    encoded = KVLimits().encode(data)
    assert json.dumps(decode(encoded)) == json.dumps(json.loads(encoded))


@pytest.mark.parametrize("stored", [b'{"a":1} x', b'{"a":1}{', b"", b'{"a":', b" [1] ", rb'"\ud800"'])
def test_stored_data_that_encode_never_writes_decodes_or_fails_as_json_loads(stored):
    try:
        expected: object = json.loads(stored)
    except json.JSONDecodeError as exc:
        with pytest.raises(json.JSONDecodeError, match=exc.msg):
            decode(stored)
    else:
        assert decode(stored) == expected


# -- Vault's version window ---------------------------------------------------------------

@settings(max_examples=60, deadline=None)
@given(writes=st.integers(1, 40), limit=st.integers(1, 12))
def test_version_window_keeps_the_newest_and_reports_oldest_as_vault(writes, limit):
    meta = KeyMetadata(created=1, updated=1, max_versions=limit)
    dropped = []
    for n in range(writes):
        number, _, pruned = meta.add_version(100 + n, EngineConfig())
        assert number == n + 1
        dropped += pruned
    kept = list(range(max(1, writes - limit + 1), writes + 1))
    assert sorted(meta.versions) == kept
    assert sorted(dropped) == list(range(1, kept[0]))
    # Vault leaves oldest_version at 0 until the window first fills.
    assert meta.oldest_version == (0 if writes < limit else writes - limit + 1)


def test_key_max_versions_wins_over_the_mount_then_mount_then_ten():
    config = EngineConfig(max_versions=4)
    assert KeyMetadata(created=0, updated=0, max_versions=2).keep(config) == 2
    assert KeyMetadata(created=0, updated=0).keep(config) == 4
    assert KeyMetadata(created=0, updated=0).keep(EngineConfig()) == 10


def test_expiry_takes_the_shorter_period_unless_the_mount_disables_it():
    meta = KeyMetadata(created=0, updated=0, delete_version_after=60)
    assert meta.expiry(5, EngineConfig(delete_version_after=30)) == 5 + 30 * 10**9
    assert meta.expiry(5, EngineConfig()) == 5 + 60 * 10**9
    assert meta.expiry(5, EngineConfig(delete_version_after=-1)) is None
    assert KeyMetadata(created=0, updated=0).expiry(5, EngineConfig()) is None


def test_metadata_record_round_trips_through_msgpack_shapes():
    meta = KeyMetadata(created=1, updated=2, custom_metadata={"a": "b"})
    meta.add_version(3, EngineConfig())
    meta.versions[1].deletion = 9
    assert KeyMetadata.from_record(meta.to_record()) == meta
    assert all(isinstance(k, str) for k in meta.to_record()["versions"])


# -- Go's text forms ----------------------------------------------------------------------

@pytest.mark.parametrize("ns, text", [
    (None, ""),
    (0, "1970-01-01T00:00:00Z"),
    (1_764_377_020_581_059_807, "2025-11-29T00:43:40.581059807Z"),
    (1_764_377_020_500_000_000, "2025-11-29T00:43:40.5Z"),
    (1_764_377_020_000_000_100, "2025-11-29T00:43:40.0000001Z"),
])
def test_go_time_is_rfc3339nano_with_trailing_zeros_dropped(ns, text):
    assert go_time(ns) == text


@pytest.mark.parametrize("seconds, text", [(0, "0s"), (90, "1m30s"), (5400, "1h30m0s"), (-1, "-1s"), (7200, "2h0m0s")])
def test_go_duration(seconds, text):
    assert go_duration(seconds) == text


# -- paths and sizes ----------------------------------------------------------------------

def test_key_rules_refuse_each_bad_shape_with_its_own_error():
    limits = KVLimits(max_key_bytes=16, max_key_segments=3, max_value_bytes=20)
    assert limits.check_key("a/b/c") == "a/b/c"
    with pytest.raises(KeyPathError, match="^cannot write to a path ending in '/'$"):
        limits.check_key("a/")
    with pytest.raises(KeyPathError, match="^missing path$"):
        limits.check_key("")
    for bad in ("a//b", "a/./b", "../a", "a/.."):
        with pytest.raises(KeyPathError, match=r"^path contains '\.', '\.\.' or empty segments$"):
            limits.check_key(bad)
    with pytest.raises(KeyPathTooLongError, match="^path is 17 bytes, above the limit of 16$"):
        limits.check_key("x" * 17)
    with pytest.raises(KeyPathTooLongError, match="^path is 18 bytes"):
        limits.check_key("é" * 9)  # bytes, not characters
    with pytest.raises(KeyPathTooDeepError, match="^path has 4 segments, above the limit of 3$"):
        limits.check_key("a/b/c/d")
    assert limits.check_folder("") == "" and limits.check_folder("a/b") == "a/b/"
    assert len(limits.encode({"k": "x" * 12})) == 20
    with pytest.raises(ValueTooLargeError, match="^secret data is 21 bytes encoded, above the limit of 20$"):
        limits.encode({"k": "x" * 13})


segment = st.text(st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="/"), min_size=1, max_size=4)
secret_path = st.lists(segment, min_size=1, max_size=4).map("/".join)


@settings(max_examples=80, deadline=None)
@given(secret_path, secret_path, st.integers(1, 50), st.integers(1, 50))
def test_storage_keys_of_different_secrets_never_meet(a, b, m, n):
    keys_a = {meta_key(a), version_key(a, m)}
    keys_b = {meta_key(b), version_key(b, n)}
    assert CONFIG_PATH not in keys_a | keys_b
    assert meta_key(a) != version_key(b, n)
    if (a, m) != (b, n):
        assert version_key(a, m) != version_key(b, n)
    if a != b:
        assert not keys_a & keys_b


def test_version_keys_have_a_fixed_length_however_deep_the_path():
    assert version_key("a", 1) != version_key("a/1", 1)
    assert len(version_key("a/" * 400 + "b", 7)) == len(version_key("c", 7))


# -- fields as Vault's framework decodes them ---------------------------------------------

def test_weak_decoding_accepts_what_vault_accepts_and_refuses_the_rest():
    assert integer("7", "f") == 7 and integer(-3, "f") == -3
    assert boolean("true", "f") is True and boolean("F", "f") is False and boolean(0, "f") is False
    assert versions("2,1") == [2, 1] and versions(["1", 2]) == [1, 2] and versions(3) == [3]
    assert duration("1h30m", "f") == 5400 and duration(60, "f") == 60 and duration("-5s", "f", signed=True) == -5
    for call in (lambda: integer(1.5, "f"), lambda: integer(True, "f"), lambda: boolean("yes", "f"),
                 lambda: versions(["x"], "f"), lambda: count(-1, "f"), lambda: count(2**32, "f"),
                 lambda: duration(-5, "f"), lambda: duration("abc", "f")):
        with pytest.raises(BadRequestError, match='^error converting input for field "f": '):
            call()


def test_custom_metadata_errors_are_reported_together_in_vaults_format():
    assert kv_custom_metadata.decode({"n": 5, "b": True, "s": "x"}) == {"n": "5", "b": "1", "s": "x"}
    with pytest.raises(CustomMetadataError) as caught:
        kv_custom_metadata.validate({"": "x", "k": "v" * 513})
    assert str(caught.value) == (
        "2 errors occurred:\n"
        '\t* custom_metadata validation failed: length of key "" is 0 but must be 0 < len(key) <= 128\n'
        '\t* custom_metadata validation failed: length of value for key "k" is 513 but must be 0 < len(value) <= 512\n'
        "\n"
    )
    with pytest.raises(CustomMetadataError, match="payload must contain at most 64 keys, provided 65"):
        kv_custom_metadata.validate({str(i): "v" for i in range(65)})
    with pytest.raises(CustomMetadataError, match="value for key \"k\" contains unprintable characters"):
        kv_custom_metadata.validate({"k": "a\x07"})
