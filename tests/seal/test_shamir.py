"""Shamir split/combine: Vault-layout vectors, field arithmetic, recovery properties, errors."""

import hashlib
import itertools
import json
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seal import shamir
from seal.errors import InvalidShareError, InvalidSplitError, SealError

REPO_ROOT = Path(__file__).resolve().parents[2]
REPO_VECTORS = REPO_ROOT / "tests" / "vectors" / "shamir.json"
SHARED_VECTORS = REPO_ROOT.parent / "shared" / "vectors" / "shamir.json"


def _vector_files() -> list[Path]:
    return [REPO_VECTORS] + ([SHARED_VECTORS] if SHARED_VECTORS.is_file() else [])


def _load(path: Path) -> dict:
    return json.loads(path.read_text())


def _stream(seed: bytes):
    """A deterministic random_bytes: SHAKE-256 output, consumed in order."""
    state = {"used": 0}

    def random_bytes(n: int) -> bytes:
        start = state["used"]
        state["used"] += n
        return hashlib.shake_256(seed).digest(start + n)[start:]

    return random_bytes


def _reference_mul(a: int, b: int) -> int:
    """Textbook GF(2^8) product with branches, to check the masked one against."""
    product = 0
    while b:
        if b & 1:
            product ^= a
        a <<= 1
        if a & 0x100:
            a ^= 0x11B
        b >>= 1
    return product


# --- known-answer vectors -------------------------------------------------------------


def test_repo_copy_names_its_source_and_matches_shared():
    copy = _load(REPO_VECTORS)
    assert "about" in copy and "shared/vectors/shamir.json" in copy["source"]
    if SHARED_VECTORS.is_file():
        shared = _load(SHARED_VECTORS)
        assert copy["vectors"] == shared["vectors"]
        assert copy["field_checks"] == shared["field_checks"]


@pytest.mark.parametrize("path", _vector_files(), ids=lambda p: p.parent.parent.name)
def test_field_checks(path):
    checks = _load(path)["field_checks"]
    assert checks["polynomial"] == "0x11B"
    for a, b, product in checks["mul"]:
        assert shamir.gf_mul(a, b) == product
    for a, b, quotient in checks["div"]:
        assert shamir.gf_div(a, b) == quotient


@pytest.mark.parametrize("path", _vector_files(), ids=lambda p: p.parent.parent.name)
def test_vectors_every_threshold_subset_in_any_order(path):
    for vector in _load(path)["vectors"]:
        secret = bytes.fromhex(vector["secret"])
        shares = [bytes.fromhex(s) for s in vector["shares"]]
        threshold = vector["threshold"]
        assert all(len(s) == len(secret) + 1 for s in shares)
        for ordered in itertools.permutations(shares, threshold):
            assert shamir.combine(list(ordered)) == secret
        for fewer in itertools.combinations(shares, threshold - 1):
            if len(fewer) >= 2:
                assert shamir.combine(list(fewer)) != secret


# --- field ------------------------------------------------------------------------------


def test_gf_mul_matches_textbook_for_all_pairs():
    for a in range(256):
        for b in range(256):
            assert shamir.gf_mul(a, b) == _reference_mul(a, b)


def test_inverse_and_division():
    assert shamir.gf_inverse(0) == 0
    for a in range(1, 256):
        assert shamir.gf_mul(a, shamir.gf_inverse(a)) == 1
        assert shamir.gf_div(shamir.gf_mul(a, 0x53), a) == 0x53
    with pytest.raises(ZeroDivisionError):
        shamir.gf_div(5, 0)
    with pytest.raises(ValueError):
        shamir.gf_mul(256, 1)
    with pytest.raises(TypeError):
        shamir.gf_mul(True, 1)


# --- split ------------------------------------------------------------------------------


def test_split_layout_follows_the_documented_randomness_order():
    """x-coordinates from the first draws, then the coefficients; checked by a naive
    per-byte polynomial evaluation, independent of the lane arithmetic."""
    secret = bytes(range(7, 7 + 20))
    parts, threshold = 6, 4
    shares = shamir.split(secret, parts, threshold, random_bytes=_stream(b"layout"))
    replay = _stream(b"layout")
    xs = shamir._x_coordinates(parts, replay)
    coefficients = [replay(len(secret)) for _ in range(threshold - 1)]
    assert [s[-1] for s in shares] == xs
    for share in shares:
        x = share[-1]
        for i, secret_byte in enumerate(secret):
            y, power = secret_byte, 1
            for coefficient in coefficients:
                power = _reference_mul(power, x)
                y ^= _reference_mul(coefficient[i], power)
            assert share[i] == y


def test_split_is_reproducible_with_injected_randomness():
    one = shamir.split(b"test", 5, 3, random_bytes=_stream(b"seed"))
    two = shamir.split(b"test", 5, 3, random_bytes=_stream(b"seed"))
    other = shamir.split(b"test", 5, 3, random_bytes=_stream(b"other"))
    assert one == two != other


def test_x_coordinates_are_a_permutation_of_1_to_255():
    shares = shamir.split(b"\x42", 255, 2)
    assert sorted(s[-1] for s in shares) == list(range(1, 256))
    assert shamir.combine(shares[100:102]) == b"\x42"


def test_single_share_is_the_secret_itself():
    secret = bytes(range(32))
    assert shamir.split(secret, 1, 1) == [secret]
    assert shamir.split(bytearray(secret), 1, 1) == [secret]


def test_all_ordered_triples_of_a_3_of_5_split():
    secret = b"test"
    shares = shamir.split(secret, 5, 3)
    for ordered in itertools.permutations(shares, 3):
        assert shamir.combine(ordered) == secret
    assert shamir.combine(shares) == secret  # more than the threshold is fine


def test_two_shares_of_a_threshold_3_split_give_a_wrong_value():
    secret = bytes(range(1, 33))
    shares = shamir.split(secret, 5, 3, random_bytes=_stream(b"wrong"))
    for pair in itertools.combinations(shares, 2):
        result = shamir.combine(pair)
        assert len(result) == len(secret) and result != secret


def test_speed_32_bytes_5_shares_combine_3():
    secret = bytes(range(32))
    start = time.perf_counter()
    for _ in range(20):
        shares = shamir.split(secret, 5, 3)
        assert shamir.combine(shares[1:4]) == secret
    assert (time.perf_counter() - start) / 20 < 0.010


@settings(max_examples=150, deadline=None)
@given(
    secret=st.binary(min_size=1, max_size=64),
    shape=st.integers(2, 12).flatmap(lambda n: st.tuples(st.just(n), st.integers(2, n))),
    data=st.data(),
)
def test_any_threshold_subset_recovers(secret, shape, data):
    parts, threshold = shape
    shares = shamir.split(secret, parts, threshold)
    assert len(shares) == parts
    assert all(len(s) == len(secret) + 1 for s in shares)
    xs = [s[-1] for s in shares]
    assert 0 not in xs and len(set(xs)) == parts
    chosen = data.draw(st.permutations(shares)).copy()[: data.draw(st.integers(threshold, parts))]
    assert shamir.combine(chosen) == secret


@settings(max_examples=100, deadline=None)
@given(
    secret=st.binary(min_size=16, max_size=64),
    shape=st.integers(3, 12).flatmap(lambda n: st.tuples(st.just(n), st.integers(3, n))),
    data=st.data(),
)
def test_one_share_short_of_the_threshold_does_not_recover(secret, shape, data):
    # equal only if every byte's top coefficient is 0: probability 256^-16 at most
    parts, threshold = shape
    shares = shamir.split(secret, parts, threshold)
    chosen = data.draw(st.permutations(shares))[: threshold - 1]
    assert shamir.combine(chosen) != secret


# --- errors -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("secret", "parts", "threshold"),
    [
        (b"", 3, 2),
        (b"test", 0, 0),
        (b"test", 2, 3),
        (b"test", 256, 3),
        (b"test", 1000, 3),
        (b"test", 10, 1),
        (b"test", 3, 0),
        (b"test", 1, 2),
    ],
)
def test_split_refuses_impossible_sharings(secret, parts, threshold):
    with pytest.raises(InvalidSplitError) as caught:
        shamir.split(secret, parts, threshold)
    assert isinstance(caught.value, SealError) and isinstance(caught.value, ValueError)


def test_split_type_errors_and_short_randomness():
    with pytest.raises(TypeError):
        shamir.split("text", 3, 2)
    with pytest.raises(TypeError):
        shamir.split(b"test", 3.0, 2)
    with pytest.raises(InvalidSplitError, match="random_bytes returned"):
        shamir.split(b"test", 3, 2, random_bytes=lambda n: b"\x01")


def _assert_no_share_bytes(message: str, shares) -> None:
    for share in shares:
        assert share.hex() not in message
        assert repr(share) not in message
        if len(share) > 1:
            assert share[:-1].hex() not in message


@pytest.mark.parametrize(
    ("shares", "match"),
    [
        ([], "at least two"),
        ([b"\x11\x22\x01"], "at least two"),
        ([b"foo", b"ba"], "different lengths"),
        ([b"f", b"b"], "too short"),
        ([b"foo", b"foo"], "duplicates"),
        ([b"\xaa\xbb\x01", b"\xcc\xdd\x02", b"\xee\xff\x01"], "shares 1 and 3 are duplicates"),
        ([b"\xaa\xbb\x00", b"\xcc\xdd\x02"], "x-coordinate 0"),
        ([b"\xaa\xbb\x01", "\xcc\xdd\x02"], "not a byte string"),
        (b"\xaa\xbb\x01\xcc", "sequence"),
    ],
)
def test_combine_rejects_bad_shares_without_revealing_them(shares, match):
    with pytest.raises(InvalidShareError, match=match) as caught:
        shamir.combine(shares)
    if not isinstance(shares, bytes):
        _assert_no_share_bytes(str(caught.value), [s for s in shares if isinstance(s, bytes)])


def test_combine_accepts_bytearray_and_memoryview():
    secret = bytes(range(32))
    a, b, c = shamir.split(secret, 3, 2)
    assert shamir.combine([bytearray(a), memoryview(b)]) == secret
