"""sys/init, sys/seal-status, sys/unseal, sys/seal: the custodians' endpoints (raw bodies)."""

from __future__ import annotations

import base64
import re

from seal.lockedmem import zero_bytearray
from server.core import VERSION, Core
from server.errors import BadRequestError
from server.request import Request
from server.routing import Reply, no_content, raw
from server.sys import fields
from server.timefmt import rfc3339

def seal_status_body(core: Core) -> dict:
    status = core.seal.status()
    body = {
        "type": "shamir",
        "initialized": status.initialized,
        "sealed": status.sealed,
        "t": status.secret_threshold,
        "n": status.secret_shares,
        "progress": status.progress,
        "nonce": status.nonce,
        "version": VERSION,
        "build_date": "",
        "migration": False,
        "recovery_seal": False,
        "storage_type": core.storage_type,
    }
    if status.progress and status.progress_expires_at is not None:
        # strongroom's addition: partial unseal progress is dropped at this time.
        body["progress_expires_time"] = rfc3339(status.progress_expires_at)
    if not status.sealed and core.cluster is not None:
        body["cluster_name"] = core.cluster.name
        body["cluster_id"] = core.cluster.id
    return body


async def read_init(core: Core, req: Request, m: re.Match) -> Reply:
    return raw({"initialized": core.seal.initialized})


async def write_init(core: Core, req: Request, m: re.Match) -> Reply:
    data = req.data
    shares = fields.integer(data, "secret_shares", 0)
    threshold = fields.integer(data, "secret_threshold", 0)
    pgp_keys = fields.string_list(data, "pgp_keys")
    if fields.integer(data, "recovery_shares", 0) or fields.integer(data, "recovery_threshold", 0):
        raise BadRequestError("recovery keys are only for auto-unseal; strongroom uses a Shamir seal")
    if fields.string(data, "root_token_pgp_key"):
        raise BadRequestError("root_token_pgp_key is not supported; revoke the root token after setup instead")
    issued, root_token = core.initialize(shares, threshold, pgp_keys)
    return raw({
        "keys": [s.hex() for s in issued.shares],
        "keys_base64": [base64.b64encode(s).decode() for s in issued.shares],
        "root_token": root_token,
    })


async def read_seal_status(core: Core, req: Request, m: re.Match) -> Reply:
    return raw(seal_status_body(core))


async def write_unseal(core: Core, req: Request, m: re.Match) -> Reply:
    data = req.data
    if fields.boolean(data, "reset"):
        core.seal.reset_unseal()
        return raw(seal_status_body(core))
    if data.get("key") in (None, ""):
        raise BadRequestError("'key' must be specified in request body as JSON, or 'reset' set to true")
    if not core.seal.initialized:
        raise BadRequestError("Vault is not initialized")
    share = fields.submitted_key(data)
    try:
        core.submit_unseal_share(share)
    finally:
        zero_bytearray(share)
    return raw(seal_status_body(core))


async def check_share(core: Core, req: Request, m: re.Match) -> Reply:
    """strongroom's addition: a custodian checks a share without unsealing or counting it."""
    share = fields.submitted_key(req.data)
    try:
        return raw({"valid": core.seal.check_share(share)})
    finally:
        zero_bytearray(share)


async def write_seal(core: Core, req: Request, m: re.Match) -> Reply:
    if not core.seal.sealed:
        core.seal_now()
    return no_content()
