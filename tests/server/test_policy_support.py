"""Shared pieces of the token and policy tests (no tests here): a server one module shares,
policies and tokens made through the API, and raw HTTP for request targets that urllib or
hvac would tidy before sending."""

from __future__ import annotations

import http.client
import json
from contextlib import contextmanager
from typing import Any, Iterator
from urllib.parse import urlsplit

from conftest import RunningServer, initialise, running_server

DENIED = (403, {"errors": ["permission denied"]})


@contextmanager
def shared_server(tmp_path_factory, *mounts: tuple[str, str]) -> Iterator[RunningServer]:
    """An initialised, unsealed server with kv mounts given as (path, version) pairs."""
    with running_server(tmp_path_factory.mktemp("shared") / "data") as server:
        initialise(server)
        for path, version in mounts:
            status, body, _ = server.root("POST", f"/v1/sys/mounts/{path}",
                                          {"type": "kv", "options": {"version": version}})
            assert status == 204, body
        yield server


def write_policy(server: RunningServer, name: str, text: str) -> None:
    status, body, _ = server.root("PUT", f"/v1/sys/policy/{name}", {"policy": text})
    assert status == 204, body


def new_token(server: RunningServer, parent: str | None = None, **body: Any) -> str:
    """A token created by parent (root by default) with the given create fields."""
    status, reply, _ = server.call("POST", "/v1/auth/token/create", body, token=parent or server.root_token)
    assert status == 200, reply
    return reply["auth"]["client_token"]


def token_for(server: RunningServer, policy_text: str, name: str, **body: Any) -> str:
    """Write policy `name` and return a fresh token holding it (and default)."""
    write_policy(server, name, policy_text)
    return new_token(server, policies=[name], **body)


def raw_call(server: RunningServer, method: str, target: str, token: str | None = None,
             body: Any = None, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    """Send target byte for byte (no normalisation); (status, parsed JSON body or None)."""
    parts = urlsplit(server.url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        sent = dict(headers or {})
        if token is not None:
            sent["X-Vault-Token"] = token
        payload = json.dumps(body).encode() if body is not None else None
        conn.putrequest(method, target, skip_accept_encoding=True)
        for name, value in {**sent, "Content-Length": str(len(payload or b""))}.items():
            conn.putheader(name, value)
        conn.endheaders(payload)
        response = conn.getresponse()
        data = response.read()
        return response.status, (json.loads(data) if data else None)
    finally:
        conn.close()
