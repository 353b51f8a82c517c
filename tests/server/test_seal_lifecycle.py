"""Initialise, unseal, seal over HTTP and with hvac: what custodians do, and what they must not
be able to do (open it with too few shares, with a wrong share, or reach data while sealed).

OpenBao 2.7.2 is the reference for shapes; where it counts a wrong share silently until the
threshold, strongroom refuses it at once and keeps the progress already made.
"""

from __future__ import annotations

import base64
import itertools
import uuid

import hvac
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import initialise, running_server

NOT_A_SHARE = "the unseal key is not one of this store's shares"
SEALED = {"errors": ["Vault is sealed"]}


def unseal(server, key: str) -> dict:
    status, body, _ = server.call("PUT", "/v1/sys/unseal", {"key": key})
    assert status == 200, body
    return body


def seal_status(server) -> dict:
    status, body, _ = server.call("GET", "/v1/sys/seal-status")
    assert status == 200
    return body


def b64(hex_key: str) -> str:
    return base64.b64encode(bytes.fromhex(hex_key)).decode()


# -- hvac, end to end ------------------------------------------------------------------


def test_hvac_initialise_unseal_and_seal(fresh_server):
    client = hvac.Client(url=fresh_server.url, token="")
    assert client.sys.is_initialized() is False
    before = client.sys.read_seal_status()
    assert (before["initialized"], before["sealed"], before["t"], before["n"]) == (False, True, 0, 0)

    result = client.sys.initialize(secret_shares=5, secret_threshold=3)
    assert set(result) == {"keys", "keys_base64", "root_token"}
    # Vault's share layout: 32 bytes of y values and the x coordinate byte.
    assert [len(bytes.fromhex(k)) for k in result["keys"]] == [33] * 5
    assert [base64.b64decode(k) for k in result["keys_base64"]] == [bytes.fromhex(k) for k in result["keys"]]
    assert len({k[-2:] for k in result["keys"]}) == 5  # distinct x coordinates
    assert result["root_token"].startswith("s.") and len(result["root_token"]) == 26
    assert client.sys.is_initialized() is True

    sealed = client.sys.read_seal_status()
    assert (sealed["sealed"], sealed["t"], sealed["n"], sealed["progress"], sealed["nonce"]) == (True, 3, 5, 0, "")
    assert "cluster_name" not in sealed

    first = client.sys.submit_unseal_key(result["keys"][0])
    assert (first["sealed"], first["progress"]) == (True, 1)
    uuid.UUID(first["nonce"])
    opened = client.sys.submit_unseal_keys(result["keys_base64"][1:3])
    assert (opened["sealed"], opened["progress"], opened["nonce"]) == (False, 0, "")
    assert opened["cluster_name"].startswith("strongroom-cluster-") and uuid.UUID(opened["cluster_id"])
    assert client.sys.is_sealed() is False

    client.token = result["root_token"]
    assert client.sys.seal().status_code == 204
    assert client.sys.is_sealed() is True
    assert client.sys.read_seal_status()["progress"] == 0


def test_hvac_init_again_is_refused(server):
    client = hvac.Client(url=server.url, token="")
    with pytest.raises(hvac.exceptions.InvalidRequest) as refused:
        client.sys.initialize(secret_shares=5, secret_threshold=3)
    assert refused.value.errors == ["Vault is already initialized"]
    server.root("PUT", "/v1/sys/seal")
    assert server.call("PUT", "/v1/sys/init", {"secret_shares": 1, "secret_threshold": 1})[:2] == (
        400, {"errors": ["Vault is already initialized"]})


# -- init request validation ----------------------------------------------------------


@pytest.fixture(scope="module")
def uninitialised(tmp_path_factory):
    """One empty server for the refused inits: each test checks it stayed empty."""
    with running_server(tmp_path_factory.mktemp("uninitialised") / "data") as srv:
        yield srv


TYPE_ERROR = "failed to decode JSON input: {} must be an integer"


@pytest.mark.parametrize("body, message", [
    ({"secret_shares": "5", "secret_threshold": 3}, TYPE_ERROR.format("secret_shares")),
    ({"secret_shares": 5.0, "secret_threshold": 3}, TYPE_ERROR.format("secret_shares")),
    ({"secret_shares": 3.5, "secret_threshold": 3}, TYPE_ERROR.format("secret_shares")),
    ({"secret_shares": True, "secret_threshold": 1}, TYPE_ERROR.format("secret_shares")),
    ({"secret_shares": [5], "secret_threshold": 3}, TYPE_ERROR.format("secret_shares")),
    ({"secret_shares": 5, "secret_threshold": "3"}, TYPE_ERROR.format("secret_threshold")),
    ({"secret_shares": 5, "secret_threshold": False}, TYPE_ERROR.format("secret_threshold")),
    ({}, "secret_shares must be at least one"),
    ({"secret_shares": 0, "secret_threshold": 0}, "secret_shares must be at least one"),
    ({"secret_shares": -1, "secret_threshold": 1}, "secret_shares must be at least one"),
    ({"secret_shares": 5, "secret_threshold": 0}, "secret_threshold must be at least one"),
    ({"secret_shares": 2, "secret_threshold": 3}, "secret_threshold cannot be larger than secret_shares"),
    ({"secret_shares": 5, "secret_threshold": 1}, "secret_threshold must be greater than one for multiple shares"),
    ({"secret_shares": 256, "secret_threshold": 3}, "secret_shares must be at most 255"),
    ({"secret_shares": 2, "secret_threshold": 2, "pgp_keys": ["a"]}, "the number of pgp_keys must equal secret_shares"),
    ({"secret_shares": 1, "secret_threshold": 1, "pgp_keys": "not-a-key"},
     "a PGP key must be base64 of an OpenPGP public key"),
    ({"secret_shares": 1, "secret_threshold": 1, "pgp_keys": ["aGVsbG8="]}, "not an OpenPGP public key: unexpected EOF"),
    ({"secret_shares": 1, "secret_threshold": 1, "recovery_shares": 1},
     "recovery keys are only for auto-unseal; strongroom uses a Shamir seal"),
    ({"secret_shares": 1, "secret_threshold": 1, "root_token_pgp_key": "x"},
     "root_token_pgp_key is not supported; revoke the root token after setup instead"),
])
def test_init_refuses_a_bad_request_and_stays_uninitialised(uninitialised, body, message):
    status, reply, _ = uninitialised.call("PUT", "/v1/sys/init", body)
    assert (status, reply) == (400, {"errors": [message]})
    assert uninitialised.call("GET", "/v1/sys/init")[:2] == (200, {"initialized": False})


def test_init_accepts_the_nulls_the_cli_sends(fresh_server):
    body = {"secret_shares": 5, "secret_threshold": 3, "pgp_keys": None, "recovery_shares": 0,
            "recovery_threshold": 0, "recovery_pgp_keys": None, "root_token_pgp_key": "", "stored_shares": 5}
    status, reply, _ = fresh_server.call("PUT", "/v1/sys/init", body)
    assert status == 200 and len(reply["keys"]) == 5
    # Init leaves the store sealed, as Vault does.
    assert seal_status(fresh_server)["sealed"] is True


def test_a_single_share_is_the_whole_unseal_key(fresh_server):
    status, reply, _ = fresh_server.call("POST", "/v1/sys/init", {"secret_shares": 1, "secret_threshold": 1})
    assert status == 200
    (key,) = reply["keys_base64"]
    assert len(base64.b64decode(key)) == 32 and key.endswith("=")
    assert unseal(fresh_server, key)["sealed"] is False


# -- the threshold, after a restart ---------------------------------------------------


def test_any_three_of_five_shares_open_it_after_a_restart_and_two_do_not(tmp_path):
    data = tmp_path / "data"
    with running_server(data) as first:
        initialise(first, unseal=False)
        keys, root_token = first.keys, first.root_token

    with running_server(data) as server:
        assert seal_status(server)["sealed"] is True
        for number, subset in enumerate(itertools.combinations(range(5), 3)):
            order = subset if number % 2 else tuple(reversed(subset))
            for position, index in enumerate(order):
                # Custodians may type either form of a share.
                body = unseal(server, keys[index] if position % 2 else b64(keys[index]))
                assert body["sealed"] is (position < 2), (order, position)
            assert server.call("GET", "/v1/sys/mounts", token=root_token)[0] == 200
            assert server.call("PUT", "/v1/sys/seal", token=root_token)[0] == 204

        for pair in itertools.combinations(range(5), 2):
            for index in pair:
                body = unseal(server, keys[index])
            assert (body["sealed"], body["progress"]) == (True, 2)
            assert server.call("GET", "/v1/sys/mounts", token=root_token)[:2] == (503, SEALED)
            reset = server.call("PUT", "/v1/sys/unseal", {"reset": True})[1]
            assert (reset["progress"], reset["nonce"]) == (0, "")


share_submissions = st.lists(
    st.one_of(st.integers(0, 4), st.binary(min_size=33, max_size=33)), min_size=1, max_size=8
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(submissions=share_submissions)
def test_progress_counts_each_valid_share_once_and_refuses_wrong_ones(server, submissions):
    if not seal_status(server)["sealed"]:
        assert server.root("PUT", "/v1/sys/seal")[0] == 204
    server.call("PUT", "/v1/sys/unseal", {"reset": True})
    counted: set[int] = set()
    for item in submissions:
        key = server.keys[item] if isinstance(item, int) else item.hex()
        status, body, _ = server.call("PUT", "/v1/sys/unseal", {"key": key})
        if isinstance(item, int):
            assert status == 200
            counted.add(item)
        else:
            assert (status, body) == (400, {"errors": [NOT_A_SHARE]})
            body = seal_status(server)
        if len(counted) == 3:
            assert body["sealed"] is False
            return
        assert (body["sealed"], body["progress"]) == (True, len(counted))


# -- shares that are wrong, repeated, malformed ---------------------------------------


def test_wrong_share_is_refused_at_once_and_keeps_progress(server, tmp_path):
    with running_server(tmp_path / "other") as other:
        initialise(other, unseal=False)
        foreign = other.keys[0]  # well formed, but another store's
    server.root("PUT", "/v1/sys/seal")
    first = unseal(server, server.keys[0])
    nonce = first["nonce"]

    for wrong in (foreign, "00" * 33, server.keys[1][:-2] + server.keys[0][-2:]):
        assert server.call("PUT", "/v1/sys/unseal", {"key": wrong})[:2] == (400, {"errors": [NOT_A_SHARE]})
    repeated = unseal(server, b64(server.keys[0]))  # the same share in its other form
    assert (repeated["progress"], repeated["nonce"]) == (1, nonce)
    assert unseal(server, server.keys[3])["progress"] == 2
    assert unseal(server, server.keys[4])["sealed"] is False


def test_reset_forgets_the_shares_given(server):
    server.root("PUT", "/v1/sys/seal")
    unseal(server, server.keys[0])
    unseal(server, server.keys[1])
    status, body, _ = server.call("PUT", "/v1/sys/unseal", {"reset": True})
    assert status == 200 and (body["sealed"], body["progress"], body["nonce"]) == (True, 0, "")
    # The two shares given before the reset no longer count toward the threshold.
    assert unseal(server, server.keys[2])["progress"] == 1
    assert unseal(server, server.keys[3])["progress"] == 2


@pytest.mark.parametrize("body, message", [
    ({}, "'key' must be specified in request body as JSON, or 'reset' set to true"),
    ({"key": ""}, "'key' must be specified in request body as JSON, or 'reset' set to true"),
    ({"key": "zz-not-a-key"}, "'key' must be a valid hex or base64 string"),
    ({"key": 12}, "'key' must be a valid hex or base64 string"),
    ({"key": ["ab" * 33]}, "'key' must be a valid hex or base64 string"),
    ({"key": "00" * 8}, "invalid key: key is shorter than minimum 16 bytes"),
    ({"key": "00" * 80}, "invalid key: key is longer than maximum 33 bytes"),
    ({"key": "00" * 32, "reset": "yes"}, "failed to decode JSON input: reset must be a boolean"),
])
def test_malformed_unseal_requests_are_refused(server, body, message):
    server.root("PUT", "/v1/sys/seal")
    assert server.call("PUT", "/v1/sys/unseal", body)[:2] == (400, {"errors": [message]})
    assert seal_status(server)["progress"] == 0


def test_unseal_before_init(fresh_server):
    assert fresh_server.call("PUT", "/v1/sys/unseal", {"key": "00" * 33})[:2] == (
        400, {"errors": ["Vault is not initialized"]})
    status, body, _ = fresh_server.call("PUT", "/v1/sys/unseal", {"reset": True})
    assert status == 200 and (body["initialized"], body["t"], body["n"]) == (False, 0, 0)


def test_a_share_sent_while_unsealed_changes_nothing(server):
    body = unseal(server, server.keys[4])
    assert (body["sealed"], body["progress"]) == (False, 0)


def test_unseal_check_tells_a_custodian_whether_a_share_is_good_without_counting_it(server):
    server.root("PUT", "/v1/sys/seal")
    for key in server.keys:
        assert server.call("PUT", "/v1/sys/unseal-check", {"key": key})[:2] == (200, {"valid": True})
    assert server.call("PUT", "/v1/sys/unseal-check", {"key": "11" * 33})[:2] == (200, {"valid": False})
    assert server.call("PUT", "/v1/sys/unseal-check", {"key": "zz"})[:2] == (
        400, {"errors": ["'key' must be a valid hex or base64 string"]})
    status = seal_status(server)
    assert (status["sealed"], status["progress"]) == (True, 0)


# -- sealed means sealed --------------------------------------------------------------

BEHIND_THE_SEAL = [
    ("GET", "/v1/sys/mounts"), ("POST", "/v1/sys/mounts/kv"), ("GET", "/v1/sys/mounts/sys/tune"),
    ("GET", "/v1/secret/foo"), ("PUT", "/v1/secret/data/foo"), ("GET", "/v1/sys/nope"),
    ("GET", "/v1/sys/key-status"), ("PUT", "/v1/sys/rotate"), ("GET", "/v1/sys/rotate/root/init"),
    ("GET", "/v1/sys/rekey/init"), ("GET", "/v1/sys/internal/ui/mounts"), ("GET", "/v1/sys/policy"),
    ("GET", "/v1/auth/token/lookup-self"), ("GET", "/v1/"),
]


@pytest.fixture(scope="module")
def sealed(tmp_path_factory):
    """One server, unsealed once (so its root token and mounts exist), then sealed."""
    with running_server(tmp_path_factory.mktemp("sealed") / "data") as srv:
        initialise(srv)
        assert srv.root("PUT", "/v1/sys/seal")[0] == 204
        yield srv


@pytest.mark.parametrize("method, path", BEHIND_THE_SEAL)
def test_sealed_every_path_behind_the_barrier_answers_503(sealed, method, path):
    for token in (sealed.root_token, None, "s.bogus"):
        body = {} if method in ("PUT", "POST") else None
        assert sealed.call(method, path, body, token=token)[:2] == (503, SEALED), token


def test_uninitialised_is_sealed_too(fresh_server):
    for path in ("/v1/sys/mounts", "/v1/sys/key-status", "/v1/secret/foo"):
        assert fresh_server.call("GET", path)[:2] == (503, SEALED)


def test_sealed_the_custodians_endpoints_still_answer(server):
    server.root("PUT", "/v1/sys/seal")
    assert server.call("GET", "/v1/sys/init")[:2] == (200, {"initialized": True})
    assert seal_status(server)["sealed"] is True
    assert server.call("GET", "/v1/sys/health")[0] == 503
    assert server.call("GET", "/v1/sys/leader")[:2] == (503, SEALED)


def test_seal_needs_root_while_unsealed_and_is_a_no_op_while_sealed(server):
    denied = (403, {"errors": ["permission denied"]})
    assert server.call("PUT", "/v1/sys/seal")[:2] == denied
    assert server.call("PUT", "/v1/sys/seal", token="s.bogus")[:2] == denied
    status, body, _ = server.call("POST", "/v1/auth/token/create", {"policies": ["default"]}, token=server.root_token)
    assert status == 200
    assert server.call("PUT", "/v1/sys/seal", token=body["auth"]["client_token"])[:2] == denied
    assert seal_status(server)["sealed"] is False

    assert server.root("PUT", "/v1/sys/seal")[:2] == (204, None)
    # As OpenBao: sealing a sealed store needs no token (there is nothing to check it against).
    assert server.call("PUT", "/v1/sys/seal")[:2] == (204, None)
    assert seal_status(server)["sealed"] is True


def test_sealing_over_http_closes_every_key_buffer_and_unsealing_restores_access(server):
    keyring = server.core.seal.barrier._keyring  # white-box: the buffers the seal must zero
    buffers = [keyring.root_key, *(term.key for term in keyring.terms())]
    assert not any(buffer.closed for buffer in buffers)
    server.root("PUT", "/v1/sys/seal")
    assert all(buffer.closed for buffer in buffers)
    for key in server.keys[2:]:
        unseal(server, key)
    status, body, _ = server.root("GET", "/v1/sys/mounts")
    assert status == 200 and "sys/" in body["data"]
