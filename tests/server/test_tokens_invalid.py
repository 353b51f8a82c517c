"""Every way a token can be bad gets one answer, 403 `permission denied`, on every path, with
no hint whether the path exists; and a num_uses=N token serves exactly N of many concurrent
requests."""

from __future__ import annotations

import asyncio
import concurrent.futures
import time

import aiohttp
import pytest

from test_policy_support import DENIED, new_token, raw_call, shared_server

PROBED = ["/v1/sys/mounts", "/v1/sys/policy/default", "/v1/auth/token/lookup-self", "/v1/secret/present",
          "/v1/secret/absent", "/v1/nowhere/at/all", "/v1/sys/no-such-endpoint"]


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    with shared_server(tmp_path_factory, ("secret", "1")) as server:
        server.root("PUT", "/v1/secret/present", {"v": "1"})
        yield server


def _revoked(server) -> str:
    token = new_token(server, policies=["default"])
    server.root("POST", "/v1/auth/token/revoke", {"token": token})
    return token


def _expired(server) -> str:
    server.core.tokens.sweep = lambda now: 0
    token = new_token(server, policies=["default"], ttl="1s")
    time.sleep(1.1)
    return token


def _used_up(server) -> str:
    token = new_token(server, policies=["default"], num_uses=1)
    server.call("GET", "/v1/auth/token/lookup-self", token=token)
    return token


BAD_TOKENS = {
    "empty": lambda s: "",
    "malformed": lambda s: "not-a-token",
    "prefix-only": lambda s: "s.",
    "well-formed-unknown": lambda s: "s.AAAAAAAAAAAAAAAAAAAAAAAA",
    "root-with-suffix": lambda s: s.root_token + "x",
    "root-truncated": lambda s: s.root_token[:-1],
    "latin1-bytes": lambda s: "s.\xe9\xe8\xff",
    "huge-20k": lambda s: "s." + "A" * 20_000,
    "revoked": _revoked,
    "expired": _expired,
    "used-up": _used_up,
}


@pytest.mark.parametrize("kind", sorted(BAD_TOKENS))
def test_bad_token_gets_the_same_403_everywhere(srv, kind):
    token = BAD_TOKENS[kind](srv)
    for path in PROBED:
        assert raw_call(srv, "GET", path, token=token) == DENIED, path
        assert raw_call(srv, "POST", path, token=token, body={"v": "2"}) == DENIED, path
    assert srv.root("GET", "/v1/secret/present")[1]["data"] == {"v": "1"}  # nothing was written


def test_missing_token_gets_the_same_403_everywhere(srv):
    for path in PROBED:
        assert raw_call(srv, "GET", path) == DENIED, path
        assert raw_call(srv, "DELETE", path) == DENIED, path


def test_bearer_header_is_checked_like_x_vault_token(srv):
    for value in ("Bearer ", "Bearer garbage", "Basic " + srv.root_token, srv.root_token):
        assert raw_call(srv, "GET", "/v1/sys/mounts", headers={"Authorization": value}) == DENIED, value
    assert raw_call(srv, "GET", "/v1/sys/mounts", headers={"Authorization": "Bearer " + srv.root_token})[0] == 200


def test_token_in_the_query_string_is_ignored(srv):
    assert raw_call(srv, "GET", f"/v1/sys/mounts?token={srv.root_token}") == DENIED
    assert raw_call(srv, "GET", f"/v1/sys/mounts?X-Vault-Token={srv.root_token}") == DENIED


def test_num_uses_under_50_concurrent_threads(srv):
    token = new_token(srv, policies=["default"], num_uses=7)
    with concurrent.futures.ThreadPoolExecutor(max_workers=50) as pool:
        replies = list(pool.map(lambda _: raw_call(srv, "GET", "/v1/auth/token/lookup-self", token=token),
                                range(50)))
    assert sum(status == 200 for status, _ in replies) == 7
    assert [reply for reply in replies if reply[0] != 200] == [DENIED] * 43


def test_num_uses_under_50_concurrent_aiohttp_requests(srv):
    token = new_token(srv, policies=["default"], num_uses=11)

    async def hammer() -> list[int]:
        async with aiohttp.ClientSession(headers={"X-Vault-Token": token}) as session:
            async def one() -> int:
                async with session.get(srv.url + "/v1/auth/token/lookup-self") as response:
                    await response.read()
                    return response.status
            return await asyncio.gather(*(one() for _ in range(50)))

    statuses = asyncio.run(hammer())
    assert statuses.count(200) == 11 and statuses.count(403) == 39
