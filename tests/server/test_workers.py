"""Several worker processes on one port: one seal, one store, no stale answers.

Each test runs the real `strongroom server` with `workers = 2` and keeps one keep-alive
connection to each process (the X-Strongroom-Worker header says which answered), so that a
change made through one process can be checked through the other at once.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import hvac
import pytest

from conftest import free_port, subprocess_server

STRONGROOM = str(Path(sys.executable).parent / "strongroom")
PRIMARY, FOLLOWER = "0", "1"


def config(data: Path, port: int, extra: str = "") -> str:
    return f"""
storage "lmdb" {{ path = "{data}" }}
listener "tcp" {{
  address     = "127.0.0.1:{port}"
  tls_disable = true
}}
disable_mlock = true
log_level = "warn"
workers = 2
{extra}
"""


class Cluster:
    """One keep-alive connection to each worker process of a running server."""

    def __init__(self, proc: subprocess.Popen, port: int) -> None:
        self.proc, self.port = proc, port
        self.conns: dict[str, http.client.HTTPConnection] = {}
        self.root = ""
        self.keys: list[str] = []
        deadline = time.monotonic() + 30
        while len(self.conns) < 2:
            assert time.monotonic() < deadline, "did not reach both worker processes"
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            try:
                conn.request("GET", "/v1/sys/health")
                response = conn.getresponse()
                response.read()
            except OSError:
                conn.close()
                time.sleep(0.1)
                continue
            worker = response.getheader("X-Strongroom-Worker")
            if worker in self.conns:
                conn.close()
            else:
                self.conns[worker] = conn

    def call(self, worker: str, method: str, path: str, body: Any = None,
             token: str | None = None) -> tuple[int, Any]:
        headers = {"X-Vault-Token": token} if token else {}
        payload = json.dumps(body).encode() if body is not None else None
        conn = self.conns[worker]
        conn.request(method, path, body=payload, headers=headers)
        response = conn.getresponse()
        raw = response.read()
        assert response.getheader("X-Strongroom-Worker") == worker  # the same process answered
        return response.status, (json.loads(raw) if raw else None)

    def root_call(self, worker: str, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        return self.call(worker, method, path, body, token=self.root)

    def children(self) -> list[int]:
        with open(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children") as listing:
            return [int(pid) for pid in listing.read().split()]


@contextmanager
def start_cluster(tmp_path: Path, extra: str = "") -> Iterator[Cluster]:
    """Two worker processes, initialised with 3 shares (threshold 2), still sealed."""
    port = free_port()
    with subprocess_server(config(tmp_path / "data", port, extra), tmp_path, port) as proc:
        found = Cluster(proc, port)
        status, body = found.call(PRIMARY, "PUT", "/v1/sys/init", {"secret_shares": 3, "secret_threshold": 2})
        assert status == 200, body
        found.root, found.keys = body["root_token"], body["keys"]
        yield found


@pytest.fixture
def cluster(tmp_path) -> Iterator[Cluster]:
    with start_cluster(tmp_path) as found:
        yield found


def unseal(cluster: Cluster) -> None:
    for key in cluster.keys[:2]:
        cluster.call(PRIMARY, "PUT", "/v1/sys/unseal", {"key": key})


def test_shares_given_to_different_workers_add_up(cluster):
    status, body = cluster.call(PRIMARY, "PUT", "/v1/sys/unseal", {"key": cluster.keys[0]})
    assert (status, body["progress"], body["sealed"]) == (200, 1, True)
    status, body = cluster.call(FOLLOWER, "GET", "/v1/sys/seal-status")
    assert (body["progress"], body["sealed"]) == (1, True)  # the follower sees the primary's progress
    status, body = cluster.call(FOLLOWER, "PUT", "/v1/sys/unseal", {"key": cluster.keys[1]})
    assert (status, body["sealed"]) == (200, False)
    for worker in (PRIMARY, FOLLOWER):
        status, body = cluster.call(worker, "GET", "/v1/sys/health")
        assert (status, body["sealed"], body["initialized"]) == (200, False, True)
        status, body = cluster.root_call(worker, "GET", "/v1/sys/mounts")
        assert status == 200 and "secret/" not in body or status == 200


def test_seal_through_a_follower_seals_every_worker(cluster):
    unseal(cluster)
    assert cluster.root_call(FOLLOWER, "PUT", "/v1/sys/seal")[0] == 204
    for worker in (PRIMARY, FOLLOWER):
        status, body = cluster.call(worker, "GET", "/v1/sys/health")
        assert (status, body["sealed"]) == (503, True)
        assert cluster.root_call(worker, "GET", "/v1/sys/mounts")[0] == 503
    unseal(cluster)
    assert cluster.call(FOLLOWER, "GET", "/v1/sys/health")[0] == 200


def test_a_write_through_one_worker_is_read_through_the_other_at_once(cluster):
    unseal(cluster)
    assert cluster.root_call(FOLLOWER, "POST", "/v1/sys/mounts/kv", {"type": "kv", "options": {"version": "2"}})[0] == 204
    for n in range(20):
        writer, reader = (PRIMARY, FOLLOWER) if n % 2 else (FOLLOWER, PRIMARY)
        assert cluster.root_call(writer, "POST", "/v1/kv/data/app", {"data": {"n": n}})[0] == 200
        status, body = cluster.root_call(reader, "GET", "/v1/kv/data/app")
        assert (status, body["data"]["data"], body["data"]["metadata"]["version"]) == (200, {"n": n}, n + 1)


def test_a_follower_that_read_a_key_before_sees_the_primarys_write_to_it(cluster):
    unseal(cluster)
    assert cluster.root_call(PRIMARY, "POST", "/v1/sys/mounts/kv", {"type": "kv", "options": {"version": "2"}})[0] == 204
    for n in range(5):
        assert cluster.root_call(PRIMARY, "POST", "/v1/kv/data/app", {"data": {"n": n}})[0] == 200
        time.sleep(0.2)  # caught up: the follower answers these itself, from what it cached
        for _ in range(2):
            status, body = cluster.root_call(FOLLOWER, "GET", "/v1/kv/data/app")
            assert (status, body["data"]["data"]) == (200, {"n": n})


def test_policy_and_token_changes_reach_the_other_worker_before_the_reply(cluster):
    unseal(cluster)
    cluster.root_call(PRIMARY, "POST", "/v1/sys/mounts/kv", {"type": "kv", "options": {"version": "2"}})
    cluster.root_call(PRIMARY, "POST", "/v1/kv/data/app", {"data": {"v": 1}})
    cluster.root_call(PRIMARY, "POST", "/v1/sys/policy/reader", {"policy": 'path "kv/data/*" { capabilities = ["read"] }'})
    status, body = cluster.root_call(PRIMARY, "POST", "/v1/auth/token/create", {"policies": ["reader"]})
    token = body["auth"]["client_token"]
    assert cluster.call(FOLLOWER, "GET", "/v1/kv/data/app", token=token)[0] == 200  # now cached there
    cluster.root_call(PRIMARY, "POST", "/v1/sys/policy/reader", {"policy": 'path "other/*" { capabilities = ["read"] }'})
    assert cluster.call(FOLLOWER, "GET", "/v1/kv/data/app", token=token)[0] == 403
    cluster.root_call(FOLLOWER, "POST", "/v1/sys/policy/reader", {"policy": 'path "kv/data/*" { capabilities = ["read"] }'})
    assert cluster.call(FOLLOWER, "GET", "/v1/kv/data/app", token=token)[0] == 200
    assert cluster.root_call(PRIMARY, "POST", "/v1/auth/token/revoke", {"token": token})[0] == 204
    assert cluster.call(FOLLOWER, "GET", "/v1/kv/data/app", token=token)[0] == 403


def test_limited_use_tokens_count_every_use_once_across_workers(cluster):
    unseal(cluster)
    cluster.root_call(PRIMARY, "POST", "/v1/sys/mounts/kv", {"type": "kv", "options": {"version": "2"}})
    cluster.root_call(PRIMARY, "POST", "/v1/kv/data/app", {"data": {"v": 1}})
    status, body = cluster.root_call(PRIMARY, "POST", "/v1/auth/token/create", {"policies": ["root"], "num_uses": 3})
    token = body["auth"]["client_token"]
    statuses = [cluster.call(w, "GET", "/v1/kv/data/app", token=token)[0] for w in (FOLLOWER, PRIMARY) * 3]
    assert statuses == [200, 200, 200, 403, 403, 403]


def test_key_changes_reach_followers(cluster):
    """transit rotate, sys/rotate and a rekey: the follower keeps up without a restart."""
    unseal(cluster)
    cluster.root_call(PRIMARY, "POST", "/v1/sys/mounts/transit", {"type": "transit"})
    cluster.root_call(PRIMARY, "POST", "/v1/sys/mounts/kv", {"type": "kv", "options": {"version": "2"}})
    cluster.root_call(PRIMARY, "POST", "/v1/transit/keys/k")
    plaintext = base64.b64encode(b"payload").decode()
    first = cluster.root_call(FOLLOWER, "POST", "/v1/transit/encrypt/k", {"plaintext": plaintext})[1]["data"]["ciphertext"]
    assert first.startswith("vault:v1:")
    assert cluster.root_call(PRIMARY, "POST", "/v1/transit/keys/k/rotate")[0] in (200, 204)
    second = cluster.root_call(FOLLOWER, "POST", "/v1/transit/encrypt/k", {"plaintext": plaintext})[1]["data"]["ciphertext"]
    assert second.startswith("vault:v2:")
    assert cluster.root_call(FOLLOWER, "PUT", "/v1/sys/rotate")[0] == 204  # a new barrier term
    cluster.root_call(PRIMARY, "POST", "/v1/kv/data/after-rotate", {"data": {"v": 2}})
    assert cluster.root_call(FOLLOWER, "GET", "/v1/kv/data/after-rotate")[1]["data"]["data"] == {"v": 2}
    # A rekey gives the store a new root key: the follower must re-read its keyring with it.
    status, body = cluster.root_call(FOLLOWER, "PUT", "/v1/sys/rotate/root/init", {"secret_shares": 1, "secret_threshold": 1})
    nonce = body["data"]["nonce"]
    for worker, key in zip((PRIMARY, FOLLOWER), cluster.keys[:2]):
        status, body = cluster.root_call(worker, "PUT", "/v1/sys/rotate/root/update", {"key": key, "nonce": nonce})
    assert body["data"]["complete"] is True
    new_key = body["data"]["keys"][0]
    cluster.root_call(PRIMARY, "POST", "/v1/kv/data/after-rekey", {"data": {"v": 3}})
    assert cluster.root_call(FOLLOWER, "GET", "/v1/kv/data/after-rekey")[1]["data"]["data"] == {"v": 3}
    for ciphertext in (first, second):
        status, body = cluster.root_call(FOLLOWER, "POST", "/v1/transit/decrypt/k", {"ciphertext": ciphertext})
        assert body["data"]["plaintext"] == plaintext
    cluster.root_call(PRIMARY, "PUT", "/v1/sys/seal")
    assert cluster.call(FOLLOWER, "PUT", "/v1/sys/unseal", {"key": new_key})[1]["sealed"] is False
    assert cluster.root_call(PRIMARY, "GET", "/v1/kv/data/after-rekey")[1]["data"]["data"] == {"v": 3}


def test_transit_usage_limit_holds_across_workers(cluster):
    """Each process counts in blocks the primary granted: no version encrypts past its limit,
    however the encryptions spread over the workers."""
    unseal(cluster)
    cluster.root_call(PRIMARY, "POST", "/v1/sys/mounts/transit", {"type": "transit"})
    assert cluster.root_call(PRIMARY, "POST", "/v1/transit/keys/k", {"usage_limit": 40})[0] in (200, 204)
    plaintext = base64.b64encode(b"x").decode()
    per_version: dict[str, int] = {}
    ciphertexts = []
    for n in range(150):
        status, body = cluster.root_call((PRIMARY, FOLLOWER)[n % 2], "POST", "/v1/transit/encrypt/k",
                                         {"plaintext": plaintext})
        assert status == 200, body
        ciphertext = body["data"]["ciphertext"]
        ciphertexts.append(ciphertext)
        version = ciphertext.split(":")[1]
        per_version[version] = per_version.get(version, 0) + 1
    assert max(per_version.values()) <= 40, per_version
    assert len(per_version) >= 4  # the limit made it rotate
    for n, ciphertext in enumerate(ciphertexts[::15]):
        status, body = cluster.root_call((FOLLOWER, PRIMARY)[n % 2], "POST", "/v1/transit/decrypt/k",
                                         {"ciphertext": ciphertext})
        assert body["data"]["plaintext"] == plaintext


def test_with_an_audit_device_every_request_is_logged_once_in_one_chain(tmp_path):
    log = tmp_path / "audit.log"
    with start_cluster(tmp_path, f'audit "file" "main" {{\n options {{\n file_path = "{log}"\n }}\n}}') as cluster:
        unseal(cluster)
        _three_encrypts(cluster)
        # The follower hashes its own entries: under the device's salt, as the primary would.
        status, body = cluster.root_call(PRIMARY, "POST", "/v1/sys/audit-hash/main", {"input": "eA=="})
        assert status == 200
        expected = body["data"]["hash"]
    entries = [json.loads(line) for line in log.read_text().splitlines()]
    encrypts = [e for e in entries if e.get("request", {}).get("path") == "transit/encrypt/k"]
    assert len(encrypts) == 6  # a request and a response entry for each of the three
    assert len({e["request"]["id"] for e in encrypts}) == 3
    requests = [e for e in encrypts if e["type"] == "request"]
    assert [e["request"]["data"]["plaintext"] for e in requests] == [expected] * 3
    verified = subprocess.run([STRONGROOM, "audit", "verify", str(log)], capture_output=True, text=True)
    assert verified.returncode == 0, verified.stdout + verified.stderr


def _three_encrypts(cluster: Cluster) -> None:
    cluster.root_call(PRIMARY, "POST", "/v1/sys/mounts/transit", {"type": "transit"})
    for worker in (FOLLOWER, PRIMARY, FOLLOWER):
        assert cluster.root_call(worker, "POST", "/v1/transit/encrypt/k", {"plaintext": "eA=="})[0] == 200


def test_hvac_works_unchanged(cluster):
    unseal(cluster)
    client = hvac.Client(url=f"http://127.0.0.1:{cluster.port}", token=cluster.root)
    client.sys.enable_secrets_engine("kv", path="kv", options={"version": "2"})
    client.sys.enable_secrets_engine("transit")
    for n in range(10):  # new connections land on either process
        fresh = hvac.Client(url=f"http://127.0.0.1:{cluster.port}", token=cluster.root)
        fresh.secrets.kv.v2.create_or_update_secret("s", secret={"n": n}, mount_point="kv")
        assert fresh.secrets.kv.v2.read_secret_version("s", mount_point="kv")["data"]["data"] == {"n": n}
        ciphertext = fresh.secrets.transit.encrypt_data("k", base64.b64encode(b"hi").decode())["data"]["ciphertext"]
        assert fresh.secrets.transit.decrypt_data("k", ciphertext)["data"]["plaintext"] == base64.b64encode(b"hi").decode()
    assert client.secrets.kv.v2.list_secrets("", mount_point="kv")["data"]["keys"] == ["s"]


def test_a_killed_follower_leaves_the_primary_serving_and_sigterm_stops_all(cluster):
    unseal(cluster)
    followers = cluster.children()
    assert len(followers) == 1
    os.kill(followers[0], signal.SIGKILL)
    time.sleep(0.5)
    for _ in range(5):
        conn = http.client.HTTPConnection("127.0.0.1", cluster.port, timeout=10)
        conn.request("GET", "/v1/sys/health")
        response = conn.getresponse()
        response.read()
        assert (response.status, response.getheader("X-Strongroom-Worker")) == (200, PRIMARY)
        conn.close()
    cluster.proc.send_signal(signal.SIGTERM)
    assert cluster.proc.wait(30) == 0


def test_sigterm_stops_every_worker(cluster):
    followers = cluster.children()
    assert len(followers) == 1
    cluster.proc.send_signal(signal.SIGTERM)
    assert cluster.proc.wait(30) == 0
    assert not os.path.exists(f"/proc/{followers[0]}")


def test_a_second_server_on_the_same_store_is_still_refused(cluster, tmp_path):
    other = subprocess.run([STRONGROOM, "server", "-config", str(tmp_path / "server.hcl")],
                           capture_output=True, text=True, timeout=30)
    assert other.returncode != 0
    assert "already open" in other.stdout + other.stderr
