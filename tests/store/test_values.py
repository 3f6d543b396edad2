"""JSON columns (aether_nb.store.values.json_column): two encoders, one meaning. Plain values go through orjson,
the rest through json.dumps' encoder; whichever wrote a text, it is ASCII and reads back as json.dumps' text of
the same value would, and a value json.dumps refuses is refused."""

from __future__ import annotations

import enum
import importlib
import json
import math
import uuid
from datetime import datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

values = importlib.import_module("aether_nb.store.values")

_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**80), max_value=2**80),  # beyond 64 bits too (orjson refuses those)
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(),  # any code point: non-ASCII, lone surrogates
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.lists(inner, max_size=3).map(tuple),
        st.dictionaries(st.text(max_size=6), inner, max_size=4),
        st.dictionaries(st.integers(0, 9), inner, max_size=2),  # json.dumps turns such keys into strings
    ),
    max_leaves=12,
)


def _same(a: Any, b: Any) -> bool:
    """Equal, NaN included (json.loads reads NaN back as a float that equals nothing)."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


@given(value=_VALUES)
def test_a_json_value_is_stored_as_ascii_text_that_reads_back_as_json_dumps_would(value: Any) -> None:
    texts = values.json_column([value, {"wrapped": value}])
    assert texts is not None
    for text, original in zip(texts, [value, {"wrapped": value}], strict=True):
        assert text.isascii()
        assert _same(json.loads(text), json.loads(json.dumps(original)))


class Colour(enum.Enum):
    RED = 1


@pytest.mark.parametrize("bad", [uuid.uuid4(), Colour.RED, datetime(2026, 12, 4), {1, 2}, b"bytes", object()])
def test_a_value_json_dumps_refuses_is_refused_inside_any_value(bad: Any) -> None:
    """orjson would write a UUID, an enum or a datetime; the store refuses them as it always did."""
    assert values.json_column([bad]) is None
    assert values.json_column([{"x": [1, {"y": bad}]}]) is None


@pytest.mark.parametrize(
    "value",
    [
        float("nan"),
        {"a": float("nan")},
        [float("inf")],
        ({"b": -float("inf")},),
        {"c": [1.5, {"d": float("nan")}]},
    ],
)
def test_non_finite_floats_are_kept_wherever_they_are(value: Any) -> None:
    texts = values.json_column([value])
    assert texts is not None
    assert _same(json.loads(texts[0]), json.loads(json.dumps(value)))
    assert "null" not in texts[0]


_NOT_PLAIN = st.sampled_from([uuid.UUID(int=7), Colour.RED, {1, 2}, b"x", float("nan")])


@given(column=st.lists(st.one_of(_VALUES, _NOT_PLAIN, st.just({"deep": [[[[[[1]]]]]]})), max_size=6))
def test_a_column_holds_each_values_own_text_or_is_refused_as_one_value_would_be(column: list[Any]) -> None:
    """The column is checked and written in one pass (one walk, C loops): it must say what value by value says."""
    alone = [values.json_column([v]) for v in column]
    together = values.json_column(column)
    if any(t is None for t in alone):
        assert together is None
    else:
        assert together == [t[0] for t in alone if t is not None]


def _nested(depth: int, wrap: Any, inner: Any = 0) -> Any:
    value: Any = inner
    for _ in range(depth):
        value = wrap(value)
    return value


@pytest.mark.parametrize(
    "deep",
    [
        _nested(300, lambda v: (v,)),  # orjson limits how deep lists and dicts nest, not tuples
        _nested(100, lambda v: [v], _nested(200, lambda v: (v,))),
        _nested(250, lambda v: (v,)),  # deep, but within the limit
        [_nested(100, lambda v: (v,))] * 2,
    ],
    ids=["300 tuples", "lists around 200 tuples", "250 tuples", "two of 100 tuples"],
)
def test_a_value_nested_deeper_than_the_store_keeps_is_refused_whatever_it_is_made_of(deep: Any) -> None:
    too_deep = values.json_depth(json.dumps(deep)) > values.MAX_JSON_DEPTH
    assert (values.json_column([deep]) is None) == too_deep
    assert (values.json_column([{"ok": 1}, deep]) is None) == too_deep
