"""A worker process hashes and serialises its own audit entries; the process that writes the
log links them. The line must be the one the writer would have made itself, and a copy made
under another salt must never be written."""

from __future__ import annotations

import hashlib
import json
import os
from types import SimpleNamespace

from hypothesis import given, settings
from hypothesis import strategies as st

from server.audit.broker import _body
from server.audit.chain import CHAIN_FIELD, DIGEST_FIELD, GENESIS, chained_line, entry_body, linked_line
from server.audit.entries import hash_entry
from server.audit.hashing import AuditHasher

JSON_VALUES = st.recursive(st.none() | st.booleans() | st.integers(-2 ** 60, 2 ** 60) | st.text(max_size=20),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                                         max_size=4), max_leaves=12)
ENTRIES = st.dictionaries(st.text(max_size=10).filter(lambda k: k not in (CHAIN_FIELD, DIGEST_FIELD)), JSON_VALUES,
                          min_size=1, max_size=6)


@settings(max_examples=200, deadline=None)
@given(ENTRIES, st.text(alphabet="0123456789abcdef", min_size=64, max_size=64))
def test_a_linked_body_is_the_line_json_dumps_makes_of_the_entry_with_its_link(entry, previous):
    head = json.dumps({**entry, CHAIN_FIELD: previous}, separators=(",", ":")).encode()
    own = hashlib.sha256(head).hexdigest()
    expected = head[:-1] + f',"{DIGEST_FIELD}":"{own}"}}'.encode()
    assert linked_line(entry_body(entry), previous) == expected == chained_line(entry, previous)


def _entry() -> dict:
    return {"type": "request", "auth": {"client_token": "s.secret", "policies": ["default"]},
            "request": {"path": "transit/encrypt/k", "client_token": "s.secret", "data": {"plaintext": "eA=="}},
            "error": ""}


def test_a_workers_copy_is_written_only_under_the_devices_own_salt():
    salt = os.urandom(32)
    mount = SimpleNamespace(path="main/", hasher=AuditHasher(salt))
    entry = _entry()
    ours = entry_body(hash_entry(entry, mount.hasher.redact))
    worker = AuditHasher(salt)  # the same salt, read from storage by the worker
    theirs = entry_body(hash_entry(entry, worker.redact))
    assert theirs == ours and b"s.secret" not in theirs and b"eA==" not in theirs
    assert _body(mount, entry, False, {"main/": (worker.fingerprint, theirs)}) == theirs
    stale = AuditHasher(os.urandom(32))  # a device enabled again since: a new salt
    wrong = entry_body(hash_entry(entry, stale.redact))
    assert _body(mount, entry, False, {"main/": (stale.fingerprint, wrong)}) == ours
    assert _body(mount, entry, False, {"other/": (worker.fingerprint, theirs)}) == ours
    assert _body(mount, entry, False, None) == ours
    assert linked_line(_body(mount, entry, False, None), GENESIS).startswith(ours[:-1])


def test_a_salt_fingerprint_names_the_salt_and_reveals_nothing_of_it():
    salt = os.urandom(32)
    first, again, other = AuditHasher(salt), AuditHasher(salt), AuditHasher(os.urandom(32))
    assert first.fingerprint == again.fingerprint != other.fingerprint
    assert salt.hex() not in first.fingerprint and len(first.fingerprint) == 64


async def test_a_follower_sends_its_hashed_copies_and_leaves_what_json_cannot_carry_to_the_primary():
    from server.worker_follower import ForwardedAudit

    sent = []

    async def call(message):
        sent.append(message)
        return {}

    link = SimpleNamespace(audited=True, channel=SimpleNamespace(call=call))
    audit = ForwardedAudit(link)  # type: ignore[arg-type]
    salt = os.urandom(32)
    audit._hashers = {"main/": AuditHasher(salt)}
    entry = _entry()
    await audit.log(entry)
    fingerprint, body = sent[0]["bodies"]["main/"]
    assert fingerprint == AuditHasher(salt).fingerprint
    assert body == entry_body(hash_entry(entry, AuditHasher(salt).redact)) and sent[0]["entry"] == entry
    odd = {**entry, "error": object()}  # not JSON: no copy; the primary decides, as before
    await audit.log(odd)
    assert "bodies" not in sent[1]
    audit.close()
    await audit.log(entry)
    assert "bodies" not in sent[2]
