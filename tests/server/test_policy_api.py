"""sys/policy, sys/policies/acl and sys/capabilities*: Vault's shapes through hvac and raw
HTTP, the built-in root and default policies, and policy names that must never mean root."""

from __future__ import annotations

import hvac
import pytest

from test_policy_support import DENIED, new_token, token_for, write_policy

APP_HCL = """
# the application's secrets
path "secret/app/*" {
  capabilities = ["read", "list"]
}
path "sys/mounts" { capabilities = ["read"] }
"""
ENVELOPE = {"request_id", "lease_id", "renewable", "lease_duration", "data", "wrap_info", "warnings", "auth"}


def _client(server, token=None) -> hvac.Client:
    return hvac.Client(url=server.url, token=token or server.root_token)


def test_sys_policy_shapes(server):
    write_policy(server, "app", APP_HCL)
    status, body, _ = server.root("GET", "/v1/sys/policy/app")
    assert status == 200 and set(body) == ENVELOPE | {"name", "rules"}
    assert body["data"] == {"name": "app", "rules": APP_HCL} and (body["name"], body["rules"]) == ("app", APP_HCL)
    status, body, _ = server.root("GET", "/v1/sys/policy")
    expected = ["app", "default", "root"]
    assert status == 200 and body["data"] == {"keys": expected, "policies": expected}
    assert (body["keys"], body["policies"]) == (expected, expected)


def test_sys_policies_acl_shapes(server):
    assert server.root("PUT", "/v1/sys/policies/acl/app", {"policy": APP_HCL})[0] == 204
    status, body, _ = server.root("GET", "/v1/sys/policies/acl/app")
    assert status == 200 and set(body) == ENVELOPE and body["data"] == {"name": "app", "policy": APP_HCL}
    status, body, _ = server.root("LIST", "/v1/sys/policies/acl")
    assert status == 200 and body["data"] == {"keys": ["app", "default", "root"]}
    assert server.root("GET", "/v1/sys/policies/acl?list=true")[1]["data"] == {"keys": ["app", "default", "root"]}
    assert server.root("DELETE", "/v1/sys/policies/acl/app")[0] == 204
    assert server.root("GET", "/v1/sys/policies/acl/app")[:2] == (404, {"errors": []})


def test_hvac_policy_round_trip(server):
    client = _client(server)
    client.sys.create_or_update_policy("app", APP_HCL)
    assert client.sys.read_policy("app")["data"]["rules"] == APP_HCL
    assert client.sys.list_policies()["data"]["policies"] == ["app", "default", "root"]
    client.sys.create_or_update_acl_policy("json-app", {"path": {"secret/json/*": {"capabilities": ["read"]}}})
    assert '"secret/json/*"' in client.sys.read_acl_policy("json-app")["data"]["policy"]
    assert client.sys.list_acl_policies()["data"]["keys"] == ["app", "default", "json-app", "root"]
    client.sys.delete_policy("app")
    client.sys.delete_acl_policy("json-app")
    assert client.sys.list_policies()["data"]["policies"] == ["default", "root"]
    with pytest.raises(hvac.exceptions.InvalidPath):
        client.sys.read_policy("app")


def test_json_policy_grants_like_hcl(server):
    text = '{"path": {"sys/mounts": {"capabilities": ["read"]}, "sys/policy": {"capabilities": ["deny"]}}}'
    token = token_for(server, text, "from-json")
    assert server.call("GET", "/v1/sys/mounts", token=token)[0] == 200
    assert server.call("GET", "/v1/sys/policy", token=token)[:2] == DENIED


def test_root_and_default_are_built_in(server):
    status, body, _ = server.root("GET", "/v1/sys/policy/root")
    assert status == 200 and body["data"] == {"name": "root", "rules": ""}
    default = server.root("GET", "/v1/sys/policy/default")[1]["data"]["rules"]
    assert 'path "auth/token/lookup-self"' in default
    assert server.root("DELETE", "/v1/sys/policy/default")[:2] == (400, {"errors": ["cannot delete default policy"]})
    assert server.root("DELETE", "/v1/sys/policy/root")[:2] == (400, {"errors": ['cannot delete "root" policy']})
    assert server.root("DELETE", "/v1/sys/policy/nonexistent")[0] == 204


@pytest.mark.parametrize("name", ["root", "Root", "ROOT", "%20root", "root%20", "%C2%A0Root%E2%80%83", "rOoT"])
def test_no_spelling_of_root_can_be_written(server, name):
    for prefix in ("/v1/sys/policy/", "/v1/sys/policies/acl/"):
        status, body, _ = server.root("PUT", prefix + name, {"policy": 'path "*" { capabilities = ["read"] }'})
        assert (status, body) == (400, {"errors": ['cannot update "root" policy']}), prefix + name
    assert server.root("GET", "/v1/sys/policy/root")[1]["data"]["rules"] == ""


def test_default_is_editable_and_attached_to_new_tokens(server):
    token = new_token(server, policies=["default"])
    assert server.call("GET", "/v1/sys/mounts", token=token)[:2] == DENIED
    default = server.root("GET", "/v1/sys/policy/default")[1]["data"]["rules"]
    write_policy(server, "default", default + '\npath "sys/mounts" { capabilities = ["read"] }\n')
    assert server.call("GET", "/v1/sys/mounts", token=token)[0] == 200
    bare = new_token(server, policies=["nonexistent"], no_default_policy=True)
    assert server.call("GET", "/v1/auth/token/lookup-self", token=bare)[:2] == DENIED


def test_names_are_normalised_once(server):
    write_policy(server, "%20Mixed-Case%20", 'path "sys/mounts" { capabilities = ["read"] }')
    assert server.root("GET", "/v1/sys/policy")[1]["data"]["keys"] == ["default", "mixed-case", "root"]
    assert server.root("GET", "/v1/sys/policy/MIXED-case")[1]["data"]["name"] == "mixed-case"
    token = new_token(server, policies=["  MIXED-CASE"])
    assert server.call("GET", "/v1/sys/mounts", token=token)[0] == 200


def test_a_token_asking_for_root_gets_it_only_from_root(server):
    write_policy(server, "creator", 'path "auth/token/create" { capabilities = ["update"] }')
    creator = new_token(server, policies=["creator"])
    for asked in ("Root ", " root", "ROOT", "root"):
        assert server.call("POST", "/v1/auth/token/create", {"policies": [asked]}, token=creator)[:2] == (
            400, {"errors": ["child policies must be subset of parent"]})
        auth = server.root("POST", "/v1/auth/token/create", {"policies": [asked]})[1]["auth"]
        assert auth["policies"] == ["root"]


def test_bad_policies_are_refused_with_vaults_messages(server):
    def write(text):
        return server.root("PUT", "/v1/sys/policy/bad", {"policy": text})[:2]

    assert write("") == (400, {"errors": ["'policy' parameter not supplied or empty"]})
    assert write('path "a" { capabilities = ["fly"] }') == (
        400, {"errors": ['failed to parse policy: path "a": invalid capability "fly"']})
    assert write('path "a" { capabilities = ["read"]\n  colour = "red" }') == (
        400, {"errors": ['failed to parse policy: path "a": unknown key "colour"']})
    assert write('path "a" { min_wrapping_ttl = "1h"\n max_wrapping_ttl = "1m"\n capabilities = ["read"] }') == (
        400, {"errors": ['failed to parse policy: path "a": max_wrapping_ttl cannot be less than min_wrapping_ttl']})
    status, body = write("path {")
    assert status == 400 and body["errors"][0].startswith("failed to parse policy: ")
    assert server.root("PUT", "/v1/sys/policy/bad%20name!", {"policy": 'path "a" { capabilities = ["read"] }'})[0] == 400
    assert server.root("GET", "/v1/sys/policy/bad")[:2] == (404, {"errors": []})


def test_capabilities_self_token_and_accessor(server):
    text = 'path "secret/*" { capabilities = ["read", "list"] }\npath "secret/admin" { capabilities = ["deny"] }'
    write_policy(server, "reader", text + '\npath "sys/capabilities-self" { capabilities = ["update"] }')
    created = server.root("POST", "/v1/auth/token/create", {"policies": ["reader"]})[1]["auth"]
    token, accessor = created["client_token"], created["accessor"]
    status, body, _ = server.call("POST", "/v1/sys/capabilities-self", {"path": "secret/x"}, token=token)
    assert status == 200 and body["data"] == {"secret/x": ["list", "read"], "capabilities": ["list", "read"]}
    assert body["capabilities"] == ["list", "read"]
    status, body, _ = server.root("POST", "/v1/sys/capabilities", {
        "token": token, "paths": ["secret/x", "secret/admin", "sys/mounts"]})
    assert body["data"] == {"secret/x": ["list", "read"], "secret/admin": ["deny"], "sys/mounts": ["deny"]}
    by_accessor = _client(server).sys.get_capabilities(paths=["secret/admin"], accessor=accessor)
    assert by_accessor["data"] == {"secret/admin": ["deny"], "capabilities": ["deny"]}
    assert server.root("POST", "/v1/sys/capabilities-self", {"paths": ["anything"]})[1]["data"]["anything"] == ["root"]
    assert server.root("POST", "/v1/sys/capabilities-self", {})[:2] == (400, {"errors": ["paths must be supplied"]})
    assert server.root("POST", "/v1/sys/capabilities", {"token": "s.none", "paths": ["a"]})[:2] == (
        400, {"errors": ["invalid token"]})
    # Asking about another token needs a grant on sys/capabilities.
    assert server.call("POST", "/v1/sys/capabilities", {"token": token, "paths": ["a"]}, token=token)[:2] == DENIED


def test_policy_change_reaches_live_tokens(server):
    token = token_for(server, 'path "sys/mounts" { capabilities = ["read"] }', "live")
    assert server.call("GET", "/v1/sys/mounts", token=token)[0] == 200
    write_policy(server, "live", 'path "sys/mounts" { capabilities = ["deny"] }')
    assert server.call("GET", "/v1/sys/mounts", token=token)[:2] == DENIED
    write_policy(server, "live", 'path "sys/mounts" { capabilities = ["read"] }')
    assert server.call("GET", "/v1/sys/mounts", token=token)[0] == 200
    assert server.root("DELETE", "/v1/sys/policy/live")[0] == 204
    assert server.call("GET", "/v1/sys/mounts", token=token)[:2] == DENIED


def test_list_on_sys_policy_names_every_policy(server):
    server.root("PUT", "/v1/sys/policy/reader", {"policy": 'path "secret/*" { capabilities = ["read"] }'})
    status, body, _ = server.call("LIST", "/v1/sys/policy", token=server.root_token)
    assert status == 200 and body["data"]["keys"] == ["default", "reader", "root"]
