"""sys/keyring and sys/keyring/retire: strongroom's view of every barrier keyring term.

Vault has only sys/key-status (the active term; kept unchanged in sys/keys.py). Here each
term shows its state (active, inactive, retired-pending, destroyed), its use, how many
stored entries it still protects, and the progress of its retirement; a retire request
starts the background job of seal/retire.py (driven by Core.tick). Both need sudo: the
progress names a storage path.
"""

from __future__ import annotations

import re
import time
from typing import Any

from seal.barrier import TermInfo
from seal.keyring import TERM_ACTIVE, Retirement
from seal.retire import Census
from server.core import Core
from server.errors import BadRequestError
from server.request import Request
from server.routing import Reply, logical
from server.timefmt import rfc3339

_DIGITS = re.compile(r"[0-9]{1,10}")


async def read_keyring(core: Core, req: Request, m: re.Match) -> Reply:
    terms = core.seal.barrier.keyring_terms()
    census = core.retirement.census(time.time())
    active = next(info.term for info in terms if info.state == TERM_ACTIVE)
    return logical(req, {
        "active_term": active,
        "entries_complete": census.complete,
        "entries_counted_at": _time(census.finished),
        "terms": [_term_body(info, census) for info in terms],
    })


async def retire_term(core: Core, req: Request, m: re.Match) -> Reply:
    info = core.seal.barrier.retire(_term_field(req.data), time.time())
    return logical(req, _term_body(info, core.retirement.census(time.time())))


def _term_field(data: dict[str, Any]) -> int:
    """`term` as a JSON integer, or as the decimal string the CLI's key=value sends."""
    value = data.get("term")
    if value is None:
        raise BadRequestError("missing required field 'term'")
    if isinstance(value, str) and _DIGITS.fullmatch(value):
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadRequestError("failed to decode JSON input: term must be an integer")
    return value


def _term_body(info: TermInfo, census: Census) -> dict[str, Any]:
    return {
        "term": info.term,
        "state": info.state,
        "install_time": rfc3339(info.install_time),
        "encryptions": info.encryptions,
        "entries": census.entries(info.term),
        "destroy_time": _time(info.destroy_time),
        "retirement": _retirement_body(info.retirement, census),
    }


def _retirement_body(retirement: Retirement | None, census: Census) -> dict[str, Any] | None:
    if retirement is None:
        return None
    return {
        "requested": rfc3339(retirement.requested),
        "started": _time(retirement.started),
        "pass": retirement.passes + 1,
        "last_key": retirement.cursor,
        "reencrypted": retirement.reencrypted,
        "remaining": census.entries(retirement.term) if census.complete else None,
        "unreadable": retirement.unreadable,
    }


def _time(epoch: float | None) -> str | None:
    return None if epoch is None else rfc3339(epoch)
