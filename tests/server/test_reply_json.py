"""Reply bodies: orjson for plain JSON types, json for the rest, the same document either way."""

from __future__ import annotations

import dataclasses
import datetime
import enum
import json

import pytest
from hypothesis import given, strategies as st

from server.pipeline import reply_json

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4),
    max_leaves=20,
)


@given(JSON_VALUES)
def test_any_json_value_reads_back_as_itself(value):
    assert json.loads(reply_json(value)) == value


def test_compact_utf8_and_key_order_kept():
    assert reply_json({"b": 1, "a": ["é", None, True]}) == '{"b":1,"a":["é",null,true]}'.encode()


def test_integers_past_64_bits_are_written_whole():
    assert reply_json({"n": 2**70, "m": -(2**65)}) == b'{"n":1180591620717411303424,"m":-36893488147419103232}'


def test_non_string_keys_are_written_as_json_writes_them():
    assert json.loads(reply_json({1: "x", None: "y"})) == {"1": "x", "null": "y"}


def test_a_str_enum_is_its_value():
    class Colour(str, enum.Enum):
        RED = "red"

    assert reply_json({"c": Colour.RED}) == b'{"c":"red"}'


@pytest.mark.parametrize("value", [
    dataclasses.make_dataclass("Secretish", [("key", bytes)])(b"k"),
    datetime.datetime(2026, 1, 1),
    b"raw bytes",
    object(),
])
def test_what_json_would_not_write_is_refused_not_written_another_way(value):
    # A dataclass (a secret-bearing type, say) must never reach a reply as its fields.
    with pytest.raises(TypeError):
        reply_json({"v": value})
