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


@given(text=st.text(alphabet="aAbB z", max_size=12))
def test_a_pattern_compiled_on_first_use_answers_as_the_compiled_one(text: str) -> None:
    """Every method redaction uses gives what ``re.compile`` gives, on the first use and after it."""
    import re

    lazy = detectors.compiled_on_first_use(r"(a+)b", re.IGNORECASE)
    real = re.compile(r"(a+)b", re.IGNORECASE)
    assert lazy.pattern == real.pattern
    for _ in range(2):
        assert lazy.sub("x", text) == real.sub("x", text)
        assert [m.span(1) for m in lazy.finditer(text)] == [m.span(1) for m in real.finditer(text)]
        assert bool(lazy.search(text)) == bool(real.search(text))
        assert bool(lazy.match(text)) == bool(real.match(text))
        assert bool(lazy.fullmatch(text)) == bool(real.fullmatch(text))
        assert lazy.groups == real.groups == 1


def test_compile_deferred_compiles_every_pattern_made_on_first_use() -> None:
    """What ``redact.prepare`` (store configuration) relies on: after it, no redaction pattern compiles mid-run."""
    import re

    lazy = detectors.compiled_on_first_use(r"x(y+)", re.IGNORECASE)
    detectors.compile_deferred()
    assert "search" in vars(lazy) and lazy.groups == 1 and lazy.sub("-", "aXYy") == "a-"
