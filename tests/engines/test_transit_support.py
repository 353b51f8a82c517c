"""Shared fixtures and helpers for the transit tests (no tests of its own).

One strongroom server per test module (starting one costs about a second), and a fresh
transit mount per test, so tests stay independent without paying for a server each.
"""

from __future__ import annotations

import base64
import itertools
import os
import re
from dataclasses import dataclass
from typing import Any, Iterator

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.keywrap import aes_key_wrap_with_padding

from conftest import RunningServer, initialise, running_server

ENVELOPE = {"request_id", "lease_id", "renewable", "lease_duration", "data", "wrap_info", "warnings", "auth"}
CIPHERTEXT = re.compile(r"vault:v(\d+):([A-Za-z0-9+/]*={0,2})")
NANO_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z")
_mount_numbers = itertools.count(1)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def unb64(text: str) -> bytes:
    return base64.b64decode(text)


@dataclass
class Transit:
    """A transit mount on a running server, with the root token."""

    server: RunningServer
    mount: str

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        status, payload, _ = self.server.call(method, f"/v1/{self.mount}/{path}", body, token=self.server.root_token)
        return status, payload

    def post(self, path: str, body: Any = None) -> tuple[int, Any]:
        return self.call("POST", path, body if body is not None else {})

    def ok(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        """The data of a call that must answer 200."""
        status, payload = self.call(method, path, body if body is not None or method == "GET" else {})
        assert status == 200, (method, path, status, payload)
        return payload["data"]

    def create(self, name: str, **fields: Any) -> dict[str, Any]:
        return self.ok("POST", f"keys/{name}", fields)

    def encrypt(self, name: str, plaintext: bytes, **fields: Any) -> str:
        return self.ok("POST", f"encrypt/{name}", {"plaintext": b64(plaintext), **fields})["ciphertext"]

    def decrypt(self, name: str, ciphertext: str, **fields: Any) -> bytes:
        return unb64(self.ok("POST", f"decrypt/{name}", {"ciphertext": ciphertext, **fields})["plaintext"])

    @property
    def engine(self) -> Any:
        return self.server.core.engines[f"{self.mount}/"]

    def wrap_for_import(self, key_material: bytes, hash_algorithm: hashes.HashAlgorithm | None = None) -> str:
        """A BYOK ciphertext for this mount: RSA-OAEP(ephemeral) || KWP(ephemeral, key)."""
        return wrap_for_import(self.ok("GET", "wrapping_key")["public_key"], key_material, hash_algorithm)


def wrap_for_import(public_pem: str, key_material: bytes, hash_algorithm: hashes.HashAlgorithm | None = None) -> str:
    algorithm = hash_algorithm or hashes.SHA256()
    public = serialization.load_pem_public_key(public_pem.encode())
    ephemeral = os.urandom(32)
    wrapped = public.encrypt(ephemeral, padding.OAEP(mgf=padding.MGF1(algorithm), algorithm=algorithm, label=None))
    return b64(wrapped + aes_key_wrap_with_padding(ephemeral, key_material))


@pytest.fixture(scope="module")
def transit_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with running_server(tmp_path_factory.mktemp("transit") / "data") as server:
        yield initialise(server)


def mount_transit(server: RunningServer) -> Transit:
    mount = f"transit{next(_mount_numbers)}"
    status, body, _ = server.call("POST", f"/v1/sys/mounts/{mount}", {"type": "transit"}, token=server.root_token)
    assert status == 204, body
    return Transit(server, mount)


@pytest.fixture
def transit(transit_server: RunningServer) -> Transit:
    """A fresh transit mount on the module's server."""
    return mount_transit(transit_server)
