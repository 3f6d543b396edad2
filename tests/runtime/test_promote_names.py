"""Promoted source names nothing twice: inputs named like tools or nodes, tools registered under another name.

Each promoted source is executed as a notebook cell would run it, in a namespace holding what the user's holds
(the tools bound to the names they were defined under), and the graph it defines is run: its outputs must be the
agent's and its tools must be called as the agent called them.
"""

from __future__ import annotations

from typing import Any

import pytest

import aether_nb as ag
from aether_nb.runtime.promote import promote_source
from aether_nb.runtime.session import Session
from tests.conftest import arun, finished_run

CALLS: list[tuple[str, Any]] = []


@ag.tool(outputs=["y"])
def double(x: int) -> dict[str, int]:
    CALLS.append(("double", x))
    return {"y": x * 2}


@ag.tool(outputs=["total"])
def add(a: int, b: int) -> dict[str, int]:
    CALLS.append(("add", (a, b)))
    return {"total": a + b}


@ag.tool(name="inc", outputs=["y"])
def increment(x: int) -> dict[str, int]:
    """Registered as ``inc``: no name ``inc`` is bound anywhere."""
    CALLS.append(("inc", x))
    return {"y": x + 1}


def promote_and_run(run: ag.Run, name: str, namespace: dict[str, Any], **inputs: Any) -> tuple[str, Any]:
    """The run's promoted source, executed in ``namespace`` (what the user's holds), and its graph run on
    ``inputs``; the tools' calls are recorded in CALLS from then on."""
    source = run.promote(name)
    ns = {"ag": ag, **namespace}
    exec(source, ns)  # as a notebook cell runs it
    CALLS.clear()
    return source, arun(ns[name](**inputs))


def test_an_input_named_like_a_tool_the_body_calls_does_not_hide_it(session: Session) -> None:
    @ag.graph_fn(outputs=["out"])
    async def shadow(add: int) -> dict[str, int]:
        a = await double(add)
        b = await globals()["add"](a["y"], 1)
        return {"out": b["total"]}

    run = finished_run(shadow, add=3)
    assert run.outputs == {"out": 7}
    source, out = promote_and_run(run, "shadow_static", {"double": double, "add": add}, add=4)
    assert out == {"out": 9}  # the graph's input keeps the agent's name `add`; the tool add is still called
    assert CALLS == [("double", 4), ("add", (8, 1))]
    assert "inputs=['add']" in source and "def shadow_static(**inputs):" in source
    assert "double_1 = double(x=inputs['add'])" in source and "add_1 = add(a=double_1.y, b=1)" in source


def test_an_input_named_like_a_node_keeps_its_value(session: Session) -> None:
    @ag.graph_fn(outputs=["out"])
    async def idclash(double_1: int) -> dict[str, int]:
        a = await double(double_1)
        b = await add(a["y"], double_1)
        return {"out": b["total"]}

    run = finished_run(idclash, double_1=3)
    assert run.outputs == {"out": 9}
    source, out = promote_and_run(run, "idclash_static", {"double": double, "add": add}, double_1=5)
    assert out == {"out": 15}
    assert CALLS == [("double", 5), ("add", (10, 5))]
    # the node keeps its id (double_1); its variable does not overwrite the input
    assert "double_1_ = double(x=double_1)" in source and "add_1 = add(a=double_1_.y, b=double_1)" in source
    assert "_id=" not in source


def test_a_computed_input_never_takes_the_name_of_an_agent_input(session: Session) -> None:
    @ag.graph_fn(outputs=["out"])
    async def near(x: int, double_1_x: int) -> dict[str, int]:
        a = await double(x + 1)  # computed in Python: an input named double_1_x, which the agent already has
        b = await add(a["y"], double_1_x)
        return {"out": b["total"]}

    run = finished_run(near, x=1, double_1_x=100)
    assert run.outputs == {"out": 104}
    source, out = promote_and_run(run, "near_static", {"double": double, "add": add}, double_1_x=100)
    assert out == {"out": 104}
    assert "double_1 = double(x=double_1_x_2)" in source and "add(a=double_1.y, b=double_1_x)" in source


def test_a_tool_registered_under_another_name_is_called_by_the_name_it_is_bound_to(session: Session) -> None:
    @ag.graph_fn(outputs=["out"])
    async def agent(x: int) -> dict[str, int]:
        a = await increment(x)
        return {"out": a["y"]}

    run = finished_run(agent, x=1)
    assert run.outputs == {"out": 2}
    # the user's namespace: `increment` is bound, `inc` (the registered name) is not
    source, out = promote_and_run(run, "agent_static", {"increment": increment}, x=10)
    assert out == {"out": 11} and CALLS == [("inc", 10)]
    assert "inc_1 = increment(x=x)" in source
    assert "# increment is the tool registered as 'inc'" in source
    assert arun(ag.run(run.to_taskgraph("agent_graph"), {"x": 3})) == {"out": 4}


def test_a_graph_named_like_a_tool_it_calls_is_refused(session: Session) -> None:
    @ag.graph_fn(outputs=["out"])
    async def twice(x: int) -> dict[str, int]:
        return {"out": (await double(x))["y"]}

    run = finished_run(twice, x=1)
    with pytest.raises(ag.UsageError, match="cannot be named 'double'"):
        run.promote("double")  # defining it would replace the tool `double` in the notebook


def test_the_check_runs_on_the_source_text(session: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    """Source whose graph differs from the promotion's is refused, not returned (here: a variable hides a tool)."""

    @ag.graph_fn(outputs=["out"])
    async def plain(x: int) -> dict[str, int]:
        a = await double(x)
        return {"out": (await add(a["y"], 1))["total"]}

    run = finished_run(plain, x=1)
    import aether_nb.runtime.promote_render as render_module

    written = render_module.render

    def broken(*args: Any, **kwargs: Any) -> Any:
        rendered = written(*args, **kwargs)
        rendered.source = rendered.source.replace("double_1 = double(", "add = double_1 = double(")
        return rendered

    monkeypatch.setattr("aether_nb.runtime.promote.render", broken)
    with pytest.raises(ag.UsageError, match="promotion check failed") as caught:
        promote_source(run, "plain_static")
    assert caught.value.code == "promotion_check"
