"""sys/rotate, sys/rotate/keyring and sys/key-status: new keyring terms for new writes,
old terms still decrypting, with hvac and over HTTP."""

from __future__ import annotations

import time
from datetime import datetime

import hvac
import pytest

from conftest import initialise, running_server

DENIED = (403, {"errors": ["permission denied"]})


def key_status(server) -> dict:
    status, body, _ = server.root("GET", "/v1/sys/key-status")
    assert status == 200, body
    return body


def test_hvac_rotate_adds_a_term(server):
    client = hvac.Client(url=server.url, token=server.root_token)
    first = client.sys.get_encryption_key_status()
    # The CLI reads the top-level copy, hvac users the envelope's data: both are there.
    assert first["data"] == {"term": 1, "install_time": first["install_time"], "encryptions": first["encryptions"]}
    assert first["term"] == 1 and isinstance(first["encryptions"], int)
    installed = datetime.fromisoformat(first["install_time"].replace("Z", "+00:00")).timestamp()
    assert abs(installed - time.time()) < 60

    before = time.time()
    assert client.sys.rotate_encryption_key().status_code == 204
    second = client.sys.get_encryption_key_status()["data"]
    assert second["term"] == 2 and second["encryptions"] == 0
    assert datetime.fromisoformat(second["install_time"].replace("Z", "+00:00")).timestamp() >= before - 1

    # The CLI's `operator rotate` posts to the keyring alias.
    assert server.root("POST", "/v1/sys/rotate/keyring")[:2] == (204, None)
    assert server.root("PUT", "/v1/sys/rotate")[:2] == (204, None)
    assert key_status(server)["term"] == 4


def test_new_writes_count_against_the_new_term(server):
    server.root("PUT", "/v1/sys/rotate")
    assert key_status(server)["encryptions"] == 0
    assert server.root("POST", "/v1/sys/mounts/counted", {"type": "kv"})[0] == 204
    assert key_status(server)["encryptions"] > 0


def test_rotate_and_key_status_need_a_token_and_rotate_needs_sudo(server):
    for method, path in (("PUT", "/v1/sys/rotate"), ("POST", "/v1/sys/rotate/keyring"), ("GET", "/v1/sys/key-status")):
        assert server.call(method, path)[:2] == DENIED
        assert server.call(method, path, token="s.bogus")[:2] == DENIED
    status, body, _ = server.root("POST", "/v1/auth/token/create", {"policies": ["default"]})
    plain = body["auth"]["client_token"]
    assert server.call("PUT", "/v1/sys/rotate", token=plain)[:2] == DENIED
    assert key_status(server)["term"] == 1


@pytest.mark.parametrize("method, path", [("GET", "/v1/sys/rotate"), ("GET", "/v1/sys/rotate/keyring"),
                                          ("DELETE", "/v1/sys/rotate"), ("PUT", "/v1/sys/key-status")])
def test_wrong_methods_on_the_key_endpoints(server, method, path):
    body = {} if method == "PUT" else None
    assert server.root(method, path, body)[:2] == (405, {"errors": ["unsupported operation"]})


def test_data_under_every_old_term_reads_after_a_restart(tmp_path):
    data = tmp_path / "data"
    with running_server(data) as first:
        initialise(first)
        for term in range(1, 4):
            assert first.root("POST", f"/v1/sys/mounts/term{term}", {"type": "kv", "description": f"t{term}"})[0] == 204
            first.root("PUT", "/v1/sys/rotate")
        keys, root_token = first.keys, first.root_token
        # White-box: the mount table sits in storage under the newest term, the keyring
        # holds them all.
        assert [t.number for t in first.core.seal.barrier._keyring.terms()] == [1, 2, 3, 4]

    with running_server(data) as second:
        for key in keys[:3]:
            second.call("PUT", "/v1/sys/unseal", {"key": key})
        status, body, _ = second.call("GET", "/v1/sys/key-status", token=root_token)
        assert status == 200 and body["term"] == 4
        mounts = second.call("GET", "/v1/sys/mounts", token=root_token)[1]["data"]
        assert {p: mounts[p]["description"] for p in ("term1/", "term2/", "term3/")} == {
            "term1/": "t1", "term2/": "t2", "term3/": "t3"}
        # The salt and root token were written under term 1 and still open.
        assert second.call("GET", "/v1/auth/token/lookup-self", token=root_token)[0] == 200
