"""@graphify: building by tracing, build errors, JSON round trip, tool redefinition, conditions, running."""

from __future__ import annotations

import inspect
import shutil
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import aether_nb as ag
from aether_nb.runtime.session import Session
from aether_nb.runtime.taskgraph import TaskGraph
from tests.conftest import arun


@ag.tool(outputs=["y"])
def double(x: int) -> dict[str, int]:
    return {"y": x * 2}


@ag.tool(outputs=["z"])
async def add(a: int, b: int) -> dict[str, int]:
    return {"z": a + b}


@ag.graphify(name="pipeline", inputs=["x"], outputs=["answer"])
def pipeline(x: Any) -> Any:
    d1 = double(x=x)  # assigned handles work (AetherGraph's validator rejected them in notebook cells)
    d2 = double(x=d1.y)
    return {"answer": d2.y}


def test_chained_dag(session: Session) -> None:
    g = pipeline.build()
    assert list(g.nodes) == ["double_1", "double_2"]
    assert g.node("double_2").deps == ("double_1",)
    assert arun(pipeline(x=5)) == {"answer": 20}
    run = ag.runs()[0]
    assert run.graph.edges == [("double_1", "double_2")]
    assert [n.status for n in run.graph.nodes] == ["DONE", "DONE"]


def test_json_round_trip_and_ag_run(session: Session) -> None:
    g = pipeline.build()
    again = TaskGraph.from_json(g.dumps())
    assert again.to_json() == g.to_json()
    assert arun(ag.run(again, {"x": 1}, max_concurrency=2)) == {"answer": 4}


def test_build_errors_are_reported_together() -> None:
    @ag.graphify(outputs=["a", "b"])
    def broken(x: Any) -> Any:
        d = double(x=x)
        bad = double(x=d.nope)  # unknown output key
        add(a=d.y)  # unbound input b
        double(x=d.y, _after="ghost")  # unknown node
        return {"a": bad.y}  # declared output b missing

    with pytest.raises(ag.UsageError) as info:
        broken.build()
    msg = str(info.value)
    for part in ("double_1.nope: unknown output", "missing a required argument: 'b'", "unknown node 'ghost'", "['b']"):
        assert part in msg
    assert info.value.code == "build_errors"


def test_a_handle_used_as_a_value_is_a_clear_error() -> None:
    @ag.graphify
    def branchy(x: Any) -> Any:
        d = double(x=x)
        if d:
            return {"r": 1}
        return {}

    with pytest.raises(ag.UsageError, match="used as a value"):
        branchy.build()


def test_an_output_or_input_decided_on_while_tracing_is_a_clear_error() -> None:
    """``if x:`` on a graph input (or a node's output) was silently always true: the body is traced once, before
    any value exists, so ``p(x=0)`` took the branch meant for a truthy x. Conditions, comparisons and arithmetic
    on them now say to decide at run time (``_condition=``, or a tool)."""

    @ag.graphify(inputs=["x"], outputs=["r"])
    def truthy(x: Any) -> Any:
        if x:
            return {"r": double(x=x).y}
        return {"r": 0}

    @ag.graphify(inputs=["x"], outputs=["r"])
    def compares(x: Any) -> Any:
        d = double(x=x)
        return {"r": d.y} if d.y > 100 else {"r": 0}

    @ag.graphify(inputs=["x"], outputs=["r"])
    def adds(x: Any) -> Any:
        return {"r": double(x=x + 1).y}

    for graph, how in ((truthy, "used as a condition"), (compares, "compared"), (adds, "used in arithmetic")):
        with pytest.raises(ag.UsageError, match=how) as caught:
            graph.build()
        assert caught.value.code == "handle_as_value"
    with pytest.raises(ag.UsageError, match="_condition"):
        truthy.build()


def test_a_node_timeout_that_is_not_a_number_is_a_build_error() -> None:
    @ag.graphify(inputs=["x"], outputs=["r"])
    def slow(x: Any) -> Any:
        return {"r": double(x=x, _timeout_s="slow").y}

    with pytest.raises(ag.UsageError, match="_timeout_s must be a positive number of seconds, got 'slow'"):
        slow.build()


def test_control_kwargs_and_conditions(session: Session) -> None:
    @ag.graphify(outputs=["out", "skipped"])
    def cond(x: Any) -> Any:
        first = double(x=x, _id="first")
        gate = double(x=first.y, _condition={"op": "eq", "left": first.y, "right": 999})
        after_gate = double(x=gate.y)  # depends on a skipped node: skipped too
        last = add(a=first.y, b=1, _after=[first])
        return {"out": last.z, "skipped": after_gate.y}

    g = cond.build()
    assert g.node("add_1").deps == ("first",)
    assert arun(cond(x=2)) == {"out": 5, "skipped": None}
    statuses = {n.id: n.status for n in ag.runs()[0].graph.nodes}
    assert statuses == {"first": "DONE", "double_1": "SKIPPED", "double_2": "SKIPPED", "add_1": "DONE"}


def test_redefined_tool_is_detected_by_name(session: Session) -> None:
    namespace: dict[str, Any] = {"ag": ag}
    cell = 'def shifty(x: int) -> dict:\n    return {"y": %s}\nshifty = ag.tool(outputs=["y"])(shifty)\n'
    exec(cell % "x", namespace)  # a notebook cell defines the tool ...
    shifty = namespace["shifty"]

    @ag.graphify(outputs=["y"])
    def uses(x: Any) -> Any:
        return {"y": shifty(x=x).y}

    g = uses.build()
    exec(cell % "-x", namespace)  # ... and is run again with other code

    with pytest.raises(ag.RunFailed) as info:
        arun(ag.run(g, {"x": 1}))
    assert "shifty" in str(info.value.__cause__) and "redefined" in str(info.value.__cause__)


def test_rerunning_a_finished_run_id(session: Session) -> None:
    async def main() -> None:
        assert await pipeline.start(x=3, run_id="p").result() == {"answer": 12}
        assert await pipeline.start(x=3, run_id="p").result() == {"answer": 12}
        with pytest.raises(ag.UsageError, match="other inputs"):
            pipeline.start(x=4, run_id="p")

    arun(main())


def test_visualize_renders_svg_when_graphviz_is_installed() -> None:
    svg = pipeline.build().visualize()
    if shutil.which("dot") is None:
        assert svg is None  # no dot: no SVG, and display falls back to text
    else:
        assert svg is not None and svg.startswith("<svg") and "double_2" in svg


@ag.tool(outputs=["y"])
async def _mixed(a: int, b: int = 2, *, c: int, d: int = 4) -> dict[str, int]:
    return {"y": a + b + c + d}


@given(
    st.dictionaries(st.sampled_from(["a", "b", "c", "d", "e"]), st.integers(-3, 3), max_size=5),
    st.lists(st.integers(-3, 3), max_size=3),
)
@settings(max_examples=150, deadline=None)
def test_build_binds_node_inputs_exactly_as_the_signature_does(kwargs: dict[str, int], args: list[int]) -> None:
    """A node's recorded inputs are what ``Signature.bind`` gives (keyword calls take a faster path), and a call
    the signature refuses is a build error either way."""

    @ag.graphify(outputs=["y"])
    def g() -> Any:
        return {"y": _mixed(*args, **kwargs).y}

    try:
        expected = dict(inspect.signature(_mixed.fn).bind(*args, **kwargs).arguments)
    except TypeError:
        with pytest.raises(ag.UsageError, match="unbound or unknown input"):
            g.build()
        return
    assert g.build().nodes["_mixed_1"].inputs == expected


@ag.tool(outputs=["y"])
def bump(x: int) -> dict[str, int]:
    return {"y": x + 1}


@pytest.mark.parametrize("stop_on_first_error", [False, True])
def test_a_condition_that_cannot_be_evaluated_fails_its_node_and_skips_its_dependents(
    session: Session, stop_on_first_error: bool
) -> None:
    """``{"op": "in", "right": 5}`` passes the build's check and raises when evaluated: its node failed, and its
    dependents were drawn FAILED with no error though they never ran (a failed tool's dependents are SKIPPED), and
    the run's error was a bare TypeError. Now the dependents are skipped, and the error is a UsageError naming the
    node and what the condition needs."""

    @ag.graphify(name="bad_condition_graph", inputs=["x"], outputs=["b"])
    def graph(x: Any) -> dict[str, Any]:
        a = bump(x=x, _id="a", _condition={"op": "in", "left": x, "right": 5})
        b = bump(x=a.y, _id="b")
        return {"b": bump(x=b.y, _id="c").y}

    async def main() -> ag.Run:
        run = graph.start(x=1, stop_on_first_error=stop_on_first_error)
        with pytest.raises(ag.RunFailed, match=r"failed at node a: UsageError: node a: its _condition could not be"):
            await run
        return run

    run = arun(main())
    statuses = {n.id: n.status for n in run.graph.nodes}
    assert statuses == {"a": "FAILED", "b": "SKIPPED", "c": "SKIPPED"}, statuses
    error = run.graph.node("a").error
    assert error is not None and error["type"] == "aether_nb.errors.UsageError"
