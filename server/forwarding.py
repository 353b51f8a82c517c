"""Requests and replies as they cross the worker channel (msgpack-able dicts).

A follower process forwards the logical request it built, not the raw HTTP: the primary then
runs the same pipeline from the seal check on, so a forwarded call is authorised, audited and
made durable exactly as one that arrived at the primary.
"""

from __future__ import annotations

import json
from typing import Any, Mapping

from multidict import CIMultiDict, MultiDict

from server.request import Request
from server.routing import Reply


class PrimaryRequiredError(Exception):
    """A follower cannot finish this request itself (it would write): the primary must."""


class GrantNeededError(Exception):
    """A follower ran out of counted encryptions; await obtain(), then try the request again."""

    def __init__(self, obtain) -> None:
        super().__init__("a block of encryptions is needed from the primary")
        self.obtain = obtain


def request_to_wire(req: Request, operation: str) -> dict[str, Any]:
    # The body goes as JSON text, which carries what a JSON body can hold (integers past 64
    # bits, lone surrogates) and msgpack cannot; header and query text as bytes, for the same
    # reason (aiohttp keeps non-UTF-8 header bytes as surrogates).
    return {
        "op": operation, "path": req.path, "data": json.dumps(req.data), "query": _to_bytes(req.query),
        "token": _encoded(req.token), "remote": req.remote_addr, "headers": _to_bytes(req.headers),
        "wrap": req.wrap_ttl, "rid": req.id,
        # A follower that began the request itself may have recorded its request entry:
        # the primary then records only the response, so each is in the log exactly once.
        "audited": req.audited,
    }


def request_from_wire(wire: dict[str, Any]) -> Request:
    token = wire["token"]
    req = Request(
        operation=wire["op"], path=wire["path"], data=json.loads(wire["data"]),
        query=MultiDict(_from_bytes(wire["query"])), remote_addr=wire["remote"],
        token=None if token is None else token.decode("utf-8", "surrogateescape"),
        headers=CIMultiDict(_from_bytes(wire["headers"])), given_id=wire["rid"],
    )
    req.wrap_ttl = wire["wrap"]
    req.audited = bool(wire["audited"])
    return req


def reply_to_wire(reply: Reply) -> dict[str, Any]:
    return {"status": reply.status, "body": reply.body, "headers": reply.headers}


def reply_from_wire(wire: dict[str, Any]) -> Reply:
    return Reply(wire["status"], wire["body"], dict(wire["headers"]))


def _encoded(text: str | None) -> bytes | None:
    return None if text is None else text.encode("utf-8", "surrogateescape")


def _to_bytes(pairs: Mapping[str, str]) -> list[list[bytes]]:
    return [[name.encode("utf-8", "surrogateescape"), value.encode("utf-8", "surrogateescape")]
            for name, value in pairs.items()]


def _from_bytes(pairs: list[list[bytes]]) -> list[tuple[str, str]]:
    return [(name.decode("utf-8", "surrogateescape"), value.decode("utf-8", "surrogateescape"))
            for name, value in pairs]
