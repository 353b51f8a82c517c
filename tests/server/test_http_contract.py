"""The HTTP contract every /v1 call gets, whatever its path: strict JSON, body limits, one
canonical path, tokens only from headers, Vault's error shapes and status codes, headers that
keep secrets out of caches, and an access log without query strings.

Raw sockets are used wherever a well-behaved client library would refuse to send the request.
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import json
import logging
import os
import socket
import time

import aiohttp
import pytest
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import free_port, initialise, make_settings, running_server
from server.app import Service
from server.serve import make_runner

DENIED = {"errors": ["permission denied"]}
SMALL = 1024  # max_request_size of the small_server fixture


def raw_http(server, head: str, body: bytes = b"", timeout: float = 10) -> tuple[int, object, dict]:
    """Send one request exactly as written (header lines joined with CRLF); read one reply."""
    host, port = server.url.removeprefix("http://").split(":")
    request = head.replace("\n", "\r\n").encode("utf-8", "surrogateescape")
    request += b"Host: test\r\nConnection: close\r\n\r\n" + body
    with socket.create_connection((host, int(port)), timeout=timeout) as conn:
        conn.sendall(request)
        reply = b""
        while b"\r\n\r\n" not in reply:
            chunk = conn.recv(65536)
            assert chunk, f"connection closed before a reply: {reply!r}"
            reply += chunk
        head_bytes, _, payload = reply.partition(b"\r\n\r\n")
        lines = head_bytes.decode("latin-1").split("\r\n")
        headers = dict(line.split(": ", 1) for line in lines[1:])
        # The server may linger over an unread request body: read what it announced, not to EOF.
        while len(payload) < int(headers.get("Content-Length", 0)):
            chunk = conn.recv(65536)
            assert chunk, "connection closed inside the reply body"
            payload += chunk
    parsed = json.loads(payload) if payload and "json" in headers.get("Content-Type", "") else payload.decode()
    return int(lines[0].split()[1]), parsed, headers


@pytest.fixture
async def production_runner(tmp_path):
    """The application behind the runner `strongroom server` uses (server.serve.make_runner)."""
    port = free_port()
    service = Service(make_settings(tmp_path / "production", port))
    await service.open()
    runner = make_runner(service)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        await runner.cleanup()
        await service.close()


@pytest.fixture(scope="module")
def unsealed(tmp_path_factory):
    """One initialised, unsealed server for the tests that only read (paths, tokens, 404s)."""
    with running_server(tmp_path_factory.mktemp("unsealed") / "data") as srv:
        yield initialise(srv)


@pytest.fixture(scope="module")
def uninitialised(tmp_path_factory):
    """One empty server for the body tests: a body parsed too leniently would initialise it."""
    with running_server(tmp_path_factory.mktemp("uninitialised") / "data") as srv:
        yield srv


@pytest.fixture
def small_server(tmp_path):
    with running_server(tmp_path / "data", listener={"max_request_size": SMALL, "max_request_duration": "1s"}) as srv:
        yield srv


# -- strict JSON ------------------------------------------------------------------------

PARSE = "failed to parse JSON input: "


@pytest.mark.parametrize("raw, message", [
    (b'{"secret_shares":', "Expecting value at line 1 column 18"),
    (b"[" * 100000, "nesting too deep"),
    (b'{"a":' * 100000 + b"1" + b"}" * 100000, "nesting too deep"),
    (b'{"a":' + b"[" * 300 + b"]" * 300 + b"}", "nesting too deep"),  # depth 301
    (b'{"secret_shares": ' + b"9" * 5000 + b', "secret_threshold": 3}', "integer too large"),
    (b'{"secret_shares": NaN, "secret_threshold": 3}', "NaN is not valid JSON"),
    (b'{"secret_shares": Infinity, "secret_threshold": 3}', "Infinity is not valid JSON"),
    (b'{"secret_shares": -Infinity, "secret_threshold": 3}', "-Infinity is not valid JSON"),
    (b'{"secret_shares": 1e999, "secret_threshold": 3}', "number out of range"),
    (b'{"secret_shares": -1e999, "secret_threshold": 3}', "number out of range"),
    (b'{"secret_shares": 5, "secret_threshold": 3, "secret_shares": 1}', "duplicate key 'secret_shares'"),
    (b'{"secret_shares": 1, "secret_threshold": 1, "pgp_keys": ["\\ud800"]}',
     "string contains an unpaired surrogate escape"),
    (b'{"\\udfff": 1, "secret_shares": 1, "secret_threshold": 1}', "string contains an unpaired surrogate escape"),
    (b"[]", "the body must be a JSON object"),
    (b'[{"secret_shares": 1, "secret_threshold": 1}]', "the body must be a JSON object"),
    (b'"x"', "the body must be a JSON object"),
    (b"3", "the body must be a JSON object"),
    (b"true", "the body must be a JSON object"),
    (b'{"secret_shares": "\xff"}', "body is not valid UTF-8"),
    (b'{"secret_shares": 1, "secret_threshold": 1} x', "Extra data at line 1 column 45"),
    (b'\xef\xbb\xbf{"secret_shares": 1, "secret_threshold": 1}', "Expecting value at line 1 column 1"),
    (b"secret_shares=1&secret_threshold=1", "Expecting value at line 1 column 1"),
])
def test_json_traps_are_400_and_nothing_happens(uninitialised, raw, message):
    status, body, _ = uninitialised.call("PUT", "/v1/sys/init", raw=raw)
    assert (status, body) == (400, {"errors": [PARSE + message]})
    assert uninitialised.call("GET", "/v1/sys/init")[:2] == (200, {"initialized": False})


def test_nesting_up_to_the_limit_parses(uninitialised):
    at_limit = b'{"a":' + b"[" * 299 + b"]" * 299 + b"}"  # depth 300
    assert uninitialised.call("PUT", "/v1/sys/init", raw=at_limit)[:2] == (
        400, {"errors": ["secret_shares must be at least one"]})


def test_a_lone_surrogate_no_longer_becomes_a_500_but_a_real_pair_is_text(server):
    lone = b'{"type": "kv", "description": "\\ud800"}'
    assert server.call("POST", "/v1/sys/mounts/s1", raw=lone, token=server.root_token)[:2] == (
        400, {"errors": [PARSE + "string contains an unpaired surrogate escape"]})
    pair = b'{"type": "kv", "description": "\\ud83d\\ude00"}'
    assert server.call("POST", "/v1/sys/mounts/s2", raw=pair, token=server.root_token)[0] == 204
    assert server.root("GET", "/v1/sys/mounts/s2")[1]["data"]["description"] == "\U0001F600"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
bodies = st.one_of(
    st.binary(max_size=300),
    st.dictionaries(st.sampled_from(["key", "reset", "nonce", "x"]), json_values, max_size=3).map(
        lambda d: json.dumps(d).encode()),
    json_values.map(lambda v: json.dumps(v).encode()),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=bodies)
def test_any_body_gets_a_json_answer_never_a_500(uninitialised, raw):
    status, body, headers = uninitialised.call("PUT", "/v1/sys/unseal", raw=raw)
    assert status in (200, 400), (status, body)
    assert headers["Content-Type"] == "application/json"
    if status == 400:
        assert isinstance(body["errors"], list) and all(isinstance(m, str) for m in body["errors"])


# -- body size, encoding and pace -----------------------------------------------------

TOO_LARGE = (413, {"errors": ["http: request body too large"]})


def test_body_over_max_request_size_is_413_with_content_length(small_server):
    body = b'{"reset": true, "pad": "' + b"x" * 2000 + b'"}'
    head = f"PUT /v1/sys/unseal HTTP/1.1\nContent-Length: {len(body)}\n"
    assert raw_http(small_server, head, body)[:2] == TOO_LARGE


def test_body_over_max_request_size_is_413_when_chunked(small_server):
    body = b'{"reset": true, "pad": "' + b"x" * 2000 + b'"}'
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + 100]), body[i:i + 100]) for i in range(0, len(body), 100))
    head = "PUT /v1/sys/unseal HTTP/1.1\nTransfer-Encoding: chunked\n"
    assert raw_http(small_server, head, chunks + b"0\r\n\r\n")[:2] == TOO_LARGE


def test_an_announced_huge_body_is_refused_before_it_is_sent(small_server):
    # No byte of the body follows: reading it would end in the 1 s timeout's 400, not a 413.
    head = "PUT /v1/sys/unseal HTTP/1.1\nContent-Length: 1000000000\n"
    assert raw_http(small_server, head)[:2] == TOO_LARGE


def test_a_body_of_exactly_max_request_size_is_read(small_server):
    body = b'{"reset": true}'
    exact = body + b" " * (SMALL - len(body))
    assert small_server.call("PUT", "/v1/sys/unseal", raw=exact)[0] == 200
    assert small_server.call("PUT", "/v1/sys/unseal", raw=exact + b" ")[:2] == TOO_LARGE


def test_a_client_too_slow_with_its_body_is_cut_off(small_server):
    started = time.monotonic()
    head = "PUT /v1/sys/unseal HTTP/1.1\nContent-Length: 15\n"
    status, body, _ = raw_http(small_server, head, b'{"reset"')
    assert (status, body) == (400, {"errors": ["timed out reading the request body"]})
    assert 0.9 < time.monotonic() - started < 5


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "br", "GZIP", "gzip, identity"])
async def test_compressed_request_bodies_are_415_and_never_inflated(production_runner, caplog, encoding):
    bomb = gzip.compress(b"0" * 10_000_000)  # 10 MB of zeros in about 10 KB
    async with aiohttp.ClientSession() as session:
        async with session.put(f"{production_runner}/sys/unseal", data=bomb,
                               headers={"Content-Encoding": encoding}) as resp:
            assert (resp.status, await resp.json()) == (
                415, {"errors": [f"unsupported Content-Encoding {encoding.lower()!r}"]})
            assert resp.headers["Cache-Control"] == "no-store"
    # aiohttp would otherwise inflate the unread body while discarding it (or, for br,
    # answer its own plain-text 400 before strongroom sees the request).
    assert not [r for r in caplog.records if r.name.startswith(("aiohttp", "strongroom")) and r.levelno >= logging.ERROR]


def test_identity_encoding_is_fine(uninitialised):
    status, _, _ = uninitialised.call("PUT", "/v1/sys/unseal", {"reset": True}, headers={"Content-Encoding": "identity"})
    assert status == 200


# -- one canonical path -----------------------------------------------------------------

DOTS = "request path contains '.' or '..' segments"


@pytest.mark.parametrize("target, message", [
    ("/v1/sys/%2e%2e/sys/mounts", DOTS),
    ("/v1/secret/../sys/mounts", DOTS),
    ("/v1/./sys/mounts", DOTS),
    ("/v1/sys/./mounts", DOTS),
    ("/v1/sys/mounts/.", DOTS),
    ("/v1/sys/mounts/..", DOTS),
    ("/v1/%2e/sys/mounts", DOTS),
    ("/v1/sys/mounts/.%2E/x", DOTS),
    ("/v1/sys%2Fmounts", "request path contains an encoded '/' (%2F)"),
    ("/v1/sys%2fmounts", "request path contains an encoded '/' (%2F)"),
    ("/v1/secret/x%2F..%2Fadmin", "request path contains an encoded '/' (%2F)"),
    ("/v1//sys/mounts", "request path contains an empty segment"),
    ("/v1/sys//mounts", "request path contains an empty segment"),
    ("/v1/sys/mounts%00", "request path contains control characters"),
    ("/v1/sys/mounts/a%09b", "request path contains control characters"),
    ("/v1/sys/mounts/a%0Db", "request path contains control characters"),
    ("/v1/sys/mounts/a%7Fb", "request path contains control characters"),
    ("/v1/sys/%252e%252e/x", "request path is percent-encoded twice"),
    ("/v1/sys/%zz", "invalid percent-encoding in request path"),
    ("/v1/sys/mounts/%ff", "request path is not valid UTF-8"),
    ("/v1/sys/mounts/%C0%AE%C0%AE", "request path is not valid UTF-8"),
])
def test_ambiguous_paths_are_400_and_reach_no_handler(unsealed, monkeypatch, target, message):
    server = unsealed
    reached: list[str] = []
    router_match, engine_for = server.core.router.match, server.core.engine_for
    monkeypatch.setattr(server.core.router, "match", lambda path: reached.append(path) or router_match(path))
    monkeypatch.setattr(server.core, "engine_for", lambda path: reached.append(path) or engine_for(path))
    status, body, headers = raw_http(server, f"GET {target} HTTP/1.1\nX-Vault-Token: {server.root_token}\n")
    assert (status, body) == (400, {"errors": [message]})
    assert headers["Cache-Control"] == "no-store"
    assert reached == []


def test_a_newline_in_the_path_is_400_like_other_control_characters(unsealed):
    server = unsealed
    status, body, _ = raw_http(server, f"GET /v1/sys/mounts/a%0Ab HTTP/1.1\nX-Vault-Token: {server.root_token}\n")
    assert (status, body) == (400, {"errors": ["request path contains control characters"]})


def test_the_path_is_checked_before_the_seal(server):
    server.root("PUT", "/v1/sys/seal")
    assert raw_http(server, "GET /v1/sys/../sys/seal-status HTTP/1.1\n")[:2] == (400, {"errors": [DOTS]})


# -- tokens -----------------------------------------------------------------------------


@pytest.mark.parametrize("headers, query", [
    ({}, ""),
    ({"X-Vault-Token": ""}, ""),
    ({"X-Vault-Token": "s.bogus"}, ""),
    ({"X-Vault-Token": "s." + "x" * 20000}, ""),
    ({"Authorization": "Bearer s.bogus"}, ""),
    ({"Authorization": "Basic cm9vdDpyb290"}, ""),
    ({}, "?token={root}"),
    ({}, "?X-Vault-Token={root}"),
    ({}, "?client_token={root}"),
    ({"Authorization": "{root}"}, ""),
])
def test_no_token_bad_token_or_a_query_string_token_is_403(unsealed, headers, query):
    server = unsealed
    headers = {k: v.format(root=server.root_token) for k, v in headers.items()}
    status, body, _ = server.call("GET", "/v1/sys/mounts" + query.format(root=server.root_token), headers=headers)
    assert (status, body) == (403, DENIED)


def test_the_root_token_works_in_either_header(unsealed):
    server = unsealed
    assert server.call("GET", "/v1/sys/mounts", headers={"X-Vault-Token": server.root_token})[0] == 200
    assert server.call("GET", "/v1/sys/mounts", headers={"Authorization": f"Bearer {server.root_token}"})[0] == 200


def test_auth_comes_before_routing(unsealed):
    server = unsealed
    for path in ("/v1/sys/nope", "/v1/", "/v1/secret/foo"):
        assert server.call("GET", path)[:2] == (403, DENIED)


# -- status codes and error shapes ------------------------------------------------------


@pytest.mark.parametrize("method, path, expected", [
    ("GET", "/v1/sys/nope", (404, {"errors": ["unsupported path"]})),
    ("GET", "/v1/sys/nope/deeper", (404, {"errors": ["unsupported path"]})),
    ("GET", "/v1/secret/foo", (404, {"errors": ['no handler for route "secret/foo". route entry not found.']})),
    ("GET", "/v1/", (404, {"errors": ['no handler for route "". route entry not found.']})),
    ("GET", "/v1", (404, {"errors": []})),
    ("GET", "/", (404, {"errors": []})),
    ("GET", "/v2/sys/health", (404, {"errors": []})),
    ("GET", "/v1/sys/rotate", (405, {"errors": ["unsupported operation"]})),
    ("PATCH", "/v1/sys/mounts/kv", (405, {"errors": ["unsupported operation"]})),
    ("FOO", "/v1/sys/mounts", (405, {"errors": ["unsupported operation"]})),
    ("LIST", "/v1/sys/mounts", (404, {"errors": ["unsupported path"]})),
    ("GET", "/v1/sys/mounts?list=true", (404, {"errors": ["unsupported path"]})),
])
def test_unknown_paths_and_methods_with_root(unsealed, method, path, expected):
    server = unsealed
    body = b"{}" if method in ("PATCH", "FOO") else b""
    head = f"{method} {path} HTTP/1.1\nX-Vault-Token: {server.root_token}\nContent-Length: {len(body)}\n"
    status, reply, headers = raw_http(server, head, body)
    assert (status, reply) == expected
    assert headers["Content-Type"] == "application/json" and headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("method, path", [("DELETE", "/v1/sys/seal-status"), ("POST", "/v1/sys/health"),
                                          ("GET", "/v1/sys/unseal"), ("GET", "/v1/sys/seal"),
                                          ("DELETE", "/v1/sys/init")])
def test_wrong_method_on_a_raw_endpoint_has_an_empty_error_list(unsealed, method, path):
    assert unsealed.root(method, path)[:2] == (405, {"errors": []})


def test_wrong_method_on_a_raw_endpoint_is_405(unsealed):
    server = unsealed
    for method, path in (("DELETE", "/v1/sys/seal-status"), ("POST", "/v1/sys/health"), ("GET", "/v1/sys/unseal"),
                         ("GET", "/v1/sys/seal"), ("DELETE", "/v1/sys/init"), ("PUT", "/v1/sys/leader")):
        assert server.root(method, path, {} if method in ("PUT", "POST") else None)[0] == 405, (method, path)


def test_cache_control_no_store_on_every_kind_of_response(server):
    root = server.root_token
    unsealed = [
        ("GET", "/v1/sys/mounts", root, 200),
        ("GET", "/v1/sys/seal-status", None, 200),
        ("HEAD", "/v1/sys/health", None, 200),
        ("POST", "/v1/sys/rotate", root, 204),
        ("GET", "/v1/sys/mounts", None, 403),
        ("GET", "/v1/sys/nope", root, 404),
        ("GET", "/", None, 404),
        ("GET", "/v1/sys/rotate", root, 405),
        ("PUT", "/v1/sys/unseal", None, 400),
    ]
    sealed = [("GET", "/v1/sys/mounts", root, 503), ("GET", "/v1/sys/leader", None, 503)]
    for calls in (unsealed, sealed):
        for method, path, token, expected in calls:
            status, _, headers = server.call(method, path, {} if method in ("PUT", "POST") else None, token=token)
            assert status == expected, path
            assert headers["Cache-Control"] == "no-store", (method, path)
            assert headers["Content-Type"] == "application/json", (method, path)
        server.root("PUT", "/v1/sys/seal")


# -- the access log ---------------------------------------------------------------------


async def test_the_access_log_never_holds_a_query_string_a_body_or_a_token(production_runner, caplog):
    caplog.set_level(logging.DEBUG)
    base = production_runner
    async with aiohttp.ClientSession() as session:
        async with session.put(f"{base}/sys/init", json={"secret_shares": 1, "secret_threshold": 1}) as resp:
            token = (await resp.json())["root_token"]
        requests = [
            ("GET", f"{base}/sys/health?secret=marker-one", None, {}),
            ("PUT", f"{base}/sys/unseal?key=marker-two", {"key": "marker-three"}, {}),
            ("GET", f"{base}/sys/mounts?token={token}", None, {"X-Vault-Token": token}),
            ("GET", f"{base}/sys/mounts/a%0Amarker-four%0A", None, {}),
        ]
        for method, url, body, headers in requests:
            async with session.request(method, url, json=body, headers=headers) as resp:
                await resp.read()
    # A raw quote and backslash, which no client library would leave unencoded.
    host, port = base.removeprefix("http://").removesuffix("/v1").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(b'GET /v1/sys/x"\\y HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n')
    await reader.read()
    writer.close()
    access = [r.getMessage() for r in caplog.records if r.name == "aiohttp.access"]
    assert len(access) == 6
    assert '"GET /v1/sys/x%22%5Cy" 503' in access[5]  # sealed
    assert '"GET /v1/sys/health" 503' in access[1]  # initialised, still sealed
    assert '"PUT /v1/sys/unseal" 400' in access[2]
    assert '"GET /v1/sys/mounts" 503' in access[3]
    assert '"GET /v1/sys/mounts/a%0Amarker-four%0A" ' in access[4]  # escaped: still one line
    assert not any("?" in line or "\n" in line for line in access)
    everything = "\n".join(r.getMessage() for r in caplog.records)
    for secret in ("marker-one", "marker-two", "marker-three", token):
        assert secret not in everything


def test_null_body_is_an_empty_object(server):
    # `bao write -f` sends `null` for "no fields"; Vault reads it as {}.
    status, body, _ = server.call("PUT", "/v1/sys/seal", raw=b"null", token=server.root_token)
    assert status == 204


def test_a_body_over_aiohttps_own_one_mib_default_is_read_when_the_listener_allows_it(server):
    plaintext = base64.b64encode(os.urandom(2 * 1024 * 1024)).decode()  # the listener allows 32 MiB
    server.root("POST", "/v1/sys/mounts/transit", {"type": "transit"})
    status, body, _ = server.root("POST", "/v1/transit/encrypt/big", {"plaintext": plaintext})
    assert status == 200, body
    ciphertext = body["data"]["ciphertext"]
    assert server.root("POST", "/v1/transit/decrypt/big", {"ciphertext": ciphertext})[1]["data"]["plaintext"] == plaintext


def test_expect_100_continue_is_answered_and_other_expectations_are_417(unsealed):
    host, port = unsealed.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(b"POST /v1/sys/unseal-check HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n"
                     b"Expect: 100-continue\r\n\r\n")
        assert conn.recv(64).startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
    status, body, _ = unsealed.call("GET", "/v1/sys/health", headers={"Expect": "teapot"})
    assert (status, body) == (417, {"errors": ["unsupported Expect header"]})
