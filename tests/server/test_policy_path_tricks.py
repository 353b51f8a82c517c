"""One test per way of dressing up a path to dodge a deny: each request either meets the deny
(403), is refused as ambiguous (400), or names something that is not the denied secret — and
never returns the denied data. Targets go out byte for byte through http.client."""

from __future__ import annotations

import pytest

from test_policy_support import DENIED, new_token, raw_call, shared_server, write_policy

POLICY = """
path "secret/*" { capabilities = ["create", "read", "update", "delete", "list"] }
path "secret/admin" { capabilities = ["deny"] }
path "kv/metadata/*" { capabilities = ["read", "list"] }
path "kv/metadata/admin" { capabilities = ["deny"] }
path "kv/metadata/private/*" { capabilities = ["deny"] }
path "sys/mounts" { capabilities = ["read"] }
"""
ADMIN = {"v": "root-only"}
EMPTY_SEGMENT = (400, {"errors": ["request path contains an empty segment"]})
DOT_SEGMENT = (400, {"errors": ["request path contains '.' or '..' segments"]})
UNSUPPORTED = (405, {"errors": ["unsupported operation"]})


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    with shared_server(tmp_path_factory, ("secret", "1"), ("kv", "2")) as server:
        server.root("PUT", "/v1/secret/admin", ADMIN)
        server.root("PUT", "/v1/secret/public", {"v": "p"})
        for path in ("admin/inner", "private/x", "open/y"):
            server.root("PUT", f"/v1/kv/data/{path}", {"data": {"v": path}})
        write_policy(server, "tricks", POLICY)
        yield server


@pytest.fixture(scope="module")
def token(srv):
    return new_token(srv, policies=["tricks"])


def _admin_untouched(srv) -> None:
    assert srv.root("GET", "/v1/secret/admin")[1]["data"] == ADMIN


def test_the_deny_and_the_grant_as_written(srv, token):
    assert raw_call(srv, "GET", "/v1/secret/admin", token) == DENIED
    status, body = raw_call(srv, "GET", "/v1/secret/public", token)
    assert status == 200 and body["data"] == {"v": "p"}


@pytest.mark.parametrize("target", ["/v1/secret//admin", "/v1//secret/admin", "/v1/secret/admin//",
                                    "/v1/secret///admin"])
def test_double_slashes_are_refused(srv, token, target):
    assert raw_call(srv, "GET", target, token) == EMPTY_SEGMENT
    assert raw_call(srv, "PUT", target, token, {"v": "x"}) == EMPTY_SEGMENT
    _admin_untouched(srv)


@pytest.mark.parametrize("target", ["/v1/secret/./admin", "/v1/./secret/admin", "/v1/secret/admin/.",
                                    "/v1/secret/public/../admin", "/v1/sys/../secret/admin",
                                    "/v1/secret/x/../../secret/admin", "/v1/secret/admin/.."])
def test_dot_and_dot_dot_segments_are_refused(srv, token, target):
    assert raw_call(srv, "GET", target, token) == DOT_SEGMENT
    assert raw_call(srv, "DELETE", target, token) == DOT_SEGMENT
    _admin_untouched(srv)


@pytest.mark.parametrize("target", ["/v1/secret/public/%2e%2e/admin", "/v1/secret/public/%2E%2E/admin",
                                    "/v1/secret/public/.%2e/admin", "/v1/secret/public/%2e./admin"])
def test_percent_encoded_dot_dot_is_refused(srv, token, target):
    assert raw_call(srv, "GET", target, token) == DOT_SEGMENT
    _admin_untouched(srv)


@pytest.mark.parametrize("target", ["/v1/secret/%2e/admin", "/v1/secret/%2E/admin", "/v1/%2e/secret/admin"])
def test_percent_encoded_dot_is_refused(srv, token, target):
    assert raw_call(srv, "GET", target, token) == DOT_SEGMENT


def test_percent_encoded_slash_is_refused(srv, token):
    encoded_slash = (400, {"errors": ["request path contains an encoded '/' (%2F)"]})
    for target in ("/v1/secret%2Fadmin", "/v1/secret%2fadmin", "/v1/secret/public%2F..%2Fadmin",
                   "/v1/secret%2Fpublic"):
        assert raw_call(srv, "GET", target, token) == encoded_slash, target
    _admin_untouched(srv)


def test_double_percent_encoding_is_refused(srv, token):
    twice = (400, {"errors": ["request path is percent-encoded twice"]})
    for target in ("/v1/secret/x/%252e%252e/admin", "/v1/secret%252Fadmin", "/v1/secret/%25%32%65%25%32%65/admin"):
        assert raw_call(srv, "GET", target, token) == twice, target
    assert raw_call(srv, "GET", "/v1/secret/%zz", token) == (
        400, {"errors": ["invalid percent-encoding in request path"]})


def test_trailing_slash_does_not_dodge_the_deny(srv, token):
    for method, body in (("GET", None), ("PUT", {"v": "x"}), ("DELETE", None), ("PATCH", {"v": "x"})):
        assert raw_call(srv, method, "/v1/secret/admin/", token, body) == DENIED, method
    assert raw_call(srv, "GET", "/v1/secret/admin/?list=true", token) == DENIED
    assert raw_call(srv, "LIST", "/v1/secret/admin/", token) == DENIED
    # Without a deny the slash only names another path (nothing is stored under it).
    assert raw_call(srv, "GET", "/v1/secret/public/", token) == (404, {"errors": []})
    _admin_untouched(srv)


def test_case_variations_name_other_paths(srv, token):
    for target in ("/v1/Secret/admin", "/v1/SECRET/admin", "/v1/Secret/public"):
        assert raw_call(srv, "GET", target, token) == DENIED, target  # no grant on another mount path
    for target in ("/v1/secret/ADMIN", "/v1/secret/Admin"):
        assert raw_call(srv, "GET", target, token) == (404, {"errors": []}), target  # another, absent key
    assert raw_call(srv, "GET", "/v1/Secret/admin", srv.root_token) == (
        404, {"errors": ['no handler for route "Secret/admin". route entry not found.']})


def test_list_honours_a_more_specific_exact_deny(srv, token):
    assert raw_call(srv, "LIST", "/v1/kv/metadata/admin", srv.root_token)[1]["data"]["keys"] == ["inner"]
    for method, target in (("LIST", "/v1/kv/metadata/admin"), ("LIST", "/v1/kv/metadata/admin/"),
                           ("GET", "/v1/kv/metadata/admin?list=true"), ("GET", "/v1/kv/metadata/admin/?list=true")):
        assert raw_call(srv, method, target, token) == DENIED, (method, target)
    status, body = raw_call(srv, "LIST", "/v1/kv/metadata/open", token)
    assert status == 200 and body["data"]["keys"] == ["y"]


def test_list_honours_a_more_specific_glob_deny(srv, token):
    # OpenBao GHSA-xp3c-3jw3-4vcr: list on kv/metadata/* must not beat a deny on kv/metadata/private/*.
    for target in ("/v1/kv/metadata/private", "/v1/kv/metadata/private/"):
        assert raw_call(srv, "LIST", target, token) == DENIED, target
    assert raw_call(srv, "GET", "/v1/kv/metadata/private/x", token) == DENIED


def test_head_never_returns_data(srv, token):
    assert raw_call(srv, "HEAD", "/v1/secret/admin", token) == (403, None)
    assert raw_call(srv, "HEAD", "/v1/secret/public", token) == (403, None)  # HEAD is no capability
    assert raw_call(srv, "HEAD", "/v1/secret/admin", srv.root_token) == (405, None)
    assert raw_call(srv, "HEAD", "/v1/secret/admin") == (403, None)


def test_options_never_reaches_a_handler(srv, token):
    for who in (token, srv.root_token):
        assert raw_call(srv, "OPTIONS", "/v1/secret/admin", who) == UNSUPPORTED
    assert raw_call(srv, "OPTIONS", "/v1/sys/mounts", token) == UNSUPPORTED


@pytest.mark.parametrize("method", ["FOO", "PROPFIND", "MKCOL", "TRACE", "PURGE", "SEARCH"])
def test_unknown_methods_are_refused_before_the_check(srv, token, method):
    for who in (token, srv.root_token, None):
        assert raw_call(srv, method, "/v1/secret/admin", who) == UNSUPPORTED
        assert raw_call(srv, method, "/v1/secret/public", who) == UNSUPPORTED
    _admin_untouched(srv)


@pytest.mark.parametrize(("method", "canonical"), [("get", "GET"), ("Delete", "DELETE"), ("list", "LIST"),
                                                   ("pUt", "PUT")])
def test_method_case_variants_are_checked_as_their_method(srv, token, method, canonical):
    # aiohttp upper-cases the method; what matters is that the ACL sees that same method.
    body = {"v": "x"} if canonical == "PUT" else None
    assert raw_call(srv, method, "/v1/secret/admin", token, body) == DENIED
    assert raw_call(srv, method, "/v1/kv/metadata/admin", token, body) == DENIED
    _admin_untouched(srv)


@pytest.mark.parametrize("header", ["X-HTTP-Method-Override", "X-HTTP-Method", "X-Method-Override"])
def test_method_override_headers_are_ignored(srv, header):
    write_policy(srv, "public-reader", 'path "secret/public" { capabilities = ["read"] }')
    reader = new_token(srv, policies=["public-reader"])
    assert raw_call(srv, "POST", "/v1/secret/public", reader, {"v": "x"}, {header: "GET"}) == DENIED
    status, body = raw_call(srv, "GET", "/v1/secret/public", reader, headers={header: "DELETE"})
    assert status == 200 and body["data"] == {"v": "p"}
    assert raw_call(srv, "GET", "/v1/secret/public", reader, headers={header: "LIST"})[0] == 200
    assert srv.root("GET", "/v1/secret/public")[1]["data"] == {"v": "p"}
    assert raw_call(srv, "POST", "/v1/secret/admin", srv.root_token, {"v": "x"}, {header: "GET"})[0] == 204
    srv.root("PUT", "/v1/secret/admin", ADMIN)


def test_control_characters_and_outside_api_targets(srv, token):
    assert raw_call(srv, "GET", "/v1/secret/admin%00", token) == (
        400, {"errors": ["request path contains control characters"]})
    assert raw_call(srv, "GET", "//v1/secret/admin", token) == (404, {"errors": []})
    assert raw_call(srv, "GET", "/v2/../v1/secret/admin", token) == (404, {"errors": []})
