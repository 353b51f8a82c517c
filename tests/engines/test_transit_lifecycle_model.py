"""The key version lifecycle model without a server: the SP 800-57 transition graph as a
property, and records stored before lifecycles existed loading as all-active."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.engines.transit_errors import IllegalTransitionError, KeyStateError
from server.engines.transit_key import TransitKey
from server.engines.transit_keytypes import KEY_TYPES, generate_material
from server.engines.transit_lifecycle import (
    ACTIVE,
    COMPROMISED,
    DEACTIVATED,
    DESTROYED,
    PRE_ACTIVE,
    STATES,
    SUSPENDED,
    VersionLife,
)

# NIST SP 800-57 Part 1 Rev. 5 §7, written out once more by hand
ALLOWED = {(PRE_ACTIVE, ACTIVE), (PRE_ACTIVE, COMPROMISED), (PRE_ACTIVE, DESTROYED), (ACTIVE, SUSPENDED),
           (ACTIVE, DEACTIVATED), (ACTIVE, COMPROMISED), (SUSPENDED, ACTIVE), (SUSPENDED, DEACTIVATED),
           (SUSPENDED, COMPROMISED), (DEACTIVATED, COMPROMISED), (DEACTIVATED, DESTROYED), (COMPROMISED, DESTROYED)}


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(STATES), max_size=8))
def test_only_the_standards_transitions_happen_and_each_is_recorded(path):
    life = VersionLife(state=PRE_ACTIVE, activated_ns=0)
    moved = 0
    for step, target in enumerate(path):
        before = life.state
        if (before, target) in ALLOWED:
            life.move(target, step, "acc", "why")
            moved += 1
            assert life.state == target and life.history[-1] == {"from": before, "to": target, "ns": step,
                                                                 "by": "acc", "why": "why"}
        else:
            with pytest.raises(IllegalTransitionError):
                life.move(target, step, "acc")
            assert life.state == before
    assert len(life.history) == moved


@pytest.mark.parametrize("state", STATES)
def test_only_active_protects_and_only_active_deactivated_compromised_process(state):
    life = VersionLife(state=state, activated_ns=10**30 if state == PRE_ACTIVE else 1)
    for check, allowed in ((life.check_protect, {ACTIVE}), (life.check_process, {ACTIVE, DEACTIVATED, COMPROMISED})):
        if state in allowed:
            check(1, 10**18, 0)
        else:
            with pytest.raises(KeyStateError):
                check(1, 10**18, 0)


def test_a_record_stored_before_lifecycles_loads_with_every_version_active():
    key = TransitKey.define("old", KEY_TYPES["aes256-gcm96"])
    for when in (1_600_000_000 * 10**9, 1_700_000_000 * 10**9):
        key.add_version(generate_material(key.type), when)
    record = key.to_record()
    record["format"] = 1
    for field in ("usage_limit", "originator_usage_period", "recipient_usage_period", "destruction_waiting_period"):
        del record[field]
    for version in record["versions"]:
        del version["life"]
    loaded = TransitKey.from_record(record)
    assert [v.life.state for v in loaded.versions.values()] == [ACTIVE, ACTIVE]
    assert loaded.versions[1].life.activated_ns == 1_600_000_000 * 10**9
    assert loaded.usage_limit == 2**30 and loaded.encryption_version(0) == 2
    loaded.check_decryption_version(1, "ciphertext")
    assert TransitKey.from_record(loaded.to_record()).to_record()["format"] == 2
    key.close(), loaded.close()


def test_a_suspended_or_destruction_scheduled_version_refuses_everything():
    life = VersionLife(state=DEACTIVATED, activated_ns=1, destroy_at_ns=5)
    with pytest.raises(KeyStateError, match="scheduled for destruction"):
        life.check_process(1, 2, 0)
    life = VersionLife(state=SUSPENDED, activated_ns=1)
    with pytest.raises(KeyStateError):
        life.check_process(1, 2, 0)
