"""Fail closed, in bounded time: no request runs unless a device recorded it, one working
device is enough, and a hung socket device costs at most its write_timeout.

The tests run as root, which ignores file permissions: a log made unwritable is a log whose
path became a directory (reopened as SIGHUP would), or a socket nobody listens on.
"""

from __future__ import annotations

import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from conftest import free_port, initialise, running_server
from test_audit_support import LineSink, assert_absent, close_listener, audited_server, entries, file_device, marker

AUDIT_FAILED = {"errors": ["internal error: the request could not be audited"]}


def socket_device(name: str, port: int, timeout: str = "300ms") -> dict:
    return {"socket": {name: {"options": {"address": f"127.0.0.1:{port}", "socket_type": "tcp",
                                           "write_timeout": timeout}}}}


def test_unwritable_log_fails_every_request_and_nothing_happens(tmp_path):
    secret = marker()
    with audited_server(tmp_path) as (server, log):
        assert server.root("POST", "/v1/sys/mounts/kv", {"type": "kv"})[0] == 204
        log.rename(tmp_path / "audit.log.1")
        log.mkdir()  # not even root can open a directory for writing
        server.core.audit.reopen()  # what SIGHUP does

        status, body, _ = server.root("PUT", "/v1/kv/x", {"password": secret})
        assert (status, body) == (500, AUDIT_FAILED)
        assert server.root("PUT", "/v1/sys/policy/p", {"policy": 'path "kv/*" { capabilities = ["read"] }'})[0] == 500
        assert server.root("POST", "/v1/sys/mounts/other", {"type": "kv"})[0] == 500
        assert server.call("GET", "/v1/kv/x", token="bogus")[0] == 500  # even a denial needs its record

        log.rmdir()
        server.core.audit.reopen()
        assert server.root("GET", "/v1/kv/x")[0] == 404  # the write never happened
        assert server.root("GET", "/v1/sys/policy/p")[0] == 404
        assert "other/" not in server.root("GET", "/v1/sys/mounts")[1]["data"]
    paths = [e["request"]["path"] for e in entries(log)]
    assert paths[:2] == ["kv/x", "kv/x"] and "kv/x" not in paths[2:] and "sys/policy/p" in paths
    assert_absent(tmp_path / "audit.log.1", secret)


def test_socket_device_down_fails_closed_and_recovers(tmp_path):
    secret = marker()
    with running_server(tmp_path / "data", unsafe_allow_api_audit_creation=True) as server:
        initialise(server)
        assert server.root("POST", "/v1/sys/mounts/kv", {"type": "kv"})[0] == 204
        sink = LineSink()
        port = sink.port
        status, body, _ = server.root("PUT", "/v1/sys/audit/net", {"type": "socket", "options": {
            "address": f"127.0.0.1:{port}", "write_timeout": "500ms"}})
        assert status == 204, body
        assert server.root("PUT", "/v1/kv/before", {"a": "b"})[0] == 204
        before = sink.settled()
        sink.close()
        time.sleep(0.05)

        assert server.root("PUT", "/v1/kv/x", {"password": secret})[:2] == (500, AUDIT_FAILED)
        assert server.root("DELETE", "/v1/sys/audit/net")[0] == 500  # not even the disable runs unaudited

        revived = LineSink(port)
        try:
            assert server.root("GET", "/v1/kv/x")[0] == 404
            assert server.root("GET", "/v1/kv/before")[0] == 200
            after = revived.settled()
        finally:
            revived.close()
    assert b'"path":"kv/before"' in before and b'"path":"kv/x"' in after
    assert secret.encode() not in before + after


def test_one_working_device_is_enough(tmp_path):
    closed_port = free_port()
    audit = {**file_device(tmp_path / "audit.log"), **socket_device("down", closed_port)}
    with audited_server(tmp_path, audit=audit) as (server, log):
        assert sorted(server.root("GET", "/v1/sys/audit")[1]["data"]) == ["down/", "main/"]
        assert server.root("POST", "/v1/sys/mounts/kv", {"type": "kv"})[0] == 204
        assert server.root("PUT", "/v1/kv/x", {"a": "b"})[0] == 204
        assert server.root("GET", "/v1/kv/x")[1]["data"] == {"a": "b"}
    assert [e["request"]["path"] for e in entries(log) if e["type"] == "response"][-2:] == ["kv/x"] * 2


class NeverAccepts:
    """A listener whose accept queue is full: connecting to it hangs until the client gives up."""

    def __init__(self) -> None:
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(0)
        self.port = self.listener.getsockname()[1]
        self.fillers = []
        for _ in range(3):
            filler = socket.socket()
            filler.setblocking(False)
            try:
                filler.connect(("127.0.0.1", self.port))
            except BlockingIOError:
                pass
            self.fillers.append(filler)

    def close(self) -> None:
        for sock in (*self.fillers, self.listener):
            sock.close()


class NeverReads:
    """A listener that accepts and then never reads, with a small receive buffer."""

    def __init__(self) -> None:
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.port = self.listener.getsockname()[1]
        self.held: list[socket.socket] = []
        threading.Thread(target=self._hold, daemon=True).start()

    def _hold(self) -> None:
        while True:
            try:
                self.held.append(self.listener.accept()[0])
            except OSError:
                return

    def close(self) -> None:
        close_listener(self.listener)
        for conn in self.held:
            conn.close()


def _timed(server, method, path, body=None):
    start = time.monotonic()
    status = server.root(method, path, body)[0]
    return status, time.monotonic() - start


def test_a_socket_that_never_accepts_costs_at_most_its_timeout(tmp_path):
    hung = NeverAccepts()
    try:
        audit = {**file_device(tmp_path / "audit.log"), **socket_device("hung", hung.port, "300ms")}
        with audited_server(tmp_path, audit=audit) as (server, log):
            assert server.root("POST", "/v1/sys/mounts/kv", {"type": "kv"})[0] == 204
            for i in range(3):
                status, took = _timed(server, "PUT", f"/v1/kv/s{i}", {"a": "b"})
                assert status == 204 and took < 1.5, took
            with ThreadPoolExecutor(8) as pool:
                start = time.monotonic()
                results = list(pool.map(lambda i: _timed(server, "PUT", f"/v1/kv/c{i}", {"a": "b"}), range(8)))
                wall = time.monotonic() - start
            assert all(status == 204 for status, _ in results)
            assert max(took for _, took in results) < 2.0 and wall < 3.0, results  # not 8 x 2 x the timeout
        written = [e["request"]["path"] for e in entries(log) if e["type"] == "response"]
        assert {f"kv/c{i}" for i in range(8)} <= set(written)
    finally:
        hung.close()


def test_the_only_device_hung_fails_requests_quickly(tmp_path):
    hung = NeverAccepts()
    try:
        with running_server(tmp_path / "data", audit=socket_device("hung", hung.port, "1s")) as server:
            initialise(server, unseal=False)
            start = time.monotonic()
            for key in server.keys[:3]:
                server.call("PUT", "/v1/sys/unseal", {"key": key})
            # Eight buffered ceremony lines: one timeout in all, not one each.
            assert time.monotonic() - start < 3.0
            assert server.core.seal.sealed is False
            status, took = _timed(server, "POST", "/v1/sys/mounts/kv", {"type": "kv"})
            assert status == 500 and took < 1.8, took
            assert server.core.engine_for("kv/x") is None
    finally:
        hung.close()


def test_a_socket_that_never_reads_costs_at_most_its_timeout(tmp_path, caplog):
    hung = NeverReads()
    # Key names are logged as they are (values become 76-byte HMACs): ~1 MB per line, twice
    # per request, fills the socket's buffers (a few MB on loopback) within a few requests.
    wide = {"input": "x", **{f"k{i:03d}" + "x" * 4000: "" for i in range(250)}}
    try:
        audit = {**file_device(tmp_path / "audit.log"), **socket_device("hung", hung.port, "300ms")}
        with audited_server(tmp_path, audit=audit) as (server, log):
            timings = [_timed(server, "PUT", "/v1/sys/audit-hash/main", wide) for _ in range(6)]
        assert all(status == 200 for status, _ in timings)
        assert max(took for _, took in timings) < 1.2, timings
        timeouts = [r for r in caplog.records if "hung/" in r.getMessage() and "within 0.3s" in r.getMessage()]
        assert timeouts, "the socket's buffer never filled: the test proved nothing"
        assert [e["type"] for e in entries(log) if e["request"]["path"] == "sys/audit-hash/main"] == \
            ["request", "response"] * 6
    finally:
        hung.close()
