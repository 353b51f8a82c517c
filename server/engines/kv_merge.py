"""JSON merge patch (RFC 7386), and the media type Vault demands of a PATCH request.

Vault applies KV v2 patches (data/ and metadata/) as merge patches: objects merge key by
key, null removes a key, anything else replaces the target outright.
"""

from __future__ import annotations

from typing import Any, Mapping

from server.errors import UnsupportedMediaTypeError

MERGE_PATCH_TYPE = "application/merge-patch+json"


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 §2 MergePatch(target, patch); neither argument is modified."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for name, value in patch.items():
        if value is None:
            result.pop(name, None)
        else:
            result[name] = merge_patch(result.get(name), value)
    return result


def require_merge_patch(headers: Mapping[str, str]) -> None:
    """Vault answers 415 to a PATCH whose Content-Type is not application/merge-patch+json
    (parameters such as charset are allowed)."""
    provided = headers.get("Content-Type", "")
    if provided.split(";", 1)[0].strip().lower() != MERGE_PATCH_TYPE:
        raise UnsupportedMediaTypeError(f"PATCH requires Content-Type of {MERGE_PATCH_TYPE}, provided {provided}")
