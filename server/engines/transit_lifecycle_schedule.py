"""Lifecycle work done on time by the engine's tick(), and destruction itself.

For each key the store reports due: activate pre-active versions whose activation date has
come, deactivate active versions whose originator usage period has ended (rotating the key
when that version was its latest), destroy versions whose waiting period is over, and
rotate a key whose latest version has used up its usage limit. Transitions made here are
recorded as made by SCHEDULER.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from server.engines.transit_errors import TransitError
from server.engines.transit_key import KeyVersion, TransitKey
from server.engines.transit_lifecycle import (
    ACTIVE,
    DEACTIVATED,
    DESTROYED,
    NANOS,
    PRE_ACTIVE,
    SCHEDULER,
    SUSPENDED,
)
from server.engines.transit_lifecycle_kcv import version_kcv
from server.engines.transit_lifecycle_usage import exhausted
from server.engines.transit_ops_keys import persist_key, rotate_now

if TYPE_CHECKING:
    from server.engines.transit import TransitEngine


def destroy_version(key: TransitKey, version: KeyVersion, now_ns: int, accessor: str) -> None:
    """Move a version to destroyed and erase its key bytes (the caller persists the key,
    which replaces the stored record that held them)."""
    version_kcv(key, version)  # kept, so the destroyed version still proves which key it was
    life = version.life
    if life.state in (ACTIVE, SUSPENDED):
        life.move(DEACTIVATED, now_ns, accessor, "scheduled destruction")  # SP 800-57: no direct path
    life.move(DESTROYED, now_ns, accessor, "scheduled destruction")
    life.destroy_at_ns, life.restore_state = 0, ""
    version.erase()


def apply_due(key: TransitKey, now_ns: int) -> bool:
    """Make every transition due by now_ns; True when the key should rotate."""
    rotate = False
    originator = key.originator_usage_period * NANOS
    for number in sorted(key.versions):
        version = key.versions[number]
        life = version.life
        if life.destroy_at_ns and life.destroy_at_ns <= now_ns:
            destroy_version(key, version, now_ns, SCHEDULER)
        elif life.state == PRE_ACTIVE and 0 < life.activated_ns <= now_ns:
            life.move(ACTIVE, now_ns, SCHEDULER, "activation date reached")
        if life.state == ACTIVE and not life.destroy_at_ns and originator and \
                life.activated_ns + originator <= now_ns:
            life.move(DEACTIVATED, now_ns, SCHEDULER, "originator usage period ended")
            rotate = rotate or number == key.latest_version
    return rotate or exhausted(key)


async def run_due(engine: "TransitEngine", name: str, now_ns: int) -> None:
    """tick()'s lifecycle work on one key."""
    key = engine.store.get(name)
    if key is None:
        return
    before = {number: version.life.state for number, version in key.versions.items()}
    rotate = apply_due(key, now_ns)
    persist_key(engine, key)
    for number, version in key.versions.items():
        if before.get(number) != version.life.state:
            engine.record_event(f"scheduled:{version.life.state}", f"keys/{name}", {"version": number})
    if rotate:
        try:
            key.check_rotatable()
        except TransitError:
            return  # a soft-deleted or imported key is left as it is; its versions refuse
        await rotate_now(engine, name)
        engine.record_event("scheduled:rotate", f"keys/{name}", {})
