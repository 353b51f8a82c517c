"""sys/health and sys/leader: what load balancers, hvac and `bao status` ask, in every state.

OpenBao answers 200 active, 503 sealed, 501 uninitialised, each overridable by a query
parameter; it panics on override codes outside 100-999, where strongroom answers 400.
"""

from __future__ import annotations

import time
from datetime import datetime

import hvac
import pytest

from conftest import initialise, running_server

SEALED = {"errors": ["Vault is sealed"]}
HEALTH_KEYS = {"initialized", "sealed", "standby", "performance_standby", "replication_performance_mode",
               "replication_dr_mode", "server_time_utc", "version"}


def health(server, query: str = "", method: str = "GET", token: str | None = None):
    return server.call(method, "/v1/sys/health" + query, token=token)


def test_uninitialised_health_is_501(fresh_server):
    status, body, headers = health(fresh_server)
    assert status == 501
    assert set(body) == HEALTH_KEYS
    assert (body["initialized"], body["sealed"], body["standby"]) == (False, True, True)
    assert headers["Cache-Control"] == "no-store"
    assert health(fresh_server, method="HEAD")[:2] == (501, None)
    assert health(fresh_server, "?uninitcode=299")[0] == 299
    # Only the override for the current state counts.
    assert health(fresh_server, "?sealedcode=299&activecode=200")[0] == 501


def test_sealed_health_is_503_with_the_body(fresh_server):
    initialise(fresh_server, unseal=False)
    status, body, _ = health(fresh_server)
    assert status == 503
    assert (body["initialized"], body["sealed"], body["standby"]) == (True, True, True)
    assert "cluster_name" not in body and "cluster_id" not in body
    assert health(fresh_server, method="HEAD")[:2] == (503, None)
    assert health(fresh_server, "?sealedcode=200")[0] == 200


def test_active_health_is_200_and_names_the_cluster(server):
    status, body, headers = health(server)
    assert status == 200
    assert set(body) == HEALTH_KEYS | {"cluster_name", "cluster_id"}
    assert (body["initialized"], body["sealed"], body["standby"], body["performance_standby"]) == (
        True, False, False, False)
    assert body["cluster_name"] == server.core.cluster.name
    assert abs(body["server_time_utc"] - time.time()) < 5 and isinstance(body["server_time_utc"], int)
    assert headers["Content-Type"] == "application/json" and headers["Cache-Control"] == "no-store"
    # Unauthenticated, and a bad token changes nothing.
    assert health(server, token="s.bogus")[0] == 200
    head_status, head_body, head_headers = health(server, method="HEAD")
    assert (head_status, head_body, head_headers["Cache-Control"]) == (200, None, "no-store")


@pytest.mark.parametrize("query, expected", [
    ("?activecode=204", 204),
    ("?activecode=299", 299),
    ("?activecode=599", 599),
    ("?standbycode=200&sealedcode=500&uninitcode=500&drsecondarycode=500&performancestandbycode=500", 200),
    ("?standbyok=true", 200),
    ("?perfstandbyok=false&standbyok=1", 200),
])
def test_active_health_overrides(server, query, expected):
    status, body, _ = health(server, query)
    assert status == expected
    assert body is None if expected == 204 else body["sealed"] is False


@pytest.mark.parametrize("query, message", [
    ("?activecode=abc", "activecode must be an integer"),
    ("?sealedcode=", "sealedcode must be an integer"),
    ("?activecode=1000", "activecode must be an HTTP status code from 200 to 599"),
    ("?activecode=0", "activecode must be an HTTP status code from 200 to 599"),
    ("?activecode=-1", "activecode must be an HTTP status code from 200 to 599"),
    ("?activecode=100", "activecode must be an HTTP status code from 200 to 599"),
    ("?uninitcode=99999999999999999999", "uninitcode must be an HTTP status code from 200 to 599"),
    ("?standbyok=abc", "standbyok must be a boolean"),
])
def test_bad_health_overrides_are_400_not_a_crash(server, query, message):
    # OpenBao's net/http panics and drops the connection for codes outside 100-999.
    assert health(server, query)[:2] == (400, {"errors": [message]})
    assert health(server)[0] == 200


def test_hvac_reads_health_in_each_state(fresh_server):
    client = hvac.Client(url=fresh_server.url, token="")
    assert client.sys.read_health_status(method="HEAD").status_code == 501
    initialise(fresh_server, unseal=False)
    sealed = client.sys.read_health_status(method="GET")
    assert sealed.status_code == 503 and sealed.json()["sealed"] is True
    for key in fresh_server.keys[:3]:
        client.sys.submit_unseal_key(key)
    active = client.sys.read_health_status(method="GET")
    assert active["sealed"] is False and active["initialized"] is True
    assert client.sys.read_health_status(method="GET", active_code=299).status_code == 299


def test_leader_is_the_sealed_error_until_unsealed(fresh_server):
    assert fresh_server.call("GET", "/v1/sys/leader")[:2] == (503, SEALED)
    initialise(fresh_server, unseal=False)
    # `bao status` reads sys/leader even while sealed and accepts only this exact error.
    assert fresh_server.call("GET", "/v1/sys/leader")[:2] == (503, SEALED)
    before = time.time()
    for key in fresh_server.keys[:3]:
        fresh_server.call("PUT", "/v1/sys/unseal", {"key": key})

    client = hvac.Client(url=fresh_server.url, token="")
    leader = client.sys.read_leader_status()
    assert set(leader) == {"ha_enabled", "is_self", "active_time", "leader_address", "leader_cluster_address",
                           "performance_standby", "performance_standby_last_remote_wal"}
    assert (leader["ha_enabled"], leader["is_self"], leader["performance_standby"]) == (False, False, False)
    active = datetime.fromisoformat(leader["active_time"].replace("Z", "+00:00")).timestamp()
    assert before - 1 <= active <= time.time() + 1
    assert leader["active_time"].endswith("Z")


def test_leader_address_is_the_configured_api_addr(tmp_path):
    with running_server(tmp_path / "data", api_addr="https://vault.example:8200") as server:
        initialise(server)
        assert server.call("GET", "/v1/sys/leader")[1]["leader_address"] == "https://vault.example:8200"


def test_leader_forgets_the_active_time_when_sealed(server):
    server.root("PUT", "/v1/sys/seal")
    assert server.call("GET", "/v1/sys/leader")[:2] == (503, SEALED)
    for key in server.keys[:3]:
        server.call("PUT", "/v1/sys/unseal", {"key": key})
    assert server.call("GET", "/v1/sys/leader")[0] == 200
