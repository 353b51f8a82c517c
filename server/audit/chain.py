"""The hash chain through an audit log: each line names the SHA-256 of the line before it.

A line ends with two fields: prev_sha256, the digest of the previous line as written, and
sha256, the digest of the line itself up to that field. A deleted, inserted or reordered
line breaks a link; an edited line no longer matches its own digest (and, if that was
recomputed, breaks the next link). `strongroom audit verify FILE` reports the first such
line. The first line of a file may name any predecessor (a rotated-away file).

Without a key the chain shows accidents and careless edits; someone who rewrites every line
from the edit to the end, or cuts lines off the end, is caught only by a copy kept elsewhere
(a second device).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from typing import Any

CHAIN_FIELD = "prev_sha256"
DIGEST_FIELD = "sha256"
GENESIS = "0" * 64
_DIGEST_TAIL = re.compile(rb',"' + DIGEST_FIELD.encode() + rb'":"([0-9a-f]{64})"\}$')


def line_digest(line: bytes) -> str:
    """The link value for a line as written (without its newline)."""
    return hashlib.sha256(line.rstrip(b"\n")).hexdigest()


def chained_line(entry: dict[str, Any], previous: str) -> bytes:
    """entry as one JSON line (no newline) that links to previous and carries its own digest."""
    return linked_line(entry_body(entry), previous)


def entry_body(entry: dict[str, Any]) -> bytes:
    """entry as compact JSON without its chain fields: what linked_line completes. A worker
    process makes it for its own entries, so the process that writes the log only links."""
    return json.dumps(entry, separators=(",", ":")).encode()


def linked_line(body: bytes, previous: str) -> bytes:
    """entry_body's JSON with prev_sha256 and then its own sha256 appended as the last
    fields: the bytes json.dumps gives for the entry with prev_sha256 added, then the digest."""
    if not body.endswith(b"}") or body == b"{}":
        raise ValueError("an audit entry body is a non-empty JSON object")
    head = body[:-1] + f',"{CHAIN_FIELD}":"{previous}"}}'.encode()
    own = hashlib.sha256(head).hexdigest()
    return head[:-1] + f',"{DIGEST_FIELD}":"{own}"}}'.encode()


def last_digest(path: str) -> str:
    """The digest of a file's last line, so the chain continues across restarts."""
    try:
        with open(path, "rb") as file:
            file.seek(0, os.SEEK_END)
            size = file.tell()
            block = min(size, 1 << 20)
            file.seek(size - block)
            tail = file.read(block)
    except (FileNotFoundError, IsADirectoryError):
        return GENESIS
    lines = [ln for ln in tail.split(b"\n") if ln.strip()]
    return line_digest(lines[-1]) if lines else GENESIS


def _check_line(line: bytes) -> tuple[str | None, str]:
    """(the line's link, "") or (None, why the line itself is broken)."""
    tail = _DIGEST_TAIL.search(line)
    if tail is None:
        return None, "not an audit entry with chain fields"
    head = line[:tail.start()] + b"}"
    if hashlib.sha256(head).hexdigest() != tail[1].decode():
        return None, "the line was edited: it does not match its own sha256"
    try:
        link = json.loads(line)[CHAIN_FIELD]
    except (ValueError, KeyError, TypeError):
        return None, "not an audit entry with chain fields"
    if not isinstance(link, str):
        return None, "not an audit entry with chain fields"
    return link, ""


def verify_file(path: str) -> tuple[int, int | None, str]:
    """(lines checked, first broken line number or None, reason)."""
    previous: str | None = None
    number = 0
    with open(path, "rb") as file:
        for number, raw in enumerate(file, start=1):
            line = raw.rstrip(b"\n")
            link, problem = _check_line(line)
            if link is None:
                return number, number, problem
            if previous is not None and link != previous:
                return number, number, ("the chain link does not name the previous line: a line was deleted, "
                                        "inserted or moved here, or the previous line was rewritten")
            previous = line_digest(line)
    return number, None, "ok"
