"""Argon2id password records: round trips, a dummy that never matches, parameters that travel."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.auth.userpass_errors import UserpassError
from server.auth.userpass_password import (
    CURRENT,
    Argon2Parameters,
    PasswordHashError,
    dummy_hash,
    hash_password,
    needs_rehash,
    verify_password,
)

# Cheap parameters keep the properties fast; the OWASP ones are checked once below.
CHEAP = Argon2Parameters(memory_cost=64, iterations=1)
passwords = st.text(min_size=1, max_size=40)


@settings(max_examples=25, deadline=None)
@given(passwords, passwords)
def test_a_password_verifies_against_its_own_hash_only(password, other):
    record = hash_password(password, CHEAP)
    assert verify_password(password, record)
    assert verify_password(other, record) is (other == password)


@settings(max_examples=10, deadline=None)
@given(passwords, st.integers(min_value=0, max_value=31))
def test_any_flipped_bit_of_the_stored_tag_fails(password, index):
    record = hash_password(password, CHEAP)
    tag = bytearray(record["hash"])
    tag[index] ^= 0x01
    assert not verify_password(password, {**record, "hash": bytes(tag)})


def test_current_parameters_are_owasps():
    assert (CURRENT.memory_cost, CURRENT.iterations, CURRENT.lanes) == (19456, 2, 1)
    assert (CURRENT.salt_bytes, CURRENT.hash_bytes) == (16, 32)
    record = hash_password("pw")
    assert verify_password("pw", record) and not needs_rehash(record)


def test_the_dummy_hash_never_matches_and_has_the_current_parameters():
    dummy = dummy_hash(CHEAP)
    assert not verify_password("anything", dummy) and not verify_password("", dummy)
    assert not needs_rehash(dummy, CHEAP)
    assert dummy["salt"] != dummy_hash(CHEAP)["salt"]


def test_old_parameters_still_verify_and_ask_for_a_rehash():
    record = hash_password("pw", CHEAP)
    assert verify_password("pw", record)
    assert needs_rehash(record) and not needs_rehash(record, CHEAP)


def test_bad_records_and_inputs_are_refused():
    record = hash_password("pw", CHEAP)
    with pytest.raises(PasswordHashError):
        verify_password("pw", {**record, "algorithm": "bcrypt"})
    with pytest.raises(PasswordHashError):
        verify_password("pw", {**record, "lanes": 0})
    with pytest.raises(UserpassError, match="at most 4096 bytes"):
        hash_password("x" * 4097, CHEAP)
