"""Handlers for sign/:name and verify/:name (signatures; HMACs are handed to transit_ops_misc).

Field handling, batch shapes and messages are Vault's pathSignWrite / pathVerifyWrite,
including its quirks (the batch sign item calls the public key "publickey"). Errors Vault
returns as 500s for a bad request (a version that does not exist) are 400s here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from server.engines import transit_asym as asym
from server.engines.transit_encoding import Base64Error, b64decode, b64encode, go_atoi
from server.engines.transit_errors import TransitError
from server.engines.transit_fields import Fields, string_map_batch
from server.engines.transit_key import TransitKey
from server.engines.transit_ops_misc import requested_hash, verify_hmac
from server.errors import BadRequestError
from server.request import Request
from server.routing import Reply, logical

if TYPE_CHECKING:
    import re

    from server.engines.transit import TransitEngine


class SignatureOptions:
    """hash_algorithm, marshaling_algorithm, prehashed, signature_algorithm and salt_length,
    checked in Vault's order."""

    def __init__(self, match: "re.Match[str]", fields: Fields) -> None:
        self.hash_name = requested_hash(match, fields)
        if self.hash_name not in asym.HASHES:
            raise BadRequestError(f'invalid hash algorithm "{self.hash_name}"')
        self.marshaling = fields.string("marshaling_algorithm", "asn1")
        if self.marshaling not in asym.MARSHALINGS:
            raise BadRequestError(f'invalid marshaling type "{self.marshaling}"')
        self.prehashed = fields.boolean("prehashed")
        self.signature_algorithm = fields.string("signature_algorithm")
        self.salt_length = _salt_length(fields)

    def key(self, engine: "TransitEngine", name: str, missing: str, verb: str) -> TransitKey:
        """The named signing key, refused with Vault's messages (sign and verify differ)."""
        key = engine.store.get(name)
        if key is None:
            raise BadRequestError(missing)
        if not key.type.supports_signing:
            raise BadRequestError(f"key type {key.type.name} does not support {verb}")
        if self.hash_name == "none" and (not self.prehashed or self.signature_algorithm != "pkcs1v15"):
            raise BadRequestError("hash_algorithm=none requires both prehashed=true and signature_algorithm=pkcs1v15")
        return key

    def message(self, key: TransitKey, data: bytes) -> bytes:
        return asym.signing_input(key.type, self.hash_name, self.prehashed, data)

    @property
    def scheme(self) -> dict[str, Any]:
        return {"hash_name": self.hash_name, "signature_algorithm": self.signature_algorithm,
                "marshaling": self.marshaling, "salt_length": self.salt_length}


def _salt_length(fields: Fields) -> int:
    if not fields.has("salt_length"):
        return asym.SALT_AUTO
    raw = fields.string("salt_length")
    text = raw.lower()
    if text == "auto":
        return asym.SALT_AUTO
    if text == "hash":
        return asym.SALT_HASH
    value = go_atoi(text)
    if value is None:
        raise BadRequestError(f"salt length neither 'auto', 'hash', nor an int: {raw}")
    if value < asym.SALT_HASH:
        raise BadRequestError(f"salt length is invalid: {value}")
    return value


def _item_input(item: dict[str, str]) -> tuple[bytes, bytes]:
    """(input, context) of one item, or TransitError with Vault's item message."""
    if "input" not in item:
        raise TransitError("missing input")
    try:
        data = b64decode(item["input"])
    except Base64Error as exc:
        raise TransitError(f"unable to decode input as base64: {exc}") from None
    context = b""
    if item.get("context"):
        try:
            context = b64decode(item["context"])
        except Base64Error:
            raise TransitError("failed to base64-decode context") from None
    return data, context


async def sign(engine: "TransitEngine", req: Request, match: "re.Match[str]") -> Reply:
    fields = Fields(req.data)
    version = fields.integer("key_version")
    options = SignatureOptions(match, fields)
    key = options.key(engine, match["name"], "signing key not found", "signing")
    raw = req.data.get("batch_input")
    items = string_map_batch(raw) if raw is not None else [
        {"input": fields.string("input"), "context": fields.string("context")}]
    results: list[dict[str, Any]] = []
    for item in items:
        try:
            data, context = _item_input(item)
            signature, used, public = asym.sign(key, version, context, options.message(key, data), **options.scheme)
        except TransitError as exc:
            results.append({"key_version": 0, "error": exc.message})
            continue
        result: dict[str, Any] = {"signature": signature, "key_version": used}
        if public:
            result["publickey"] = b64encode(public)
        results.append(result)
    if raw is None:
        if "error" in results[0]:
            raise BadRequestError(results[0]["error"])
        data = {"signature": results[0]["signature"], "key_version": results[0]["key_version"]}
        if "publickey" in results[0]:
            data["public_key"] = results[0]["publickey"]
        return logical(req, data)
    for item, result in zip(items, results):
        result["reference"] = item.get("reference", "")
    return logical(req, {"batch_results": results})


async def verify(engine: "TransitEngine", req: Request, match: "re.Match[str]") -> Reply:
    fields = Fields(req.data)
    raw = req.data.get("batch_input")
    if raw is not None:
        items = string_map_batch(raw)
    else:
        items = [{"input": fields.string("input"), "context": fields.string("context")}]
        for field in ("signature", "hmac"):
            if fields.has(field):
                items[0][field] = fields.string(field)
    signatures = any("signature" in item for item in items)
    hmacs = any("hmac" in item and "signature" not in item for item in items)
    missing = any("signature" not in item and "hmac" not in item for item in items)
    batch = raw is not None
    if not batch and not signatures and not hmacs:
        raise BadRequestError("neither a 'signature' nor an 'hmac' were given to verify")
    if signatures and hmacs:
        raise BadRequestError("elements of batch_input must all provide 'signature' or all provide 'hmac'")
    if missing and signatures:
        raise BadRequestError("some elements of batch_input are missing 'signature'")
    if missing and hmacs:
        raise BadRequestError("some elements of batch_input are missing 'hmac'")
    if missing:
        raise BadRequestError("no batch_input elements have 'signature' or 'hmac'")
    if hmacs:
        return await verify_hmac(engine, req, match, items, batch)
    options = SignatureOptions(match, fields)
    key = options.key(engine, match["name"], "signature verification key not found", "verification")
    results: list[dict[str, Any]] = []
    for item in items:
        try:
            data, context = _item_input(item)
            if "signature" not in item:
                raise TransitError("missing signature")
            valid = asym.verify(key, context, options.message(key, data), item["signature"], **options.scheme)
        except TransitError as exc:
            results.append({"valid": False, "error": exc.message})
            continue
        results.append({"valid": valid})
    if not batch:
        if "error" in results[0]:
            raise BadRequestError(results[0]["error"])
        return logical(req, {"valid": results[0]["valid"]})
    for item, result in zip(items, results):
        result["reference"] = item.get("reference", "")
    return logical(req, {"batch_results": results})
