"""sys/generate-root/* (legacy, unauthenticated, raw) and sys/generate-root-token/*
(authenticated, enveloped): exact statuses and bodies, as recorded from OpenBao 2.7."""

import base64
import dataclasses
import re
import uuid

import msgpack
import pysequoia
import pytest

from server.timefmt import rfc3339

LEGACY = "/v1/sys/generate-root"
AUTHED = "/v1/sys/generate-root-token"
BASE62 = re.compile(r"[A-Za-z0-9]{26}")
UNSUPPORTED = {"errors": ["unsupported operation"]}
LEGACY_IDLE = {
    "nonce": "", "started": False, "progress": 0, "required": 3, "complete": False, "encoded_token": "",
    "encoded_root_token": "", "pgp_fingerprint": "", "otp": "", "otp_length": 26,
}


@pytest.fixture
def legacy(server):
    """The 5/3 server, its listener now set with disable_unauthed_generate_root_endpoints = false.

    (Not `from conftest import running_server`: under a whole-tree run that name resolves to
    whichever conftest.py pytest imported last.)
    """
    settings = server.core.settings
    first = dataclasses.replace(settings.listeners[0], disable_unauthed_generate_root_endpoints=False)
    server.core.settings = dataclasses.replace(settings, listeners=(first, *settings.listeners[1:]))
    return server


def decode(encoded: str, otp: str) -> str:
    raw = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    return bytes(a ^ b for a, b in zip(raw, otp.encode())).decode()


def start(server, body=None, path=LEGACY, token=None):
    status, reply, _ = server.call("PUT", f"{path}/attempt", body or {}, token=token)
    assert status == 200, reply
    return reply if path == LEGACY else reply["data"]


def submit(server, key, nonce, path=LEGACY, token=None):
    return server.call("PUT", f"{path}/update", {"key": key, "nonce": nonce}, token=token)


def legacy_status(server):
    status, body, _ = server.call("GET", f"{LEGACY}/attempt")
    assert status == 200
    return body


def token_digests(server):
    return [d for d in server.core.seal.barrier.list("sys/token/id/") if not d.endswith("/")]


# -- which endpoints answer ----------------------------------------------------------------


def test_legacy_endpoints_are_off_unless_the_listener_enables_them(server):
    for method, path in (("GET", "attempt"), ("PUT", "attempt"), ("DELETE", "attempt"), ("PUT", "update")):
        status, body, _ = server.call(method, f"{LEGACY}/{path}", {} if method == "PUT" else None)
        assert (status, body) == (405, UNSUPPORTED), (method, path)
    assert not server.core.seal.root_generation.status().started


def test_idle_status_bodies_match_openbao(legacy):
    assert legacy_status(legacy) == LEGACY_IDLE
    status, body, _ = legacy.root("GET", f"{AUTHED}/attempt")
    assert status == 200 and set(body) >= {"request_id", "lease_id", "data", "wrap_info", "warnings", "auth"}
    assert body["data"] == {"complete": False, "otp": "", "otp_length": 26, "progress": 0, "required": 3,
                            "started": False}


def test_authenticated_variant_needs_a_token_with_sudo(server):
    assert server.call("GET", f"{AUTHED}/attempt")[0] == 403
    rules = 'path "sys/generate-root-token/*" { capabilities = ["read", "update", "delete"%s] }'
    for name, extra in (("plain", ""), ("sudo", ', "sudo"')):
        assert server.root("PUT", f"/v1/sys/policy/{name}", {"policy": rules % extra})[0] in (200, 204)
    tokens = {}
    for name in ("plain", "sudo"):
        status, body, _ = server.root("POST", "/v1/auth/token/create", {"policies": [name]})
        tokens[name] = body["auth"]["client_token"]
    for method, path in (("GET", "attempt"), ("PUT", "attempt"), ("DELETE", "attempt")):
        body = {} if method == "PUT" else None
        assert server.call(method, f"{AUTHED}/{path}", body, token=tokens["plain"])[0] == 403
    assert server.call("PUT", f"{AUTHED}/attempt", {}, token=tokens["sudo"])[0] == 200
    assert server.call("DELETE", f"{AUTHED}/attempt", token=tokens["sudo"])[0] == 204


# -- starting -------------------------------------------------------------------------------


def test_start_without_otp_shows_a_generated_otp_once(legacy):
    body = start(legacy)
    otp, nonce = body["otp"], body["nonce"]
    assert BASE62.fullmatch(otp) and str(uuid.UUID(nonce)) == nonce
    assert body == {**LEGACY_IDLE, "started": True, "otp": otp, "nonce": nonce}
    again = legacy_status(legacy)
    assert (again["otp"], again["nonce"], again["started"]) == ("", nonce, True)
    status, data, _ = legacy.root("GET", f"{AUTHED}/attempt")
    assert data["data"] == {"complete": False, "nonce": nonce, "otp": "", "otp_length": 26,
                            "pgp_fingerprint": "", "progress": 0, "required": 3, "started": True}


def test_authenticated_start_shows_the_generated_otp_in_data(legacy):
    data = start(legacy, path=AUTHED, token=legacy.root_token)
    assert BASE62.fullmatch(data["otp"]) and data["started"] and data["otp_length"] == 26
    assert legacy_status(legacy)["nonce"] == data["nonce"]


@pytest.mark.parametrize("path", [LEGACY, AUTHED])
def test_start_errors(legacy, path):
    def attempt(body):
        return legacy.call("PUT", f"{path}/attempt", body, token=legacy.root_token)[:2]

    assert attempt({"otp": "x" * 25}) == (400, {"errors": ["OTP string has incorrect length"]})
    assert attempt({"otp": "x" * 27}) == (400, {"errors": ["OTP string has incorrect length"]})
    assert attempt({"otp": 12})[0] == 400
    assert attempt({"pgp_key": "bm90IGEga2V5"})[0] == 400
    assert attempt({"otp": "x" * 26, "pgp_key": "bm90IGEga2V5"}) == (
        400, {"errors": ["only one of otp or pgp_key may be given"]})
    assert legacy_status(legacy) == LEGACY_IDLE  # no failed start left an attempt behind
    assert attempt({"otp": "x" * 26})[0] == 200
    assert attempt({}) == (400, {"errors": ["root generation already in progress for this namespace"]})


# -- submitting shares ----------------------------------------------------------------------


def test_update_without_an_attempt(legacy):
    assert submit(legacy, legacy.keys[0], "n")[:2] == (400, {"errors": ["no root generation in progress"]})
    status, body, _ = submit(legacy, legacy.keys[0], "n", AUTHED, legacy.root_token)
    assert (status, body) == (400, {"errors": ["no root generation in progress"]})


def test_missing_and_malformed_fields(legacy):
    nonce = start(legacy)["nonce"]
    cases = [
        (LEGACY, {"nonce": nonce}, "'key' must be specified in request body as JSON"),
        (LEGACY, {"key": "zz", "nonce": nonce}, "'key' must be a valid hex or base64 string"),
        (AUTHED, {"key": legacy.keys[0]}, "nonce is required"),
        (AUTHED, {"nonce": nonce}, "key is required"),
        (AUTHED, {"key": "zz", "nonce": nonce}, "'key' must be a valid hex or base64 string"),
        (AUTHED, {"key": "abcd", "nonce": nonce}, "invalid key: key is shorter than minimum 16 bytes"),
    ]
    for path, body, message in cases:
        assert legacy.call("PUT", f"{path}/update", body, token=legacy.root_token)[:2] == (
            400, {"errors": [message]}), body
    assert legacy_status(legacy)["progress"] == 0


@pytest.mark.parametrize("path", [LEGACY, AUTHED])
def test_wrong_nonce_is_a_400_that_changes_nothing_and_hides_the_nonce(legacy, path):
    nonce = start(legacy)["nonce"]
    assert submit(legacy, legacy.keys[0], nonce)[0] == 200
    before = legacy_status(legacy)
    for wrong in ("", str(uuid.uuid4()), nonce.upper()):
        status, body, _ = legacy.call("PUT", f"{path}/update", {"key": legacy.keys[1], "nonce": wrong},
                                      token=legacy.root_token)
        if path == AUTHED and wrong == "":
            assert (status, body) == (400, {"errors": ["nonce is required"]})
            continue
        assert status == 400 and body["errors"][0].startswith("incorrect nonce supplied")
        assert nonce not in body["errors"][0]
    assert legacy_status(legacy) == before


def test_a_wrong_share_is_refused_at_once_and_a_share_counts_once(legacy):
    nonce = start(legacy)["nonce"]
    assert submit(legacy, legacy.keys[0], nonce)[0] == 200
    tampered = bytearray.fromhex(legacy.keys[1])
    tampered[3] ^= 0x40
    status, body, _ = submit(legacy, tampered.hex(), nonce)
    assert (status, body) == (400, {"errors": ["the unseal key is not one of this store's shares"]})
    as_base64 = base64.b64encode(bytes.fromhex(legacy.keys[0])).decode()
    status, body, _ = submit(legacy, as_base64, nonce)  # the same share, spelt in base64
    assert (status, body) == (400, {"errors": ["given key has already been provided during this generation operation"]})
    assert legacy_status(legacy)["progress"] == 1


# -- the whole ceremony -----------------------------------------------------------------------


def test_legacy_ceremony_bodies_and_a_working_root_token(legacy):
    otp = "0123456789abcdefghijABCDEF"
    nonce = start(legacy, {"otp": otp})["nonce"]
    digests_before = token_digests(legacy)
    replies = [submit(legacy, key, nonce) for key in legacy.keys[1:4]]
    assert [r[0] for r in replies] == [200, 200, 200]
    partial = {"nonce": nonce, "started": True, "progress": 1, "required": 3, "complete": False,
               "encoded_token": "", "encoded_root_token": "", "pgp_fingerprint": "", "otp": "", "otp_length": 0}
    assert replies[0][1] == partial
    assert replies[1][1] == {**partial, "progress": 2}
    final = replies[2][1]
    encoded = final["encoded_token"]
    assert final == {**partial, "progress": 3, "complete": True, "encoded_token": encoded,
                     "encoded_root_token": encoded}
    assert "=" not in encoded and len(encoded) == 35  # 26 bytes, unpadded standard base64
    token = decode(encoded, otp)
    assert token.startswith("s.") and len(token) == 26 and token != legacy.root_token
    status, body, _ = legacy.call("GET", "/v1/sys/mounts", token=token)
    assert status == 200 and "sys/" in body["data"]
    status, body, _ = legacy.call("GET", "/v1/auth/token/lookup-self", token=token)
    assert body["data"]["policies"] == ["root"] and body["data"]["path"] == "auth/token/root"
    # Shown once: the attempt is gone, and the token is stored only as its salted hash.
    assert legacy_status(legacy) == LEGACY_IDLE
    assert submit(legacy, legacy.keys[0], nonce)[:2] == (400, {"errors": ["no root generation in progress"]})
    new = set(token_digests(legacy)) - set(digests_before)
    assert len(new) == 1 and token not in new.pop()
    for folder in ("sys/token/id/", "sys/token/accessor/"):
        for name in legacy.core.seal.barrier.list(folder):
            value = legacy.core.seal.barrier.get(folder + name)
            assert token.encode() not in msgpack.packb(value) and token not in name


def test_two_of_five_do_not_make_a_token(legacy):
    nonce = start(legacy)["nonce"]
    digests_before = token_digests(legacy)
    for key in legacy.keys[:2]:
        status, body, _ = submit(legacy, key, nonce)
        assert status == 200 and not body["complete"] and body["encoded_token"] == ""
    assert token_digests(legacy) == digests_before
    assert legacy_status(legacy)["progress"] == 2


def test_authenticated_ceremony_with_a_pgp_key(server):
    tsk = pysequoia.Tsk.generate("operator <op@example.org>")
    public = base64.b64encode(bytes(tsk.extract_certificate())).decode()
    fingerprint = tsk.extract_certificate().fingerprint
    data = start(server, {"pgp_key": public}, AUTHED, server.root_token)
    assert (data["pgp_fingerprint"], data["otp"]) == (fingerprint, "")
    nonce = data["nonce"]
    bodies = [submit(server, key, nonce, AUTHED, server.root_token)[1]["data"] for key in server.keys[2:]]
    assert bodies[0] == {"complete": False, "encoded_token": "", "nonce": nonce, "pgp_fingerprint": fingerprint,
                         "progress": 1, "required": 3, "started": True}
    final = bodies[-1]
    assert final["complete"] and final["progress"] == 3
    message = base64.b64decode(final["encoded_token"], validate=True)
    token = pysequoia.decrypt(message, decryptor=tsk.decryptor()).bytes.decode()
    assert token.startswith("s.") and len(token) == 26
    assert server.call("GET", "/v1/sys/mounts", token=token)[0] == 200


def test_cancel_forgets_the_attempt(legacy):
    nonce = start(legacy)["nonce"]
    assert submit(legacy, legacy.keys[0], nonce)[0] == 200
    status, body, _ = legacy.call("DELETE", f"{LEGACY}/attempt")
    assert (status, body) == (204, None)
    assert legacy_status(legacy) == LEGACY_IDLE
    assert submit(legacy, legacy.keys[1], nonce)[0] == 400
    assert legacy.call("DELETE", f"{LEGACY}/attempt")[0] == 204  # cancelling nothing is fine
    assert legacy.root("DELETE", f"{AUTHED}/attempt")[0] == 204


def test_progress_expiry_is_reported_and_applied(legacy):
    seal = legacy.core.seal
    now = [1_000_000.0]
    seal.clock = lambda: now[0]
    nonce = start(legacy)["nonce"]
    submit(legacy, legacy.keys[0], nonce)
    body = legacy_status(legacy)
    assert body["progress"] == 1
    assert body["progress_expires_time"] == rfc3339(1_000_000.0 + seal.progress_ttl)
    now[0] += seal.progress_ttl
    body = legacy_status(legacy)
    assert (body["progress"], body["nonce"], "progress_expires_time" in body) == (0, nonce, False)


def test_sealing_ends_the_attempt(legacy):
    nonce = start(legacy)["nonce"]
    submit(legacy, legacy.keys[0], nonce)
    assert legacy.root("PUT", "/v1/sys/seal")[0] == 204
    assert legacy.call("GET", f"{LEGACY}/attempt")[:2] == (503, {"errors": ["Vault is sealed"]})
    for key in legacy.keys[:3]:
        legacy.call("PUT", "/v1/sys/unseal", {"key": key})
    assert legacy_status(legacy) == LEGACY_IDLE
