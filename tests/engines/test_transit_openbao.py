"""strongroom's transit beside a real OpenBao dev server (ports 18321-18329): the same request
gets the same answer, the same key material (BYOK or backup) gives ciphertexts, signatures
and HMACs that move between the two in both directions. Skipped when `bao` is not installed."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import time
import urllib.error
import urllib.request
from typing import Any, Iterator

import pytest

from conftest import BAO
from test_transit_support import b64, mount_transit, transit_server, wrap_for_import  # noqa: F401

PORTS = range(18321, 18330)
VOLATILE = {"request_id", "lease_id", "lease_duration", "renewable", "wrap_info", "auth", "mount_type"}
# strongroom's key lifecycle additions to the key read (OpenBao has none of them)
VOLATILE |= {"usage_limit", "originator_usage_period", "recipient_usage_period", "destruction_waiting_period",
             "kcv_algorithm", "compromised_versions", "versions", "kcvs"}
RANDOM_FIELDS = {"creation_time", "public_key", "random_bytes", "plaintext", "backup", "publickey", "time"}
VERSIONED = re.compile(r"vault:v(\d+):[A-Za-z0-9+/=_-]+")


class OpenBao:
    def __init__(self, url: str) -> None:
        self.url = url

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, method=method, headers={"X-Vault-Token": "root"})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                status, payload = response.status, response.read()
        except urllib.error.HTTPError as err:
            status, payload = err.code, err.read()
        return status, json.loads(payload) if payload else None


def _free_port() -> int | None:
    for port in PORTS:
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    return None


@pytest.fixture(scope="module")
def openbao(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenBao]:
    port = _free_port()
    if BAO is None or port is None:
        pytest.skip("needs the bao binary and a free port in 18321-18329")
    home = tmp_path_factory.mktemp("openbao")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_"))} | {"HOME": str(home)}
    process = subprocess.Popen([BAO, "server", "-dev", "-dev-root-token-id=root",
                                f"-dev-listen-address=127.0.0.1:{port}"], env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    bao = OpenBao(f"http://127.0.0.1:{port}")
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if bao.call("GET", "/v1/sys/health")[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                pytest.skip("the OpenBao dev server did not start")
            time.sleep(0.1)
        yield bao
    finally:
        process.kill()  # a dev server keeps nothing worth a graceful stop
        process.wait(30)


class Pair:
    """The same transit mount path on strongroom and on OpenBao."""

    def __init__(self, strongroom, bao: OpenBao) -> None:
        self.strongroom, self.bao, self.mount = strongroom, bao, strongroom.mount
        assert bao.call("POST", f"/v1/sys/mounts/{self.mount}", {"type": "transit"})[0] == 204

    def both(self, method: str, path: str, body: Any = None) -> tuple[tuple[int, Any], tuple[int, Any]]:
        return self.strongroom.call(method, path, body), self.bao.call(method, f"/v1/{self.mount}/{path}", body)

    def side(self, which: str):
        return self.strongroom.call if which == "strongroom" else (
            lambda method, path, body=None: self.bao.call(method, f"/v1/{self.mount}/{path}", body))


@pytest.fixture
def pair(transit_server, openbao) -> Pair:
    return Pair(mount_transit(transit_server), openbao)


def normalised(value: Any) -> Any:
    """Drop what differs between any two servers (ids, times, fresh key material)."""
    if isinstance(value, dict):
        return {k: ("<random>" if k in RANDOM_FIELDS and v else _keys(v) if k == "keys" else normalised(v))
                for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [normalised(v) for v in value]
    if isinstance(value, str):
        return VERSIONED.sub(lambda m: f"vault:v{m.group(1)}:<b64>", value)
    return value


def _keys(value: Any) -> Any:
    """A "keys" map of versions: creation times and exported material differ, names do not."""
    if isinstance(value, dict):
        return {k: normalised(v) if isinstance(v, dict) else "<time or material>" for k, v in value.items()}
    return normalised(value)


SAME_ANSWERS = [
    ("POST", "keys/a", {}), ("POST", "keys/e", {"type": "ecdsa-p521"}), ("POST", "keys/d", {"type": "ed25519", "derived": True}),
    ("POST", "keys/h", {"type": "hmac", "key_size": 64}), ("GET", "keys/a", None), ("GET", "keys/e", None),
    ("LIST", "keys", None), ("GET", "keys/nope", None), ("POST", "keys/x", {"type": "bogus"}),
    ("POST", "keys/a/rotate", {}), ("POST", "keys/a/config", {"min_decryption_version": 2, "min_encryption_version": 2}),
    ("GET", "keys/a", None), ("POST", "keys/a/trim", {"min_available_version": 2}), ("GET", "keys/a", None),
    ("POST", "encrypt/a", {"plaintext": "aGk=", "key_version": 1}), ("POST", "encrypt/a", {"plaintext": "bad!"}),
    ("POST", "encrypt/a", {"batch_input": [{"plaintext": "aGk="}, {"plaintext": "x"}], "partial_failure_response_code": 299}),
    ("POST", "decrypt/a", {"ciphertext": "vault:v2:" + "A" * 40}), ("POST", "decrypt/a", {"ciphertext": "vault:v1:AAAA"}),
    ("POST", "decrypt/e", {"ciphertext": "vault:v1:AAAA"}), ("POST", "datakey/plaintext/a", {"bits": 512}),
    ("POST", "sign/a", {"input": "aGk="}), ("POST", "sign/e", {"input": "aGk=", "marshaling_algorithm": "jws"}),
    ("POST", "sign/d", {"input": "aGk=", "context": "Y3R4"}), ("POST", "hmac/h/sha3-512", {"input": "aGk="}),
    ("POST", "verify/e", {"input": "aGk=", "signature": "vault:v1:AAAA"}), ("POST", "hash/sha2-384", {"input": "aGk="}),
    ("POST", "random/7", {"format": "hex"}), ("GET", "export/public-key/e", None), ("GET", "backup/a", None),
    ("GET", "config/keys", None),
]


def test_strongroom_answers_as_openbao_does(pair):
    differences = []
    for method, path, body in SAME_ANSWERS:
        mine, theirs = pair.both(method, path, body)
        if theirs[0] == 500 and mine[0] == 400:  # strongroom answers Vault's 500s for bad input with 400s
            theirs = (400, {"errors": [theirs[1]["errors"][0].split("* ", 1)[1].rstrip("\n")]})
        if (mine[0], normalised(mine[1])) != (theirs[0], normalised(theirs[1])):
            differences.append((method, path, mine, theirs))
    assert differences == []


AEAD_CASES = [("aes256-gcm96", 32, False), ("aes128-gcm96", 16, False), ("chacha20-poly1305", 32, False),
              ("xchacha20-poly1305", 32, False), ("aes256-gcm96", 32, True), ("chacha20-poly1305", 32, True)]


@pytest.fixture(scope="module")
def byok_pair(transit_server, openbao) -> Pair:
    """One pair of mounts for the BYOK cases: each side's RSA-4096 wrapping key is made once."""
    pair = Pair(mount_transit(transit_server), openbao)
    pair.wrapping_keys = {which: pair.side(which)("GET", "wrapping_key")[1]["data"]["public_key"]
                          for which in ("strongroom", "openbao")}
    return pair


@pytest.mark.parametrize("key_type, size, derived", AEAD_CASES)
def test_byok_ciphertexts_move_both_ways(byok_pair, key_type, size, derived):
    pair, name = byok_pair, f"{key_type}-{derived}"
    material = os.urandom(size)
    for which, public in pair.wrapping_keys.items():
        body = {"ciphertext": wrap_for_import(public, material), "type": key_type, "derived": derived}
        assert pair.side(which)("POST", f"keys/{name}/import", body)[0] == 204
    extra = {"context": b64(b"tenant")} if derived else {}  # derived imports use Vault's counter-mode KDF
    for source, destination in (("strongroom", "openbao"), ("openbao", "strongroom")):
        status, body = pair.side(source)("POST", f"encrypt/{name}", {"plaintext": b64(b"moving"),
                                                                     "associated_data": b64(b"ad"), **extra})
        assert status == 200, body
        status, body = pair.side(destination)("POST", f"decrypt/{name}", {"ciphertext": body["data"]["ciphertext"],
                                                                          "associated_data": b64(b"ad"), **extra})
        assert (status, body["data"]) == (200, {"plaintext": b64(b"moving")}), (source, body)


@pytest.mark.parametrize("source, destination", [("strongroom", "openbao"), ("openbao", "strongroom")])
def test_backups_restore_across_and_convergent_ciphertexts_agree(pair, source, destination):
    make, take = pair.side(source), pair.side(destination)
    for name, spec in (("conv", {"derived": True, "convergent_encryption": True}), ("rsa", {"type": "rsa-2048"}),
                       ("ec", {"type": "ecdsa-p384"})):
        assert make("POST", f"keys/{name}", {**spec, "exportable": True, "allow_plaintext_backup": True})[0] == 200
        make("POST", f"keys/{name}/rotate", {})
        assert take("POST", f"restore/{name}", {"backup": make("GET", f"backup/{name}")[1]["data"]["backup"]})[0] == 204
    context = {"context": b64(b"row-7")}
    made = make("POST", "encrypt/conv", {"plaintext": b64(b"same"), **context})[1]["data"]["ciphertext"]
    assert take("POST", "encrypt/conv", {"plaintext": b64(b"same"), **context})[1]["data"]["ciphertext"] == made
    ciphertext = make("POST", "encrypt/rsa", {"plaintext": b64(b"oaep"), "key_version": 1})[1]["data"]["ciphertext"]
    assert take("POST", "decrypt/rsa", {"ciphertext": ciphertext})[1]["data"] == {"plaintext": b64(b"oaep")}
    for name, fields in (("rsa", {"signature_algorithm": "pkcs1v15"}), ("rsa", {}), ("ec", {"marshaling_algorithm": "jws"})):
        signature = make("POST", f"sign/{name}", {"input": b64(b"doc"), **fields})[1]["data"]["signature"]
        assert take("POST", f"verify/{name}", {"input": b64(b"doc"), "signature": signature, **fields})[1]["data"] == {
            "valid": True}
    assert make("POST", "hmac/ec", {"input": "aGk="})[1]["data"] == take("POST", "hmac/ec", {"input": "aGk="})[1]["data"]
    mine, theirs = make("GET", "keys/conv")[1]["data"], take("GET", "keys/conv")[1]["data"]
    for info in ("backup_info", "restore_info", *VOLATILE):
        mine.pop(info, None), theirs.pop(info, None)
    assert mine == theirs


def test_exports_match_openbao_byte_for_byte(pair):
    """The same key (an OpenBao backup restored here) exports identically in every format."""
    differences = []
    for key_type in ("ecdsa-p256", "ecdsa-p521", "rsa-2048", "ed25519", "aes128-gcm96"):
        make, take = pair.side("openbao"), pair.side("strongroom")
        assert make("POST", f"keys/{key_type}", {"type": key_type, "exportable": True,
                                                 "allow_plaintext_backup": True})[0] == 200
        backup = make("GET", f"backup/{key_type}")[1]["data"]["backup"]
        assert take("POST", f"restore/{key_type}", {"backup": backup})[0] == 204
        for kind in ("encryption-key", "signing-key", "public-key", "hmac-key"):
            for output in ("", "raw", "der", "pem"):
                mine, theirs = pair.both("GET", f"export/{kind}/{key_type}?format={output}")
                if theirs[0] == 500 and mine[0] == 400:
                    theirs = (400, {"errors": [theirs[1]["errors"][0].split("* ", 1)[1].rstrip("\n")]})
                if mine[0] == 200:  # strongroom adds each version's KCV to an export
                    mine[1]["data"] = {k: v for k, v in mine[1]["data"].items() if k not in VOLATILE}
                if (mine[0], normalised(mine[1]) if mine[0] != 200 else mine[1]["data"]) != (
                        theirs[0], normalised(theirs[1]) if theirs[0] != 200 else theirs[1]["data"]):
                    differences.append((key_type, kind, output, mine, theirs))
    assert differences == []
