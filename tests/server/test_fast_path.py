"""The fast path for plain requests, and its hand-over to aiohttp for everything else.

Raw sockets, so that what reaches the server is exactly what each test says: whole requests,
split ones, pipelined ones, and the connection states in between.
"""

from __future__ import annotations

import json
import socket
import time

import pytest

from conftest import http_responses
from server.fast_path import render_bytes
from server.routing import Reply


def connect(server) -> socket.socket:
    host, port = server.url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=10)


_PENDING: dict[int, bytearray] = {}


def read_response(conn: socket.socket) -> tuple[int, dict[str, str], object]:
    """One response; bytes of the next one that came with it are kept for the next call."""
    got = http_responses(conn, 1, _PENDING.setdefault(conn.fileno(), bytearray()))
    assert got, "connection closed"
    status, headers, body = got[0]
    return status, headers, json.loads(body) if body else None


def request(method: str, path: str, token: str = "", body: bytes = b"", extra: str = "") -> bytes:
    head = f"{method} {path} HTTP/1.1\r\nHost: t\r\n{extra}"
    if token:
        head += f"X-Vault-Token: {token}\r\n"
    if body or method in ("POST", "PUT"):
        head += f"Content-Length: {len(body)}\r\n"
    return head.encode() + b"\r\n" + body


def test_a_plain_reply_carries_what_aiohttps_did(server):
    with connect(server) as conn:
        conn.sendall(request("GET", "/v1/sys/health"))
        status, headers, body = read_response(conn)
    assert status == 200 and body["initialized"] is True
    assert headers["Content-Type"] == "application/json" and headers["Cache-Control"] == "no-store"
    assert "Date" in headers and headers["Server"].startswith("Python/")
    assert "Connection" not in headers  # kept alive


def test_requests_split_pipelined_or_sent_while_busy_are_all_answered_in_order(server):
    server.root("POST", "/v1/sys/mounts/kv", {"type": "kv", "options": {"version": "2"}})
    token = server.root_token
    write = request("POST", "/v1/kv/data/a", token, b'{"data":{"n":1}}')
    read = request("GET", "/v1/kv/data/a", token)
    with connect(server) as conn:
        conn.sendall(write[:20])  # a head in pieces: handed to aiohttp at its start
        time.sleep(0.05)
        conn.sendall(write[20:])
        assert read_response(conn)[0] == 200
        conn.sendall(read + read)  # two at once: aiohttp takes both, in order
        assert [read_response(conn)[2]["data"]["data"] for _ in range(2)] == [{"n": 1}, {"n": 1}]
    with connect(server) as conn:
        conn.sendall(write)
        conn.sendall(read)  # most likely arrives while the write is being answered
        assert read_response(conn)[0] == 200
        assert read_response(conn)[2]["data"]["metadata"]["version"] == 2


def test_connection_close_and_http_1_0_close_after_the_reply(server):
    for raw in (request("GET", "/v1/sys/health", extra="Connection: close\r\n"),
                b"GET /v1/sys/health HTTP/1.0\r\n\r\n"):
        with connect(server) as conn:
            conn.sendall(raw)
            status, headers, _ = read_response(conn)
            assert status == 200
            assert conn.recv(1) == b""  # closed by the server


@pytest.mark.parametrize("raw, status", [
    (request("GET", "/v1/sys/mounts", "s.\xff"), 403),  # not UTF-8: the same 403 as any bad token
    (request("POST", "/v1/sys/unseal-check", body=b"{bad"), 400),
    (request("POST", "/v1/sys/mounts/x", body=b"{}", extra="Content-Encoding: gzip\r\n"), 415),
    (request("GET", "/outside"), 404),
    (request("GET", "/v1/sys/health?standbyok=true"), 200),
    (b"HEAD /v1/sys/health HTTP/1.1\r\nHost: t\r\n\r\n", 200),
])
def test_requests_answered_on_either_path_answer_as_before(server, raw, status):
    with connect(server) as conn:
        conn.sendall(raw.replace("\xff".encode(), b"\xff") if isinstance(raw, bytes) else raw)
        if raw.startswith(b"HEAD"):
            head = conn.recv(65536)
            assert head.startswith(b"HTTP/1.1 200")
            return
        got, headers, body = read_response(conn)
    assert got == status, body
    assert headers["Cache-Control"] == "no-store"


def test_render_bytes_refuses_a_header_that_would_split_the_response():
    with pytest.raises(ValueError):
        render_bytes(Reply(200, {}, {"X-Test": "a\r\nSet-Cookie: b"}), keep_alive=True, worker=b"")
    no_content = render_bytes(Reply(204, None), keep_alive=False, worker=b"X-Strongroom-Worker: 1\r\n")
    assert b"Content-Length" not in no_content and b"Connection: close\r\n" in no_content
    assert no_content.endswith(b"\r\n\r\n") and b"X-Strongroom-Worker: 1\r\n" in no_content


def test_oversized_headers_get_aiohttps_limits(server):
    with connect(server) as conn:
        conn.sendall(request("GET", "/v1/sys/health", extra=f"X-Big: {'a' * 70000}\r\n"))
        reply = b""
        while chunk := conn.recv(65536):
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 400") or reply.startswith(b"HTTP/1.0 400")
