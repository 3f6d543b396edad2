"""The hint search of aether_nb.store.detectors: RE2 for ASCII text, ``re`` for the rest; both must find exactly
the texts that hold a hint, or a secret format would go unsearched."""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
from typing import Any

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


# The standard library's regex parser: `re` has no public one, and the shape of a pattern is what is checked here.
from re import _constants as sre  # noqa: E402
from re import _parser as sre_parse  # noqa: E402

_REPEATS = (sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT)
_LOOKAROUNDS = (sre.ASSERT, sre.ASSERT_NOT)
_LONGEST_BOUND = 1024


def _cannot_fail(items: list[tuple[Any, Any]]) -> bool:
    """Whether ``items`` match, at least the empty string, wherever they are tried."""
    for op, av in items:
        if op in _REPEATS and av[0] == 0:
            continue
        if op is sre.SUBPATTERN and _cannot_fail(list(av[3])):
            continue
        return False
    return True


def _unbounded(items: list[tuple[Any, Any]], tail_ok: bool, found: list[tuple[bool, Any, bool]]) -> list[str]:
    """Problems of ``items`` with their bounded repeats; each unbounded repeat goes to ``found`` as (whether
    nothing after it can fail, its body, whether it is inside a lookaround)."""
    problems: list[str] = []
    for i, (op, av) in enumerate(items):
        after_ok = tail_ok and _cannot_fail(items[i + 1 :])
        if op in _REPEATS:
            if av[1] == sre.MAXREPEAT:
                found.append((after_ok, av[2], False))
            elif av[1] > _LONGEST_BOUND:
                problems.append(f"a repeat bounded at {av[1]} (more than {_LONGEST_BOUND})")
            problems += _unbounded(list(av[2]), False, found)
        elif op is sre.SUBPATTERN:
            problems += _unbounded(list(av[3]), after_ok, found)
        elif op is sre.ATOMIC_GROUP:
            problems += _unbounded(list(av), after_ok, found)
        elif op is sre.BRANCH:
            for branch in av[1]:
                problems += _unbounded(list(branch), after_ok, found)
        elif op in _LOOKAROUNDS:
            inner: list[tuple[bool, Any, bool]] = []
            problems += _unbounded(list(av[1]), False, inner)
            found += [(ok, body, True) for ok, body, _ in inner]
    return problems


def linear_by_shape(pattern: re.Pattern[str]) -> list[str]:
    """Why ``pattern`` may take more than linear time over a text (``[]``: it cannot), from its shape alone.

    Shape 1: every repeat is bounded (at most 1,024) except ones that nothing after them can make fail; so an
    attempt at any position reads a bounded stretch or ends in a match (the search then goes on after the match).
    Shape 2: the pattern starts with a lookbehind ``(?<![S])`` and each unbounded repeat reads only characters of
    ``[S]``, at most one outside lookarounds and one inside each: attempts start only where a run of ``S`` starts,
    and each reads (a bounded amount per character of) its own run.
    """
    items = list(sre_parse.parse(pattern.pattern, pattern.flags))
    found: list[tuple[bool, Any, bool]] = []
    problems = _unbounded(items, True, found)
    failing = [(body, inside) for ok, body, inside in found if not ok]
    if not failing:
        return problems
    op, av = items[0]
    run_start = op is sre.ASSERT_NOT and av[0] == -1 and len(av[1]) == 1 and av[1][0][0] is sre.IN
    if run_start:
        run = list(av[1])
        outside = [body for _, body, inside in found if not inside]
        if all(list(body) == run for _, body, _ in found) and len(outside) <= 1:
            return problems
    return [*problems, f"{len(failing)} unbounded repeat(s) followed by what can fail, not confined to a run"]


def test_the_shape_check_tells_linear_patterns_from_backtracking_ones() -> None:
    bad = [
        r"eyJ[A-Za-z0-9-_=]+\.[A-Za-z0-9-_=]+\.?[A-Za-z0-9-_.+/=]*?",  # detect-secrets' JWT (quadratic)
        r"xox(?:a|b|p|o|s|r)-(?:\d+-)+[a-z0-9]+",
        r"(a+)+b",
        r"x(?=[a-z]*y)",
        r"(?<![a-z])[a-z]*[a-z]*y",
        r"a{0,5000}b",
    ]
    good = [r"ghp_[A-Za-z0-9_]{36}", r"hf_[A-Za-z0-9]{30,}", r"eyJ[a-z]++(?:\.[a-z](?P<found>))?", r"a[^b]*+(?:b)?"]
    assert [p for p in bad if not linear_by_shape(re.compile(p))] == []
    assert {p: linear_by_shape(re.compile(p)) for p in good} == {p: [] for p in good}


def test_every_detector_pattern_takes_linear_time_by_its_shape() -> None:
    """A pattern that reads far and then fails, tried again from each later position, is quadratic: 120 kB of
    "eyJ" took 9.6 s in detect-secrets' JWT pattern (on the event loop, as a tool's result was journaled), and a
    private key's body followed by a foreign END line 9 s at 81 kB. Checked on the patterns in use, detect-secrets'
    included, so an update of the catalogue that brings such a pattern fails here."""
    shapes = {p.pattern: linear_by_shape(p) for _, patterns in detectors.rules() for p in patterns}
    assert {k: v for k, v in shapes.items() if v} == {}


_WARNS_AFTER_LOAD = """
import logging, warnings
{before}
from aether_nb.store import detectors
detectors.rules()  # what opening a store does: detect-secrets' patterns loaded
warnings.warn("shown after the patterns loaded")
print("captured:", logging.getLogger("py.warnings").handlers != [] or warnings.showwarning.__module__ == "logging")
"""


def test_loading_the_patterns_leaves_warnings_shown() -> None:
    """Importing detect-secrets calls ``logging.captureWarnings(True)``: after ``%load_ext aether_nb`` every warning
    (aether_nb's own: a value that cannot be stored, an unused resume value) went to a logger without a handler."""
    done = subprocess.run(
        [sys.executable, "-c", _WARNS_AFTER_LOAD.format(before="")], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "UserWarning: shown after the patterns loaded" in done.stderr
    assert "captured: False" in done.stdout


def test_warnings_the_user_captured_stay_captured() -> None:
    before = "logging.basicConfig(); logging.captureWarnings(True)"
    done = subprocess.run(
        [sys.executable, "-c", _WARNS_AFTER_LOAD.format(before=before)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "WARNING:py.warnings:" in done.stderr and "shown after the patterns loaded" in done.stderr
    assert "captured: True" in done.stdout
