"""Handlers for the keyless and HMAC endpoints: random, hash, hmac/:name, and the HMAC half
of verify/:name. Messages are Vault's; HMAC comparison is constant time.

Every version of every key has its own 256-bit HMAC key (for hmac-type keys, the key itself),
so hmac/:name works with any key type, as in Vault.
"""

from __future__ import annotations

import hmac as std_hmac
import os
import time
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as crypto_hmac

from server.engines.transit_asym import HASHES
from server.engines.transit_encoding import (
    VERSION_PREFIX,
    Base64Error,
    b64decode,
    b64encode,
    go_atoi,
    version_prefix,
)
from server.engines.transit_errors import TransitError
from server.engines.transit_fields import Fields, string_map_batch
from server.engines.transit_key import TransitKey
from server.errors import BadRequestError
from server.request import Request
from server.routing import Reply, logical

if TYPE_CHECKING:
    import re

    from server.engines.transit import TransitEngine

RANDOM_MAX_BYTES = 128 * 1024  # Vault's random.APIMaxBytes
RANDOM_SOURCES = ("", "platform", "seal", "all")
HASH_DATA_ALGORITHMS = ("sha2-224", "sha2-256", "sha2-384", "sha2-512", "sha3-224", "sha3-256", "sha3-384",
                        "sha3-512")
DEFAULT_HASH = "sha2-256"


async def random_bytes(engine: "TransitEngine", req: Request, match: "re.Match[str]") -> Reply:
    """random[/source][/bytes] (Vault's HandleRandomAPI). strongroom has no seal entropy
    source, so "seal" draws from the platform with Vault's warning."""
    fields = Fields(req.data)
    source, url_bytes = match["source"], match["urlbytes"]
    if source is None:
        count, source = fields.integer("bytes", 32), "platform"
    elif url_bytes is None and source in RANDOM_SOURCES:
        count = fields.integer("bytes", 32)
    elif url_bytes is None:
        count, source = _url_count(source), "platform"
    else:
        count = _url_count(url_bytes)
    output = fields.string("format", "base64")
    if count < 1:
        raise BadRequestError("'bytes' cannot be less than 1")
    if count > RANDOM_MAX_BYTES:
        raise BadRequestError(f"'bytes' should be less than {RANDOM_MAX_BYTES}")
    if output not in ("hex", "base64"):
        raise BadRequestError(f'unsupported encoding format "{output}"; must be "hex" or "base64"')
    if source not in RANDOM_SOURCES:
        raise BadRequestError(f'unsupported entropy source "{source}"; must be "platform" or "seal", or "all"')
    data = os.urandom(count)
    warnings = ["no seal/entropy augmentation available, using platform entropy source"] if source == "seal" else None
    return logical(req, {"random_bytes": data.hex() if output == "hex" else b64encode(data)}, warnings=warnings)


def _url_count(text: str) -> int:
    value = go_atoi(text)
    if value is None:
        raise BadRequestError(f'error parsing url-set byte count: strconv.Atoi: parsing "{text}": invalid syntax')
    return value


async def hash_data(engine: "TransitEngine", req: Request, match: "re.Match[str]") -> Reply:
    fields = Fields(req.data)
    if not fields.has("input"):
        raise BadRequestError("input missing")
    output = fields.string("format", "hex")
    algorithm = match["urlalgorithm"] or fields.string("algorithm", DEFAULT_HASH)
    try:
        data = b64decode(fields.string("input"))
    except Base64Error as exc:
        raise BadRequestError(f"unable to decode input as base64: {exc}") from None
    if output not in ("hex", "base64"):
        raise BadRequestError(f'unsupported encoding format {output}; must be "hex" or "base64"')
    if algorithm not in HASH_DATA_ALGORITHMS:
        raise BadRequestError(f"unsupported algorithm {algorithm}")
    h = hashes.Hash(HASHES[algorithm]())  # type: ignore[misc]
    h.update(data)
    digest = h.finalize()
    return logical(req, {"sum": digest.hex() if output == "hex" else b64encode(digest)})


def requested_hash(match: "re.Match[str]", fields: Fields) -> str:
    """The URL's algorithm, else hash_algorithm (which defaults to sha2-256, so `algorithm`
    only counts when hash_algorithm is sent empty), as Vault's sign and verify read them."""
    return (match["urlalgorithm"] or fields.string("hash_algorithm", DEFAULT_HASH)
            or fields.string("algorithm", DEFAULT_HASH) or DEFAULT_HASH)


def _key(engine: "TransitEngine", name: str) -> TransitKey:
    key = engine.store.get(name)
    if key is None:
        raise BadRequestError("encryption key not found")
    return key


def hmac_key(key: TransitKey, version: int) -> memoryview:
    """Vault's Policy.HMACKey: the version's HMAC key, with its version checks."""
    key.require_usable()
    if version < 0:
        raise TransitError("key version does not exist (cannot be negative)")
    if version > key.latest_version:
        raise TransitError(f"key version does not exist; latest key version is {key.latest_version}")
    entry = key.version(version)
    if entry.hmac_key is None:
        raise TransitError("no HMAC key exists for that key version")
    return entry.hmac_key.view()


def _mac(algorithm: str, secret: memoryview, data: bytes) -> bytes:
    mac = crypto_hmac.HMAC(secret, HASHES[algorithm]())  # type: ignore[misc]
    mac.update(data)
    return mac.finalize()


async def hmac(engine: "TransitEngine", req: Request, match: "re.Match[str]") -> Reply:
    fields = Fields(req.data)
    version = fields.integer("key_version")
    algorithm = match["urlalgorithm"] or fields.string("algorithm", DEFAULT_HASH)
    key = _key(engine, match["name"])
    if version == 0:
        version = key.newest_activated(time.time_ns())
    elif version != key.latest_version and 0 < key.min_encryption_version and version < key.min_encryption_version:
        raise BadRequestError("cannot generate HMAC: version is too old (disallowed by policy)")
    key.check_protect(version)
    secret = hmac_key(key, version)
    if HASHES.get(algorithm) is None:
        raise BadRequestError("unsupported algorithm '\\x00'")  # Vault prints its zero HashType
    raw = req.data.get("batch_input")
    if raw is not None:
        items = string_map_batch(raw)
    elif not fields.has("input"):
        raise BadRequestError("missing input for HMAC")
    else:
        items = [{"input": fields.string("input")}]
    results: list[dict[str, Any]] = []
    for item in items:
        result: dict[str, Any] = {}
        if "input" not in item:
            result["error"] = "missing input for HMAC"
        else:
            try:
                result["hmac"] = version_prefix(version) + b64encode(_mac(algorithm, secret, b64decode(item["input"])))
            except Base64Error as exc:
                result["error"] = f"unable to decode input as base64: {exc}"
        results.append(result)
    if raw is None:
        if "error" in results[0]:
            raise BadRequestError(results[0]["error"])
        return logical(req, results[0])
    for item, result in zip(items, results):
        result["reference"] = item.get("reference", "")
    return logical(req, {"batch_results": results})


async def verify_hmac(engine: "TransitEngine", req: Request, match: "re.Match[str]",
                      items: list[dict[str, str]], batch: bool) -> Reply:
    """The HMAC branch of verify/:name (Vault's pathHMACVerify)."""
    fields = Fields(req.data)
    algorithm = requested_hash(match, fields)
    key = _key(engine, match["name"])
    if algorithm not in HASHES:
        raise BadRequestError(f'invalid hash algorithm "{algorithm}"')
    if HASHES[algorithm] is None:
        raise BadRequestError(f'invalid hash algorithm "{algorithm}" for an HMAC')
    results = [_verify_one(key, algorithm, item) for item in items]
    if not batch:
        if "error" in results[0]:
            raise BadRequestError(results[0]["error"])
        return logical(req, {"valid": bool(results[0].get("valid"))})
    for item, result in zip(items, results):
        result["reference"] = item.get("reference", "")
    return logical(req, {"batch_results": results})


def _verify_one(key: TransitKey, algorithm: str, item: dict[str, str]) -> dict[str, Any]:
    if "input" not in item:
        return {"error": "missing input"}
    try:
        data = b64decode(item["input"])
    except Base64Error as exc:
        return {"error": f"unable to decode input as base64: {exc}"}
    if "hmac" not in item:
        return {"error": "missing hmac"}
    value = item["hmac"]
    if not value.startswith(VERSION_PREFIX):
        return {"error": "invalid HMAC to verify: no prefix"}
    parts = value[len(VERSION_PREFIX):].split(":", 1)
    if len(parts) != 2:
        return {"error": "invalid HMAC: wrong number of fields"}
    version = go_atoi(parts[0])
    if version is None:
        return {"error": "invalid HMAC: version number could not be decoded"}
    try:
        expected = b64decode(parts[1])
    except Base64Error as exc:
        return {"error": f"unable to decode verification HMAC as base64: {exc}"}
    if version > key.latest_version:
        return {"error": "invalid HMAC: version is too new"}
    if key.min_decryption_version > 0 and version < key.min_decryption_version:
        return {"error": "cannot verify HMAC: version is too old (disallowed by policy)"}
    try:
        key.check_process(version)
        secret = hmac_key(key, version)
    except TransitError as exc:
        return {"error": exc.message}
    # omitempty: Vault's batch items show "valid" only when it is true
    return {"valid": True} if std_hmac.compare_digest(_mac(algorithm, secret, data), expected) else {}

