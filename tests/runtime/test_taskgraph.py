"""A TaskGraph loaded from JSON (or edited by hand) is checked as ``build()`` checks one: every problem listed in
one UsageError, before a run exists; ``ag.run`` refuses inputs and options the graph cannot use."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import aether_nb as ag
from aether_nb.runtime.session import Session
from tests.conftest import arun


@ag.tool(outputs=["y"])
def double(x: int) -> dict[str, int]:
    return {"y": x * 2}


@ag.graphify(name="pipeline", inputs=["x"], outputs=["answer"])
def pipeline(x: Any) -> Any:
    first = double(x=x)
    return {"answer": double(x=first.y).y}


def edited(edit: Callable[[dict[str, Any]], Any]) -> str:
    data = json.loads(pipeline.build().dumps())
    edit(data)
    return json.dumps(data)


EDITS: dict[str, tuple[Callable[[dict[str, Any]], Any], str]] = {
    "self-cycle": (lambda d: d["nodes"][0].update(deps=["double_1"]), "cycle among nodes ['double_1'"),
    "two-node cycle": (lambda d: d["nodes"][0].update(deps=["double_2"]), "cycle among nodes"),
    "unknown dep": (lambda d: d["nodes"][0].update(deps=["nope"]), "depends on unknown node 'nope'"),
    "dangling input ref": (
        lambda d: d["nodes"][0].update(inputs={"x": {"$ref": ["nope", "y"]}}),
        "input refers to node 'nope'",
    ),
    "input ref outside deps": (lambda d: d["nodes"][1].update(deps=[]), "not among its deps"),
    "unknown graph input": (
        lambda d: d["nodes"][0].update(inputs={"x": {"$ref": ["__inputs__", "typo"]}}),
        "graph input 'typo'",
    ),
    "dangling output ref": (
        lambda d: d.update(outputs={"answer": {"$ref": ["nope", "y"]}}),
        "output 'answer' refers to unknown node 'nope'",
    ),
    "negative timeout": (lambda d: d["nodes"][0].update(timeout_s=-1), "timeout_s must be a positive number"),
    "duplicate id": (lambda d: d["nodes"][1].update(id="double_1"), "used by 2 nodes"),
    "tool not a name": (lambda d: d["nodes"][0].update(tool=5), "tool must be a tool's name"),
}


@pytest.mark.parametrize("case", list(EDITS))
def test_from_json_refuses_what_build_would(session: Session, case: str) -> None:
    edit, said = EDITS[case]
    with pytest.raises(ag.UsageError, match=r"TaskGraph\.from_json") as info:
        ag.TaskGraph.from_json(edited(edit))
    assert said in str(info.value)


def test_from_json_lists_every_problem_at_once(session: Session) -> None:
    def both(d: dict[str, Any]) -> None:
        d["nodes"][0].update(deps=["double_1"], timeout_s=0)
        d.update(outputs={"answer": {"$ref": ["nope", "y"]}})

    with pytest.raises(ag.UsageError, match="3 problem") as info:
        ag.TaskGraph.from_json(edited(both))
    assert "cycle" in str(info.value) and "timeout_s" in str(info.value) and "'nope'" in str(info.value)


@given(timeout=st.sampled_from([0, -1, math.nan, -math.inf, "5", True, [1]]))
def test_a_timeout_that_is_no_positive_number_is_refused(timeout: Any) -> None:
    with pytest.raises(ag.UsageError, match="timeout_s"):
        ag.TaskGraph.from_json(edited(lambda d: d["nodes"][0].update(timeout_s=timeout)))


def test_a_graph_edited_after_loading_is_refused_by_ag_run(session: Session) -> None:
    graph = ag.TaskGraph.from_json(pipeline.build().dumps())
    assert arun(ag.run(graph, {"x": 5})) == {"answer": 20}
    graph.outputs["answer"] = {"$ref": ["nope", "y"]}
    with pytest.raises(ag.UsageError, match="refers to unknown node 'nope'"):
        arun(ag.run(graph, {"x": 5}))


def test_ag_run_refuses_unknown_inputs_as_calling_the_graph_does(session: Session) -> None:
    graph = pipeline.build()
    with pytest.raises(ag.UsageError, match=r"unknown \['typo'\]") as by_run:
        arun(ag.run(graph, {"x": 5, "typo": 1}))
    with pytest.raises(ag.UsageError) as by_call:
        arun(pipeline(x=5, typo=1))
    assert str(by_run.value) == str(by_call.value)


@pytest.mark.parametrize("value", ["no", 0, None, 1])
def test_stop_on_first_error_must_be_a_bool(session: Session, value: Any) -> None:
    with pytest.raises(ag.UsageError, match="stop_on_first_error must be True or False"):
        arun(ag.run(pipeline.build(), {"x": 5}, stop_on_first_error=value))
    with pytest.raises(ag.UsageError, match="stop_on_first_error must be True or False"):
        pipeline.start(x=5, stop_on_first_error=value)
