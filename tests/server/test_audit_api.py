"""sys/audit, sys/audit/:path and sys/audit-hash/:path as Vault/OpenBao answer them, and the
CVE-2025-6000 / CVE-2025-54997 rules: no API creation unless the config says so, and even
then no executable file, no symlink, no device that cannot write."""

from __future__ import annotations

import json
import os
import stat

import hvac
import pytest

from conftest import free_port, initialise, running_server
from test_audit_support import audited_server, device_hash, entries, file_device

REFUSED = ("cannot enable audit device via API; use declarative, config-based audit device management "
           "instead")
DEVICE_FIELDS = {"type", "description", "options", "local", "path"}


@pytest.fixture
def open_api(tmp_path):
    """A server that allows API creation (unsafe_allow_api_audit_creation = true)."""
    with running_server(tmp_path / "data", unsafe_allow_api_audit_creation=True) as server:
        yield initialise(server)


def test_api_creation_is_refused_by_default_with_openbaos_message(tmp_path):
    target = tmp_path / "api.log"
    with audited_server(tmp_path) as (server, log):
        status, body, _ = server.root("PUT", "/v1/sys/audit/api", {"type": "file",
                                                                    "options": {"file_path": str(target)}})
        assert (status, body) == (400, {"errors": [REFUSED]})
        client = hvac.Client(url=server.url, token=server.root_token)
        with pytest.raises(hvac.exceptions.InvalidRequest, match="cannot enable audit device via API"):
            client.sys.enable_audit_device("file", path="api2", options={"file_path": str(target)})
        assert list(client.sys.list_enabled_audit_devices()["data"]) == ["main/"]
    assert not target.exists()
    refused = [e for e in entries(log) if e["request"]["path"] == "sys/audit/api" and e["type"] == "response"]
    assert refused[0]["response"]["status"] == 400 and refused[0]["error"] == REFUSED


@pytest.mark.parametrize("mode", ["0755", "0700", "0711", "0644", "0710", "4600"])
def test_executable_or_special_modes_are_refused(open_api, tmp_path, mode):
    target = tmp_path / f"m{mode}.log"
    status, body, _ = open_api.root("PUT", "/v1/sys/audit/m", {"type": "file", "options": {
        "file_path": str(target), "mode": mode}})
    if mode == "0644":
        assert status == 204, body
        open_api.root("GET", "/v1/sys/mounts")
        assert stat.S_IMODE(target.stat().st_mode) == 0o644
    else:
        assert status == 400 and body["errors"][0], body
        assert not target.exists()


def test_symlinks_directories_and_missing_parents_are_refused(open_api, tmp_path):
    real = tmp_path / "real.log"
    real.write_bytes(b"")
    link, dangling = tmp_path / "link.log", tmp_path / "dangling.log"
    link.symlink_to(real)
    dangling.symlink_to(tmp_path / "nowhere.log")
    for path in (link, dangling, tmp_path, tmp_path / "no-such-dir" / "a.log"):
        status, body, _ = open_api.root("PUT", "/v1/sys/audit/bad", {"type": "file",
                                                                      "options": {"file_path": str(path)}})
        assert status == 400, (path, body)
    assert not (tmp_path / "nowhere.log").exists() and real.read_bytes() == b""
    assert open_api.root("GET", "/v1/sys/audit")[1]["data"] == {}


def test_a_socket_device_that_cannot_connect_is_refused(open_api):
    status, body, _ = open_api.root("PUT", "/v1/sys/audit/net", {"type": "socket", "options": {
        "address": f"127.0.0.1:{free_port()}", "write_timeout": "1s"}})
    assert status == 400 and body["errors"][0].startswith("audit backend failed test message")
    for options in ({"address": "127.0.0.1:1", "socket_type": "udp"}, {"address": ""},
                    {"address": "127.0.0.1:1", "write_timeout": "soon"}):
        status, body, _ = open_api.root("PUT", "/v1/sys/audit/net", {"type": "socket", "options": options})
        assert status == 400, options
    assert open_api.root("PUT", "/v1/sys/audit/x", {"type": "syslog"})[0] == 400
    assert open_api.root("PUT", "/v1/sys/audit/x", {"options": {}})[0] == 400


def test_hvac_enables_lists_hashes_and_disables_a_device(open_api, tmp_path):
    target = tmp_path / "hvac.log"
    client = hvac.Client(url=open_api.url, token=open_api.root_token)
    client.sys.enable_audit_device("file", path="hv", description="from hvac",
                                   options={"file_path": str(target)})
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    listed = client.sys.list_enabled_audit_devices()
    expected = {"type": "file", "description": "from hvac", "options": {"file_path": str(target)},
                "local": False, "path": "hv/"}
    assert listed["data"] == {"hv/": expected}
    assert listed["hv/"] == expected  # Vault repeats the map at the top level for old clients
    assert set(expected) == DEVICE_FIELDS
    hashed = client.sys.calculate_hash("hv", "some value")["data"]["hash"]
    assert hashed == device_hash(open_api, "some value", "hv/")

    status, body, _ = open_api.root("PUT", "/v1/sys/audit/hv", {"type": "file",
                                                                 "options": {"file_path": str(target)}})
    assert (status, body) == (400, {"errors": ["path already in use"]})
    client.sys.disable_audit_device("hv")
    assert client.sys.list_enabled_audit_devices()["data"] == {}
    assert open_api.root("DELETE", "/v1/sys/audit/never-enabled")[0] == 204  # as OpenBao
    status, body, _ = open_api.root("PUT", "/v1/sys/audit-hash/hv", {"input": "x"})
    assert (status, body) == (400, {"errors": ['unknown audit backend "hv/"']})
    lines = [(e["type"], e["request"]["operation"], e["request"]["path"]) for e in entries(target)]
    # A device sees the answer to its own enabling and the request that disabled it.
    assert lines[0] == ("response", "update", "sys/audit/hv")
    assert lines[-1] == ("request", "delete", "sys/audit/hv")


def test_api_devices_survive_seal_and_config_devices_cannot_be_disabled(tmp_path):
    api_log = tmp_path / "api.log"
    with audited_server(tmp_path, unsafe_allow_api_audit_creation=True) as (server, _):
        assert server.root("PUT", "/v1/sys/audit/api", {"type": "file",
                                                         "options": {"file_path": str(api_log)}})[0] == 204
        status, body, _ = server.root("DELETE", "/v1/sys/audit/main")
        assert status == 400 and "declared in the server config" in body["errors"][0]
        before = device_hash(server, "v", "api/")
        server.root("PUT", "/v1/sys/seal")
        for key in server.keys[:3]:
            server.call("PUT", "/v1/sys/unseal", {"key": key})
        assert sorted(server.root("GET", "/v1/sys/audit")[1]["data"]) == ["api/", "main/"]
        assert device_hash(server, "v", "api/") == before  # the salt is kept in the barrier
    assert "sys/seal" in [e["request"]["path"] for e in entries(api_log)]
    assert entries(api_log)[-1]["request"]["path"] == "sys/audit"


def test_managing_devices_needs_sudo(tmp_path):
    with audited_server(tmp_path, unsafe_allow_api_audit_creation=True) as (server, _):
        policy = 'path "sys/audit*" { capabilities = ["create", "read", "update", "delete", "list"] }'
        server.root("PUT", "/v1/sys/policy/auditor", {"policy": policy})
        token = server.root("POST", "/v1/auth/token/create", {"policies": ["auditor"]})[1]["auth"]["client_token"]
        assert server.call("GET", "/v1/sys/audit", token=token)[0] == 403
        assert server.call("DELETE", "/v1/sys/audit/main", token=token)[0] == 403
        assert server.call("PUT", "/v1/sys/audit/x", {"type": "file", "options": {
            "file_path": str(tmp_path / "x.log")}}, token=token)[0] == 403
        assert server.call("PUT", "/v1/sys/audit-hash/main", {"input": "v"}, token=token)[0] == 200


def test_the_declared_file_is_created_0600_and_an_existing_file_loses_exec_bits(tmp_path):
    log = tmp_path / "audit.log"
    log.write_bytes(b"")
    os.chmod(log, 0o755)
    with audited_server(tmp_path, audit=file_device(log, mode="0640")):
        pass
    assert stat.S_IMODE(log.stat().st_mode) == 0o640


def test_the_bao_cli_lists_hashes_and_is_refused(tmp_path):
    with audited_server(tmp_path) as (server, log):
        listed = server.bao("audit", "list", "-format=json", token=server.root_token)
        assert listed.returncode == 0, listed.stderr
        assert json.loads(listed.stdout) == {"main/": {"type": "file", "description": "", "local": False,
                                                       "options": {"file_path": str(log)}, "path": "main/"}}
        refused = server.bao("audit", "enable", "file", f"file_path={tmp_path / 'b.log'}", token=server.root_token)
        assert refused.returncode != 0 and REFUSED in refused.stderr
        hashed = server.bao("write", "-format=json", "sys/audit-hash/main", "input=abc", token=server.root_token)
        assert json.loads(hashed.stdout)["data"]["hash"] == device_hash(server, "abc")
    assert not (tmp_path / "b.log").exists()
