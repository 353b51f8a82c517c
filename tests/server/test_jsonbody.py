"""Request bodies: the fast parse (no per-object hook) must accept and refuse exactly what the
strict one does, duplicate keys above all."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings, strategies as st

from server.errors import BadRequestError
from server.jsonbody import _DECODER, parse_json_object

# Keys drawn from a few texts, colons and the \u003a escape among them, so that duplicates,
# colons inside strings and escaped colons all come up often.
KEYS = st.sampled_from(["a", "b", "a:", ":", "::", "\\u003a", "a\\u003A", "k\\u003ab", "\\\\u003a", "é:"])
SCALARS = st.one_of(st.integers(min_value=-(2**80), max_value=2**80).map(str), st.sampled_from(
    ['"x"', '"x:y"', '":"', '"\\u003a"', '"v\\u003Aw"', "true", "null", "1.5", "-0", '"\\ud800"', "1e999", "NaN"]))


def objects(children):
    pair = st.tuples(KEYS, children).map(lambda kv: f'"{kv[0]}" : {kv[1]}')
    return st.lists(pair, max_size=4).map(lambda pairs: "{" + ", ".join(pairs) + "}")


TEXTS = st.recursive(SCALARS, lambda children: objects(children) | st.lists(children, max_size=3).map(
    lambda items: "[" + ",".join(items) + "]"), max_leaves=12)
BODIES = objects(TEXTS)


def strict(raw: bytes):
    """What parse_json_object answered before the fast parse: the hooked decoder's verdict."""
    try:
        value = _DECODER.decode(raw.decode())
    except (ValueError, RecursionError):
        return "refused"
    return value


def outcome(raw: bytes):
    try:
        return parse_json_object(raw)
    except BadRequestError:
        return "refused"


@settings(max_examples=600)
@given(BODIES)
def test_the_fast_parse_agrees_with_the_strict_parse(text):
    raw = text.encode()
    expected = strict(raw)
    got = outcome(raw)
    if expected == "refused" or got == "refused":
        # The strict decoder alone lets lone surrogates through; parse_json_object refuses them.
        assert got == "refused" and (expected == "refused" or "\\ud800" in text)
    else:
        assert got == expected


@pytest.mark.parametrize("text", [
    '{"a": 1, "a": 2}',
    '{"a": {"b": 1, "b": 1}}',
    '{"a": "x", "a": "\\u003a"}',  # the dropped pair's colon made up for by an escaped one
    '{"batch_input": [{"plaintext": "eA=="}, {"plaintext": "eA==", "plaintext": "eQ=="}]}',
    '{"p": "a:b", "p": "c"}',
])
def test_duplicate_keys_are_refused(text):
    with pytest.raises(BadRequestError, match="duplicate key"):
        parse_json_object(text.encode())


def test_colons_inside_strings_and_escaped_are_kept():
    text = '{"a:b": "c:d", "e": "\\u003a", "f": [":", {"g": "::"}]}'
    assert parse_json_object(text.encode()) == json.loads(text)


def test_integers_past_64_bits_stay_whole():
    assert parse_json_object(b'{"n": 123456789012345678901234567890}') == {"n": 123456789012345678901234567890}
