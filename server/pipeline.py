"""The request pipeline every /v1 call passes, in DESIGN.md's order:

parse -> seal check -> token lookup -> policy check -> handler -> reply.

Parsing happens once: the canonical path, the operation and the body computed here are the
only ones any later stage sees. Errors from any stage become `{"errors": [...]}` through
server/errors.py's table; an unexpected one is logged here and answered with a bare 500.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import threading
from typing import TYPE_CHECKING, Any, Mapping

import orjson
from aiohttp import web

from config.settings import ListenerSettings
from config.units import InvalidDurationError, parse_duration
from seal.errors import SealedError
from server.errors import (
    BadRequestError,
    HTTPError,
    MethodNotAllowedError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    UnsupportedMediaTypeError,
    describe,
)
from server.jsonbody import parse_json_object
from server.paths import canonical_path
from server.acl import parameters_allowed
from server.audit.broker import AuditFailedError
from server.audit.entries import request_entry, response_entry
from server.request import CREATE, DELETE, HEAD, LIST, PATCH, READ, UPDATE, Request
from server.routing import Reply
from server.wrapping import should_wrap, wrap
from server.forwarding import GrantNeededError, PrimaryRequiredError
from storage import ReadOnlyStorageError, StoragePanicError

if TYPE_CHECKING:
    from server.core import Core

log = logging.getLogger("strongroom.request")

METHOD_OPERATIONS = {
    "GET": READ, "LIST": LIST, "POST": UPDATE, "PUT": UPDATE,
    "DELETE": DELETE, "PATCH": PATCH, "HEAD": HEAD,
}
BODY_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
COMMON_HEADERS = {"Cache-Control": "no-store"}
# json.dumps builds a new encoder for every call with non-default separators.
ENCODER = json.JSONEncoder(separators=(",", ":"), check_circular=False)  # replies hold no cycles
# orjson refuses, rather than writes in its own way, whatever json would not write as plain
# JSON types (dataclasses, datetimes, subclasses): those, and integers past 64 bits, go to json.
_ORJSON_STRICT = orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_SUBCLASS
SYSTEM_PREFIXES = ("sys/", "auth/token/")


def _token(headers: Mapping[str, str]) -> str | None:
    """X-Vault-Token, else an Authorization bearer token; never the query string."""
    token = headers.get("X-Vault-Token")
    if token is None:
        auth = headers.get("Authorization", "")
        if auth[:7].lower() == "bearer ":
            token = auth[7:].strip()
    return token


def check_body(headers: Mapping[str, str], length: int | None, listener: ListenerSettings) -> None:
    """Refuse a body the pipeline will not read: compressed, or larger than the listener allows."""
    encoding = headers.get("Content-Encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        # A compressed body could expand far past max_request_size after our check.
        raise UnsupportedMediaTypeError(f"unsupported Content-Encoding {encoding!r}")
    if length is not None and length > listener.max_request_size:
        raise PayloadTooLargeError("http: request body too large")


async def _read_body(request: web.BaseRequest, listener: ListenerSettings) -> bytes:
    check_body(request.headers, request.content_length, listener)
    limit = listener.max_request_size
    length = request.content_length
    if length is not None and request.content.total_bytes >= length:
        return await request.read()  # already all here (small bodies): no timer needed
    chunks, size = [], 0
    try:
        async with asyncio.timeout(listener.max_request_duration):
            while True:
                chunk = await request.content.read(65536)
                if not chunk:
                    break
                size += len(chunk)
                if size > limit:
                    raise PayloadTooLargeError("http: request body too large")
                chunks.append(chunk)
    except TimeoutError:
        raise BadRequestError("timed out reading the request body") from None
    return b"".join(chunks)


async def build_request(request: web.BaseRequest, listener: ListenerSettings) -> Request:
    """The logical request: operation, canonical path, body, token."""
    if METHOD_OPERATIONS.get(request.method) is None:
        raise MethodNotAllowedError()
    body = await _read_body(request, listener) if request.method in BODY_METHODS else None
    return logical_request(request.method, request.raw_path, request.query, request.headers, body,
                           request.remote or "")


def logical_request(method: str, raw_path: str, query: Mapping[str, str], headers: Mapping[str, str],
                    body: bytes | None, remote: str) -> Request:
    """The logical request from an HTTP request's parts (the body already read and checked)."""
    operation = METHOD_OPERATIONS.get(method)
    if operation is None:
        raise MethodNotAllowedError()
    path = canonical_path(raw_path.split("?", 1)[0])
    if operation == READ and query.get("list", "").lower() == "true":
        operation = LIST
    if operation == LIST and path and not path.endswith("/"):
        path += "/"  # Vault lists folders: `LIST secret/foo` is `secret/foo/`
    data = parse_json_object(body) if method in BODY_METHODS else {}
    req = Request(
        operation=operation, path=path, data=data, query=query, token=_token(headers),
        remote_addr=remote, headers=headers,
    )
    req.wrap_ttl = wrap_ttl(req)
    return req


async def dispatch(core: "Core", req: Request) -> Reply:
    """Seal check, token lookup, policy check, then the handler."""
    found = core.router.match(req.path) if req.path.startswith(SYSTEM_PREFIXES) else None
    route, match = found if found else (None, None)
    sealed = core.seal.sealed
    # Raw status reads (seal-status, health, leader) are not audited, as in Vault; the
    # custodians' ceremonies are, and so is everything else.
    req.audit = route is None or not route.raw or req.operation not in (READ, HEAD)
    if sealed and not (route and route.sealed_ok):
        req.audit = False
        raise SealedError("strongroom is sealed")
    if route is not None and route.enabled is not None and not route.enabled(core):
        raise MethodNotAllowedError()
    mount = engine = None
    if route is None and req.path.startswith("auth/"):
        found_mount = core.auth_engine_for(req.path)
        if found_mount is not None:
            mount, engine = found_mount
            req.mount_point = "auth/" + mount.path
            req.relative_path = req.path[len(req.mount_point):]
    elif route is None and not req.path.startswith("sys/"):
        found_mount = core.engine_for(req.path)
        if found_mount is not None:
            mount, engine = found_mount
            req.mount_point = mount.path
            req.relative_path = req.path[len(mount.path):]
    open_path = engine is not None and engine.is_unauthenticated(req)
    if not sealed and not open_path and (route is None or not route.unauthenticated):
        if not (route is not None and route.token_optional and not req.token):
            _authorize(core, req, route, engine)
    if route is not None:
        handler = route.operations.get(req.operation)
        if handler is None:
            raise MethodNotAllowedError(bare=route.raw)
        await _audit_request(core, req)
        return _maybe_wrap(core, req, await handler(core, req, match))
    if req.path.startswith("sys/") or req.path == "sys":
        raise NotFoundError("unsupported path")
    if engine is None:
        raise NotFoundError(f'no handler for route "{req.path}". route entry not found.')
    await _audit_request(core, req)
    return _maybe_wrap(core, req, await engine.handle(req))


def _maybe_wrap(core: "Core", req: Request, reply: Reply) -> Reply:
    """X-Vault-Wrap-TTL: hand the response back as a single-use wrapping token."""
    if should_wrap(req, reply):
        return wrap(core, req, reply.body, req.wrap_ttl, req.path)
    return reply


async def _audit_request(core: "Core", req: Request, error: str = "") -> None:
    """Record the request before anything runs: if no device can, nothing runs (fail closed)."""
    if req.audit and not req.audited:
        if core.audit.recording:  # with no device (and nothing buffered) there is no one to tell
            await core.audit.log(request_entry(req, error))
        req.audited = True


def _authorize(core: "Core", req: Request, route, engine) -> None:
    """Token lookup and the ACL check on the canonical path; every failure is the same 403."""
    entry = core.tokens.lookup(req.token)
    if entry is None or not entry.usable_from(req.remote_addr):
        raise PermissionDeniedError()
    req.token_entry = entry
    req.acl = core.policies.acl(entry.policies)
    if route is not None and route.acl_exempt:
        if not core.tokens.consume(entry):
            raise PermissionDeniedError()
        return
    if req.operation == UPDATE and engine is not None and engine.exists(req) is False:
        req.operation = CREATE  # Vault's existence check: a write to a new path is a create
    if not req.acl.root:
        sudo = route is not None and route.needs_sudo(req.operation)
        rule = req.acl.allows(req.path, req.operation, sudo=sudo)
        if rule is None:
            raise PermissionDeniedError()
        if req.operation in (CREATE, UPDATE, PATCH) and not parameters_allowed(rule, req.data):
            raise PermissionDeniedError()
        _check_wrapping(req, rule)
    if not core.tokens.consume(entry):
        raise PermissionDeniedError()  # its last use went to a concurrent request


def _check_wrapping(req: Request, rule) -> None:
    """A rule with min/max_wrapping_ttl admits only requests whose response is wrapped
    (X-Vault-Wrap-TTL) within those bounds, as Vault's ACL does; otherwise the same 403."""
    if not (rule.min_wrapping_ttl or rule.max_wrapping_ttl):
        return
    ttl = req.wrap_ttl
    if (ttl is None or (rule.min_wrapping_ttl and ttl < rule.min_wrapping_ttl)
            or (rule.max_wrapping_ttl and ttl > rule.max_wrapping_ttl)):
        raise PermissionDeniedError()


def wrap_ttl(req: Request) -> int | None:
    """The requested response-wrapping TTL (X-Vault-Wrap-TTL), or None."""
    text = req.headers.get("X-Vault-Wrap-TTL")
    if text is None or text == "":
        return None
    try:
        ttl = parse_duration(text)
    except InvalidDurationError:
        raise BadRequestError("invalid X-Vault-Wrap-TTL") from None
    if ttl <= 0:
        raise BadRequestError("invalid X-Vault-Wrap-TTL")
    return ttl


def error_reply(exc: BaseException) -> Reply:
    described = describe(exc)
    if described is None:
        log.error("unexpected error while handling a request", exc_info=exc)
        return Reply(500, {"errors": ["internal error"]})
    status, messages = described
    if isinstance(exc, StoragePanicError):
        # LMDB reported MDB_PANIC: serving on from a broken store is worse than stopping.
        log.critical("storage panic; stopping the server")
        os.kill(os.getpid(), signal.SIGTERM)
    elif status >= 500 and not isinstance(exc, (HTTPError, SealedError)):
        log.error("request failed: %s", type(exc).__name__)
    return Reply(status, {"errors": messages})


def reply_json(body: Any) -> bytes:
    """A reply body as compact JSON (UTF-8, as Vault writes it). orjson takes about a tenth of
    json's time (5 us of a one-field reply, 120 us of a 100-row batch); json writes the rest."""
    try:
        return orjson.dumps(body, option=_ORJSON_STRICT)
    except TypeError:
        return ENCODER.encode(body).encode()


def render(reply: Reply, *, head: bool) -> web.Response:
    headers = {**COMMON_HEADERS, **reply.headers}
    if reply.status == 204 or reply.body is None or head:
        response = web.Response(status=reply.status, headers=headers)
        response.content_type = "application/json"
        return response
    body = reply_json(reply.body)
    return web.Response(status=reply.status, body=body, headers=headers, content_type="application/json")


async def api_handler(core: "Core", request: web.BaseRequest) -> web.Response:
    try:
        sockname = request.transport.get_extra_info("sockname") if request.transport else None
        req = await build_request(request, core.listener_for(sockname))
    except Exception as exc:  # unparseable: answered, but there is no request to audit
        return render(error_reply(exc), head=request.method == "HEAD")
    return render(await answer(core, req), head=request.method == "HEAD")


async def answer(core: "Core", req: Request) -> Reply:
    """The reply to a parsed request, from this process or (a follower's) the primary."""
    if core.link is not None:  # a follower process: it answers what it can, forwards the rest
        return await core.link.respond(req)
    return await respond(core, req)


async def respond(core: "Core", req: Request) -> Reply:
    """Everything after parsing: dispatch, durability, the response's audit entry."""
    generation = getattr(core.backend, "generation", 0)
    try:
        reply = await dispatch(core, req)
    except (asyncio.CancelledError, ReadOnlyStorageError, PrimaryRequiredError, GrantNeededError):
        raise  # the last three only in a follower, which hands the request on
    except Exception as exc:  # every failure becomes a Vault-shaped error, never a traceback
        reply = error_reply(exc)
    reply = await _durable(core, reply, generation)
    if req.audit and core.audit.recording:
        reply = await _audit_response(core, req, reply)
    return reply


async def _durable(core: "Core", reply: Reply, generation: int) -> Reply:
    """Hold the reply until every write made so far is on disk; a failed commit is an error."""
    error = await durable(core, generation)
    return reply if error is None else error_reply(error)


async def durable(core: "Core", generation: int) -> BaseException | None:
    """Once every write made so far is on disk: None, or the error that kept one off it."""
    notify = getattr(core.backend, "notify_when_durable", None)
    if notify is None or core.backend.settled(generation):
        return None
    loop = asyncio.get_running_loop()
    outcome: asyncio.Future = loop.create_future()
    loop_thread = threading.get_ident()

    def settle(error: BaseException | None) -> None:
        if threading.get_ident() == loop_thread:  # already durable: answered in place
            outcome.set_result(error)
        else:
            loop.call_soon_threadsafe(lambda: outcome.done() or outcome.set_result(error))

    notify(core.backend.sequence, settle, generation)
    return outcome.result() if outcome.done() else await outcome


async def _audit_response(core: "Core", req: Request, reply: Reply) -> Reply:
    """Record the outcome (denials included); an unrecordable response becomes a 500."""
    try:
        if not req.audited:
            errors = reply.body.get("errors") if isinstance(reply.body, dict) else None
            await _audit_request(core, req, "; ".join(errors) if errors else "")
        await core.audit.log(response_entry(req, reply))
    except AuditFailedError as exc:
        return error_reply(exc)
    return reply
