"""The hash chain through an audit log: each line names the SHA-256 of the line before it.

A deleted, reordered or edited line breaks a link, which `strongroom audit verify FILE`
reports. The first line of a file may name any predecessor (a rotated-away file).
"""

from __future__ import annotations

import hashlib
import json
import os

CHAIN_FIELD = "prev_sha256"
GENESIS = "0" * 64


def line_digest(line: bytes) -> str:
    """The link value for a line as written (without its newline)."""
    return hashlib.sha256(line.rstrip(b"\n")).hexdigest()


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


def verify_file(path: str) -> tuple[int, int | None, str]:
    """(lines checked, first broken line number or None, reason)."""
    previous: str | None = None
    number = 0
    with open(path, "rb") as file:
        for number, raw in enumerate(file, start=1):
            line = raw.rstrip(b"\n")
            try:
                entry = json.loads(line)
                link = entry[CHAIN_FIELD]
            except (ValueError, KeyError, TypeError):
                return number, number, "not an audit entry with a chain field"
            if previous is not None and link != previous:
                return number, number, "the chain link does not match the previous line"
            previous = line_digest(line)
    return number, None, "ok"
