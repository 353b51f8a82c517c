"""Which HTTP parser reads a connection: llhttp where it reads as the Python parser would,
the Python parser from a request boundary on where it does not (LIST, other spellings).

The boundary must be certain: the framing tracker is checked against request streams split
at every kind of place, and a body that starts with "LIST " must stay a body.
"""

from __future__ import annotations

import json
import socket

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.request_parsing import PLAIN_REQUEST_LINE, RequestFraming

paths = st.text(alphabet="abcdefghijklmnopqrstuvwxyz/0123456789", min_size=1, max_size=30)
bodies = st.binary(max_size=300)


def request(method: str, path: str, body: bytes, extra: str = "") -> bytes:
    head = f"{method} /v1/{path} HTTP/1.1\r\nHost: t\r\n{extra}"
    if body or method in ("POST", "PUT"):
        head += f"Content-Length: {len(body)}\r\n"
    return head.encode() + b"\r\n" + body


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["GET", "POST", "PUT", "LIST", "DELETE"]), paths, bodies),
                min_size=1, max_size=6), st.data())
def test_boundaries_are_claimed_exactly_where_requests_start(requests, data):
    stream, starts = b"", set()
    for method, path, body in requests:
        starts.add(len(stream))
        stream += request(method, path, b"" if method in ("GET", "LIST") else body)
    cuts = sorted(set(data.draw(st.lists(st.integers(1, len(stream) - 1), max_size=8)))) if len(stream) > 1 else []
    framing = RequestFraming()
    for begin, end in zip([0, *cuts], [*cuts, len(stream)]):
        assert framing.at_boundary == (begin in starts), (begin, stream)
        framing.feed(stream[begin:end])
    assert framing.at_boundary  # the stream ended with a whole request


@pytest.mark.parametrize("extra", [
    "Transfer-Encoding: chunked\r\n", "Upgrade: websocket\r\nConnection: Upgrade\r\n",
    "Content-Length: 3\r\nContent-Length: 3\r\n", "content-length:  +3\r\n"])
def test_framing_it_cannot_follow_is_never_a_boundary_again(extra):
    framing = RequestFraming()
    framing.feed(request("POST", "x", b"", extra) + b"abc" + request("GET", "y", b""))
    assert not framing.at_boundary and framing.lost


def test_connect_is_given_up_on_even_after_blank_lines():
    framing = RequestFraming()
    framing.feed(b"\r\nCONNECT t:443 HTTP/1.1\r\nHost: t\r\n\r\n")
    assert framing.lost


def test_a_bare_lf_head_is_given_up_on():
    framing = RequestFraming()
    framing.feed(b"GET /v1/x HTTP/1.1\nHost: t\r\n\r\n")
    assert framing.lost


def test_only_plain_request_lines_stay_on_llhttp():
    assert PLAIN_REQUEST_LINE.match(b"GET /v1/sys/health HTTP/1.1\r\nHost: t\r\n")
    for line in (b"LIST /v1/kv/ HTTP/1.1\r\n", b"get /v1/x HTTP/1.1\r\n", b"FOO /v1/x HTTP/1.1\r\n",
                 b"GET /v1/\xff HTTP/1.1\r\n", b"GET /v1/a\x01 HTTP/1.1\r\n", b"GET /v1/x HTTP/1.1",
                 b"GET /v1/x"):
        assert PLAIN_REQUEST_LINE.match(line) is None, line


def exchange(conn: socket.socket, raw: bytes) -> tuple[int, object]:
    conn.sendall(raw)
    return read_response(conn)


def read_response(conn: socket.socket) -> tuple[int, object]:
    received = b""
    while b"\r\n\r\n" not in received:
        chunk = conn.recv(65536)
        assert chunk, "connection closed"
        received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length"))
    while len(body) < length:
        body += conn.recv(65536)
    return int(head.split()[1]), json.loads(body) if body else None


def test_list_and_other_spellings_work_after_plain_requests_on_one_connection(server):
    server.root("POST", "/v1/sys/mounts/kv", {"type": "kv", "options": {"version": "2"}})
    server.root("POST", "/v1/kv/data/app/one", {"data": {"v": 1}})
    token = f"X-Vault-Token: {server.root_token}\r\n"
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        assert exchange(conn, request("GET", "sys/health", b""))[0] == 200
        status, body = exchange(conn, request("LIST", "kv/metadata/app", b"", token))
        assert (status, body["data"]["keys"]) == (200, ["one"])
        assert exchange(conn, request("get", "kv/data/app/one", b"", token))[1]["data"]["data"] == {"v": 1}
        assert exchange(conn, request("GET", "sys/health", b""))[0] == 200


def test_a_body_that_starts_like_a_list_request_stays_a_body(server):
    """The head arrives first, then a body that reads like a LIST request: it must reach the
    handler as the body of the first request, and no second request may appear."""
    host, port = server.url.removeprefix("http://").split(":")
    smuggled = request("LIST", "sys/policy", b"")
    head = (f"POST /v1/sys/unseal-check HTTP/1.1\r\nHost: t\r\nContent-Length: {len(smuggled)}\r\n\r\n").encode()
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(head)
        conn.sendall(smuggled)
        status, body = read_response(conn)
        assert status == 400 and "LIST" not in json.dumps(body)  # the JSON parser refused the body
        conn.settimeout(0.5)
        with pytest.raises(socket.timeout):
            conn.recv(1)  # nothing more: the body was never read as a request
