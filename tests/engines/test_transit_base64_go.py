"""b64decode's binascii fast path must answer exactly as the port of Go's decoder does."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from server.engines.transit_encoding import _STD_ALPHABET, Base64Error, _go_decode, b64decode

# Pieces of base64 text: data, padding in runs, the newlines Go skips, and characters either
# decoder must refuse.
_PIECES = st.sampled_from(["A", "Q", "w", "+", "/", "AAAA", "AA", "=", "==", "====", "\n", "\r\n", " ", "-", "é", "\x00"])
_TEXT = st.lists(_PIECES, max_size=12).map("".join)


def _outcome(decode, text: str) -> bytes | str:
    try:
        return decode(text)
    except Base64Error as exc:
        return str(exc)


def _go(text: str) -> bytes:
    return _go_decode(text.encode("utf-8", "surrogatepass"), _STD_ALPHABET, padded=True)


@settings(max_examples=1500)
@given(text=_TEXT)
def test_fast_path_agrees_with_gos_decoder(text):
    assert _outcome(b64decode, text) == _outcome(_go, text)


@settings(max_examples=1500)
@given(text=_TEXT.filter(lambda t: len(t) % 4 == 0))
def test_whole_quanta_agree_with_gos_decoder(text):
    assert _outcome(b64decode, text) == _outcome(_go, text)
