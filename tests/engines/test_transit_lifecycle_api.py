"""Transit key lifecycle over HTTP (strongroom additions, NIST SP 800-57 Part 1 §7): version
states and their transitions, what each state lets a version do, compromise and the rewrap
of compromised ciphertexts, usage limits, cryptoperiods, key check values and scheduled
destruction down to the bytes in the LMDB file."""

from __future__ import annotations

import base64
import time
from datetime import datetime, timedelta, timezone

import msgpack
import pytest
from Crypto.Cipher import AES
from Crypto.Hash import CMAC

from test_transit_support import b64, transit, transit_server  # noqa: F401

DAY = 86400


def versions(transit, name):
    return transit.ok("GET", f"keys/{name}")["versions"]


def move(transit, name, version, state, **fields):
    return transit.post(f"keys/{name}/versions/{version}/state", {"state": state, **fields})


def rfc3339(seconds_from_now: float) -> str:
    return (datetime.now(timezone.utc) + timedelta(seconds=seconds_from_now)).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_a_new_key_is_active_and_vault_fields_keep_their_meaning(transit):
    data = transit.create("k")
    assert data["versions"]["1"]["state"] == "active" and data["versions"]["1"]["state_history"] == []
    assert data["min_decryption_version"] == 1 and list(data["keys"]) == ["1"]
    assert data["usage_limit"] == 2**30 and data["destruction_waiting_period"] == 7 * DAY
    assert transit.decrypt("k", transit.encrypt("k", b"hi")) == b"hi"


def test_transitions_follow_the_graph_and_are_recorded_with_who_and_why(transit):
    transit.create("k")
    accessor = transit.server.call("GET", "/v1/auth/token/lookup-self", token=transit.server.root_token)[1]["data"][
        "accessor"]
    status, body = move(transit, "k", 1, "suspended", reason="audit hold")
    assert status == 200
    entry = body["data"]["versions"]["1"]["state_history"][0]
    assert (entry["previous_state"], entry["state"], entry["reason"], entry["accessor"]) == (
        "active", "suspended", "audit hold", accessor)
    assert move(transit, "k", 1, "active")[0] == 200
    assert move(transit, "k", 1, "deactivated")[0] == 200
    status, body = move(transit, "k", 1, "active")  # SP 800-57: deactivated never returns to active
    assert status == 400 and body == {"errors": ["a key version cannot go from deactivated to active"]}
    assert move(transit, "k", 1, "pre-active")[0] == 400
    assert move(transit, "k", 1, "bogus")[0] == 400
    assert move(transit, "k", 1, "destroyed")[0] == 400  # only through scheduled destruction
    assert move(transit, "k", 9, "active")[0] == 400
    assert [h["state"] for h in versions(transit, "k")["1"]["state_history"]] == ["suspended", "active",
                                                                                   "deactivated"]


@pytest.mark.parametrize("state, protects, processes", [
    ("suspended", False, False), ("deactivated", False, True), ("compromised", False, True)])
def test_every_operation_obeys_the_state(transit, state, protects, processes):
    transit.create("aes")
    transit.create("ec", type="ecdsa-p256")
    ciphertext = transit.encrypt("aes", b"data")
    wrapped = transit.ok("POST", "keywrap/aes", {"key": b64(bytes(32))})["wrapped_key"]
    mac = transit.ok("POST", "hmac/aes", {"input": b64(b"m")})["hmac"]
    signature = transit.ok("POST", "sign/ec", {"input": b64(b"m")})["signature"]
    assert move(transit, "aes", 1, state)[0] == 200 and move(transit, "ec", 1, state)[0] == 200
    protect = [transit.post("encrypt/aes", {"plaintext": b64(b"x")}), transit.post("datakey/plaintext/aes"),
               transit.post("keywrap/aes", {"key": b64(bytes(32))}), transit.post("hmac/aes", {"input": b64(b"m")}),
               transit.post("sign/ec", {"input": b64(b"m")}), transit.post("rewrap/aes", {"ciphertext": ciphertext})]
    process = [transit.post("decrypt/aes", {"ciphertext": ciphertext}),
               transit.post("keyunwrap/aes", {"wrapped_key": wrapped}),
               transit.post("verify/aes", {"input": b64(b"m"), "hmac": mac}),
               transit.post("verify/ec", {"input": b64(b"m"), "signature": signature})]
    assert [s for s, _ in protect] == [200 if protects else 400] * len(protect)
    assert [s for s, _ in process] == [200 if processes else 400] * len(process)
    if not processes:
        assert process[0][1] == {"errors": [f"key version 1 is {state} and cannot be used to process data"]}
    assert protect[0][1] == {"errors": [f"key version 1 is {state} and cannot be used to protect data"]}


def test_a_pre_active_version_waits_for_its_activation_date(transit):
    transit.create("k")
    status, body = transit.post("keys/k/rotate", {"activation_date": rfc3339(3600)})
    assert status == 200 and body["data"]["versions"]["2"]["state"] == "pre-active"
    assert transit.ok("POST", "encrypt/k", {"plaintext": b64(b"x")})["key_version"] == 1  # v2 not yet usable
    assert transit.post("encrypt/k", {"plaintext": b64(b"x"), "key_version": 2})[0] == 400
    transit.engine.tick(time.time() + 3601)
    life = versions(transit, "k")["2"]
    assert life["state"] == "active" and life["state_history"][0]["accessor"] == "strongroom-scheduler"
    assert transit.ok("POST", "encrypt/k", {"plaintext": b64(b"x")})["key_version"] == 2
    status, body = transit.post("keys/p", {"activation_date": "tomorrow"})
    assert status == 400


def test_compromise_stops_protection_at_once_rotates_and_rewrap_moves_ciphertexts_off(transit):
    transit.create("k")
    old = [transit.encrypt("k", bytes([i]) * 8) for i in range(3)]
    status, body = transit.post("keys/k/versions/1/compromise", {"reason": "laptop stolen", "rotate": True})
    data = body["data"]
    assert status == 200 and data["compromised_versions"] == [1] and data["latest_version"] == 2
    assert data["versions"]["1"]["state_history"][-1]["reason"] == "laptop stolen"
    assert transit.post("encrypt/k", {"plaintext": b64(b"x"), "key_version": 1})[0] == 400
    fresh = transit.encrypt("k", b"new")
    results = transit.ok("POST", "keys/k/rewrap-compromised", {"batch_input": [
        {"ciphertext": c, "reference": str(i)} for i, c in enumerate(old + [fresh, "vault:v1:AAAA"])]})["batch_results"]
    assert [r.get("rewrapped") for r in results] == [True, True, True, False, None]
    assert "error" in results[4] and results[3]["ciphertext"] == fresh
    for i, result in enumerate(results[:3]):
        assert result["ciphertext"].startswith("vault:v2:") and result["previous_version"] == 1
        assert transit.decrypt("k", result["ciphertext"]) == bytes([i]) * 8


def test_compromising_the_only_version_without_rotation_stops_encryption(transit):
    transit.create("k")
    assert transit.post("keys/k/versions/latest/compromise")[0] == 200
    status, body = transit.post("encrypt/k", {"plaintext": b64(b"x")})
    assert status == 400 and body == {"errors": ["key version 1 is compromised and cannot be used to protect data"]}
    results = transit.ok("POST", "keys/k/rewrap-compromised", {"batch_input": [
        {"ciphertext": "vault:v1:" + "A" * 40}]})["batch_results"]
    assert "error" in results[0]


def test_usage_limit_rotates_the_key_and_counts_survive_in_storage(transit):
    transit.create("k", usage_limit=5)
    for _ in range(5):
        transit.encrypt("k", b"x")
    life = versions(transit, "k")["1"]
    assert life["encryptions"] == 5 and life["encryptions_reserved"] == 5
    assert transit.post("encrypt/k", {"plaintext": b64(b"x"), "key_version": 1})[0] == 400
    assert transit.ok("POST", "encrypt/k", {"plaintext": b64(b"x")})["key_version"] == 2
    # a restart (cache dropped, record re-read) resumes from the reservation: never under-counts
    transit.engine.store.close()
    reloaded = versions(transit, "k")
    assert reloaded["1"]["encryptions"] == 5 and reloaded["2"]["encryptions"] >= 1
    assert transit.post("keys/k/config", {"usage_limit": 0})[0] == 400


def test_reservations_are_written_in_blocks_not_per_encryption(transit):
    transit.create("k")
    engine = transit.engine
    writes = []
    original = engine.store.put
    engine.store.put = lambda key: (writes.append(key.name), original(key))  # type: ignore[method-assign]
    try:
        transit.ok("POST", "encrypt/k", {"batch_input": [{"plaintext": b64(b"x")}] * 300})
        for _ in range(20):
            transit.encrypt("k", b"x")
    finally:
        del engine.store.put
    assert writes == ["k"]
    assert versions(transit, "k")["1"]["encryptions"] == 320


def test_cryptoperiods_stop_encrypting_then_decrypting_and_tick_rotates(transit):
    status, body = transit.post("keys/p", {"originator_usage_period": "2h", "recipient_usage_period": "1h"})
    assert status == 400
    transit.create("k", originator_usage_period="1h", recipient_usage_period="3h")
    ciphertext = transit.encrypt("k", b"x")
    transit.engine.tick(time.time() + 3601)
    data = transit.ok("GET", "keys/k")
    assert data["latest_version"] == 2 and data["versions"]["1"]["state"] == "deactivated"
    assert transit.decrypt("k", ciphertext) == b"x"  # the recipient usage period goes on
    assert "originator_usage_end" in data["versions"]["1"] and "recipient_usage_end" in data["versions"]["1"]
    # per-operation enforcement, without waiting for a tick: pretend the version is older
    transit.engine.store.get("k").versions[1].life.activated_ns -= 4 * 3600 * 10**9
    status, body = transit.post("decrypt/k", {"ciphertext": ciphertext})
    assert status == 400 and body == {"errors": ["key version 1 is past its recipient usage period"]}


def test_kcv_is_the_x9_24_cmac_for_aes_and_checked_on_import(transit):
    transit.create("k", exportable=True)
    key_bytes = base64.b64decode(transit.ok("GET", "export/encryption-key/k/1")["keys"]["1"])
    expected = CMAC.new(key_bytes, ciphermod=AES).update(bytes(16)).digest()[:3].hex().upper()
    assert versions(transit, "k")["1"]["kcv"] == expected
    exported = transit.ok("GET", "export/encryption-key/k")
    assert exported["kcvs"] == {"1": expected} and exported["kcv_algorithm"] == "aes-cmac"
    status, body = transit.post("keys/imp/import", {"ciphertext": transit.wrap_for_import(key_bytes),
                                                    "expected_kcv": "000000" if expected != "000000" else "111111"})
    assert status == 400 and body == {"errors": ["the imported key's check value does not match expected_kcv"]}
    assert transit.call("GET", "keys/imp")[0] == 404
    status, _ = transit.post("keys/imp/import", {"ciphertext": transit.wrap_for_import(key_bytes),
                                                 "expected_kcv": expected.lower()})
    assert status == 204 and versions(transit, "imp")["1"]["kcv"] == expected


def test_other_key_types_have_an_hmac_sha256_kcv(transit):
    one = transit.create("a", type="chacha20-poly1305")
    two = transit.create("b", type="ed25519")
    assert one["kcv_algorithm"] == two["kcv_algorithm"] == "hmac-sha256"
    assert len(one["versions"]["1"]["kcv"]) == 6 and len(two["versions"]["1"]["kcv"]) == 6


def _view_holds(transit, needle: bytes) -> bool:
    """Whether any entry of the mount's view (decrypted by the barrier) contains needle."""
    view = transit.engine.store._view
    pending, found = [""], False
    while pending:
        prefix = pending.pop()
        for name in view.list(prefix):
            if name.endswith("/"):
                pending.append(prefix + name)
            else:
                found = found or needle in msgpack.packb(view.get(prefix + name))
    return found


def test_scheduled_destruction_can_be_cancelled_then_removes_the_key_bytes_for_good(transit):
    transit.create("k", exportable=True)
    transit.ok("POST", "keys/k/rotate")
    key_bytes = base64.b64decode(transit.ok("GET", "export/encryption-key/k/1")["keys"]["1"])
    ciphertext = transit.encrypt("k", b"secret", key_version=1)
    assert _view_holds(transit, key_bytes)  # the check below can fail
    data = transit.ok("POST", "keys/k/versions/1/destroy")
    assert data["versions"]["1"]["destruction_time"] and data["versions"]["1"]["state"] == "suspended"
    assert transit.post("decrypt/k", {"ciphertext": ciphertext})[0] == 400  # does nothing while waiting
    assert transit.ok("POST", "keys/k/versions/1/cancel-destroy")["versions"]["1"]["state"] == "active"
    assert transit.decrypt("k", ciphertext) == b"secret"
    kcv = transit.ok("POST", "keys/k/versions/1/destroy")["versions"]["1"]["kcv"]
    transit.engine.tick(time.time() + 6 * DAY)
    assert versions(transit, "k")["1"]["state"] == "suspended"  # the waiting period is not over
    transit.engine.tick(time.time() + 7 * DAY + 60)
    life = versions(transit, "k")["1"]
    assert life["state"] == "destroyed" and life["kcv"] == kcv
    assert [h["state"] for h in life["state_history"]][-2:] == ["deactivated", "destroyed"]
    status, body = transit.post("decrypt/k", {"ciphertext": ciphertext})
    assert status == 400 and body == {"errors": ["key version 1 is destroyed and cannot be used to process data"]}
    assert transit.call("GET", "export/encryption-key/k/1")[0] == 400
    assert not _view_holds(transit, key_bytes)
    transit.server.core.backend.flush()
    assert key_bytes not in (transit.server.data_dir / "data.mdb").read_bytes()
    assert transit.post("keys/k/versions/1/cancel-destroy")[0] == 400


def test_destroying_every_version_is_crypto_shredding(transit):
    transit.create("k")
    transit.ok("POST", "keys/k/rotate")
    ciphertexts = [transit.encrypt("k", b"a", key_version=v) for v in (1, 2)]
    data = transit.ok("POST", "keys/k/destroy", {"reason": "customer left"})
    assert all(v["destruction_time"] for v in data["versions"].values())
    transit.engine.tick(time.time() + 8 * DAY)
    assert {v["state"] for v in versions(transit, "k").values()} == {"destroyed"}
    assert [transit.post("decrypt/k", {"ciphertext": c})[0] for c in ciphertexts] == [400, 400]
    assert all(v.secret is None and v.hmac_key is None for v in transit.engine.store.get("k").versions.values())
