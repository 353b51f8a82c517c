"""allowed_parameters, denied_parameters, required_parameters and min/max_wrapping_ttl: as
parsed and merged, as checked (server.acl.parameters_allowed), and on real kv writes."""

from __future__ import annotations

import pytest

from server.acl import ACL, parameters_allowed
from server.policy import PolicyError, parse_policy
from test_policy_support import DENIED, new_token, shared_server, write_policy


def _rule(body: str, *more: str):
    """The rule governing path "p" for policies each holding one `path "p"` block."""
    policies = [parse_policy(f"p{i}", f'path "p" {{ capabilities = ["update"]\n{text} }}')
                for i, text in enumerate((body, *more))]
    return ACL(policies).rule_for("p", "update")


@pytest.mark.parametrize(("data", "ok"), [
    ({}, True),
    ({"color": "red"}, True),
    ({"color": "blue", "size": "l"}, True),
    ({"color": "green"}, False),
    ({"COLOR": "red"}, True),
    ({"color": ["red", "blue"]}, True),
    ({"color": ["red", "green"]}, False),
    ({"weight": 1}, False),
    ({"size": "anything"}, True),
])
def test_allowed_parameters(data, ok):
    rule = _rule('allowed_parameters = { "Color" = ["red", "blue"]\n "size" = [] }')
    assert parameters_allowed(rule, data) is ok


@pytest.mark.parametrize(("data", "ok"), [
    ({"name": "x"}, True),
    ({"admin": "x"}, False),
    ({"ADMIN": True}, False),
    ({"Admin": None}, False),
    ({"level": "low"}, True),
    ({"level": "root-ish"}, False),
    ({"level": ["low", "root"]}, False),
    ({"tag": "prod-eu"}, False),
    ({"tag": "dev-eu"}, True),
    ({"note": "says secret here"}, False),
    ({"note": "harmless"}, True),
])
def test_denied_parameters(data, ok):
    rule = _rule('denied_parameters = { "admin" = []\n "level" = ["root*"]\n "tag" = ["prod*"]\n'
                 ' "note" = ["*secret*"] }')
    assert parameters_allowed(rule, data) is ok


def test_denied_star_refuses_any_parameter():
    rule = _rule('denied_parameters = { "*" = ["only-this"] }')
    assert parameters_allowed(rule, {}) is True
    assert parameters_allowed(rule, {"anything": "else"}) is False


def test_allowed_star_admits_unlisted_names():
    rule = _rule('allowed_parameters = { "*" = []\n "color" = ["red"] }')
    assert parameters_allowed(rule, {"shape": "round", "color": "red"}) is True
    assert parameters_allowed(rule, {"color": "green"}) is False


def test_value_globs_follow_vault():
    rule = _rule('allowed_parameters = { "name" = ["app-*", "*-svc", "*mid*", "exact"] }')
    for value, ok in (("app-web", True), ("db-svc", True), ("a-mid-b", True), ("exact", True),
                      ("exactly", False), ("web", False), (5, False)):
        assert parameters_allowed(rule, {"name": value}) is ok, value


def test_required_parameters():
    rule = _rule('required_parameters = ["Owner", "ttl"]')
    assert parameters_allowed(rule, {"owner": "me", "ttl": "1h"}) is True
    assert parameters_allowed(rule, {"owner": "me"}) is False
    assert parameters_allowed(rule, {}) is False


def test_one_parameter_under_two_spellings_is_refused():
    rule = _rule('denied_parameters = { "admin" = ["true"] }')
    assert parameters_allowed(rule, {"admin": "false", "ADMIN": "true"}) is False


def test_merging_parameters_across_policies():
    merged = _rule('allowed_parameters = { "color" = ["red"] }', 'allowed_parameters = { "color" = ["blue"] }')
    assert merged.allowed_parameters == {"color": ["red", "blue"]}
    opened = _rule('allowed_parameters = { "color" = ["red"] }', 'allowed_parameters = { "color" = [] }')
    assert parameters_allowed(opened, {"color": "green"}) is True
    restricted = _rule("", 'allowed_parameters = { "color" = [] }')
    assert parameters_allowed(restricted, {"shape": "x"}) is False  # Vault merges a restriction in
    required = _rule('required_parameters = ["a"]', 'required_parameters = ["b"]')
    assert required.required_parameters == ("a", "b")
    wrapped = _rule('min_wrapping_ttl = "2m"\n max_wrapping_ttl = "1h"', 'min_wrapping_ttl = "1m"\n'
                    ' max_wrapping_ttl = "10m"')
    assert (wrapped.min_wrapping_ttl, wrapped.max_wrapping_ttl) == (60, 600)  # the lesser of each
    denied = _rule('allowed_parameters = { "a" = [] }', 'denied_parameters = { "b" = [] }')
    assert (denied.allowed_parameters, denied.denied_parameters) == ({"a": []}, {"b": []})


def test_bad_parameter_and_wrapping_clauses_are_refused():
    for body in ('allowed_parameters = "color"', 'allowed_parameters = { "color" = "red" }',
                 'required_parameters = "owner"', 'min_wrapping_ttl = "soon"',
                 'min_wrapping_ttl = "1h"\n max_wrapping_ttl = "1m"'):
        with pytest.raises(PolicyError, match="^failed to parse policy: path \"p\""):
            parse_policy("bad", f'path "p" {{ capabilities = ["read"]\n{body} }}')


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    with shared_server(tmp_path_factory, ("secret", "1")) as server:
        write_policy(server, "params", """
path "secret/colors/*" {
  capabilities = ["create", "update", "read"]
  allowed_parameters = { "color" = ["red", "blue"], "note" = [] }
}
path "secret/users/*" {
  capabilities = ["create", "update"]
  denied_parameters = { "admin" = [] }
  required_parameters = ["owner"]
}
path "secret/wrapped/*" {
  capabilities = ["read"]
  min_wrapping_ttl = "1m"
  max_wrapping_ttl = "10m"
}
path "secret/capped/*" {
  capabilities = ["read"]
  max_wrapping_ttl = "10m"
}
""")
        for path in ("wrapped/x", "capped/x"):
            server.root("PUT", f"/v1/secret/{path}", {"v": path})
        yield server


@pytest.fixture(scope="module")
def token(srv):
    return new_token(srv, policies=["params"])


def test_parameters_on_real_writes(srv, token):
    assert srv.call("PUT", "/v1/secret/colors/a", {"color": "red", "note": "hi"}, token=token)[0] == 204
    assert srv.call("PUT", "/v1/secret/colors/a", {"color": "green"}, token=token)[:2] == DENIED
    assert srv.call("PUT", "/v1/secret/colors/a", {"color": "red", "size": "l"}, token=token)[:2] == DENIED
    assert srv.call("PUT", "/v1/secret/users/u", {"owner": "me", "name": "u"}, token=token)[0] == 204
    assert srv.call("PUT", "/v1/secret/users/u", {"owner": "me", "admin": False}, token=token)[:2] == DENIED
    assert srv.call("PUT", "/v1/secret/users/u", {"owner": "me", "Admin": True}, token=token)[:2] == DENIED
    assert srv.call("PUT", "/v1/secret/users/v", {"name": "v"}, token=token)[:2] == DENIED
    assert srv.root("GET", "/v1/secret/colors/a")[1]["data"] == {"color": "red", "note": "hi"}
    assert srv.root("GET", "/v1/secret/users/v")[0] == 404


def test_min_wrapping_ttl_refuses_unwrapped_requests(srv, token):
    assert srv.call("GET", "/v1/secret/wrapped/x", token=token)[:2] == DENIED
    assert srv.call("GET", "/v1/secret/wrapped/x", token=token, headers={"X-Vault-Wrap-TTL": "30s"})[:2] == DENIED
    assert srv.call("GET", "/v1/secret/wrapped/x", token=token, headers={"X-Vault-Wrap-TTL": "1h"})[:2] == DENIED
    status, body, _ = srv.call("GET", "/v1/secret/wrapped/x", token=token, headers={"X-Vault-Wrap-TTL": "5m"})
    assert status == 200 and body["data"] is None and body["wrap_info"]["ttl"] == 300


def test_max_wrapping_ttl_alone_also_requires_wrapping(srv, token):
    # Vault: a set maximum admits only wrapped responses (nil WrapInfo is refused).
    assert srv.call("GET", "/v1/secret/capped/x", token=token)[:2] == DENIED
    assert srv.call("GET", "/v1/secret/capped/x", token=token, headers={"X-Vault-Wrap-TTL": "11m"})[:2] == DENIED
    assert srv.call("GET", "/v1/secret/capped/x", token=token, headers={"X-Vault-Wrap-TTL": "600"})[0] == 200


def test_bad_wrap_ttl_header_is_a_400(srv, token):
    assert srv.call("GET", "/v1/secret/wrapped/x", token=token, headers={"X-Vault-Wrap-TTL": "soon"})[:2] == (
        400, {"errors": ["invalid X-Vault-Wrap-TTL"]})
