"""Rekey: new shares and threshold from the old ones, served both ways OpenBao does.

sys/rotate/root/* is authenticated (sudo) and answers in the logical envelope; the legacy
sys/rekey/* is unauthenticated, answers raw bodies, and is off (405) unless the listener sets
disable_unauthed_rekey_endpoints = false. Unlike OpenBao, a wrong nonce never reveals the
right one.
"""

from __future__ import annotations

import base64
import re
from typing import Any

from seal.lockedmem import zero_bytearray
from seal.rekey import RekeyResult
from server.core import Core
from server.errors import BadRequestError
from server.request import Request
from server.routing import Reply, logical, no_content, raw
from server.sys import fields


def _wrap(req: Request, body: dict[str, Any], legacy: bool) -> Reply:
    return raw(body) if legacy else logical(req, body)


def _status(core: Core) -> dict[str, Any]:
    op = core.seal.rekey
    required = core.seal.config().secret_threshold
    if op is None:
        return {"started": False, "t": 0, "n": 0, "required": required, "progress": 0, "nonce": "",
                "pgp_fingerprints": None, "backup": False, "verification_required": False}
    return {
        "started": True,
        "nonce": op.nonce,
        "t": op.secret_threshold,
        "n": op.secret_shares,
        "progress": op.collection.progress,
        "required": required,
        "pgp_fingerprints": None,
        "backup": False,
        "verification_required": op.require_verification,
        "verification_nonce": op.pending.nonce if op.pending else "",
    }


def _verify_status(core: Core) -> dict[str, Any]:
    op = core.seal.rekey
    if op is None or op.pending is None:
        raise BadRequestError("no rekey verification is in progress")
    return {"started": True, "nonce": op.pending.nonce, "t": op.secret_threshold, "n": op.secret_shares,
            "progress": op.pending.collection.progress}


def _issued_body(result: RekeyResult) -> dict[str, Any]:
    shares = result.issued.shares
    return {
        "complete": True,
        "nonce": result.nonce,
        "keys": [s.hex() for s in shares],
        "keys_base64": [base64.b64encode(s).decode() for s in shares],
        "pgp_fingerprints": list(result.issued.pgp_fingerprints) or None,
        "backup": False,
        "verification_required": result.verification_required,
        "verification_nonce": result.verification_nonce,
    }


def _share_and_nonce(data: dict[str, Any]) -> tuple[bytearray, str]:
    if data.get("key") in (None, ""):
        raise BadRequestError("missing required field 'key'")
    nonce = fields.string(data, "nonce")
    if not nonce:
        raise BadRequestError("missing required field 'nonce'")
    return fields.submitted_key(data), nonce


def handlers(legacy: bool) -> dict[str, dict[str, Any]]:
    """The init, update and verify handlers, answering raw (legacy) or enveloped bodies."""

    async def read_init(core: Core, req: Request, m: re.Match) -> Reply:
        return _wrap(req, _status(core), legacy)

    async def write_init(core: Core, req: Request, m: re.Match) -> Reply:
        data = req.data
        if fields.boolean(data, "backup"):
            raise BadRequestError("backup of rekeyed shares is not supported")
        core.seal.rekey_init(
            fields.integer(data, "secret_shares", 0),
            fields.integer(data, "secret_threshold", 0),
            fields.string_list(data, "pgp_keys"),
            fields.boolean(data, "require_verification"),
        )
        return _wrap(req, _status(core), legacy)

    async def cancel_init(core: Core, req: Request, m: re.Match) -> Reply:
        core.seal.rekey_cancel()
        return no_content()

    async def update(core: Core, req: Request, m: re.Match) -> Reply:
        share, nonce = _share_and_nonce(req.data)
        try:
            result = core.seal.rekey_update(share, nonce)
        finally:
            zero_bytearray(share)
        return _wrap(req, _status(core) if result is None else _issued_body(result), legacy)

    async def read_verify(core: Core, req: Request, m: re.Match) -> Reply:
        return _wrap(req, _verify_status(core), legacy)

    async def write_verify(core: Core, req: Request, m: re.Match) -> Reply:
        share, nonce = _share_and_nonce(req.data)
        try:
            status_before = _verify_status(core)
            result = core.seal.rekey_verify_update(share, nonce)
        finally:
            zero_bytearray(share)
        if result is None:
            status = _verify_status(core)
            return _wrap(req, status, legacy)
        return _wrap(req, {"complete": True, "nonce": status_before["nonce"]}, legacy)

    async def cancel_verify(core: Core, req: Request, m: re.Match) -> Reply:
        core.seal.rekey_verify_cancel()
        return _wrap(req, _verify_status(core), legacy)

    return {
        "init": {"read": read_init, "update": write_init, "delete": cancel_init},
        "update": {"update": update},
        "verify": {"read": read_verify, "update": write_verify, "delete": cancel_verify},
    }
