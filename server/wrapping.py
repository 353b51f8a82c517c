"""Response wrapping: a response handed over as a single-use token instead of in the clear.

The wrapped response is kept in the wrapping token's cubbyhole; the token has one use and
a TTL, and unwrapping takes the response and revokes the token under the token store's
lock, so of any number of concurrent unwraps exactly one succeeds.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from seal.ops import BarrierPut

from server.engines.cubbyhole import token_view
from server.errors import BadRequestError
from server.request import Request
from server.routing import Reply, logical
from server.timefmt import rfc3339
from server.tokens import TokenEntry

if TYPE_CHECKING:
    from server.core import Core

WRAPPING_POLICY = "response-wrapping"
RESPONSE_KEY = "response"
INVALID = "wrapping token is not valid or does not exist"
DEFAULT_WRAP_TTL = 300


def _cubbyhole(core: "Core"):
    found = core.engine_for("cubbyhole/")
    if found is None or found[1] is None:
        raise BadRequestError("response wrapping needs the cubbyhole mount")
    return found[1].view


def wrap(core: "Core", req: Request, body: dict[str, Any], ttl: int, creation_path: str) -> Reply:
    """Store body in a new wrapping token's cubbyhole; answer with wrap_info only."""
    ttl = min(ttl, core.settings.max_lease_ttl)
    cubbyhole = _cubbyhole(core)
    created = time.time()
    record = {"body": body, "creation_path": creation_path, "creation_time": created, "ttl": ttl}

    def response_write(digest: str) -> list[BarrierPut]:
        return [BarrierPut(token_view(cubbyhole, digest).prefix + RESPONSE_KEY, record)]

    token, entry = core.tokens.create(
        None, policies=[WRAPPING_POLICY], ttl=ttl, explicit_max_ttl=ttl, num_uses=1, renewable=False,
        orphan=True, path=creation_path, display_name="response-wrapping", also=response_write,
    )
    wrapped_accessor = ""
    if isinstance(body.get("auth"), dict):
        wrapped_accessor = body["auth"].get("accessor", "")
    reply = logical(req, None)
    reply.body["wrap_info"] = {
        "token": token,
        "accessor": entry.accessor,
        "ttl": ttl,
        "creation_time": rfc3339(entry.creation_time),
        "creation_path": creation_path,
        "wrapped_accessor": wrapped_accessor,
    }
    return reply


def _wrapping_entry(core: "Core", token: str) -> TokenEntry:
    entry = core.tokens.lookup(token)
    if entry is None or entry.policies != [WRAPPING_POLICY]:
        raise BadRequestError(INVALID)
    return entry


def lookup(core: "Core", token: str) -> dict[str, Any]:
    """creation_path, creation_time and creation_ttl of a live wrapping token."""
    entry = _wrapping_entry(core, token)
    record = token_view(_cubbyhole(core), entry.digest).get(RESPONSE_KEY)
    if record is None:
        raise BadRequestError(INVALID)
    return {"creation_path": record["creation_path"], "creation_time": rfc3339(record["creation_time"]),
            "creation_ttl": record["ttl"]}


def unwrap(core: "Core", token: str) -> dict[str, Any]:
    """The wrapped response, once: the token is revoked in the same step."""
    with core.tokens.lock:
        entry = _wrapping_entry(core, token)
        record = token_view(_cubbyhole(core), entry.digest).get(RESPONSE_KEY)
        core.tokens.revoke(entry.digest)
    if record is None:
        raise BadRequestError(INVALID)
    return record["body"]


def rewrap(core: "Core", req: Request, token: str) -> Reply:
    """The same response under a fresh wrapping token with the original TTL; the old one dies."""
    with core.tokens.lock:
        entry = _wrapping_entry(core, token)
        record = token_view(_cubbyhole(core), entry.digest).get(RESPONSE_KEY)
        if record is None:
            raise BadRequestError(INVALID)
        core.tokens.revoke(entry.digest)
    return wrap(core, req, record["body"], record["ttl"], record["creation_path"])


def should_wrap(req: Request, reply: Reply) -> bool:
    """Only successful logical responses with something in them are wrapped, as in Vault."""
    body = reply.body
    return (req.wrap_ttl is not None and reply.status == 200 and isinstance(body, dict)
            and "request_id" in body and (body.get("data") is not None or body.get("auth") is not None))
