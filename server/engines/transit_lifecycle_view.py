"""The lifecycle fields strongroom adds to a transit key's read output (additions only:
Vault's fields keep their names, meaning and shapes), and the lifecycle settings read from a
create or config request.
"""

from __future__ import annotations

from typing import Any

from server.engines.transit_encoding import parse_rfc3339_nano, rfc3339_nano
from server.engines.transit_fields import Fields
from server.engines.transit_key import MAX_USAGE_LIMIT, KeyVersion, TransitKey
from server.engines.transit_lifecycle import COMPROMISED, NANOS
from server.engines.transit_lifecycle_kcv import kcv_algorithm, version_kcv
from server.errors import BadRequestError

MIN_DESTRUCTION_WAIT = 86400  # one day, as the shortest cloud KMS waiting period
MAX_DESTRUCTION_WAIT = 120 * 86400
LIFECYCLE_SETTINGS = ("usage_limit", "originator_usage_period", "recipient_usage_period",
                      "destruction_waiting_period")


def lifecycle_info(key: TransitKey) -> dict[str, Any]:
    """Key-level settings, the compromised versions, and one entry per version."""
    return {
        "usage_limit": key.usage_limit,
        "originator_usage_period": key.originator_usage_period,
        "recipient_usage_period": key.recipient_usage_period,
        "destruction_waiting_period": key.destruction_waiting_period,
        "kcv_algorithm": kcv_algorithm(key.type),
        "compromised_versions": sorted(n for n, v in key.versions.items() if v.life.state == COMPROMISED),
        "versions": {str(n): version_info(key, key.versions[n]) for n in sorted(key.versions)},
    }


def version_info(key: TransitKey, version: KeyVersion) -> dict[str, Any]:
    life = version.life
    info: dict[str, Any] = {
        "state": life.state,
        "creation_time": rfc3339_nano(version.created_ns),
        "activation_time": rfc3339_nano(life.activated_ns),
        "kcv": version_kcv(key, version),
        "encryptions": life.used,
        "encryptions_reserved": life.reserved,
        "destruction_time": rfc3339_nano(life.destroy_at_ns) if life.destroy_at_ns else "",
        "state_history": [{"previous_state": entry["from"], "state": entry["to"], "time": rfc3339_nano(entry["ns"]),
                           "accessor": entry["by"], "reason": entry["why"]} for entry in life.history],
    }
    if key.originator_usage_period:
        info["originator_usage_end"] = rfc3339_nano(life.activated_ns + key.originator_usage_period * NANOS)
    if key.recipient_usage_period:
        info["recipient_usage_end"] = rfc3339_nano(life.activated_ns + key.recipient_usage_period * NANOS)
    return info


def read_settings(fields: Fields, current: TransitKey | None = None) -> dict[str, int]:
    """The lifecycle settings a request sends, checked against each other and the key's."""
    changes: dict[str, int] = {}
    if fields.has("usage_limit"):
        limit = fields.integer("usage_limit")
        if not 1 <= limit <= MAX_USAGE_LIMIT:
            raise BadRequestError(f"usage_limit must be between 1 and {MAX_USAGE_LIMIT}")
        changes["usage_limit"] = limit
    for name in ("originator_usage_period", "recipient_usage_period"):
        if fields.has(name):
            changes[name] = fields.seconds(name)
    if fields.has("destruction_waiting_period"):
        wait = fields.seconds("destruction_waiting_period")
        if not MIN_DESTRUCTION_WAIT <= wait <= MAX_DESTRUCTION_WAIT:
            raise BadRequestError(f"destruction_waiting_period must be between {MIN_DESTRUCTION_WAIT} and "
                                  f"{MAX_DESTRUCTION_WAIT} seconds")
        changes["destruction_waiting_period"] = wait
    originator = changes.get("originator_usage_period", current.originator_usage_period if current else 0)
    recipient = changes.get("recipient_usage_period", current.recipient_usage_period if current else 0)
    # SP 800-57 Part 1 §5.3: the recipient usage period starts with the originator's and may
    # extend beyond it, never end before it.
    if originator and recipient and recipient < originator:
        raise BadRequestError("recipient_usage_period cannot be shorter than originator_usage_period")
    return changes


def activation_time(fields: Fields) -> int:
    """activation_date (RFC 3339) as unix ns; 0 when not sent."""
    text = fields.string("activation_date")
    if not text:
        return 0
    try:
        return parse_rfc3339_nano(text)
    except ValueError:
        raise BadRequestError("activation_date must be an RFC 3339 time such as 2030-01-31T00:00:00Z") from None
