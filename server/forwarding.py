"""Requests and replies as they cross the worker channel (msgpack-able dicts).

A follower process forwards the logical request it built, not the raw HTTP: the primary then
runs the same pipeline from the seal check on, so a forwarded call is authorised, audited and
made durable exactly as one that arrived at the primary.
"""

from __future__ import annotations

from typing import Any

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
    return {
        "op": operation, "path": req.path, "data": req.data, "query": list(req.query.items()),
        "token": req.token, "remote": req.remote_addr, "headers": list(req.headers.items()),
        "wrap": req.wrap_ttl, "rid": req.id,
        # A follower that began the request itself may have recorded its request entry:
        # the primary then records only the response, so each is in the log exactly once.
        "audited": req.audited,
    }


def request_from_wire(wire: dict[str, Any]) -> Request:
    req = Request(
        operation=wire["op"], path=wire["path"], data=wire["data"],
        query=MultiDict(wire["query"]), token=wire["token"], remote_addr=wire["remote"],
        headers=CIMultiDict(wire["headers"]), id=wire["rid"],
    )
    req.wrap_ttl = wire["wrap"]
    req.audited = bool(wire["audited"])
    return req


def reply_to_wire(reply: Reply) -> dict[str, Any]:
    return {"status": reply.status, "body": reply.body, "headers": reply.headers}


def reply_from_wire(wire: dict[str, Any]) -> Reply:
    return Reply(wire["status"], wire["body"], dict(wire["headers"]))
