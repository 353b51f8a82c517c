"""Password hashing for userpass: Argon2id (RFC 9106) with OWASP's current minimum parameters.

OWASP Password Storage Cheat Sheet: Argon2id, m = 19 MiB (19456 KiB), t = 2, p = 1; a
16-byte random salt and a 32-byte tag. Each stored hash carries its own parameters, so the
defaults can rise later: old hashes still verify, and a successful login re-hashes a
password whose parameters are out of date (needs_rehash).

A login for an unknown user verifies against dummy_hash(): the same parameters, a random
salt and a random tag. It runs the same Argon2id work and can never match, so the answer
takes as long whether or not the user exists.
"""

from __future__ import annotations

import hmac
import os
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id

from server.auth.userpass_errors import UserpassError

ALGORITHM = "argon2id"
ARGON2_VERSION = 0x13  # RFC 9106 §3.1: version 19, the only one Argon2id defines
MAX_PASSWORD_BYTES = 4096


@dataclass(frozen=True)
class Argon2Parameters:
    memory_cost: int = 19456  # KiB
    iterations: int = 2
    lanes: int = 1
    salt_bytes: int = 16
    hash_bytes: int = 32


CURRENT = Argon2Parameters()


class PasswordHashError(UserpassError):
    """A stored hash this server cannot verify (unknown algorithm or parameters)."""


def _encoded(password: str) -> bytearray:
    encoded = bytearray(password.encode())
    if len(encoded) > MAX_PASSWORD_BYTES:
        encoded[:] = bytes(len(encoded))
        raise UserpassError(f"password must be at most {MAX_PASSWORD_BYTES} bytes")
    return encoded


def _derive(password: bytearray, salt: bytes, memory_cost: int, iterations: int, lanes: int, length: int) -> bytearray:
    try:
        kdf = Argon2id(salt=salt, length=length, iterations=iterations, lanes=lanes, memory_cost=memory_cost)
    except (UnsupportedAlgorithm, ValueError, TypeError) as exc:
        raise PasswordHashError("stored password hash has unusable parameters") from exc
    tag = bytearray(length)
    kdf.derive_into(password, tag)
    return tag


def hash_password(password: str, params: Argon2Parameters = CURRENT) -> dict[str, Any]:
    """The record kept for a password: algorithm, version, parameters, salt and tag."""
    secret = _encoded(password)
    salt = os.urandom(params.salt_bytes)
    try:
        tag = _derive(secret, salt, params.memory_cost, params.iterations, params.lanes, params.hash_bytes)
        try:
            return _record(params, salt, bytes(tag))
        finally:
            tag[:] = bytes(len(tag))
    finally:
        secret[:] = bytes(len(secret))


def _record(params: Argon2Parameters, salt: bytes, tag: bytes) -> dict[str, Any]:
    return {
        "algorithm": ALGORITHM, "version": ARGON2_VERSION, "memory_cost": params.memory_cost,
        "iterations": params.iterations, "lanes": params.lanes, "salt": salt, "hash": tag,
    }


def dummy_hash(params: Argon2Parameters = CURRENT) -> dict[str, Any]:
    """A record no password matches, costing what a real one costs to check."""
    return _record(params, os.urandom(params.salt_bytes), os.urandom(params.hash_bytes))


def verify_password(password: str, record: dict[str, Any]) -> bool:
    """Whether password matches record; the tags are compared in constant time."""
    if record.get("algorithm") != ALGORITHM or record.get("version") != ARGON2_VERSION:
        raise PasswordHashError("stored password hash uses an unknown algorithm")
    expected = record["hash"]
    secret = _encoded(password)
    try:
        tag = _derive(secret, record["salt"], record["memory_cost"], record["iterations"], record["lanes"],
                      len(expected))
        try:
            return hmac.compare_digest(bytes(tag), expected)
        finally:
            tag[:] = bytes(len(tag))
    finally:
        secret[:] = bytes(len(secret))


def needs_rehash(record: dict[str, Any], params: Argon2Parameters = CURRENT) -> bool:
    """Whether a stored hash was made with other parameters than the current ones."""
    return (record.get("algorithm"), record.get("memory_cost"), record.get("iterations"), record.get("lanes"),
            len(record.get("salt", b"")), len(record.get("hash", b""))) != (
        ALGORITHM, params.memory_cost, params.iterations, params.lanes, params.salt_bytes, params.hash_bytes)
