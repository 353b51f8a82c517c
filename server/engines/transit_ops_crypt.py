"""Handlers for encrypt, decrypt, rewrap and datakey under transit/, batch_input included.

Batch semantics are Vault's: items are checked first (a context in some items but not all
refuses the whole request), each item then succeeds or carries its own "error", and a batch
with any failed item answers 400 (or partial_failure_response_code when some succeeded)
with the full body. Rewrap reports item errors with a 200, as Vault does.
"""

from __future__ import annotations

import binascii
import functools
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from server.engines.transit_cipher import Decrypt, Encrypt, ciphertext_reader, decryptor, encryptor, seal_all
from server.engines.transit_encoding import Base64Error, b64decode, b64encode
from server.engines.transit_errors import AssociatedDataNotSupportedError, TransitError
from server.engines.transit_fields import Fields, go_type_name
from server.engines.transit_key import TransitKey
from server.engines.transit_lifecycle_usage import make_room, spend, spend_all
from server.engines.transit_symmetric import random_nonces
from server.engines.transit_keytypes import DEFAULT_KEY_TYPE, KEY_TYPES, generate_material
from server.engines.transit_ops_keys import now_ns
from server.errors import BadRequestError
from server.request import Request
from server.routing import Reply, logical

if TYPE_CHECKING:
    import re

    from server.engines.transit import TransitEngine
    from server.engines.transit_store import KeyStore

UPSERT_TYPES = ("aes128-gcm96", "aes256-gcm96", "chacha20-poly1305", "xchacha20-poly1305")
DATAKEY_BITS = {128: 16, 256: 32, 512: 64}
_FIELD_ORDER = ("context", "ciphertext", "plaintext", "key_version", "associated_data", "reference")
_STRING_FIELDS = frozenset(_FIELD_ORDER) - {"key_version"}
_USUAL_FIELDS = {"plaintext": frozenset({"plaintext", "reference"}), "ciphertext": frozenset({"ciphertext", "reference"})}


@dataclass(slots=True)
class BatchItem:
    plaintext: str = ""
    ciphertext: str = ""
    context: str = ""
    key_version: int = 0
    associated_data: str = ""
    reference: str = ""
    decoded_context: bytes = b""
    decoded_plaintext: bytes = b""


def decode_batch(raw: Any, *, plaintext: bool = False, ciphertext: bool = False) -> list[BatchItem]:
    """Vault's decodeBatchRequestItems: per-field type checks, all problems reported at once."""
    if not isinstance(raw, list):
        raise BadRequestError(f"failed to parse batch input: source data must be an array or slice, got "
                              f"{go_type_name(raw)}")
    required = "plaintext" if plaintext else "ciphertext" if ciphertext else ""
    known = _STRING_FIELDS.issuperset
    items, problems = [], []
    for i, entry in enumerate(raw):
        # The usual item (known string fields only, the required one among them) has nothing
        # to report, and _decode_item would set exactly these fields; checked inline because
        # this runs once per item of every batch.
        if type(entry) is dict and (not required or required in entry) and known(entry):
            for value in entry.values():
                if type(value) is not str:
                    break
            else:
                items.append(BatchItem(**entry))
                continue
        if not isinstance(entry, dict):
            raise BadRequestError(f"failed to parse batch input: [{i}] expected a map, got '{go_type_name(entry)}'")
        items.append(_decode_item(i, entry, required, problems))
    if problems:
        raise BadRequestError("failed to parse batch input: " + "\n".join(problems))
    return items


def _decode_item(i: int, entry: dict[str, Any], required: str, problems: list[str]) -> BatchItem:
    item = BatchItem()
    for field_name in _FIELD_ORDER:  # Vault's order, so its messages come in its order
        if field_name not in entry:
            if field_name == required:
                verb = "encrypt" if field_name == "plaintext" else "decrypt"
                problems.append(f"'[{i}].{field_name}' missing {field_name} to {verb}")
            continue
        value = entry[field_name]
        if field_name == "key_version":
            if isinstance(value, int) and not isinstance(value, bool):
                item.key_version = value
            elif isinstance(value, float):
                problems.append(f'error decoding json.Number into [{i}].key_version: strconv.ParseInt: parsing '
                                f'"{value}": invalid syntax')
            elif value is not None:
                problems.append(f"'[{i}].key_version' expected type 'int', got unconvertible type "
                                f"'{go_type_name(value)}'")
        elif value is None and field_name != "plaintext":  # Vault skips nulls, except a null plaintext
            continue
        elif isinstance(value, str):
            setattr(item, field_name, value)
        else:
            problems.append(f"'[{i}].{field_name}' expected type 'string', got unconvertible type "
                            f"'{go_type_name(value)}'")
    return item


@dataclass
class Batch:
    """The items of one encrypt/decrypt/rewrap call, their results, and Vault's bookkeeping."""

    items: list[BatchItem]
    batch: bool  # False: a single item given as top-level fields
    results: list[dict[str, Any]] = field(default_factory=list)
    user_error: bool = False
    success: bool = False
    context_set: bool = False  # whether the items carry a context (check_contexts)

    def __post_init__(self) -> None:
        self.results = [{} for _ in range(len(self.items))]

    def refuse_missing_ciphertexts(self) -> None:
        """An empty ciphertext is the item's error (decode_batch has made sure there is one)."""
        for item, result in zip(self.items, self.results):
            if not item.ciphertext and "error" not in result:
                result["error"], self.user_error = "missing ciphertext to decrypt", True

    def check_contexts(self) -> bool:
        """Decode each item's context; all items or none must have one (Vault's rule)."""
        contexts = [item.context for item in self.items]
        context_set = bool(contexts[0])
        if (not all(contexts)) if context_set else any(contexts):
            raise BadRequestError("context should be set either in all the request blocks or in none")
        self.context_set = context_set
        if not context_set:
            return False
        for item, result in zip(self.items, self.results):
            if "error" not in result:
                try:
                    item.decoded_context = b64decode(item.context)
                except Base64Error as exc:
                    result["error"], self.user_error = str(exc), True
        return context_set

    def run(self, operation: Callable[[int, BatchItem], dict[str, Any]]) -> None:
        """Apply operation to every item that has no error yet."""
        results = self.results
        for index, item in enumerate(self.items):
            result = results[index]
            if "error" in result:
                continue
            try:
                results[index] = operation(index, item)  # result is empty: no error to keep
                self.success = True
            except AssociatedDataNotSupportedError as exc:
                result["error"] = exc.message  # Vault does not count this one as a failed item
            except TransitError as exc:
                result["error"], self.user_error = exc.message, True

    def reply(self, req: Request, fields: Fields, statuses: bool = True) -> Reply:
        """The single result (an item error is the request's 400), or batch_results with
        Vault's status for failed items (rewrap always answers 200)."""
        if not self.batch:
            if "error" in self.results[0]:
                raise BadRequestError(self.results[0]["error"])
            return logical(req, self.results[0])
        rows = self.results  # each result is its row: reference is added in place, not copied
        for item, result in zip(self.items, rows):
            result["reference"] = item.reference
        status, warnings = batch_status(fields, self.user_error, self.success) if statuses else (200, [])
        reply = logical(req, {"batch_results": rows}, warnings=warnings or None)
        reply.status = status
        return reply


def collect(req: Request, single: Callable[[], BatchItem], required: str = "") -> Batch:
    """batch_input's items, or the one item the top-level fields describe."""
    raw = req.data.get("batch_input")
    if raw is None:
        return Batch([single()], batch=False)
    return batch_of(raw, required)


def batch_of(raw: Any, required: str = "") -> Batch:
    """The Batch of a batch_input that was sent (null counts as not sent)."""
    items = decode_batch(raw, plaintext=required == "plaintext", ciphertext=required == "ciphertext")
    if not items:
        raise BadRequestError("missing batch input to process")
    return Batch(items, batch=True)


def per_request(factory: Callable[..., Any]) -> Callable[..., Any]:
    """factory's answers remembered for one request, refusals included: a batch encrypts
    under each (version, context) with one checked, derived cipher, not one per item."""
    answers: dict[tuple[Any, ...], tuple[Any, TransitError | None]] = {}

    def answer(*args: Any) -> Any:
        found = answers.get(args)
        if found is None:
            try:
                found = (factory(*args), None)
            except TransitError as exc:
                found = (None, exc)
            answers[args] = found
        if found[1] is not None:
            raise found[1]
        return found[0]

    return answer


def _single_ciphertext(fields: Fields, **extra: Any) -> BatchItem:
    """The item that decrypt's or rewrap's top-level fields describe."""
    if not fields.string("ciphertext"):
        raise BadRequestError("missing ciphertext to decrypt")
    return BatchItem(ciphertext=fields.string("ciphertext"), context=fields.string("context"), **extra)


def _associated_data(key: TransitKey, index: int, encoded: str) -> bytes | None:
    if not encoded:
        return None
    if not key.type.supports_associated_data:
        raise AssociatedDataNotSupportedError(
            f"'[{index}].associated_data' provided for non-AEAD cipher suite {key.type.name}")
    try:
        return b64decode(encoded)
    except Base64Error as exc:
        raise TransitError(f"unable to get associated_data/additional_data from factory[0]: {exc}") from None


def batch_status(fields: Fields, user_error: bool, success: bool) -> tuple[int, list[str]]:
    """Vault's batchRequestResponse: 400 when an item failed, or the caller's
    partial_failure_response_code when some items succeeded."""
    if not user_error:
        return 200, []
    if success and fields.has("partial_failure_response_code"):
        code = fields.integer("partial_failure_response_code")
        if 1 <= code <= 599:
            return code, []
        return 400, ["invalid HTTP response code override from partial_failure_response_code, reverting to 400"]
    return 400, []


def _upsert(engine: "TransitEngine", fields: Fields, name: str, derived: bool) -> TransitKey:
    """encrypt/:name on a missing key creates it (Vault's upsert), unless config/keys
    disable_upsert is set."""
    convergent = fields.boolean("convergent_encryption")
    if convergent and not derived:
        raise BadRequestError("convergent encryption requires derivation to be enabled, so context is required")
    type_name = fields.string("type", DEFAULT_KEY_TYPE)
    if type_name.startswith("ecdsa-") and type_name in KEY_TYPES:
        raise BadRequestError(f"key type {type_name} not supported for this operation")
    if type_name not in UPSERT_TYPES:
        raise BadRequestError(f"unknown key type {type_name}")
    if engine.store.keys_config()["disable_upsert"]:
        raise BadRequestError("encryption key not found")
    key = TransitKey.define(name, KEY_TYPES[type_name], derived=derived, convergent=convergent)
    key.add_version(generate_material(key.type), now_ns())
    engine.store.put(key)
    return key


async def encrypt(engine: "TransitEngine", req: Request, match: "re.Match[str]") -> Reply:
    fields = Fields(req.data, prefix="")
    raw = req.data.get("batch_input")
    if raw is None:
        return await _encrypt_single(engine, req, match["name"], fields)
    plaintexts = _usual_plaintexts(raw)
    batch = _encrypt_batch(raw) if plaintexts is None else None
    await make_room(engine, match["name"], len(raw))
    key = engine.store.get(match["name"]) or _upsert(engine, fields, match["name"], bool(batch and batch.context_set))
    if batch is None:
        rows = _encrypt_usual(key, engine.store, plaintexts, raw)
        if rows is not None:
            return logical(req, {"batch_results": rows})
        batch = _encrypt_batch(raw)  # some item fails: Batch tells which, and how
    nonces = random_nonces(key.type.nonce_bytes, len(batch.items)) if key.type.nonce_bytes else None
    prepared = per_request(lambda version, context: encryptor(key, version, context, nonces))
    batch.run(functools.partial(_encrypt_item, key, engine.store, prepared))
    return batch.reply(req, fields)


async def _encrypt_single(engine: "TransitEngine", req: Request, name: str, fields: Fields) -> Reply:
    """encrypt without batch_input: the batch's steps in the batch's order for its one item,
    without a batch's bookkeeping (the item's error is the request's 400)."""
    if not fields.has("plaintext"):
        raise BadRequestError("missing plaintext to encrypt")
    item = BatchItem(plaintext=fields.string("plaintext"), context=fields.string("context"),
                     key_version=fields.integer("key_version"), associated_data=fields.string("associated_data"))
    error = _decode_item_texts(item, plaintext=True)
    await make_room(engine, name, 1)
    key = engine.store.get(name) or _upsert(engine, fields, name, bool(item.context))
    if error is None:
        try:
            return logical(req, _encrypt_item(key, engine.store, functools.partial(encryptor, key), 0, item))
        except TransitError as exc:
            error = exc.message
    raise BadRequestError(error)


def _encrypt_item(key: TransitKey, store: "KeyStore", prepared: Callable[[int, bytes], tuple[Encrypt, int]],
                  index: int, item: BatchItem) -> dict[str, Any]:
    """One item's result, counted against the key's usage; `prepared` gives the checked
    encryptor for (version, context)."""
    aad = _associated_data(key, index, item.associated_data) if item.associated_data else None
    run, version = prepared(item.key_version, item.decoded_context)
    spend(store, key, version)
    return {"ciphertext": run(item.decoded_plaintext, aad), "key_version": version}


def _decode_item_texts(item: BatchItem, plaintext: bool = False) -> str | None:
    """Decode a lone item's plaintext (if asked) and context as a batch would, in its order;
    the first error's text, or None."""
    try:
        if plaintext:
            item.decoded_plaintext = b64decode(item.plaintext)
        if item.context:
            item.decoded_context = b64decode(item.context)
    except Base64Error as exc:
        return str(exc)
    return None


def _encrypt_batch(raw: Any) -> Batch:
    """An encrypt batch_input's items, their plaintexts and contexts decoded."""
    batch = batch_of(raw, "plaintext")
    _decode_plaintexts(batch)
    batch.check_contexts()
    return batch


def _usual_texts(raw: Any, name: str) -> list[str] | None:
    """Each item's `name` field, when every item of a batch_input list is the usual one: a map
    of strings holding that field and at most a reference besides. Such a batch needs none of
    decode_batch's checks and no context; None for any other."""
    if type(raw) is not list:
        return None
    allowed = _USUAL_FIELDS[name]
    texts = []
    for entry in raw:
        if type(entry) is not dict or not allowed.issuperset(entry):
            return None
        text, reference = entry.get(name), entry.get("reference", "")
        if type(text) is not str or type(reference) is not str:
            return None
        texts.append(text)
    return texts or None


def _usual_plaintexts(raw: Any) -> list[bytes] | None:
    """The decoded plaintexts of a usual encrypt batch (_usual_texts), or None if it is not
    one or a plaintext is not base64. b64decode's own fast case is inlined: this runs per item."""
    texts = _usual_texts(raw, "plaintext")
    if texts is None:
        return None
    decode, plaintexts = binascii.a2b_base64, []
    try:
        for text in texts:
            size = len(text)
            if not size & 3 and text.find("=", 0, size - 2) < 0:
                try:
                    plaintexts.append(decode(text, strict_mode=True))
                    continue
                except ValueError:
                    pass  # what strict mode refuses, Go may still take (see b64decode)
            plaintexts.append(b64decode(text))
    except Base64Error:
        return None
    return plaintexts


def _encrypt_usual(key: TransitKey, store: "KeyStore", plaintexts: list[bytes],
                   entries: list[dict[str, str]]) -> list[dict[str, Any]] | None:
    """The rows of a usual batch (no context, version or associated data) whose every item
    encrypts, counted in one step; None, having changed nothing, if any item would fail
    (the general path then finds which). RSA's per-item refusals come after counting, and
    derived keys need a context, so only plain AEAD keys take this path."""
    if key.type.family != "aead" or key.derived or key.convergent:
        return None
    try:
        _, version = encryptor(key, 0, b"")  # its checks, in Vault's order
    except TransitError:
        return None
    if not spend_all(store, key, version, len(plaintexts)):
        return None
    return [{"ciphertext": text, "key_version": version, "reference": entry.get("reference", "")}
            for text, entry in zip(seal_all(key, version, plaintexts), entries)]


def _decode_plaintexts(batch: Batch) -> None:
    """Each item's plaintext from base64, or the item's error (Batch.refuse's effect, in one
    loop: the items are fresh, so none has an error yet)."""
    for item, result in zip(batch.items, batch.results):
        try:
            item.decoded_plaintext = b64decode(item.plaintext)
        except Base64Error as exc:
            result["error"], batch.user_error = str(exc), True


def _find_key(engine: "TransitEngine", name: str) -> TransitKey:
    key = engine.store.get(name)
    if key is None:
        raise BadRequestError("encryption key not found")
    return key


async def decrypt(engine: "TransitEngine", req: Request, match: "re.Match[str]") -> Reply:
    fields = Fields(req.data)
    associated_data = fields.string("associated_data")
    raw = req.data.get("batch_input")
    if raw is None:
        return _decrypt_single(engine, req, match["name"], _single_ciphertext(fields, associated_data=associated_data))
    texts = _usual_texts(raw, "ciphertext")
    if texts is not None and all(texts):
        rows = _decrypt_usual(_find_key(engine, match["name"]), texts, raw)
        if rows is not None:
            return logical(req, {"batch_results": rows})
    batch = batch_of(raw, "ciphertext")
    batch.refuse_missing_ciphertexts()
    batch.check_contexts()
    key = _find_key(engine, match["name"])
    prepared = per_request(lambda version, context: decryptor(key, version, context))
    batch.run(functools.partial(_decrypt_item, key, prepared, ciphertext_reader(key)))
    # Vault's decrypt items always carry "plaintext", empty when the item failed (only
    # failed items lack it: a decrypted one has nothing else)
    results = batch.results
    for index, result in enumerate(results):
        if "plaintext" not in result:
            results[index] = {"plaintext": "", **result}
    return batch.reply(req, fields)


def _decrypt_usual(key: TransitKey, texts: list[str], entries: list[dict[str, str]]) -> list[dict[str, str]] | None:
    """The rows of a usual batch (_usual_texts: no context or associated data) whose every
    item decrypts; None if any fails (decrypt changes nothing, so the general path simply
    runs again and finds which)."""
    try:
        read = list(map(ciphertext_reader(key), texts))  # [(version, raw ciphertext)]
        openers = {version: decryptor(key, version, b"") for version in {version for version, _ in read}}
        return [{"plaintext": b64encode(openers[version](blob, None)), "reference": entry.get("reference", "")}
                for (version, blob), entry in zip(read, entries)]
    except TransitError:
        return None


def _decrypt_single(engine: "TransitEngine", req: Request, name: str, item: BatchItem) -> Reply:
    """decrypt without batch_input, as _encrypt_single is to encrypt."""
    error = _decode_item_texts(item)
    key = _find_key(engine, name)
    if error is None:
        try:
            return logical(req, _decrypt_item(key, functools.partial(decryptor, key), ciphertext_reader(key), 0, item))
        except TransitError as exc:
            error = exc.message
    raise BadRequestError(error)


def _decrypt_item(key: TransitKey, prepared: Callable[[int, bytes], Decrypt],
                  read: Callable[[str], tuple[int, bytes]], index: int, item: BatchItem) -> dict[str, Any]:
    """One item's result; `read` checks and decodes a ciphertext, `prepared` gives the
    decryptor for (version, context)."""
    aad = _associated_data(key, index, item.associated_data) if item.associated_data else None
    version, blob = read(item.ciphertext)
    return {"plaintext": b64encode(prepared(version, item.decoded_context)(blob, aad))}


async def rewrap(engine: "TransitEngine", req: Request, match: "re.Match[str]") -> Reply:
    fields = Fields(req.data)
    key_version = fields.integer("key_version")
    batch = collect(req, lambda: _single_ciphertext(fields, key_version=key_version))
    batch.refuse_missing_ciphertexts()
    batch.check_contexts()
    await make_room(engine, match["name"], len(batch.items))
    key = _find_key(engine, match["name"])

    opened = per_request(lambda version, context: decryptor(key, version, context))
    sealed = per_request(lambda version, context: encryptor(key, version, context))
    read = ciphertext_reader(key)

    def rewrap_item(index: int, item: BatchItem) -> dict[str, Any]:
        version, blob = read(item.ciphertext)
        plaintext = opened(version, item.decoded_context)(blob, None)
        run, new_version = sealed(item.key_version, item.decoded_context)
        spend(engine.store, key, new_version)
        return {"ciphertext": run(plaintext, None), "key_version": new_version}

    batch.run(rewrap_item)
    return batch.reply(req, fields, statuses=False)


async def datakey(engine: "TransitEngine", req: Request, match: "re.Match[str]") -> Reply:
    """datakey/plaintext|wrapped/:name: a fresh random key, returned encrypted under the named
    key (and in the clear for "plaintext")."""
    fields = Fields(req.data)
    mode = match["plaintext"]
    if mode not in ("plaintext", "wrapped"):
        raise BadRequestError("Invalid path, must be 'plaintext' or 'wrapped'")
    context = fields.context()
    await make_room(engine, match["name"], 1)
    key = _find_key(engine, match["name"])
    size = DATAKEY_BITS.get(fields.integer("bits", 256))
    if size is None:
        raise BadRequestError("invalid bit length")
    new_key = os.urandom(size)
    encoded = fields.string("associated_data")
    aad = None
    if encoded:
        if not key.type.supports_associated_data:
            raise BadRequestError(f"'associated_data' provided for non-AEAD cipher suite {key.type.name}")
        aad = _associated_data(key, 0, encoded)
    run, version = encryptor(key, fields.integer("key_version"), context)
    spend(engine.store, key, version)
    ciphertext = run(new_key, aad)
    data: dict[str, Any] = {"ciphertext": ciphertext, "key_version": version}
    if mode == "plaintext":
        data["plaintext"] = b64encode(new_key)
    return logical(req, data)
