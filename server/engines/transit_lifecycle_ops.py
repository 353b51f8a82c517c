"""Handlers for strongroom's key lifecycle endpoints under a transit mount (additions to
Vault's API; the key read shows their effect):

    POST keys/:name/versions/:version/state           {state, reason, activation_date}
    POST keys/:name/versions/:version/compromise      {reason, rotate}
    POST keys/:name/versions/:version/destroy         {reason}
    POST keys/:name/versions/:version/cancel-destroy  {reason}
    POST keys/:name/destroy                           {reason}   every version: crypto-shredding
    POST keys/:name/cancel-destroy                    {reason}
    POST keys/:name/rewrap-compromised                {batch_input: [{ciphertext, context, reference}]}

Every transition records its time, the caller's token accessor and the reason.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from server.engines.transit_cipher import decryptor, encryptor, read_ciphertext
from server.engines.transit_encoding import Base64Error, b64decode
from server.engines.transit_errors import KeyStateError, TransitError
from server.engines.transit_fields import Fields
from server.engines.transit_key import KeyVersion, TransitKey
from server.engines.transit_lifecycle import ACTIVE, COMPROMISED, DESTROYED, NANOS, PRE_ACTIVE, SUSPENDED
from server.engines.transit_lifecycle_usage import make_room, spend
from server.engines.transit_lifecycle_view import activation_time
from server.engines.transit_ops_crypt import decode_batch, per_request
from server.engines.transit_ops_keys import find_key, key_info, persist_key, rotate_now
from server.errors import BadRequestError
from server.request import Request
from server.routing import Reply, logical

if TYPE_CHECKING:
    import re

    from server.engines.transit import TransitEngine


def accessor_of(req: Request) -> str:
    entry = req.token_entry
    return str(getattr(entry, "accessor", "") or "") if entry is not None else ""


def _version(key: TransitKey, text: str) -> KeyVersion:
    number = int(text) if text.isdigit() else key.latest_version if text == "latest" else -1
    entry = key.versions.get(number)
    if entry is None:
        raise BadRequestError(f"key version {text} does not exist")
    return entry


async def set_state(engine: "TransitEngine", req: Request, match: "re.Match[str]") -> Reply:
    """Move one version along the SP 800-57 graph, or reschedule a pre-active version."""
    fields = Fields(req.data)
    key = find_key(engine, match["name"], "key not found")
    version = _version(key, match["version"])
    target, reason, now = fields.string("state"), fields.string("reason"), time.time_ns()
    activation_ns = activation_time(fields)
    if not target and not activation_ns:
        raise BadRequestError("missing state")
    if target == DESTROYED:
        raise BadRequestError("destruction is scheduled: use keys/:name/versions/:version/destroy")
    if version.life.destroy_at_ns:
        raise KeyStateError(f"key version {version.number} is scheduled for destruction; cancel that first")
    if activation_ns:
        if version.life.state != PRE_ACTIVE or target not in ("", PRE_ACTIVE):
            raise BadRequestError("activation_date can only be set on a pre-active version")
        if activation_ns <= now:
            raise BadRequestError("activation_date must be in the future; to activate now, set state=active")
        version.life.activated_ns = activation_ns
    elif target != version.life.state or target == PRE_ACTIVE:
        version.life.move(target, now, accessor_of(req), reason)
    persist_key(engine, key)
    return logical(req, key_info(key))


async def compromise(engine: "TransitEngine", req: Request, match: "re.Match[str]") -> Reply:
    """Mark a version compromised (protect operations stop at once) and, with rotate=true,
    add a fresh version in the same call."""
    fields = Fields(req.data)
    key = find_key(engine, match["name"], "key not found")
    version = _version(key, match["version"])
    version.life.move(COMPROMISED, time.time_ns(), accessor_of(req), fields.string("reason"))
    persist_key(engine, key)
    if fields.boolean("rotate"):
        key = await rotate_now(engine, key.name)
    return logical(req, key_info(key))


def _schedule_destruction(key: TransitKey, version: KeyVersion, now: int, accessor: str, reason: str) -> None:
    life = version.life
    if life.state == DESTROYED or life.destroy_at_ns:
        return
    life.restore_state = life.state
    if life.state == ACTIVE:
        # An active version waits suspended (SP 800-57 allows active -> suspended -> active),
        # so a cancelled destruction can give it back.
        life.move(SUSPENDED, now, accessor, reason or "scheduled for destruction")
    life.destroy_at_ns = now + key.destruction_waiting_period * NANOS


def _cancel_destruction(version: KeyVersion, now: int, accessor: str, reason: str) -> bool:
    life = version.life
    if not life.destroy_at_ns:
        return False
    life.destroy_at_ns = 0
    if life.restore_state == ACTIVE and life.state == SUSPENDED:
        life.move(ACTIVE, now, accessor, reason or "scheduled destruction cancelled")
    life.restore_state = ""
    return True


async def destroy_version(engine: "TransitEngine", req: Request, match: "re.Match[str]") -> Reply:
    key = find_key(engine, match["name"], "key not found")
    version = _version(key, match["version"])
    if version.life.state == DESTROYED:
        raise KeyStateError(f"key version {version.number} is already destroyed")
    if version.life.destroy_at_ns:
        raise KeyStateError(f"key version {version.number} is already scheduled for destruction")
    _schedule_destruction(key, version, time.time_ns(), accessor_of(req), Fields(req.data).string("reason"))
    persist_key(engine, key)
    return logical(req, key_info(key))


async def cancel_destroy_version(engine: "TransitEngine", req: Request, match: "re.Match[str]") -> Reply:
    key = find_key(engine, match["name"], "key not found")
    version = _version(key, match["version"])
    if not _cancel_destruction(version, time.time_ns(), accessor_of(req), Fields(req.data).string("reason")):
        raise KeyStateError(f"key version {version.number} is not scheduled for destruction")
    persist_key(engine, key)
    return logical(req, key_info(key))


async def destroy_key(engine: "TransitEngine", req: Request, match: "re.Match[str]") -> Reply:
    """Schedule the destruction of every version: once done, every ciphertext the key ever
    made is unreadable (crypto-shredding)."""
    key = find_key(engine, match["name"], "key not found")
    now, who, reason = time.time_ns(), accessor_of(req), Fields(req.data).string("reason")
    for number in sorted(key.versions):
        _schedule_destruction(key, key.versions[number], now, who, reason or "crypto-shredding")
    persist_key(engine, key)
    return logical(req, key_info(key))


async def cancel_destroy_key(engine: "TransitEngine", req: Request, match: "re.Match[str]") -> Reply:
    key = find_key(engine, match["name"], "key not found")
    now, who, reason = time.time_ns(), accessor_of(req), Fields(req.data).string("reason")
    if not [n for n in sorted(key.versions) if _cancel_destruction(key.versions[n], now, who, reason)]:
        raise KeyStateError("no version of this key is scheduled for destruction")
    persist_key(engine, key)
    return logical(req, key_info(key))


async def rewrap_compromised(engine: "TransitEngine", req: Request, match: "re.Match[str]") -> Reply:
    """Move ciphertexts off compromised versions: each item under a compromised version is
    decrypted and encrypted again under the key's current version; others come back
    unchanged with rewrapped=false. Items fail one by one; the reply is always 200."""
    raw = req.data.get("batch_input")
    if raw is None:
        raise BadRequestError("missing batch_input")
    items = decode_batch(raw, ciphertext=True)
    if not items:
        raise BadRequestError("missing batch input to process")
    name = match["name"]
    find_key(engine, name, "key not found")
    await make_room(engine, name, len(items))
    key = find_key(engine, name, "key not found")
    opened = per_request(lambda version, context: decryptor(key, version, context))
    sealed = per_request(lambda context: encryptor(key, 0, context))
    results: list[dict[str, Any]] = []
    for item in items:
        result: dict[str, Any] = {"reference": item.reference}
        try:
            context = b64decode(item.context) if item.context else b""
            version, blob = read_ciphertext(key, item.ciphertext)
            result["previous_version"] = version
            if key.version(version).life.state != COMPROMISED:
                result.update(ciphertext=item.ciphertext, key_version=version, rewrapped=False)
            else:
                plaintext = opened(version, context)(blob, None)
                run, new_version = sealed(context)  # refused while the current version is compromised too
                spend(engine.store, key, new_version)
                result.update(ciphertext=run(plaintext, None), key_version=new_version, rewrapped=True)
        except TransitError as exc:
            result["error"] = exc.message
        except Base64Error:
            result["error"] = "failed to base64-decode context"
        results.append(result)
    return logical(req, {"batch_results": results})
