"""sys/mounts (enable, list, read, tune, disable) and sys/internal/ui/mounts, with hvac and
over HTTP, against OpenBao 2.7.2's recorded shapes and error strings."""

from __future__ import annotations

import hvac
import pytest

from conftest import initialise, running_server

DEFAULT_TTL = 2764800  # 768h, Vault's system default
MOUNT_KEYS = {"accessor", "config", "description", "external_entropy_access", "local", "options",
              "plugin_version", "running_plugin_version", "running_sha256", "seal_wrap", "type", "uuid",
              "deprecation_status"}


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    """One server for the refusals: each checks the mount table did not change."""
    with running_server(tmp_path_factory.mktemp("shared") / "data") as srv:
        initialise(srv)
        srv.root("POST", "/v1/sys/mounts/kv2", {"type": "kv", "options": {"version": "2"}, "description": "d"})
        yield srv


@pytest.fixture
def client(server):
    return hvac.Client(url=server.url, token=server.root_token)


def mounts(server) -> dict:
    status, body, _ = server.root("GET", "/v1/sys/mounts")
    assert status == 200
    # Old clients read the top level, new ones `data`: OpenBao sends both.
    assert {k: body[k] for k in body["data"]} == body["data"]
    return body["data"]


def test_hvac_enable_list_and_disable(server, client):
    assert client.sys.enable_secrets_engine("kv", path="kv1").status_code == 204
    client.sys.enable_secrets_engine("kv", path="kv2", options={"version": "2"}, description="two")
    client.sys.enable_secrets_engine("transit")
    client.sys.enable_secrets_engine("kv-v2", path="alias", config={"default_lease_ttl": "1h", "max_lease_ttl": 7200})

    listed = client.sys.list_mounted_secrets_engines()["data"]
    assert {"kv1/", "kv2/", "transit/", "alias/", "sys/"} <= set(listed)
    assert set(listed["kv2/"]) == MOUNT_KEYS
    assert (listed["kv1/"]["type"], listed["kv1/"]["options"]) == ("kv", None)
    assert (listed["kv2/"]["type"], listed["kv2/"]["options"], listed["kv2/"]["description"]) == (
        "kv", {"version": "2"}, "two")
    # kv-v2 is stored and shown as kv with options.version 2, as OpenBao does.
    assert (listed["alias/"]["type"], listed["alias/"]["options"]) == ("kv", {"version": "2"})
    assert listed["alias/"]["config"] == {"default_lease_ttl": 3600, "force_no_cache": False, "max_lease_ttl": 7200}
    assert listed["transit/"]["accessor"].startswith("transit_")
    assert listed["sys/"]["type"] == "system" and listed["sys/"]["seal_wrap"] is True
    assert "deprecation_status" not in listed["sys/"]
    assert len({m["uuid"] for m in listed.values()}) == len(listed)

    assert client.sys.disable_secrets_engine("kv1").status_code == 204
    assert "kv1/" not in mounts(server)
    # Disabling what is not mounted is not an error (OpenBao answers 204 too).
    assert client.sys.disable_secrets_engine("kv1").status_code == 204


def test_hvac_read_and_tune_mount_configuration(server, client):
    client.sys.enable_secrets_engine("kv", path="kv2", options={"version": 2})
    assert mounts(server)["kv2/"]["options"] == {"version": "2"}  # an integer version, as the string
    tuned = client.sys.read_mount_configuration("kv2")
    assert tuned["data"] == {"default_lease_ttl": DEFAULT_TTL, "max_lease_ttl": DEFAULT_TTL,
                             "force_no_cache": False, "description": "", "options": {"version": "2"}}

    assert client.sys.tune_mount_configuration("kv2", default_lease_ttl="1h", description="tuned").status_code == 204
    after = client.sys.read_mount_configuration("kv2")["data"]
    assert (after["default_lease_ttl"], after["max_lease_ttl"], after["description"]) == (3600, DEFAULT_TTL, "tuned")
    client.sys.tune_mount_configuration("kv2", default_lease_ttl=60, max_lease_ttl="2h")
    assert mounts(server)["kv2/"]["config"] == {"default_lease_ttl": 60, "force_no_cache": False, "max_lease_ttl": 7200}
    # The CLI sends "" for a value it leaves alone.
    server.root("POST", "/v1/sys/mounts/kv2/tune", {"default_lease_ttl": "", "max_lease_ttl": ""})
    assert mounts(server)["kv2/"]["config"]["max_lease_ttl"] == 7200

    with pytest.raises(hvac.exceptions.InvalidRequest) as refused:
        client.sys.tune_mount_configuration("kv2", default_lease_ttl="48h", max_lease_ttl="24h")
    assert refused.value.errors == [
        "backend max lease TTL of 86400 would be less than backend default lease TTL of 172800"]


def test_hvac_errors_for_a_missing_mount(client):
    with pytest.raises(hvac.exceptions.InvalidRequest) as read:
        client.sys.read_mount_configuration("nope")
    assert read.value.errors == ['cannot fetch sysview for path "nope/"']
    with pytest.raises(hvac.exceptions.InvalidRequest) as tune:
        client.sys.tune_mount_configuration("nope", description="x")
    assert tune.value.errors == ['tune of path "nope/" failed: no mount entry found']


def test_read_a_single_mount(server):
    server.root("POST", "/v1/sys/mounts/kv2", {"type": "kv", "options": {"version": "2"}})
    status, body, _ = server.root("GET", "/v1/sys/mounts/kv2")
    assert status == 200 and body["data"]["type"] == "kv" and body["type"] == "kv"
    assert server.root("GET", "/v1/sys/mounts/kv2/")[1]["data"] == body["data"]
    assert server.root("GET", "/v1/sys/mounts/nope")[:2] == (400, {"errors": ["No secret engine mount at nope/"]})


@pytest.mark.parametrize("path, body, message", [
    ("kv2", {"type": "kv"}, "path is already in use at kv2/"),
    ("kv2/sub", {"type": "kv"}, "path is already in use at kv2/"),
    ("zzz", {"type": "doesnotexist"}, "plugin not found in the catalog: doesnotexist"),
    ("zzz", {}, "backend type must be specified as a string"),
    ("zzz", {"type": 5}, "backend type must be specified as a string"),
    ("sys", {"type": "kv"}, 'cannot mount "sys/"'),
    ("sys/foo", {"type": "kv"}, 'cannot mount "sys/foo/"'),
    ("cubbyhole", {"type": "kv"}, 'cannot mount "cubbyhole/"'),
    ("identity", {"type": "kv"}, 'cannot mount "identity/"'),
    ("auth/foo", {"type": "kv"}, 'cannot mount "auth/foo/"'),
    ("sys/", {"type": "kv"}, "cannot write to a path ending in '/'"),
    ("x", {"type": "system"}, 'mount type of "system" is not mountable'),
    ("y", {"type": "kv", "options": {"version": "3"}}, "unsupported kv version '3': use 1 or 2"),
    ("y", {"type": "kv", "options": ["version", "2"]}, "options must be an object"),
    ("y", {"type": "kv", "options": {"version": {"a": 1}}}, "options.version must be a string"),
    ("y", {"type": "kv", "options": {"version": True}}, "options.version must be a string"),
    ("y", {"type": "kv", "config": []}, "config must be an object"),
    ("y", {"type": "kv", "config": "x"}, "config must be an object"),
    ("y", {"type": "kv", "config": {"default_lease_ttl": "banana"}},
     "unable to parse default lease TTL: invalid duration 'banana'"),
    ("y", {"type": "kv", "config": {"max_lease_ttl": 1.5}},
     "max lease TTL must be a duration string or an integer number of seconds"),
    ("y", {"type": "kv", "config": {"force_no_cache": "false"}}, "force_no_cache must be a boolean"),
    ("y", {"type": "kv", "description": 5}, "failed to decode JSON input: description must be a string"),
    ("y", {"type": "kv", "local": "yes"}, "failed to decode JSON input: local must be a boolean"),
])
def test_enable_refuses_with_openbaos_messages(shared, path, body, message):
    before = mounts(shared)
    assert shared.root("POST", f"/v1/sys/mounts/{path}", body)[:2] == (400, {"errors": [message]})
    assert mounts(shared) == before


@pytest.mark.parametrize("body, message", [
    ({"default_lease_ttl": "banana"}, "unable to parse default lease TTL: invalid duration 'banana'"),
    ({"default_lease_ttl": -5}, "unable to parse default lease TTL: invalid duration -5"),
    ({"max_lease_ttl": True}, "max lease TTL must be a duration string or an integer number of seconds"),
    ({"options": {"version": "1"}}, "cannot downgrade mount from version 2"),
    ({"options": {"version": "7"}}, "unsupported kv version '7': use 1 or 2"),
    ({"description": 5}, "description must be a string"),
    ({"force_no_cache": "true"}, "force_no_cache must be a boolean"),
])
def test_tune_refuses_bad_values_and_changes_nothing(shared, body, message):
    before = mounts(shared)["kv2/"]
    assert shared.root("POST", "/v1/sys/mounts/kv2/tune", body)[:2] == (400, {"errors": [message]})
    assert mounts(shared)["kv2/"] == before


def test_mount_paths_are_case_sensitive_and_siblings_may_share_a_prefix(server):
    for path in ("kv", "KV", "k", "kvx"):
        assert server.root("POST", f"/v1/sys/mounts/{path}", {"type": "kv"})[:2] == (204, None), path
    assert {"kv/", "KV/", "k/", "kvx/"} <= set(mounts(server))
    server.root("DELETE", "/v1/sys/mounts/KV")
    assert "kv/" in mounts(server) and "KV/" not in mounts(server)


def test_system_mounts_cannot_be_disabled(server):
    for path in ("sys", "cubbyhole"):
        assert server.root("DELETE", f"/v1/sys/mounts/{path}")[:2] == (400, {"errors": [f'cannot unmount "{path}/"']})
    assert {"sys/", "cubbyhole/"} <= set(mounts(server))


def test_disable_removes_the_mounts_data(server):
    server.root("POST", "/v1/sys/mounts/doomed", {"type": "kv"})
    entry = server.core.mounts.get("doomed/")
    view = server.core.seal.barrier.view(entry.storage_prefix)
    view.put("a/b", {"secret": "x"})
    view.put("c", "y")
    assert sorted(view.list("")) == ["a/", "c"]
    assert server.root("DELETE", "/v1/sys/mounts/doomed/")[:2] == (204, None)
    assert server.core.seal.barrier.list(entry.storage_prefix) == []
    # A new mount at the same path starts empty, under a new prefix.
    server.root("POST", "/v1/sys/mounts/doomed", {"type": "kv"})
    assert server.core.mounts.get("doomed/").uuid != entry.uuid


def test_changing_mounts_needs_sudo(server):
    denied = (403, {"errors": ["permission denied"]})
    status, body, _ = server.root("POST", "/v1/auth/token/create", {"policies": ["default"]})
    plain = body["auth"]["client_token"]
    for token in (None, "s.bogus", plain):
        assert server.call("POST", "/v1/sys/mounts/kv9", {"type": "kv"}, token=token)[:2] == denied
        assert server.call("DELETE", "/v1/sys/mounts/sys", token=token)[:2] == denied
        assert server.call("POST", "/v1/sys/mounts/sys/tune", {"description": "x"}, token=token)[:2] == denied
    assert server.call("GET", "/v1/sys/mounts")[:2] == denied
    assert "kv9/" not in mounts(server)


def test_enable_takes_the_cli_body(server):
    cli_body = {"type": "kv-v2", "description": "", "config": {"options": None, "default_lease_ttl": "0s",
                "max_lease_ttl": "0s", "force_no_cache": False}, "local": False, "seal_wrap": False,
                "external_entropy_access": False, "options": None}
    assert server.root("POST", "/v1/sys/mounts/cli", cli_body)[:2] == (204, None)
    entry = mounts(server)["cli/"]
    assert (entry["type"], entry["options"], entry["config"]["default_lease_ttl"]) == ("kv", {"version": "2"}, 0)


# -- sys/internal/ui/mounts -----------------------------------------------------------


def test_ui_mounts_listing(server):
    server.root("POST", "/v1/sys/mounts/kv2", {"type": "kv", "options": {"version": "2"}})
    status, body, _ = server.call("GET", "/v1/sys/internal/ui/mounts")
    assert status == 200 and body["data"] == {"auth": {}, "secret": {}}  # anonymous: nothing
    assert server.call("GET", "/v1/sys/internal/ui/mounts", token="s.bogus")[:2] == (
        403, {"errors": ["permission denied"]})
    listed = server.root("GET", "/v1/sys/internal/ui/mounts")[1]["data"]
    assert listed["secret"]["kv2/"]["options"] == {"version": "2"}
    assert listed["auth"]["token/"]["type"] == "token"


@pytest.mark.parametrize("path", ["kv2", "kv2/", "kv2/some/deep/path"])
def test_ui_mount_resolves_any_path_to_its_mount(server, path):
    server.root("POST", "/v1/sys/mounts/kv2", {"type": "kv", "options": {"version": "2"}})
    status, body, _ = server.root("GET", f"/v1/sys/internal/ui/mounts/{path}")
    assert status == 200
    assert (body["data"]["path"], body["data"]["type"], body["data"]["options"]) == ("kv2/", "kv", {"version": "2"})


def test_ui_mount_refusals(server):
    assert server.call("GET", "/v1/sys/internal/ui/mounts/kv2")[:2] == (403, {"errors": ["permission denied"]})
    assert server.root("GET", "/v1/sys/internal/ui/mounts/nope")[:2] == (403, {"errors": [
        'preflight capability check returned 403, please ensure client\'s policies grant access to path "nope/"']})


def test_a_path_answered_once_follows_the_mount_table_as_it_changes(server):
    """Mount and route lookups are remembered per path: a change of table must show at once."""
    server.root("POST", "/v1/sys/mounts/a", {"type": "kv", "options": {"version": "2"}})
    server.root("POST", "/v1/sys/mounts/ab", {"type": "transit"})
    assert server.root("POST", "/v1/a/data/x", {"data": {"v": 1}})[0] == 200
    assert server.root("GET", "/v1/a/data/x")[1]["data"]["data"] == {"v": 1}
    assert server.root("POST", "/v1/ab/keys/k")[0] in (200, 204)
    assert server.root("POST", "/v1/a/b/keys/k")[0] == 404  # under kv a/: no such route
    assert server.root("DELETE", "/v1/sys/mounts/a")[0] == 204
    status, body, _ = server.root("GET", "/v1/a/data/x")
    assert status == 404 and "no handler for route" in body["errors"][0]
    server.root("POST", "/v1/sys/mounts/a/b", {"type": "transit"})
    assert server.root("POST", "/v1/a/b/keys/k")[0] in (200, 204)  # the same path, now a/b/'s
    assert server.root("DELETE", "/v1/sys/mounts/a/b")[0] == 204
    server.root("POST", "/v1/sys/mounts/a", {"type": "transit"})
    assert server.root("POST", "/v1/a/keys/k")[0] in (200, 204)  # the same path, a new engine
    status, body, _ = server.root("GET", "/v1/a/data/x")
    assert status == 404 and "unsupported path" in body["errors"][0]  # transit has no data/
    assert server.root("DELETE", "/v1/sys/mounts/ab")[0] == 204
    assert server.root("POST", "/v1/ab/keys/k")[0] == 404
