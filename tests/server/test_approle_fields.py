"""Weakly typed auth-method fields (what the bao CLI and hvac send) and the CIDR checks."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.auth import approle_fields as fields
from server.errors import BadRequestError


@settings(max_examples=50)
@given(st.integers(min_value=-(10**17), max_value=10**17))
def test_integers_read_the_same_as_json_or_as_cli_text(n):
    assert fields.integer({"n": n}, "n") == fields.integer({"n": str(n)}, "n") == n


@settings(max_examples=50)
@given(st.integers(min_value=0, max_value=10**9))
def test_durations_read_the_same_as_seconds_text_or_go_style(seconds):
    hours, rest = divmod(seconds, 3600)
    go_style = f"{hours}h{rest}s"
    assert fields.duration({"t": seconds}, "t") == fields.duration({"t": str(seconds)}, "t") == seconds
    assert fields.duration({"t": go_style}, "t") == seconds


@settings(max_examples=50)
@given(st.lists(st.text(alphabet="abcdefgh-_.", min_size=1, max_size=8), max_size=6))
def test_comma_lists_read_the_same_as_json_lists_or_cli_text(items):
    assert fields.comma_list({"l": items}, "l") == fields.comma_list({"l": ",".join(items)}, "l") == items


def test_absent_and_null_fields_read_as_none():
    for read in (fields.integer, fields.duration, fields.boolean, fields.string, fields.comma_list):
        assert read({}, "x") is None and read({"x": None}, "x") is None


@pytest.mark.parametrize("read, value", [
    (fields.integer, "abc"), (fields.integer, True), (fields.integer, 1.5), (fields.integer, "--5"),
    (fields.duration, "abc"), (fields.duration, True), (fields.duration, -1), (fields.duration, "-5s"),
    (fields.boolean, "yes"), (fields.boolean, 1), (fields.comma_list, 5), (fields.comma_list, [1, 2]),
    (fields.string, {"a": 1}),
])
def test_bad_values_are_a_400_naming_the_field(read, value):
    with pytest.raises(BadRequestError, match='error converting input for field "f"'):
        read({"f": value}, "f")


def test_booleans_take_go_spellings():
    assert [fields.boolean({"b": v}, "b") for v in ("true", "T", "1", "false", "F", "0", True)] == [
        True, True, True, False, False, False, True]


def test_metadata_forms():
    assert fields.metadata({"metadata": '{"a":"b"}'}) == {"a": "b"}
    assert fields.metadata({"metadata": "a=b, c=d"}) == {"a": "b", "c": "d"}
    assert fields.metadata({"metadata": {"a": "b"}}) == {"a": "b"}
    assert fields.metadata({}) == fields.metadata({"metadata": ""}) == {}
    for bad in ('{"a":1}', "novalue", "=x"):
        with pytest.raises(BadRequestError, match="failed to parse metadata"):
            fields.metadata({"metadata": bad})


networks = st.builds(lambda a, p: str(ipaddress.ip_network((a, p), strict=False)),
                     st.integers(min_value=0, max_value=2**32 - 1), st.integers(min_value=0, max_value=32))


@settings(max_examples=50)
@given(networks, networks)
def test_blocks_within_agrees_with_subnet_of(inner, outer):
    expected = ipaddress.ip_network(inner).subnet_of(ipaddress.ip_network(outer))
    assert fields.blocks_within([inner], [outer]) is expected
    assert fields.blocks_within([inner], [])  # no outer blocks: no limit


def test_address_checks():
    assert fields.address_in("10.1.2.3", ["10.0.0.0/8"]) and not fields.address_in("11.0.0.1", ["10.0.0.0/8"])
    assert fields.address_in("::1", ["::1"]) and not fields.address_in("", ["0.0.0.0/0"])
    assert fields.cidr_blocks(["127.0.0.1/32", "10.0.0.0/8", "::1/128"], "{}") == ["127.0.0.1", "10.0.0.0/8", "::1"]
    assert fields.cidr_blocks(["127.0.0.1/32"], "{}", bare_hosts=False) == ["127.0.0.1/32"]
    with pytest.raises(BadRequestError, match="^bad: nope$"):
        fields.cidr_blocks(["nope"], "bad: {}")
