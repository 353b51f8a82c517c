"""The generate-root ceremony at the library level (seal/generate_root.py): quorum, share
checks, expiry, rekey and seal in the middle of an attempt, and the OTP encoding."""

import base64
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seal.errors import CustodianKeyError, InvalidShareError, NonceMismatchError, SealedError
from seal.generate_root import (
    InvalidOTPError,
    NoRootGenerationError,
    RootGenerationAttempt,
    RootGenerationError,
    RootGenerationInProgressError,
)
from seal.shares import ShareCollection
from seal.state import Seal
from storage.memory import MemoryBackend

TOKEN_LENGTH = 26
BASE62 = string.ascii_letters + string.digits
TTL = 60.0


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


class Minter:
    """Stands in for the token store: makes token IDs, records what was stored."""

    def __init__(self) -> None:
        self.count = 0
        self.stored: list[str] = []

    def new_token(self) -> str:
        self.count += 1
        return "s." + f"{self.count:024d}"

    def store(self, token: str) -> None:
        self.stored.append(token)


def decode(encoded: str, otp: str) -> str:
    """What `bao operator generate-root -decode` does: RawStdEncoding, then XOR with the OTP."""
    raw = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    return bytes(a ^ b for a, b in zip(raw, otp.encode())).decode()


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def unsealed(clock):
    seal = Seal(MemoryBackend(), lock_memory=False, progress_ttl=TTL, clock=clock)
    shares = list(seal.initialize(5, 3).shares)
    for share in shares[:3]:
        seal.submit_unseal_share(share)
    assert not seal.sealed
    return seal, shares


def submit_all(generation, shares, minter):
    nonce = generation.status().nonce
    return [generation.submit(s, nonce, minter.new_token, minter.store) for s in shares]


def test_three_of_five_mint_one_token_encoded_with_the_generated_otp(unsealed):
    seal, shares = unsealed
    generation, minter = seal.root_generation, Minter()
    otp = generation.start(TOKEN_LENGTH)
    assert len(otp) == TOKEN_LENGTH and set(otp) <= set(BASE62)
    results = submit_all(generation, shares[2:5], minter)
    assert [r.progress for r in results] == [1, 2, 3]
    assert [r.complete for r in results] == [False, False, True]
    assert minter.stored == ["s." + "1".zfill(24)]
    assert decode(results[-1].encoded_token, otp) == minter.stored[0]
    assert not generation.status().started


def test_two_of_five_mint_nothing(unsealed):
    seal, shares = unsealed
    generation, minter = seal.root_generation, Minter()
    generation.start(TOKEN_LENGTH)
    results = submit_all(generation, shares[:2], minter)
    assert not any(r.complete or r.encoded_token for r in results)
    assert minter.count == 0 and minter.stored == []
    assert generation.status().progress == 2


def test_a_share_of_another_store_is_refused_at_once_and_does_not_count(unsealed):
    seal, shares = unsealed
    other = Seal(MemoryBackend(), lock_memory=False)
    foreign = other.initialize(5, 3).shares[0]
    tampered = bytearray(shares[1])
    tampered[0] ^= 1
    generation, minter = seal.root_generation, Minter()
    generation.start(TOKEN_LENGTH)
    nonce = generation.status().nonce
    generation.submit(shares[0], nonce, minter.new_token, minter.store)
    for bad in (foreign, bytes(tampered)):
        with pytest.raises(InvalidShareError):
            generation.submit(bad, nonce, minter.new_token, minter.store)
    with pytest.raises(InvalidShareError, match="already been provided"):
        generation.submit(shares[0], nonce, minter.new_token, minter.store)
    assert generation.status().progress == 1
    assert submit_all(generation, shares[1:3], minter)[-1].complete


def test_wrong_nonce_changes_nothing_and_does_not_reveal_the_nonce(unsealed):
    seal, shares = unsealed
    generation, minter = seal.root_generation, Minter()
    generation.start(TOKEN_LENGTH)
    before = generation.status()
    with pytest.raises(NonceMismatchError) as caught:
        generation.submit(shares[0], "not-the-nonce", minter.new_token, minter.store)
    assert before.nonce not in str(caught.value)
    assert generation.status() == before


def test_start_rules(unsealed):
    seal, _ = unsealed
    generation = seal.root_generation
    with pytest.raises(InvalidOTPError):
        generation.start(TOKEN_LENGTH, otp="x" * (TOKEN_LENGTH - 1))
    with pytest.raises(InvalidOTPError):
        generation.start(TOKEN_LENGTH, otp="é" + "x" * (TOKEN_LENGTH - 1))  # bytes, as Go's len()
    with pytest.raises(RootGenerationError, match="only one"):
        generation.start(TOKEN_LENGTH, otp="x" * TOKEN_LENGTH, pgp_key="anything")
    with pytest.raises(CustodianKeyError):
        generation.start(TOKEN_LENGTH, pgp_key="bm90IGEga2V5")
    assert not generation.status().started
    assert generation.start(TOKEN_LENGTH, otp="x" * TOKEN_LENGTH) == ""  # given OTPs are not echoed
    with pytest.raises(RootGenerationInProgressError):
        generation.start(TOKEN_LENGTH)
    generation.cancel()
    with pytest.raises(NoRootGenerationError):
        generation.submit(b"\x01" * 33, "nonce", Minter().new_token, Minter().store)


def test_progress_expires_but_the_attempt_and_its_nonce_stay(unsealed, clock):
    seal, shares = unsealed
    generation, minter = seal.root_generation, Minter()
    generation.start(TOKEN_LENGTH)
    submit_all(generation, shares[:2], minter)
    status = generation.status()
    assert status.progress_expires_at == clock.now + TTL
    clock.now += TTL
    expired = generation.status()
    assert (expired.started, expired.progress, expired.nonce) == (True, 0, status.nonce)
    results = submit_all(generation, shares[:3], minter)  # the same shares count again
    assert [r.progress for r in results] == [1, 2, 3] and results[-1].complete


def test_a_rekey_during_the_attempt_drops_the_old_shares(unsealed):
    seal, shares = unsealed
    generation, minter = seal.root_generation, Minter()
    generation.start(TOKEN_LENGTH)
    submit_all(generation, shares[:1], minter)
    op = seal.rekey_init(3, 2)
    result = None
    for share in shares[:3]:
        result = seal.rekey_update(share, op.nonce)
    new_shares = list(result.issued.shares)
    status = generation.status()
    assert (status.started, status.progress, status.required) == (True, 0, 2)
    with pytest.raises(InvalidShareError):
        submit_all(generation, shares[1:2], minter)
    assert submit_all(generation, new_shares[:2], minter)[-1].complete


def test_sealing_cancels_the_attempt_and_zeroes_the_otp(unsealed):
    seal, shares = unsealed
    generation = seal.root_generation
    generation.start(TOKEN_LENGTH, otp="q" * TOKEN_LENGTH)
    submit_all(generation, shares[:2], Minter())
    attempt = generation._attempt
    seal.seal()
    assert bytes(attempt._otp) == bytes(TOKEN_LENGTH) and attempt.collection.progress == 0
    with pytest.raises(SealedError):
        generation.start(TOKEN_LENGTH)
    for share in shares[:3]:
        seal.submit_unseal_share(share)
    assert not generation.status().started


def test_a_failed_store_hands_out_nothing_and_restarts_the_progress(unsealed):
    seal, shares = unsealed
    generation, minter = seal.root_generation, Minter()
    generation.start(TOKEN_LENGTH)

    def failing_store(token):
        raise OSError("disk gone")

    nonce = generation.status().nonce
    for share in shares[:2]:
        generation.submit(share, nonce, minter.new_token, failing_store)
    with pytest.raises(OSError):
        generation.submit(shares[2], nonce, minter.new_token, failing_store)
    status = generation.status()
    assert (status.started, status.progress, status.nonce) == (True, 0, nonce)
    assert submit_all(generation, shares[:3], minter)[-1].complete


@settings(max_examples=60, deadline=None)
@given(token=st.text(BASE62, min_size=1, max_size=40), data=st.data())
def test_otp_encoding_round_trips_without_padding(token, data):
    otp = data.draw(st.text(BASE62, min_size=len(token), max_size=len(token)))
    attempt = RootGenerationAttempt(ShareCollection(1), "", bytearray(otp.encode()), "", "")
    encoded = attempt.encode(token)
    assert "=" not in encoded and len(encoded) == -(-len(token) * 4 // 3)
    assert decode(encoded, otp) == token


def test_otp_encoding_refuses_a_token_of_another_length():
    attempt = RootGenerationAttempt(ShareCollection(1), "", bytearray(b"x" * TOKEN_LENGTH), "", "")
    with pytest.raises(InvalidOTPError):
        attempt.encode("s.short")
