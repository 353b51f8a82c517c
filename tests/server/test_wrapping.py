"""Response wrapping and cubbyhole: one recipient, once; a token's cubbyhole is its own."""

import concurrent.futures
import time

import hvac


def _token(server, **body):
    status, reply, _ = server.root("POST", "/v1/auth/token/create", body)
    assert status == 200, reply
    return reply["auth"]["client_token"]


def _wrap(server, data, ttl="5m", token=None):
    status, body, _ = server.call("POST", "/v1/sys/wrapping/wrap", data, token=token or server.root_token,
                                  headers={"X-Vault-Wrap-TTL": ttl})
    assert status == 200, body
    assert body["data"] is None
    return body["wrap_info"]


def test_cubbyhole_is_private_even_from_root(server):
    alice = _token(server, policies=["default"])
    assert server.call("PUT", "/v1/cubbyhole/note", {"v": "alice's"}, token=alice)[0] == 204
    assert server.call("GET", "/v1/cubbyhole/note", token=alice)[1]["data"] == {"v": "alice's"}
    assert server.root("GET", "/v1/cubbyhole/note")[0] == 404
    server.root("PUT", "/v1/cubbyhole/note", {"v": "root's"})
    assert server.call("GET", "/v1/cubbyhole/note", token=alice)[1]["data"] == {"v": "alice's"}
    assert server.call("LIST", "/v1/cubbyhole/", token=alice)[1]["data"] == {"keys": ["note"]}


def test_cubbyhole_goes_with_its_token(server):
    alice = _token(server, policies=["default"])
    server.call("PUT", "/v1/cubbyhole/a/b", {"v": "1"}, token=alice)
    view = server.core.engine_for("cubbyhole/")[1].view
    digest = server.core.tokens.lookup(alice).digest
    assert view.sub_view(digest + "/").list("") == ["a/"]
    server.call("POST", "/v1/auth/token/revoke-self", token=alice)
    assert view.sub_view(digest + "/").list("") == []


def test_wrap_unwrap_exactly_once(server):
    info = _wrap(server, {"secret": "hunter2"})
    assert set(info) >= {"token", "accessor", "ttl", "creation_time", "creation_path"}
    assert info["ttl"] == 300 and info["creation_path"] == "sys/wrapping/wrap"
    status, body, _ = server.call("POST", "/v1/sys/wrapping/unwrap", token=info["token"])
    assert status == 200 and body["data"] == {"secret": "hunter2"}
    status, body, _ = server.call("POST", "/v1/sys/wrapping/unwrap", token=info["token"])
    assert (status, body) == (400, {"errors": ["wrapping token is not valid or does not exist"]})


def test_tampered_and_expired_tokens_refused(server):
    info = _wrap(server, {"k": "v"}, ttl="1s")
    tampered = info["token"][:-1] + ("A" if info["token"][-1] != "A" else "B")
    assert server.call("POST", "/v1/sys/wrapping/unwrap", token=tampered)[0] == 400
    time.sleep(1.2)
    status, body, _ = server.call("POST", "/v1/sys/wrapping/unwrap", token=info["token"])
    assert (status, body) == (400, {"errors": ["wrapping token is not valid or does not exist"]})


def test_wrapped_token_is_not_usable_elsewhere(server):
    info = _wrap(server, {"k": "v"})
    assert server.call("GET", "/v1/sys/mounts", token=info["token"])[0] == 403
    assert server.call("POST", "/v1/sys/wrapping/unwrap", token=info["token"])[0] == 200


def test_concurrent_unwraps_exactly_one_succeeds(server):
    info = _wrap(server, {"once": "only"})

    def attempt(_):
        return server.call("POST", "/v1/sys/wrapping/unwrap", {"token": info["token"]}, token=server.root_token)

    with concurrent.futures.ThreadPoolExecutor(32) as pool:
        results = list(pool.map(attempt, range(64)))
    assert sorted(r[0] for r in results) == [200] + [400] * 63
    assert [r[1]["data"] for r in results if r[0] == 200] == [{"once": "only"}]


def test_any_logical_response_can_be_wrapped(server):
    status, body, _ = server.call("POST", "/v1/auth/token/create", {"policies": ["default"]},
                                  token=server.root_token, headers={"X-Vault-Wrap-TTL": "2m"})
    assert status == 200 and body["auth"] is None
    wrapped_accessor = body["wrap_info"]["wrapped_accessor"]
    assert body["wrap_info"]["creation_path"] == "auth/token/create"
    status, inner, _ = server.call("POST", "/v1/sys/wrapping/unwrap", {"token": body["wrap_info"]["token"]},
                                   token=server.root_token)
    assert inner["auth"]["accessor"] == wrapped_accessor
    assert server.call("GET", "/v1/auth/token/lookup-self", token=inner["auth"]["client_token"])[0] == 200


def test_lookup_and_rewrap(server):
    info = _wrap(server, {"k": "v"})
    status, body, _ = server.call("POST", "/v1/sys/wrapping/lookup", {"token": info["token"]})
    assert status == 200 and body["data"]["creation_path"] == "sys/wrapping/wrap"
    assert body["data"]["creation_ttl"] == 300
    status, body, _ = server.root("POST", "/v1/sys/wrapping/rewrap", {"token": info["token"]})
    new = body["wrap_info"]["token"]
    assert new != info["token"]
    assert server.call("POST", "/v1/sys/wrapping/unwrap", token=info["token"])[0] == 400
    assert server.call("POST", "/v1/sys/wrapping/unwrap", token=new)[1]["data"] == {"k": "v"}


def test_bad_wrap_ttl_is_400(server):
    status, body, _ = server.call("POST", "/v1/sys/wrapping/wrap", {"a": "b"}, token=server.root_token,
                                  headers={"X-Vault-Wrap-TTL": "banana"})
    assert (status, body) == (400, {"errors": ["invalid X-Vault-Wrap-TTL"]})


def test_hvac_unwrap(server):
    info = _wrap(server, {"for": "hvac"})
    client = hvac.Client(url=server.url, token=server.root_token)
    assert client.sys.unwrap(info["token"])["data"] == {"for": "hvac"}


def test_bao_unwrap(server):
    info = _wrap(server, {"for": "bao"})
    out = server.bao("unwrap", "-format=json", info["token"], token=server.root_token)
    assert out.returncode == 0, out.stderr
    assert '"for": "bao"' in out.stdout
    again = server.bao("unwrap", info["token"], token=server.root_token)
    assert again.returncode != 0 and "wrapping token is not valid" in again.stderr


def test_cubbyhole_cannot_be_mounted_or_unmounted(server):
    assert server.root("POST", "/v1/sys/mounts/cubbyhole", {"type": "kv"})[1] == {"errors": ['cannot mount "cubbyhole/"']}
    assert server.root("DELETE", "/v1/sys/mounts/cubbyhole")[0] == 400


def test_kv_read_and_transit_datakey_can_be_wrapped(server):
    server.root("POST", "/v1/sys/mounts/secret", {"type": "kv", "options": {"version": "2"}})
    server.root("POST", "/v1/secret/data/app", {"data": {"password": "wrapped-marker"}})
    status, body, _ = server.call("GET", "/v1/secret/data/app", token=server.root_token,
                                  headers={"X-Vault-Wrap-TTL": "60s"})
    assert status == 200 and body["data"] is None
    assert "wrapped-marker" not in str(body)
    inner = server.call("POST", "/v1/sys/wrapping/unwrap", token=body["wrap_info"]["token"])[1]
    assert inner["data"]["data"] == {"password": "wrapped-marker"}

    server.root("POST", "/v1/sys/mounts/transit", {"type": "transit"})
    server.root("POST", "/v1/transit/keys/k", {})
    status, body, _ = server.call("POST", "/v1/transit/datakey/plaintext/k", {}, token=server.root_token,
                                  headers={"X-Vault-Wrap-TTL": "60s"})
    assert status == 200 and body["data"] is None and body["wrap_info"]["creation_path"] == "transit/datakey/plaintext/k"
    inner = server.call("POST", "/v1/sys/wrapping/unwrap", token=body["wrap_info"]["token"])[1]
    plaintext_key = inner["data"]["plaintext"]
    status, decrypted, _ = server.root("POST", "/v1/transit/decrypt/k", {"ciphertext": inner["data"]["ciphertext"]})
    assert decrypted["data"]["plaintext"] == plaintext_key
