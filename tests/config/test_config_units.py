"""config.units: sizes and durations as operators write them, with round-trip properties."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from config.units import (
    MAX_DURATION_SECONDS,
    MAX_SIZE_BYTES,
    InvalidDurationError,
    InvalidSizeError,
    format_duration,
    format_size,
    parse_duration,
    parse_size,
)

DURATION_UNITS = {"d": 86_400, "h": 3_600, "m": 60, "s": 1}
SIZE_UNITS = {
    "": 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12, "PB": 10**15,
    "KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "TiB": 2**40, "PiB": 2**50,
}


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90s", 90), ("10m", 600), ("768h", 2_764_800), ("1h30m", 5_400), ("7d", 604_800),
        ("1d12h", 129_600), ("3600", 3_600), ("0", 0), ("0s", 0), ("1.5h", 5_400), (".5m", 30),
        ("1h0m0s", 3_600), (42, 42), (0, 0),
    ],
)
def test_parse_duration_accepts_vault_syntax(text: int | str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    "bad",
    ["", "s", "10x", "1H", "-1s", "+1s", "1h 30m", " 90s", "90s ", "500ms", "1.5s", "10ss",
     "h1", "1e3s", "١٢s", -1, True, 1.5, None, [1], f"{MAX_DURATION_SECONDS + 1}s", "9" * 80],
)
def test_parse_duration_refuses(bad: object) -> None:
    with pytest.raises(InvalidDurationError):
        parse_duration(bad)  # type: ignore[arg-type]


def test_duration_error_is_a_value_error_naming_the_value() -> None:
    with pytest.raises(ValueError, match="'10x'"):
        parse_duration("10x")


@given(st.integers(min_value=0, max_value=MAX_DURATION_SECONDS))
def test_format_then_parse_duration_round_trips(seconds: int) -> None:
    assert parse_duration(format_duration(seconds)) == seconds


@given(st.integers(min_value=0, max_value=MAX_DURATION_SECONDS))
def test_plain_seconds_string_is_seconds(seconds: int) -> None:
    assert parse_duration(str(seconds)) == parse_duration(seconds) == seconds


@given(st.lists(st.tuples(st.integers(0, 10_000), st.sampled_from(sorted(DURATION_UNITS))), min_size=1, max_size=5))
def test_any_sequence_of_parts_sums(parts: list[tuple[int, str]]) -> None:
    text = "".join(f"{number}{unit}" for number, unit in parts)
    assert parse_duration(text) == sum(number * DURATION_UNITS[unit] for number, unit in parts)


def test_format_duration_matches_go() -> None:
    assert [format_duration(s) for s in (0, 59, 90, 3_600, 5_400, 2_764_800)] == [
        "0s", "59s", "1m30s", "1h0m0s", "1h30m0s", "768h0m0s",
    ]


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("512MiB", 512 * 2**20), ("1GB", 10**9), ("64KiB", 65_536), ("1048576", 1_048_576),
        ("1GiB", 2**30), ("1 GiB", 2**30), ("1gib", 2**30), ("10b", 10), ("1.5KiB", 1_536),
        ("0", 0), (33_554_432, 33_554_432),
    ],
)
def test_parse_size_accepts_units(text: int | str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize(
    "bad",
    ["", "MiB", "512M", "1G", "1EiB", "-1", "1.5B", "1  GiB", " 1GiB", "1GiB ", "0x10", "1e3",
     "١٢", -1, True, 1.5, None, "9999999PiB", MAX_SIZE_BYTES + 1, "9" * 80],
)
def test_parse_size_refuses(bad: object) -> None:
    with pytest.raises(InvalidSizeError):
        parse_size(bad)  # type: ignore[arg-type]


@given(st.integers(min_value=0, max_value=MAX_SIZE_BYTES))
def test_format_then_parse_size_round_trips(size: int) -> None:
    assert parse_size(format_size(size)) == size


@given(st.integers(0, 4096), st.sampled_from(sorted(SIZE_UNITS)), st.sampled_from(["", " "]))
def test_number_with_unit_is_the_product(number: int, unit: str, space: str) -> None:
    text = f"{number}{space if unit else ''}{unit}"
    assert parse_size(text) == number * SIZE_UNITS[unit]
    assert parse_size(text.lower()) == parse_size(text.upper()) == number * SIZE_UNITS[unit]


def test_format_size_uses_the_largest_exact_binary_unit() -> None:
    assert [format_size(n) for n in (0, 1_000, 1_024, 3 * 2**20, 2**30 + 2**20, 64 * 2**30)] == [
        "0B", "1000B", "1KiB", "3MiB", "1025MiB", "64GiB",
    ]
