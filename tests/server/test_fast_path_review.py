"""Review of the fast path and its hand-over to aiohttp: where the two disagree, or a limit
aiohttp keeps is not kept on the fast path.

Tests marked `# Found in review (fixed):` reproduce a problem the review found, now fixed. Each
compares the fast path with the same request answered by aiohttp (a query string, which never takes the fast
path, is the control), since "answered as aiohttp would" is the fast path's contract.
"""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path
from typing import Iterator

import pytest

import server.fast_path as fast_path
from conftest import RunningServer, ThreadedServer, free_port, http_responses, initialise, make_settings

HOST = "127.0.0.1"


def port_of(srv: RunningServer) -> int:
    return int(srv.url.rsplit(":", 1)[1])


def connect(srv: RunningServer, rcvbuf: int | None = None) -> socket.socket:
    sock = socket.socket()
    if rcvbuf is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)  # before connect: the window
    sock.settimeout(5)
    sock.connect((HOST, port_of(srv)))
    return sock


def responses(conn: socket.socket, count: int) -> list[tuple[int, dict[str, str], bytes]]:
    """Up to `count` whole responses (fewer if the server closes first)."""
    return http_responses(conn, count)


def one(srv: RunningServer, raw: bytes) -> tuple[int, dict[str, str], bytes]:
    with connect(srv) as conn:
        conn.sendall(raw)
        (reply,) = responses(conn, 1)
    return reply


def is_closed(conn: socket.socket) -> bool:
    conn.settimeout(0.05)
    try:
        return conn.recv(1) == b""
    except socket.timeout:
        return False
    except ConnectionResetError:
        return True


@pytest.fixture
def threaded(tmp_path: Path) -> Iterator[tuple[ThreadedServer, RunningServer]]:
    """The `server` fixture, with the ThreadedServer (and so the Service) in reach."""
    port = free_port()
    threaded = ThreadedServer(make_settings(tmp_path / "data", port))
    threaded.start()
    try:
        srv = RunningServer(url=f"http://{HOST}:{port}", core=threaded.core, data_dir=tmp_path / "data")
        yield threaded, initialise(srv)
    finally:
        threaded.stop()


# --- where the fast path answers differently from aiohttp ---------------------------------


def test_trailing_whitespace_after_a_token_is_read_as_aiohttp_reads_it(server):
    # Found in review (fixed): llhttp strips the whitespace before a field value but not after it; aiohttp's parser
    # rstrips " \t" (RFC 9110 §5.5: OWS around a value is not part of it). The fast path passes
    # httptools' raw value on, so `X-Vault-Token: <token> ` is a 403 there and a 200 on aiohttp.
    # The same holds for X-Vault-Wrap-TTL (a 400 on the fast path) and every other header.
    head = f"Host: t\r\nX-Vault-Token: {server.root_token} \r\n\r\n".encode()
    on_aiohttp = one(server, b"GET /v1/sys/mounts?x=1 HTTP/1.1\r\n" + head)
    on_fast_path = one(server, b"GET /v1/sys/mounts HTTP/1.1\r\n" + head)
    assert on_aiohttp[0] == 200
    assert on_fast_path[0] == on_aiohttp[0], on_fast_path[2]


@pytest.mark.parametrize("hosts", ["", "Host: a\r\nHost: b\r\n"], ids=["no Host", "two Hosts"])
def test_an_http_1_1_request_without_exactly_one_host_is_refused(server, hosts):
    # Found in review (fixed): RFC 9112 §3.2: a server MUST answer 400 to an HTTP/1.1 request with no Host or more
    # than one. aiohttp's parser does (so does Vault's Go server); the fast path answers it.
    rest = f"{hosts}\r\n".encode()
    on_aiohttp = one(server, b"GET /v1/sys/health?x=1 HTTP/1.1\r\n" + rest)
    on_fast_path = one(server, b"GET /v1/sys/health HTTP/1.1\r\n" + rest)
    assert on_aiohttp[0] == 400
    assert on_fast_path[0] == 400, on_fast_path


def test_a_list_pipelined_behind_a_plain_request_is_answered(server):
    # Found in review (fixed): two requests in one segment are handed to aiohttp whole. The first request line is
    # plain, so ParserChoosingHandler keeps llhttp for the whole read; llhttp then refuses the
    # LIST inside it, and the connection gets one plain-text `400 Invalid method` in place of
    # both replies: the GET before it is lost too. Sent in two segments, both are answered.
    token = f"X-Vault-Token: {server.root_token}\r\n"
    get = f"GET /v1/sys/health HTTP/1.1\r\nHost: t\r\n\r\n".encode()
    lst = f"LIST /v1/sys/policies/acl HTTP/1.1\r\nHost: t\r\n{token}\r\n".encode()
    with connect(server) as conn:
        conn.sendall(get)
        time.sleep(0.1)
        conn.sendall(lst)
        assert [status for status, _, _ in responses(conn, 2)] == [200, 200]
    with connect(server) as conn:
        conn.sendall(get + lst)
        got = responses(conn, 2)
    assert [status for status, _, _ in got] == [200, 200], got


# --- limits aiohttp keeps ------------------------------------------------------------------


def test_a_client_that_never_reads_cannot_make_the_server_buffer_without_bound(threaded):
    # Found in review (fixed): the fast path writes each reply with transport.write and takes the next request at
    # once; it has no pause_writing/resume_writing, so nothing stops it when the client stops
    # reading. aiohttp's handler awaits drain() past 64 KiB and stops reading requests. Here a
    # client with a tiny receive window asks for a 512 KiB secret 30 times without reading:
    # ~15 MiB sits in the server's user-space write buffer (and would keep growing).
    service, srv = threaded[0].service, threaded[1]
    srv.root("POST", "/v1/sys/mounts/kv", {"type": "kv", "options": {"version": "2"}})
    assert srv.root("POST", "/v1/kv/data/big", {"data": {"v": "a" * 512 * 1024}})[0] == 200
    get = f"GET /v1/kv/data/big HTTP/1.1\r\nHost: t\r\nX-Vault-Token: {srv.root_token}\r\n\r\n".encode()
    with connect(srv, rcvbuf=4096) as conn:
        for _ in range(30):
            conn.sendall(get)
            time.sleep(0.05)  # one request per read: every one is taken on the fast path
        time.sleep(0.2)
        buffered = sum(c._transport.get_write_buffer_size() for c in list(service.fast_connections)
                       if c._transport is not None)
    assert buffered < 4 * 1024 * 1024, f"{buffered} bytes of replies buffered for one client"


def test_a_connection_that_never_sends_a_request_is_closed_like_an_idle_one(server, monkeypatch):
    # Found in review (fixed): aiohttp's handler starts its keep-alive timer in connection_made ("there's no other
    # protection against a dead connection that doesn't send a request at all"). The fast path
    # starts its timer only after a reply, so a connection that never sends a byte is held
    # for ever: each costs a file descriptor, and nothing ever frees them.
    monkeypatch.setattr(fast_path, "KEEPALIVE", 0.3)
    with connect(server) as after_a_request, connect(server) as silent:
        after_a_request.sendall(b"GET /v1/sys/health HTTP/1.1\r\nHost: t\r\n\r\n")
        assert responses(after_a_request, 1)[0][0] == 200
        time.sleep(0.8)
        assert is_closed(after_a_request)  # the timer after a reply works
        assert is_closed(silent)


# --- checked and sound (kept as regression tests) ------------------------------------------


def test_a_body_split_across_reads_is_read_once_and_never_as_a_request(server):
    # The head and part of the body in one read: handed to aiohttp, which waits for the rest.
    # The rest is itself a request line; it must stay body (here: invalid JSON -> 400).
    smuggled = b"GET /v1/sys/health HTTP/1.1\r\nHost: t\r\n\r\n"
    raw = (b"POST /v1/sys/unseal HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % (1 + len(smuggled))) + b"{"
    with connect(server) as conn:
        conn.sendall(raw)
        time.sleep(0.1)
        conn.sendall(smuggled)
        got = responses(conn, 1)
        assert [status for status, _, _ in got] == [400]
        assert not is_closed(conn) and responses_pending(conn) == b""


def responses_pending(conn: socket.socket) -> bytes:
    conn.settimeout(0.2)
    try:
        return conn.recv(65536)
    except socket.timeout:
        return b""


def test_a_second_request_arriving_while_the_first_is_answered_is_answered_after_it(server):
    get = b"GET /v1/sys/seal-status HTTP/1.1\r\nHost: t\r\n\r\n"
    with connect(server) as conn:
        for _ in range(20):
            conn.sendall(get)  # mostly while the previous one is busy
        got = responses(conn, 20)
    assert [status for status, _, _ in got] == [200] * 20
    assert all(json.loads(body)["sealed"] is False for _, _, body in got)


def test_connection_close_with_bytes_after_it_gets_aiohttps_answer(server):
    # llhttp refuses bytes after `Connection: close`: handed over, aiohttp answers its 400 and
    # closes; nothing after the close is ever answered.
    raw = b"GET /v1/sys/health HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\nGET /v1/sys/health HTTP/1.1\r\n\r\n"
    with connect(server) as conn:
        conn.sendall(raw)
        got = responses(conn, 2)
        assert [status for status, _, _ in got] == [400]
        assert is_closed(conn)


def test_a_body_over_the_listener_limit_is_refused_on_both_paths(tmp_path):
    from conftest import running_server

    with running_server(tmp_path / "data", {"max_request_size": 64}) as srv:
        body = b'{"key":"' + b"a" * 100 + b'"}'
        head = b"Host: t\r\nContent-Length: %d\r\n\r\n" % len(body)
        fast = one(srv, b"PUT /v1/sys/unseal HTTP/1.1\r\n" + head + body)
        slow = one(srv, b"PUT /v1/sys/unseal?x=1 HTTP/1.1\r\n" + head + body)
    assert fast[0] == slow[0] == 413 and fast[2] == slow[2]
