"""What a person writes in a @graphify body by habit, and what the build says about it."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import aether_nb as ag
from aether_nb.runtime.session import Session
from aether_nb.tools import ask_approval
from tests.conftest import arun


@ag.tool(outputs=["forecast"])
def forecast_for(city: str) -> dict[str, str]:
    return {"forecast": f"{city}: 12 C"}


def test_an_output_formatted_into_a_prompt_is_refused_when_the_graph_is_built() -> None:
    """An f-string of a handle's output put "Ref(node='forecast_1', key='forecast')" into the question the person
    was asked (and the store, and %aether runs); the build now says why and what to do instead."""

    @ag.graphify(name="fstring_trip", inputs=["city"], outputs=["ok"])
    def fstring_trip(city):  # type: ignore[no-untyped-def]
        f = forecast_for(city=city)
        ok = ask_approval(prompt=f"Book the trip? Forecast: {f.forecast}")
        return {"ok": ok.approved}

    with pytest.raises(ag.UsageError, match=r"forecast_for_1\.forecast was formatted into text") as err:
        fstring_trip.build()
    assert "Build the text in a tool" in str(err.value)


def test_a_graph_input_formatted_into_a_prompt_is_refused_too() -> None:
    @ag.graphify(name="fstring_input", inputs=["city"], outputs=["ok"])
    def fstring_input(city):  # type: ignore[no-untyped-def]
        return {"ok": ask_approval(prompt=f"Go to {city}?").approved}

    with pytest.raises(ag.UsageError, match="graph input 'city' was formatted into text"):
        fstring_input.build()


def test_a_reference_passed_as_an_argument_still_builds_and_runs(session: Session) -> None:
    @ag.graphify(name="plain_trip", inputs=["city"], outputs=["forecast"])
    def plain_trip(city):  # type: ignore[no-untyped-def]
        return {"forecast": forecast_for(city=city).forecast}

    assert list(plain_trip.build().nodes) == ["forecast_for_1"]
    assert arun(plain_trip(city="Oslo")) == {"forecast": "Oslo: 12 C"}


@ag.graphify(name="dumped_pipe", inputs=["city"], outputs=["forecast"])
def _dumped_pipe(city):  # type: ignore[no-untyped-def]
    return {"forecast": forecast_for(city=city).forecast}


_DUMPED = _dumped_pipe.build().dumps()

_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None)
@given(
    st.one_of(
        st.text(max_size=40),
        _json_values.map(json.dumps),
        st.builds(lambda cut: cut, st.integers(min_value=0, max_value=400)),
    )
)
def test_a_damaged_graph_file_is_a_usage_error(data: Any) -> None:
    """``TaskGraph.from_json`` of a damaged, truncated or hand-edited file: the graph, or a UsageError saying it is
    not what ``dumps()`` wrote — never a bare JSONDecodeError, KeyError or AssertionError."""
    from aether_nb.runtime.taskgraph import TaskGraph

    if isinstance(data, int):  # a truncated file
        data = _DUMPED[:data]
    try:
        TaskGraph.from_json(data)
    except ag.UsageError as exc:
        assert exc.code == "bad_graph_json"


@ag.tool(outputs=["y"])
def be_twice(x: int) -> dict[str, int]:
    return {"y": 2 * x}


def test_a_condition_that_contains_itself_is_a_build_error(session: Session) -> None:
    """It was a RecursionError out of the build (found by a tester re-running the API fuzzer)."""
    loop: list[Any] = [True]
    loop.append(loop)

    def body(x: int) -> dict[str, Any]:
        return {"a": be_twice(x=x, _condition=loop).y}

    with pytest.raises(ag.UsageError, match=r"_condition contains itself at"):
        ag.graphify(name="be_self_condition", inputs=["x"], outputs=["a"])(body).build()
