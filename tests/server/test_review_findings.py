"""Regressions for defects a security review found: each test failed before its fix."""

import socket

import pytest

from server.tokens import TokenError


def raw_request(server, request: bytes) -> bytes:
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(request)
        return sock.recv(65536)


def test_a_raw_non_utf8_byte_in_the_path_is_400_not_500(server):
    reply = raw_request(server, b"POST /v1/sys/mounts/\xff HTTP/1.1\r\nHost: x\r\nX-Vault-Token: "
                        + server.root_token.encode() + b"\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}")
    assert reply.startswith(b"HTTP/1.1 400") and b"not valid UTF-8" in reply


@pytest.mark.parametrize("number", ["1180591620717411303424", "-9223372036854775809"])
def test_integers_msgpack_cannot_hold_are_400(server, number):
    status, body, _ = server.call("PUT", "/v1/cubbyhole/x", raw=f'{{"a": {number}}}'.encode(),
                                  token=server.root_token)
    assert (status, body) == (400, {"errors": ["a value in the request cannot be stored (integers are limited to 64 bits)"]})


def test_renew_never_brings_back_a_revoked_token(server):
    status, body, _ = server.root("POST", "/v1/auth/token/create", {"policies": ["default"], "ttl": "1h"})
    token = body["auth"]["client_token"]
    stale = server.core.tokens.lookup(token)  # what a request looked up before a revoke landed
    server.core.tokens.revoke(stale.digest)
    with pytest.raises(TokenError):
        server.core.tokens.renew(stale)
    assert server.core.tokens.lookup(token) is None
    assert server.call("GET", "/v1/auth/token/lookup-self", token=token)[0] == 403


def test_a_wrapping_token_exists_only_with_its_response(server):
    before = len(server.core.tokens.accessors())

    def broken(digest):
        raise RuntimeError("the response write failed")

    with pytest.raises(RuntimeError):
        server.core.tokens.create(None, policies=["response-wrapping"], ttl=60, num_uses=1, orphan=True,
                                  also=broken)
    assert len(server.core.tokens.accessors()) == before


def test_disabling_an_auth_method_revokes_its_tokens_first(server):
    server.root("POST", "/v1/sys/auth/userpass", {"type": "userpass"})
    server.root("POST", "/v1/auth/userpass/users/alice", {"password": "correct horse battery", "token_policies": "default"})
    status, body, _ = server.call("POST", "/v1/auth/userpass/login/alice", {"password": "correct horse battery"})
    token = body["auth"]["client_token"]
    assert server.root("DELETE", "/v1/sys/auth/userpass")[0] == 204
    assert server.call("GET", "/v1/auth/token/lookup-self", token=token)[0] == 403
