"""The clients users run: hvac's kv.v2 / kv.v1 APIs and the `bao kv` commands, end to end."""

import json

import hvac
import pytest
from hvac import exceptions


@pytest.fixture
def kv(server):
    assert server.root("POST", "/v1/sys/mounts/secret", {"type": "kv", "options": {"version": "2"}})[0] == 204
    assert server.root("POST", "/v1/sys/mounts/kv1", {"type": "kv", "options": {"version": "1"}})[0] == 204
    return server


@pytest.fixture
def client(kv):
    return hvac.Client(url=kv.url, token=kv.root_token)


def bao(server, *args):
    """`bao <args> -format=json`'s parsed output, or the failed process."""
    done = server.bao(*args, token=server.root_token)
    return json.loads(done.stdout) if done.returncode == 0 and done.stdout.strip() else done


def test_hvac_kv_v2_lifecycle(client):
    v2 = client.secrets.kv.v2
    created = v2.create_or_update_secret("app/db", secret={"user": "alice"}, mount_point="secret")
    assert created["data"]["version"] == 1
    assert v2.create_or_update_secret("app/db", secret={"user": "bob"}, cas=1, mount_point="secret")["data"]["version"] == 2
    with pytest.raises(exceptions.InvalidRequest, match="check-and-set parameter did not match the current version"):
        v2.create_or_update_secret("app/db", secret={"user": "eve"}, cas=1, mount_point="secret")
    read = v2.read_secret_version("app/db", mount_point="secret", raise_on_deleted_version=True)
    assert read["data"]["data"] == {"user": "bob"} and read["data"]["metadata"]["version"] == 2
    assert v2.read_secret_version("app/db", version=1, mount_point="secret",
                                  raise_on_deleted_version=True)["data"]["data"] == {"user": "alice"}
    assert v2.patch("app/db", {"pw": "x"}, mount_point="secret")["data"]["version"] == 3
    assert v2.read_secret("app/db", mount_point="secret")["data"]["data"] == {"user": "bob", "pw": "x"}

    v2.delete_latest_version_of_secret("app/db", mount_point="secret")
    with pytest.raises(exceptions.InvalidPath):
        v2.read_secret_version("app/db", mount_point="secret", raise_on_deleted_version=True)
    deleted = v2.read_secret_version("app/db", mount_point="secret", raise_on_deleted_version=False)
    assert deleted["data"]["metadata"]["deletion_time"] != ""
    v2.undelete_secret_versions("app/db", versions=[3], mount_point="secret")
    v2.delete_secret_versions("app/db", versions=[1], mount_point="secret")
    v2.destroy_secret_versions("app/db", versions=[2], mount_point="secret")
    versions = v2.read_secret_metadata("app/db", mount_point="secret")["data"]["versions"]
    assert versions["1"]["deletion_time"] and versions["2"]["destroyed"] and not versions["3"]["deletion_time"]

    v2.update_metadata("app/db", max_versions=5, custom_metadata={"team": "payments"}, mount_point="secret")
    meta = v2.read_secret_metadata("app/db", mount_point="secret")["data"]
    assert meta["max_versions"] == 5 and meta["custom_metadata"] == {"team": "payments"}
    assert client.read("secret/subkeys/app/db")["data"]["subkeys"] == {"user": None, "pw": None}
    v2.configure(max_versions=20, cas_required=False, mount_point="secret")
    assert v2.read_configuration(mount_point="secret")["data"]["max_versions"] == 20
    v2.delete_metadata_and_all_versions("app/db", mount_point="secret")
    with pytest.raises(exceptions.InvalidPath):
        v2.read_secret_metadata("app/db", mount_point="secret")


def test_hvac_kv_v1(client):
    v1 = client.secrets.kv.v1
    v1.create_or_update_secret("svc/token", secret={"token": "t1", "ttl": "1h"}, mount_point="kv1")
    read = v1.read_secret("svc/token", mount_point="kv1")
    assert read["data"] == {"token": "t1", "ttl": "1h"} and read["lease_duration"] == 3600
    v1.create_or_update_secret("svc/token", secret={"token": "t2"}, mount_point="kv1")
    assert v1.read_secret("svc/token", mount_point="kv1")["data"] == {"token": "t2"}
    v1.delete_secret("svc/token", mount_point="kv1")
    with pytest.raises(exceptions.InvalidPath):
        v1.read_secret("svc/token", mount_point="kv1")


def test_hvac_lists_with_the_list_method(client):
    client.secrets.kv.v2.create_or_update_secret("a/b", secret={"k": 1}, mount_point="secret")
    assert client.secrets.kv.v2.list_secrets("", mount_point="secret")["data"]["keys"] == ["a/"]
    assert client.secrets.kv.v2.list_secrets("a", mount_point="secret")["data"]["keys"] == ["b"]
    client.secrets.kv.v1.create_or_update_secret("x/y", secret={"k": 1}, mount_point="kv1")
    assert client.secrets.kv.v1.list_secrets("x", mount_point="kv1")["data"]["keys"] == ["y"]
    with pytest.raises(exceptions.InvalidPath):
        client.secrets.kv.v2.list_secrets("nothere", mount_point="secret")


def test_bao_kv_commands(kv):
    written = bao(kv, "kv", "put", "-format=json", "-mount=secret", "app", "user=alice", "pw=one")
    assert written["data"]["version"] == 1, written
    got = bao(kv, "kv", "get", "-format=json", "-mount=secret", "app")
    assert got["data"]["data"] == {"user": "alice", "pw": "one"}
    patched = bao(kv, "kv", "patch", "-format=json", "-mount=secret", "-method=patch", "app", "pw=two")
    assert patched["data"]["version"] == 2, patched
    assert bao(kv, "kv", "get", "-format=json", "-mount=secret", "app")["data"]["data"] == {"user": "alice", "pw": "two"}
    assert bao(kv, "kv", "get", "-format=json", "-mount=secret", "-version=1", "app")["data"]["data"]["pw"] == "one"
    refused = kv.bao("kv", "put", "-mount=secret", "-cas=1", "app", "pw=three", token=kv.root_token)
    assert refused.returncode == 2 and "check-and-set parameter did not match the current version" in refused.stderr

    assert kv.bao("kv", "delete", "-mount=secret", "app", token=kv.root_token).returncode == 0
    deleted = bao(kv, "kv", "get", "-format=json", "-mount=secret", "app")  # as OpenBao: metadata, no data
    assert deleted["data"]["data"] is None and deleted["data"]["metadata"]["deletion_time"]
    missing = kv.bao("kv", "get", "-mount=secret", "nothere", token=kv.root_token)
    assert missing.returncode == 2 and "No value found at secret/data/nothere" in missing.stderr
    assert kv.bao("kv", "undelete", "-mount=secret", "-versions=2", "app", token=kv.root_token).returncode == 0
    assert bao(kv, "kv", "get", "-format=json", "-mount=secret", "app")["data"]["data"]["pw"] == "two"
    assert kv.bao("kv", "destroy", "-mount=secret", "-versions=1", "app", token=kv.root_token).returncode == 0

    put_meta = kv.bao("kv", "metadata", "put", "-mount=secret", "-max-versions=4", "-custom-metadata=team=ops", "app",
                      token=kv.root_token)
    assert put_meta.returncode == 0, put_meta.stderr
    meta = bao(kv, "kv", "metadata", "get", "-format=json", "-mount=secret", "app")["data"]
    assert meta["max_versions"] == 4 and meta["custom_metadata"] == {"team": "ops"}
    assert meta["versions"]["1"]["destroyed"] is True and meta["current_version"] == 2
    assert bao(kv, "kv", "list", "-format=json", "-mount=secret") == ["app"]
    assert kv.bao("kv", "metadata", "delete", "-mount=secret", "app", token=kv.root_token).returncode == 0
    assert kv.bao("kv", "metadata", "get", "-mount=secret", "app", token=kv.root_token).returncode == 2


def test_bao_kv_v1_commands(kv):
    assert kv.bao("kv", "put", "-mount=kv1", "svc", "token=abc", token=kv.root_token).returncode == 0
    assert bao(kv, "kv", "get", "-format=json", "-mount=kv1", "svc")["data"] == {"token": "abc"}
    assert bao(kv, "kv", "list", "-format=json", "kv1/") == ["svc"]
    assert kv.bao("kv", "delete", "-mount=kv1", "svc", token=kv.root_token).returncode == 0
    assert kv.bao("kv", "get", "-mount=kv1", "svc", token=kv.root_token).returncode == 2
