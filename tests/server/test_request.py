"""The logical request's ID: made on first use, the same for the rest of the request."""

from __future__ import annotations

import uuid

from server.request import READ, Request


def test_the_id_is_a_random_uuid4_made_once():
    req = Request(operation=READ, path="kv/data/x", data={}, query={})
    first = req.id
    assert req.id == first  # the reply and both audit entries carry the same one
    parsed = uuid.UUID(first)
    assert parsed.version == 4 and str(parsed) == first
    assert Request(operation=READ, path="kv/data/x", data={}, query={}).id != first


def test_a_forwarded_request_keeps_the_id_it_was_given():
    req = Request(operation=READ, path="kv/data/x", data={}, query={}, given_id="given")
    assert req.id == "given"


def test_the_reply_and_both_audit_entries_carry_one_id(tmp_path):
    from test_audit_support import audited_server, entries

    with audited_server(tmp_path) as (server, log):
        server.root("POST", "/v1/sys/mounts/kv", {"type": "kv", "options": {"version": "2"}})
        status, body, _ = server.root("POST", "/v1/kv/data/x", {"data": {"v": 1}})
        assert status == 200
        written = [e for e in entries(log) if e["request"]["path"] == "kv/data/x"]
    assert [e["type"] for e in written] == ["request", "response"]
    assert written[0]["request"]["id"] == written[1]["request"]["id"] == body["request_id"]
