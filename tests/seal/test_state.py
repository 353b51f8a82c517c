"""The seal state machine: init, unseal, seal, rekey, rotate, at the library level."""

import itertools

import msgpack
import pytest

from seal.barrier import SEAL_CONFIG_PATH
from seal.errors import (
    AlreadyInitializedError,
    IntegrityError,
    InvalidShareError,
    NonceMismatchError,
    NotInitializedError,
    SealConfigError,
    SealedError,
)
from seal.ops import BarrierPut
from seal.shares import decode_share
from seal.state import Seal
from storage.memory import MemoryBackend


@pytest.fixture
def backend():
    return MemoryBackend()


@pytest.fixture
def seal(backend):
    return Seal(backend, lock_memory=True)



def unseal_with(seal, shares):
    for share in shares:
        seal.submit_unseal_share(share)


def init(seal, n=5, t=3, **kw):
    return list(seal.initialize(n, t, **kw).shares)


def test_init_returns_shares_once_and_stays_sealed(seal):
    shares = init(seal)
    assert len(shares) == 5 and all(len(s) == 33 for s in shares)
    assert len({s[-1] for s in shares}) == 5  # distinct x-coordinates
    assert seal.initialized and seal.sealed
    with pytest.raises(AlreadyInitializedError):
        seal.initialize(5, 3)
    stored = b"".join(seal.backend.get(k) or b"" for k in ("core/seal-config", "core/root-key", "core/keyring"))
    assert not any(s[:-1] in stored for s in shares)


def test_any_three_of_five_open_it_and_two_do_not(backend):
    seal = Seal(backend, lock_memory=False)
    shares = init(seal)
    seal.barrier.sealed  # noqa: B018
    for subset in itertools.combinations(shares, 3):
        s = Seal(backend, lock_memory=False)
        unseal_with(s, subset[:2])
        assert s.sealed and s.status().progress == 2
        unseal_with(s, subset[2:])
        assert not s.sealed
        s.seal()


def test_setup_entries_commit_with_init(seal):
    shares = init(seal, setup=lambda barrier: [BarrierPut("sys/token/root", {"policies": ["root"]})])
    unseal_with(seal, shares[:3])
    assert seal.barrier.get("sys/token/root") == {"policies": ["root"]}


def test_failed_setup_leaves_store_uninitialised(seal):
    def broken(barrier):
        raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError):
        seal.initialize(5, 3, setup=broken)
    assert not seal.initialized and seal.backend.list("") == []


def test_wrong_share_is_refused_at_once_and_progress_kept(seal):
    shares = init(seal)
    seal.submit_unseal_share(shares[0])
    altered = bytearray(shares[1])
    altered[3] ^= 0x40
    with pytest.raises(InvalidShareError):
        seal.submit_unseal_share(bytes(altered))
    assert seal.status().progress == 1
    with pytest.raises(InvalidShareError):
        seal.submit_unseal_share(b"\x01" * 33)
    assert seal.check_share(shares[4]) and not seal.check_share(bytes(altered))


def test_repeated_share_does_not_advance(seal):
    shares = init(seal)
    nonce = seal.submit_unseal_share(shares[0]).nonce
    assert seal.submit_unseal_share(shares[0]).progress == 1
    assert seal.status().nonce == nonce and len(nonce) == 36


def test_reset_forgets_progress(seal):
    shares = init(seal)
    seal.submit_unseal_share(shares[0])
    seal.reset_unseal()
    assert seal.status().progress == 0 and seal.status().nonce == ""


def test_progress_expires(backend):
    now = [1000.0]
    seal = Seal(backend, lock_memory=False, progress_ttl=60, clock=lambda: now[0])
    shares = init(seal)
    seal.submit_unseal_share(shares[0])
    seal.submit_unseal_share(shares[1])
    assert seal.status().progress_expires_at == 1060.0
    now[0] = 1061.0
    assert seal.status().progress == 0
    seal.submit_unseal_share(shares[2])
    assert seal.sealed and seal.status().progress == 1


def test_single_share_is_the_key(seal):
    (share,) = init(seal, 1, 1)
    assert len(share) == 32
    seal.submit_unseal_share(share)
    assert not seal.sealed


@pytest.mark.parametrize("n,t", [(0, 0), (3, 4), (3, 1), (256, 3), (5, 0)])
def test_bad_shapes_refused(seal, n, t):
    with pytest.raises(SealConfigError):
        seal.initialize(n, t)
    assert not seal.initialized


def test_tampered_seal_config_is_caught_at_unseal(seal):
    shares = init(seal)
    data = msgpack.unpackb(seal.backend.get(SEAL_CONFIG_PATH))
    data["secret_threshold"] = 2  # an attacker lowers the threshold
    seal.backend.put(SEAL_CONFIG_PATH, msgpack.packb(data))
    seal.submit_unseal_share(shares[0])
    with pytest.raises((IntegrityError, InvalidShareError)):
        seal.submit_unseal_share(shares[1])
    assert seal.sealed


def test_seal_zeroes_and_refuses(seal):
    shares = init(seal)
    unseal_with(seal, shares[:3])
    seal.barrier.put("x", 1)
    keyring = seal.barrier._keyring
    buffers = [t.key for t in keyring.terms()] + [keyring.root_key]
    seal.seal()
    assert seal.sealed
    assert all(b.closed for b in buffers)
    with pytest.raises(SealedError):
        seal.barrier.get("x")


def test_not_initialised(seal):
    with pytest.raises(NotInitializedError):
        seal.submit_unseal_share(b"\x00" * 33)
    assert seal.status().initialized is False


def test_decode_share_hex_and_base64():
    raw = bytes(range(33))
    import base64

    assert decode_share(raw.hex()) == raw
    assert decode_share(base64.b64encode(raw).decode()) == raw
    with pytest.raises(InvalidShareError):
        decode_share("not a share!")


# -- rekey ---------------------------------------------------------------------------


def test_rekey_old_shares_fail_new_work(backend):
    seal = Seal(backend, lock_memory=False)
    old = init(seal)
    unseal_with(seal, old[:3])
    seal.barrier.put("kept", "through rekey")
    op = seal.rekey_init(3, 2)
    assert seal.rekey_update(old[0], op.nonce) is None
    with pytest.raises(NonceMismatchError):
        seal.rekey_update(old[1], "wrong")
    result = seal.rekey_update(old[1], op.nonce) or seal.rekey_update(old[2], op.nonce)
    assert result is not None and not result.verification_required
    new = list(result.issued.shares)
    assert len(new) == 3 and seal.rekey is None

    after = Seal(backend, lock_memory=False)
    with pytest.raises(InvalidShareError):
        after.submit_unseal_share(old[0])
    unseal_with(after, new[:2])
    assert not after.sealed and after.barrier.get("kept") == "through rekey"
    assert after.status().secret_threshold == 2


def test_rekey_with_verification(backend):
    seal = Seal(backend, lock_memory=False)
    old = init(seal, 3, 2)
    unseal_with(seal, old[:2])
    op = seal.rekey_init(2, 2, require_verification=True)
    seal.rekey_update(old[0], op.nonce)
    result = seal.rekey_update(old[1], op.nonce)
    assert result.verification_required and result.verification_nonce
    new = list(result.issued.shares)
    # Not in force yet: old shares still open a fresh process.
    probe = Seal(backend, lock_memory=False)
    assert probe.check_share(old[0]) and not probe.check_share(new[0])
    with pytest.raises(InvalidShareError):
        seal.rekey_verify_update(old[0], result.verification_nonce)
    with pytest.raises(NonceMismatchError):
        seal.rekey_verify_update(new[0], "nope")
    seal.rekey_verify_cancel()
    nonce = seal.rekey.pending.nonce
    assert nonce != result.verification_nonce
    assert seal.rekey_verify_update(new[0], nonce) is None
    done = seal.rekey_verify_update(new[1], nonce)
    assert done is not None and seal.rekey is None
    after = Seal(backend, lock_memory=False)
    unseal_with(after, new)
    assert not after.sealed


def test_rekey_cancel_and_errors(seal):
    shares = init(seal)
    with pytest.raises(SealedError):
        seal.rekey_init(3, 2)
    unseal_with(seal, shares[:3])
    op = seal.rekey_init(3, 2)
    with pytest.raises(SealConfigError):
        seal.rekey_init(3, 2)
    seal.rekey_update(shares[0], op.nonce)
    seal.rekey_cancel()
    with pytest.raises(SealConfigError):
        seal.rekey_update(shares[1], op.nonce)
    with pytest.raises(SealConfigError):
        seal.rekey_init(2, 3)


def test_rotate_through_seal(seal):
    shares = init(seal)
    unseal_with(seal, shares[:3])
    assert seal.key_status().term == 1
    assert seal.rotate().term == 2


def test_encryptions_during_init_are_counted(backend):
    seal = Seal(backend, lock_memory=False)
    shares = seal.initialize(1, 1, setup=lambda barrier: [BarrierPut(f"first/{i}", i) for i in range(3)]).shares
    seal.submit_unseal_share(shares[0])
    assert seal.key_status().encryptions >= 3
