"""Audit entries in Vault's shape, built from the pipeline's request and reply.

The entry is built plain here; each device hashes the secret-bearing parts with its own salt
(hash_entry). Custodian ceremony fields — unseal keys, shares — are dropped outright: not even
their HMAC reaches the log.
"""

from __future__ import annotations

import time
import uuid
from typing import Any, Callable

from server.request import Request
from server.routing import Reply
from server.timefmt import rfc3339

CEREMONY_FIELDS = frozenset({"key", "keys", "keys_base64"})


def _without_ceremony_fields(path: str, data: Any) -> Any:
    if path.startswith("sys/") and isinstance(data, dict):
        return {k: v for k, v in data.items() if k not in CEREMONY_FIELDS}
    return data


def _auth(req: Request) -> dict[str, Any]:
    entry = req.token_entry
    if entry is None:
        return {"client_token": req.token or "", "accessor": "", "display_name": "", "policies": None,
                "token_policies": None, "metadata": None, "entity_id": "", "token_type": ""}
    return {
        "client_token": req.token or "",
        "accessor": entry.accessor,
        "display_name": entry.display_name,
        "policies": entry.policies,
        "token_policies": entry.policies,
        "metadata": entry.meta or None,
        "entity_id": "",
        "token_type": "service",
        "token_ttl": entry.creation_ttl,
        "token_issue_time": rfc3339(entry.creation_time),
    }


def _request(req: Request) -> dict[str, Any]:
    return {
        "id": req.id,
        "operation": req.operation,
        "mount_point": req.mount_point,
        "client_token": req.token or "",
        "client_token_accessor": req.token_entry.accessor if req.token_entry is not None else "",
        "namespace": {"id": "root"},
        "path": req.path,
        "data": _without_ceremony_fields(req.path, req.data) or None,
        "remote_address": req.remote_addr,
        "wrap_ttl": req.wrap_ttl or 0,
    }


def request_entry(req: Request, error: str = "") -> dict[str, Any]:
    return {"time": rfc3339(time.time()), "type": "request", "auth": _auth(req), "request": _request(req),
            "error": error}


def response_entry(req: Request, reply: Reply) -> dict[str, Any]:
    body = reply.body
    response: dict[str, Any] = {"status": reply.status, "mount_point": req.mount_point}
    error = ""
    if isinstance(body, dict) and "errors" in body and reply.status >= 400:
        error = "; ".join(str(e) for e in body["errors"]) or f"status {reply.status}"
    elif isinstance(body, dict) and "request_id" in body:
        response["data"] = _without_ceremony_fields(req.path, body.get("data"))
        response["auth"] = body.get("auth")
        response["wrap_info"] = body.get("wrap_info")
    elif body is not None:
        response["data"] = _without_ceremony_fields(req.path, body)
    return {"time": rfc3339(time.time()), "type": "response", "auth": _auth(req), "request": _request(req),
            "response": response, "error": error}


# Token metadata is caller-chosen text (OpenBao writes it plainly); strongroom HMACs it too.
AUTH_SECRET_FIELDS = ("client_token", "accessor", "metadata")
WRAP_SECRET_FIELDS = ("token", "accessor", "wrapped_accessor")


def _redacted(block: Any, names: tuple[str, ...], redact: Callable[[Any], Any]) -> Any:
    if not isinstance(block, dict):
        return block
    return {k: redact(v) if k in names and v else v for k, v in block.items()}


def hash_entry(entry: dict[str, Any], redact: Callable[[Any], Any]) -> dict[str, Any]:
    """A copy of entry with every secret-bearing value passed through redact."""
    out = dict(entry)
    out["auth"] = _redacted(entry["auth"], AUTH_SECRET_FIELDS, redact)
    out["request"] = _redacted(entry["request"], ("client_token", "client_token_accessor", "data"), redact)
    if "response" in entry:
        response = _redacted(entry["response"], ("data",), redact)
        for name, secret_fields in (("auth", AUTH_SECRET_FIELDS), ("wrap_info", WRAP_SECRET_FIELDS)):
            if name in response:
                response[name] = _redacted(response[name], secret_fields, redact)
        out["response"] = response
    return out


def event_entry(mount_point: str, operation: str, path: str, data: dict[str, Any]) -> dict[str, Any]:
    """An entry for work the server did on its own (the scheduler), not for a request."""
    return {
        "time": rfc3339(time.time()),
        "type": "event",
        "auth": {"client_token": "", "accessor": "", "display_name": "strongroom-scheduler", "policies": None,
                 "token_policies": None, "metadata": None, "entity_id": "", "token_type": ""},
        "request": {"id": str(uuid.uuid4()), "operation": operation, "mount_point": mount_point,
                    "client_token": "", "client_token_accessor": "", "namespace": {"id": "root"},
                    "path": mount_point + path, "data": data or None, "remote_address": "", "wrap_ttl": 0},
        "error": "",
    }
