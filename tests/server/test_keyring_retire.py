"""sys/keyring and sys/keyring/retire over HTTP: term states, the retirement driven by the
server's own ticks, exact error bodies, and the OpenBao CLI."""

from __future__ import annotations

import json
import struct
import time

import pytest

from seal.barrier import RESERVED_PATHS
from seal.retire import walk_keys

DENIED = (403, {"errors": ["permission denied"]})
TIME = str  # RFC 3339 strings


def make_terms(server) -> None:
    """A kv mount with entries under terms 1 and 2; term 3 active."""
    assert server.root("POST", "/v1/sys/mounts/kv1", {"type": "kv"})[0] == 204
    for term in (1, 2):
        for i in range(4):
            assert server.root("PUT", f"/v1/kv1/t{term}-{i}", {"v": f"{term}-{i}"})[0] == 204
        assert server.root("PUT", "/v1/sys/rotate")[0] == 204


def storage_path(server, suffix: str) -> str:
    return next(k for k in walk_keys(server.core.backend) if k.endswith(suffix))


def raw_terms(server) -> set[int]:
    backend = server.core.backend
    return {struct.unpack(">I", backend.get(k)[:4])[0] for k in walk_keys(backend) if k not in RESERVED_PATHS}


def keyring(server) -> dict:
    status, body, _ = server.root("GET", "/v1/sys/keyring")
    assert status == 200, body
    return body["data"]


def test_retire_then_the_servers_ticks_destroy_the_term(server):
    make_terms(server)
    saved_path = storage_path(server, "/t1-0")
    saved = server.core.backend.get(saved_path)
    assert 1 in raw_terms(server)

    status, body, _ = server.root("PUT", "/v1/sys/keyring/retire", {"term": 1})
    assert status == 200, body
    data = body["data"]
    assert data["retirement"]["remaining"] == data["entries"] > 4  # kv entries, mount table, tokens
    assert data == {
        "term": 1, "state": "retired-pending", "install_time": data["install_time"],
        "encryptions": data["encryptions"], "entries": data["entries"], "destroy_time": None,
        "retirement": {"requested": data["retirement"]["requested"], "started": None, "pass": 1,
                       "last_key": None, "reencrypted": 0, "remaining": data["entries"], "unreadable": 0},
    }
    assert isinstance(data["install_time"], TIME) and isinstance(data["encryptions"], int)

    deadline = time.monotonic() + 15
    while keyring(server)["terms"][0]["state"] != "destroyed":  # the server's own ticks do it
        assert time.monotonic() < deadline, keyring(server)
        time.sleep(0.2)

    listing = keyring(server)
    assert listing["active_term"] == 3 and listing["entries_complete"] is True
    assert isinstance(listing["entries_counted_at"], TIME)
    first, second, third = listing["terms"]
    assert first["state"] == "destroyed" and first["entries"] == 0 and first["retirement"] is None
    assert isinstance(first["destroy_time"], TIME)
    assert (second["state"], second["entries"], second["destroy_time"]) == ("inactive", 4, None)
    assert third["state"] == "active" and third["entries"] >= data["entries"]
    assert raw_terms(server) == {2, 3}

    for i in range(4):
        status, body, _ = server.root("GET", f"/v1/kv1/t1-{i}")
        assert (status, body["data"]) == (200, {"v": f"1-{i}"})
    status, body, _ = server.root("GET", "/v1/sys/key-status")
    assert body["data"] == {"term": 3, "install_time": body["install_time"], "encryptions": body["encryptions"]}

    server.core.backend.put(saved_path, saved)
    assert server.root("GET", "/v1/kv1/t1-0")[:2] == (500, {"errors": ["stored data failed its integrity check"]})
    assert server.root("PUT", "/v1/sys/keyring/retire", {"term": 1})[:2] == (
        400, {"errors": ["keyring term 1 is already destroyed"]})


@pytest.mark.parametrize("body, message", [
    ({"term": 3}, "keyring term 3 is the active term; rotate before retiring it"),
    ({"term": 99}, "keyring term 99 does not exist"),
    ({"term": 0}, "keyring term 0 does not exist"),
    ({}, "missing required field 'term'"),
    ({"term": "one"}, "failed to decode JSON input: term must be an integer"),
    ({"term": True}, "failed to decode JSON input: term must be an integer"),
    ({"term": 1.5}, "failed to decode JSON input: term must be an integer"),
    ({"term": "-1"}, "failed to decode JSON input: term must be an integer"),
])
def test_retire_refusals(server, body, message):
    server.root("PUT", "/v1/sys/rotate")
    server.root("PUT", "/v1/sys/rotate")
    assert server.root("PUT", "/v1/sys/keyring/retire", body)[:2] == (400, {"errors": [message]})
    assert [t["state"] for t in keyring(server)["terms"]] == ["inactive", "inactive", "active"]


def test_sudo_methods_and_seal(server):
    server.root("PUT", "/v1/sys/rotate")
    status, body, _ = server.root("POST", "/v1/auth/token/create", {"policies": ["default"]})
    plain = body["auth"]["client_token"]
    for method, path, payload in (("GET", "/v1/sys/keyring", None), ("PUT", "/v1/sys/keyring/retire", {"term": 1})):
        assert server.call(method, path, payload)[:2] == DENIED
        assert server.call(method, path, payload, token=plain)[:2] == DENIED
    assert server.root("GET", "/v1/sys/keyring/retire")[:2] == (405, {"errors": ["unsupported operation"]})
    assert server.root("PUT", "/v1/sys/keyring", {"term": 1})[:2] == (405, {"errors": ["unsupported operation"]})
    assert keyring(server)["terms"][0]["state"] == "inactive"

    assert server.root("PUT", "/v1/sys/seal")[0] == 204
    assert server.root("GET", "/v1/sys/keyring")[:2] == (503, {"errors": ["Vault is sealed"]})
    assert server.root("PUT", "/v1/sys/keyring/retire", {"term": 1})[:2] == (503, {"errors": ["Vault is sealed"]})


def test_the_openbao_cli_retires_a_term(server):
    make_terms(server)
    done = server.bao("write", "-format=json", "sys/keyring/retire", "term=2", token=server.root_token)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["data"]["state"] in ("retired-pending", "destroyed")
    server.core.retirement.run()
    shown = server.bao("read", "-format=json", "sys/keyring", token=server.root_token)
    assert shown.returncode == 0, shown.stderr
    states = {t["term"]: t["state"] for t in json.loads(shown.stdout)["data"]["terms"]}
    assert states == {1: "inactive", 2: "destroyed", 3: "active"}
    assert server.root("GET", "/v1/kv1/t2-3")[1]["data"] == {"v": "2-3"}
    assert 2 not in raw_terms(server)
