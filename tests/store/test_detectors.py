"""The hint search of aether_nb.store.detectors: RE2 for ASCII text, ``re`` for the rest; both must find exactly
the texts that hold a hint, or a secret format would go unsearched."""

from __future__ import annotations

import importlib

from hypothesis import given
from hypothesis import strategies as st

detectors = importlib.import_module("aether_nb.store.detectors")

_PIECES = st.one_of(
    st.sampled_from(detectors.HINTS),
    st.sampled_from(detectors.HINTS).map(lambda h: h[:-1]),  # one character short of a hint
    st.sampled_from(['"run_id": ', '"kind": "node_ran"', "{", "}", ", ", ":", "/", "_", "-", "\\n"]),
    st.text(max_size=12),  # any code point, lone surrogates and non-ASCII included
)


@given(pieces=st.lists(_PIECES, max_size=12))
def test_a_hint_is_found_exactly_when_the_text_holds_one(pieces: list[str]) -> None:
    text = "".join(pieces)
    assert detectors.has_hint(text) == any(h in text for h in detectors.HINTS)


def test_a_hint_is_found_in_text_that_is_not_ascii_or_not_utf8_encodable() -> None:
    assert detectors.has_hint("café ghp_" + "x" * 36)
    assert detectors.has_hint("\ud800 xoxb-1")  # a lone surrogate: RE2 cannot take it, re does
    assert not detectors.has_hint("\ud800 café, nothing here")
    assert not detectors.has_hint('{"run_id": "run-1", "kind": "node_ran", "inputs": {"x": 1}}')
