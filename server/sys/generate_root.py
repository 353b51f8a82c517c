"""Generate-root: custodians' shares mint a new root token, served both ways OpenBao does.

sys/generate-root-token/* is authenticated and answers in the logical envelope; the legacy
sys/generate-root/* is unauthenticated, answers raw bodies, and is off (405) unless the
listener sets disable_unauthed_generate_root_endpoints = false. Field order, the fields each
variant omits, and the legacy update's otp_length of 0 follow OpenBao. Unlike OpenBao, a wrong
nonce never reveals the right one, request errors are 400s on both variants (OpenBao's
authenticated one answers some with 500), and the authenticated variant needs sudo on its
path (OpenBao 2.7 asks only for the capability).

The handlers only make plain calls (seal.root_generation, tokens.root_token_records); audit
records are written around the request by the pipeline, never here.
"""

from __future__ import annotations

import re
from typing import Any

from seal.generate_root import RootGenerationResult, RootGenerationStatus
from seal.lockedmem import zero_bytearray
from server.core import Core
from server.errors import BadRequestError
from server.request import DELETE, READ, UPDATE, Request
from server.routing import Handler, Reply, logical, no_content, raw
from server.sys import fields
from server.timefmt import rfc3339
from server.tokens import TOKEN_CHARS, TOKEN_PREFIX, new_token_id

OTP_LENGTH = len(TOKEN_PREFIX) + TOKEN_CHARS  # the OTP is XORed with the token byte for byte


def _expiry(status: RootGenerationStatus) -> dict[str, str]:
    # strongroom's addition, as in seal-status: partial progress is dropped at this time.
    if status.progress and status.progress_expires_at is not None:
        return {"progress_expires_time": rfc3339(status.progress_expires_at)}
    return {}


def _legacy_status(status: RootGenerationStatus, otp: str) -> dict[str, Any]:
    return {
        "nonce": status.nonce, "started": status.started, "progress": status.progress,
        "required": status.required, "complete": False, "encoded_token": "", "encoded_root_token": "",
        "pgp_fingerprint": status.pgp_fingerprint, "otp": otp, "otp_length": OTP_LENGTH, **_expiry(status),
    }


def _status(status: RootGenerationStatus, otp: str) -> dict[str, Any]:
    body: dict[str, Any] = {"complete": False}
    if status.started:
        body["nonce"] = status.nonce
    body.update({"otp": otp, "otp_length": OTP_LENGTH})
    if status.started:
        body["pgp_fingerprint"] = status.pgp_fingerprint
    body.update({"progress": status.progress, "required": status.required, "started": status.started})
    body.update(_expiry(status))
    return body


def _legacy_result(result: RootGenerationResult) -> dict[str, Any]:
    return {
        "nonce": result.nonce, "started": True, "progress": result.progress, "required": result.required,
        "complete": result.complete, "encoded_token": result.encoded_token,
        "encoded_root_token": result.encoded_token, "pgp_fingerprint": result.pgp_fingerprint,
        "otp": "", "otp_length": 0,
    }


def _result(result: RootGenerationResult) -> dict[str, Any]:
    return {
        "complete": result.complete, "encoded_token": result.encoded_token, "nonce": result.nonce,
        "pgp_fingerprint": result.pgp_fingerprint, "progress": result.progress,
        "required": result.required, "started": True,
    }


def _legacy_share_and_nonce(data: dict[str, Any]) -> tuple[bytearray, str]:
    if data.get("key") in (None, ""):
        raise BadRequestError("'key' must be specified in request body as JSON")
    return fields.submitted_key(data), fields.string(data, "nonce")


def _share_and_nonce(data: dict[str, Any]) -> tuple[bytearray, str]:
    nonce = fields.string(data, "nonce")
    if not nonce:
        raise BadRequestError("nonce is required")
    if data.get("key") in (None, ""):
        raise BadRequestError("key is required")
    return fields.submitted_key(data), nonce


def _store_root_token(core: Core, token: str) -> None:
    """The token's salted-hash entry, written through the barrier; the token itself is not kept."""
    _, writes = core.tokens.root_token_records(token)
    core.seal.barrier.transaction(writes)


def handlers(legacy: bool) -> dict[str, dict[str, Handler]]:
    """The attempt and update handlers, answering raw (legacy) or enveloped bodies."""
    status_body = _legacy_status if legacy else _status
    result_body = _legacy_result if legacy else _result
    share_and_nonce = _legacy_share_and_nonce if legacy else _share_and_nonce

    def reply(req: Request, body: dict[str, Any]) -> Reply:
        return raw(body) if legacy else logical(req, body)

    async def read_attempt(core: Core, req: Request, m: re.Match) -> Reply:
        return reply(req, status_body(core.seal.root_generation.status(), ""))

    async def start_attempt(core: Core, req: Request, m: re.Match) -> Reply:
        generation = core.seal.root_generation
        otp = generation.start(OTP_LENGTH, fields.string(req.data, "otp"), fields.string(req.data, "pgp_key"))
        return reply(req, status_body(generation.status(), otp))

    async def cancel_attempt(core: Core, req: Request, m: re.Match) -> Reply:
        core.seal.root_generation.cancel()
        return no_content()

    async def update(core: Core, req: Request, m: re.Match) -> Reply:
        share, nonce = share_and_nonce(req.data)
        try:
            result = core.seal.root_generation.submit(
                share, nonce, new_token_id, lambda token: _store_root_token(core, token)
            )
        finally:
            zero_bytearray(share)
        return reply(req, result_body(result))

    return {
        "attempt": {READ: read_attempt, UPDATE: start_attempt, DELETE: cancel_attempt},
        "update": {UPDATE: update},
    }
