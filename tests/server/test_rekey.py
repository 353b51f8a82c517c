"""Rekey: new shares and threshold from the old shares, both ways OpenBao serves it.

sys/rotate/root/* is authenticated (sudo) and enveloped; the legacy sys/rekey/* that hvac
calls is unauthenticated, answers raw bodies, and is off (405) unless the listener sets
disable_unauthed_rekey_endpoints = false. Unlike OpenBao, a wrong nonce never reveals the
right one, and a wrong share is refused at once.
"""

from __future__ import annotations

import hvac
import pytest

from conftest import initialise, running_server

ROTATE = "/v1/sys/rotate/root"
NOT_A_SHARE = "the unseal key is not one of this store's shares"
UNSUPPORTED = {"errors": ["unsupported operation"]}


def rotate_init(server, shares: int, threshold: int, **extra) -> dict:
    status, body, _ = server.root("PUT", f"{ROTATE}/init",
                                  {"secret_shares": shares, "secret_threshold": threshold, **extra})
    assert status == 200, body
    return body["data"]


def rotate_update(server, key: str, nonce: str) -> dict:
    status, body, _ = server.root("PUT", f"{ROTATE}/update", {"key": key, "nonce": nonce})
    assert status == 200, body
    return body["data"]


def reseal_with(server, keys: list[str]) -> dict:
    """Seal, then unseal with keys; the last seal-status."""
    assert server.root("PUT", "/v1/sys/seal")[0] == 204
    body = {}
    for key in keys:
        status, body, _ = server.call("PUT", "/v1/sys/unseal", {"key": key})
        assert status == 200, body
    return body


# -- sys/rotate/root/*: OpenBao's authenticated rekey ---------------------------------


def test_rotate_root_needs_a_root_token(server):
    denied = (403, {"errors": ["permission denied"]})
    for method, path in (("GET", "init"), ("PUT", "init"), ("DELETE", "init"), ("PUT", "update"), ("GET", "verify")):
        body = {"secret_shares": 1, "secret_threshold": 1} if method == "PUT" else None
        assert server.call(method, f"{ROTATE}/{path}", body)[:2] == denied
        assert server.call(method, f"{ROTATE}/{path}", body, token="s.bogus")[:2] == denied
    status, body, _ = server.root("POST", "/v1/auth/token/create", {"policies": ["default"]})
    assert server.call("PUT", f"{ROTATE}/init", {"secret_shares": 1, "secret_threshold": 1},
                       token=body["auth"]["client_token"])[:2] == denied
    assert server.core.seal.rekey is None


def test_rotate_root_status_with_nothing_in_progress(server):
    status, body, _ = server.root("GET", f"{ROTATE}/init")
    assert status == 200 and set(body) >= {"request_id", "data", "wrap_info", "warnings", "auth"}
    data = body["data"]
    assert (data["started"], data["t"], data["n"], data["required"], data["progress"]) == (False, 0, 0, 3, 0)
    assert server.root("GET", f"{ROTATE}/verify")[:2] == (400, {"errors": ["no rekey verification is in progress"]})
    assert server.root("DELETE", f"{ROTATE}/init")[:2] == (204, None)
    assert server.root("PUT", f"{ROTATE}/update", {"key": server.keys[0], "nonce": "x"})[:2] == (
        400, {"errors": ["no rekey is in progress"]})


@pytest.mark.parametrize("body, message", [
    ({"secret_shares": 3}, "secret_threshold must be at least one"),
    ({"secret_shares": "3", "secret_threshold": 2}, "failed to decode JSON input: secret_shares must be an integer"),
    ({"secret_shares": 3, "secret_threshold": 2.0}, "failed to decode JSON input: secret_threshold must be an integer"),
    ({"secret_shares": 2, "secret_threshold": 3}, "secret_threshold cannot be larger than secret_shares"),
    ({"secret_shares": 3, "secret_threshold": 2, "require_verification": "yes"},
     "failed to decode JSON input: require_verification must be a boolean"),
    ({"secret_shares": 3, "secret_threshold": 2, "backup": True}, "backup of rekeyed shares is not supported"),
])
def test_rotate_root_init_refuses_bad_requests(server, body, message):
    assert server.root("PUT", f"{ROTATE}/init", body)[:2] == (400, {"errors": [message]})
    assert server.core.seal.rekey is None


def test_rotate_root_5_of_3_to_3_of_2_then_old_shares_fail_and_new_ones_work(server):
    started = rotate_init(server, 3, 2)
    nonce = started["nonce"]
    assert (started["started"], started["t"], started["n"], started["progress"], started["required"]) == (
        True, 2, 3, 0, 3)
    assert server.root("PUT", f"{ROTATE}/init", {"secret_shares": 1, "secret_threshold": 1})[:2] == (
        400, {"errors": ["rekey already in progress"]})

    assert rotate_update(server, server.keys[4], nonce)["progress"] == 1
    assert rotate_update(server, server.keys[4], nonce)["progress"] == 1  # a repeat does not advance
    assert server.root("GET", f"{ROTATE}/init")[1]["data"]["progress"] == 1
    assert rotate_update(server, server.keys[0], nonce)["progress"] == 2
    done = rotate_update(server, server.keys[2], nonce)
    assert set(done) == {"complete", "nonce", "keys", "keys_base64", "pgp_fingerprints", "backup",
                         "verification_required", "verification_nonce"}
    assert (done["complete"], done["nonce"], done["verification_required"]) == (True, nonce, False)
    new_keys = done["keys"]
    assert len(new_keys) == 3 and not set(new_keys) & set(server.keys)

    status = server.call("GET", "/v1/sys/seal-status")[1]
    assert (status["t"], status["n"], status["sealed"]) == (2, 3, False)
    assert server.root("GET", f"{ROTATE}/init")[1]["data"]["started"] is False

    server.root("PUT", "/v1/sys/seal")
    for old in server.keys:
        assert server.call("PUT", "/v1/sys/unseal", {"key": old})[:2] == (400, {"errors": [NOT_A_SHARE]})
    assert reseal_with(server, [new_keys[2], done["keys_base64"][0]])["sealed"] is False


def test_rotate_root_update_errors_and_the_nonce_is_never_revealed(server):
    nonce = rotate_init(server, 2, 2)["nonce"]
    cases = [
        ({"key": server.keys[0]}, "missing required field 'nonce'"),
        ({"key": server.keys[0], "nonce": ""}, "missing required field 'nonce'"),
        ({"nonce": nonce}, "missing required field 'key'"),
        ({"key": "zz", "nonce": nonce}, "'key' must be a valid hex or base64 string"),
        ({"key": server.keys[0], "nonce": "not-the-nonce"}, "the nonce given does not match the rekey in progress"),
        ({"key": server.keys[0], "nonce": nonce.upper()}, "the nonce given does not match the rekey in progress"),
        ({"key": "00" * 33, "nonce": nonce}, NOT_A_SHARE),
        ({"key": server.keys[0], "nonce": 7}, "failed to decode JSON input: nonce must be a string"),
    ]
    for body, message in cases:
        status, reply, _ = server.root("PUT", f"{ROTATE}/update", body)
        assert (status, reply) == (400, {"errors": [message]}), body
        assert nonce not in str(reply)
    # None of those counted.
    assert server.root("GET", f"{ROTATE}/init")[1]["data"]["progress"] == 0


def test_rotate_root_cancel_drops_the_attempt_and_its_nonce(server):
    nonce = rotate_init(server, 2, 2)["nonce"]
    rotate_update(server, server.keys[0], nonce)
    assert server.root("DELETE", f"{ROTATE}/init")[:2] == (204, None)
    assert server.root("GET", f"{ROTATE}/init")[1]["data"]["started"] is False
    assert server.root("PUT", f"{ROTATE}/update", {"key": server.keys[1], "nonce": nonce})[:2] == (
        400, {"errors": ["no rekey is in progress"]})
    assert server.call("GET", "/v1/sys/seal-status")[1]["n"] == 5


def test_rotate_root_with_verification_switches_only_once_the_new_shares_come_back(server):
    started = rotate_init(server, 2, 2, require_verification=True)
    nonce = started["nonce"]
    assert started["verification_required"] is True
    assert server.root("GET", f"{ROTATE}/verify")[:2] == (400, {"errors": ["no rekey verification is in progress"]})
    for key in server.keys[:2]:
        rotate_update(server, key, nonce)
    issued = rotate_update(server, server.keys[2], nonce)
    assert (issued["complete"], issued["verification_required"]) == (True, True)
    new_keys, verify_nonce = issued["keys"], issued["verification_nonce"]
    assert verify_nonce and verify_nonce != nonce

    # Not in force yet: the old shape stands and further updates are refused.
    assert server.call("GET", "/v1/sys/seal-status")[1]["n"] == 5
    assert server.root("GET", f"{ROTATE}/init")[1]["data"]["verification_nonce"] == verify_nonce
    assert server.root("PUT", f"{ROTATE}/update", {"key": server.keys[3], "nonce": nonce})[:2] == (
        400, {"errors": ["the rekey is awaiting verification of the new shares"]})
    verify = server.root("GET", f"{ROTATE}/verify")[1]["data"]
    assert verify == {"started": True, "nonce": verify_nonce, "t": 2, "n": 2, "progress": 0}

    def verify_with(key, with_nonce):
        return server.root("PUT", f"{ROTATE}/verify", {"key": key, "nonce": with_nonce})

    assert verify_with(new_keys[0], nonce)[:2] == (
        400, {"errors": ["the nonce given does not match the rekey verification in progress"]})
    # OpenBao counts an old share here and fails only at the threshold; strongroom refuses it.
    assert verify_with(server.keys[0], verify_nonce)[:2] == (400, {"errors": ["the key is not one of the new shares"]})
    assert verify_with(new_keys[0], verify_nonce)[1]["data"]["progress"] == 1

    restarted = server.root("DELETE", f"{ROTATE}/verify")
    assert restarted[0] == 200
    fresh_nonce = restarted[1]["data"]["nonce"]
    assert fresh_nonce != verify_nonce and restarted[1]["data"]["progress"] == 0
    assert verify_with(new_keys[0], verify_nonce)[0] == 400  # the old verification nonce is dead
    assert verify_with(new_keys[1], fresh_nonce)[1]["data"]["progress"] == 1
    assert verify_with(new_keys[1], fresh_nonce)[1]["data"]["progress"] == 1
    finished = verify_with(new_keys[0], fresh_nonce)
    assert finished[:2][0] == 200 and finished[1]["data"] == {"complete": True, "nonce": fresh_nonce}

    assert server.root("GET", f"{ROTATE}/verify")[0] == 400
    status = server.call("GET", "/v1/sys/seal-status")[1]
    assert (status["t"], status["n"]) == (2, 2)
    assert reseal_with(server, new_keys)["sealed"] is False


def test_sealing_abandons_a_rekey_in_progress(server):
    nonce = rotate_init(server, 2, 2)["nonce"]
    rotate_update(server, server.keys[0], nonce)
    reseal_with(server, server.keys[:3])
    assert server.root("GET", f"{ROTATE}/init")[1]["data"]["started"] is False
    assert server.root("PUT", f"{ROTATE}/update", {"key": server.keys[1], "nonce": nonce})[0] == 400


def test_the_new_shares_open_the_store_after_a_restart(tmp_path):
    data = tmp_path / "data"
    with running_server(data) as first:
        initialise(first)
        nonce = rotate_init(first, 4, 3)["nonce"]
        for key in first.keys[:2]:
            rotate_update(first, key, nonce)
        new_keys = rotate_update(first, first.keys[2], nonce)["keys"]
        old_keys, root_token = first.keys, first.root_token
    with running_server(data) as second:
        status = second.call("GET", "/v1/sys/seal-status")[1]
        assert (status["t"], status["n"], status["sealed"]) == (3, 4, True)
        assert second.call("PUT", "/v1/sys/unseal", {"key": old_keys[0]})[0] == 400
        for key in new_keys[1:]:
            body = second.call("PUT", "/v1/sys/unseal", {"key": key})[1]
        assert body["sealed"] is False
        assert second.call("GET", "/v1/sys/mounts", token=root_token)[0] == 200
        assert second.call("PUT", "/v1/sys/unseal-check", {"key": old_keys[3]})[:2] == (200, {"valid": False})
        assert second.call("PUT", "/v1/sys/unseal-check", {"key": new_keys[0]})[:2] == (200, {"valid": True})


# -- legacy sys/rekey/*, as hvac calls it --------------------------------------------


def test_legacy_rekey_is_off_by_default_even_for_root(server):
    for method in ("GET", "PUT", "DELETE"):
        for path in ("init", "update", "verify"):
            body = {} if method == "PUT" else None
            assert server.root(method, f"/v1/sys/rekey/{path}", body)[:2] == (405, UNSUPPORTED)
            assert server.call(method, f"/v1/sys/rekey/{path}", body)[:2] == (405, UNSUPPORTED)

    client = hvac.Client(url=server.url, token=server.root_token)
    for call in (client.sys.read_rekey_progress, lambda: client.sys.start_rekey(3, 2), client.sys.cancel_rekey,
                 lambda: client.sys.rekey(server.keys[0], nonce="x"),
                 lambda: client.sys.rekey_multi(server.keys[:3], nonce="x")):
        with pytest.raises(hvac.exceptions.UnexpectedError) as refused:
            call()
        assert refused.value.errors == ["unsupported operation"]
    assert server.core.seal.rekey is None


@pytest.fixture
def legacy_server(tmp_path):
    with running_server(tmp_path / "data", listener={"disable_unauthed_rekey_endpoints": False}) as srv:
        yield initialise(srv)


def test_hvac_legacy_rekey_when_the_listener_enables_it(legacy_server):
    server = legacy_server
    client = hvac.Client(url=server.url, token="")  # these endpoints need no token, as in OpenBao
    progress = client.sys.read_rekey_progress()
    assert (progress["started"], progress["required"], progress["nonce"]) == (False, 3, "")
    assert "request_id" not in progress  # raw body, no envelope

    started = client.sys.start_rekey(secret_shares=3, secret_threshold=2)
    nonce = started["nonce"]
    assert (started["started"], started["t"], started["n"], started["progress"]) == (True, 2, 3, 0)
    assert client.sys.read_rekey_progress()["nonce"] == nonce

    first = client.sys.rekey(server.keys[0], nonce=nonce)
    assert (first["progress"], first["started"]) == (1, True)
    with pytest.raises(hvac.exceptions.InvalidRequest) as wrong:
        client.sys.rekey(server.keys[1], nonce="wrong")
    assert wrong.value.errors == ["the nonce given does not match the rekey in progress"]
    done = client.sys.rekey_multi(server.keys[:4], nonce=nonce)  # stops at the threshold
    assert done["complete"] is True and len(done["keys"]) == 3
    assert client.sys.read_rekey_progress()["started"] is False

    # A cancel with nothing in progress is a 204, as in OpenBao.
    assert client.sys.cancel_rekey().status_code == 204
    assert reseal_with(server, done["keys"][1:])["sealed"] is False
    server.root("PUT", "/v1/sys/seal")
    assert server.call("PUT", "/v1/sys/unseal", {"key": server.keys[0]})[:2] == (400, {"errors": [NOT_A_SHARE]})


def test_hvac_legacy_rekey_cancel_and_verify(legacy_server):
    server = legacy_server
    client = hvac.Client(url=server.url, token="")
    nonce = client.sys.start_rekey(2, 2)["nonce"]
    client.sys.rekey(server.keys[0], nonce=nonce)
    assert client.sys.cancel_rekey().status_code == 204
    assert client.sys.read_rekey_progress()["started"] is False

    nonce = client.sys.start_rekey(2, 2, require_verification=True)["nonce"]
    issued = client.sys.rekey_multi(server.keys[:3], nonce=nonce)
    assert (issued["complete"], issued["verification_required"]) == (True, True)
    verify_nonce = issued["verification_nonce"]
    assert client.sys.read_rekey_verify_progress() == {
        "started": True, "nonce": verify_nonce, "t": 2, "n": 2, "progress": 0}
    done = client.sys.rekey_verify_multi(issued["keys"], nonce=verify_nonce)
    assert done == {"complete": True, "nonce": verify_nonce}
    assert reseal_with(server, issued["keys"])["sealed"] is False


def test_legacy_rekey_answers_sealed_while_sealed(legacy_server):
    legacy_server.root("PUT", "/v1/sys/seal")
    for method, path in (("GET", "init"), ("PUT", "init"), ("PUT", "update")):
        body = {"secret_shares": 1, "secret_threshold": 1} if method == "PUT" else None
        assert legacy_server.call(method, f"/v1/sys/rekey/{path}", body)[:2] == (
            503, {"errors": ["Vault is sealed"]})
