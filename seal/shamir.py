"""Shamir secret sharing over GF(2^8), byte-wise, in Vault/OpenBao's share layout.

Each secret byte is the constant term of its own random polynomial of degree threshold-1
over GF(2^8) with the AES reduction polynomial x^8 + x^4 + x^3 + x + 1 (0x11B). A share is
the polynomial values (one y-byte per secret byte) followed by ONE x-coordinate byte, so a
share is one byte longer than the secret; x-coordinates are distinct, non-zero, and picked
by a random permutation of 1..255, as Vault does. Vault's own shares combine here and ours
there.

Single share: split(secret, 1, 1) returns [secret] itself with no x-coordinate byte, as
Vault's init does for one share; combine() is only for two or more shares.

Side channels: the arithmetic has no table lookups and no branches on secret bytes. All
bytes of a secret travel together as lanes of one Python int, multiplied by shift-and-xor
under masks, which is also what makes it fast. Python ints are not constant-time objects
and cannot be wiped; that is the honest limit of doing this in Python.

Boundary: bytes in, bytes out. Decoding shares from text and collecting them is shares.py.
"""

from __future__ import annotations

import os
from typing import Callable, Sequence

from seal.errors import InvalidShareError, InvalidSplitError

MAX_PARTS = 255  # x-coordinates are one non-zero byte
_REDUCTION = 0x1B  # x^8 reduces to x^4 + x^3 + x + 1 (0x11B without the x^8 bit)

BytesLike = bytes | bytearray | memoryview


def _lanes(width: int) -> tuple[int, int]:
    """Masks for `width` byte lanes: every lane 0x01, and every lane 0x7F."""
    ones = int.from_bytes(b"\x01" * width, "big")
    return ones, ones * 0x7F


def _mul_lanes(a: int, b: int, ones: int, low7: int) -> int:
    """Lane-wise GF(2^8) product of a and b, every byte lane independent."""
    product = 0
    for bit in range(8):
        # mask is 0xFF in each lane whose b has this bit set: no branch on the data
        product ^= a & (((b >> bit) & ones) * 0xFF)
        # a *= x in every lane; the carried-out top bit folds back in as 0x1B
        a = ((a & low7) << 1) ^ (((a >> 7) & ones) * _REDUCTION)
    return product


def _check_element(value: int, name: str) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int")
    if not 0 <= value <= 0xFF:
        raise ValueError(f"{name} must be a GF(2^8) element, 0..255")


def gf_mul(a: int, b: int) -> int:
    """a * b in GF(2^8) modulo 0x11B."""
    _check_element(a, "a")
    _check_element(b, "b")
    return _mul_lanes(a, b, 1, 0x7F)


def gf_inverse(a: int) -> int:
    """a^-1 in GF(2^8) as a^254 (Fermat), so 0 maps to 0; no data-dependent lookup."""
    _check_element(a, "a")
    result, power = 1, a
    for bit in range(8):  # 254 = 0b11111110, a fixed public exponent
        if (254 >> bit) & 1:
            result = _mul_lanes(result, power, 1, 0x7F)
        power = _mul_lanes(power, power, 1, 0x7F)
    return result


def gf_div(a: int, b: int) -> int:
    """a / b in GF(2^8); ZeroDivisionError for b == 0."""
    _check_element(a, "a")
    _check_element(b, "b")
    if b == 0:
        raise ZeroDivisionError("division by zero in GF(2^8)")
    return _mul_lanes(a, gf_inverse(b), 1, 0x7F)


def _random_exact(random_bytes: Callable[[int], bytes], count: int) -> bytes:
    data = random_bytes(count)
    if len(data) != count:
        raise InvalidSplitError(f"random_bytes returned {len(data)} bytes, expected {count}")
    return data


def _x_coordinates(parts: int, random_bytes: Callable[[int], bytes]) -> list[int]:
    """The first `parts` entries of a uniform random permutation of 1..255 (Fisher-Yates)."""
    pool = list(range(1, MAX_PARTS + 1))
    for i in range(parts):
        span = MAX_PARTS - i
        limit = 256 - 256 % span  # rejection keeps the choice uniform
        while True:
            draw = _random_exact(random_bytes, 1)[0]
            if draw < limit:
                break
        j = i + draw % span
        pool[i], pool[j] = pool[j], pool[i]
    return pool[:parts]


def _check_split(secret: BytesLike, parts: int, threshold: int) -> None:
    if not isinstance(secret, (bytes, bytearray, memoryview)):
        raise TypeError("secret must be bytes, bytearray or memoryview")
    for name, value in (("parts", parts), ("threshold", threshold)):
        if not isinstance(value, int) or isinstance(value, bool):
            raise TypeError(f"{name} must be an int")
    if len(secret) == 0:
        raise InvalidSplitError("cannot split an empty secret")
    if not 1 <= parts <= MAX_PARTS:
        raise InvalidSplitError(f"parts must be between 1 and {MAX_PARTS}")
    if not 1 <= threshold <= parts:
        raise InvalidSplitError("threshold must be between 1 and parts")
    if parts > 1 and threshold < 2:
        raise InvalidSplitError("threshold must be at least 2 when there is more than one part")


def split(
    secret: BytesLike,
    parts: int,
    threshold: int,
    random_bytes: Callable[[int], bytes] = os.urandom,
) -> list[bytes]:
    """Split secret into `parts` shares, any `threshold` of which recover it.

    Each share is len(secret) y-bytes followed by its x-coordinate byte. With parts == 1
    (and so threshold == 1) the one share is the secret itself, without an x byte.
    random_bytes(n) must return n random bytes; inject a fixed stream for reproducible
    vectors. Randomness is drawn as x-coordinates first, then the coefficients.
    """
    _check_split(secret, parts, threshold)
    if parts == 1:
        return [bytes(secret)]
    width = len(secret)
    ones, low7 = _lanes(width)
    xs = _x_coordinates(parts, random_bytes)
    # coefficients[k] holds the x^k coefficient of every byte's polynomial, one lane each
    coefficients = [int.from_bytes(secret, "big")]
    coefficients += [
        int.from_bytes(_random_exact(random_bytes, width), "big") for _ in range(threshold - 1)
    ]
    shares = []
    for x in xs:
        spread = x * ones  # the same x in every lane
        y = coefficients[-1]
        for coefficient in reversed(coefficients[:-1]):  # Horner's rule
            y = _mul_lanes(y, spread, ones, low7) ^ coefficient
        shares.append(y.to_bytes(width, "big") + bytes((x,)))
    return shares


def _check_shares(shares: Sequence[BytesLike]) -> None:
    if isinstance(shares, (bytes, bytearray, memoryview, str)) or not isinstance(shares, Sequence):
        raise InvalidShareError("shares must be a sequence of byte strings")
    if len(shares) < 2:
        raise InvalidShareError(
            "at least two shares are needed to combine (a single share is the secret itself)"
        )
    seen: dict[int, int] = {}
    for number, share in enumerate(shares, 1):
        if not isinstance(share, (bytes, bytearray, memoryview)):
            raise InvalidShareError(f"share {number} is not a byte string")
        if len(share) < 2:
            raise InvalidShareError(f"share {number} is too short: a share is at least two bytes")
        if len(share) != len(shares[0]):
            raise InvalidShareError("shares have different lengths, so they are not from one split")
        x = share[-1]
        if x == 0:
            # x = 0 would hold the secret byte itself; no split produces it
            raise InvalidShareError(f"share {number} has x-coordinate 0, which is never valid")
        if x in seen:
            raise InvalidShareError(f"shares {seen[x]} and {number} are duplicates (same x-coordinate)")
        seen[x] = number


def combine(shares: Sequence[BytesLike]) -> bytes:
    """The secret behind two or more shares of one split (Lagrange interpolation at x = 0).

    Given fewer than the split's threshold, this returns a wrong value, not an error:
    nothing in a share says how many are needed (the caller knows the threshold).
    """
    _check_shares(shares)
    width = len(shares[0]) - 1
    ones, low7 = _lanes(width)
    xs = [share[-1] for share in shares]
    secret = 0
    for i, share in enumerate(shares):
        # basis_i(0) = prod_{j != i} x_j / (x_i - x_j); minus is xor in GF(2^8).
        # The x-coordinates are public, so this scalar part may use plain gf_* calls.
        numerator, denominator = 1, 1
        for j, x_j in enumerate(xs):
            if j != i:
                numerator = gf_mul(numerator, x_j)
                denominator = gf_mul(denominator, xs[i] ^ x_j)
        basis = gf_div(numerator, denominator)
        y = int.from_bytes(share[:width], "big")
        secret ^= _mul_lanes(y, basis * ones, ones, low7)
    return secret.to_bytes(width, "big")
